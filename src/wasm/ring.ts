// A bounded ring of byte messages in shared memory, for channel messages between threads without a
// hop through the main thread: senders and receivers in any workers copy in and out with Atomics and
// wait on its words (blocked.ts), none of them waits for another thread to act for it.
//
// Two SharedArrayBuffers, both apart from any guest's memory so a guest can reach neither except
// through the host code that calls this class: `header` (positions, counts, flags, locks, wait words)
// and `data` (the bytes). A message is a record: its length in 4 bytes, then its bytes, padded to 4;
// a record may wrap around the end of `data`. Positions count bytes from creation (uint32, wrapping),
// so used bytes = tail - head. Senders take the send lock (one at a time), receivers the receive lock;
// a sender publishes a record by storing `tail` after its bytes, a receiver frees it by storing `head`
// after copying it out, so the two sides run at once. What is read back (a length, the positions) is
// checked against the capacity before it is used: a wrong value is a RingError('corrupt'), never an
// access outside the message being read.

import { blockingWaitWord, recorded, waitAsync } from './blocked.js';

/** Why a ring refused: `too-big` (the message can never fit), `corrupt` (a length or position the
 *  ring cannot hold; only a bug or a thread writing the header outside this class gets there). */
export class RingError extends Error {
  constructor(
    readonly code: 'too-big' | 'corrupt',
    message: string,
  ) {
    super(message);
    this.name = 'RingError';
  }
}

/** The two buffers of a ring, as posted to the threads that use it. */
export interface RingShared {
  header: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

// Words of the header.
const HEAD = 0; // bytes taken out since creation (uint32, wrapping)
const TAIL = 1; // bytes put in since creation
const COUNT = 2; // messages queued
const CLOSED = 3; // SEND_CLOSED | RECV_CLOSED
const DATA_SEQ = 4; // bumped when a message is published or an end closes: receivers wait on it
const SPACE_SEQ = 5; // bumped when a message is taken or an end closes: senders wait on it
const SEND_LOCK = 6; // 0, or the owner token of the sender copying in
const RECV_LOCK = 7; // 0, or the owner token of the receiver copying out
const RECV_WAITERS = 8; // threads waiting on DATA_SEQ (a publish notifies only when some wait)
const SEND_WAITERS = 9; // threads waiting on SPACE_SEQ
const MAX_MESSAGES = 10; // the bound on queued messages, fixed at creation
const DATA_BYTES = 11; // message bytes queued (without lengths and padding)
const HEADER_WORDS = 12;

const SEND_CLOSED = 1;
const RECV_CLOSED = 2;
/** Set by whoever owns the ring's channel while messages wait elsewhere that must come out before any
 *  new one: sends are diverted there, and receivers go there once the ring is empty. */
const SEALED = 4;

/** The lock owner of the main thread (workers use their threadId, which is never 0). */
export const RING_MAIN_OWNER = 0x7fffffff;

/** Bytes a message of `n` bytes takes in the ring: its length word and its bytes, padded to 4. */
export function recordBytes(n: number): number {
  return 4 + ((n + 3) & ~3);
}

/** The largest ring (positions are uint32; half of that keeps `tail - head` unambiguous). */
export const MAX_RING_BYTES = 1 << 30;

/** `full`: maxMessages are queued; `no-room`: fewer, but the free bytes do not hold this one;
 *  `diverted`: the ring is sealed. */
export type SendResult = 'ok' | 'full' | 'no-room' | 'diverted' | 'send-closed' | 'recv-closed';
/** A message's length (copied into the destination), or why none was taken. `tooBig`: the next
 *  message needs that many bytes and stays queued. `diverted`: empty and sealed. */
export type RecvResult = number | { tooBig: number } | 'empty' | 'diverted' | 'eof' | 'recv-closed';

export class Ring {
  private readonly h: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  readonly capacity: number;

  /** A new ring of `capacityBytes` (a multiple of 4, at least 8) holding at most `maxMessages`. */
  static create(capacityBytes: number, maxMessages: number): Ring {
    if (!Number.isInteger(capacityBytes) || capacityBytes < 8 || capacityBytes > MAX_RING_BYTES || capacityBytes % 4 !== 0)
      throw new RangeError(`ring capacity ${capacityBytes}: a multiple of 4 from 8 to ${MAX_RING_BYTES} bytes`);
    if (!Number.isInteger(maxMessages) || maxMessages < 1) throw new RangeError(`ring maxMessages ${maxMessages}: at least 1`);
    const header = new SharedArrayBuffer(HEADER_WORDS * 4);
    new Int32Array(header)[MAX_MESSAGES] = maxMessages;
    return new Ring({ header, data: new SharedArrayBuffer(capacityBytes) });
  }

  /** The same ring in another thread, from the buffers `shared` posted there. */
  constructor(readonly shared: RingShared) {
    if (shared.header.byteLength !== HEADER_WORDS * 4) throw new RingError('corrupt', `ring header of ${shared.header.byteLength} bytes`);
    this.h = new Int32Array(shared.header);
    this.bytes = new Uint8Array(shared.data);
    this.view = new DataView(shared.data);
    this.capacity = shared.data.byteLength;
  }

  /** Queued messages. */
  get length(): number {
    return Atomics.load(this.h, COUNT);
  }

  /** Bytes the queued records take. */
  get used(): number {
    return (Atomics.load(this.h, TAIL) - Atomics.load(this.h, HEAD)) >>> 0;
  }

  /** Message bytes queued (what a channel's byte bound counts). */
  get dataBytes(): number {
    return Atomics.load(this.h, DATA_BYTES);
  }

  get sealed(): boolean {
    return (Atomics.load(this.h, CLOSED) & SEALED) !== 0;
  }

  /** Threads waiting right now for data (receivers) and for room (senders). */
  get waiting(): { receivers: number; senders: number } {
    return { receivers: Atomics.load(this.h, RECV_WAITERS), senders: Atomics.load(this.h, SEND_WAITERS) };
  }

  get sendClosed(): boolean {
    return (Atomics.load(this.h, CLOSED) & SEND_CLOSED) !== 0;
  }

  get recvClosed(): boolean {
    return (Atomics.load(this.h, CLOSED) & RECV_CLOSED) !== 0;
  }

  /**
   * Puts `msg` in if it fits now (fewer than maxMessages queued and its record fits in the free bytes).
   * A message whose record is larger than the whole ring throws RingError('too-big'). `owner`
   * (a positive integer, e.g. a pid) marks the send lock while copying, so that `breakLocks` can free
   * it if that thread dies in the middle.
   */
  trySend(msg: Uint8Array, owner: number): SendResult {
    const need = recordBytes(msg.length);
    if (need > this.capacity) throw new RingError('too-big', `a message of ${msg.length} bytes needs ${need} bytes; the ring holds ${this.capacity}`);
    this.lock(SEND_LOCK, owner);
    try {
      // Under the lock, which closeSend takes too: a send is wholly before the close or refused.
      const closed = Atomics.load(this.h, CLOSED);
      if (closed & SEND_CLOSED) return 'send-closed';
      if (closed & RECV_CLOSED) return 'recv-closed';
      if (closed & SEALED) return 'diverted';
      const tail = Atomics.load(this.h, TAIL);
      const used = (tail - Atomics.load(this.h, HEAD)) >>> 0;
      if (used > this.capacity) throw new RingError('corrupt', `ring positions say ${used} bytes used of ${this.capacity}`);
      if (Atomics.load(this.h, COUNT) >= Atomics.load(this.h, MAX_MESSAGES)) return 'full';
      if (used + need > this.capacity) return 'no-room';
      const at = (tail >>> 0) % this.capacity;
      this.view.setUint32(at, msg.length, true); // at is 4-aligned and capacity a multiple of 4: never split
      this.copyIn(msg, (at + 4) % this.capacity);
      Atomics.store(this.h, TAIL, (tail + need) | 0); // publishes the record
      Atomics.add(this.h, COUNT, 1);
      Atomics.add(this.h, DATA_BYTES, msg.length);
    } finally {
      this.unlock(SEND_LOCK);
    }
    this.bump(DATA_SEQ, RECV_WAITERS);
    return 'ok';
  }

  /**
   * Takes the next message into `dest` if there is one and it fits (`dest.length` bytes); a message
   * that does not fit stays queued and its size is answered. `eof`: empty and the send end closed.
   */
  tryRecv(dest: Uint8Array, owner: number, wait = true): RecvResult | 'busy' {
    if (this.recvClosed) return 'recv-closed';
    if (!this.lock(RECV_LOCK, owner, wait)) return 'busy';
    let n: number;
    try {
      const head = Atomics.load(this.h, HEAD);
      const used = (Atomics.load(this.h, TAIL) - head) >>> 0;
      if (used === 0) {
        const closed = Atomics.load(this.h, CLOSED);
        if (this.used !== 0) return 'empty'; // published meanwhile: look again
        return closed & SEALED ? 'diverted' : closed & SEND_CLOSED ? 'eof' : 'empty';
      }
      if (used > this.capacity || used < 4) throw new RingError('corrupt', `ring positions say ${used} bytes used of ${this.capacity}`);
      const at = (head >>> 0) % this.capacity;
      n = this.view.getUint32(at, true);
      if (recordBytes(n) > used) throw new RingError('corrupt', `a record of ${n} bytes where ${used} bytes are queued`);
      if (n > dest.length) return { tooBig: n };
      this.copyOut(dest, (at + 4) % this.capacity, n);
      Atomics.sub(this.h, COUNT, 1);
      Atomics.sub(this.h, DATA_BYTES, n);
      Atomics.store(this.h, HEAD, (head + recordBytes(n)) | 0); // frees the record
    } finally {
      this.unlock(RECV_LOCK);
    }
    this.bump(SPACE_SEQ, SEND_WAITERS);
    return n;
  }

  /** Closes the send end: receivers get what is queued, then `eof`. Takes the send lock so that no
   *  message is published after a receiver saw `eof`. With `wait` false (the main thread, which must
   *  not wait for a worker), false when the lock is held: try again later. */
  closeSend(owner: number, wait = true): boolean {
    if (!this.lock(SEND_LOCK, owner, wait)) return false;
    try {
      Atomics.or(this.h, CLOSED, SEND_CLOSED);
    } finally {
      this.unlock(SEND_LOCK);
    }
    this.wake();
    return true;
  }

  /** Seals (true) or unseals the ring. Not under the lock: a send in progress may still land (it was
   *  concurrent); a sender that learned its message was diverted sees the seal on its next send. */
  seal(on: boolean): void {
    if (on) Atomics.or(this.h, CLOSED, SEALED);
    else Atomics.and(this.h, CLOSED, ~SEALED);
    this.wake();
  }

  /** Closes the receive end: senders get `recv-closed`; what is queued is never read. */
  closeRecv(): void {
    Atomics.or(this.h, CLOSED, RECV_CLOSED);
    this.wake();
  }

  /** Wakes every thread waiting on this ring (each looks again: a pause or kill is for it to see). */
  wake(): void {
    Atomics.add(this.h, DATA_SEQ, 1);
    Atomics.add(this.h, SPACE_SEQ, 1);
    Atomics.notify(this.h, DATA_SEQ);
    Atomics.notify(this.h, SPACE_SEQ);
  }

  /** Frees the locks `owner` holds (its thread was terminated while copying). A half-copied record
   *  was never published (tail or head not yet stored), so the ring stays whole. */
  breakLocks(owner: number): void {
    for (const w of [SEND_LOCK, RECV_LOCK])
      if (Atomics.compareExchange(this.h, w, owner, 0) === owner) Atomics.notify(this.h, w);
  }

  /** The word senders wait on; read it before a `trySend` that may find the ring full, and pass it
   *  to `waitForSpace`, so that a message taken in between is not missed. */
  spaceSeq(): number {
    return Atomics.load(this.h, SPACE_SEQ);
  }

  /** The same for receivers (`waitForData`). */
  dataSeq(): number {
    return Atomics.load(this.h, DATA_SEQ);
  }

  /** Waits, with `wait`, until a `trySend` may find room (or an end closed, or `wake`). */
  waitForSpace(seq: number, wait: RingWait): void {
    this.waitOn(SPACE_SEQ, SEND_WAITERS, seq, wait);
  }

  /** Waits until a `tryRecv` may find a message (or an end closed, or `wake`). */
  waitForData(seq: number, wait: RingWait): void {
    this.waitOn(DATA_SEQ, RECV_WAITERS, seq, wait);
  }

  /** The main thread's wait for room (`space`) or data: resolves when the word moves from `seq`, at
   *  `timeoutMs` at the latest; `cancel` stops counting it as a waiter (its promise still settles). */
  waitAsync(what: 'space' | 'data', seq: number, timeoutMs: number): { ready: Promise<unknown>; cancel: () => void } {
    const [word, waiters] = what === 'space' ? [SPACE_SEQ, SEND_WAITERS] : [DATA_SEQ, RECV_WAITERS];
    Atomics.add(this.h, waiters, 1);
    let counted = true;
    const cancel = (): void => {
      if (counted) Atomics.sub(this.h, waiters, 1);
      counted = false;
    };
    const ready = waitAsync(this.h, word, seq, timeoutMs).finally(cancel);
    return { ready, cancel };
  }

  // ---- internals ----

  private waitOn(word: number, waiters: number, seq: number, wait: RingWait): void {
    wait(this.h, word, seq, waiters);
  }

  private bump(word: number, waiters: number): void {
    Atomics.add(this.h, word, 1);
    if (Atomics.load(this.h, waiters) > 0) Atomics.notify(this.h, word);
  }

  private lock(word: number, owner: number, wait = true): boolean {
    if (!(owner > 0) || owner !== (owner | 0)) throw new RangeError(`ring lock owner ${owner}: a positive int32`);
    for (;;) {
      const held = Atomics.compareExchange(this.h, word, 0, owner);
      if (held === 0) return true;
      if (!wait) return false;
      // Held by another sender (receiver) for the time of one copy, or by a dead thread until
      // breakLocks: wait in short slices so neither hangs this thread for long.
      Atomics.wait(this.h, word, held, 1);
    }
  }

  private unlock(word: number): void {
    Atomics.store(this.h, word, 0);
    Atomics.notify(this.h, word, 1);
  }

  private copyIn(src: Uint8Array, at: number): void {
    const first = Math.min(src.length, this.capacity - at);
    this.bytes.set(first === src.length ? src : src.subarray(0, first), at);
    if (first < src.length) this.bytes.set(src.subarray(first), 0);
  }

  private copyOut(dest: Uint8Array, at: number, n: number): void {
    const first = Math.min(n, this.capacity - at);
    dest.set(this.bytes.subarray(at, at + first), 0);
    if (first < n) dest.set(this.bytes.subarray(0, n - first), first);
  }
}

/** A blocking wait until `array[index]` is no longer `value` (it may also return early), counting
 *  itself in `array[waiters]` while it waits (a sender notifies only when someone waits). */
export type RingWait = (array: Int32Array, index: number, value: number, waiters: number) => void;

/** Sends, waiting while the ring is full (and, with `waitForRoom`, while its free bytes are too few)
 *  unless `nonblock` (then `full` or `no-room` is answered). Blocking goes through blocked.ts (blocked
 *  time, pause, suspension on a shared worker, where each look at the ring is recorded so that the
 *  import's replay after the wait takes the same path). */
export function ringSend(ring: Ring, msg: Uint8Array, owner: number, nonblock: boolean, waitForRoom = false): SendResult {
  for (;;) {
    const { seq, r } = recorded('ring send', () => ({ seq: ring.spaceSeq(), r: ring.trySend(msg, owner) }));
    if (!(r === 'full' || (r === 'no-room' && waitForRoom)) || nonblock) return r;
    ring.waitForSpace(seq, blockingWaitWord);
  }
}

/** Receives into `dest`, waiting while the ring is empty unless `nonblock` (then `empty`). */
export function ringRecv(ring: Ring, dest: Uint8Array, owner: number, nonblock: boolean): RecvResult {
  for (;;) {
    const { seq, r } = recorded('ring recv', () => ({ seq: ring.dataSeq(), r: ring.tryRecv(dest, owner) as RecvResult }));
    if (r !== 'empty' || nonblock) return r;
    ring.waitForData(seq, blockingWaitWord);
  }
}

/** The rings the main thread handed out, so that the locks of a worker that died (a kill terminates
 *  its thread, maybe while it copied) are freed once its thread is gone. */
const live = new Set<WeakRef<Ring>>();

/** Main thread: `ring` may be used by workers from now on (until untrackRing). */
export function trackRing(ring: Ring): WeakRef<Ring> {
  const ref = new WeakRef(ring);
  live.add(ref);
  return ref;
}

export function untrackRing(ref: WeakRef<Ring>): void {
  live.delete(ref);
}

/** Main thread, once the worker thread `threadId` has exited: frees the ring locks it held. */
export function threadGone(threadId: number): void {
  if (!(threadId > 0)) return;
  for (const ref of live) {
    const ring = ref.deref();
    if (ring) ring.breakLocks(threadId);
    else live.delete(ref);
  }
}
