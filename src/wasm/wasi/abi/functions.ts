// The 46 functions of wasi_snapshot_preview1 with their core WebAssembly
// signatures (from the witx): the one list the loader (which imports a module
// may have), the host (which imports it implements) and the tests (which
// guests they generate) all read.

export const WASI_MODULE = 'wasi_snapshot_preview1';

export type ValType = 'i32' | 'i64';

export interface Signature {
  readonly params: readonly ValType[];
  /** Every function returns its errno as an i32, except proc_exit, which does not return. */
  readonly results: readonly ValType[];
}

const errno = (...params: ValType[]): Signature => ({ params, results: ['i32'] });

export const PREVIEW1 = {
  args_get: errno('i32', 'i32'),
  args_sizes_get: errno('i32', 'i32'),
  environ_get: errno('i32', 'i32'),
  environ_sizes_get: errno('i32', 'i32'),
  clock_res_get: errno('i32', 'i32'),
  clock_time_get: errno('i32', 'i64', 'i32'),
  fd_advise: errno('i32', 'i64', 'i64', 'i32'),
  fd_allocate: errno('i32', 'i64', 'i64'),
  fd_close: errno('i32'),
  fd_datasync: errno('i32'),
  fd_fdstat_get: errno('i32', 'i32'),
  fd_fdstat_set_flags: errno('i32', 'i32'),
  fd_fdstat_set_rights: errno('i32', 'i64', 'i64'),
  fd_filestat_get: errno('i32', 'i32'),
  fd_filestat_set_size: errno('i32', 'i64'),
  fd_filestat_set_times: errno('i32', 'i64', 'i64', 'i32'),
  fd_pread: errno('i32', 'i32', 'i32', 'i64', 'i32'),
  fd_prestat_get: errno('i32', 'i32'),
  fd_prestat_dir_name: errno('i32', 'i32', 'i32'),
  fd_pwrite: errno('i32', 'i32', 'i32', 'i64', 'i32'),
  fd_read: errno('i32', 'i32', 'i32', 'i32'),
  fd_readdir: errno('i32', 'i32', 'i32', 'i64', 'i32'),
  fd_renumber: errno('i32', 'i32'),
  fd_seek: errno('i32', 'i64', 'i32', 'i32'),
  fd_sync: errno('i32'),
  fd_tell: errno('i32', 'i32'),
  fd_write: errno('i32', 'i32', 'i32', 'i32'),
  path_create_directory: errno('i32', 'i32', 'i32'),
  path_filestat_get: errno('i32', 'i32', 'i32', 'i32', 'i32'),
  path_filestat_set_times: errno('i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32'),
  path_link: errno('i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'),
  path_open: errno('i32', 'i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32', 'i32'),
  path_readlink: errno('i32', 'i32', 'i32', 'i32', 'i32', 'i32'),
  path_remove_directory: errno('i32', 'i32', 'i32'),
  path_rename: errno('i32', 'i32', 'i32', 'i32', 'i32', 'i32'),
  path_symlink: errno('i32', 'i32', 'i32', 'i32', 'i32'),
  path_unlink_file: errno('i32', 'i32', 'i32'),
  poll_oneoff: errno('i32', 'i32', 'i32', 'i32'),
  proc_exit: { params: ['i32'], results: [] },
  proc_raise: errno('i32'),
  sched_yield: errno(),
  random_get: errno('i32', 'i32'),
  sock_accept: errno('i32', 'i32', 'i32'),
  sock_recv: errno('i32', 'i32', 'i32', 'i32', 'i32', 'i32'),
  sock_send: errno('i32', 'i32', 'i32', 'i32', 'i32'),
  sock_shutdown: errno('i32', 'i32'),
} as const satisfies Record<string, Signature>;

export type Preview1Function = keyof typeof PREVIEW1;

/** The names, in the witx's order. */
export const PREVIEW1_FUNCTIONS = Object.keys(PREVIEW1) as readonly Preview1Function[];

/** Whether `name` is a function of wasi_snapshot_preview1 (not an inherited Object property). */
export function isPreview1Function(name: string): name is Preview1Function {
  return Object.hasOwn(PREVIEW1, name);
}
