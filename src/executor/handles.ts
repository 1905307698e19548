// A process's handle table (guest-sdk/ABI.md "Handles"): unpredictable integers naming the
// capabilities it holds. Tables are per process, so a number can only ever name something the
// caller itself holds; a number the table does not hold is EBADF, never a crash.

import { HostCallError } from '../wasm/index.js';
import { E, MAX_HANDLES, type Kind } from '../wasm/ww-host/abi.js';

/** Something a handle can name. References are counted where it matters (channel ends, monitors). */
export interface Cap {
  readonly kind: Kind;
  /** A new reference (a handle, a queued message, a store entry) names it. */
  retain(): void;
  /** One reference went away. */
  release(): void;
  /** Whether it may be duplicated, passed or stored (a Monitor stays with the process that made it). */
  readonly movable: boolean;
}

/** Numbers dropped from a table that it will not hand out again (bounded memory). */
const RETIRED_KEPT = 65_536;

export class HandleTable {
  private readonly live = new Map<number, Cap>();
  private readonly retired = new Set<number>();

  get size(): number {
    return this.live.size;
  }

  has(h: number): boolean {
    return this.live.has(h);
  }

  /** The capabilities held (each once per handle). */
  caps(): IterableIterator<Cap> {
    return this.live.values();
  }

  /** Room for `n` more handles, else EMFILE. */
  room(n: number, what: string): void {
    if (this.live.size + n > MAX_HANDLES) {
      throw new HostCallError(E.MFILE, `${what}: the handle table is full (${MAX_HANDLES} handles): drop handles you no longer need`);
    }
  }

  /** Adds a new reference to `cap` under a fresh number. */
  add(cap: Cap, what: string): number {
    this.room(1, what);
    cap.retain();
    return this.put(cap);
  }

  /** Adds `cap` under a fresh number, taking over a reference that was moved here (not counted again). */
  adopt(cap: Cap): number {
    return this.put(cap);
  }

  /** The capability `h` names, of one of `kinds` when given; EBADF otherwise. */
  get(h: unknown, what: string, ...kinds: Kind[]): Cap {
    const cap = typeof h === 'number' ? this.live.get(h) : undefined;
    if (!cap) throw new HostCallError(E.BADF, `${what}: ${String(h)} is not a handle of this process`);
    if (kinds.length > 0 && !kinds.includes(cap.kind)) {
      throw new HostCallError(E.BADF, `${what}: handle ${String(h)} is a ${kindName(cap.kind)}, not a ${kinds.map(kindName).join(' or ')}`);
    }
    return cap;
  }

  /** Removes `h`, moving its reference to the caller (not released). */
  take(h: number): Cap {
    const cap = this.live.get(h);
    if (!cap) throw new HostCallError(E.BADF, `${h} is not a handle of this process`);
    this.forget(h);
    return cap;
  }

  /** Removes `h` and releases its reference. */
  drop(h: unknown, what: string): void {
    const cap = this.get(h, what);
    this.forget(h as number);
    cap.release();
  }

  /** Releases everything (the process ended). */
  clear(): void {
    const caps = [...this.live.values()];
    this.live.clear();
    for (const c of caps) c.release();
  }

  private put(cap: Cap): number {
    let h: number;
    do h = 1 + Math.floor(Math.random() * 0x7ffffffe);
    while (this.live.has(h) || this.retired.has(h));
    this.live.set(h, cap);
    return h;
  }

  private forget(h: number): void {
    this.live.delete(h);
    this.retired.add(h);
    if (this.retired.size > RETIRED_KEPT) this.retired.delete(this.retired.values().next().value as number);
  }
}

export function kindName(k: Kind): string {
  return ['?', 'Process', 'Executor', 'channel send end', 'channel receive end', 'capability store', 'Monitor'][k] ?? `kind ${k}`;
}
