// The engine end to end, TS<->TS over TCP loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '../../src/rpc/client.js';
import { DisconnectedError, FailedError, MAX_EXCEPTION_DETAILS, MAX_EXCEPTION_DETAIL_BYTES, OverloadedError, RpcError, UnimplementedError } from '../../src/rpc/errors.js';
import {
  Counter,
  Listener,
  Store,
  type Counter$Client,
  type Counter$Server,
  type Store$Server,
} from '../../src/capnp-gen/interop.rpc.js';
import { CounterImpl, StoreImpl } from '../../tools/interop/store.js';
import { connectPair, eventually } from './helpers.js';

test('calls pipelined two levels deep before any result returns', async () => {
  const pair = await connectPair(() => serve(Store, new StoreImpl()));
  const store = pair.client.bootstrap(Store);
  const p = store.counter({ start: 40n });
  const s = p.counter.self();
  const r = await s.counter.increment({ by: 2n });
  assert.equal(r.value, 42n);
  s.release();
  p.release();
  store.release();
  await pair.close();
});

test('capabilities travel both ways: the server calls back a client capability', async () => {
  const pair = await connectPair(() => serve(Store, new StoreImpl()));
  const store = pair.client.bootstrap(Store);
  const seen: string[] = [];
  const listener = serve(Listener, { notify: ({ event }: { event: string }) => void seen.push(event) });
  const r = await store.subscribe({ listener, events: 3 });
  assert.deepEqual(seen, ['event-0', 'event-1', 'event-2']);
  r.sub.release();
  listener.release();
  store.release();
  await pair.close();
});

test('releasing the last reference sends Release and the server object is disposed', async () => {
  const pair = await connectPair(() => serve(Store, new StoreImpl()));
  const store = pair.client.bootstrap(Store);
  const a = (await store.hold()).counter;
  const b = a.dup();
  assert.equal((await store.held()).count, 1);
  a.release();
  await b.increment({ by: 1n }); // still alive through the second reference
  assert.equal((await store.held()).count, 1);
  b.release();
  await eventually('held back to 0', async () => (await store.held()).count === 0);
  await eventually('server export table back to the bootstrap only', () => pair.server.stats().exports === 1);
  assert.equal(pair.client.stats().imports, 1);
  store.release();
  await pair.close();
});

test('a capability that is still a promise is exported as one and resolved later (Resolve)', async () => {
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  const slow: Counter$Server = {
    increment: ({ by }) => ({ value: by }),
    async self() {
      await gate;
      return { counter: new CounterImpl(100n) };
    },
  };
  const slowClient = serve(Counter, slow);
  class PromiseStore extends StoreImpl {
    override counter(): { counter: Counter$Client } {
      // A pipelined capability of a local call that has not finished: a promise.
      return { counter: slowClient.self().counter.dup() };
    }
  }
  const pair = await connectPair(() => serve(Store, new PromiseStore()));
  const store = pair.client.bootstrap(Store);
  const c = (await store.counter({ start: 0n })).counter;
  const pending = c.increment({ by: 1n });
  setTimeout(open, 20);
  assert.equal((await pending).value, 101n);
  await c.whenResolved();
  assert.equal((await c.increment({ by: 1n })).value, 102n);
  c.release();
  store.release();
  await pair.close();
});

/** A counter whose self() waits for open(); what it returns counts its disposals in `disposed`. */
function slowSelf(): { server: Counter$Server; open: () => void; disposed: () => number } {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let disposed = 0;
  const server: Counter$Server = {
    increment: ({ by }) => ({ value: by }),
    async self() {
      await gate;
      return { counter: new CounterImpl(7n, () => disposed++) };
    },
  };
  return { server, open, disposed: () => disposed };
}

test('calls pipelined on a call that has not returned yet leave no reference behind once it does', async () => {
  // Locally: the pipelined call waits in a promise until self() returns.
  const local = slowSelf();
  const client = serve(Counter, local.server);
  const p = client.self();
  const pending = p.counter.increment({ by: 1n });
  local.open();
  assert.equal((await pending).value, 8n);
  p.release();
  client.release();
  await eventually('the local result disposed', () => local.disposed() === 1);

  // Through a connection: the peer's pipelined call reaches the server while self() still waits.
  const remote = slowSelf();
  const pair = await connectPair(() => serve(Counter, remote.server));
  try {
    const boot = pair.client.bootstrap(Counter);
    await boot.whenResolved(); // its Finish goes before the calls below: the server's answers are then theirs alone
    const q = boot.self();
    const queued = q.counter.increment({ by: 2n });
    await eventually('both calls to reach the server', () => pair.server.stats().answers === 2);
    remote.open();
    assert.equal((await queued).value, 9n);
    q.release();
    await eventually('the remote result disposed', () => remote.disposed() === 1);
    boot.release();
  } finally {
    remote.open();
    await pair.close();
  }
});

test('echo of a local capability keeps call order across the embargo, then the embargo is gone', async () => {
  const pair = await connectPair(() => serve(Store, new StoreImpl()));
  const store = pair.client.bootstrap(Store);
  const seen: bigint[] = [];
  const recorder: Counter$Server = {
    increment: ({ by }) => (seen.push(by), { value: by }),
    self: () => ({ counter: recorder }),
  };
  const mine = serve(Counter, recorder);
  const p = store.echo({ counter: mine });
  const calls: PromiseLike<unknown>[] = [];
  for (let i = 1n; i <= 20n; i++) calls.push(p.counter.increment({ by: i }));
  const r = await p;
  for (let i = 21n; i <= 30n; i++) calls.push(r.counter.increment({ by: i }));
  for (let i = 31n; i <= 40n; i++) calls.push(p.counter.increment({ by: i }));
  await Promise.all(calls);
  assert.deepEqual(seen, Array.from({ length: 40 }, (_, i) => BigInt(i + 1)));
  assert.equal(pair.client.stats().embargoes, 0);
  r.counter.release();
  p.release();
  mine.release();
  store.release();
  await pair.close();
});

test('exceptions arrive typed, with their messages, and the connection stays usable', async () => {
  class Typed extends StoreImpl {
    override fail({ message }: { message: string }): never {
      if (message === 'overloaded') throw new OverloadedError('too busy');
      if (message === 'plain') throw new Error('plain error');
      throw new FailedError(message);
    }
  }
  // The types demand every method; a server that still lacks one (plain JavaScript) answers `unimplemented`.
  const partial = { held: () => ({ count: 7 }) } as Partial<Store$Server> as Store$Server;
  const pair = await connectPair(() => serve(Store, new Typed()));
  const store = pair.client.bootstrap(Store);
  await assert.rejects(Promise.resolve(store.fail({ message: 'overloaded' })), (e: unknown) => e instanceof OverloadedError && e.type === 'overloaded');
  await assert.rejects(Promise.resolve(store.fail({ message: 'plain' })), (e: unknown) => e instanceof FailedError && /plain error/.test((e as Error).message));
  await assert.rejects(Promise.resolve(store.get({ key: 'k' })), (e: unknown) => e instanceof RpcError && e.type === 'failed' && /not found: k/.test((e as Error).message));
  assert.equal((await store.held()).count, 0);
  store.release();
  await pair.close();

  const pair2 = await connectPair(() => serve(Store, partial));
  const store2 = pair2.client.bootstrap(Store);
  await assert.rejects(Promise.resolve(store2.put({ key: 'x' })), (e: unknown) => e instanceof UnimplementedError && e.type === 'unimplemented');
  assert.equal((await store2.held()).count, 7);
  store2.release();
  await pair2.close();
});

test('exception details travel with the exception (rpc.capnp Exception.details), within their bounds', async () => {
  const ID = 0xc353051d1ffccaf4n;
  const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
  class Detailed extends StoreImpl {
    override fail({ message }: { message: string }): never {
      if (message === 'many') {
        const many = Array.from({ length: MAX_EXCEPTION_DETAILS + 3 }, (_, i) => ({ id: BigInt(i + 1), data: bytes(`d${i}`) }));
        throw new FailedError('many details', many);
      }
      if (message === 'big') throw new OverloadedError('a big detail', [{ id: 1n, data: new Uint8Array(MAX_EXCEPTION_DETAIL_BYTES + 1) }, { id: ID, data: bytes('kept') }]);
      throw new FailedError('with a code', [{ id: ID, data: bytes('no-such-process') }]);
    }
  }
  const pair = await connectPair(() => serve(Store, new Detailed()));
  const store = pair.client.bootstrap(Store);
  const caught = async (message: string): Promise<RpcError> => {
    try {
      await store.fail({ message });
    } catch (e) {
      return e as RpcError;
    }
    throw new Error('fail() did not fail');
  };
  const coded = await caught('code');
  assert.ok(coded instanceof FailedError);
  assert.equal(coded.message, 'with a code');
  assert.equal(new TextDecoder().decode(coded.detail(ID)), 'no-such-process');
  assert.equal(coded.detail(7n), undefined);
  const many = await caught('many');
  assert.equal(many.details.length, MAX_EXCEPTION_DETAILS, 'at most MAX_EXCEPTION_DETAILS are sent');
  assert.deepEqual(many.details.map((d) => d.id), Array.from({ length: MAX_EXCEPTION_DETAILS }, (_, i) => BigInt(i + 1)));
  const big = await caught('big');
  assert.ok(big instanceof OverloadedError);
  assert.deepEqual(big.details.map((d) => d.id), [ID], 'a detail over MAX_EXCEPTION_DETAIL_BYTES is dropped, the others kept');
  assert.equal((await store.held()).count, 0, 'the connection stays usable');
  store.release();
  await pair.close();
});

test('a call cancelled before it returns sends Finish early and leaves no table entries', async () => {
  let finish: () => void = () => {};
  let started = 0;
  class Slow extends StoreImpl {
    override async held(): Promise<{ count: number }> {
      started++;
      await new Promise<void>((r) => (finish = r));
      return { count: 1 };
    }
  }
  const pair = await connectPair(() => serve(Store, new Slow()));
  const store = pair.client.bootstrap(Store);
  const p = store.held();
  await eventually('the call reached the server', () => started === 1);
  p.release();
  await assert.rejects(Promise.resolve(p.then()), /canceled/);
  finish();
  await eventually('both sides forgot the call', () => pair.client.stats().questions === 0 && pair.server.stats().answers <= 1);
  assert.equal((await store.blob({ size: 3 })).data.byteLength, 3);
  store.release();
  await pair.close();
});

test('losing the connection mid-call rejects the call and breaks imported capabilities with disconnected', async () => {
  let reached: () => void = () => {};
  const inCall = new Promise<void>((r) => (reached = r));
  class Hang extends StoreImpl {
    override held(): Promise<{ count: number }> {
      reached();
      return new Promise(() => {});
    }
  }
  const pair = await connectPair(() => serve(Store, new Hang()));
  const store = pair.client.bootstrap(Store);
  const c = (await store.counter({ start: 1n })).counter;
  const pending = store.held();
  await inCall;
  pair.server.close();
  await assert.rejects(Promise.resolve(pending.then()), (e: unknown) => e instanceof DisconnectedError && e.type === 'disconnected');
  await assert.rejects(Promise.resolve(c.increment({ by: 1n }).then()), DisconnectedError);
  await assert.rejects(Promise.resolve(store.held().then()), DisconnectedError);
  assert.equal(pair.client.isOpen, false);
  c.release();
  store.release();
  await pair.close();
});

test('10,000 concurrent calls on one connection all complete', async () => {
  const pair = await connectPair(() => serve(Store, new StoreImpl()));
  const store = pair.client.bootstrap(Store);
  const p = store.counter({ start: 0n });
  const calls = Array.from({ length: 10000 }, () => p.counter.increment({ by: 1n }));
  const values = (await Promise.all(calls)).map((r) => Number(r.value)).sort((a, b) => a - b);
  assert.equal(values.length, 10000);
  assert.ok(values.every((v, i) => v === i + 1));
  p.release();
  store.release();
  await pair.close();
});

test('more outstanding calls than the limit fail with overloaded instead of queueing without end', async () => {
  const pair = await connectPair(() => serve(Store, new StoreImpl()));
  const { Connection } = await import('../../src/rpc/conn.js');
  const { connectTcp } = await import('../../src/rpc/transport/tcp.js');
  const limited = new Connection(await connectTcp('127.0.0.1', pair.listener.port), { limits: { maxQuestions: 10 } });
  const store = limited.bootstrap(Store); // question 1 of 10
  const calls = Array.from({ length: 12 }, () => Promise.resolve(store.held().then()));
  const settled = await Promise.allSettled(calls);
  const overloaded = settled.filter((s) => s.status === 'rejected' && s.reason instanceof OverloadedError).length;
  assert.ok(overloaded >= 2, `expected at least 2 overloaded rejections, got ${overloaded}`);
  assert.equal((await store.held()).count, 0);
  store.release();
  limited.close();
  await pair.close();
});

test('after every interop check, both sides hold nothing but the bootstrap capability (no leaks)', async () => {
  const { runChecks } = await import('../../tools/interop/checks.js');
  const pair = await connectPair(() => serve(Store, new StoreImpl()));
  const store = pair.client.bootstrap(Store);
  const lines: string[] = [];
  const results = await runChecks(store, (l) => lines.push(l));
  assert.deepEqual(results.filter((r) => !r.ok), [], lines.join('\n'));
  await eventually('tables back to the bootstrap alone', () => {
    const c = pair.client.stats();
    const s = pair.server.stats();
    return c.questions === 0 && c.imports === 1 && c.exports === 0 && c.embargoes === 0 && s.answers === 0 && s.exports === 1 && s.imports === 0;
  });
  store.release();
  await pair.close();
});

test('a broken capability in results travels as a promise resolved to its exception', async () => {
  class BrokenStore extends StoreImpl {
    override counter(): { counter: Counter$Client } {
      const c = serve(Counter, new CounterImpl(0n));
      c.release(); // returning a released reference hands over a broken capability
      return { counter: c };
    }
  }
  const pair = await connectPair(() => serve(Store, new BrokenStore()));
  const store = pair.client.bootstrap(Store);
  const c = (await store.counter({ start: 0n })).counter;
  await assert.rejects(Promise.resolve(c.increment({ by: 1n }).then()), /capability was released/);
  await assert.rejects(c.whenResolved(), /capability was released/);
  c.release();
  store.release();
  await pair.close();
});
