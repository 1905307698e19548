// What the worker side (guest.ts) and the main-thread owner (owner.ts) of one process's sockets
// share: the host-call ops, the readiness words, and the buffering bounds.
//
// Readiness lives in a SharedArrayBuffer (one Int32 per socket id, written only by the main thread),
// so the worker answers "would this block?" without a host call: a non-blocking read, write or
// accept that would block is EAGAIN at once, and poll_oneoff asks the main thread only when it must
// wait. Data moves only in host calls.

/** Sockets one process can hold at once (listeners + connections); as the guest's fd table bound. */
export const MAX_SOCKETS = 4096;
/** The shared Int32Array: readiness words at [id], then bytes in flight at [IN_FLIGHT + id]. */
export const IN_FLIGHT = MAX_SOCKETS;
export const SHARED_WORDS = 2 * MAX_SOCKETS;

/** Readiness bits of a socket id. Listener: READABLE = a connection is pending. */
export const READABLE = 1; // data buffered, or end of stream, or an error to report
export const WRITABLE = 2; // a send would not block (or would fail at once)
export const HANGUP = 4; // the peer closed (or reset) the connection
export const FAILED = 8; // sending can only fail now (reset, shut down for writing): sends take the call path

/** Bytes one recv moves to the worker at most (the rest of a big read stays on the main thread). */
export const RECV_CHUNK = 64 * 1024;
/** Bytes one send hands over at most; a longer write returns a partial count, as POSIX allows. */
export const SEND_CHUNK = 256 * 1024;
/** Per connection and direction: above this many buffered bytes the main thread stops reading from
 *  the peer (backpressure) or makes sends wait (EAGAIN when non-blocking). */
export const HIGH_WATER = 256 * 1024;
/** Connections a listener keeps waiting for the guest's accept; more are refused (reset), as a full backlog. */
export const MAX_PENDING = 1024;

/** The host-call namespace (SpawnOptions.hostCalls key). */
export const NAMESPACE = 'sock';

/** The host calls `sock.<op>`: arguments are small tuples (cheap to clone), the worker's caller and the
 *  owner's handlers are both typed by this map. */
export type SockCalls = {
  /** -> the new connection's id */
  accept: { args: [id: number, block: boolean]; answer: number };
  /** -> the bytes (empty = end of stream) */
  recv: { args: [id: number, max: number, block: boolean]; answer: Uint8Array };
  /** -> bytes taken */
  send: { args: [id: number, data: Uint8Array, block: boolean]; answer: number };
  /** A cast (no answer): the worker counted data.length in IN_FLIGHT + id and goes on. Used when the
   *  socket is writable and the bytes in flight stay under HIGH_WATER. */
  sendq: { args: [id: number, data: Uint8Array]; answer: void };
  shutdown: { args: [id: number, how: number]; answer: void };
  close: { args: [id: number]; answer: void };
  /** Returns when one may be ready, or at the timeout (-1 = none), with the data of the read ids
   *  that have some: [id, bytes (at most RECV_CHUNK)][] (saves a recv). */
  poll: { args: [readIds: number[], writeIds: number[], timeoutMs: number]; answer: [id: number, data: Uint8Array][] };
};

/** What the worker needs to build the guest's pre-opened sockets (part of the run message). */
export interface SocketsInit {
  /** SHARED_WORDS Int32s: per socket id READABLE | WRITABLE | HANGUP | FAILED, then bytes in flight. */
  ready: SharedArrayBuffer;
  /** Listeners are ids 0 .. listeners-1, and the guest's fds 3, 4, ... */
  listeners: number;
}
