// An in-process pair of transports (tests, benchmarks, and peers in one process).
import { giveBackSegment } from '../segment-pool.js';
import type { Transport } from './types.js';

class MemoryEnd implements Transport {
  peer: MemoryEnd | null = null;
  private handler: ((segments: Uint8Array[]) => void) | null = null;
  private closeHandler: ((err?: Error) => void) | null = null;
  private closed = false;
  private inbox: Uint8Array[][] = [];
  private scheduled = false;

  send(segments: Uint8Array[]): void {
    if (this.closed || !this.peer) return;
    // Copy: the receiver owns its buffers, as it would after a real socket.
    this.peer.deliver(segments.map((s) => s.slice()));
    for (const s of segments) giveBackSegment(s); // copied: big ones may go back to their pool
  }

  private deliver(segments: Uint8Array[]): void {
    if (this.closed) return;
    this.inbox.push(segments);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const batch = this.inbox;
    this.inbox = [];
    for (const m of batch) if (!this.closed) this.handler?.(m);
  }

  onMessage(handler: (segments: Uint8Array[]) => void): void {
    this.handler = handler;
  }

  onClose(handler: (err?: Error) => void): void {
    this.closeHandler = handler;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeHandler?.();
    const p = this.peer;
    this.peer = null;
    if (p) setImmediate(() => p.close());
  }
}

/** Two connected transports: what one sends, the other receives. */
export function memoryPair(): [Transport, Transport] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
