// Sockets in the fd table. Networking itself is not built yet (issue 5 will
// pre-open listening sockets with a synchronous backend); this file fixes the
// shape: a SocketBackend does the I/O, SocketHandle puts it in the fd table,
// and the sock_* imports use it. Every sock_* call on an fd that is not a
// SocketHandle is ENOTSOCK (as wasmtime), including stdio whatever it is.
import { Errno, WasiError } from './abi/errno.js';
import { Filetype, Handle, type Filestat, type ReadReadiness } from './handle.js';
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
  /** For poll_oneoff. */
  pollRead(): ReadReadiness;
  pollWrite(): boolean;
  close(): void;
}

export class SocketHandle extends Handle {
  readonly filetype = Filetype.SOCKET_STREAM;

  constructor(
    readonly backend: SocketBackend,
    /** A listening socket accepts; a connection reads and writes. */
    readonly listening: boolean,
  ) {
    super();
  }

  private get nonblocking(): boolean {
    return (this.fdflags & 4) !== 0;
  }

  override rights(): [bigint, bigint] {
    const base = this.listening
      ? Rights.SOCK_ACCEPT | Rights.POLL_FD_READWRITE | Rights.FD_FILESTAT_GET | Rights.FD_FDSTAT_SET_FLAGS
      : Rights.FD_READ |
        Rights.FD_WRITE |
        Rights.SOCK_SHUTDOWN |
        Rights.POLL_FD_READWRITE |
        Rights.FD_FILESTAT_GET |
        Rights.FD_FDSTAT_SET_FLAGS;
    return [base, this.listening ? base | Rights.FD_READ | Rights.FD_WRITE | Rights.SOCK_SHUTDOWN : 0n];
  }

  override filestat(): Filestat {
    return { dev: 0n, ino: 0n, filetype: this.filetype, nlink: 0n, size: 0n, atim: 0n, mtim: 0n, ctim: 0n };
  }

  accept(fdflags: number): SocketHandle {
    if (!this.listening) throw new WasiError(Errno.INVAL, 'sock_accept on a connected socket');
    const conn = new SocketHandle(this.backend.accept(this.nonblocking), false);
    conn.fdflags = fdflags;
    return conn;
  }

  recv(bufs: Uint8Array[], riflags: number): { n: number; roflags: number } {
    if (this.listening) throw new WasiError(Errno.NOTCONN);
    return this.backend.recv(bufs, riflags, this.nonblocking);
  }

  send(bufs: Uint8Array[]): number {
    if (this.listening) throw new WasiError(Errno.NOTCONN);
    return this.backend.send(bufs, this.nonblocking);
  }

  shutdown(how: number): void {
    if (this.listening) throw new WasiError(Errno.NOTCONN);
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
