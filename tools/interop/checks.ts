// Every behaviour the interop schema's comments promise, as named checks against any Store server.
import { RpcError, serve } from '../../src/rpc/index.js';
import {
  Counter,
  Listener,
  type Counter$Server,
  type Listener$Server,
  type Store$Client,
} from '../../src/capnp-gen/interop.rpc.js';
import { blobBytes } from './store.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  why?: string;
}

type Check = { name: string; timeoutMs: number; run: (store: Store$Client) => Promise<void> };

class CheckFailure extends Error {}

function expect(cond: boolean, why: string): void {
  if (!cond) throw new CheckFailure(why);
}

async function expectRejects(p: PromiseLike<unknown>, contains: string): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    expect(e instanceof RpcError, `expected an RpcError, got ${String(e)}`);
    const err = e as RpcError;
    expect(err.message.includes(contains), `error "${err.message}" does not contain "${contains}"`);
    return err;
  }
  throw new CheckFailure(`expected an exception containing "${contains}", the call succeeded`);
}

async function eventually(what: string, cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new CheckFailure(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A local counter recording the order in which its increments arrive. */
class RecordingCounter implements Counter$Server {
  readonly seen: bigint[] = [];
  private value = 0n;
  increment({ by }: { by: bigint }): { value: bigint } {
    this.seen.push(by);
    this.value += by;
    return { value: this.value };
  }
  self(): { counter: Counter$Server } {
    return { counter: this };
  }
}

export const CHECKS: Check[] = [
  {
    name: 'put-get',
    timeoutMs: 10000,
    async run(store) {
      const value = new TextEncoder().encode('hello, interop');
      await store.put({ key: 'greeting', value });
      const r = await store.get({ key: 'greeting' });
      expect(sameBytes(r.value, value), 'get returned different bytes than put stored');
    },
  },
  {
    name: 'get-missing',
    timeoutMs: 10000,
    async run(store) {
      await expectRejects(store.get({ key: 'no-such-key' }), 'not found: no-such-key');
    },
  },
  {
    name: 'pipeline-one-level',
    timeoutMs: 10000,
    async run(store) {
      const p = store.counter({ start: 5n });
      const r = await p.counter.increment({ by: 1n }); // sent before counter() returned
      expect(r.value === 6n, `counter(5).increment(1) gave ${r.value}, expected 6`);
      p.release();
    },
  },
  {
    name: 'pipeline-two-levels',
    timeoutMs: 10000,
    async run(store) {
      const p = store.counter({ start: 10n });
      const self = p.counter.self();
      const r = await self.counter.increment({ by: 2n });
      expect(r.value === 12n, `counter(10).self().increment(2) gave ${r.value}, expected 12`);
      self.release();
      p.release();
    },
  },
  {
    name: 'subscribe-callbacks-in-order',
    timeoutMs: 10000,
    async run(store) {
      const events: string[] = [];
      const listener: Listener$Server = { notify: ({ event }) => void events.push(event) };
      const l = serve(Listener, listener);
      const r = await store.subscribe({ listener: l, events: 5 });
      l.release();
      const want = ['event-0', 'event-1', 'event-2', 'event-3', 'event-4'];
      expect(JSON.stringify(events) === JSON.stringify(want), `listener saw ${JSON.stringify(events)} before subscribe returned`);
      r.sub.release();
    },
  },
  {
    name: 'subscribe-cancel-releases-listener',
    timeoutMs: 10000,
    async run(store) {
      let released = false;
      const listener = { notify: () => {}, [Symbol.dispose]: () => void (released = true) };
      const l = serve(Listener, listener);
      const r = await store.subscribe({ listener: l, events: 1 });
      l.release();
      expect(!released, 'listener was released before the subscription was cancelled');
      await r.sub.cancel();
      await eventually('release of the listener after cancel()', async () => released);
      r.sub.release();
    },
  },
  {
    name: 'echo-embargo-order',
    timeoutMs: 10000,
    async run(store) {
      const local = new RecordingCounter();
      const mine = serve(Counter, local);
      const p = store.echo({ counter: mine });
      const through: PromiseLike<unknown>[] = [];
      for (let i = 1n; i <= 10n; i++) through.push(p.counter.increment({ by: i })); // via the promise
      const r = await p;
      const direct: PromiseLike<unknown>[] = [];
      for (let i = 11n; i <= 20n; i++) direct.push(r.counter.increment({ by: i })); // on the resolved cap
      for (let i = 21n; i <= 25n; i++) direct.push(p.counter.increment({ by: i })); // promise, after resolution
      await Promise.all([...through, ...direct]);
      const order = local.seen.map(Number);
      const want = Array.from({ length: 25 }, (_, i) => i + 1);
      expect(JSON.stringify(order) === JSON.stringify(want), `calls arrived out of order: ${order.join(',')}`);
      r.counter.release();
      p.release();
      mine.release();
    },
  },
  {
    name: 'fail-message',
    timeoutMs: 10000,
    async run(store) {
      const err = await expectRejects(store.fail({ message: 'boom: intentional failure 42' }), 'boom: intentional failure 42');
      expect(err.type === 'failed', `exception type is ${err.type}, expected failed`);
    },
  },
  {
    name: 'usable-after-exception',
    timeoutMs: 10000,
    async run(store) {
      await expectRejects(store.fail({ message: 'first' }), 'first');
      await store.put({ key: 'after', value: new Uint8Array([1, 2, 3]) });
      const r = await store.get({ key: 'after' });
      expect(sameBytes(r.value, new Uint8Array([1, 2, 3])), 'connection misbehaved after an exception');
    },
  },
  {
    name: 'blobs-0B-to-32MiB',
    timeoutMs: 120000,
    async run(store) {
      for (const size of [0, 1, 7, 8, 250, 251, 252, 4096, 65536, 1 << 20, 4 << 20, 16 << 20, 32 << 20]) {
        const r = await store.blob({ size });
        expect(r.data.byteLength === size, `blob(${size}) returned ${r.data.byteLength} bytes`);
        expect(sameBytes(r.data, blobBytes(size)), `blob(${size}) content differs from i mod 251`);
      }
    },
  },
  {
    name: 'hold-release-counting',
    timeoutMs: 10000,
    async run(store) {
      const before = (await store.held()).count;
      const a = (await store.hold()).counter;
      const b = (await store.hold()).counter;
      const during = (await store.held()).count;
      expect(during === before + 2, `held is ${during} after two hold() calls, expected ${before + 2}`);
      await a.increment({ by: 1n });
      a.release();
      await eventually('held to drop by one after releasing one counter', async () => (await store.held()).count === before + 1);
      b.release();
      await eventually('held to return to its start after releasing both', async () => (await store.held()).count === before);
    },
  },
  {
    name: 'concurrent-1000-calls',
    timeoutMs: 30000,
    async run(store) {
      const p = store.counter({ start: 0n });
      const c = p.counter;
      const calls = Array.from({ length: 1000 }, () => c.increment({ by: 1n }));
      const values = (await Promise.all(calls)).map((r) => Number(r.value)).sort((x, y) => x - y);
      const ok = values.every((v, i) => v === i + 1);
      expect(ok, `1000 concurrent increments gave values ${values.slice(0, 5).join(',')}...${values.slice(-3).join(',')}`);
      p.release();
    },
  },
];

/** Runs every check in order; one line per check through `log`. */
export async function runChecks(store: Store$Client, log: (line: string) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of CHECKS) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        check.run(store),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new CheckFailure(`timed out after ${check.timeoutMs} ms`)), check.timeoutMs);
        }),
      ]);
      results.push({ name: check.name, ok: true });
      log(`ok ${check.name}`);
    } catch (e) {
      const why = e instanceof Error ? `${e.constructor.name === 'CheckFailure' ? '' : e.name + ': '}${e.message}` : String(e);
      results.push({ name: check.name, ok: false, why });
      log(`FAIL ${check.name}: ${why}`);
    } finally {
      clearTimeout(timer);
    }
  }
  return results;
}
