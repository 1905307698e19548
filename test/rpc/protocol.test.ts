// Protocol corners driven by a scripted peer speaking raw rpc.capnp messages to a Connection:
// Unimplemented echoes, Abort on violations, Return variants, releaseParamCaps, GC release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Connection } from '../../src/rpc/conn.js';
import { serve } from '../../src/rpc/client.js';
import { FailedError } from '../../src/rpc/errors.js';
import { memoryPair } from '../../src/rpc/transport/memory.js';
import type { Transport } from '../../src/rpc/transport/types.js';
import { type StructBuilder, type StructRef, WireBuilder, WireReader } from '../../src/rpc/wire.js';
import { Counter, Store, type Counter$Server } from '../../src/capnp-gen/interop.rpc.js';
import { CounterImpl, StoreImpl } from '../../tools/interop/store.js';
import { eventually } from './helpers.js';

const TAG = { unimplemented: 0, abort: 1, call: 2, return: 3, finish: 4, resolve: 5, release: 6, bootstrap: 8, provide: 10, disembargo: 13 };

/** The other end of a Connection, written by hand. */
class RawPeer {
  readonly received: { tag: number; r: WireReader; body: StructRef }[] = [];
  closed = false;
  constructor(readonly t: Transport) {
    t.onMessage((segments) => {
      const r = new WireReader(segments, 1 << 20);
      const root = r.root();
      this.received.push({ tag: r.u16(root, 0), r, body: r.structField(root, 0) ?? { s: 0, d: 0, dl: 0, p: 0, pc: 0 } });
    });
    t.onClose(() => (this.closed = true));
  }

  send(tag: number, dataWords: number, ptrs: number, fill: (b: WireBuilder, s: StructBuilder) => void): void {
    const b = new WireBuilder();
    const root = b.initRoot(1, 1);
    b.dv.setUint16(root.d, tag, true);
    const s = b.initStruct(root.p, dataWords, ptrs);
    fill(b, s);
    this.t.send(b.segments().map((x) => x.slice()));
  }

  async next(tag: number): Promise<{ r: WireReader; body: StructRef }> {
    await eventually(`a message with tag ${tag}`, () => this.received.some((m) => m.tag === tag), 3000);
    const i = this.received.findIndex((m) => m.tag === tag);
    return this.received.splice(i, 1)[0];
  }
}

function serverWithRawPeer(): { conn: Connection; peer: RawPeer } {
  const [a, b] = memoryPair();
  const store = serve(Store, new StoreImpl());
  const conn = new Connection(a, { bootstrap: store });
  store.release();
  return { conn, peer: new RawPeer(b) };
}

test('level 3 messages (Provide) are echoed back as Unimplemented and the connection stays up', async () => {
  const { conn, peer } = serverWithRawPeer();
  peer.send(TAG.provide, 1, 2, (b, s) => b.dv.setUint32(s.d, 77, true));
  const m = await peer.next(TAG.unimplemented);
  const inner = m.r.structField(m.body, 0);
  assert.equal(m.r.u16(m.body, 0), TAG.provide, 'the echo carries the original message');
  assert.ok(inner);
  assert.equal(m.r.u32(inner, 0), 77);
  assert.equal(conn.isOpen, true);
  conn.close();
});

test('a Finish for a question that does not exist gets Abort and a close', async () => {
  const { conn, peer } = serverWithRawPeer();
  peer.send(TAG.finish, 1, 0, (b, s) => b.dv.setUint32(s.d, 12345, true));
  const m = await peer.next(TAG.abort);
  assert.match(m.r.textField(m.body, 0) ?? '', /Finish for question 12345/);
  await eventually('connection closed', () => !conn.isOpen);
});

test('a Release of more references than were given gets Abort', async () => {
  const { conn, peer } = serverWithRawPeer();
  peer.send(TAG.bootstrap, 1, 1, (b, s) => b.dv.setUint32(s.d, 0, true));
  await peer.next(TAG.return);
  peer.send(TAG.release, 1, 0, (b, s) => {
    b.dv.setUint32(s.d, 0, true);
    b.dv.setUint32(s.d + 4, 5, true);
  });
  const m = await peer.next(TAG.abort);
  assert.match(m.r.textField(m.body, 0) ?? '', /only 1/);
  await eventually('connection closed', () => !conn.isOpen);
});

/** A Call on the bootstrap answer (promisedAnswer 0) of Store.held(), asking for results to stay (sendResultsTo.yourself). */
function sendHeldCall(peer: RawPeer, questionId: number, yourself: boolean): void {
  peer.send(TAG.call, 3, 3, (b, s) => {
    b.dv.setUint32(s.d, questionId, true);
    b.dv.setUint16(s.d + 4, 8, true); // held @8
    b.dv.setUint16(s.d + 6, yourself ? 1 : 0, true);
    b.dv.setBigUint64(s.d + 8, Store.id, true);
    const target = b.initStruct(s.p, 1, 1);
    b.dv.setUint16(target.d + 4, 1, true); // promisedAnswer
    const pa = b.initStruct(target.p, 1, 1);
    b.dv.setUint32(pa.d, 0, true);
    const payload = b.initStruct(s.p + 8, 0, 2);
    b.initStruct(payload.p, 0, 0);
  });
}

test('sendResultsTo.yourself answers resultsSentElsewhere and keeps the results for takeFromOtherQuestion', async () => {
  // Our Connection is both: a server the raw peer calls (yourself), and a caller whose question the
  // raw peer answers with takeFromOtherQuestion pointing at those kept results.
  const [a, b] = memoryPair();
  const store = serve(Store, new StoreImpl());
  const conn = new Connection(a, { bootstrap: store });
  store.release();
  const peer = new RawPeer(b);
  peer.send(TAG.bootstrap, 1, 1, (bb, s) => bb.dv.setUint32(s.d, 0, true));
  await peer.next(TAG.return);
  sendHeldCall(peer, 1, true);
  const ret = await peer.next(TAG.return);
  assert.equal(ret.r.u32(ret.body, 0), 1);
  assert.equal(ret.r.u16(ret.body, 6), 3, 'Return.resultsSentElsewhere');

  // Now the Connection calls the raw peer, which answers with the results kept above.
  const remote = conn.bootstrap(Store);
  const boot = await peer.next(TAG.bootstrap);
  const held = remote.held();
  const call = await peer.next(TAG.call);
  const questionId = call.r.u32(call.body, 0);
  peer.send(TAG.return, 2, 1, (bb, s) => {
    bb.dv.setUint32(s.d, questionId, true);
    bb.dv.setUint16(s.d + 6, 4, true); // takeFromOtherQuestion
    bb.dv.setUint32(s.d + 8, 1, true);
  });
  assert.equal((await held).count, 0);
  void boot;
  conn.close();
});

test('a canceled Return rejects the call; an exception Return carries type and reason', async () => {
  const [a, b] = memoryPair();
  const conn = new Connection(a);
  const peer = new RawPeer(b);
  const remote = conn.bootstrap(Store);
  await peer.next(TAG.bootstrap);
  const first = remote.held();
  const second = remote.held();
  const c1 = await peer.next(TAG.call);
  const c2 = await peer.next(TAG.call);
  peer.send(TAG.return, 2, 1, (bb, s) => {
    bb.dv.setUint32(s.d, c1.r.u32(c1.body, 0), true);
    bb.dv.setUint16(s.d + 6, 2, true); // canceled
  });
  peer.send(TAG.return, 2, 1, (bb, s) => {
    bb.dv.setUint32(s.d, c2.r.u32(c2.body, 0), true);
    bb.dv.setUint16(s.d + 6, 1, true); // exception
    const ex = bb.initStruct(s.p, 1, 2);
    bb.dv.setUint16(ex.d + 4, 1, true); // overloaded
    bb.setText(ex.p, 'busy right now');
  });
  await assert.rejects(Promise.resolve(first.then()), /canceled/);
  await assert.rejects(Promise.resolve(second.then()), (e: unknown) => e instanceof Error && (e as { type?: string }).type === 'overloaded' && /busy right now/.test(e.message));
  // Each Return got its Finish.
  await peer.next(TAG.finish);
  await peer.next(TAG.finish);
  conn.close();
});

test('Return with releaseParamCaps releases the capabilities we sent in the params', async () => {
  const [a, b] = memoryPair();
  const conn = new Connection(a);
  const peer = new RawPeer(b);
  const remote = conn.bootstrap(Store);
  await peer.next(TAG.bootstrap);
  const mine = serve(Counter, new CounterImpl(0n));
  const p = remote.echo({ counter: mine });
  const call = await peer.next(TAG.call);
  assert.equal(conn.stats().exports, 1, 'the param capability is exported');
  peer.send(TAG.return, 2, 1, (bb, s) => {
    bb.dv.setUint32(s.d, call.r.u32(call.body, 0), true);
    bb.dv.setUint8(s.d + 4, 0); // releaseParamCaps = true (stored XOR default true)
    bb.dv.setUint16(s.d + 6, 1, true);
    const ex = bb.initStruct(s.p, 1, 2);
    bb.setText(ex.p, 'no echo today');
  });
  await assert.rejects(Promise.resolve(p.then()), /no echo today/);
  assert.equal(conn.stats().exports, 0, 'releaseParamCaps dropped the export');
  mine.release();
  conn.close();
});

test('a capability dropped without release() is released by the garbage collector', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const [a, b] = memoryPair();
  const server = new StoreImpl();
  const store = serve(Store, server);
  const serverConn = new Connection(b, { bootstrap: store });
  store.release();
  const conn = new Connection(a);
  const remote = conn.bootstrap(Store);
  await (async () => {
    const r = await remote.hold();
    await r.counter.increment({ by: 1n });
    // r and its counter become unreachable here, never released.
  })();
  assert.equal((await remote.held()).count, 1);
  await eventually(
    'GC to release the forgotten counter',
    async () => {
      gc();
      await new Promise((r) => setImmediate(r));
      return (await remote.held()).count === 0;
    },
    10000,
  );
  remote.release();
  conn.close();
  serverConn.close();
});

test('a pipelined capability keeps working after its call result was dropped and collected', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const [a, b] = memoryPair();
  const store = serve(Store, new StoreImpl());
  const serverConn = new Connection(b, { bootstrap: store });
  store.release();
  const conn = new Connection(a);
  const remote = conn.bootstrap(Store);
  // The call's RemotePromise is unreachable at once; only the pipelined counter is kept.
  const counter = remote.hold().counter;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
  await counter.increment({ by: 2n });
  gc();
  await new Promise((r) => setImmediate(r));
  assert.equal((await counter.increment({ by: 1n })).value, 3n);
  counter.release();
  // The dropped result still holds the counter until the collector finds it (no release() was called on it).
  await eventually('the counter released once the dropped result is collected', async () => {
    gc();
    await new Promise((r) => setImmediate(r));
    return (await remote.held()).count === 0;
  });
  remote.release();
  conn.close();
  serverConn.close();
});

test('`using` releases a capability at the end of its scope', async () => {
  const [a, b] = memoryPair();
  const store = serve(Store, new StoreImpl());
  const serverConn = new Connection(b, { bootstrap: store });
  store.release();
  const conn = new Connection(a);
  const remote = conn.bootstrap(Store);
  {
    using counter = (await remote.hold()).counter;
    await counter.increment({ by: 1n });
    assert.equal((await remote.held()).count, 1);
  }
  await eventually('held back to 0', async () => (await remote.held()).count === 0);
  void FailedError;
  remote.release();
  conn.close();
  serverConn.close();
});

test('embargo: a promise resolving to our own capability holds new calls until the Disembargo echoes back', async () => {
  const [a, b] = memoryPair();
  const conn = new Connection(a);
  const peer = new RawPeer(b);
  const remote = conn.bootstrap(Store);
  await peer.next(TAG.bootstrap);
  const seen: bigint[] = [];
  const recorder: Counter$Server = {
    increment: ({ by }) => (seen.push(by), { value: by }),
    self: () => ({ counter: recorder }),
  };
  const mine = serve(Counter, recorder);
  const p = remote.echo({ counter: mine });
  const echoCall = await peer.next(TAG.call);
  const questionId = echoCall.r.u32(echoCall.body, 0);
  const params = echoCall.r.structField(echoCall.body, 1)!;
  const capTable = echoCall.r.listField(params, 1)!;
  const desc = echoCall.r.listStruct(capTable, 0);
  assert.equal(echoCall.r.u16(desc, 0), 1, 'our counter travels as senderHosted');
  const exportId = echoCall.r.u32(desc, 4);

  void p.counter.increment({ by: 1n }); // through the promise: goes to the peer
  const pipelined = await peer.next(TAG.call);
  const target = pipelined.r.structField(pipelined.body, 0)!;
  assert.equal(pipelined.r.u16(target, 4), 1, 'the call targets the promised answer');

  // The peer answers: the result is our own capability (receiverHosted).
  peer.send(TAG.return, 2, 1, (bb, s) => {
    bb.dv.setUint32(s.d, questionId, true);
    bb.dv.setUint8(s.d + 4, 1); // releaseParamCaps = false
    const payload = bb.initStruct(s.p, 0, 2);
    const content = bb.initStruct(payload.p, 0, 1);
    bb.setCap(content.p, 0);
    const first = bb.initCompositeList(payload.p + 8, 1, 1, 1);
    bb.dv.setUint16(first, 3, true); // receiverHosted
    bb.dv.setUint32(first + 4, exportId, true);
  });
  const disembargo = await peer.next(TAG.disembargo);
  assert.equal(disembargo.r.u16(disembargo.body, 4), 0, 'context is senderLoopback');
  const embargoId = disembargo.r.u32(disembargo.body, 0);
  const dTarget = disembargo.r.structField(disembargo.body, 0)!;
  assert.equal(disembargo.r.u16(dTarget, 4), 1, 'the Disembargo targets the promised answer');

  const later = p.counter.increment({ by: 2n }); // must wait behind the embargo
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [], 'a call made after resolution ran before the embargo lifted');

  // The peer reflects the call it received through the promise back to us, then the Disembargo.
  peer.send(TAG.call, 3, 3, (bb, s) => {
    bb.dv.setUint32(s.d, 0, true);
    bb.dv.setUint16(s.d + 4, 0, true);
    bb.dv.setBigUint64(s.d + 8, Counter.id, true);
    const t = bb.initStruct(s.p, 1, 1);
    bb.dv.setUint32(t.d, exportId, true);
    const payload = bb.initStruct(s.p + 8, 0, 2);
    const content = bb.initStruct(payload.p, 1, 0);
    bb.dv.setBigInt64(content.d, 1n, true);
  });
  peer.send(TAG.disembargo, 1, 1, (bb, s) => {
    bb.dv.setUint32(s.d, embargoId, true);
    bb.dv.setUint16(s.d + 4, 1, true); // receiverLoopback
    const t = bb.initStruct(s.p, 1, 1);
    bb.dv.setUint32(t.d, exportId, true);
  });
  assert.equal((await later).value, 2n);
  assert.deepEqual(seen, [1n, 2n], 'calls ran in the order they were made');
  assert.equal(conn.stats().embargoes, 0);
  mine.release();
  conn.close();
});
