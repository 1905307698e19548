// The sandbox: the one path resolver every path_* call uses.
//
// A guest path is resolved component by component, starting from a directory
// fd the guest holds (a pre-open or a directory it opened). Each step opens
// exactly one component relative to the fd of the previous one, through
// /proc/self/fd/<fd>/<name> (the kernel resolves /proc/self/fd/<fd> to the open
// directory itself, so this is openat(fd, name) without a native addon), with
// O_NOFOLLOW|O_DIRECTORY. The host never hands the OS a path with more than one
// component below a verified directory fd, so a concurrent rename or symlink
// swap cannot redirect a walk outside the sandbox.
//
// Rules (as wasmtime / cap-std):
// - absolute paths are refused; `..` pops one directory and may never pop the
//   root of the walk;
// - symlinks are read with readlink and their target is resolved by the same
//   walk from the directory that holds the link: an absolute target or one
//   that climbs above the root is refused (EPERM, as wasmtime reports
//   cap-std's escape attempts); more than 40 links in one lookup is ELOOP;
// - the final component is followed only when the caller asks (lookupflags
//   SYMLINK_FOLLOW) or the path ends in `/`.
import * as fs from 'node:fs';
import { Errno, WasiError } from './abi/errno.js';

/** The errno for any attempt to leave the sandbox (wasmtime: cap-std escape => NotPermitted => EPERM). */
export const ESCAPE = Errno.PERM;
export const MAX_SYMLINK_HOPS = 40;
/** Longest path accepted (Linux PATH_MAX); longer is ENAMETOOLONG. */
export const MAX_PATH_BYTES = 4096;
/**
 * Most directories one walk may hold open at once. Each level below the root
 * is an open fd until the call ends, so this bounds the host fds a single
 * guest call can pin (a deeper path is ENAMETOOLONG).
 */
export const MAX_WALK_DEPTH = 128;

/**
 * Linux O_PATH (Node does not export it): an fd that can only name a directory
 * for lookups. Walking needs nothing more, and it works on directories that may
 * be searched but not listed (mode --x). The value is the same on every
 * architecture Node ships for; anywhere else, fall back to O_RDONLY.
 */
const O_PATH = ['x64', 'arm64', 'arm', 'ia32', 'riscv64', 'loong64', 'ppc64', 's390x'].includes(process.arch)
  ? 0o10000000
  : fs.constants.O_RDONLY;
const O_DIR = O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
const PROC_FD = '/proc/self/fd';

/** The host path that names `name` inside the open directory `dirFd` (openat-style). */
export function at(dirFd: number, name: string): string {
  return `${PROC_FD}/${dirFd}/${name}`;
}

/** Whether this host can run the resolver (Linux with /proc mounted). */
export function sandboxSupported(): boolean {
  try {
    return fs.statSync(PROC_FD).isDirectory();
  } catch {
    return false;
  }
}

/** Where a guest path ended up: a verified directory fd and one final name in it. */
export interface Resolved {
  /** An open fd on the directory that holds the final component. */
  readonly dirFd: number;
  /** One component (no `/`), or '.' when the path names the directory dirFd itself. */
  readonly name: string;
  /** The path ended in `/`: the final component must be a directory. */
  readonly mustBeDir: boolean;
  /** at(dirFd, name): the host path to hand to a single fs call. */
  readonly hostPath: string;
  /** Closes the intermediate directory fds the walk opened. Call exactly once. */
  release(): void;
}

function fail(errno: Errno, why: string): never {
  throw new WasiError(errno, why);
}

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Splits a path into its components, dropping empty ones ("a//b" = "a/b"). */
function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

/**
 * Resolves `path` relative to the directory `rootFd`, which is also the
 * sandbox boundary for this lookup. `followFinal` follows a symlink in the
 * final position. The caller must call release() on the result.
 */
export function resolve(rootFd: number, path: string, followFinal: boolean): Resolved {
  if (path.length === 0) fail(Errno.NOENT, 'empty path');
  if (path.includes('\0')) fail(Errno.INVAL, 'path contains a NUL byte');
  if (path.startsWith('/')) fail(ESCAPE, `absolute path "${path}" is outside the pre-opened directory`);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) fail(Errno.NAMETOOLONG, `path longer than ${MAX_PATH_BYTES} bytes`);

  const trailingSlash = path.endsWith('/');
  let mustBeDir = trailingSlash;
  let follow = followFinal || trailingSlash;
  // Components still to walk, next one last (so pop() takes it).
  const pending = components(path).reverse();
  // Directory fds opened by this walk; the top is the current directory.
  const opened: number[] = [];
  const current = (): number => (opened.length > 0 ? opened[opened.length - 1]! : rootFd);
  let hops = 0;

  const releaseAll = (): void => {
    while (opened.length > 0) fs.closeSync(opened.pop()!);
  };
  const done = (name: string): Resolved => {
    const dirFd = current();
    const hostPath = at(dirFd, name);
    if (mustBeDir && name !== '.') {
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(hostPath);
      } catch (err) {
        if (codeOf(err) !== 'ENOENT') throw err;
      }
      if (st && !st.isDirectory()) {
        releaseAll();
        fail(Errno.NOTDIR, `"${path}" ends in "/" but is not a directory`);
      }
    }
    let released = false;
    return {
      dirFd,
      name,
      mustBeDir,
      hostPath,
      release: () => {
        if (released) return;
        released = true;
        releaseAll();
      },
    };
  };

  try {
    for (;;) {
      const comp = pending.pop();
      if (comp === undefined) return done('.');
      const last = pending.length === 0;
      if (comp === '.') {
        if (last) return done('.');
        continue;
      }
      if (comp === '..') {
        if (opened.length === 0) fail(ESCAPE, `"${path}" leads above the pre-opened directory`);
        fs.closeSync(opened.pop()!);
        if (last) return done('.');
        continue;
      }
      const hostPath = at(current(), comp);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(hostPath);
      } catch (err) {
        // A missing final component is fine: the caller may be about to create it.
        if (last && codeOf(err) === 'ENOENT') return done(comp);
        throw err;
      }
      if (st.isSymbolicLink() && (!last || follow)) {
        if (++hops > MAX_SYMLINK_HOPS) fail(Errno.LOOP, `more than ${MAX_SYMLINK_HOPS} symlinks in "${path}"`);
        const target = fs.readlinkSync(hostPath, 'utf8');
        if (target.length === 0) fail(Errno.NOENT, 'empty symlink');
        if (target.startsWith('/')) fail(ESCAPE, `symlink "${comp}" points to an absolute path`);
        if (last && target.endsWith('/')) {
          mustBeDir = true;
          follow = true;
        }
        // The link's text is walked from the directory that holds the link.
        const parts = components(target);
        if (parts.length === 0) parts.push('.');
        for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i]!);
        continue;
      }
      if (last) return done(comp);
      if (!st.isDirectory()) fail(Errno.NOTDIR, `"${comp}" in "${path}" is not a directory`);
      if (opened.length >= MAX_WALK_DEPTH) fail(Errno.NAMETOOLONG, `"${path}" is more than ${MAX_WALK_DEPTH} directories deep`);
      // O_NOFOLLOW|O_DIRECTORY: if the entry was swapped for a link since lstat, this fails instead of leaving.
      opened.push(fs.openSync(hostPath, O_DIR));
    }
  } catch (err) {
    releaseAll();
    throw err;
  }
}
