// Helpers for the interop tests: build the C++ reference peer, start a peer's server and learn its port,
// run a peer's client and read its report. Everything runs on 127.0.0.1 with ephemeral ports.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest directory above this file that holds package.json. */
export const repoRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
})();

/** The commands of the TypeScript peer (compiled by `npx tsc -p .`). */
export const tsServer = { command: process.execPath, args: [join(repoRoot, 'dist/tools/interop/server.js')] };
export const tsClient = { command: process.execPath, args: [join(repoRoot, 'dist/tools/interop/client.js')] };

/** Builds (or finds up to date) the C++ peer with scripts/build-cpp-peer.sh; returns its path. */
export function buildCppPeer(): string {
  const output = execFileSync('bash', [join(repoRoot, 'scripts/build-cpp-peer.sh')], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 300_000,
  });
  const peer = output.trim().split('\n').pop() ?? '';
  if (!existsSync(peer)) throw new Error(`build-cpp-peer.sh printed '${peer}', which does not exist`);
  return peer;
}

export interface RunningServer {
  /** HOST:PORT as printed on the server's `listening on HOST:PORT` line. */
  readonly address: string;
  /** Everything the server printed so far (stdout and stderr), for failure messages. */
  output(): string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = waitForExit(child);
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killer);
}

const LISTENING = /^listening on (\S+:\d+)\s*$/m;

/**
 * Starts `command args --listen 127.0.0.1:0` and resolves once it prints `listening on HOST:PORT`.
 * Rejects (and kills the process) if it exits first or says nothing within `readyTimeoutMs`.
 */
export async function startServer(command: string, args: readonly string[], readyTimeoutMs = 30_000): Promise<RunningServer> {
  const child = spawn(command, [...args, '--listen', '127.0.0.1:0'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const output = () => `--- stdout ---\n${stdout}--- stderr ---\n${stderr}`;
  const describe = `${command} ${args.join(' ')}`;

  try {
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server '${describe}' printed no 'listening on' line within ${readyTimeoutMs} ms\n${output()}`)),
        readyTimeoutMs,
      );
      const onData = () => {
        const match = LISTENING.exec(stdout);
        if (match) {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          resolve(match[1]);
        }
      };
      child.stdout.on('data', onData);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`could not start server '${describe}': ${error.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server '${describe}' exited (code ${code}, signal ${signal}) before listening\n${output()}`));
      });
    });
    return { address, output, stop: () => stopChild(child) };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

export interface ClientRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** Runs `command args --connect ADDRESS` to completion (killed after `timeoutMs`). */
export async function runClient(command: string, args: readonly string[], address: string, timeoutMs: number): Promise<ClientRun> {
  const child = spawn(command, [...args, '--connect', address], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    });
    return { code, signal, timedOut, stdout, stderr };
  } finally {
    clearTimeout(killer);
    await stopChild(child);
  }
}

export interface ClientReport {
  /** Names of the checks reported `ok`. */
  passedChecks: string[];
  /** `FAIL <name>: <why>` lines. */
  failedLines: string[];
  /** The counts from the final `N passed, N failed` line, or undefined if that line is missing. */
  summary?: { passed: number; failed: number };
}

/** Reads a client's stdout: `ok <name>` / `FAIL <name>: <why>` lines, then `N passed, N failed` last. */
export function parseReport(stdout: string): ClientReport {
  const lines = stdout.split('\n').map((line) => line.trimEnd()).filter((line) => line.length > 0);
  const passedChecks = lines.filter((line) => line.startsWith('ok ')).map((line) => line.slice(3));
  const failedLines = lines.filter((line) => line.startsWith('FAIL '));
  const last = /^(\d+) passed, (\d+) failed$/.exec(lines.at(-1) ?? '');
  return { passedChecks, failedLines, summary: last ? { passed: Number(last[1]), failed: Number(last[2]) } : undefined };
}
