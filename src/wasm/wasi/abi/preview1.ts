// The wasi_snapshot_preview1 imports: the ABI layer. Each function decodes its
// arguments (i32 pointers arrive signed: `>>> 0`; i64s arrive as BigInt),
// reads and writes guest memory only through GuestMemory (bounds-checked =>
// EFAULT), finds its fd's handle with the lookup wasmtime uses for that call
// (which decides EBADF / ESPIPE / ENOTDIR) and asks it for the rights the call
// needs (rights.ts), calls the semantic layer (fs/,
// clock, random, poll, sock), and turns any failure into an errno.
// Output pointers are checked before the call acts, so an EFAULT has no side
// effects. Only WasiExit (proc_exit), traps (a call needing memory the module
// does not export, a host bug) and a host stack overflow leave as exceptions.
import type { WasiCtx } from '../ctx.js';
import * as clock from '../clock.js';
import { DirHandle, Oflags } from '../fs/dir.js';
import { FileHandle } from '../fs/file.js';
import { timeChanges } from '../fs/stat.js';
import { Handle, Whence, type Filestat } from '../handle.js';
import { EventType, pollOneoff, type Subscription } from '../poll.js';
import { fillRandom } from '../random.js';
import { ALL_RIGHTS, DEFAULT_OPEN_RIGHTS, Rights, authorize, type FdOperation } from '../rights.js';
import { PREOPENTYPE_SOCKET, SocketHandle } from '../sock.js';
import { StdioHandle } from '../stdio.js';
import { WasiExit } from '../types.js';
import { Errno, WasiError, errnoOf } from './errno.js';
import { isSuspension } from '../../blocked.js';
import type { Preview1Function } from './functions.js';
import { isTrap, type GuestMemory } from './memory.js';

type Import = (...args: any[]) => number | void;

/** WW_WASI_TRACE=1 prints host-side errors (Node fs errors, bugs) that were turned into an errno. */
const TRACE = process.env.WW_WASI_TRACE === '1';

/** A failure of the host itself, which no errno describes: it traps the guest (see failure). */
export class WasiHostError extends Error {
  constructor(cause: unknown) {
    super(`the WASI host failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'WasiHostError';
  }
}

/** The errno for an error an import body threw; rethrows what must leave (proc_exit, stack overflow, host bugs). */
function failure(err: unknown): number {
  if (err instanceof WasiExit || isTrap(err) || isSuspension(err)) throw err;
  // A host call made at the guest's stack limit: let it trap like the guest's own overflow would.
  if (err instanceof RangeError && /call stack/.test(err.message)) throw err;
  const errno = errnoOf(err);
  // A bug in the host: returning some errno would hide it behind a plausible answer. As wasmtime does
  // with an error it cannot convert, the guest traps, with the message.
  if (errno === undefined) throw new WasiHostError(err);
  if (TRACE && !(err instanceof WasiError)) process.stderr.write(`ww wasi: host error -> errno ${errno}: ${(err as Error)?.stack ?? String(err)}\n`);
  return errno;
}

/**
 * Runs an import body; any thrown error becomes the errno it stands for.
 * Fixed arity (the most any preview1 function takes is 9), not rest
 * parameters: this is on every host call's path.
 */
function guard<A extends any[]>(body: (...args: A) => void): (...args: A) => number {
  const f = body as unknown as (a: any, b: any, c: any, d: any, e: any, f: any, g: any, h: any, i: any) => void;
  return ((a: any, b: any, c: any, d: any, e: any, g: any, h: any, i: any, j: any): number => {
    try {
      f(a, b, c, d, e, g, h, i, j);
      return Errno.SUCCESS;
    } catch (err) {
      return failure(err);
    }
  }) as unknown as (...args: A) => number;
}

const u32 = (x: number): number => x >>> 0;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
/** A guest's rights argument (u64) as the 30 bits of rights it can name; unknown bits grant nothing. */
const rightsOf = (x: bigint): number => Number(BigInt.asUintN(64, x) & BigInt(ALL_RIGHTS));

/** `h`, once it holds the rights `op` needs (else the errno authorize gives). */
function authorized<H extends Handle>(h: H, op: FdOperation): H {
  authorize(h, op);
  return h;
}

// Struct sizes from the witx.
const FDSTAT_SIZE = 24;
const FILESTAT_SIZE = 64;
const PRESTAT_SIZE = 8;
const DIRENT_SIZE = 24;
const SUBSCRIPTION_SIZE = 48;
/** Subscriptions one poll_oneoff call may wait on (each is host memory while it waits). */
export const MAX_POLL_SUBSCRIPTIONS = 16 * 1024;
const EVENT_SIZE = 32;

function writeFilestat(mem: GuestMemory, ptr: number, st: Filestat): void {
  const b = mem.bytes(ptr, FILESTAT_SIZE);
  b.fill(0);
  mem.setU64(ptr, st.dev);
  mem.setU64(ptr + 8, st.ino);
  mem.setU8(ptr + 16, st.filetype);
  mem.setU64(ptr + 24, st.nlink);
  mem.setU64(ptr + 32, st.size);
  mem.setU64(ptr + 40, st.atim);
  mem.setU64(ptr + 48, st.mtim);
  mem.setU64(ptr + 56, st.ctim);
}

/** The host's implementation of every function of the table in functions.ts. */
export function createImports(ctx: WasiCtx): Record<Preview1Function, Import> {
  const mem = ctx.memory;
  const fds = ctx.fds;

  // The fd lookups, one per kind of access (wasmtime's get_file / get_dir / get_seekable / get_fd):
  // each finds the fd, checks its kind (EBADF, ESPIPE, ENOTDIR or ENOTSOCK), then asks it for the
  // rights `op` needs (rights.ts). Calls that need no right use fds.get.
  const anyHandle = (fd: number, op: FdOperation): Handle => authorized(fds.get(fd), op);
  const file = (fd: number, op: FdOperation): FileHandle => authorized(fds.getAs(fd, FileHandle), op);
  const dir = (fd: number, op: FdOperation): DirHandle => authorized(fds.getAs(fd, DirHandle), op);
  /** A file or directory (not stdio, not a socket). */
  const fsObject = (fd: number): FileHandle | DirHandle => {
    const h = fds.get(fd);
    if (h instanceof FileHandle || h instanceof DirHandle) return h;
    throw new WasiError(Errno.BADF);
  };
  /** A file for seek/tell/pread/pwrite: stdio is a stream (ESPIPE). */
  const seekable = (fd: number, op: FdOperation, stdioDirection?: 'in' | 'out'): FileHandle => {
    const h = fds.get(fd);
    if (h instanceof FileHandle) return authorized(h, op);
    if (h instanceof StdioHandle && (stdioDirection === undefined || h.direction === stdioDirection)) {
      throw new WasiError(Errno.SPIPE);
    }
    throw new WasiError(Errno.BADF);
  };
  const socket = (fd: number, op: 'sock_accept' | 'sock_recv' | 'sock_send' | 'sock_shutdown'): SocketHandle => {
    const s = fds.getAs(fd, SocketHandle, Errno.NOTSOCK);
    s.mustBeListening(op === 'sock_accept');
    return authorized(s, op);
  };
  const path = (ptr: number, len: number): string => mem.string(u32(ptr), u32(len));

  /** Writes strings and a pointer array (args_get / environ_get). */
  function putStrings(strings: Uint8Array[], ptrsPtr: number, bufPtr: number): void {
    let size = 0;
    for (const s of strings) size += s.length;
    mem.check(ptrsPtr, strings.length * 4);
    mem.check(bufPtr, size);
    let at = bufPtr;
    strings.forEach((s, i) => {
      mem.setU32(ptrsPtr + i * 4, at);
      mem.write(at, s);
      at += s.length;
    });
  }
  function putSizes(strings: Uint8Array[], countPtr: number, sizePtr: number): void {
    let size = 0;
    for (const s of strings) size += s.length;
    mem.check(countPtr, 4);
    mem.check(sizePtr, 4);
    mem.setU32(countPtr, strings.length);
    mem.setU32(sizePtr, size);
  }

  const imports: Record<Preview1Function, Import> = {
    // ---- args, environ ----
    args_get: guard((argv: number, argvBuf: number) => putStrings(ctx.args, u32(argv), u32(argvBuf))),
    args_sizes_get: guard((countPtr: number, sizePtr: number) => putSizes(ctx.args, u32(countPtr), u32(sizePtr))),
    environ_get: guard((environ: number, environBuf: number) => putStrings(ctx.env, u32(environ), u32(environBuf))),
    environ_sizes_get: guard((countPtr: number, sizePtr: number) =>
      putSizes(ctx.env, u32(countPtr), u32(sizePtr)),
    ),

    // ---- clocks, random, scheduling, process ----
    // Reading a clock has no side effect, so the single bounds check in setU64 suffices.
    clock_res_get: guard((id: number, resPtr: number) => {
      mem.setU64(u32(resPtr), clock.resolution(id));
    }),
    clock_time_get: guard((id: number, _precision: bigint, timePtr: number) => {
      mem.setU64(u32(timePtr), clock.now(id));
    }),
    random_get: guard((buf: number, len: number) => {
      fillRandom(mem.bytes(u32(buf), u32(len)));
    }),
    sched_yield: guard(() => {}),
    proc_exit: (code: number): void => {
      throw new WasiExit(u32(code));
    },
    proc_raise: guard((_sig: number) => {
      // As wasmtime: signals are not supported.
      throw new WasiError(Errno.NOTSUP);
    }),

    // ---- fd: generic ----
    fd_close: guard((fd: number) => {
      // Closed while still in the table: a socket's close may suspend the guest, and the call then
      // runs again (blocked.ts), finding the fd where it was. Taken out once closed, or failed.
      const h = fds.get(fd);
      try {
        h.close();
      } catch (err) {
        if (!isSuspension(err)) fds.take(fd);
        throw err;
      }
      fds.take(fd);
    }),
    fd_renumber: guard((from: number, to: number) => {
      fds.renumber(from, u32(to));
    }),
    fd_fdstat_get: guard((fd: number, ptr: number) => {
      const p = u32(ptr);
      mem.check(p, FDSTAT_SIZE);
      const h = fds.get(fd);
      const [base, inheriting] = h.heldRights();
      mem.bytes(p, FDSTAT_SIZE).fill(0);
      mem.setU8(p, h.filetype);
      mem.setU16(p + 2, h.fdflags);
      mem.setU64(p + 8, BigInt(base));
      mem.setU64(p + 16, BigInt(inheriting));
    }),
    fd_fdstat_set_flags: guard((fd: number, flags: number) => {
      const h = fds.get(fd);
      if (!(h instanceof FileHandle || h instanceof SocketHandle)) throw new WasiError(Errno.BADF);
      authorized(h, 'fd_fdstat_set_flags').setFdflags(flags & 0xffff);
    }),
    fd_fdstat_set_rights: guard((fd: number, base: bigint, inheriting: bigint) => {
      // Files and directories only (stdio is EBADF). What is dropped is no longer held: fd_fdstat_get
      // reports it and every call needing it is refused (rights.ts).
      fsObject(fd).narrowRights(u64(base), u64(inheriting));
    }),
    fd_filestat_get: guard((fd: number, ptr: number) => {
      const p = u32(ptr);
      mem.check(p, FILESTAT_SIZE);
      writeFilestat(mem, p, anyHandle(fd, 'fd_filestat_get').filestat());
    }),
    fd_filestat_set_size: guard((fd: number, size: bigint) => {
      file(fd, 'fd_filestat_set_size').setSize(u64(size));
    }),
    fd_filestat_set_times: guard((fd: number, atim: bigint, mtim: bigint, fstFlags: number) => {
      const [a, m] = timeChanges(u64(atim), u64(mtim), fstFlags);
      authorized(fsObject(fd), 'fd_filestat_set_times').setTimes(a, m);
    }),

    // ---- fd: reading and writing ----
    fd_read: guard((fd: number, iovs: number, iovsLen: number, nreadPtr: number) => {
      mem.check(u32(nreadPtr), 4);
      const bufs = mem.iovecs(u32(iovs), u32(iovsLen));
      const n = anyHandle(fd, 'fd_read').read(bufs);
      mem.setU32(u32(nreadPtr), n);
    }),
    fd_write: guard((fd: number, iovs: number, iovsLen: number, nwrittenPtr: number) => {
      mem.check(u32(nwrittenPtr), 4);
      const bufs = mem.iovecs(u32(iovs), u32(iovsLen));
      const n = anyHandle(fd, 'fd_write').write(bufs);
      mem.setU32(u32(nwrittenPtr), n);
    }),
    fd_pread: guard((fd: number, iovs: number, iovsLen: number, offset: bigint, nreadPtr: number) => {
      mem.check(u32(nreadPtr), 4);
      const bufs = mem.iovecs(u32(iovs), u32(iovsLen));
      const n = seekable(fd, 'fd_pread', 'in').pread(bufs, u64(offset));
      mem.setU32(u32(nreadPtr), n);
    }),
    fd_pwrite: guard((fd: number, iovs: number, iovsLen: number, offset: bigint, nwrittenPtr: number) => {
      mem.check(u32(nwrittenPtr), 4);
      const bufs = mem.iovecs(u32(iovs), u32(iovsLen));
      const n = seekable(fd, 'fd_pwrite', 'out').pwrite(bufs, u64(offset));
      mem.setU32(u32(nwrittenPtr), n);
    }),
    fd_seek: guard((fd: number, offset: bigint, whence: number, newOffsetPtr: number) => {
      mem.check(u32(newOffsetPtr), 8);
      const delta = s64(offset);
      // Seeking by 0 from the current position only reads it: FD_TELL is enough (witx).
      const pos = seekable(fd, delta === 0n && whence === Whence.CUR ? 'fd_tell' : 'fd_seek').seek(delta, whence);
      mem.setU64(u32(newOffsetPtr), pos);
    }),
    fd_tell: guard((fd: number, offsetPtr: number) => {
      mem.check(u32(offsetPtr), 8);
      mem.setU64(u32(offsetPtr), seekable(fd, 'fd_tell').tell());
    }),
    fd_sync: guard((fd: number) => file(fd, 'fd_sync').sync()),
    fd_datasync: guard((fd: number) => file(fd, 'fd_datasync').datasync()),
    fd_advise: guard((fd: number, offset: bigint, len: bigint, advice: number) => {
      file(fd, 'fd_advise').advise(u64(offset), u64(len), advice);
    }),
    fd_allocate: guard((fd: number, _offset: bigint, _len: bigint) => {
      // As wasmtime: a file fd is checked, then the call is not supported.
      file(fd, 'fd_allocate');
      throw new WasiError(Errno.NOTSUP);
    }),

    // ---- fd: directories and pre-opens ----
    fd_prestat_get: guard((fd: number, ptr: number) => {
      const p = u32(ptr);
      mem.check(p, PRESTAT_SIZE);
      const h = fds.get(fd);
      if (h instanceof SocketHandle && h.preopened) {
        mem.bytes(p, PRESTAT_SIZE).fill(0);
        mem.setU8(p, PREOPENTYPE_SOCKET); // guests skip it and keep scanning for directories
        return;
      }
      if (!(h instanceof DirHandle) || h.preopenName === undefined) throw new WasiError(Errno.BADF);
      mem.bytes(p, PRESTAT_SIZE).fill(0);
      mem.setU8(p, 0); // preopentype dir
      mem.setU32(p + 4, Buffer.byteLength(h.preopenName));
    }),
    fd_prestat_dir_name: guard((fd: number, pathPtr: number, pathLen: number) => {
      const h = fds.get(fd);
      if (!(h instanceof DirHandle) || h.preopenName === undefined) throw new WasiError(Errno.NOTDIR);
      const name = Buffer.from(h.preopenName);
      if (name.length > u32(pathLen)) throw new WasiError(Errno.NAMETOOLONG);
      mem.write(u32(pathPtr), name);
    }),
    fd_readdir: guard((fd: number, bufPtr: number, bufLen: number, cookie: bigint, bufusedPtr: number) => {
      const buf = u32(bufPtr);
      const cap = u32(bufLen);
      mem.check(buf, cap);
      mem.check(u32(bufusedPtr), 4);
      const entries = dir(fd, 'fd_readdir').readdir(u64(cookie));
      // Entries are packed head-to-tail; the last one is cut at the buffer's end (as wasmtime),
      // which tells the guest to call again with a larger buffer.
      const out = mem.bytes(buf, cap);
      const header = new DataView(new ArrayBuffer(DIRENT_SIZE));
      let used = 0;
      let next = u64(cookie);
      for (const e of entries) {
        next += 1n;
        header.setBigUint64(0, next, true);
        header.setBigUint64(8, e.ino, true);
        header.setUint32(16, e.name.length, true);
        header.setUint8(20, e.filetype);
        const h = new Uint8Array(header.buffer);
        const hn = Math.min(DIRENT_SIZE, cap - used);
        out.set(h.subarray(0, hn), used);
        used += hn;
        if (used === cap) break;
        const nn = Math.min(e.name.length, cap - used);
        out.set(e.name.subarray(0, nn), used);
        used += nn;
        if (used === cap) break;
      }
      mem.setU32(u32(bufusedPtr), used);
    }),

    // ---- paths (all through the sandbox resolver, in fs/dir.ts) ----
    path_open: guard(
      (
        fd: number,
        dirflags: number,
        pathPtr: number,
        pathLen: number,
        oflags: number,
        rightsBase: bigint,
        rightsInheriting: bigint,
        fdflags: number,
        openedFdPtr: number,
      ) => {
        mem.check(u32(openedFdPtr), 4);
        const p = path(pathPtr, pathLen);
        const h = fds.get(fd);
        if (h instanceof FileHandle) throw new WasiError(Errno.NOTDIR);
        if (!(h instanceof DirHandle)) throw new WasiError(Errno.BADF);
        const o = oflags & 0xffff;
        authorized(h, o & Oflags.TRUNC ? 'path_open with O_TRUNC' : 'path_open');
        if (o & Oflags.CREAT) authorize(h, 'path_open with O_CREAT');
        if (o & Oflags.EXCL) authorize(h, 'path_open with O_EXCL');
        // The new fd gets what it asks for and the directory passes on (its inheriting rights), never
        // more; asking for nothing opens for reading (as wasmtime).
        const passed = h.heldRights()[1];
        const requested = rightsOf(rightsBase);
        const base = (requested === 0 ? DEFAULT_OPEN_RIGHTS : requested) & passed;
        const inheriting = rightsOf(rightsInheriting) & passed;
        const opened = h.open({
          lookupFlags: dirflags,
          path: p,
          oflags: o,
          read: (base & Rights.FD_READ) !== 0,
          write: (base & Rights.FD_WRITE) !== 0,
          askedToWrite: (requested & Rights.FD_WRITE) !== 0,
          fdflags: fdflags & 0xffff,
        });
        opened.restrictRights(base, inheriting);
        let newFd: number;
        try {
          newFd = fds.insert(opened);
        } catch (err) {
          opened.close();
          throw err;
        }
        mem.setU32(u32(openedFdPtr), newFd);
      },
    ),
    path_create_directory: guard((fd: number, pathPtr: number, pathLen: number) => {
      const p = path(pathPtr, pathLen);
      dir(fd, 'path_create_directory').createDirectory(p);
    }),
    path_remove_directory: guard((fd: number, pathPtr: number, pathLen: number) => {
      const p = path(pathPtr, pathLen);
      dir(fd, 'path_remove_directory').removeDirectory(p);
    }),
    path_unlink_file: guard((fd: number, pathPtr: number, pathLen: number) => {
      const p = path(pathPtr, pathLen);
      dir(fd, 'path_unlink_file').unlinkFile(p);
    }),
    path_filestat_get: guard((fd: number, flags: number, pathPtr: number, pathLen: number, bufPtr: number) => {
      mem.check(u32(bufPtr), FILESTAT_SIZE);
      const p = path(pathPtr, pathLen);
      writeFilestat(mem, u32(bufPtr), dir(fd, 'path_filestat_get').statAt(flags, p));
    }),
    path_filestat_set_times: guard(
      (fd: number, flags: number, pathPtr: number, pathLen: number, atim: bigint, mtim: bigint, fstFlags: number) => {
        const p = path(pathPtr, pathLen);
        const [a, m] = timeChanges(u64(atim), u64(mtim), fstFlags);
        dir(fd, 'path_filestat_set_times').setTimesAt(flags, p, a, m);
      },
    ),
    path_link: guard(
      (
        oldFd: number,
        oldFlags: number,
        oldPathPtr: number,
        oldPathLen: number,
        newFd: number,
        newPathPtr: number,
        newPathLen: number,
      ) => {
        const oldPath = path(oldPathPtr, oldPathLen);
        const newPath = path(newPathPtr, newPathLen);
        const from = dir(oldFd, 'path_link (source directory)');
        from.link(oldFlags, oldPath, dir(newFd, 'path_link (target directory)'), newPath);
      },
    ),
    path_rename: guard(
      (fd: number, oldPathPtr: number, oldPathLen: number, newFd: number, newPathPtr: number, newPathLen: number) => {
        const oldPath = path(oldPathPtr, oldPathLen);
        const newPath = path(newPathPtr, newPathLen);
        const from = dir(fd, 'path_rename (source directory)');
        from.rename(oldPath, dir(newFd, 'path_rename (target directory)'), newPath);
      },
    ),
    path_symlink: guard((oldPathPtr: number, oldPathLen: number, fd: number, newPathPtr: number, newPathLen: number) => {
      const target = path(oldPathPtr, oldPathLen);
      const linkPath = path(newPathPtr, newPathLen);
      dir(fd, 'path_symlink').symlink(target, linkPath);
    }),
    path_readlink: guard(
      (fd: number, pathPtr: number, pathLen: number, bufPtr: number, bufLen: number, bufusedPtr: number) => {
        const buf = u32(bufPtr);
        const cap = u32(bufLen);
        mem.check(buf, cap);
        mem.check(u32(bufusedPtr), 4);
        const p = path(pathPtr, pathLen);
        const text = dir(fd, 'path_readlink').readlink(p);
        // As wasmtime: a link longer than the buffer is truncated to it, not an error.
        const n = Math.min(text.length, cap);
        mem.write(buf, text.subarray(0, n));
        mem.setU32(u32(bufusedPtr), n);
      },
    ),

    // ---- poll ----
    poll_oneoff: guard((inPtr: number, outPtr: number, nsubscriptions: number, neventsPtr: number) => {
      const inp = u32(inPtr);
      const outp = u32(outPtr);
      const n = u32(nsubscriptions);
      mem.check(inp, n * SUBSCRIPTION_SIZE);
      mem.check(outp, n * EVENT_SIZE);
      // Each subscription becomes host objects outside the guest's memory: bounded, or one call could
      // make its worker hold gigabytes the guest's memory limit never sees.
      if (n > MAX_POLL_SUBSCRIPTIONS) throw new WasiError(Errno.INVAL, `poll_oneoff with ${n} subscriptions, more than the ${MAX_POLL_SUBSCRIPTIONS} one call may wait on`);
      mem.check(u32(neventsPtr), 4);
      const subs: Subscription[] = [];
      for (let i = 0; i < n; i++) {
        const s = inp + i * SUBSCRIPTION_SIZE;
        const userdata = mem.u64(s);
        const tag = mem.u8(s + 8);
        if (tag === EventType.CLOCK) {
          subs.push({
            userdata,
            type: EventType.CLOCK,
            clockId: mem.u32(s + 16),
            timeout: mem.u64(s + 24),
            flags: mem.u16(s + 40),
          });
        } else if (tag === EventType.FD_READ || tag === EventType.FD_WRITE) {
          const h = fds.get(mem.u32(s + 16));
          // As wasmtime: only stdio, files and sockets can be polled; a directory is EBADF.
          if (h instanceof DirHandle) throw new WasiError(Errno.BADF);
          subs.push({ userdata, type: tag, handle: authorized(h, 'poll_oneoff on an fd') });
        } else {
          throw new WasiError(Errno.INVAL, `unknown subscription tag ${tag}`);
        }
      }
      const events = pollOneoff(subs, ctx.socketWaiter);
      events.forEach((e, i) => {
        const p = outp + i * EVENT_SIZE;
        mem.bytes(p, EVENT_SIZE).fill(0);
        mem.setU64(p, e.userdata);
        mem.setU16(p + 8, e.error);
        mem.setU8(p + 10, e.type);
        if (e.type !== EventType.CLOCK) {
          mem.setU64(p + 16, e.nbytes);
          mem.setU16(p + 24, e.flags);
        }
      });
      mem.setU32(u32(neventsPtr), events.length);
    }),

    // ---- sockets: only a SocketHandle is a socket; everything else (stdio included) is ENOTSOCK ----
    sock_accept: guard((fd: number, flags: number, fdPtr: number) => {
      mem.check(u32(fdPtr), 4);
      const s = socket(fd, 'sock_accept');
      if (flags & ~4) throw new WasiError(Errno.INVAL, 'sock_accept takes only the nonblock flag');
      const conn = s.accept(flags);
      let newFd: number;
      try {
        newFd = fds.insert(conn);
      } catch (err) {
        conn.close();
        throw err;
      }
      mem.setU32(u32(fdPtr), newFd);
    }),
    sock_recv: guard(
      (fd: number, riData: number, riDataLen: number, riFlags: number, roDatalenPtr: number, roFlagsPtr: number) => {
        mem.check(u32(roDatalenPtr), 4);
        mem.check(u32(roFlagsPtr), 2);
        const bufs = mem.iovecs(u32(riData), u32(riDataLen));
        const { n, roflags } = socket(fd, 'sock_recv').recv(bufs, riFlags & 0xffff);
        mem.setU32(u32(roDatalenPtr), n);
        mem.setU16(u32(roFlagsPtr), roflags);
      },
    ),
    sock_send: guard((fd: number, siData: number, siDataLen: number, _siFlags: number, soDatalenPtr: number) => {
      mem.check(u32(soDatalenPtr), 4);
      const bufs = mem.iovecs(u32(siData), u32(siDataLen));
      mem.setU32(u32(soDatalenPtr), socket(fd, 'sock_send').send(bufs));
    }),
    sock_shutdown: guard((fd: number, how: number) => {
      const s = socket(fd, 'sock_shutdown');
      if (how === 0 || how & ~3) throw new WasiError(Errno.INVAL, 'sock_shutdown: how must be RD, WR or both');
      s.shutdown(how);
    }),
  };
  return imports;
}
