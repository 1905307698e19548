// ww guest SDK for AssemblyScript: small helpers over raw WASI preview1 (stdout/stderr, arguments,
// environment, exit). Later versions add the `ww` host module (capability handles).
import { args_get, args_sizes_get, environ_get, environ_sizes_get, fd_write, proc_exit } from "./wasi";

export { fd_write, args_sizes_get, args_get, environ_sizes_get, environ_get, proc_exit } from "./wasi";

/** WASI file descriptors of the standard streams. */
export const STDOUT: u32 = 1;
export const STDERR: u32 = 2;

// Scratch space for WASI out-parameters: an iovec (8 bytes) plus two u32 results.
// @ts-ignore: decorator
@lazy const scratch = memory.data(16);

/** Writes all of `data` to `fd`; returns the WASI errno of the first failed write (0 on success). */
export function writeBytes(fd: u32, data: ArrayBuffer): u16 {
  let ptr = changetype<usize>(data);
  let remaining = <usize>data.byteLength;
  while (remaining > 0) {
    store<u32>(scratch, <u32>ptr);
    store<u32>(scratch, <u32>remaining, 4);
    const errno = fd_write(fd, scratch, 1, scratch + 8);
    if (errno != 0) return errno;
    const written = <usize>load<u32>(scratch, 8);
    ptr += written;
    remaining -= written;
  }
  return 0;
}

/** Writes `text` (UTF-8) to stdout. */
export function print(text: string): void {
  writeBytes(STDOUT, String.UTF8.encode(text));
}

/** Writes `text` and a newline to stdout. */
export function println(text: string): void {
  print(text + "\n");
}

/** Writes `text` (UTF-8) to stderr. */
export function eprint(text: string): void {
  writeBytes(STDERR, String.UTF8.encode(text));
}

/** Writes `text` and a newline to stderr. */
export function eprintln(text: string): void {
  eprint(text + "\n");
}

/** The process arguments; args()[0] is the program name. */
export function args(): string[] {
  if (args_sizes_get(scratch, scratch + 4) != 0) return [];
  return readStrings(load<u32>(scratch), load<u32>(scratch, 4), true);
}

/** The environment as "NAME=VALUE" strings, in the order the host gave them. */
export function environ(): string[] {
  if (environ_sizes_get(scratch, scratch + 4) != 0) return [];
  return readStrings(load<u32>(scratch), load<u32>(scratch, 4), false);
}

/** The environment as a map from name to value (the host's order is kept by environ()). */
export function env(): Map<string, string> {
  const result = new Map<string, string>();
  const entries = environ();
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    const eq = entry.indexOf("=");
    if (eq < 0) result.set(entry, "");
    else result.set(entry.substring(0, eq), entry.substring(eq + 1));
  }
  return result;
}

/** The value of one environment variable, or null when the host did not set it. */
export function getenv(name: string): string | null {
  const vars = env();
  return vars.has(name) ? vars.get(name) : null;
}

/** Ends the process with `code` (0 = success); does not return. */
export function exit(code: i32): void {
  proc_exit(<u32>code);
  unreachable();
}

// Reads the `count` NUL-terminated strings that args_get / environ_get lay out.
function readStrings(count: u32, bufSize: u32, fromArgs: bool): string[] {
  const pointers = new ArrayBuffer(<i32>(count * 4));
  const buf = new ArrayBuffer(<i32>max<u32>(bufSize, 1));
  const errno = fromArgs
    ? args_get(changetype<usize>(pointers), changetype<usize>(buf))
    : environ_get(changetype<usize>(pointers), changetype<usize>(buf));
  const result = new Array<string>(0);
  if (errno != 0) return result;
  for (let i: u32 = 0; i < count; i++) {
    const start = <usize>load<u32>(changetype<usize>(pointers) + (<usize>i << 2));
    let end = start;
    while (load<u8>(end) != 0) end++;
    result.push(String.UTF8.decodeUnsafe(start, end - start));
  }
  return result;
}

export * from "./errors";
export * from "./fs";
export * from "./time";
export * from "./handle";
export * from "./process";
export * from "./channel";
export * from "./store";
export * from "./events";
export { NONBLOCK } from "./abi";
