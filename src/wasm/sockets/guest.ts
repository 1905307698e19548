// The worker side of a process's sockets: SocketBackends for the WASI host (src/wasm/wasi/sock.ts)
// that reach the real sockets on the main thread through synchronous host calls. Calls are kept few:
// - what would block is decided locally from the shared readiness words (protocol.ts), so a
//   non-blocking call that would block costs no host call;
// - a recv moves up to RECV_CHUNK bytes at once and serves later reads locally, and poll_oneoff's
//   wait brings along the data of the connections that woke it;
// - a send to a writable socket is a cast (posted, not waited for) while the bytes in flight stay
//   under HIGH_WATER; otherwise, or once sending can only fail, it is a call.
import type { Transferable } from 'node:worker_threads';
import { callerOf, HostCallError, type Caller, type Caster, type HostCall } from '../host-call.js';
import { Errno, WasiError } from '../wasi/abi/errno.js';
import type { ReadReadiness } from '../wasi/handle.js';
import { RIFLAGS_RECV_PEEK, type PreopenedSockets, type SocketBackend, type SocketWaiter } from '../wasi/sock.js';
import { FAILED, HANGUP, HIGH_WATER, IN_FLIGHT, NAMESPACE, READABLE, RECV_CHUNK, SEND_CHUNK, WRITABLE, type SockCalls, type SocketsInit } from './protocol.js';
import { recorded } from '../blocked.js';

/** Posts a host call without waiting for an answer (FromWorker 'cast'). */
export type HostCast = (op: string, args: unknown, transfer?: Transferable[]) => void;

const NOT_READY: ReadReadiness = { ready: false, nbytes: 0n, hangup: false };

/** The sockets of the process running in this worker. */
export class GuestSockets implements SocketWaiter {
  private readonly ready: Int32Array;
  /** Set when the process is ending: the main thread closes everything, so closing needs no calls. */
  private detached = false;
  private readonly listeners: SocketBackend[];

  private readonly hostCall: Caller<SockCalls>;
  readonly cast: Caster<SockCalls>;

  constructor(hostCall: HostCall, cast: HostCast, init: SocketsInit) {
    this.hostCall = callerOf<SockCalls>(hostCall, NAMESPACE);
    this.cast = (op, args, transfer) => cast(`${NAMESPACE}.${op}`, args, transfer);
    this.ready = new Int32Array(init.ready);
    this.listeners = Array.from({ length: init.listeners }, (_, id) => new GuestListener(this, id));
  }

  /** For WasiOptions.sockets. */
  preopened(): PreopenedSockets {
    return { listeners: this.listeners, waiter: this };
  }

  /** The process is ending; the main thread closes its sockets. */
  detach(): void {
    this.detached = true;
  }

  get isDetached(): boolean {
    return this.detached;
  }

  /** The socket's readiness bits (recorded: a suspended guest's call runs again and must see the same). */
  bits(id: number): number {
    return recorded('socket bits', () => Atomics.load(this.ready, id));
  }

  /** Counts bytes cast toward the main thread and not yet written there; false (nothing counted)
   *  if that would pass HIGH_WATER. */
  reserve(id: number, n: number): boolean {
    return recorded('socket reserve', () => {
      if (Atomics.load(this.ready, IN_FLIGHT + id) + n > HIGH_WATER) return false;
      Atomics.add(this.ready, IN_FLIGHT + id, n);
      return true;
    });
  }

  /** A host call; an errno answer becomes the WasiError the import returns. */
  call<K extends keyof SockCalls>(op: K, args: SockCalls[K]['args'], transfer?: Transferable[]): SockCalls[K]['answer'] {
    try {
      return this.hostCall(op, args, transfer);
    } catch (err) {
      if (err instanceof HostCallError) throw new WasiError(err.errno as Errno, err.message);
      throw err;
    }
  }

  wait(read: SocketBackend[], write: SocketBackend[], timeoutMs: number | undefined): void {
    const data = this.call('poll', [ids(read), ids(write), timeoutMs === undefined ? -1 : timeoutMs]);
    for (const [id, bytes] of data) {
      read.find((b): b is GuestConnection => b instanceof GuestConnection && b.id === id)?.deliver(bytes);
    }
  }
}

/** The distinct socket ids of these backends (a guest may subscribe to one fd twice). */
function ids(backends: SocketBackend[]): number[] {
  const out = new Set<number>();
  for (const b of backends) if (b instanceof GuestListener || b instanceof GuestConnection) out.add(b.id);
  return [...out];
}

class GuestListener implements SocketBackend {
  constructor(
    private readonly sockets: GuestSockets,
    readonly id: number,
  ) {}

  accept(nonblocking: boolean): SocketBackend {
    if (nonblocking && !(this.sockets.bits(this.id) & READABLE)) throw new WasiError(Errno.AGAIN);
    const connId = this.sockets.call('accept', [this.id, !nonblocking]);
    return new GuestConnection(this.sockets, connId);
  }
  recv(): { n: number; roflags: number } {
    throw new WasiError(Errno.NOTCONN);
  }
  send(): number {
    throw new WasiError(Errno.NOTCONN);
  }
  shutdown(): void {
    throw new WasiError(Errno.NOTCONN);
  }
  pollRead(): ReadReadiness {
    return this.sockets.bits(this.id) & READABLE ? { ready: true, nbytes: 1n, hangup: false } : NOT_READY;
  }
  pollWrite(): boolean {
    return false;
  }
  close(): void {
    if (!this.sockets.isDetached) this.sockets.call('close', [this.id]);
  }
}

class GuestConnection implements SocketBackend {
  /** Bytes received from the main thread and not yet read by the guest. */
  private inbox: Uint8Array = new Uint8Array(0);
  private at = 0;
  private eof = false;

  constructor(
    private readonly sockets: GuestSockets,
    readonly id: number,
  ) {}

  accept(): SocketBackend {
    throw new WasiError(Errno.INVAL);
  }

  /** Data the main thread sent along with a poll answer (the connection had nothing unread, or it would
   *  have been ready without waiting; appended all the same). */
  deliver(bytes: Uint8Array): void {
    const left = this.inbox.length - this.at;
    if (left > 0) {
      const joined = new Uint8Array(left + bytes.length);
      joined.set(this.inbox.subarray(this.at));
      joined.set(bytes, left);
      bytes = joined;
    }
    this.inbox = bytes;
    this.at = 0;
  }

  recv(bufs: Uint8Array[], riflags: number, nonblocking: boolean): { n: number; roflags: number } {
    if (this.at >= this.inbox.length) {
      if (this.eof) return { n: 0, roflags: 0 };
      if (nonblocking && !(this.sockets.bits(this.id) & READABLE)) throw new WasiError(Errno.AGAIN);
      const data = this.sockets.call('recv', [this.id, RECV_CHUNK, !nonblocking]);
      if (data.length === 0) {
        this.eof = true;
        return { n: 0, roflags: 0 };
      }
      this.inbox = data;
      this.at = 0;
    }
    let n = 0;
    let at = this.at;
    for (const b of bufs) {
      const k = Math.min(b.length, this.inbox.length - at);
      b.set(this.inbox.subarray(at, at + k));
      n += k;
      at += k;
      if (at >= this.inbox.length) break;
    }
    if (!(riflags & RIFLAGS_RECV_PEEK)) this.at = at;
    return { n, roflags: 0 };
  }

  send(bufs: Uint8Array[], nonblocking: boolean): number {
    let total = 0;
    for (const b of bufs) total += b.length;
    if (total === 0) return 0;
    const bits = this.sockets.bits(this.id);
    if (nonblocking && !(bits & WRITABLE)) throw new WasiError(Errno.AGAIN);
    // One copy, out of guest memory, handed over (transferred, not cloned again).
    const data = new Uint8Array(Math.min(total, SEND_CHUNK));
    let at = 0;
    for (const b of bufs) {
      const k = Math.min(b.length, data.length - at);
      data.set(k === b.length ? b : b.subarray(0, k), at);
      at += k;
      if (at >= data.length) break;
    }
    const n = data.length; // (data is detached once transferred)
    if (bits & WRITABLE && !(bits & FAILED) && this.sockets.reserve(this.id, n)) {
      this.sockets.cast('sendq', [this.id, data], [data.buffer]);
      return n;
    }
    return this.sockets.call('send', [this.id, data, !nonblocking], [data.buffer]);
  }

  shutdown(how: number): void {
    this.sockets.call('shutdown', [this.id, how]);
  }

  pollRead(): ReadReadiness {
    const left = this.inbox.length - this.at;
    if (left > 0) return { ready: true, nbytes: BigInt(left), hangup: false };
    if (this.eof) return { ready: true, nbytes: 0n, hangup: true };
    const bits = this.sockets.bits(this.id);
    if (!(bits & READABLE)) return NOT_READY;
    return { ready: true, nbytes: 1n, hangup: (bits & HANGUP) !== 0 };
  }

  pollWrite(): boolean {
    return (this.sockets.bits(this.id) & WRITABLE) !== 0;
  }

  close(): void {
    if (!this.sockets.isDetached) this.sockets.call('close', [this.id]);
  }
}
