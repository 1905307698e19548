// Channels between processes (guest-sdk/ABI.md "Channels"): messages of bytes and capabilities
// through a bounded buffer, from a send end to a receive end. This file holds the buffer, the two
// ends and their reference counts, and the wake-ups of blocked senders and receivers; the calls
// themselves (moving handles, errnos, blocking) are in guest.ts.

import { Kind, MAX_CHANNEL_BYTES } from '../wasm/ww-host/abi.js';
import type { Cap } from './handles.js';

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

export class Channel {
  readonly send = new ChannelEnd(Kind.CHAN_SEND, this);
  readonly recv = new ChannelEnd(Kind.CHAN_RECV, this);
  private readonly queue: Message[] = [];
  private bytes = 0;
  private uncounted = false;
  private readonly senders: (() => void)[] = [];
  private readonly receivers: (() => void)[] = [];

  /** `creator` counts it among its open channels until both ends are closed. */
  constructor(
    readonly capacity: number,
    private readonly creator: QueueAccount,
  ) {
    creator.openChannel(1);
  }

  get length(): number {
    return this.queue.length;
  }

  /** Whether a message of `n` bytes fits now: fewer than `capacity` messages, and the bytes bound
   *  (which an empty buffer always meets, so one large message can always pass). */
  fits(n: number): boolean {
    return this.queue.length < this.capacity && (this.queue.length === 0 || this.bytes + n <= MAX_CHANNEL_BYTES);
  }

  push(m: Message): void {
    m.account.charge(messageCost(m.data.length, m.caps.length));
    this.queue.push(m);
    this.bytes += m.data.length;
    this.wake(this.receivers);
  }

  peek(): Message | undefined {
    return this.queue[0];
  }

  shift(): Message {
    const m = this.queue.shift()!;
    m.account.charge(-messageCost(m.data.length, m.caps.length));
    this.bytes -= m.data.length;
    this.wake(this.senders);
    return m;
  }

  /** Resolves when the buffer may have room (or an end closed). `cancel` removes the waiter. */
  waitToSend(): { ready: Promise<void>; cancel: () => void } {
    return this.waiter(this.senders);
  }

  /** Resolves when a message may be there (or an end closed). */
  waitToReceive(): { ready: Promise<void>; cancel: () => void } {
    return this.waiter(this.receivers);
  }

  /** Passes a wake-up on: a woken waiter that could not use it calls this so nobody is left asleep. */
  pump(): void {
    if (this.queue.length > 0) this.wake(this.receivers);
    if (this.queue.length < this.capacity) this.wake(this.senders);
  }

  /** An end closed: the receive end discards the buffer; every waiter wakes to see it. */
  ended(end: ChannelEnd): void {
    if (end === this.recv) {
      const dropped = this.queue.splice(0);
      this.bytes = 0;
      for (const m of dropped) m.account.charge(-messageCost(m.data.length, m.caps.length));
      for (const m of dropped) for (const c of m.caps) c.release();
    }
    if (this.send.closed && this.recv.closed && !this.uncounted) {
      this.uncounted = true; // (a nested close of the other end may get here first)
      this.creator.openChannel(-1);
    }
    for (const w of [...this.senders.splice(0), ...this.receivers.splice(0)]) w();
  }

  private waiter(list: (() => void)[]): { ready: Promise<void>; cancel: () => void } {
    let wake!: () => void;
    const ready = new Promise<void>((resolve) => (wake = resolve));
    list.push(wake);
    return {
      ready,
      cancel: () => {
        const i = list.indexOf(wake);
        if (i >= 0) list.splice(i, 1);
      },
    };
  }

  private wake(list: (() => void)[]): void {
    list.shift()?.();
  }
}
