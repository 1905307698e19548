// Sockets in the fd table. A SocketBackend does the I/O (in ww: src/wasm/sockets/guest.ts, which asks
// the main thread that owns the real sockets); SocketHandle puts one in the fd table, and the sock_*
// imports, fd_read/fd_write and poll_oneoff reach it. Every sock_* call on an fd that is not a
// SocketHandle is ENOTSOCK (as wasmtime), including stdio whatever it is.
import { Errno, WasiError } from './abi/errno.js';
import { Fdflags, Filetype, Handle, type Filestat, type ReadReadiness } from './handle.js';
import { Rights } from './rights.js';

/** witx riflags / roflags / sdflags. */
export const RIFLAGS_RECV_PEEK = 1;
export const RIFLAGS_RECV_WAITALL = 2;
export const ROFLAGS_RECV_DATA_TRUNCATED = 1;
export const SDFLAGS_RD = 1;
export const SDFLAGS_WR = 2;

/** A synchronous stream socket as the host sees it. Blocking calls block the guest's worker. */
export interface SocketBackend {
  /** Listening sockets: the next connection (blocks unless nonblocking, then EAGAIN). */
  accept(nonblocking: boolean): SocketBackend;
  /** Reads into bufs; returns bytes read (0 = peer closed) and roflags. */
  recv(bufs: Uint8Array[], riflags: number, nonblocking: boolean): { n: number; roflags: number };
  /** Writes bufs; returns bytes written. */
  send(bufs: Uint8Array[], nonblocking: boolean): number;
  /** how: SDFLAGS_RD | SDFLAGS_WR. */
  shutdown(how: number): void;
  /** For poll_oneoff: a listener is readable when a connection is pending. */
  pollRead(): ReadReadiness;
  pollWrite(): boolean;
  close(): void;
}

/**
 * Blocks until one of the given sockets may be ready or `timeoutMs` passes (undefined: no timeout).
 * poll_oneoff calls it when no subscription is ready, instead of re-checking on a timer; a spurious
 * return is fine (poll_oneoff checks again). The backends are those of one WasiOptions.sockets.
 */
export interface SocketWaiter {
  wait(read: SocketBackend[], write: SocketBackend[], timeoutMs: number | undefined): void;
}

/** Listening sockets pre-opened for a guest (fds 3, 4, ... in this order, before directories). */
export interface PreopenedSockets {
  listeners: SocketBackend[];
  waiter?: SocketWaiter;
}

/**
 * fd_prestat_get's tag for a pre-opened socket. WASI preview 1 defines only 0 (dir); both wasi-libc
 * and Go skip an fd whose tag is not 0 and go on scanning, so directories pre-opened after the
 * listener stay visible. (EBADF would end their scan, ENOTDIR makes wasi-libc exit 71.)
 */
export const PREOPENTYPE_SOCKET = 1;

export class SocketHandle extends Handle {
  readonly filetype = Filetype.SOCKET_STREAM;

  constructor(
    readonly backend: SocketBackend,
    /** A listening socket accepts; a connection reads and writes. */
    readonly listening: boolean,
    /** Pre-opened by the host (fd_prestat_get reports it, see PREOPENTYPE_SOCKET). */
    readonly preopened = false,
  ) {
    super();
  }

  private get nonblocking(): boolean {
    return (this.fdflags & Fdflags.NONBLOCK) !== 0;
  }

  protected override supportedRights(): [number, number] {
    const base = this.listening
      ? Rights.SOCK_ACCEPT | Rights.POLL_FD_READWRITE | Rights.FD_FILESTAT_GET | Rights.FD_FDSTAT_SET_FLAGS
      : Rights.FD_READ |
        Rights.FD_WRITE |
        Rights.SOCK_SHUTDOWN |
        Rights.POLL_FD_READWRITE |
        Rights.FD_FILESTAT_GET |
        Rights.FD_FDSTAT_SET_FLAGS;
    return [base, this.listening ? base | Rights.FD_READ | Rights.FD_WRITE | Rights.SOCK_SHUTDOWN : 0];
  }

  override filestat(): Filestat {
    return { dev: 0n, ino: 0n, filetype: this.filetype, nlink: 0n, size: 0n, atim: 0n, mtim: 0n, ctim: 0n };
  }

  /** The kind check of sock_*, made before rights: a listener only accepts, a connection never does. */
  mustBeListening(listening: boolean): void {
    if (listening && !this.listening) throw new WasiError(Errno.INVAL, 'sock_accept on a connected socket');
    if (!listening && this.listening) throw new WasiError(Errno.NOTCONN);
  }

  accept(fdflags: number): SocketHandle {
    this.mustBeListening(true);
    const conn = new SocketHandle(this.backend.accept(this.nonblocking), false);
    conn.fdflags = fdflags;
    // A connection holds at most what its listener passes on.
    const inheriting = this.heldRights()[1];
    conn.restrictRights(inheriting, inheriting);
    return conn;
  }

  recv(bufs: Uint8Array[], riflags: number): { n: number; roflags: number } {
    this.mustBeListening(false);
    return this.backend.recv(bufs, riflags, this.nonblocking);
  }

  send(bufs: Uint8Array[]): number {
    this.mustBeListening(false);
    return this.backend.send(bufs, this.nonblocking);
  }

  shutdown(how: number): void {
    this.mustBeListening(false);
    this.backend.shutdown(how);
  }

  override read(bufs: Uint8Array[]): number {
    return this.recv(bufs, 0).n;
  }

  override write(bufs: Uint8Array[]): number {
    return this.send(bufs);
  }

  setFdflags(flags: number): void {
    this.fdflags = flags;
  }

  override pollRead(): ReadReadiness {
    return this.backend.pollRead();
  }

  override pollWrite(): boolean {
    return this.backend.pollWrite();
  }

  override close(): void {
    this.backend.close();
  }
}
