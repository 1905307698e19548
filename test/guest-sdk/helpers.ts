// Shared helpers for the guest SDK and example tests: build an AssemblyScript guest with asc (the
// command guest-sdk/README.md teaches), and run a guest through an in-process Executor (the `ww`
// host module included) with its output streamed, so output written before a kill is kept.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Executor, reasonText } from '../../src/executor/index.js';
import { lines, repoRoot } from '../cli/helpers.js';

export { lines, repoRoot };

/** Compiles an AssemblyScript guest (path relative to the repository root) to OUT; returns OUT. */
export function buildAs(source: string, out: string): string {
  const r = spawnSync(
    join(repoRoot, 'node_modules', '.bin', 'asc'),
    [source, '--config', 'node_modules/@assemblyscript/wasi-shim/asconfig.json', '-O3', '--debug', '-o', out],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `asc ${source} failed:\n${r.stderr}`);
  return out;
}

export interface GuestRun {
  stdout: string;
  stderr: string;
  code: number;
  reason: string;
}

export interface GuestOptions {
  preopens?: { hostPath: string; guestPath: string }[];
}

/** An executor for tests: a pool of two workers, as on the test machines. `pauseGraceMs` (default
 * 100) is how long a paused guest runs on before it is frozen. */
export function testExecutor(opts: { pauseGraceMs?: number } = {}): Promise<Executor> {
  return Executor.create({ peerId: 'guest-sdk-test', pauseGraceMs: opts.pauseGraceMs, runtimeOptions: { poolSize: 2 } });
}

/** Runs the module at `wasm` as a root process (initial handles: Executor, store) until it ends. */
export async function runGuest(ex: Executor, wasm: string, argv: string[], options: GuestOptions = {}): Promise<GuestRun> {
  const module = await ex.modules.put(new Uint8Array(readFileSync(wasm)));
  const decoder = new TextDecoder();
  let stdout = '';
  let stderr = '';
  const entry = ex.spawn({
    module,
    argv,
    stdout: (chunk: Uint8Array) => (stdout += decoder.decode(chunk, { stream: true })),
    stderr: (chunk: Uint8Array) => (stderr += decoder.decode(chunk, { stream: true })),
    preopens: options.preopens,
  });
  const status = await entry.settled;
  return { stdout, stderr, code: status.code, reason: reasonText(status.reason) };
}
