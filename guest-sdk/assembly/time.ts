// Clocks and sleeping, over WASI (clock_time_get, poll_oneoff with a clock subscription).
import { Errno } from "./errors";
import { clock_time_get, poll_oneoff } from "./wasi";

const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;

/** Nanoseconds on the monotonic clock (for measuring intervals). */
export function monotonicNs(): u64 {
  const out = new ArrayBuffer(8);
  clock_time_get(CLOCK_MONOTONIC, 1, changetype<usize>(out));
  return load<u64>(changetype<usize>(out));
}

/** Nanoseconds since the Unix epoch. */
export function realtimeNs(): u64 {
  const out = new ArrayBuffer(8);
  clock_time_get(CLOCK_REALTIME, 1, changetype<usize>(out));
  return load<u64>(changetype<usize>(out));
}

/** Blocks this process (only it) for `ms` milliseconds; returns the WASI errno of poll_oneoff. */
export function sleep(ms: u64): Errno {
  // One 48-byte subscription (userdata u64, tag u8 = clock, clock id u32 at 16, timeout u64 at 24,
  // precision u64 at 32, flags u16 at 40 = relative) and one 32-byte event.
  const sub = new ArrayBuffer(48 + 32 + 4);
  const p = changetype<usize>(sub);
  store<u8>(p, 0, 8);
  store<u32>(p, CLOCK_MONOTONIC, 16);
  store<u64>(p, ms * 1_000_000, 24);
  store<u64>(p, 0, 32);
  store<u16>(p, 0, 40);
  return <Errno>poll_oneoff(p, p + 48, 1, p + 80);
}
