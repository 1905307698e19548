// Embargoes: when a promise we made calls through resolves to a capability on our side, calls made
// on it afterwards wait until a Disembargo has echoed through the peer, so that they arrive after
// the calls that travelled through the promise. This table pairs our Disembargo(senderLoopback)
// with the peer's Disembargo(receiverLoopback).
import { IdTable } from './tables.js';

export class EmbargoTable {
  private readonly table = new IdTable<() => void>();

  /** Starts an embargo; `lift` runs when the peer's receiverLoopback for the returned id arrives. */
  start(lift: () => void): number {
    return this.table.alloc(lift);
  }

  /** Lifts embargo `id`; false when there is no such embargo (a protocol violation by the peer). */
  lift(id: number): boolean {
    const f = this.table.delete(id);
    if (!f) return false;
    f();
    return true;
  }

  /** Drops every embargo without lifting (the connection is gone; the queued calls fail elsewhere). */
  clear(): (() => void)[] {
    const all = [...this.table.entries()].map(([, f]) => f);
    for (const [id] of [...this.table.entries()]) this.table.delete(id);
    return all;
  }

  get size(): number {
    return this.table.size;
  }
}
