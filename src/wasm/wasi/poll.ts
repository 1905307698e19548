// poll_oneoff's scheduler: decides which subscriptions are ready and, when none
// is, blocks only this worker until one may be: on sockets through the
// SocketWaiter (one wait on the main thread that owns them, bounded by the
// earliest clock deadline), else by sleeping (Atomics.wait on a private
// SharedArrayBuffer) until that deadline.
import { Errno, WasiError } from './abi/errno.js';
import * as clock from './clock.js';
import { blockingSleep, recorded } from '../blocked.js';
import type { Handle } from './handle.js';
import { SocketHandle, type SocketBackend, type SocketWaiter } from './sock.js';

export const enum EventType {
  CLOCK = 0,
  FD_READ = 1,
  FD_WRITE = 2,
}
export const EVENTRWFLAGS_HANGUP = 1;
export const SUBCLOCKFLAGS_ABSTIME = 1;

export type Subscription =
  | { userdata: bigint; type: EventType.CLOCK; clockId: number; timeout: bigint; flags: number }
  | { userdata: bigint; type: EventType.FD_READ | EventType.FD_WRITE; handle: Handle };

export interface PollEvent {
  userdata: bigint;
  error: Errno;
  type: EventType;
  nbytes: bigint;
  flags: number;
}

/** How often to re-check fds that are not ready and have no waiter (only sockets can be not ready). */
const FD_RECHECK_NS = 1_000_000n;

/** Monotonic deadline (ns) of a clock subscription. */
function deadlineOf(sub: { clockId: number; timeout: bigint; flags: number }, monoNow: bigint): bigint {
  const absolute = (sub.flags & SUBCLOCKFLAGS_ABSTIME) !== 0;
  switch (sub.clockId) {
    case clock.ClockId.MONOTONIC:
      return absolute ? sub.timeout : monoNow + sub.timeout;
    case clock.ClockId.REALTIME:
      if (!absolute) return monoNow + sub.timeout;
      return monoNow + (sub.timeout - clock.now(clock.ClockId.REALTIME));
    default:
      // As wasmtime: only the realtime and monotonic clocks can be waited on.
      throw new WasiError(Errno.INVAL, `poll_oneoff cannot wait on clock ${sub.clockId}`);
  }
}

function sleepNs(ns: bigint): void {
  if (ns <= 0n) return;
  // Milliseconds as a double: sub-millisecond precision is kept.
  blockingSleep(Number(ns) / 1e6);
}

/** Blocks until at least one subscription is ready; returns the events of all ready ones. */
export function pollOneoff(subs: Subscription[], waiter?: SocketWaiter): PollEvent[] {
  if (subs.length === 0) throw new WasiError(Errno.INVAL, 'poll_oneoff with no subscriptions would sleep forever');
  // Recorded: a suspended guest runs this call again when it resumes, and its deadlines must not move.
  const start = recorded('clock', () => process.hrtime.bigint());
  const deadlines = subs.map((s) => (s.type === EventType.CLOCK ? deadlineOf(s, start) : undefined));
  for (;;) {
    const events: PollEvent[] = [];
    const now = recorded('clock', () => process.hrtime.bigint());
    let earliest: bigint | undefined;
    subs.forEach((s, i) => {
      if (s.type === EventType.CLOCK) {
        const d = deadlines[i]!;
        if (d <= now) events.push({ userdata: s.userdata, error: Errno.SUCCESS, type: s.type, nbytes: 0n, flags: 0 });
        else if (earliest === undefined || d < earliest) earliest = d;
        return;
      }
      if (s.type === EventType.FD_READ) {
        const r = s.handle.pollRead();
        if (r.ready) {
          const flags = r.hangup ? EVENTRWFLAGS_HANGUP : 0;
          events.push({ userdata: s.userdata, error: Errno.SUCCESS, type: s.type, nbytes: r.nbytes, flags });
        }
        return;
      }
      if (s.handle.pollWrite()) {
        events.push({ userdata: s.userdata, error: Errno.SUCCESS, type: s.type, nbytes: 1n, flags: 0 });
      }
    });
    if (events.length > 0) return events;
    const read: SocketBackend[] = [];
    const write: SocketBackend[] = [];
    let others = false;
    for (const s of subs) {
      if (s.type === EventType.CLOCK) continue;
      if (waiter && s.handle instanceof SocketHandle) (s.type === EventType.FD_READ ? read : write).push(s.handle.backend);
      else others = true;
    }
    const wait = earliest === undefined ? undefined : earliest - now;
    // A clock due within FD_RECHECK_NS is slept for here: the waiter's timers are only as precise as
    // the main thread's (1 ms), and sockets are checked again right after.
    if (read.length + write.length > 0 && (wait === undefined || wait > FD_RECHECK_NS)) {
      // Fds the waiter cannot watch (none in practice: only sockets are ever not ready) are re-checked.
      const bound = others ? FD_RECHECK_NS : wait;
      waiter!.wait(read, write, bound === undefined ? undefined : Math.max(0, Number(bound) / 1e6));
      continue;
    }
    sleepNs(others && (wait === undefined || wait > FD_RECHECK_NS) ? FD_RECHECK_NS : wait!);
  }
}
