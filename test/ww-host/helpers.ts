// Helpers for the ww host module tests: an executor, and running a guest to its end. The guests
// (a WAT prelude importing every `ww` function) are shared with bench/: fixtures/ww-guest.ts.
import { Executor, type ProcessEntry } from '../../src/executor/index.js';
import { assemble } from '../../fixtures/wat.js';
import { ints } from '../../fixtures/ww-guest.js';

export { assemble } from '../../fixtures/wat.js';
export { guest, ints, watBytes } from '../../fixtures/ww-guest.js';
export { eventually, sleep } from '../executor/helpers.js';

export const E = { AGAIN: 6, BADF: 8, DEADLK: 16, FAULT: 21, INVAL: 28, MFILE: 33, MSGSIZE: 35, NOENT: 44, NOEXEC: 45, PIPE: 64 };

export async function testExecutor(opts: { poolSize?: number; pauseGraceMs?: number; maxGuestSpawned?: number } = {}): Promise<Executor> {
  return Executor.create({
    peerId: 'test',
    pauseGraceMs: opts.pauseGraceMs,
    maxGuestSpawned: opts.maxGuestSpawned,
    runtimeOptions: { poolSize: opts.poolSize ?? 2, workers: testWorkers() },
  });
}

/** The workers tests run on: dedicated, or shared when a `*-shared.test.ts` file re-runs a file's tests. */
export function testWorkers(): 'dedicated' | 'shared' {
  return process.env.WW_TEST_WORKERS === 'shared' ? 'shared' : 'dedicated';
}

/** Starts a WAT guest as a root process (initial handles: Executor, store), stdout captured. */
export async function start(ex: Executor, wat: string, opts: { stdin?: Uint8Array; stdout?: (d: Uint8Array) => void } = {}): Promise<ProcessEntry> {
  const module = await ex.modules.put(await assemble(wat));
  return ex.spawn({ module, argv: ['guest'], stdout: opts.stdout ?? 'capture', stderr: 'capture', ...(opts.stdin ? { stdin: opts.stdin } : {}) });
}

/** Runs a WAT guest to its end; returns its $out values and its end status. */
export async function run(ex: Executor, wat: string, opts: { stdin?: Uint8Array } = {}): Promise<{ out: number[]; stdout: Uint8Array; code: number; reason: string; stderr: string }> {
  const e = await start(ex, wat, opts);
  const s = await e.settled;
  const { reasonText } = await import('../../src/executor/index.js');
  return { out: ints(s.stdout), stdout: s.stdout ?? new Uint8Array(0), code: s.code, reason: reasonText(s.reason), stderr: new TextDecoder().decode(s.stderr) };
}

