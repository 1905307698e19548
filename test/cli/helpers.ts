// Shared helpers for the CLI tests: run `node bin/ww.js ...` as a real subprocess, assemble WAT fixtures.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (compiled tests live in dist/test/cli). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const wwBin = join(repoRoot, 'bin', 'ww.js');
export const examplePath = (...parts: string[]) => join(repoRoot, 'examples', ...parts);

export interface WwResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// ww keeps instrumented modules in a cache directory: one per test file, never the user's own.
const cacheDir = mkdtempSync(join(tmpdir(), 'ww-cli-cache-'));
process.on('exit', () => rmSync(cacheDir, { recursive: true, force: true }));

export interface RunOptions {
  /** Bytes or text written to ww's stdin (default: empty stdin). */
  input?: string | Uint8Array;
  /** Extra host environment variables for the ww process. */
  env?: Record<string, string>;
  cwd?: string;
  /** The program to start instead of bin/ww.js (e.g. a symlink to it). */
  bin?: string;
  /** Called with the child and its stdout so far, after each stdout chunk. */
  onStdout?: (child: ChildProcess, stdoutSoFar: string) => void;
}

/** Runs the real CLI in a child process and collects its output. */
export function runWw(args: string[], options: RunOptions = {}): Promise<WwResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, WW_CACHE_DIR: cacheDir, ...options.env };
    delete env.WW_DEBUG;
    const child = spawn(process.execPath, [options.bin ?? wwBin, ...args], { cwd: options.cwd ?? repoRoot, env, stdio: 'pipe' });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      options.onStdout?.(child, Buffer.concat(stdout).toString('utf8'));
    });
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A hung ww is a failure, not a hung test run.
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(guard);
      resolve({ status, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // ww may exit before reading all of its stdin
    child.stdin.end(options.input ?? '');
  });
}

/** Lines of `text`, without the empty string after a final newline. */
export function lines(text: string): string[] {
  const parts = text.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** A temporary directory removed by the returned cleanup function. */
export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `ww-cli-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Assembles test/cli/fixtures/NAME.wat (with its name section) into DIR/NAME.wasm; returns the path. */
export async function assembleFixture(name: string, dir: string): Promise<string> {
  const wabt = await (await import('wabt')).default();
  const source = readFileSync(join(repoRoot, 'test', 'cli', 'fixtures', `${name}.wat`), 'utf8');
  const module = wabt.parseWat(`${name}.wat`, source);
  try {
    module.resolveNames();
    module.validate();
    const out = join(dir, `${name}.wasm`);
    writeFileSync(out, module.toBinary({ write_debug_names: true }).buffer);
    return out;
  } finally {
    module.destroy();
  }
}

/** Asserts the shape of every user-facing error: exactly one `ww: ` line and no stack trace. */
export function oneErrorLine(stderr: string): string {
  const all = lines(stderr);
  if (all.length !== 1 || !all[0].startsWith('ww: ') || /\n\s+at /.test(stderr)) {
    throw new Error(`expected exactly one "ww: ..." line on stderr, got:\n${stderr}`);
  }
  return all[0];
}
