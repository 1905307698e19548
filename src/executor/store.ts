// The node's capability store (guest-sdk/ABI.md "The capability store"): names to capabilities.
// It is not a shared bulletin board: each entry has an owner (the principal whose process stored
// it) and a reach. A process reaches the store through two views: its principal's own names,
// which no other principal sees, and the shared names, which every principal reads but only an
// entry's owner replaces or removes. An entry holds its own reference, so a stored channel end
// stays open.

import { HostCallError } from '../wasm/index.js';
import { E, Kind, MAX_NAME_BYTES, MAX_STORE_NAMES } from '../wasm/ww-host/abi.js';
import type { Cap } from './handles.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Whose names a view reaches: a principal's own, or the ones shared with every principal. */
export type Reach = 'own' | 'shared';

/** Who stores and reads: a principal object (compared by identity), or the node's own runs. */
export type StoreOwner = object;

interface Entry {
  cap: Cap;
  owner: StoreOwner;
}

export class CapabilityStore {
  private readonly own = new Map<StoreOwner, Map<string, Entry>>();
  private readonly shared = new Map<string, Entry>();
  /** Names each owner holds in both maps (bounded per owner: one principal cannot fill the store for the rest). */
  private readonly counts = new Map<StoreOwner, number>();

  /** A STORE capability: `owner`'s view of its own names, or of the shared ones. */
  view(owner: StoreOwner, reach: Reach): StoreView {
    return new StoreView(this, owner, reach);
  }

  /** A name as the ABI allows it: 1-255 bytes of UTF-8; EINVAL otherwise. */
  static name(bytes: unknown, what: string): string {
    if (!(bytes instanceof Uint8Array) || bytes.length === 0 || bytes.length > MAX_NAME_BYTES) {
      throw new HostCallError(E.INVAL, `${what}: a name is 1 to ${MAX_NAME_BYTES} bytes of UTF-8`);
    }
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw new HostCallError(E.INVAL, `${what}: the name is not valid UTF-8`);
    }
  }

  /** Names stored, all owners and reaches together. */
  get size(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  set(owner: StoreOwner, reach: Reach, name: string, cap: Cap | undefined): void {
    const map = this.map(owner, reach, true)!;
    const old = map.get(name);
    if (old && old.owner !== owner) {
      throw new HostCallError(E.PERM, `store_set: ${JSON.stringify(name)} was shared by another principal: only it may replace or remove it`);
    }
    if (cap) {
      const count = this.counts.get(owner) ?? 0;
      if (!old && count >= MAX_STORE_NAMES) {
        throw new HostCallError(E.NOSPC, `store_set: this principal has ${MAX_STORE_NAMES} names stored, the most it may: remove names with h = 0`);
      }
      cap.retain();
      map.set(name, { cap, owner });
      if (!old) this.counts.set(owner, count + 1);
    } else if (old) {
      map.delete(name);
      this.counts.set(owner, (this.counts.get(owner) ?? 1) - 1);
    }
    old?.cap.release();
  }

  get(owner: StoreOwner, reach: Reach, name: string): Cap | undefined {
    return this.map(owner, reach, false)?.get(name)?.cap;
  }

  /** Releases every entry (the node stops). */
  clear(): void {
    const entries = [...this.shared.values(), ...[...this.own.values()].flatMap((m) => [...m.values()])];
    this.shared.clear();
    this.own.clear();
    this.counts.clear();
    for (const e of entries) e.cap.release();
  }

  private map(owner: StoreOwner, reach: Reach, create: boolean): Map<string, Entry> | undefined {
    if (reach === 'shared') return this.shared;
    let m = this.own.get(owner);
    if (!m && create) this.own.set(owner, (m = new Map()));
    return m;
  }
}

/** A STORE handle: one owner's view of the store. Passing it on passes that authority. */
export class StoreView implements Cap {
  readonly kind = Kind.STORE;
  readonly movable = true;
  constructor(
    private readonly store: CapabilityStore,
    readonly owner: StoreOwner,
    readonly reach: Reach,
  ) {}
  retain(): void {}
  release(): void {}

  /** Stores `cap` under `name` (a new reference), replacing and releasing an earlier one; undefined removes. */
  set(name: string, cap: Cap | undefined): void {
    this.store.set(this.owner, this.reach, name, cap);
  }

  get(name: string): Cap | undefined {
    return this.store.get(this.owner, this.reach, name);
  }
}
