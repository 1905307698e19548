// Files in the directories the host pre-opened (`ww run --dir HOST::GUEST`), over raw WASI.
// A guest sees only those directories; paths are resolved against the pre-open whose guest path
// is the longest prefix of the path (as wasi-libc does), e.g. "/data/fox.txt" under "/data".
import { Errno, Result } from "./errors";
import { fd_close, fd_prestat_dir_name, fd_prestat_get, fd_read, fd_readdir, path_filestat_get, path_open } from "./wasi";

// WASI constants (witx): lookupflags, oflags, rights, filetype.
const LOOKUP_SYMLINK_FOLLOW: u32 = 1;
const OFLAGS_DIRECTORY: u32 = 2;
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_READDIR: u64 = 1 << 14;
const RIGHT_FD_FILESTAT_GET: u64 = 1 << 21;
const FILETYPE_DIRECTORY: u8 = 3;
const FILETYPE_REGULAR_FILE: u8 = 4;

/** One entry of a directory listing. */
export class DirEntry {
  constructor(readonly name: string, readonly isFile: bool, readonly isDirectory: bool) {}
}

class Preopen {
  constructor(readonly fd: u32, readonly path: string) {}
}

// @ts-ignore: decorator
@lazy let preopens: Preopen[] | null = null;

/** The directories the host pre-opened, as guest paths (e.g. ["/data"]). */
export function preopenedDirs(): string[] {
  const list = loadPreopens();
  const paths = new Array<string>(0);
  for (let i = 0; i < list.length; i++) paths.push(list[i].path);
  return paths;
}

/** The whole content of a file. */
export function readFile(path: string): Result<Uint8Array> {
  const opened = openAt(path, 0, RIGHT_FD_READ | RIGHT_FD_FILESTAT_GET);
  if (!opened.ok) return Result.err<Uint8Array>(opened.errno, "readFile " + path);
  const fd = opened.value;
  const chunks = new Array<Uint8Array>(0);
  let total = 0;
  const iov = new ArrayBuffer(12);
  const iovPtr = changetype<usize>(iov);
  while (true) {
    const chunk = new Uint8Array(64 * 1024);
    store<u32>(iovPtr, <u32>chunk.dataStart);
    store<u32>(iovPtr, <u32>chunk.length, 4);
    const errno = fd_read(fd, iovPtr, 1, iovPtr + 8);
    if (errno != 0) {
      fd_close(fd);
      return Result.err<Uint8Array>(errno, "readFile " + path);
    }
    const n = <i32>load<u32>(iovPtr, 8);
    if (n == 0) break;
    chunks.push(chunk.subarray(0, n));
    total += n;
  }
  fd_close(fd);
  const data = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    data.set(chunks[i], at);
    at += chunks[i].length;
  }
  return Result.ok(data);
}

/** The entries of a directory (without "." and ".."), sorted by name (byte order, like strcmp). */
export function listDir(path: string): Result<DirEntry[]> {
  const opened = openAt(path, OFLAGS_DIRECTORY, RIGHT_FD_READDIR);
  if (!opened.ok) return Result.err<DirEntry[]>(opened.errno, "listDir " + path);
  const fd = opened.value;
  const entries = new Array<DirEntry>(0);
  const buf = new Uint8Array(4096);
  const used = new ArrayBuffer(4);
  let cookie: u64 = 0;
  while (true) {
    const errno = fd_readdir(fd, buf.dataStart, buf.length, cookie, changetype<usize>(used));
    if (errno != 0) {
      fd_close(fd);
      return Result.err<DirEntry[]>(errno, "listDir " + path);
    }
    const n = <usize>load<u32>(changetype<usize>(used));
    // A dirent is 24 bytes (next u64, ino u64, namlen u32, type u8) followed by the name.
    let at: usize = 0;
    let progressed = false;
    while (at + 24 <= n) {
      const entry = buf.dataStart + at;
      const nameLen = <usize>load<u32>(entry, 16);
      if (at + 24 + nameLen > n) break; // cut off: read again from this entry's cookie
      const name = String.UTF8.decodeUnsafe(entry + 24, nameLen);
      const type = load<u8>(entry, 20);
      cookie = load<u64>(entry);
      progressed = true;
      if (name != "." && name != "..") {
        entries.push(new DirEntry(name, type == FILETYPE_REGULAR_FILE, type == FILETYPE_DIRECTORY));
      }
      at += 24 + nameLen;
    }
    if (n < <usize>buf.length) break; // the host filled less than the buffer: the end
    if (!progressed) {
      fd_close(fd);
      return Result.err<DirEntry[]>(Errno.NAMETOOLONG, "listDir " + path);
    }
  }
  fd_close(fd);
  entries.sort((a: DirEntry, b: DirEntry): i32 => compareBytes(a.name, b.name));
  return Result.ok(entries);
}

/** Whether `path` names a regular file (symlinks followed). */
export function isFile(path: string): bool {
  const found = resolve(path);
  if (found === null) return false;
  const rel = String.UTF8.encode(found.rel);
  const stat = new ArrayBuffer(64);
  const errno = path_filestat_get(found.fd, LOOKUP_SYMLINK_FOLLOW, changetype<usize>(rel), rel.byteLength, changetype<usize>(stat));
  return errno == 0 && load<u8>(changetype<usize>(stat), 16) == FILETYPE_REGULAR_FILE;
}

/** Compares two strings by their UTF-8 bytes, as C's strcmp does. */
export function compareBytes(a: string, b: string): i32 {
  const x = Uint8Array.wrap(String.UTF8.encode(a));
  const y = Uint8Array.wrap(String.UTF8.encode(b));
  const n = min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    if (x[i] != y[i]) return <i32>x[i] - <i32>y[i];
  }
  return x.length - y.length;
}

class Resolved {
  constructor(readonly fd: u32, readonly rel: string) {}
}

function openAt(path: string, oflags: u32, rights: u64): Result<u32> {
  const found = resolve(path);
  if (found === null) return Result.err<u32>(Errno.NOTCAPABLE, "open " + path, "not under a pre-opened directory (ww run --dir HOST::GUEST gives one)");
  const rel = String.UTF8.encode(found.rel);
  const out = new ArrayBuffer(4);
  const errno = path_open(found.fd, LOOKUP_SYMLINK_FOLLOW, changetype<usize>(rel), rel.byteLength, oflags, rights, rights, 0, changetype<usize>(out));
  if (errno != 0) return Result.err<u32>(errno, "open " + path);
  return Result.ok(load<u32>(changetype<usize>(out)));
}

// The pre-open that holds `path` and the path relative to it; null if none does.
function resolve(path: string): Resolved | null {
  const list = loadPreopens();
  let best: Preopen | null = null;
  for (let i = 0; i < list.length; i++) {
    const p = list[i];
    const prefix = p.path.endsWith("/") ? p.path.substring(0, p.path.length - 1) : p.path;
    const under = path == prefix || path.startsWith(prefix + "/") || prefix == "" || prefix == ".";
    if (under && (best === null || prefix.length > best.path.length)) best = p;
  }
  if (best === null) return null;
  const b = changetype<Preopen>(best);
  const prefix = b.path.endsWith("/") ? b.path.substring(0, b.path.length - 1) : b.path;
  let rel = prefix == "." ? path : path.substring(prefix.length);
  while (rel.startsWith("/")) rel = rel.substring(1);
  return new Resolved(b.fd, rel.length == 0 ? "." : rel);
}

function loadPreopens(): Preopen[] {
  if (preopens !== null) return preopens!;
  const list = new Array<Preopen>(0);
  const prestat = new ArrayBuffer(8);
  // Pre-opens are numbered from 3 without gaps; the first fd that is not one ends the list.
  for (let fd: u32 = 3; ; fd++) {
    if (fd_prestat_get(fd, changetype<usize>(prestat)) != 0) break;
    if (load<u8>(changetype<usize>(prestat)) != 0) continue; // not a directory
    const len = load<u32>(changetype<usize>(prestat), 4);
    const name = new ArrayBuffer(<i32>len);
    if (fd_prestat_dir_name(fd, changetype<usize>(name), len) != 0) continue;
    list.push(new Preopen(fd, String.UTF8.decode(name)));
  }
  preopens = list;
  return list;
}
