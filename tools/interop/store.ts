// The Store of capnp/interop.capnp, served from TypeScript exactly as the schema's comments say.
import { FailedError, type CallContext } from '../../src/rpc/index.js';
import type {
  Counter$Client,
  Counter$Server,
  Listener$Client,
  Store$Server,
  Subscription$Server,
} from '../../src/capnp-gen/interop.rpc.js';

export class CounterImpl implements Counter$Server {
  constructor(
    private value: bigint,
    private readonly onDispose?: () => void,
  ) {}
  increment({ by }: { by: bigint }): { value: bigint } {
    this.value += by;
    return { value: this.value };
  }
  self(): { counter: Counter$Server } {
    return { counter: this };
  }
  [Symbol.dispose](): void {
    this.onDispose?.();
  }
}

class SubscriptionImpl implements Subscription$Server {
  constructor(private listener: Listener$Client | null) {}
  cancel(): void {
    this.listener?.release();
    this.listener = null;
  }
  [Symbol.dispose](): void {
    this.cancel();
  }
}

/** byte i = i mod 251 */
export function blobBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  const period = Math.min(size, 251);
  for (let i = 0; i < period; i++) out[i] = i;
  // The pattern repeats every 251 bytes: double the filled prefix (a multiple of 251) until done.
  let filled = period;
  while (filled < size) {
    const n = Math.min(filled, size - filled);
    out.copyWithin(filled, 0, n);
    filled += n;
  }
  return out;
}

export class StoreImpl implements Store$Server {
  private readonly data = new Map<string, Uint8Array>();
  private heldCount = 0;

  put({ key, value }: { key: string; value: Uint8Array }): void {
    this.data.set(key, value);
  }
  get({ key }: { key: string }): { value: Uint8Array } {
    const value = this.data.get(key);
    if (!value) throw new FailedError(`not found: ${key}`);
    return { value };
  }
  counter({ start }: { start: bigint }): { counter: Counter$Server } {
    return { counter: new CounterImpl(start) };
  }
  async subscribe({ listener, events }: { listener: Listener$Client; events: number }): Promise<{ sub: Subscription$Server }> {
    for (let i = 0; i < events; i++) await listener.notify({ event: `event-${i}` });
    return { sub: new SubscriptionImpl(listener) };
  }
  echo({ counter }: { counter: Counter$Client }): { counter: Counter$Client } {
    return { counter };
  }
  fail({ message }: { message: string }, _ctx: CallContext): never {
    throw new FailedError(message);
  }
  blob({ size }: { size: number }): { data: Uint8Array } {
    return { data: blobBytes(size) };
  }
  hold(): { counter: Counter$Server } {
    this.heldCount++;
    return { counter: new CounterImpl(0n, () => this.heldCount--) };
  }
  held(): { count: number } | Promise<{ count: number }> {
    return { count: this.heldCount };
  }
}
