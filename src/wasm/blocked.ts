// How a guest's thread blocks, and the time it spends blocked (sleeping, waiting for input, for a
// host call's answer, for output to drain) rather than running guest code. The blocked time is
// published in the process's control block so that the CPU figure of `ww ps` is running time
// minus it, not wall time.
//
// A guest on a worker of its own blocks the thread (Atomics.wait). A guest on a shared worker
// (many guests per thread) is suspended instead: the blocking point throws SUSPEND with the
// promise it waits for, the import wrapper unwinds the guest (suspend.ts), and when the promise
// settles the guest is rewound into the same import, which runs again from its start. So that
// this second run does what the first would have done, the import's earlier waits and the
// values it recorded are replayed from the Suspender's log instead of being redone.

let sink: Float64Array | undefined;
let slot = 0;

let sinceSlot = 0;

/** Worker side: where blocked milliseconds accumulate (the process's statistics), and where
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

/** The guest running in this thread when it can be suspended (a shared worker); see suspend.ts. */
export interface Suspender {
  /** `run()`'s value; when the import is replayed after a resumption, the value recorded the first time.
   *  `site` names the place (a replay reaching another place first is a bug, reported as such). */
  record<T>(site: string, run: () => T): T;
  /** Suspends the guest until `start()`'s promise settles (throws SUSPEND); replayed, its outcome. */
  suspend<T>(site: string, start: () => Promise<T>): T;
}

/** Thrown through the host's code to the import wrapper, which unwinds the guest. Never caught elsewhere. */
export const SUSPEND: unique symbol = Symbol('ww: guest suspended');

/** A guest could not be suspended (its stack too deep, no memory to unwind into, a replay that went
 *  another way): it ends with a trap saying so. */
export class SuspendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SuspendError';
  }
}

/** Whether a thrown value is a suspension or a failure to suspend: host code that turns errors
 *  into errnos must rethrow both. */
export function isSuspension(err: unknown): boolean {
  return err === SUSPEND || err instanceof SuspendError;
}

let suspender: Suspender | undefined;

/** Worker side: the guest now running (a shared worker sets it before each step; undefined: block the thread). */
export function runningGuest(s: Suspender | undefined): void {
  suspender = s;
}

/**
 * `run()`, or its first value when replayed. Everything a blocking import reads from outside the guest
 * (a clock, a shared counter) or does to the outside (a message posted) before it may wait goes
 * through here, so that its second run after the wait takes the same path as its first.
 */
export function recorded<T>(site: string, run: () => T): T {
  return suspender ? suspender.record(site, run) : run();
}

/** Waits until `array[index]` is no longer `value` (or the timeout), counted as blocked. */
export function blockingWait(array: Int32Array, index: number, value: number, timeoutMs?: number): 'ok' | 'not-equal' | 'timed-out' {
  if (suspender) return suspender.suspend('wait', () => waitAsync(array, index, value, timeoutMs));
  const started = performance.now();
  if (sink && sink[sinceSlot] === 0) sink[sinceSlot] = performance.timeOrigin + started;
  const result = Atomics.wait(array, index, value, timeoutMs);
  if (sink) {
    sink[slot]! += performance.now() - started;
    sink[sinceSlot] = 0;
  }
  return result;
}

/** ES2024's Atomics.waitAsync (in every Node ww runs on; not in the TypeScript lib the project targets). */
interface AtomicsWithWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs?: number): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}

/** Atomics.wait as a promise (a shared worker cannot block its thread). */
export function waitAsync(array: Int32Array, index: number, value: number, timeoutMs?: number): Promise<'ok' | 'not-equal' | 'timed-out'> {
  const r = (Atomics as unknown as AtomicsWithWaitAsync).waitAsync(array, index, value, timeoutMs);
  return r.async ? r.value : Promise.resolve(r.value);
}

/** Where a pause request shows while the guest is blocked, and how to freeze for it (the meter's). */
export interface PauseWatch {
  ctl: Int32Array;
  index: number;
  /** Freezes until resumed if a pause was asked for (dedicated worker). */
  holdIfPaused: () => void;
  /** Resolves once no pause is asked for, announcing the freeze first if one is (shared worker). */
  whilePaused: () => Promise<void>;
  /** The process was killed: a wait of a shared worker's guest stops there (nothing will resume it). */
  killed: () => boolean;
}
let pauseWatch: PauseWatch | undefined;

/** Worker side, per process run (and per step on a shared worker): a sleep then freezes at once on a
 *  pause request (undefined: the guest cannot be paused, it is not instrumented). */
export function watchPauseWhileBlocked(watch: PauseWatch | undefined): void {
  pauseWatch = watch;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the guest for `ms` milliseconds, counted as blocked. Paused meanwhile, it freezes at once
 *  and returns no earlier than its resume (and its deadline). */
export function blockingSleep(ms: number): void {
  if (!(ms > 0)) return;
  const watch = pauseWatch;
  if (suspender) {
    suspender.suspend('sleep', () => sleepAsync(ms, watch));
    return;
  }
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

async function sleepAsync(ms: number, watch: PauseWatch | undefined): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (watch) await watch.whilePaused();
    const left = deadline - performance.now();
    if (left <= 0 || watch?.killed()) return;
    if (watch) await waitAsync(watch.ctl, watch.index, 0, left); // ends early on a pause request
    else await new Promise((resolve) => setTimeout(resolve, left));
  }
}

/**
 * Waits until `array[index]` is no longer `value`, where another thread changes it (a channel ring's
 * wait word, ring.ts), counted as blocked. May return early: the caller looks again. A pause asked
 * before or during the wait freezes here, once whoever pauses wakes the word (Ring.wake). On a worker
 * of its own the wait is cut into 1 s slices, so a worker being terminated (kill) gets back to JS.
 * `array[waiters]` counts the threads waiting for as long as they really wait (on a shared worker,
 * until the suspended guest's wait ends), so that the other side knows to notify.
 */
export function blockingWaitWord(array: Int32Array, index: number, value: number, waiters: number): void {
  const watch = pauseWatch;
  if (suspender) {
    suspender.suspend('word', async () => {
      if (watch) await watch.whilePaused();
      if (watch?.killed()) return;
      Atomics.add(array, waiters, 1);
      try {
        await waitAsync(array, index, value);
      } finally {
        Atomics.sub(array, waiters, 1);
      }
      if (watch && !watch.killed()) await watch.whilePaused();
    });
    return;
  }
  watch?.holdIfPaused();
  Atomics.add(array, waiters, 1);
  try {
    blockingWait(array, index, value, 1000);
  } finally {
    Atomics.sub(array, waiters, 1);
  }
  watch?.holdIfPaused();
}
