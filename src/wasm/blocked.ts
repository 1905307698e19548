// Time a guest's worker spends blocked (sleeping, waiting for input, for a host call's answer,
// for output to drain) rather than running guest code. Published in the control block so that
// the CPU figure of `ww ps` is running time minus this, not wall time.

let sink: Float64Array | undefined;
let slot = 0;

let sinceSlot = 0;

/** Worker side, once: where blocked milliseconds accumulate (the process's statistics), and where
 *  the start of a wait in progress is published (epoch ms) so readers can count it before it ends. */
export function countBlockedIn(stats: Float64Array, index: number, sinceIndex: number): void {
  sink = stats;
  slot = index;
  sinceSlot = sinceIndex;
}

/** Blocked milliseconds as of now, including a wait still in progress (any thread may read). */
export function blockedMsNow(stats: Float64Array, index: number, sinceIndex: number): number {
  const since = stats[sinceIndex]!;
  return stats[index]! + (since > 0 ? Math.max(0, performance.timeOrigin + performance.now() - since) : 0);
}

/** Atomics.wait, with the time it blocks counted as blocked. */
export function blockingWait(array: Int32Array, index: number, value: number, timeoutMs?: number): 'ok' | 'not-equal' | 'timed-out' {
  const started = performance.now();
  if (sink && sink[sinceSlot] === 0) sink[sinceSlot] = performance.timeOrigin + started;
  const result = Atomics.wait(array, index, value, timeoutMs);
  if (sink) {
    sink[slot]! += performance.now() - started;
    sink[sinceSlot] = 0;
  }
  return result;
}

/** Where a pause request shows while the guest is blocked, and how to freeze for it (the meter's). */
let pauseWatch: { ctl: Int32Array; index: number; holdIfPaused: () => void } | undefined;

/** Worker side, per process run: a sleep then freezes at once on a pause request (undefined: the
 *  guest cannot be paused, it is not instrumented). */
export function watchPauseWhileBlocked(watch: typeof pauseWatch): void {
  pauseWatch = watch;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread (the guest's worker) for `ms` milliseconds, counted as blocked. Paused
 *  meanwhile, it freezes at once and returns no earlier than its resume (and its deadline). */
export function blockingSleep(ms: number): void {
  if (!(ms > 0)) return;
  const watch = pauseWatch;
  if (!watch) {
    blockingWait(sleeper, 0, 0, ms);
    return;
  }
  const deadline = performance.now() + ms;
  for (;;) {
    watch.holdIfPaused();
    const left = deadline - performance.now();
    if (left <= 0) return;
    blockingWait(watch.ctl, watch.index, 0, left); // woken early by a pause request
  }
}
