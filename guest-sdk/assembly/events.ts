// Events: the host never calls into a guest; it queues PAUSE, RESUME and DOWN events that the guest
// takes when it chooses (guest-sdk/ABI.md "Events"). Register handlers, then call
// `dispatchEvents()` in your loop (cheap when nothing is queued), or `waitEvent()` to block for one.
// Handlers are plain functions (AssemblyScript closures cannot capture locals; use globals).
import { NONBLOCK, ww_event_poll } from "./abi";
import { Errno } from "./errors";
import { Monitor } from "./process";

/** Event kinds (ABI "Events"). */
export namespace EventKind {
  export const PAUSE: u32 = 1;
  export const RESUME: u32 = 2;
  export const DOWN: u32 = 3;
}

// @ts-ignore: decorator
@lazy let pauseHandler: ((graceMs: i64) => void) | null = null;
// @ts-ignore: decorator
@lazy let resumeHandler: (() => void) | null = null;
// @ts-ignore: decorator
@lazy let downHandler: ((monitor: Monitor, code: i32) => void) | null = null;
// @ts-ignore: decorator
@lazy const eventRecord = memory.data(16);

/** Called when a pause is asked for, with the grace period (ms) before the host freezes this
 * process wherever it stands. Save state, finish a unit of work, tell peers: then return. */
export function onPause(handler: (graceMs: i64) => void): void {
  pauseHandler = handler;
}

/** Called after a resume (or when a pause was cancelled in its grace period). */
export function onResume(handler: () => void): void {
  resumeHandler = handler;
}

/** Called when a monitor fires, with the Monitor and the exit code (`monitor.wait()` gives the reason). */
export function onDown(handler: (monitor: Monitor, code: i32) => void): void {
  downHandler = handler;
}

/** Runs the handlers of every queued event without blocking; returns how many events were taken. */
export function dispatchEvents(): i32 {
  let count = 0;
  while (ww_event_poll(NONBLOCK, eventRecord) == Errno.SUCCESS) {
    deliver();
    count++;
  }
  return count;
}

/** Blocks until an event comes, runs its handler, and returns its kind (0 on an error). */
export function waitEvent(): u32 {
  if (ww_event_poll(0, eventRecord) != Errno.SUCCESS) return 0;
  return deliver();
}

function deliver(): u32 {
  const kind = load<u32>(eventRecord);
  if (kind == EventKind.PAUSE) {
    const handler = pauseHandler;
    if (handler !== null) handler(load<i64>(eventRecord, 8));
  } else if (kind == EventKind.RESUME) {
    const handler = resumeHandler;
    if (handler !== null) handler();
  } else if (kind == EventKind.DOWN) {
    const handler = downHandler;
    if (handler !== null) handler(new Monitor(load<i32>(eventRecord, 4)), <i32>load<i64>(eventRecord, 8));
  }
  return kind;
}
