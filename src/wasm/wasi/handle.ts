// What an fd in the table refers to. Each kind (stdio stream, file, directory,
// later a socket) extends Handle and overrides what it supports; the defaults
// give the errno wasmtime gives for an operation the kind does not support.
import { Errno, WasiError } from './abi/errno.js';
import { MUTATING_RIGHTS, NEEDED, refusal, type FdOperation } from './rights.js';

/** witx `filetype`. */
export const enum Filetype {
  UNKNOWN = 0,
  BLOCK_DEVICE = 1,
  CHARACTER_DEVICE = 2,
  DIRECTORY = 3,
  REGULAR_FILE = 4,
  SOCKET_DGRAM = 5,
  SOCKET_STREAM = 6,
  SYMBOLIC_LINK = 7,
}

/** witx `fdflags`. */
export const enum Fdflags {
  APPEND = 1,
  DSYNC = 2,
  NONBLOCK = 4,
  RSYNC = 8,
  SYNC = 16,
}

/** witx `whence`. */
export const enum Whence {
  SET = 0,
  CUR = 1,
  END = 2,
}

/** witx `fstflags` (for *_set_times). */
export const enum Fstflags {
  ATIM = 1,
  ATIM_NOW = 2,
  MTIM = 4,
  MTIM_NOW = 8,
}

/** witx `advice`. */
export const ADVICE_MAX = 5;

/** witx `filestat`; times in nanoseconds since the epoch. */
export interface Filestat {
  dev: bigint;
  ino: bigint;
  filetype: Filetype;
  nlink: bigint;
  size: bigint;
  atim: bigint;
  mtim: bigint;
  ctim: bigint;
}

/** A time change requested by *_set_times: undefined = leave, 'now', or ns since the epoch. */
export type TimeChange = undefined | 'now' | bigint;

/** One directory entry as fd_readdir returns it. */
export interface DirEntry {
  name: Uint8Array;
  ino: bigint;
  filetype: Filetype;
}

/** What poll_oneoff reports for a read subscription. */
export interface ReadReadiness {
  ready: boolean;
  /** Bytes readable without blocking (a hint; 1 when unknown, as wasmtime). */
  nbytes: bigint;
  /** At end of input (eventrwflags.fd_readwrite_hangup). */
  hangup: boolean;
}

function badf(): never {
  throw new WasiError(Errno.BADF);
}

export abstract class Handle {
  abstract readonly filetype: Filetype;
  /** fdflags as the guest opened or last set them. */
  fdflags = 0;

  constructor(
    /**
     * Reached through a read-only pre-open: it never holds a right that changes the file system
     * (heldRights), and the fs layer refuses such an operation itself too (refuseIfReadOnly). Fixed
     * for the fd's life, and passed on to everything opened through it.
     */
    readonly readOnly = false,
  ) {}

  /** Rights this kind of fd can use: [base, inheriting]. An fd never holds more. */
  protected abstract supportedRights(): [number, number];

  /** The rights this fd holds, once asked for (see heldRights). */
  private held: [number, number] | undefined;

  /**
   * The rights this fd holds: what its kind can use, narrowed by how it was opened (restrictRights)
   * and by fd_fdstat_set_rights. fd_fdstat_get reports them; rights.ts authorize() enforces them.
   */
  heldRights(): readonly [base: number, inheriting: number] {
    if (this.held === undefined) {
      const [base, inheriting] = this.supportedRights();
      this.held = this.readOnly ? [base & ~MUTATING_RIGHTS, inheriting & ~MUTATING_RIGHTS] : [base, inheriting];
    }
    return this.held;
  }

  /**
   * The fs layer's own check before it changes anything, apart from the rights: a read-only fd refuses
   * `op` even if a right it needs were held by mistake, with the errno the missing right gives.
   */
  protected refuseIfReadOnly(op: FdOperation): void {
    if (this.readOnly) throw refusal(`${op} on a read-only fd`, NEEDED[op] & MUTATING_RIGHTS);
  }

  /** Keeps only the rights also in `base` / `inheriting` (never adds any). */
  restrictRights(base: number, inheriting: number): void {
    const [b, i] = this.heldRights();
    this.held = [b & base, i & inheriting];
  }

  /** fd_fdstat_set_rights: rights can only be removed (witx); asking for one not held is ENOTCAPABLE. */
  narrowRights(base: bigint, inheriting: bigint): void {
    const [b, i] = this.heldRights();
    if ((base & ~BigInt(b)) !== 0n || (inheriting & ~BigInt(i)) !== 0n) {
      throw new WasiError(Errno.NOTCAPABLE, 'fd_fdstat_set_rights can only remove rights');
    }
    this.held = [Number(base), Number(inheriting)];
  }

  /** fd_filestat_get. */
  abstract filestat(): Filestat;

  /** fd_read: fills bufs in order; returns the byte count (0 = end of input). */
  read(_bufs: Uint8Array[]): number {
    return badf();
  }
  /** fd_write: returns the byte count written. */
  write(_bufs: Uint8Array[]): number {
    return badf();
  }
  /** For poll_oneoff: whether a read would not block, with the bytes available and end-of-input. */
  pollRead(): ReadReadiness {
    return { ready: true, nbytes: 1n, hangup: false };
  }
  /** For poll_oneoff: whether a write would not block. */
  pollWrite(): boolean {
    return true;
  }
  /** Releases host resources; called once, when the fd is closed or the host closes. */
  close(): void {}
}
