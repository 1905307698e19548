// The wasi_snapshot_preview1 imports: the ABI layer. Each function decodes its
// arguments (i32 pointers arrive signed: `>>> 0`; i64s arrive as BigInt), reads
// and writes guest memory only through GuestMemory (bounds-checked => EFAULT),
// calls the semantic layer (handles, clock, random, poll, resolve), and turns
// any failure into an errno. Only WasiExit (proc_exit) and a host stack
// overflow leave as exceptions.
import { WasiExit } from '../types.js';
import type { WasiCtx } from '../ctx.js';
import { Errno, WasiError, errnoOf } from './errno.js';
import * as clock from '../clock.js';
import { fillRandom } from '../random.js';

type Import = (...args: any[]) => number | void;

/** Runs an import body; any thrown error becomes the errno it stands for. */
function guard<A extends any[]>(body: (...args: A) => void): (...args: A) => number {
  return (...args: A): number => {
    try {
      body(...args);
      return Errno.SUCCESS;
    } catch (err) {
      if (err instanceof WasiExit) throw err;
      if (err instanceof RangeError && /call stack/.test(err.message)) throw err;
      return errnoOf(err);
    }
  };
}

const u32 = (x: number): number => x >>> 0;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);

export function createImports(ctx: WasiCtx): Record<string, Import> {
  const mem = ctx.memory;
  const fds = ctx.fds;

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

  const imports: Record<string, Import> = {
    args_get: guard((argv: number, argvBuf: number) => putStrings(ctx.args, u32(argv), u32(argvBuf))),
    args_sizes_get: guard((countPtr: number, sizePtr: number) => putSizes(ctx.args, u32(countPtr), u32(sizePtr))),
    environ_get: guard((environ: number, environBuf: number) => putStrings(ctx.env, u32(environ), u32(environBuf))),
    environ_sizes_get: guard((countPtr: number, sizePtr: number) =>
      putSizes(ctx.env, u32(countPtr), u32(sizePtr)),
    ),

    clock_res_get: guard((id: number, resPtr: number) => {
      mem.check(u32(resPtr), 8);
      mem.setU64(u32(resPtr), clock.resolution(id));
    }),
    clock_time_get: guard((id: number, _precision: bigint, timePtr: number) => {
      mem.check(u32(timePtr), 8);
      mem.setU64(u32(timePtr), clock.now(id));
    }),

    fd_write: guard((fd: number, iovs: number, iovsLen: number, nwrittenPtr: number) => {
      mem.check(u32(nwrittenPtr), 4);
      const bufs = mem.iovecs(u32(iovs), u32(iovsLen));
      const n = fds.get(fd).write(bufs);
      mem.setU32(u32(nwrittenPtr), n);
    }),
    fd_read: guard((fd: number, iovs: number, iovsLen: number, nreadPtr: number) => {
      mem.check(u32(nreadPtr), 4);
      const bufs = mem.iovecs(u32(iovs), u32(iovsLen));
      const n = fds.get(fd).read(bufs);
      mem.setU32(u32(nreadPtr), n);
    }),
    fd_close: guard((fd: number) => {
      fds.take(fd).close();
    }),
    fd_prestat_get: guard((fd: number, _ptr: number) => {
      fds.get(fd);
      throw new WasiError(Errno.BADF);
    }),

    proc_exit: (code: number): void => {
      throw new WasiExit(u32(code));
    },
    proc_raise: guard((_sig: number) => {
      throw new WasiError(Errno.NOSYS);
    }),
    sched_yield: guard(() => {}),
    random_get: guard((buf: number, len: number) => {
      fillRandom(mem.bytes(u32(buf), u32(len)));
    }),

    sock_accept: guard((fd: number) => {
      fds.get(fd);
      throw new WasiError(Errno.NOTSOCK);
    }),
    sock_recv: guard((fd: number) => {
      fds.get(fd);
      throw new WasiError(Errno.NOTSOCK);
    }),
    sock_send: guard((fd: number) => {
      fds.get(fd);
      throw new WasiError(Errno.NOTSOCK);
    }),
    sock_shutdown: guard((fd: number) => {
      fds.get(fd);
      throw new WasiError(Errno.NOTSOCK);
    }),
  };
  for (const name of PREVIEW1_FUNCTIONS) {
    imports[name] ??= guard(() => {
      throw new WasiError(Errno.NOSYS);
    });
  }
  return imports;
}

/** Every function of wasi_snapshot_preview1. */
export const PREVIEW1_FUNCTIONS = [
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_res_get',
  'clock_time_get',
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'fd_pwrite',
  'fd_read',
  'fd_readdir',
  'fd_renumber',
  'fd_seek',
  'fd_sync',
  'fd_tell',
  'fd_write',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_open',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'poll_oneoff',
  'proc_exit',
  'proc_raise',
  'sched_yield',
  'random_get',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
] as const;
