// The main-thread side of one process's sockets: its listeners and the connections its guest
// accepted (real net.Sockets), with bounded buffering both ways, and the answers to its 'sock.*'
// host calls. One process makes one host call at a time, so a blocking call simply waits for the
// next change of any socket's state and checks again.
import type { Socket } from 'node:net';
import { HostCallError, type Handlers } from '../host-call.js';
import { Errno } from '../wasi/abi/errno.js';
import type { Listener } from './listen.js';
import { FAILED, HANGUP, HIGH_WATER, IN_FLIGHT, MAX_SOCKETS, READABLE, RECV_CHUNK, SHARED_WORDS, WRITABLE, type SockCalls, type SocketsInit } from './protocol.js';

const SDFLAGS_RD = 1;
const SDFLAGS_WR = 2;
/** A connection the guest closed with unsent data is kept this long to deliver it, then reset. */
const LINGER_MS = 30_000;

function errnoOfSocketError(err: NodeJS.ErrnoException): number {
  switch (err.code) {
    case 'ECONNRESET':
      return Errno.CONNRESET;
    case 'EPIPE':
      return Errno.PIPE;
    case 'ETIMEDOUT':
      return Errno.TIMEDOUT;
    case 'ECONNABORTED':
      return Errno.CONNABORTED;
    default:
      return Errno.IO;
  }
}

class Connection {
  private chunks: Buffer[] = [];
  buffered = 0;
  eof = false;
  /** An errno from the peer or the network (reset, broken pipe), reported once reads are drained. */
  error = 0;
  readShut = false;
  writeShut = false;

  constructor(
    readonly socket: Socket,
    private readonly changed: () => void,
  ) {
    socket.on('data', (data: Buffer) => {
      if (this.readShut) return;
      this.chunks.push(data);
      this.buffered += data.length;
      if (this.buffered >= HIGH_WATER) socket.pause(); // backpressure: the guest is not reading
      changed();
    });
    socket.on('end', () => {
      this.eof = true;
      changed();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error ||= errnoOfSocketError(err);
      changed();
    });
    socket.on('close', () => {
      this.eof = true;
      changed();
    });
    socket.on('drain', changed);
    socket.resume();
  }

  /** Sending can only fail (EPIPE). */
  get failed(): boolean {
    return this.error !== 0 || this.writeShut || this.socket.destroyed;
  }

  get bits(): number {
    let bits = 0;
    if (this.buffered > 0 || this.eof || this.error || this.readShut) bits |= READABLE;
    if (this.failed) bits |= WRITABLE | FAILED;
    else if (this.socket.writableLength < HIGH_WATER) bits |= WRITABLE;
    if (this.eof || this.error) bits |= HANGUP;
    return bits;
  }

  /** Up to `max` buffered bytes, as a fresh copy; undefined when none is buffered. */
  take(max: number): Uint8Array | undefined {
    if (this.buffered === 0) return undefined;
    const n = Math.min(max, this.buffered);
    const out = new Uint8Array(n); // an exact copy: a Buffer may view a larger pool, all of which would be cloned
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      out.set(k === c.length ? c : c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    if (this.buffered < HIGH_WATER / 2 && this.socket.isPaused() && !this.socket.destroyed) this.socket.resume();
    return out;
  }

  shutdown(how: number): void {
    if (how & SDFLAGS_RD && !this.readShut) {
      this.readShut = true;
      this.chunks = [];
      this.buffered = 0;
      this.socket.resume(); // whatever still arrives is discarded
    }
    if (how & SDFLAGS_WR && !this.writeShut) {
      this.writeShut = true;
      this.socket.end();
    }
  }

  /** The guest closed it: what it wrote is still delivered (bounded by LINGER_MS), then the socket goes. */
  close(): void {
    const s = this.socket;
    if (s.destroyed) return;
    if (this.error) return void s.destroy();
    s.end();
    if (s.writableFinished) return void s.destroy();
    const linger = setTimeout(() => s.resetAndDestroy(), LINGER_MS).unref();
    s.once('finish', () => {
      clearTimeout(linger);
      s.destroy();
    });
    s.once('close', () => clearTimeout(linger));
  }

  /** The process ended: drop everything at once. */
  destroy(): void {
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

type Entry = { kind: 'listener'; listener: Listener } | { kind: 'connection'; conn: Connection };

/** The sockets of one process, on the main thread. */
export class ProcessSockets {
  private readonly ready: Int32Array;
  private readonly entries: (Entry | undefined)[] = [];
  private readonly listenerCount: number;
  private wake: (() => void) | undefined;
  private closed = false;

  /** Takes ownership of the listeners: they close when this does. */
  constructor(listeners: readonly Listener[]) {
    if (listeners.length > MAX_SOCKETS) throw new Error(`at most ${MAX_SOCKETS} listeners per process`);
    this.ready = new Int32Array(new SharedArrayBuffer(4 * SHARED_WORDS));
    this.listenerCount = listeners.length;
    listeners.forEach((listener, id) => {
      this.entries[id] = { kind: 'listener', listener };
      listener.own(() => this.update(id));
      this.update(id);
    });
  }

  /** What the worker needs (sent with the run message). */
  init(): SocketsInit {
    return { ready: this.ready.buffer as SharedArrayBuffer, listeners: this.listenerCount };
  }

  /** The answers to the 'sock.*' host calls: a value, or a Promise while it blocks; a HostCallError is an errno for the guest. */
  readonly calls: Handlers<SockCalls> = {
    accept: ([id, block]) => this.accept(id, block),
    recv: ([id, max, block]) => this.recv(id, max, block),
    send: ([id, data, block]) => this.send(id, data, block),
    sendq: ([id, data]) => this.sendQueued(id, data),
    shutdown: ([id, how]) => this.connection(id).shutdown(how),
    close: ([id]) => this.close(id),
    poll: ([readIds, writeIds, timeoutMs]) => this.poll(readIds, writeIds, timeoutMs),
  };

  /** Closes every socket of the process (it ended: any reason). Idempotent. */
  closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.entries.splice(0)) {
      if (e?.kind === 'listener') e.listener.close();
      else e?.conn.destroy();
    }
    this.ready.fill(0);
    this.notify();
  }

  /** Connections open now (for tests and monitoring). */
  get connections(): number {
    return this.entries.filter((e) => e?.kind === 'connection').length;
  }

  // ---- calls ----

  private async accept(id: number, block: boolean): Promise<number> {
    const listener = this.listener(id);
    for (;;) {
      const socket = listener.takePending();
      if (socket) {
        if (socket.destroyed) continue; // reset while it waited
        const free = this.entries.indexOf(undefined, this.listenerCount);
        const connId = free >= 0 ? free : this.entries.length;
        if (connId >= MAX_SOCKETS) {
          socket.resetAndDestroy();
          this.update(id);
          throw new HostCallError(Errno.NFILE, `the process holds ${MAX_SOCKETS} sockets already`);
        }
        this.entries[connId] = { kind: 'connection', conn: new Connection(socket, () => this.update(connId)) };
        this.update(id);
        this.update(connId);
        return connId;
      }
      this.update(id);
      if (!block) throw new HostCallError(Errno.AGAIN, 'no pending connection');
      await this.changed();
      this.listener(id); // still open?
    }
  }

  private async recv(id: number, max: number, block: boolean): Promise<Uint8Array> {
    for (;;) {
      const conn = this.connection(id);
      if (conn.readShut) return new Uint8Array(0);
      const data = conn.take(max);
      if (data) {
        this.update(id);
        return data;
      }
      // A failed write (EPIPE) means the peer is gone: reading sees the end of the stream, as POSIX.
      if (conn.error && conn.error !== Errno.PIPE) throw new HostCallError(conn.error, 'connection reset by peer');
      if (conn.eof || conn.error) return new Uint8Array(0);
      if (!block) throw new HostCallError(Errno.AGAIN, 'no data');
      await this.changed();
    }
  }

  private async send(id: number, data: Uint8Array, block: boolean): Promise<number> {
    for (;;) {
      const conn = this.connection(id);
      if (conn.writeShut) throw new HostCallError(Errno.PIPE, 'the socket was shut down for writing');
      if (conn.error || conn.socket.destroyed) throw new HostCallError(Errno.PIPE, 'the peer closed the connection');
      if (conn.socket.writableLength < HIGH_WATER) {
        conn.socket.write(data);
        this.update(id);
        return data.length;
      }
      if (!block) throw new HostCallError(Errno.AGAIN, 'send buffer full');
      await this.changed();
    }
  }

  /** A send the worker did not wait for: written whatever the buffer holds (the worker keeps the bytes
   *  in flight under HIGH_WATER); on a failed connection dropped, and the next send reports EPIPE. */
  private sendQueued(id: number, data: Uint8Array): void {
    Atomics.sub(this.ready, IN_FLIGHT + id, data.length);
    const e = this.entries[id];
    if (e?.kind !== 'connection' || e.conn.failed) return;
    e.conn.socket.write(data);
    this.update(id);
  }

  private close(id: number): void {
    const e = this.entries[id];
    if (!e) throw new HostCallError(Errno.BADF, `no socket ${id}`);
    this.entries[id] = undefined;
    Atomics.store(this.ready, id, 0);
    Atomics.store(this.ready, IN_FLIGHT + id, 0);
    if (e.kind === 'listener') e.listener.close();
    else e.conn.close();
  }

  private async poll(readIds: number[], writeIds: number[], timeoutMs: number): Promise<[number, Uint8Array][]> {
    if (!this.anyReady(readIds, writeIds)) {
      let timedOut = false;
      // (setTimeout takes at most 2^31-1 ms; a longer wait returns then and poll_oneoff waits again)
      const timer = timeoutMs >= 0 ? setTimeout(() => ((timedOut = true), this.notify()), Math.min(timeoutMs, 0x7fffffff)) : undefined;
      try {
        while (!timedOut && !this.closed && !this.anyReady(readIds, writeIds)) await this.changed();
      } finally {
        clearTimeout(timer);
      }
    }
    // The guest is about to read what woke it: hand it over now rather than in a recv call.
    const data: [number, Uint8Array][] = [];
    for (const id of readIds) {
      const e = this.entries[id];
      if (e?.kind !== 'connection' || e.conn.readShut) continue;
      const bytes = e.conn.take(RECV_CHUNK);
      if (!bytes) continue;
      data.push([id, bytes]);
      this.update(id);
    }
    return data;
  }

  // ---- state ----

  private anyReady(readIds: number[], writeIds: number[]): boolean {
    // An id that is no longer open counts as ready: the guest's next call on it reports the error.
    for (const id of readIds) if (!this.entries[id] || Atomics.load(this.ready, id) & READABLE) return true;
    for (const id of writeIds) if (!this.entries[id] || Atomics.load(this.ready, id) & WRITABLE) return true;
    return false;
  }

  private listener(id: number): Listener {
    const e = this.entries[id];
    if (e?.kind === 'listener') return e.listener;
    throw new HostCallError(e ? Errno.INVAL : Errno.BADF, `socket ${id} is not a listener`);
  }

  private connection(id: number): Connection {
    const e = this.entries[id];
    if (e?.kind === 'connection') return e.conn;
    throw new HostCallError(e ? Errno.NOTCONN : Errno.BADF, `socket ${id} is not a connection`);
  }

  /** Publishes a socket's readiness to the worker and wakes a waiting call. */
  private update(id: number): void {
    const e = this.entries[id];
    if (!e) return;
    const bits = e.kind === 'listener' ? (e.listener.pendingCount > 0 ? READABLE : 0) : e.conn.bits;
    Atomics.store(this.ready, id, bits);
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves at the next change of any socket's state. */
  private changed(): Promise<void> {
    if (this.closed) return Promise.reject(new HostCallError(Errno.BADF, 'the process sockets are closed'));
    return new Promise((resolve) => {
      const previous = this.wake;
      this.wake = () => {
        previous?.();
        resolve();
      };
    });
  }
}
