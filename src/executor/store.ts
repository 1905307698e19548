// The node's capability store (guest-sdk/ABI.md "The capability store"): names to capabilities,
// shared by every process that holds a STORE handle. An entry holds its own reference, so a
// stored channel end stays open.

import { HostCallError } from '../wasm/index.js';
import { E, Kind, MAX_NAME_BYTES, MAX_STORE_NAMES } from '../wasm/ww-host/abi.js';
import type { Cap } from './handles.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export class CapabilityStore implements Cap {
  readonly kind = Kind.STORE;
  readonly movable = true;
  private readonly entries = new Map<string, Cap>();

  retain(): void {}
  release(): void {}

  get size(): number {
    return this.entries.size;
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

  /** Stores `cap` under `name` (a new reference), replacing and releasing an earlier one; undefined removes. */
  set(name: string, cap: Cap | undefined): void {
    const old = this.entries.get(name);
    if (cap) {
      if (!old && this.entries.size >= MAX_STORE_NAMES) {
        throw new HostCallError(E.NOSPC, `store_set: the capability store is full (${MAX_STORE_NAMES} names): remove names with h = 0`);
      }
      cap.retain();
      this.entries.set(name, cap);
    } else {
      this.entries.delete(name);
    }
    old?.release();
  }

  get(name: string): Cap | undefined {
    return this.entries.get(name);
  }

  /** Releases every entry (the node stops). */
  clear(): void {
    const caps = [...this.entries.values()];
    this.entries.clear();
    for (const c of caps) c.release();
  }
}
