// witx `rights`, and the one rule that enforces them. Every fd holds a set of
// rights (Handle.heldRights: what its kind can use, narrowed by how it was
// opened and by fd_fdstat_set_rights), and every fd operation asks for the
// rights it needs through `authorize`, which reads the table NEEDED, as
// wasmtime's wasi-common did (`get_cap`). Rights are 30 bits: plain numbers.
import { Errno, WasiError } from './abi/errno.js';

export const Rights = {
  FD_DATASYNC: 1 << 0,
  FD_READ: 1 << 1,
  FD_SEEK: 1 << 2,
  FD_FDSTAT_SET_FLAGS: 1 << 3,
  FD_SYNC: 1 << 4,
  FD_TELL: 1 << 5,
  FD_WRITE: 1 << 6,
  FD_ADVISE: 1 << 7,
  FD_ALLOCATE: 1 << 8,
  PATH_CREATE_DIRECTORY: 1 << 9,
  PATH_CREATE_FILE: 1 << 10,
  PATH_LINK_SOURCE: 1 << 11,
  PATH_LINK_TARGET: 1 << 12,
  PATH_OPEN: 1 << 13,
  FD_READDIR: 1 << 14,
  PATH_READLINK: 1 << 15,
  PATH_RENAME_SOURCE: 1 << 16,
  PATH_RENAME_TARGET: 1 << 17,
  PATH_FILESTAT_GET: 1 << 18,
  PATH_FILESTAT_SET_SIZE: 1 << 19,
  PATH_FILESTAT_SET_TIMES: 1 << 20,
  FD_FILESTAT_GET: 1 << 21,
  FD_FILESTAT_SET_SIZE: 1 << 22,
  FD_FILESTAT_SET_TIMES: 1 << 23,
  PATH_SYMLINK: 1 << 24,
  PATH_REMOVE_DIRECTORY: 1 << 25,
  PATH_UNLINK_FILE: 1 << 26,
  POLL_FD_READWRITE: 1 << 27,
  SOCK_SHUTDOWN: 1 << 28,
  SOCK_ACCEPT: 1 << 29,
} as const;

export const ALL_RIGHTS = (1 << 30) - 1;

/** Every fd_* right that applies to a regular file (no path_*, readdir or socket rights). */
export const FILE_RIGHTS =
  Rights.FD_DATASYNC |
  Rights.FD_READ |
  Rights.FD_SEEK |
  Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_SYNC |
  Rights.FD_TELL |
  Rights.FD_WRITE |
  Rights.FD_ADVISE |
  Rights.FD_ALLOCATE |
  Rights.FD_FILESTAT_GET |
  Rights.FD_FILESTAT_SET_SIZE |
  Rights.FD_FILESTAT_SET_TIMES |
  Rights.POLL_FD_READWRITE;

/** Rights a file opened without write access cannot use (the host fd refuses them). */
export const WRITE_RIGHTS = Rights.FD_WRITE | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE;

/**
 * The rights that change the file system, or let what is reached through a directory be changed
 * through another (a link or a rename out of it): the one list of them. A read-only fd holds none
 * and passes none on (Handle.heldRights), and the fs layer refuses each operation that needs one on
 * a read-only fd as well (Handle.refuseIfReadOnly). Not in it, as wasmtime's read-only DirPerms /
 * FilePerms: FD_SYNC and FD_DATASYNC (a flush changes nothing a reader sees) and FD_FDSTAT_SET_FLAGS
 * (NONBLOCK; APPEND is refused by the read-only file itself).
 */
export const MUTATING_RIGHTS =
  Rights.FD_WRITE |
  Rights.FD_ALLOCATE |
  Rights.FD_FILESTAT_SET_SIZE |
  Rights.FD_FILESTAT_SET_TIMES |
  Rights.PATH_CREATE_DIRECTORY |
  Rights.PATH_CREATE_FILE |
  Rights.PATH_LINK_SOURCE |
  Rights.PATH_LINK_TARGET |
  Rights.PATH_RENAME_SOURCE |
  Rights.PATH_RENAME_TARGET |
  Rights.PATH_SYMLINK |
  Rights.PATH_REMOVE_DIRECTORY |
  Rights.PATH_UNLINK_FILE |
  Rights.PATH_FILESTAT_SET_SIZE |
  Rights.PATH_FILESTAT_SET_TIMES;

/**
 * What path_open grants when the guest asks for no rights at all: a file open for reading, as
 * wasmtime (raw-ABI programs written for it and for wazero pass 0). The directory still bounds it.
 */
export const DEFAULT_OPEN_RIGHTS = ALL_RIGHTS & ~Rights.FD_WRITE;

/**
 * The rights each fd operation needs on the fd it acts on (witx). Operations that need none
 * (fd_close, fd_fdstat_get, fd_fdstat_set_rights, fd_prestat_*, fd_renumber) are not listed.
 */
export const NEEDED = {
  fd_advise: Rights.FD_ADVISE,
  fd_allocate: Rights.FD_ALLOCATE,
  fd_datasync: Rights.FD_DATASYNC,
  fd_fdstat_set_flags: Rights.FD_FDSTAT_SET_FLAGS,
  fd_filestat_get: Rights.FD_FILESTAT_GET,
  fd_filestat_set_size: Rights.FD_FILESTAT_SET_SIZE,
  fd_filestat_set_times: Rights.FD_FILESTAT_SET_TIMES,
  fd_pread: Rights.FD_READ | Rights.FD_SEEK,
  fd_pwrite: Rights.FD_WRITE | Rights.FD_SEEK,
  fd_read: Rights.FD_READ,
  fd_readdir: Rights.FD_READDIR,
  fd_seek: Rights.FD_SEEK,
  fd_sync: Rights.FD_SYNC,
  /** fd_tell, and fd_seek by 0 from the current position (witx: FD_TELL covers that seek). */
  fd_tell: Rights.FD_TELL,
  fd_write: Rights.FD_WRITE,
  path_create_directory: Rights.PATH_CREATE_DIRECTORY,
  path_filestat_get: Rights.PATH_FILESTAT_GET,
  path_filestat_set_times: Rights.PATH_FILESTAT_SET_TIMES,
  'path_link (source directory)': Rights.PATH_LINK_SOURCE,
  'path_link (target directory)': Rights.PATH_LINK_TARGET,
  path_open: Rights.PATH_OPEN,
  'path_open with O_CREAT': Rights.PATH_OPEN | Rights.PATH_CREATE_FILE,
  /** O_EXCL asks for an exclusive creation: the directory must allow creating, with or without O_CREAT. */
  'path_open with O_EXCL': Rights.PATH_OPEN | Rights.PATH_CREATE_FILE,
  'path_open with O_TRUNC': Rights.PATH_OPEN | Rights.PATH_FILESTAT_SET_SIZE,
  path_readlink: Rights.PATH_READLINK,
  path_remove_directory: Rights.PATH_REMOVE_DIRECTORY,
  'path_rename (source directory)': Rights.PATH_RENAME_SOURCE,
  'path_rename (target directory)': Rights.PATH_RENAME_TARGET,
  path_symlink: Rights.PATH_SYMLINK,
  path_unlink_file: Rights.PATH_UNLINK_FILE,
  'poll_oneoff on an fd': Rights.POLL_FD_READWRITE,
  sock_accept: Rights.SOCK_ACCEPT,
  sock_recv: Rights.FD_READ,
  sock_send: Rights.FD_WRITE,
  sock_shutdown: Rights.SOCK_SHUTDOWN,
} as const satisfies Record<string, number>;

export type FdOperation = keyof typeof NEEDED;

/** What authorize needs of an fd (Handle implements it). */
export interface RightsHolder {
  heldRights(): readonly [base: number, inheriting: number];
}

/**
 * Throws unless `fd` holds every right `op` needs. The errno is wasi-common's since it stopped
 * returning ENOTCAPABLE (wasi-libc no longer translates it): a missing read or write right is
 * EBADF (what POSIX gives for an fd not open for it), a missing readdir right ENOTDIR, any other
 * EPERM.
 */
export function authorize(fd: RightsHolder, op: FdOperation): void {
  const missing = NEEDED[op] & ~fd.heldRights()[0];
  if (missing !== 0) throw refusal(op, missing);
}

/** The error for `what` refused for want of the rights `missing` (authorize's errno rule, above). */
export function refusal(what: string, missing: number): WasiError {
  const errno =
    missing & (Rights.FD_READ | Rights.FD_WRITE) ? Errno.BADF : missing & Rights.FD_READDIR ? Errno.NOTDIR : Errno.PERM;
  return new WasiError(errno, `${what} needs rights this fd does not hold: ${rightNames(missing).join(', ')}`);
}

/** The names of the rights in `set`, for messages. */
export function rightNames(set: number): string[] {
  return Object.entries(Rights)
    .filter(([, bit]) => (set & bit) !== 0)
    .map(([name]) => name);
}
