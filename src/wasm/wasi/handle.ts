// What an fd in the table refers to. Each kind (stdio stream, file, directory,
// later a socket) extends Handle and overrides what it supports; the defaults
// give the errno wasmtime gives for an operation the kind does not support.
import { Errno, WasiError } from './abi/errno.js';

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

function badf(): never {
  throw new WasiError(Errno.BADF);
}

export abstract class Handle {
  abstract readonly filetype: Filetype;
  /** fdflags as the guest last set or opened them. */
  fdflags = 0;

  /** Rights as fd_fdstat_get reports them: [base, inheriting]. */
  abstract rights(): [bigint, bigint];

  read(_bufs: Uint8Array[]): number {
    return badf();
  }
  write(_bufs: Uint8Array[]): number {
    return badf();
  }
  pread(_bufs: Uint8Array[], _offset: bigint): number {
    return badf();
  }
  pwrite(_bufs: Uint8Array[], _offset: bigint): number {
    return badf();
  }
  seek(_offset: bigint, _whence: Whence): bigint {
    return badf();
  }
  tell(): bigint {
    return badf();
  }
  filestat(): Filestat {
    return badf();
  }
  setSize(_size: bigint): void {
    badf();
  }
  setTimes(_atim: TimeChange, _mtim: TimeChange): void {
    badf();
  }
  sync(): void {
    badf();
  }
  datasync(): void {
    badf();
  }
  advise(_offset: bigint, _len: bigint, _advice: number): void {
    badf();
  }
  allocate(_offset: bigint, _len: bigint): void {
    badf();
  }
  setFdflags(_flags: number): void {
    badf();
  }
  /** Bytes available to read without blocking, for poll_oneoff (undefined: ready, count unknown). */
  readReady(): bigint | undefined {
    return 0n;
  }
  /** Whether a write would not block, for poll_oneoff. */
  writeReady(): boolean {
    return true;
  }
  /** Releases host resources; called once when the fd is closed or the host closes. */
  close(): void {}
}
