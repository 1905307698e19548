// Capability handles: integers in this process's handle table (guest-sdk/ABI.md "Handles").
// Each kind has its class (Process, Executor, Sender, Receiver, Store, Monitor); all extend Handle.
import { out, ww_handle_drop, ww_handle_dup, ww_handle_kind, ww_initial, ww_last_error } from "./abi";
import { Errno, Result } from "./errors";

/** Kinds of capability a handle can name (ABI "Handles"). */
export namespace HandleKind {
  export const PROCESS: i32 = 1;
  export const EXECUTOR: i32 = 2;
  export const CHAN_SEND: i32 = 3;
  export const CHAN_RECV: i32 = 4;
  export const STORE: i32 = 5;
  export const MONITOR: i32 = 6;
}
export type HandleKind = i32;

/** A handle number and what can be done with any handle. Subclasses add the calls of their kind. */
export class Handle {
  constructor(protected h: i32) {}

  /** The number in this process's handle table (0 once dropped or moved away). */
  get handle(): i32 {
    return this.h;
  }

  /** What kind of capability the handle names (`HandleKind`); EBADF if this process does not hold it. */
  kind(): Result<HandleKind> {
    const errno = ww_handle_kind(this.h, out);
    if (errno != 0) return wwErr<HandleKind>(errno, "handle_kind");
    return Result.ok<HandleKind>(load<i32>(out));
  }

  /** Removes the handle from the table. A channel end closes when its last handle goes; a Monitor is
   * cancelled; a Process handle going away does not affect the process. */
  drop(): Errno {
    const errno = ww_handle_drop(this.h);
    if (errno == 0) this.h = 0;
    return errno;
  }

  /** Marks the handle as moved away (it was sent in a message or given to a child). */
  forget(): void {
    this.h = 0;
  }

  /** A second handle number for the same capability (to give one away and keep the other). */
  protected dupNumber(): Result<i32> {
    const errno = ww_handle_dup(this.h, out);
    if (errno != 0) return wwErr<i32>(errno, "handle_dup");
    return Result.ok<i32>(load<i32>(out));
  }
}

/** The index-th initial handle this process was started with (ENOENT past the end). */
export function initialHandle(index: i32): Result<i32> {
  const errno = ww_initial(index, out);
  if (errno != 0) return wwErr<i32>(errno, "initial " + index.toString());
  return Result.ok<i32>(load<i32>(out));
}

/** The first initial handle of `kind`, or 0 if this process was started without one. */
export function initialOfKind(kind: HandleKind, nth: i32 = 0): i32 {
  // Raw calls: the ENOENT that ends the list is expected, not worth asking the host to explain.
  for (let i = 0; ww_initial(i, out) == 0; i++) {
    const h = load<i32>(out);
    if (ww_handle_kind(h, out) == 0 && load<i32>(out) == kind && nth-- == 0) return h;
  }
  return 0;
}

/** The host's message about this process's last failing `ww` call ("" if none): what happened and
 * what to do. Programs should branch on the errno; this is for people. */
export function lastError(): string {
  const buf = new ArrayBuffer(512);
  if (ww_last_error(changetype<usize>(buf), 512, out) != 0) return "";
  const len = min(<i32>load<u32>(out), 512);
  return String.UTF8.decodeUnsafe(changetype<usize>(buf), len);
}

/** An error Result for a failed `ww` call, with the host's message as its detail (not asked for
 * EAGAIN and EPIPE, the expected outcomes of non-blocking calls and closed channels). */
export function wwErr<T>(errno: Errno, what: string): Result<T> {
  const detail = errno != Errno.AGAIN && errno != Errno.PIPE ? lastError() : "";
  return Result.err<T>(errno, what, detail);
}
