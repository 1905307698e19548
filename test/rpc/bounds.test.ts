// Every bound the engine keeps against a hostile or slow peer (src/rpc/README.md, "Bounds"), each
// against the attack it is for, over a real unix socket where the socket matters: a client that
// never reads its replies, one that reads slowly, a frame that stops half way, many half-sent frames
// across connections, and floods of calls and exports. What is held is read from the engine's own
// counters (queued reply bytes, budget in use, table sizes), never from RSS or timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, type ConnectionOptions } from '../../src/rpc/conn.js';
import { serve } from '../../src/rpc/client.js';
import { OverloadedError } from '../../src/rpc/errors.js';
import { FrameDecoder, PARTIAL_FRAME_ALLOWANCE, PartialFrameBudget, encodeFrame } from '../../src/rpc/transport/framing.js';
import { memoryPair } from '../../src/rpc/transport/memory.js';
import { socketByteStream } from '../../src/rpc/transport/socket.js';
import { StreamTransport, type StreamTransportOptions } from '../../src/rpc/transport/stream.js';
import { TransportLimitError, type ByteStream, type Transport } from '../../src/rpc/transport/types.js';
import { connectUnix, listenUnix } from '../../src/rpc/transport/unix.js';
import { WireReader } from '../../src/rpc/wire.js';
import * as rpc from '../../src/capnp-gen/rpc.layout.js';
import { Counter, Store, type Counter$Client, type Store$Client, type Store$Server } from '../../src/capnp-gen/interop.rpc.js';
import { CounterImpl, StoreImpl } from '../../tools/interop/store.js';
import { connectPair, eventually } from './helpers.js';

const KiB = 1024;
const VALUE_BYTES = 16 * KiB;
/** One reply to get() of a VALUE_BYTES value, with its framing and headers: a little more than the value. */
const REPLY_BYTES = VALUE_BYTES + 256;

/** A Store that counts its disposals (the last reference to it, local or remote, went). */
class CountedStore extends StoreImpl {
  static disposed = 0;
  [Symbol.dispose](): void {
    CountedStore.disposed++;
  }
}

interface Served {
  conn: Connection;
  transport: StreamTransport;
}

/** A Store server on a fresh unix socket, with the given transport bounds; `served` lists its connections in order. */
async function unixServer(options: StreamTransportOptions, connOptions: ConnectionOptions = {}, makeStore: () => Store$Server = () => new CountedStore()) {
  const dir = mkdtempSync(join(tmpdir(), 'ww-rpc-bounds-'));
  const path = join(dir, 'rpc.sock');
  const served: Served[] = [];
  const listener = await listenUnix(
    path,
    (t) => {
      const store = serve(Store, makeStore());
      served.push({ conn: new Connection(t, { ...connOptions, bootstrap: store }), transport: t as StreamTransport });
      store.release(); // the connection holds the only reference: losing it disposes the store
    },
    options,
  );
  return {
    path,
    served,
    budget: listener.partialFrameBudget,
    async close(): Promise<void> {
      for (const s of served) s.conn.close();
      await listener.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A raw socket to `path` that reads nothing at all (it buffers what the OS hands it up to its high-water mark, then stops). */
async function rawSocket(path: string): Promise<net.Socket> {
  const socket = net.connect(path);
  await once(socket, 'connect');
  return socket;
}

/** The bytes our own engine sends for: bootstrap, then the calls `makeCalls` makes on it (pipelined). */
async function clientBytes(makeCalls: (store: Store$Client) => void): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const capture: ByteStream = { write: (c) => void chunks.push(c.slice()), onData() {}, onEnd() {}, end() {} };
  const conn = new Connection(new StreamTransport(capture));
  const store = conn.bootstrap(Store);
  makeCalls(store);
  await new Promise((r) => setImmediate(r)); // the transport writes at the end of the turn
  const bytes = Buffer.concat(chunks);
  conn.close();
  return bytes;
}

/** A well-behaved client of `path`: stores a value, reads it back. */
async function wellBehavedRoundTrip(path: string): Promise<void> {
  const conn = new Connection(await connectUnix(path));
  const store = conn.bootstrap(Store);
  await store.put({ key: 'mine', value: new Uint8Array(100).fill(3) });
  const { value } = await store.get({ key: 'mine' });
  assert.equal(value.byteLength, 100);
  store.release();
  conn.close();
}

/** The reason of the first Abort among the messages framed in `bytes` (what a raw peer received). */
function abortReason(bytes: Uint8Array): string | null {
  let reason: string | null = null;
  new FrameDecoder((segments) => {
    const r = new WireReader(segments, 1 << 20);
    const root = r.root();
    if (reason === null && r.u16(root, rpc.Message.discriminant) === rpc.Message_Which.abort) {
      reason = r.textField(r.structField(root, rpc.Message.abort) ?? { s: 0, d: 0, dl: 0, p: 0, pc: 0 }, rpc.Exception.reason) ?? '';
    }
  }).push(bytes);
  return reason;
}

/** Everything a raw socket receives until the other side closes it. */
function receivedUntilClose(socket: net.Socket): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => socket.on('close', () => resolve(Buffer.concat(chunks))));
}

/** A frame header (one segment) declaring `bodyBytes` bytes. */
function header(bodyBytes: number): Uint8Array {
  const h = new Uint8Array(8);
  new DataView(h.buffer).setUint32(4, bodyBytes / 8, true);
  return h;
}

function assertFreed(conn: Connection): void {
  const s = conn.stats();
  assert.deepEqual(
    { questions: s.questions, answers: s.answers, callsInFlight: s.callsInFlight, exports: s.exports, imports: s.imports, embargoes: s.embargoes },
    { questions: 0, answers: 0, callsInFlight: 0, exports: 0, imports: 0, embargoes: 0 },
  );
}

// ---------------------------------------------------------------------------------------------
// Replies queued for a peer

test('a client that pipelines 3,000 calls and never reads is cut off past maxQueuedBytes; its state is freed; another client is served', async () => {
  // Reading is never paused here (pauseReadingAbove: Infinity), so every call is read and answered:
  // the bound alone has to stop the replies from piling up.
  const maxQueuedBytes = 256 * KiB;
  const server = await unixServer({ maxQueuedBytes, pauseReadingAbove: Infinity });
  try {
    const disposedBefore = CountedStore.disposed;
    const attack = await clientBytes((store) => {
      store.put({ key: 'k', value: new Uint8Array(VALUE_BYTES).fill(1) });
      for (let i = 0; i < 3000; i++) store.get({ key: 'k' });
    });
    const raw = await rawSocket(server.path);
    raw.write(attack);
    await eventually('the server accepted the attacker', () => server.served.length === 1);
    const { conn, transport } = server.served[0];
    const why = await conn.closed();
    assert.match(why?.message ?? '', /connection aborted: the peer did not read its replies: \d+ bytes were queued for it .*\(the bound is 262144, maxQueuedBytes\)/);
    // Held at most: the bound behind the reply being written, that reply, the one that crossed the bound, the Abort.
    const peak = transport.stats().peakQueuedReplyBytes;
    assert.ok(peak <= maxQueuedBytes + 2 * REPLY_BYTES + KiB, `peak of ${peak} queued reply bytes`);
    assert.ok(peak > maxQueuedBytes, 'the bound was reached (the attack was real)');
    assertFreed(conn);
    await eventually('the attacker’s bootstrap store was disposed', () => CountedStore.disposed === disposedBefore + 1);
    await wellBehavedRoundTrip(server.path);
    raw.destroy();
  } finally {
    await server.close();
  }
});

test('a client that never reads makes the server stop reading it at pauseReadingAbove: it holds no more, and is freed when it leaves', async () => {
  const pauseReadingAbove = 128 * KiB;
  const server = await unixServer({ maxQueuedBytes: 1024 * KiB, pauseReadingAbove });
  try {
    const disposedBefore = CountedStore.disposed;
    const attack = await clientBytes((store) => {
      store.put({ key: 'k', value: new Uint8Array(VALUE_BYTES).fill(1) });
      for (let i = 0; i < 3000; i++) store.get({ key: 'k' });
    });
    const raw = await rawSocket(server.path);
    raw.write(attack);
    await eventually('the server accepted the attacker', () => server.served.length === 1);
    const { conn, transport } = server.served[0];
    await eventually('the server stopped reading the attacker', () => transport.stats().readingPaused);
    // While paused, a well-behaved client is served, and the attacker's calls are not read.
    await wellBehavedRoundTrip(server.path);
    const stats = transport.stats();
    assert.ok(stats.readingPaused);
    assert.ok(stats.peakQueuedReplyBytes <= pauseReadingAbove + REPLY_BYTES, `peak of ${stats.peakQueuedReplyBytes} queued reply bytes`);
    assert.ok(conn.stats().answers < 3001, `only the calls read before the pause were answered (${conn.stats().answers})`);
    assert.equal(conn.isOpen, true, 'a peer below maxQueuedBytes is slowed down, not cut off');
    // The attacker leaves without reading: everything it made us hold goes.
    raw.destroy();
    await conn.closed();
    assertFreed(conn);
    await eventually('the attacker’s bootstrap store was disposed', () => CountedStore.disposed === disposedBefore + 1);
  } finally {
    await server.close();
  }
});

test('a client that reads slowly gets all 2,000 pipelined replies: reading pauses, the queue stays small, nobody is cut off', async () => {
  const pauseReadingAbove = 128 * KiB;
  const server = await unixServer({ maxQueuedBytes: 512 * KiB, pauseReadingAbove });
  try {
    const socket = net.connect(server.path);
    await once(socket, 'connect');
    // A reader that takes a break after every chunk it gets.
    const inner = socketByteStream(socket);
    const slow: ByteStream = {
      ...inner,
      onData(handler) {
        inner.onData((chunk) => {
          handler(chunk);
          socket.pause();
          setTimeout(() => socket.resume(), 1);
        });
      },
    };
    const conn = new Connection(new StreamTransport(slow));
    const store = conn.bootstrap(Store);
    await store.put({ key: 'k', value: new Uint8Array(VALUE_BYTES).fill(7) });
    const replies = await Promise.all(Array.from({ length: 2000 }, () => store.get({ key: 'k' })));
    assert.equal(replies.length, 2000);
    assert.ok(replies.every((r) => r.value.byteLength === VALUE_BYTES && r.value[VALUE_BYTES - 1] === 7));
    const served = server.served[0];
    assert.equal(served.conn.isOpen, true);
    const peak = served.transport.stats().peakQueuedReplyBytes;
    assert.ok(peak <= pauseReadingAbove + REPLY_BYTES, `peak of ${peak} queued reply bytes`);
    store.release();
    conn.close();
  } finally {
    await server.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Partly received frames

test('a header that claims 64 MiB holds only the bytes that arrived, growing with them', () => {
  const budget = new PartialFrameBudget(64 * 1024 * KiB);
  const d = new FrameDecoder(() => assert.fail('no frame is complete'), undefined, budget);
  d.push(header(64 * 1024 * KiB - 8));
  assert.equal(d.heldBytes, 0, 'the header alone allocates nothing');
  d.push(new Uint8Array(100));
  assert.ok(d.heldBytes <= PARTIAL_FRAME_ALLOWANCE, `${d.heldBytes} bytes held for 100 received`);
  assert.equal(budget.usedBytes, 0, 'the first bytes of a frame are within the allowance');
  let received = 100;
  for (let i = 0; i < 16; i++) {
    d.push(new Uint8Array(64 * KiB));
    received += 64 * KiB;
    assert.ok(d.heldBytes <= 2 * received, `${d.heldBytes} bytes held for ${received} received`);
    assert.equal(budget.usedBytes, d.heldBytes - PARTIAL_FRAME_ALLOWANCE, 'the budget counts what is held past the allowance');
  }
  d.dispose();
  assert.equal(budget.usedBytes, 0, 'disposing gives the budget back');
});

test('frames up to the allowance never draw on the budget, even a spent one; past it a frame is refused instead of growing', () => {
  const budget = new PartialFrameBudget(256 * KiB);
  const hog = new FrameDecoder(() => {}, undefined, budget);
  hog.push(header(256 * KiB + PARTIAL_FRAME_ALLOWANCE));
  hog.push(new Uint8Array(256 * KiB + PARTIAL_FRAME_ALLOWANCE - 8));
  // Past half of it, a frame holds its whole buffer: the budget is spent though 8 bytes are missing.
  assert.equal(budget.usedBytes, 256 * KiB, 'all of the budget is spent on a frame 8 bytes short');
  // A 60 KiB message in 1000-byte pieces: within the allowance, delivered whole.
  const got: number[] = [];
  const d = new FrameDecoder((segs) => got.push(segs[0].byteLength), undefined, budget);
  const frame = Buffer.concat(encodeFrame([new Uint8Array(60 * KiB).fill(9)]));
  for (let i = 0; i < frame.byteLength; i += 1000) d.push(frame.subarray(i, i + 1000));
  assert.deepEqual(got, [60 * KiB]);
  // A bigger one grows past the allowance into the spent budget: refused, and nothing of it kept.
  const big = new FrameDecoder(() => {}, undefined, budget);
  big.push(header(128 * KiB));
  big.push(new Uint8Array(PARTIAL_FRAME_ALLOWANCE - 1));
  assert.throws(
    () => big.push(new Uint8Array(1)), // half of it: its whole buffer would pass the allowance
    (e: unknown) => e instanceof TransportLimitError && e.limit === 'partial-frame-budget' && /^a message of 131072 bytes does not fit/.test(e.message),
  );
  assert.equal(big.heldBytes, 0);
  hog.dispose();
  assert.equal(budget.usedBytes, 0);
  // A header that could never fit is refused at once, before a byte of its body.
  assert.throws(() => new FrameDecoder(() => {}, undefined, budget).push(header(4096 * KiB)), /a message of 4194304 bytes is larger than the budget for partly received messages \(262144 bytes\)$/);
});

test('a peer that sends part of a frame and then nothing is cut off after partialFrameTimeoutMs, with an Abort that says so', async () => {
  const server = await unixServer({ partialFrameTimeoutMs: 100 });
  try {
    const raw = await rawSocket(server.path);
    const received = receivedUntilClose(raw);
    raw.write(header(1024 * KiB));
    raw.write(new Uint8Array(1000));
    const reason = abortReason(await received);
    assert.equal(reason, 'the peer sent 1000 of 1048576 bytes of a message and nothing more for 100 ms (partialFrameTimeoutMs)');
    const { conn, transport } = server.served[0];
    assert.match((await conn.closed())?.message ?? '', /connection aborted: the peer sent 1000 of 1048576 bytes/);
    assert.equal(transport.stats().partialFrameBytes, 0);
    assert.equal(server.budget?.usedBytes, 0);
    await wellBehavedRoundTrip(server.path);
  } finally {
    await server.close();
  }
});

test('many connections holding partial frames share one budget: past it a frame is refused with an Abort; the others and a good client carry on', async () => {
  const limit = 1024 * KiB;
  const budget = new PartialFrameBudget(limit);
  const server = await unixServer({ partialFrameBudget: budget });
  try {
    const attackers: { raw: net.Socket; received: Promise<Uint8Array>; served: Served }[] = [];
    let refused = 0;
    for (let i = 0; i < 6; i++) {
      const raw = await rawSocket(server.path);
      const received = receivedUntilClose(raw);
      await eventually('the server accepted the connection', () => server.served.length === i + 1);
      const served = server.served[i];
      // 1 MiB announced, 320 KiB sent, the rest never.
      raw.write(header(1024 * KiB));
      raw.write(new Uint8Array(320 * KiB).fill(i));
      await eventually('the bytes are held or refused', () => served.transport.stats().partialFrameBytes >= 320 * KiB || !served.conn.isOpen);
      assert.ok(budget.usedBytes <= limit, `${budget.usedBytes} bytes of a ${limit} byte budget in use`);
      if (!served.conn.isOpen) refused++;
      attackers.push({ raw, received, served });
    }
    assert.ok(refused >= 1, 'the budget refused some frames');
    assert.ok(refused < 6, 'the budget held some frames');
    for (const a of attackers) {
      if (a.served.conn.isOpen) continue;
      assert.match(abortReason(await a.received) ?? '', /^a message of 1048576 bytes does not fit in the budget for partly received messages: \d+ of 1048576 bytes are held/);
      assert.equal(a.served.transport.stats().partialFrameBytes, 0);
    }
    // The budget is spent, yet a good client's messages (even those that straddle reads) go through.
    await wellBehavedRoundTrip(server.path);
    for (const a of attackers) a.raw.destroy();
    await eventually('every held frame was dropped', () => budget.usedBytes === 0);
  } finally {
    await server.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Calls, answers, exports

test('calls past maxCallsInFlight are answered overloaded; once some return, calls run again', async () => {
  const waiting: (() => void)[] = [];
  class SlowStore extends StoreImpl {
    override held(): Promise<{ count: number }> {
      return new Promise((resolve) => waiting.push(() => resolve({ count: 0 })));
    }
  }
  const pair = await connectPair(() => serve(Store, new SlowStore()), { limits: { maxCallsInFlight: 5 } });
  try {
    const store = pair.client.bootstrap(Store);
    const settling = Promise.allSettled(Array.from({ length: 8 }, () => Promise.resolve(store.held().then())));
    await eventually('five calls running', () => waiting.length === 5);
    assert.equal(pair.server.stats().callsInFlight, 5);
    for (const release of waiting.splice(0)) release();
    const settled = await settling;
    const refused = settled.filter((s) => s.status === 'rejected');
    assert.equal(refused.length, 3);
    for (const r of refused) {
      const e = (r as PromiseRejectedResult).reason;
      assert.ok(e instanceof OverloadedError, String(e));
      assert.match(e.message, /^the peer already has 5 calls running here \(the bound is 5, maxCallsInFlight\): retry when some have returned$/);
    }
    assert.equal(pair.server.stats().callsInFlight, 0);
    const again = Promise.resolve(store.held().then());
    await eventually('the next call runs', () => waiting.length === 1);
    waiting[0]();
    assert.equal((await again).count, 0);
    assert.equal(pair.server.isOpen, true);
    store.release();
  } finally {
    await pair.close();
  }
});

/** A client Connection over `t` whose Finish messages are swallowed: every answer stays on the server. */
function clientThatNeverFinishes(t: Transport): Connection {
  const noFinish: Transport = {
    send(segments, reply) {
      const r = new WireReader(segments, 1 << 20);
      if (r.u16(r.root(), rpc.Message.discriminant) !== rpc.Message_Which.finish) t.send(segments, reply);
    },
    onMessage: (h) => t.onMessage(h),
    onClose: (h) => t.onClose(h),
    close: () => t.close(),
  };
  return new Connection(noFinish);
}

test('a peer that never sends Finish is aborted at maxAnswers', async () => {
  const [a, b] = memoryPair();
  const server = new Connection(a, { bootstrap: serve(Store, new StoreImpl()), limits: { maxAnswers: 20 } });
  const client = clientThatNeverFinishes(b);
  const store = client.bootstrap(Store);
  const settled = await Promise.allSettled(Array.from({ length: 30 }, async () => await store.held()));
  assert.ok(settled.some((s) => s.status === 'fulfilled'), 'the first calls were answered');
  assert.match((await server.closed())?.message ?? '', /the peer holds 20 answers it has not finished \(the bound is 20, maxAnswers\): it must send Finish/);
  assert.match((await client.closed())?.message ?? '', /peer aborted the connection: the peer holds 20 answers/);
  assertFreed(server);
});

test('an answer waiting for its Finish keeps no data of results that hold no capability', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let returned: WeakRef<Uint8Array> | null = null;
  class Blobs extends StoreImpl {
    override blob({ size }: { size: number }): { data: Uint8Array } {
      const data = new Uint8Array(size).fill(5);
      returned = new WeakRef(data);
      return { data };
    }
  }
  const [a, b] = memoryPair();
  const server = new Connection(a, { bootstrap: serve(Store, new Blobs()) });
  const client = clientThatNeverFinishes(b);
  const store = client.bootstrap(Store);
  const { data } = await store.blob({ size: 1024 * KiB });
  assert.equal(data.byteLength, 1024 * KiB);
  assert.equal(server.stats().answers, 2, 'the bootstrap and the blob call wait for a Finish that never comes');
  await new Promise((r) => setImmediate(r));
  gc();
  assert.equal(returned!.deref(), undefined, 'the 1 MiB result is not kept for the answer');
  store.release();
  client.close();
  server.close();
});

test('a call whose results would export past maxExports fails with overloaded; after a release, exports work again', async () => {
  let disposed = 0;
  class Counters extends StoreImpl {
    override counter({ start }: { start: bigint }): { counter: CounterImpl } {
      return { counter: new CounterImpl(start, () => disposed++) };
    }
  }
  // The bootstrap Store is one export; two counters fill the bound of 3.
  const pair = await connectPair(() => serve(Store, new Counters()), { limits: { maxExports: 3 } });
  try {
    const store = pair.client.bootstrap(Store);
    const first = (await store.counter({ start: 1n })).counter;
    const second = (await store.counter({ start: 2n })).counter;
    await assert.rejects(
      Promise.resolve(store.counter({ start: 3n }).then()),
      (e: unknown) => e instanceof OverloadedError && /^could not send results: this would export 4 capabilities to the peer \(the bound is 3, maxExports\): the peer must release some first$/.test(e.message),
    );
    await eventually('the refused counter was disposed', () => disposed === 1);
    assert.equal(pair.server.stats().exports, 3);
    first.release();
    await eventually('the released export is gone', () => pair.server.stats().exports === 2);
    const third = (await store.counter({ start: 3n })).counter;
    assert.equal((await third.increment({ by: 1n })).value, 4n);
    assert.equal((await second.increment({ by: 1n })).value, 3n);
    third.release();
    second.release();
    store.release();
  } finally {
    await pair.close();
  }
});

test('a promise we exported that resolves to a capability past maxExports resolves to the refusal', async () => {
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  const slow = serve(Counter, {
    increment: ({ by }: { by: bigint }) => ({ value: by }),
    async self() {
      await gate;
      return { counter: new CounterImpl(100n) };
    },
  });
  class PromiseStore extends StoreImpl {
    override counter(): { counter: Counter$Client } {
      return { counter: slow.self().counter.dup() }; // a promise: a local call's pipelined capability
    }
  }
  // The bootstrap Store and the promise fill the bound of 2; what the promise resolves to would be a third.
  const pair = await connectPair(() => serve(Store, new PromiseStore()), { limits: { maxExports: 2 } });
  try {
    const store = pair.client.bootstrap(Store);
    const c = (await store.counter({ start: 0n })).counter;
    open();
    await assert.rejects(c.whenResolved(), (e: unknown) => e instanceof OverloadedError && /\(the bound is 2, maxExports\)/.test(e.message));
    await assert.rejects(Promise.resolve(c.increment({ by: 1n }).then()), OverloadedError);
    assert.equal(pair.server.isOpen, true);
    c.release();
    store.release();
  } finally {
    slow.release();
    await pair.close();
  }
});
