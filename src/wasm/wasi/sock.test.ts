// The socket seam: a SocketBackend placed in the fd table is reachable through
// sock_accept/recv/send/shutdown, fd_read/fd_write and poll_oneoff. Networking
// itself comes with issue 5; this pins the interface it will plug into.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImports } from './abi/preview1.js';
import { Errno, WasiError } from './abi/errno.js';
import { WasiCtx } from './ctx.js';
import type { ReadReadiness } from './handle.js';
import { SocketHandle, type SocketBackend } from './sock.js';

/** An in-memory connection: recv drains `incoming`, send appends to `sent`. */
class MemoryConnection implements SocketBackend {
  sent: Buffer[] = [];
  shutdownHow = 0;
  closed = false;
  constructor(private incoming: Buffer) {}
  accept(): SocketBackend {
    throw new WasiError(Errno.INVAL);
  }
  recv(bufs: Uint8Array[], riflags: number): { n: number; roflags: number } {
    const target = bufs[0]!;
    const n = Math.min(target.length, this.incoming.length);
    target.set(this.incoming.subarray(0, n));
    if ((riflags & 1) === 0) this.incoming = this.incoming.subarray(n); // RECV_PEEK leaves the data
    return { n, roflags: 0 };
  }
  send(bufs: Uint8Array[]): number {
    let n = 0;
    for (const b of bufs) {
      this.sent.push(Buffer.from(b));
      n += b.length;
    }
    return n;
  }
  shutdown(how: number): void {
    this.shutdownHow = how;
  }
  pollRead(): ReadReadiness {
    return { ready: this.incoming.length > 0, nbytes: BigInt(this.incoming.length), hangup: false };
  }
  pollWrite(): boolean {
    return true;
  }
  close(): void {
    this.closed = true;
  }
}

class MemoryListener implements SocketBackend {
  accepted: MemoryConnection[] = [];
  constructor(private pending: MemoryConnection[]) {}
  accept(nonblocking: boolean): SocketBackend {
    const next = this.pending.shift();
    if (!next) throw new WasiError(nonblocking ? Errno.AGAIN : Errno.INVAL);
    this.accepted.push(next);
    return next;
  }
  recv(): { n: number; roflags: number } {
    throw new WasiError(Errno.NOTCONN);
  }
  send(): number {
    throw new WasiError(Errno.NOTCONN);
  }
  shutdown(): void {}
  pollRead(): ReadReadiness {
    return { ready: this.pending.length > 0, nbytes: BigInt(this.pending.length), hangup: false };
  }
  pollWrite(): boolean {
    return false;
  }
  close(): void {}
}

function setup() {
  const ctx = new WasiCtx({ args: [], env: [], preopens: [], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
  const memory = { buffer: new ArrayBuffer(65536) };
  ctx.memory.setMemory(memory);
  const wasi = createImports(ctx) as Record<string, (...a: (number | bigint)[]) => number>;
  const conn = new MemoryConnection(Buffer.from('ping'));
  const listener = new MemoryListener([conn]);
  const listenFd = ctx.fds.insert(new SocketHandle(listener, true));
  const view = () => new DataView(memory.buffer);
  const bytes = () => new Uint8Array(memory.buffer);
  return { ctx, wasi, conn, listener, listenFd, view, bytes };
}

test('sock_accept on a listening socket puts the connection at a new fd; recv, send, shutdown reach the backend', () => {
  const { ctx, wasi, conn, listenFd, view, bytes } = setup();
  assert.equal(listenFd, 3);
  assert.equal(wasi.sock_accept!(listenFd, 0, 100), 0);
  const fd = view().getUint32(100, true);
  assert.equal(fd, 4);
  // iovec at 200 -> 16 bytes at 300
  view().setUint32(200, 300, true);
  view().setUint32(204, 16, true);
  assert.equal(wasi.sock_recv!(fd, 200, 1, 1 /* RECV_PEEK */, 104, 108), 0);
  assert.equal(view().getUint32(104, true), 4);
  assert.equal(wasi.sock_recv!(fd, 200, 1, 0, 104, 108), 0);
  assert.equal(Buffer.from(bytes().subarray(300, 304)).toString(), 'ping');
  bytes().set(Buffer.from('pong'), 300);
  view().setUint32(204, 4, true);
  assert.equal(wasi.sock_send!(fd, 200, 1, 0, 112), 0);
  assert.equal(view().getUint32(112, true), 4);
  assert.equal(wasi.fd_write!(fd, 200, 1, 112), 0);
  assert.deepEqual(conn.sent.map(String), ['pong', 'pong']);
  assert.equal(wasi.sock_shutdown!(fd, 2), 0);
  assert.equal(conn.shutdownHow, 2);
  assert.equal(wasi.sock_shutdown!(fd, 0), Errno.INVAL);
  // The listener is not a connection; a second accept with nothing pending and nonblock is EAGAIN.
  assert.equal(wasi.sock_recv!(listenFd, 200, 1, 0, 104, 108), Errno.NOTCONN);
  assert.equal(wasi.fd_fdstat_set_flags!(listenFd, 4), 0);
  assert.equal(wasi.sock_accept!(listenFd, 0, 100), Errno.AGAIN);
  // fdstat reports a stream socket.
  assert.equal(wasi.fd_fdstat_get!(fd, 400), 0);
  assert.equal(bytes()[400], 6);
  assert.equal(wasi.fd_close!(fd), 0);
  assert.ok(conn.closed);
  ctx.fds.closeAll();
});

test('poll_oneoff waits on a socket that is not ready until a clock fires, and reports it once data is there', () => {
  const { wasi, conn, listenFd, view } = setup();
  assert.equal(wasi.sock_accept!(listenFd, 0, 100), 0);
  const fd = view().getUint32(100, true);
  const sub = (i: number, userdata: bigint, tag: number, fdOrClock: number, timeout = 0n) => {
    const p = 1000 + i * 48;
    view().setBigUint64(p, userdata, true);
    view().setUint8(p + 8, tag);
    view().setUint32(p + 16, fdOrClock, true);
    view().setBigUint64(p + 24, timeout, true);
  };
  // Data queued: the read subscription is ready.
  sub(0, 1n, 1, fd);
  assert.equal(wasi.poll_oneoff!(1000, 2000, 1, 120), 0);
  assert.equal(view().getUint32(120, true), 1);
  assert.equal(view().getBigUint64(2000 + 16, true), 4n, 'nbytes');
  // Drain it, then poll read + a 5 ms clock: only the clock fires.
  view().setUint32(200, 300, true);
  view().setUint32(204, 16, true);
  assert.equal(wasi.sock_recv!(fd, 200, 1, 0, 104, 108), 0);
  sub(0, 1n, 1, fd);
  sub(1, 2n, 0, 1 /* monotonic */, 5_000_000n);
  assert.equal(wasi.poll_oneoff!(1000, 2000, 2, 120), 0);
  assert.equal(view().getUint32(120, true), 1);
  assert.equal(view().getBigUint64(2000, true), 2n);
  void conn;
});
