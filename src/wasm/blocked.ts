// Time a guest's worker spends blocked (sleeping, waiting for input, for a host call's answer,
// for output to drain) rather than running guest code. Published in the control block so that
// the CPU figure of `ww ps` is running time minus this, not wall time.

let sink: Float64Array | undefined;
let slot = 0;

/** Worker side, once: where blocked milliseconds accumulate (the process's statistics). */
export function countBlockedIn(stats: Float64Array, index: number): void {
  sink = stats;
  slot = index;
}

/** Atomics.wait, with the time it blocks counted as blocked. */
export function blockingWait(array: Int32Array, index: number, value: number, timeoutMs?: number): 'ok' | 'not-equal' | 'timed-out' {
  const started = performance.now();
  const result = Atomics.wait(array, index, value, timeoutMs);
  if (sink) sink[slot]! += performance.now() - started;
  return result;
}
