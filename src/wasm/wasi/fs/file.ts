// An open host file (anything path_open opened that is not a directory).
// The position is kept here (Node has no lseek); reads and writes are
// positional (pread/pwrite), as wasmtime's preview1 does.
import * as fs from 'node:fs';
import { Errno, WasiError } from '../abi/errno.js';
import { ADVICE_MAX, Fdflags, Filetype, Handle, Whence, type Filestat, type ReadReadiness, type TimeChange } from '../handle.js';
import { FILE_RIGHTS, Rights, WRITE_RIGHTS } from '../rights.js';
import { setTimes, toFilestat } from './stat.js';

const MAX_FILESIZE = (1n << 63n) - 1n;

export class FileHandle extends Handle {
  private position = 0n;

  constructor(
    /** Host fd; replaced when APPEND is switched (see setFdflags). */
    public fd: number,
    readonly filetype: Filetype,
    private readonly readable: boolean,
    private readonly writable: boolean,
    fdflags: number,
    /** open(2) flags to reopen the same file with: access mode, sync and nonblock bits, no O_APPEND. */
    private readonly reopenFlags: number,
    readOnly = false,
  ) {
    super(readOnly);
    this.fdflags = fdflags;
  }

  protected override supportedRights(): [number, number] {
    // The fd_* rights a file can use, minus reading or writing when the host fd is not open for it.
    // wasmtime reports every right here; the WASI testsuite (path_filestat) requires no path_* rights on files.
    let base = FILE_RIGHTS;
    if (!this.readable) base &= ~Rights.FD_READ;
    if (!this.writable) base &= ~WRITE_RIGHTS;
    return [base, base];
  }

  private get append(): boolean {
    return (this.fdflags & Fdflags.APPEND) !== 0;
  }

  // Reads and writes are authorized by the caller (FD_READ / FD_WRITE, rights.ts); the host fd's
  // access mode agrees with them (supportedRights).
  override read(bufs: Uint8Array[]): number {
    const n = this.readAt(bufs, this.position);
    this.position += BigInt(n);
    return n;
  }

  pread(bufs: Uint8Array[], offset: bigint): number {
    this.mustSeek();
    return this.readAt(bufs, offset);
  }

  /** Regular files and block devices have offsets; FIFOs and character devices are streams. */
  private get positional(): boolean {
    return this.filetype === Filetype.REGULAR_FILE || this.filetype === Filetype.BLOCK_DEVICE;
  }

  private mustSeek(): void {
    if (!this.positional) throw new WasiError(Errno.SPIPE);
  }

  private readAt(bufs: Uint8Array[], offset: bigint): number {
    let total = 0;
    for (const b of bufs) {
      if (b.length === 0) continue;
      // As Linux: a range past the largest file offset is EINVAL (Node would throw a RangeError).
      if (this.positional && offset + BigInt(total + b.length) > MAX_FILESIZE) {
        if (total > 0) break;
        throw new WasiError(Errno.INVAL, 'read past the largest file offset');
      }
      const n = fs.readSync(this.fd, b, 0, b.length, this.positional ? offset + BigInt(total) : null);
      total += n;
      if (n < b.length) break;
    }
    return total;
  }

  override write(bufs: Uint8Array[]): number {
    this.refuseIfReadOnly('fd_write');
    if (this.append && this.positional) {
      const n = this.appendAll(bufs);
      this.position = fs.fstatSync(this.fd, { bigint: true }).size;
      return n;
    }
    const n = this.writeAt(bufs, this.position);
    this.position += BigInt(n);
    return n;
  }

  pwrite(bufs: Uint8Array[], offset: bigint): number {
    this.refuseIfReadOnly('fd_pwrite');
    this.mustSeek();
    // Linux pwrite ignores the offset on an O_APPEND fd; wasmtime keeps that behaviour.
    if (this.append) return this.appendAll(bufs);
    return this.writeAt(bufs, offset);
  }

  private appendAll(bufs: Uint8Array[]): number {
    let total = 0;
    for (const b of bufs) {
      if (b.length === 0) continue;
      // The host fd has O_APPEND whenever APPEND is set, so the kernel appends atomically.
      total += fs.writeSync(this.fd, b, 0, b.length, null);
    }
    return total;
  }

  private writeAt(bufs: Uint8Array[], offset: bigint): number {
    let total = 0;
    for (const b of bufs) {
      if (b.length === 0) continue;
      // Node takes write positions as doubles; past 2^53 they would silently round.
      if (this.positional && offset + BigInt(total + b.length) > BigInt(Number.MAX_SAFE_INTEGER)) {
        if (total > 0) break; // a short write, as a file size limit gives
        throw new WasiError(Errno.FBIG);
      }
      const n = fs.writeSync(this.fd, b, 0, b.length, this.positional ? Number(offset + BigInt(total)) : null);
      total += n;
      if (n < b.length) break;
    }
    return total;
  }

  seek(offset: bigint, whence: number): bigint {
    this.mustSeek();
    let next: bigint;
    switch (whence) {
      case Whence.SET:
        next = offset;
        break;
      case Whence.CUR:
        next = this.position + offset;
        break;
      case Whence.END:
        next = fs.fstatSync(this.fd, { bigint: true }).size + offset;
        break;
      default:
        throw new WasiError(Errno.INVAL, `unknown whence ${whence}`);
    }
    if (next < 0n || next > MAX_FILESIZE) throw new WasiError(Errno.INVAL, 'seek outside the file offset range');
    this.position = next;
    return next;
  }

  tell(): bigint {
    this.mustSeek();
    return this.position;
  }

  override filestat(): Filestat {
    return toFilestat(fs.fstatSync(this.fd, { bigint: true }));
  }

  setSize(size: bigint): void {
    this.refuseIfReadOnly('fd_filestat_set_size');
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new WasiError(Errno.FBIG);
    fs.ftruncateSync(this.fd, Number(size));
  }

  setTimes(atim: TimeChange, mtim: TimeChange): void {
    this.refuseIfReadOnly('fd_filestat_set_times');
    setTimes({ fd: this.fd }, atim, mtim);
  }

  sync(): void {
    fs.fsyncSync(this.fd);
  }

  datasync(): void {
    fs.fdatasyncSync(this.fd);
  }

  advise(_offset: bigint, _len: bigint, advice: number): void {
    // Advice is only a hint; Node cannot pass it to posix_fadvise, so a valid one is accepted and ignored.
    if (advice < 0 || advice > ADVICE_MAX) throw new WasiError(Errno.INVAL, `unknown advice ${advice}`);
  }

  setFdflags(flags: number): void {
    // As wasmtime: only APPEND and NONBLOCK can change; the sync flags cannot be set after open.
    if (flags & (Fdflags.DSYNC | Fdflags.RSYNC | Fdflags.SYNC)) throw new WasiError(Errno.INVAL);
    if (flags & ~0x1f) throw new WasiError(Errno.INVAL);
    const append = (flags & Fdflags.APPEND) !== 0;
    // Append is a way of writing: a read-only file refuses it as it refuses fd_write (EBADF), and never
    // reopens its host fd. wasmtime accepts the flag and refuses the writes.
    if (append) this.refuseIfReadOnly('fd_write');
    if (append !== this.append && this.positional) {
      // Node cannot fcntl(F_SETFL): reopen the same file (through its open fd) with or without O_APPEND.
      // Keeping O_APPEND in the kernel keeps appends atomic; dropping it lets pwrite write in place again.
      const fd = fs.openSync(`/proc/self/fd/${this.fd}`, this.reopenFlags | (append ? fs.constants.O_APPEND : 0));
      fs.closeSync(this.fd);
      this.fd = fd;
    }
    this.fdflags = (this.fdflags & (Fdflags.DSYNC | Fdflags.RSYNC | Fdflags.SYNC)) | flags;
  }

  override pollRead(): ReadReadiness {
    if (!this.positional) return { ready: true, nbytes: 1n, hangup: false };
    // A regular file is always ready; at its end a read returns 0, reported as hangup (as wasmtime).
    const size = fs.fstatSync(this.fd, { bigint: true }).size;
    const left = size > this.position ? size - this.position : 0n;
    return { ready: true, nbytes: left, hangup: left === 0n };
  }

  override close(): void {
    fs.closeSync(this.fd);
  }
}
