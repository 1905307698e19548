// Channels between processes (guest-sdk/ABI.md "Channels"): messages of bytes and capabilities
// through a bounded buffer, from a send end to a receive end. This file holds the buffer, the two
// ends and their reference counts, and the wake-ups of blocked senders and receivers; the calls
// themselves (moving handles, errnos, blocking) are in guest.ts.

import { Kind, MAX_CHANNEL_BYTES } from '../wasm/ww-host/abi.js';
import { Ring, RING_MAIN_OWNER, recordBytes, trackRing, untrackRing } from '../wasm/ring.js';
import type { Cap } from './handles.js';

/** Bytes of a channel's ring (src/wasm/ring.ts): four 64 KiB messages with their lengths, and room for
 *  small ones besides. Every channel is bounded by its capacity in messages first. */
export const RING_BYTES = 4 * recordBytes(64 * 1024) + 4096;

export interface Message {
  data: Uint8Array;
  /** Capabilities moved into the message: each holds one reference until received or discarded. */
  caps: Cap[];
  /** The sender's account, charged messageCost() while the message is queued. */
  account: QueueAccount;
}

/**
 * What one process holds in the node's memory through channels: bytes queued by its sends and not
 * yet received, and channels it created that are still open. Bounded, so that a guest cannot make
 * the node allocate without end (a guest's own memory limit does not cover the node's). A process's
 * account sits inside its principal's: what its messages hold after it ended still counts there.
 */
export class QueueAccount {
  queuedBytes = 0;
  openChannels = 0;
  /** Bytes of the rings of the channels it created (RING_BYTES each), bounded apart from queued bytes
   *  (a quarter of maxQueuedBytes): a channel whose creator has no room for a ring works without one. */
  ringBytes = 0;
  constructor(
    readonly maxQueuedBytes: number,
    readonly maxOpenChannels: number,
    /** The account this one counts inside too (its principal's). */
    readonly within?: QueueAccount,
  ) {}

  /** The account (this or one it is inside) that `bytes` more would take past its bound. */
  fullFor(bytes: number): QueueAccount | undefined {
    for (let a: QueueAccount | undefined = this; a; a = a.within) if (a.queuedBytes + bytes > a.maxQueuedBytes) return a;
    return undefined;
  }

  /** The account (this or one it is inside) that holds all the open channels it may. */
  fullOfChannels(): QueueAccount | undefined {
    for (let a: QueueAccount | undefined = this; a; a = a.within) if (a.openChannels >= a.maxOpenChannels) return a;
    return undefined;
  }

  /** Whether a ring of `bytes` more fits in this account and the ones it is inside. */
  roomForRing(bytes: number): boolean {
    for (let a: QueueAccount | undefined = this; a; a = a.within) if (a.ringBytes + bytes > a.maxQueuedBytes / 4) return false;
    return true;
  }

  chargeRing(bytes: number): void {
    for (let a: QueueAccount | undefined = this; a; a = a.within) a.ringBytes += bytes;
  }

  charge(bytes: number): void {
    for (let a: QueueAccount | undefined = this; a; a = a.within) a.queuedBytes += bytes;
  }

  openChannel(delta: 1 | -1): void {
    for (let a: QueueAccount | undefined = this; a; a = a.within) a.openChannels += delta;
  }
}

/** Bytes a queued message costs its sender: its data, at least 64, plus 16 per capability. */
export function messageCost(dataLength: number, caps: number): number {
  return Math.max(64, dataLength) + 16 * caps;
}

export class ChannelEnd implements Cap {
  readonly movable = true;
  private refs = 0;
  closed = false;
  constructor(
    readonly kind: Kind.CHAN_SEND | Kind.CHAN_RECV,
    readonly channel: Channel,
  ) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) this.close();
  }
  /** Closes this end for every holder. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.ended(this);
  }
}

/**
 * The buffer of a channel. Once a holder in a worker asks for it (`ringFor`), it has a ring: a shared
 * buffer where the workers of its holders send and receive themselves (src/wasm/ww-host/imports.ts),
 * without a call to this thread. Messages that cannot go there (with capabilities, too big for the
 * ring's free bytes, sent through this thread) wait in `queue`, and while they do the ring is sealed:
 * workers send through this thread too, and receivers take the ring's messages first, then the
 * queue's, so each sender's order holds. This thread never writes the ring.
 */
export class Channel {
  readonly send = new ChannelEnd(Kind.CHAN_SEND, this);
  readonly recv = new ChannelEnd(Kind.CHAN_RECV, this);
  private readonly queue: Message[] = [];
  private bytes = 0;
  private uncounted = false;
  private readonly senders: (() => void)[] = [];
  private readonly receivers: (() => void)[] = [];
  private ring: Ring | undefined;
  private ringRef: WeakRef<Ring> | undefined;

  /** `creator` counts it among its open channels until both ends are closed. */
  constructor(
    readonly capacity: number,
    private readonly creator: QueueAccount,
  ) {
    creator.openChannel(1);
  }

  /** The channel's ring, made at the first ask if its creator's account has room for one (charged
   *  until both ends are closed); undefined: none, every call goes through this thread. */
  ringFor(): Ring | undefined {
    if (this.ring || this.uncounted || !this.creator.roomForRing(RING_BYTES)) return this.ring;
    const ring = Ring.create(RING_BYTES, this.capacity);
    this.creator.chargeRing(RING_BYTES);
    this.ring = ring;
    this.ringRef = trackRing(ring);
    if (this.queue.length > 0) ring.seal(true);
    if (this.recv.closed) ring.closeRecv();
    if (this.send.closed) ring.closeSend(RING_MAIN_OWNER); // (nobody else has it yet)
    return ring;
  }

  /** Wakes the workers waiting on the ring (a holder is being paused or ended: it must look again). */
  wakeRing(): void {
    this.ring?.wake();
  }

  /** Messages queued, in the ring and here. */
  get length(): number {
    return this.queue.length + (this.ring?.length ?? 0);
  }

  /** Whether a message of `n` bytes fits now: fewer than `capacity` messages, and the bytes bound
   *  (which an empty buffer always meets, so one large message can always pass). */
  fits(n: number): boolean {
    const length = this.length;
    return length < this.capacity && (length === 0 || this.bytes + (this.ring?.dataBytes ?? 0) + n <= MAX_CHANNEL_BYTES);
  }

  /** Queues `m` here (after what the ring holds: the ring is sealed until the queue is empty). */
  push(m: Message): void {
    m.account.charge(messageCost(m.data.length, m.caps.length));
    this.queue.push(m);
    this.bytes += m.data.length;
    if (this.ring && !this.ring.sealed) this.ring.seal(true); // wakes receivers waiting on the ring: they come here
    this.wake(this.receivers);
  }

  /**
   * The next message of the ring for a receiver with room for `bufLen` bytes: its data, `tooBig`
   * (it stays), `busy` (a worker is taking one right now: look again shortly), or undefined (the
   * ring is empty or there is none: look at `peek`).
   */
  takeFromRing(bufLen: number): { data: Uint8Array } | { tooBig: number } | 'busy' | undefined {
    const ring = this.ring;
    if (!ring || ring.length === 0) return undefined;
    const dest = new Uint8Array(Math.min(bufLen, ring.capacity));
    const r = ring.tryRecv(dest, RING_MAIN_OWNER, false); // this thread never waits for a worker's lock
    if (typeof r === 'number') {
      this.wake(this.senders);
      return { data: dest.slice(0, r) }; // (a view would carry all of dest to the worker)
    }
    if (typeof r === 'object' || r === 'busy') return r;
    return undefined;
  }

  /** The next message of the queue (take the ring's first: takeFromRing). */
  peek(): Message | undefined {
    return this.queue[0];
  }

  shift(): Message {
    const m = this.queue.shift()!;
    m.account.charge(-messageCost(m.data.length, m.caps.length));
    this.bytes -= m.data.length;
    if (this.queue.length === 0 && this.ring?.sealed) this.ring.seal(false); // wakes senders waiting on the ring
    this.wake(this.senders);
    return m;
  }

  /** The ring's wait words, to read before looking at the channel and give to waitToSend/waitToReceive,
   *  so that a worker's send or receive in between wakes the wait. */
  seqs(): { space: number; data: number } | undefined {
    return this.ring && { space: this.ring.spaceSeq(), data: this.ring.dataSeq() };
  }

  /** Resolves when the buffer may have room (or an end closed). `cancel` removes the waiter. */
  waitToSend(seqs?: { space: number; data: number }): { ready: Promise<void>; cancel: () => void } {
    return this.waiter(this.senders, 'space', seqs?.space);
  }

  /** Resolves when a message may be there (or an end closed). */
  waitToReceive(seqs?: { space: number; data: number }): { ready: Promise<void>; cancel: () => void } {
    return this.waiter(this.receivers, 'data', seqs?.data);
  }

  /** Passes a wake-up on: a woken waiter that could not use it calls this so nobody is left asleep. */
  pump(): void {
    if (this.length > 0) this.wake(this.receivers);
    if (this.length < this.capacity) this.wake(this.senders);
  }

  /** An end closed: the receive end discards the buffer; every waiter wakes to see it. */
  ended(end: ChannelEnd): void {
    if (end === this.recv) {
      this.ring?.closeRecv();
      const dropped = this.queue.splice(0);
      this.bytes = 0;
      for (const m of dropped) m.account.charge(-messageCost(m.data.length, m.caps.length));
      for (const m of dropped) for (const c of m.caps) c.release();
    } else if (this.ring) {
      this.closeRingSend(this.ring);
    }
    if (this.send.closed && this.recv.closed && !this.uncounted) {
      this.uncounted = true; // (a nested close of the other end may get here first)
      this.creator.openChannel(-1);
      if (this.ringRef) {
        this.creator.chargeRing(-RING_BYTES);
        untrackRing(this.ringRef);
        this.ring = undefined; // no longer charged, so not held here either (workers forget theirs, imports.ts)
      }
    }
    for (const w of [...this.senders.splice(0), ...this.receivers.splice(0)]) w();
  }

  // ---- internals ----

  /** Closes the ring's send end; while a worker holds the send lock (copying, or dead until its thread's
   *  exit frees it) it tries again shortly, since this thread must not wait for a worker. */
  private closeRingSend(ring: Ring): void {
    if (!ring.closeSend(RING_MAIN_OWNER, false)) setTimeout(() => this.closeRingSend(ring), 1);
  }

  private waiter(list: (() => void)[], what: 'space' | 'data', seq: number | undefined): { ready: Promise<void>; cancel: () => void } {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    list.push(wake);
    // A worker's send or receive in the ring wakes this wait too (bounded: a wait this thread gave up
    // on stays in the engine until the word moves or the timeout).
    const ringWait = this.ring && seq !== undefined ? this.ring.waitAsync(what, seq, 10_000) : undefined;
    return {
      ready: ringWait ? Promise.race([woken, ringWait.ready.then(() => {})]) : woken,
      cancel: () => {
        ringWait?.cancel();
        const i = list.indexOf(wake);
        if (i >= 0) list.splice(i, 1);
      },
    };
  }

  private wake(list: (() => void)[]): void {
    list.shift()?.();
  }
}
