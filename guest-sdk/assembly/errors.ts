// Errors in the SDK: WASI errno numbers (the `ww` host module uses the same ones), and Result<T>.
// AssemblyScript cannot catch exceptions (a `throw` aborts the process), so every call that can fail
// for a reason the caller may want to handle returns its errno: calls without a value return an
// `Errno` (0 = success), calls with a value return a `Result<T>`. `.value` and `check()` turn an error
// into a line on stderr and exit status 1, for the cases where the caller has no better plan.

import { fd_write, proc_exit } from "./wasi";

/** WASI errno numbers (the ones ww's host functions return; the full list is WASI's). */
export namespace Errno {
  export const SUCCESS: i32 = 0;
  export const TOOBIG: i32 = 1;
  export const ACCES: i32 = 2;
  export const AGAIN: i32 = 6;
  export const BADF: i32 = 8;
  export const CANCELED: i32 = 11;
  export const CHILD: i32 = 12;
  export const DEADLK: i32 = 16;
  export const EXIST: i32 = 20;
  export const FAULT: i32 = 21;
  export const INTR: i32 = 27;
  export const INVAL: i32 = 28;
  export const IO: i32 = 29;
  export const ISDIR: i32 = 31;
  export const MFILE: i32 = 33;
  export const MSGSIZE: i32 = 35;
  export const NAMETOOLONG: i32 = 37;
  export const NOBUFS: i32 = 42;
  export const NOENT: i32 = 44;
  export const NOEXEC: i32 = 45;
  export const NOMEM: i32 = 48;
  export const NOSPC: i32 = 51;
  export const NOSYS: i32 = 52;
  export const NOTDIR: i32 = 54;
  export const NOTSUP: i32 = 58;
  export const OVERFLOW: i32 = 61;
  export const PERM: i32 = 63;
  export const PIPE: i32 = 64;
  export const RANGE: i32 = 68;
  export const SRCH: i32 = 71;
  export const TIMEDOUT: i32 = 73;
  export const NOTCAPABLE: i32 = 76;
}
export type Errno = i32;

/** The errno's WASI name and meaning, e.g. "EBADF (bad handle or file descriptor)". */
export function errnoText(errno: Errno): string {
  switch (errno) {
    case Errno.SUCCESS: return "success";
    case Errno.TOOBIG: return "E2BIG (argument list too long)";
    case Errno.ACCES: return "EACCES (permission denied)";
    case Errno.AGAIN: return "EAGAIN (would block; try again)";
    case Errno.BADF: return "EBADF (bad handle or file descriptor)";
    case Errno.CANCELED: return "ECANCELED (canceled)";
    case Errno.CHILD: return "ECHILD (no such child)";
    case Errno.DEADLK: return "EDEADLK (would wait for itself)";
    case Errno.EXIST: return "EEXIST (already exists)";
    case Errno.FAULT: return "EFAULT (bad address)";
    case Errno.INTR: return "EINTR (interrupted)";
    case Errno.INVAL: return "EINVAL (invalid argument)";
    case Errno.IO: return "EIO (host error)";
    case Errno.ISDIR: return "EISDIR (is a directory)";
    case Errno.MFILE: return "EMFILE (too many handles)";
    case Errno.MSGSIZE: return "EMSGSIZE (message too large)";
    case Errno.NAMETOOLONG: return "ENAMETOOLONG (name too long)";
    case Errno.NOBUFS: return "ENOBUFS (no buffer space: too much queued or open)";
    case Errno.NOENT: return "ENOENT (no such entry)";
    case Errno.NOEXEC: return "ENOEXEC (not a runnable module)";
    case Errno.NOMEM: return "ENOMEM (out of memory)";
    case Errno.NOSPC: return "ENOSPC (no space)";
    case Errno.NOSYS: return "ENOSYS (not implemented by this host)";
    case Errno.NOTDIR: return "ENOTDIR (not a directory)";
    case Errno.NOTSUP: return "ENOTSUP (not supported)";
    case Errno.OVERFLOW: return "EOVERFLOW (value too large)";
    case Errno.PERM: return "EPERM (not permitted)";
    case Errno.PIPE: return "EPIPE (closed)";
    case Errno.RANGE: return "ERANGE (out of range)";
    case Errno.SRCH: return "ESRCH (no such process)";
    case Errno.TIMEDOUT: return "ETIMEDOUT (timed out)";
    case Errno.NOTCAPABLE: return "ENOTCAPABLE (capability lacks the right)";
    default: return "errno " + errno.toString();
  }
}

/** Aborts with "<what>: <errno text>" unless `errno` is 0. For calls the program cannot go on without. */
export function check(errno: Errno, what: string): void {
  if (errno != Errno.SUCCESS) fail(what, errno);
}

/** Writes "<what>: <errno text>[: <detail>]" to stderr and exits with status 1 (a guest cannot
 * catch it). A detail that repeats `what` as its prefix (as the host's messages do) is shortened. */
export function fail(what: string, errno: Errno, detail: string = ""): void {
  if (detail.startsWith(what + ": ")) detail = detail.substring(what.length + 2);
  const text = what + ": " + errnoText(errno) + (detail.length > 0 ? ": " + detail : "") + "\n";
  const line = String.UTF8.encode(text);
  const iov = new ArrayBuffer(12);
  store<u32>(changetype<usize>(iov), <u32>changetype<usize>(line));
  store<u32>(changetype<usize>(iov), <u32>line.byteLength, 4);
  fd_write(2, changetype<usize>(iov), 1, changetype<usize>(iov) + 8);
  proc_exit(1);
  unreachable();
}

/** A value, or the errno of the call that could not produce it. */
export class Result<T> {
  private constructor(
    private readonly _value: T,
    readonly errno: Errno,
    /** The failed call, e.g. "spawn" or "readFile /data/x" ("" on success). */
    readonly what: string,
    /** The host's explanation, if it gave one (`lastError()` at the time of the failure). */
    readonly detail: string,
  ) {}

  static ok<T>(value: T): Result<T> {
    return new Result<T>(value, Errno.SUCCESS, "", "");
  }

  /** `what` names the call and `detail` explains, for the message `.value` prints. */
  static err<T>(errno: Errno, what: string, detail: string = ""): Result<T> {
    return new Result<T>(zero<T>(), errno, what, detail);
  }

  get ok(): bool {
    return this.errno == Errno.SUCCESS;
  }

  /** The value; aborts with the call's name and errno if there is none. */
  get value(): T {
    if (this.errno != Errno.SUCCESS) fail(this.what, this.errno, this.detail);
    return this._value;
  }

  /** The value, or `fallback` on error. */
  valueOr(fallback: T): T {
    return this.errno == Errno.SUCCESS ? this._value : fallback;
  }
}

// A placeholder of any type for a Result without value; never handed out (`.value` aborts first).
// @ts-ignore: decorator
@inline function zero<T>(): T {
  if (isReference<T>()) return changetype<T>(0);
  // @ts-ignore: numeric T
  return <T>0;
}
