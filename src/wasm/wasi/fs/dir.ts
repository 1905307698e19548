// An open host directory: a pre-open or one the guest opened with path_open.
// Every path operation goes through resolve() with this directory as the
// sandbox root, then makes exactly one fs call on the resolved name.
import * as fs from 'node:fs';
import { Errno, WasiError } from '../abi/errno.js';
import { Fdflags, Filetype, Handle, type DirEntry, type Filestat, type TimeChange } from '../handle.js';
import { at, resolve, type Resolved } from '../resolve.js';
import { ALL_RIGHTS, FILE_RIGHTS, Rights } from '../rights.js';
import { FileHandle } from './file.js';
import { filetypeOf, setTimes, toFilestat } from './stat.js';

/** witx `oflags`. */
export const enum Oflags {
  CREAT = 1,
  DIRECTORY = 2,
  EXCL = 4,
  TRUNC = 8,
}

/** witx `lookupflags`. */
export const LOOKUP_SYMLINK_FOLLOW = 1;

const C = fs.constants;
const O_DIR = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

/**
 * A pre-opened directory's rights: what wasmtime reports (a fixed set "expected by many userlands"),
 * plus PATH_FILESTAT_SET_SIZE, which ww enforces for path_open with O_TRUNC (witx).
 */
const PREOPEN_RIGHTS_BASE =
  Rights.PATH_CREATE_DIRECTORY |
  Rights.PATH_CREATE_FILE |
  Rights.PATH_LINK_SOURCE |
  Rights.PATH_LINK_TARGET |
  Rights.PATH_OPEN |
  Rights.FD_READDIR |
  Rights.PATH_READLINK |
  Rights.PATH_RENAME_SOURCE |
  Rights.PATH_RENAME_TARGET |
  Rights.PATH_SYMLINK |
  Rights.PATH_REMOVE_DIRECTORY |
  Rights.PATH_UNLINK_FILE |
  Rights.PATH_FILESTAT_GET |
  Rights.PATH_FILESTAT_SET_TIMES |
  Rights.FD_FILESTAT_GET |
  Rights.FD_FILESTAT_SET_TIMES |
  Rights.PATH_FILESTAT_SET_SIZE;
const PREOPEN_RIGHTS_INHERITING = PREOPEN_RIGHTS_BASE | FILE_RIGHTS;

function errno(e: Errno, why?: string): never {
  throw new WasiError(e, why);
}

/** Runs `body` on a resolved path and releases the walk's fds afterwards. */
function within<T>(dirFd: number, path: string, follow: boolean, body: (r: Resolved) => T): T {
  const r = resolve(dirFd, path, follow);
  try {
    return body(r);
  } finally {
    r.release();
  }
}

export interface OpenRequest {
  lookupFlags: number;
  path: string;
  oflags: number;
  read: boolean;
  write: boolean;
  /** The guest asked for FD_WRITE, whether or not the directory passes it on (`write`). */
  askedToWrite: boolean;
  fdflags: number;
}

export class DirHandle extends Handle {
  readonly filetype = Filetype.DIRECTORY;
  /** fd_readdir's snapshot of the listing, taken when a guest starts at cookie 0. */
  private listing: DirEntry[] | undefined;

  constructor(
    /** Host fd of the directory (O_RDONLY|O_DIRECTORY). */
    readonly fd: number,
    /** For a pre-open: the name the guest sees (fd_prestat_dir_name). */
    readonly preopenName?: string,
    readOnly = false,
  ) {
    super(readOnly);
  }

  /** Opens a host directory as a pre-open; a read-only one holds no right that changes anything (Handle.readOnly). */
  static preopen(hostPath: string, guestPath: string, readOnly = false, identity?: { dev: bigint; ino: bigint }): DirHandle {
    let fd: number;
    try {
      fd = fs.openSync(hostPath, C.O_RDONLY | C.O_DIRECTORY);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'it does not exist' : e.code === 'ENOTDIR' ? 'it is not a directory' : e.message;
      throw new Error(`cannot pre-open ${hostPath} as ${guestPath}: ${why}`);
    }
    if (identity) {
      const st = fs.fstatSync(fd, { bigint: true });
      if (st.dev !== identity.dev || st.ino !== identity.ino) {
        fs.closeSync(fd);
        throw new Error(`cannot pre-open ${hostPath} as ${guestPath}: it was replaced by another directory after it was checked`);
      }
    }
    return new DirHandle(fd, guestPath, readOnly);
  }

  protected override supportedRights(): [number, number] {
    if (this.preopenName !== undefined) return [PREOPEN_RIGHTS_BASE, PREOPEN_RIGHTS_INHERITING];
    // wasmtime: all rights except seeking/resizing, and no FD_WRITE (directories are not opened for writing).
    // Any right may pass on to what is opened from it.
    return [ALL_RIGHTS & ~(Rights.FD_SEEK | Rights.FD_FILESTAT_SET_SIZE | Rights.FD_WRITE), ALL_RIGHTS];
  }

  override filestat(): Filestat {
    return toFilestat(fs.fstatSync(this.fd, { bigint: true }));
  }

  setTimes(atim: TimeChange, mtim: TimeChange): void {
    this.refuseIfReadOnly('fd_filestat_set_times');
    setTimes({ fd: this.fd }, atim, mtim);
  }

  override close(): void {
    fs.closeSync(this.fd);
  }

  /** fd_readdir entries from `cookie` on: `.`, `..`, then the directory's entries (cookie = index + 1). */
  readdir(cookie: bigint): DirEntry[] {
    if (cookie === 0n || this.listing === undefined) this.listing = this.list();
    if (cookie >= BigInt(this.listing.length)) return [];
    return this.listing.slice(Number(cookie));
  }

  private list(): DirEntry[] {
    const self = fs.fstatSync(this.fd, { bigint: true });
    // '..' reports this directory's own inode, as wasmtime does: looking above a pre-open would leak host metadata.
    const entries: DirEntry[] = [
      { name: Buffer.from('.'), ino: self.ino, filetype: Filetype.DIRECTORY },
      { name: Buffer.from('..'), ino: self.ino, filetype: Filetype.DIRECTORY },
    ];
    const prefix = Buffer.from(`${at(this.fd, '')}`);
    for (const d of fs.readdirSync(at(this.fd, ''), { withFileTypes: true, encoding: 'buffer' })) {
      const name = d.name as unknown as Buffer;
      let ino = 0n;
      try {
        ino = fs.lstatSync(Buffer.concat([prefix, name]), { bigint: true }).ino;
      } catch {
        // Removed since readdir listed it: keep the entry with inode 0 rather than fail the listing.
      }
      entries.push({ name, ino, filetype: filetypeOf(d) });
    }
    return entries;
  }

  /** path_open. */
  open(req: OpenRequest): Handle {
    const { oflags } = req;
    if (oflags & ~0xf) errno(Errno.INVAL, 'unknown oflags bits');
    const creat = (oflags & Oflags.CREAT) !== 0;
    const excl = (oflags & Oflags.EXCL) !== 0;
    const wantDir = (oflags & Oflags.DIRECTORY) !== 0;
    // As wasmtime, a read-only directory refuses an open that would write, create or truncate, rather
    // than narrow it to a read-only fd: the guest learns at open, not at its first write. O_EXCL and
    // APPEND only make sense for that too.
    if (this.readOnly && (req.write || req.askedToWrite || creat || excl || oflags & Oflags.TRUNC || req.fdflags & Fdflags.APPEND)) {
      errno(Errno.PERM, 'a read-only directory opens nothing for writing, creating or truncating');
    }
    // O_CREAT|O_EXCL never follows a final symlink (POSIX); otherwise the lookup flag decides.
    const follow = (req.lookupFlags & LOOKUP_SYMLINK_FOLLOW) !== 0 && !(creat && excl);
    return within(this.fd, req.path, follow, (r) => {
      if (wantDir || r.mustBeDir) {
        if (creat || excl || (oflags & Oflags.TRUNC) !== 0) errno(Errno.INVAL, 'O_DIRECTORY with O_CREAT, O_EXCL or O_TRUNC');
        // As POSIX and the WASI testsuite (path_open_preopen): a directory cannot be opened for writing.
        if (req.write) errno(Errno.ISDIR, 'cannot open a directory for writing');
        return new DirHandle(fs.openSync(r.hostPath, O_DIR), undefined, this.readOnly);
      }
      const { read, write } = req;
      // Neither right (e.g. opened only to stat it): the host fd is read-only, but fd_read is refused.
      let flags = read && write ? C.O_RDWR : write ? C.O_WRONLY : C.O_RDONLY;
      // Symlinks were resolved by the walk: never let the OS follow one at the last step.
      flags |= C.O_NOFOLLOW;
      if (req.fdflags & Fdflags.DSYNC) flags |= C.O_DSYNC;
      if (req.fdflags & Fdflags.SYNC) flags |= C.O_SYNC;
      if (req.fdflags & Fdflags.RSYNC) flags |= C.O_SYNC;
      if (req.fdflags & Fdflags.NONBLOCK) flags |= C.O_NONBLOCK;
      // What FileHandle reopens with when APPEND changes: no creation, truncation or append.
      const reopenFlags = flags & ~C.O_NOFOLLOW;
      if (req.fdflags & Fdflags.APPEND) flags |= C.O_APPEND;
      if (creat) flags |= C.O_CREAT;
      if (excl) flags |= C.O_EXCL;
      if (oflags & Oflags.TRUNC) flags |= C.O_TRUNC;
      if (r.name === '.' && (creat || write)) errno(creat && excl ? Errno.EXIST : Errno.ISDIR);
      const fd = fs.openSync(r.hostPath, flags, 0o666);
      let st: fs.BigIntStats;
      try {
        st = fs.fstatSync(fd, { bigint: true });
      } catch (err) {
        fs.closeSync(fd);
        throw err;
      }
      if (st.isDirectory()) return new DirHandle(fd, undefined, this.readOnly);
      return new FileHandle(fd, filetypeOf(st), read, write, req.fdflags, reopenFlags, this.readOnly);
    });
  }

  createDirectory(path: string): void {
    this.refuseIfReadOnly('path_create_directory');
    within(this.fd, path, false, (r) => {
      if (r.name === '.') errno(Errno.EXIST);
      fs.mkdirSync(r.hostPath, 0o777);
    });
  }

  removeDirectory(path: string): void {
    this.refuseIfReadOnly('path_remove_directory');
    within(this.fd, path, false, (r) => {
      // rmdir of '.' or a path ending in '..' is EINVAL in POSIX; wasmtime/cap-std agree.
      if (r.name === '.') errno(Errno.INVAL);
      fs.rmdirSync(r.hostPath);
    });
  }

  unlinkFile(path: string): void {
    this.refuseIfReadOnly('path_unlink_file');
    within(this.fd, path, false, (r) => {
      if (r.name === '.') errno(Errno.ISDIR);
      // "file/" was refused by resolve (ENOTDIR); "dir/" reaches unlink, which reports EISDIR.
      try {
        fs.unlinkSync(r.hostPath);
      } catch (err) {
        // Linux reports EISDIR for unlink(dir); POSIX allows EPERM; wasmtime normalises to EISDIR.
        if ((err as NodeJS.ErrnoException).code === 'EPERM' && fs.lstatSync(r.hostPath).isDirectory()) errno(Errno.ISDIR);
        throw err;
      }
    });
  }

  /** path_symlink: the link text is stored as given; following it later is what the sandbox checks. */
  symlink(target: string, linkPath: string): void {
    this.refuseIfReadOnly('path_symlink');
    if (target.includes('\0')) errno(Errno.INVAL);
    // As wasmtime (test preview1_symlink_create): a link to an absolute path is refused at creation.
    if (target.startsWith('/')) errno(Errno.PERM, 'symlink to an absolute path');
    within(this.fd, linkPath, false, (r) => {
      if (r.name === '.') errno(Errno.EXIST);
      if (r.mustBeDir) {
        // "link/" names the (non-existent) directory the link would be; as Linux: ENOENT, or EEXIST if it exists.
        if (fs.existsSync(r.hostPath)) errno(Errno.EXIST);
        errno(Errno.NOENT);
      }
      fs.symlinkSync(target, r.hostPath);
    });
  }

  /** path_readlink: the link text, in full (the ABI layer truncates to the guest's buffer). */
  readlink(path: string): Uint8Array {
    return within(this.fd, path, false, (r) => {
      if (r.name === '.') errno(Errno.INVAL);
      return fs.readlinkSync(r.hostPath, { encoding: 'buffer' });
    });
  }

  statAt(lookupFlags: number, path: string): Filestat {
    return within(this.fd, path, (lookupFlags & LOOKUP_SYMLINK_FOLLOW) !== 0, (r) =>
      toFilestat(fs.lstatSync(r.hostPath, { bigint: true })),
    );
  }

  setTimesAt(lookupFlags: number, path: string, atim: TimeChange, mtim: TimeChange): void {
    this.refuseIfReadOnly('path_filestat_set_times');
    within(this.fd, path, (lookupFlags & LOOKUP_SYMLINK_FOLLOW) !== 0, (r) => {
      // The walk already followed what it was asked to; never follow again at the OS level.
      setTimes({ path: r.hostPath, noFollow: true }, atim, mtim);
    });
  }

  /**
   * path_link: both ends are resolved in their own sandboxes; the source is never followed
   * (as wasmtime, SYMLINK_FOLLOW is EINVAL), so a link to a symlink links the symlink itself.
   */
  link(oldLookupFlags: number, oldPath: string, newDir: DirHandle, newPath: string): void {
    // A link out of a read-only tree would make its file writable through the other directory.
    this.refuseIfReadOnly('path_link (source directory)');
    newDir.refuseIfReadOnly('path_link (target directory)');
    if (oldLookupFlags & LOOKUP_SYMLINK_FOLLOW) errno(Errno.INVAL, 'path_link does not follow symlinks');
    within(this.fd, oldPath, false, (from) => {
      within(newDir.fd, newPath, false, (to) => {
        if (from.name === '.') errno(Errno.PERM, 'cannot hard-link a directory');
        if (to.name === '.') errno(Errno.EXIST);
        if (from.mustBeDir) errno(Errno.PERM, 'cannot hard-link a directory');
        if (to.mustBeDir) errno(fs.existsSync(to.hostPath) ? Errno.EXIST : Errno.NOENT);
        fs.linkSync(from.hostPath, to.hostPath);
      });
    });
  }

  /** path_rename: both ends are resolved in their own sandboxes. */
  rename(oldPath: string, newDir: DirHandle, newPath: string): void {
    this.refuseIfReadOnly('path_rename (source directory)');
    newDir.refuseIfReadOnly('path_rename (target directory)');
    within(this.fd, oldPath, false, (from) => {
      within(newDir.fd, newPath, false, (to) => {
        if (from.name === '.' || to.name === '.') errno(Errno.BUSY, 'cannot rename a directory onto itself or its parent');
        if (from.mustBeDir || to.mustBeDir) {
          const st = fs.lstatSync(from.hostPath);
          if (!st.isDirectory()) errno(Errno.NOTDIR);
        }
        fs.renameSync(from.hostPath, to.hostPath);
      });
    });
  }
}
