// Test helpers: assemble WAT with wabt, run a guest on this thread with our
// WasiHost, and capture its stdio.
import { mkdtempSync, rmSync } from 'node:fs';
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
    stdout: { kind: 'sink', write: (d) => out.push(d) },
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
