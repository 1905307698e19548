// The socket seam: a SocketBackend placed in the fd table is reachable through
// sock_accept/recv/send/shutdown, fd_read/fd_write and poll_oneoff, with a scripted
// backend: the real one (src/wasm/sockets) plugs into this interface.
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

test('pre-opened listeners take fds 3, 4, ... non-blocking; fd_prestat_get skips them (tag 1) and directories follow', () => {
  const first = new MemoryListener([]);
  const second = new MemoryListener([]);
  const ctx = new WasiCtx({
    args: [],
    env: [],
    preopens: [{ hostPath: '/tmp', guestPath: '/tmp' }],
    sockets: { listeners: [first, second] },
    stdin: { kind: 'null' },
    stdout: { kind: 'null' },
    stderr: { kind: 'null' },
  });
  const memory = { buffer: new ArrayBuffer(65536) };
  ctx.memory.setMemory(memory);
  const wasi = createImports(ctx) as Record<string, (...a: (number | bigint)[]) => number>;
  const view = new DataView(memory.buffer);
  for (const fd of [3, 4]) {
    assert.equal(wasi.fd_fdstat_get!(fd, 400), 0);
    assert.equal(view.getUint8(400), 6, 'SOCKET_STREAM');
    assert.equal(view.getUint16(402, true), 4, 'FDFLAGS_NONBLOCK from the start (Go needs it)');
    assert.equal(wasi.fd_prestat_get!(fd, 500), 0);
    assert.equal(view.getUint8(500), 1, 'not a directory: guests skip it and scan on');
    assert.equal(wasi.fd_prestat_dir_name!(fd, 600, 10), Errno.NOTDIR);
    assert.equal(wasi.sock_accept!(fd, 0, 100), Errno.AGAIN);
  }
  assert.equal(wasi.fd_prestat_get!(5, 500), 0);
  assert.equal(view.getUint8(500), 0, 'the directory comes after the sockets');
  assert.equal(view.getUint32(504, true), 4);
  assert.equal(wasi.fd_prestat_get!(6, 500), Errno.BADF);
  ctx.fds.closeAll();
});

test('poll_oneoff hands the wait to the socket waiter with the sockets and the time left, and polls again after it', () => {
  const listener = new MemoryListener([]);
  const waits: { read: SocketBackend[]; write: SocketBackend[]; timeoutMs: number | undefined }[] = [];
  const waiter = {
    wait(read: SocketBackend[], write: SocketBackend[], timeoutMs: number | undefined) {
      waits.push({ read, write, timeoutMs });
      if (waits.length === 2) (listener as unknown as { pending: MemoryConnection[] }).pending.push(new MemoryConnection(Buffer.from('x')));
    },
  };
  const ctx = new WasiCtx({ args: [], env: [], preopens: [], sockets: { listeners: [listener], waiter }, stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
  const memory = { buffer: new ArrayBuffer(65536) };
  ctx.memory.setMemory(memory);
  const wasi = createImports(ctx) as Record<string, (...a: (number | bigint)[]) => number>;
  const view = new DataView(memory.buffer);
  // fd_read on fd 3 + a 10 s clock: the waiter is asked twice (the first return is spurious), then fd 3 is readable.
  view.setBigUint64(1000, 7n, true);
  view.setUint8(1008, 1);
  view.setUint32(1016, 3, true);
  view.setBigUint64(1048, 8n, true);
  view.setUint8(1056, 0);
  view.setUint32(1064, 1, true);
  view.setBigUint64(1072, 10_000_000_000n, true);
  assert.equal(wasi.poll_oneoff!(1000, 2000, 2, 120), 0);
  assert.equal(view.getUint32(120, true), 1);
  assert.equal(view.getBigUint64(2000, true), 7n);
  assert.equal(waits.length, 2);
  assert.deepEqual(waits[0]!.read, [listener]);
  assert.deepEqual(waits[0]!.write, []);
  assert.ok(waits[0]!.timeoutMs! > 1000 && waits[0]!.timeoutMs! <= 10_000, `time left, got ${waits[0]!.timeoutMs}`);
  ctx.fds.closeAll();
});
