// Clocks at nanosecond resolution. Realtime is anchored once to the epoch
// (performance.timeOrigin) and then advances with the monotonic hrtime clock,
// so it has ns granularity and never jumps inside one process.
import { Errno, WasiError } from './abi/errno.js';

/** witx `clockid`. */
export const enum ClockId {
  REALTIME = 0,
  MONOTONIC = 1,
  PROCESS_CPUTIME = 2,
  THREAD_CPUTIME = 3,
}

const epochOffsetNs =
  BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) - process.hrtime.bigint();

export function now(id: number): bigint {
  switch (id) {
    case ClockId.REALTIME:
      return epochOffsetNs + process.hrtime.bigint();
    case ClockId.MONOTONIC:
      return process.hrtime.bigint();
    case ClockId.PROCESS_CPUTIME:
    case ClockId.THREAD_CPUTIME: {
      // Node has no per-thread CPU clock before v23; both report the process's CPU time.
      const u = process.cpuUsage();
      return BigInt(u.user + u.system) * 1000n;
    }
    default:
      throw new WasiError(Errno.INVAL, `unknown clock id ${id}`);
  }
}

export function resolution(id: number): bigint {
  switch (id) {
    case ClockId.REALTIME:
    case ClockId.MONOTONIC:
      return 1n;
    case ClockId.PROCESS_CPUTIME:
    case ClockId.THREAD_CPUTIME:
      return 1000n; // process.cpuUsage() counts microseconds
    default:
      throw new WasiError(Errno.INVAL, `unknown clock id ${id}`);
  }
}
