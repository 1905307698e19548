// Protocol corners driven by a scripted peer speaking raw rpc.capnp messages to a Connection:
// Unimplemented echoes, Abort on violations, Return variants, releaseParamCaps, GC release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type CapIO, writeStructAt } from '../../src/rpc/codec.js';
import { Connection } from '../../src/rpc/conn.js';
import { serve } from '../../src/rpc/client.js';
import { FailedError, RpcError } from '../../src/rpc/errors.js';
import { memoryPair } from '../../src/rpc/transport/memory.js';
import type { Transport } from '../../src/rpc/transport/types.js';
import { type StructBuilder, type StructRef, WireBuilder, WireReader, elementOf, pointerOf } from '../../src/rpc/wire.js';
import * as rpc from '../../src/capnp-gen/rpc.layout.js';
import { Counter, Store, type Counter$Server } from '../../src/capnp-gen/interop.rpc.js';
import { CounterImpl, StoreImpl } from '../../tools/interop/store.js';
import { eventually } from './helpers.js';

/** The other end of a Connection, written by hand (every offset from the generated rpc.capnp layout). */
class RawPeer {
  readonly received: { which: rpc.Message_Which; r: WireReader; root: StructRef }[] = [];
  closed = false;
  constructor(readonly t: Transport) {
    t.onMessage((segments) => {
      const r = new WireReader(segments, 1 << 20);
      const root = r.root();
      this.received.push({ which: r.u16(root, rpc.Message.discriminant), r, root });
    });
    t.onClose(() => (this.closed = true));
  }

  /** Sends a Message whose union is `which`, its body (of the given size) at `pointer`, filled by `fill`. */
  send(which: rpc.Message_Which, pointer: number, dataWords: number, pointers: number, fill: (b: WireBuilder, s: StructBuilder) => void): void {
    const b = new WireBuilder();
    const root = b.initRoot(rpc.Message.dataWords, rpc.Message.pointers);
    b.setU16(root, rpc.Message.discriminant, which);
    fill(b, b.initStruct(pointerOf(root, pointer), dataWords, pointers));
    this.t.send(b.segments().map((x) => x.slice()));
  }

  /** The next received Message whose union is `which`, with its body (at `pointer`). */
  async next(which: rpc.Message_Which, pointer: number): Promise<{ r: WireReader; body: StructRef }> {
    await eventually(`a message of kind ${which}`, () => this.received.some((m) => m.which === which), 3000);
    const i = this.received.findIndex((m) => m.which === which);
    const { r, root } = this.received.splice(i, 1)[0];
    return { r, body: r.structField(root, pointer) ?? { s: 0, d: 0, dl: 0, p: 0, pc: 0 } };
  }

  bootstrap(questionId: number): void {
    this.send(rpc.Message_Which.bootstrap, rpc.Message.bootstrap, rpc.Bootstrap.dataWords, rpc.Bootstrap.pointers, (b, s) =>
      b.setU32(s, rpc.Bootstrap.questionId, questionId),
    );
  }

  return(answerId: number, fill: (b: WireBuilder, ret: StructBuilder) => void): void {
    this.send(rpc.Message_Which.return, rpc.Message.return, rpc.Return.dataWords, rpc.Return.pointers, (b, ret) => {
      b.setU32(ret, rpc.Return.answerId, answerId);
      fill(b, ret);
    });
  }

  call(questionId: number, fill: (b: WireBuilder, call: StructBuilder) => void): void {
    this.send(rpc.Message_Which.call, rpc.Message.call, rpc.Call.dataWords, rpc.Call.pointers, (b, call) => {
      b.setU32(call, rpc.Call.questionId, questionId);
      fill(b, call);
    });
  }

  nextReturn = () => this.next(rpc.Message_Which.return, rpc.Message.return);
  nextCall = () => this.next(rpc.Message_Which.call, rpc.Message.call);
  nextAbort = () => this.next(rpc.Message_Which.abort, rpc.Message.abort);
  nextFinish = () => this.next(rpc.Message_Which.finish, rpc.Message.finish);
  nextBootstrap = () => this.next(rpc.Message_Which.bootstrap, rpc.Message.bootstrap);
  nextDisembargo = () => this.next(rpc.Message_Which.disembargo, rpc.Message.disembargo);
}

const noCaps: CapIO = {
  read: () => null,
  write: () => {
    throw new Error('no capabilities in these params');
  },
};

/** An Exception at pointer `ptr`. */
function writeException(b: WireBuilder, ptr: number, type: rpc.Exception_Type, reason: string): void {
  const ex = b.initStruct(ptr, rpc.Exception.dataWords, rpc.Exception.pointers);
  b.setU16(ex, rpc.Exception.type, type);
  b.setText(pointerOf(ex, rpc.Exception.reason), reason);
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
  peer.send(rpc.Message_Which.provide, rpc.Message.provide, rpc.Provide.dataWords, rpc.Provide.pointers, (b, s) => b.setU32(s, rpc.Provide.questionId, 77));
  const m = await peer.next(rpc.Message_Which.unimplemented, rpc.Message.unimplemented);
  assert.equal(m.r.u16(m.body, rpc.Message.discriminant), rpc.Message_Which.provide, 'the echo carries the original message');
  const inner = m.r.structField(m.body, rpc.Message.provide);
  assert.ok(inner);
  assert.equal(m.r.u32(inner, rpc.Provide.questionId), 77);
  assert.equal(conn.isOpen, true);
  conn.close();
});

test('a Finish for a question that does not exist gets Abort and a close', async () => {
  const { conn, peer } = serverWithRawPeer();
  peer.send(rpc.Message_Which.finish, rpc.Message.finish, rpc.Finish.dataWords, rpc.Finish.pointers, (b, s) => b.setU32(s, rpc.Finish.questionId, 12345));
  const m = await peer.nextAbort();
  assert.match(m.r.textField(m.body, rpc.Exception.reason) ?? '', /Finish for question 12345/);
  await eventually('connection closed', () => !conn.isOpen);
});

test('a Release of more references than were given gets Abort', async () => {
  const { conn, peer } = serverWithRawPeer();
  peer.bootstrap(0);
  await peer.nextReturn();
  peer.send(rpc.Message_Which.release, rpc.Message.release, rpc.Release.dataWords, rpc.Release.pointers, (b, s) => {
    b.setU32(s, rpc.Release.id, 0);
    b.setU32(s, rpc.Release.referenceCount, 5);
  });
  const m = await peer.nextAbort();
  assert.match(m.r.textField(m.body, rpc.Exception.reason) ?? '', /only 1/);
  await eventually('connection closed', () => !conn.isOpen);
});

/** A Call on the bootstrap answer (promisedAnswer 0) of Store.held(), asking for results to stay (sendResultsTo.yourself). */
function sendHeldCall(peer: RawPeer, questionId: number, yourself: boolean): void {
  peer.call(questionId, (b, s) => {
    b.setU16(s, rpc.Call.methodId, Store.methods.findIndex((m) => m.name === 'held'));
    const sendTo = yourself ? rpc.Call_SendResultsTo_Which.yourself : rpc.Call_SendResultsTo_Which.caller;
    b.setU16(s, rpc.Call_SendResultsTo.discriminant, sendTo);
    b.setU64(s, rpc.Call.interfaceId, Store.id);
    const target = b.initStruct(pointerOf(s, rpc.Call.target), rpc.MessageTarget.dataWords, rpc.MessageTarget.pointers);
    b.setU16(target, rpc.MessageTarget.discriminant, rpc.MessageTarget_Which.promisedAnswer);
    const pa = b.initStruct(pointerOf(target, rpc.MessageTarget.promisedAnswer), rpc.PromisedAnswer.dataWords, rpc.PromisedAnswer.pointers);
    b.setU32(pa, rpc.PromisedAnswer.questionId, 0);
    const payload = b.initStruct(pointerOf(s, rpc.Call.params), rpc.Payload.dataWords, rpc.Payload.pointers);
    b.initStruct(pointerOf(payload, rpc.Payload.content), 0, 0);
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
  peer.bootstrap(0);
  await peer.nextReturn();
  sendHeldCall(peer, 1, true);
  const ret = await peer.nextReturn();
  assert.equal(ret.r.u32(ret.body, rpc.Return.answerId), 1);
  assert.equal(ret.r.u16(ret.body, rpc.Return.discriminant), rpc.Return_Which.resultsSentElsewhere);

  // Now the Connection calls the raw peer, which answers with the results kept above.
  const remote = conn.bootstrap(Store);
  const boot = await peer.nextBootstrap();
  const held = remote.held();
  const call = await peer.nextCall();
  peer.return(call.r.u32(call.body, rpc.Call.questionId), (bb, s) => {
    bb.setU16(s, rpc.Return.discriminant, rpc.Return_Which.takeFromOtherQuestion);
    bb.setU32(s, rpc.Return.takeFromOtherQuestion, 1);
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
  await peer.nextBootstrap();
  const first = remote.held();
  const second = remote.held();
  const c1 = await peer.nextCall();
  const c2 = await peer.nextCall();
  peer.return(c1.r.u32(c1.body, rpc.Call.questionId), (bb, s) => bb.setU16(s, rpc.Return.discriminant, rpc.Return_Which.canceled));
  peer.return(c2.r.u32(c2.body, rpc.Call.questionId), (bb, s) => {
    bb.setU16(s, rpc.Return.discriminant, rpc.Return_Which.exception);
    writeException(bb, pointerOf(s, rpc.Return.exception), rpc.Exception_Type.overloaded, 'busy right now');
  });
  await assert.rejects(Promise.resolve(first.then()), /canceled/);
  await assert.rejects(Promise.resolve(second.then()), (e: unknown) => e instanceof Error && (e as { type?: string }).type === 'overloaded' && /busy right now/.test(e.message));
  // Each Return got its Finish.
  await peer.nextFinish();
  await peer.nextFinish();
  conn.close();
});

test('a malformed exception still settles its call: unreadable details are dropped, an unreadable reason aborts and rejects', { timeout: 10_000 }, async () => {
  const [a, b] = memoryPair();
  const conn = new Connection(a);
  const peer = new RawPeer(b);
  const remote = conn.bootstrap(Store);
  await peer.nextBootstrap();
  const withBadDetails = remote.held();
  const withBadReason = remote.held();
  const c1 = await peer.nextCall();
  const c2 = await peer.nextCall();
  // Exception.details (pointer 2) that is a struct, not a list: the exception arrives without details.
  peer.return(c1.r.u32(c1.body, rpc.Call.questionId), (bb, st) => {
    bb.setU16(st, rpc.Return.discriminant, rpc.Return_Which.exception);
    const ex = bb.initStruct(pointerOf(st, rpc.Return.exception), rpc.Exception.dataWords, rpc.Exception.pointers + 1);
    bb.setText(pointerOf(ex, rpc.Exception.reason), 'failed with odd details');
    bb.initStruct(pointerOf(ex, rpc.Exception.pointers), 1, 0);
  });
  await assert.rejects(Promise.resolve(withBadDetails.then()), (e: unknown) => e instanceof RpcError && e.message === 'failed with odd details' && e.details.length === 0);
  assert.ok(conn.isOpen, 'unreadable details are not a protocol error');
  // A reason that is a struct, not text: the connection aborts, and the call is rejected, not left pending.
  peer.return(c2.r.u32(c2.body, rpc.Call.questionId), (bb, st) => {
    bb.setU16(st, rpc.Return.discriminant, rpc.Return_Which.exception);
    const ex = bb.initStruct(pointerOf(st, rpc.Return.exception), rpc.Exception.dataWords, rpc.Exception.pointers);
    bb.initStruct(pointerOf(ex, rpc.Exception.reason), 1, 0);
  });
  await assert.rejects(Promise.resolve(withBadReason.then()), /malformed exception/);
  conn.close();
});

test('Return with releaseParamCaps releases the capabilities we sent in the params', async () => {
  const [a, b] = memoryPair();
  const conn = new Connection(a);
  const peer = new RawPeer(b);
  const remote = conn.bootstrap(Store);
  await peer.nextBootstrap();
  const mine = serve(Counter, new CounterImpl(0n));
  const p = remote.echo({ counter: mine });
  const call = await peer.nextCall();
  assert.equal(conn.stats().exports, 1, 'the param capability is exported');
  peer.return(call.r.u32(call.body, rpc.Call.questionId), (bb, s) => {
    bb.setBool(s, rpc.Return.releaseParamCaps, true, rpc.Return_Defaults.releaseParamCaps);
    bb.setU16(s, rpc.Return.discriminant, rpc.Return_Which.exception);
    writeException(bb, pointerOf(s, rpc.Return.exception), rpc.Exception_Type.failed, 'no echo today');
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
  await peer.nextBootstrap();
  const seen: bigint[] = [];
  const recorder: Counter$Server = {
    increment: ({ by }) => (seen.push(by), { value: by }),
    self: () => ({ counter: recorder }),
  };
  const mine = serve(Counter, recorder);
  const p = remote.echo({ counter: mine });
  const echoCall = await peer.nextCall();
  const questionId = echoCall.r.u32(echoCall.body, rpc.Call.questionId);
  const params = echoCall.r.structField(echoCall.body, rpc.Call.params)!;
  const capTable = echoCall.r.listField(params, rpc.Payload.capTable)!;
  const desc = echoCall.r.listStruct(capTable, 0);
  assert.equal(echoCall.r.u16(desc, rpc.CapDescriptor.discriminant), rpc.CapDescriptor_Which.senderHosted, 'our counter travels as senderHosted');
  const exportId = echoCall.r.u32(desc, rpc.CapDescriptor.senderHosted);

  void p.counter.increment({ by: 1n }); // through the promise: goes to the peer
  const pipelined = await peer.nextCall();
  const target = pipelined.r.structField(pipelined.body, rpc.Call.target)!;
  assert.equal(pipelined.r.u16(target, rpc.MessageTarget.discriminant), rpc.MessageTarget_Which.promisedAnswer, 'the call targets the promised answer');

  // The peer answers: the result is our own capability (receiverHosted).
  peer.return(questionId, (bb, s) => {
    bb.setBool(s, rpc.Return.releaseParamCaps, false, rpc.Return_Defaults.releaseParamCaps);
    const payload = bb.initStruct(pointerOf(s, rpc.Return.results), rpc.Payload.dataWords, rpc.Payload.pointers);
    const content = bb.initStruct(pointerOf(payload, rpc.Payload.content), 0, 1);
    bb.setCap(pointerOf(content, 0), 0);
    const first = bb.initCompositeList(pointerOf(payload, rpc.Payload.capTable), 1, rpc.CapDescriptor.dataWords, rpc.CapDescriptor.pointers);
    const d = elementOf(first, 0, rpc.CapDescriptor.dataWords, rpc.CapDescriptor.pointers);
    bb.setU16(d, rpc.CapDescriptor.discriminant, rpc.CapDescriptor_Which.receiverHosted);
    bb.setU32(d, rpc.CapDescriptor.receiverHosted, exportId);
  });
  const disembargo = await peer.nextDisembargo();
  const context = disembargo.r.u16(disembargo.body, rpc.Disembargo_Context.discriminant);
  assert.equal(context, rpc.Disembargo_Context_Which.senderLoopback, 'context is senderLoopback');
  const embargoId = disembargo.r.u32(disembargo.body, rpc.Disembargo_Context.senderLoopback);
  const dTarget = disembargo.r.structField(disembargo.body, rpc.Disembargo.target)!;
  assert.equal(disembargo.r.u16(dTarget, rpc.MessageTarget.discriminant), rpc.MessageTarget_Which.promisedAnswer, 'the Disembargo targets the promised answer');

  const later = p.counter.increment({ by: 2n }); // must wait behind the embargo
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [], 'a call made after resolution ran before the embargo lifted');

  // The peer reflects the call it received through the promise back to us, then the Disembargo.
  const increment = Counter.methods.find((m) => m.name === 'increment')!;
  peer.call(0, (bb, s) => {
    bb.setU16(s, rpc.Call.methodId, increment.ordinal);
    bb.setU64(s, rpc.Call.interfaceId, Counter.id);
    const t = bb.initStruct(pointerOf(s, rpc.Call.target), rpc.MessageTarget.dataWords, rpc.MessageTarget.pointers);
    bb.setU32(t, rpc.MessageTarget.importedCap, exportId);
    const payload = bb.initStruct(pointerOf(s, rpc.Call.params), rpc.Payload.dataWords, rpc.Payload.pointers);
    writeStructAt(bb, pointerOf(payload, rpc.Payload.content), increment.params, { by: 1n }, noCaps);
  });
  peer.send(rpc.Message_Which.disembargo, rpc.Message.disembargo, rpc.Disembargo.dataWords, rpc.Disembargo.pointers, (bb, s) => {
    bb.setU16(s, rpc.Disembargo_Context.discriminant, rpc.Disembargo_Context_Which.receiverLoopback);
    bb.setU32(s, rpc.Disembargo_Context.receiverLoopback, embargoId);
    const t = bb.initStruct(pointerOf(s, rpc.Disembargo.target), rpc.MessageTarget.dataWords, rpc.MessageTarget.pointers);
    bb.setU32(t, rpc.MessageTarget.importedCap, exportId);
  });
  assert.equal((await later).value, 2n);
  assert.deepEqual(seen, [1n, 2n], 'calls ran in the order they were made');
  assert.equal(conn.stats().embargoes, 0);
  mine.release();
  conn.close();
});
