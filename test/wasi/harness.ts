// Test helpers: assemble WAT with wabt, run a guest on this thread with our
// WasiHost, and capture its stdio.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasiHost } from '../../src/wasm/wasi/index.js';
import type { Preopen, StdioEndpoint } from '../../src/wasm/wasi/types.js';

// The ES2023 lib has no WebAssembly declarations; these are the parts the tests use.
export interface WasmModule {
  readonly __brand?: 'WasmModule';
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
}
export const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The repository root (compiled tests live under dist/test/wasi/). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const guestDir = join(repoRoot, 'test', 'wasi', 'guests');

type Wabt = {
  parseWat(name: string, text: string): { toBinary(o: object): { buffer: Uint8Array }; destroy(): void };
};
let wabtPromise: Promise<Wabt> | undefined;

/** Assembles WAT text to a compiled module. */
export async function wat(text: string): Promise<WasmModule> {
  wabtPromise ??= import('wabt').then((m) => (m.default as unknown as () => Promise<Wabt>)());
  const wabt = await wabtPromise;
  const parsed = wabt.parseWat('guest.wat', text);
  try {
    return new Wasm.Module(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}

export interface RunOptions {
  args?: string[];
  env?: [string, string][];
  preopens?: Preopen[];
  stdin?: StdioEndpoint;
  /** Overrides capture into RunResult.stdout. */
  stdout?: StdioEndpoint;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  exports: Record<string, unknown>;
}

/** Instantiates `module` with a fresh WasiHost and runs _start on this thread. */
export function run(module: WasmModule, opts: RunOptions = {}): RunResult {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const host = new WasiHost({
    args: opts.args ?? ['guest'],
    env: opts.env ?? [],
    preopens: opts.preopens ?? [],
    stdin: opts.stdin ?? { kind: 'null' },
    stdout: opts.stdout ?? { kind: 'sink', write: (d) => out.push(d) },
    stderr: { kind: 'sink', write: (d) => err.push(d) },
  });
  try {
    const instance = new Wasm.Instance(module, host.imports);
    const code = host.start(instance);
    return {
      code,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      exports: instance.exports,
    };
  } finally {
    host.close();
  }
}

/** A fresh temporary directory; remove it with cleanup(). */
export function tempDir(prefix = 'ww-wasi-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

const guestCache = new Map<string, WasmModule>();
/** A committed guest from test/wasi/guests (built by test/wasi/build.sh). */
export function guest(name: string): WasmModule {
  let m = guestCache.get(name);
  if (!m) {
    m = new Wasm.Module(readFileSync(join(guestDir, name)));
    guestCache.set(name, m);
  }
  return m;
}

/**
 * Runs the probe guest with `root` pre-opened as /sb (fd 3); each command is
 * "op:arg:arg". Returns one result line per command, e.g. "read ok hi" or "read err 63".
 */
export function probe(root: string, ...commands: string[]): string[] {
  const r = run(guest('probe.wasm'), { args: ['probe', ...commands], preopens: [{ hostPath: root, guestPath: '/sb' }] });
  if (r.code !== 0) throw new Error(`probe exited with ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** probe() for a single command. */
export function probe1(root: string, command: string): string {
  return probe(root, command)[0]!;
}
