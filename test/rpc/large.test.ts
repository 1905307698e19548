// Large messages: frames assembled from pieces of any size, reads straight into a frame's buffer,
// the bounds refusing oversized frames before allocating, big Data in a segment of its own, and the
// ownership of big Data sent and received (a held value is never overwritten by later messages).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '../../src/rpc/conn.js';
import { serve } from '../../src/rpc/client.js';
import { FrameDecoder, FrameError, PartialFrameBudget, encodeFrame } from '../../src/rpc/transport/framing.js';
import { TransportLimitError } from '../../src/rpc/transport/types.js';
import { connectTcp, listenTcp } from '../../src/rpc/transport/tcp.js';
import { WireBuilder, WireReader, OWN_SEGMENT_BYTES, pointerOf } from '../../src/rpc/wire.js';
import { POOL_IDLE_BYTES, POOL_LARGEST_BYTES, giveBackSegment, segmentPoolIdleBytes, takeSegment } from '../../src/rpc/segment-pool.js';
import { Store } from '../../src/capnp-gen/interop.rpc.js';
import { StoreImpl } from '../../tools/interop/store.js';

const KiB = 1024;

function random(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const segmentsOf = (): Uint8Array[] => [random(16, 1), random(300 * KiB, 2), random(100 * KiB, 3)];

function frameBytes(segments: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(encodeFrame(segments)));
}

/** Pushes `frame` in pieces of the sizes given (cycling); returns the frames delivered. */
function decodeInPieces(frame: Uint8Array, sizes: number[], budget: PartialFrameBudget | null = null): { got: Uint8Array[][]; d: FrameDecoder } {
  const got: Uint8Array[][] = [];
  const d = new FrameDecoder((segs) => got.push(segs.map((s) => new Uint8Array(s))), undefined, budget);
  for (let at = 0, i = 0; at < frame.byteLength; i++) {
    const n = sizes[i % sizes.length];
    d.push(frame.subarray(at, at + n));
    at += n;
  }
  return { got, d };
}

test('a big frame assembles right from 1-byte pieces, mixed pieces, 64 KiB pieces and one piece; nothing is held after', () => {
  const segments = segmentsOf();
  const frame = frameBytes(segments);
  for (const sizes of [[1], [1, 7, 1000, 5000, 65536, 3], [64 * KiB], [frame.byteLength]]) {
    const budget = new PartialFrameBudget(64 * 1024 * KiB);
    const { got, d } = decodeInPieces(frame, sizes, budget);
    assert.equal(got.length, 1, `pieces of ${sizes.join(',')}`);
    assert.deepEqual(got[0], segments, `pieces of ${sizes.join(',')}`);
    assert.equal(d.heldBytes, 0);
    assert.equal(budget.usedBytes, 0, 'a delivered frame gives its budget back');
  }
  // Two frames back to back, split across each other.
  const two = new Uint8Array(Buffer.concat([frame, frame]));
  const { got } = decodeInPieces(two, [70 * KiB, 13]);
  assert.deepEqual(got, [segments, segments]);
});

test('a peer sending a byte at a time holds no more than twice what arrived', () => {
  const budget = new PartialFrameBudget(64 * 1024 * KiB);
  const d = new FrameDecoder(() => assert.fail('not complete'), undefined, budget);
  const frame = frameBytes([random(1024 * KiB, 4)]);
  const end = 300 * KiB;
  for (let at = 0; at < end; at++) d.push(frame.subarray(at, at + 1));
  // Small pieces are copied into blocks of the allowance's size, never kept one object a byte.
  assert.ok(d.heldBytes <= 2 * end, `${d.heldBytes} held for ${end} bytes`);
  d.dispose();
  assert.equal(budget.usedBytes, 0);
});

test('once half of a frame arrived, readTarget() is the rest of its buffer: bytes read there are not copied again', () => {
  const body = random(512 * KiB, 5);
  const frame = frameBytes([body]);
  const got: Uint8Array[][] = [];
  const d = new FrameDecoder((segs) => got.push(segs));
  assert.equal(d.readTarget(), null, 'no frame in progress: any buffer');
  const header = frame.byteLength - body.byteLength;
  let at = 0;
  while (d.readTarget() === null) {
    d.push(frame.subarray(at, at + 64 * KiB));
    at += 64 * KiB;
  }
  assert.ok(at - header >= body.byteLength / 2, 'the buffer exists once half arrived');
  let target: Uint8Array | null = null;
  while (at < frame.byteLength) {
    target = d.readTarget()!;
    assert.equal(target.byteLength, frame.byteLength - at, 'the target is exactly the rest of the frame');
    const n = Math.min(100 * KiB, target.byteLength);
    target.set(frame.subarray(at, at + n)); // what a socket read into it does
    d.push(target.subarray(0, n));
    at += n;
  }
  assert.equal(got.length, 1);
  assert.equal(got[0][0].buffer, target!.buffer, 'the segment is the buffer read into');
  assert.deepEqual(got[0][0], body);
  assert.equal(d.readTarget(), null, 'after the frame: any buffer again');
});

test('frames past the bounds are refused with a typed error before anything is allocated', () => {
  const header = (count: number, words: number[]): Uint8Array => {
    const b = new Uint8Array((4 + 4 * count + 7) & ~7);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, count - 1, true);
    words.forEach((w, i) => dv.setUint32(4 + 4 * i, w, true));
    return b;
  };
  // A segment table of 2^32 entries (count - 1 = 0xffffffff).
  const huge = new Uint8Array([0xff, 0xff, 0xff, 0xff]);
  let d = new FrameDecoder(() => {});
  assert.throws(() => d.push(huge), (e: unknown) => e instanceof FrameError && /declares 4294967296 segments; the limit is 512/.test(e.message));
  assert.equal(d.heldBytes, 0, 'nothing held for the refused table');
  // 513 segments: one past the limit, refused from its first word.
  d = new FrameDecoder(() => {});
  assert.throws(() => d.push(header(513, []).subarray(0, 4)), FrameError);
  // Segments adding up to more than 64 MiB, each within it.
  d = new FrameDecoder(() => {});
  assert.throws(
    () => d.push(header(2, [4 * 1024 * 1024, 4 * 1024 * 1024 + 1])),
    (e: unknown) => e instanceof FrameError && /exceeds the limit of 8388608 words/.test(e.message),
  );
  assert.equal(d.heldBytes, 0);
  // Within the message limit but bigger than the budget for frames in progress.
  const budget = new PartialFrameBudget(1024 * KiB);
  d = new FrameDecoder(() => {}, undefined, budget);
  assert.throws(() => d.push(header(1, [1024 * 1024])), (e: unknown) => e instanceof TransportLimitError && e.limit === 'partial-frame-budget');
  assert.equal(budget.usedBytes, 0);
});

test('Data of 64 KiB or more is copied once into a segment of its own and reads back through its double-far pointer', () => {
  for (const size of [OWN_SEGMENT_BYTES - 1, OWN_SEGMENT_BYTES, OWN_SEGMENT_BYTES + 3, 1024 * KiB]) {
    const data = random(size, size);
    const b = new WireBuilder();
    const root = b.initRoot(0, 2);
    b.setData(pointerOf(root, 0), data);
    b.setText(pointerOf(root, 1), 'after');
    const segments = b.segments();
    assert.equal(segments.length, size >= OWN_SEGMENT_BYTES ? 2 : 1, `${size} bytes`);
    if (size >= OWN_SEGMENT_BYTES) {
      assert.equal(segments[1].byteLength, (size + 7) & ~7, 'the segment is the Data, rounded up to a word');
      assert.ok(segments[0].byteLength < 128, 'the first segment holds no copy of it');
      assert.notEqual(segments[1].buffer, data.buffer, 'a copy: the sender may reuse its buffer at once');
    }
    const r = new WireReader(segments.map((s) => s.slice()), 1 << 24);
    const st = r.root();
    const l = r.listAt(st.s, st.p)!;
    assert.deepEqual(r.dataOf(l), data);
    assert.equal(r.textOf(r.listAt(st.s, st.p + 8)!), 'after');
  }
});

const storeOf = (conn: Connection) => conn.bootstrap(Store);

/** A Store served over TCP loopback, its client given to `body`; all closed after. */
async function withStoreOverTcp(body: (client: ReturnType<typeof storeOf>) => Promise<void>): Promise<void> {
  const store = new StoreImpl();
  const listener = await listenTcp('127.0.0.1', 0, (t) => {
    const s = serve(Store, store);
    new Connection(t, { bootstrap: s });
    s.release();
  });
  const conn = new Connection(await connectTcp('127.0.0.1', listener.port));
  const client = storeOf(conn);
  try {
    await body(client);
  } finally {
    client.release();
    conn.close();
    await listener.close();
  }
}

test('big Data over TCP: what is sent is copied at the call, and a received value held is never overwritten by later messages', async () => {
  await withStoreOverTcp(async (client) => {
    const a = new Uint8Array(3 * 1024 * KiB).fill(0xaa);
    const sent = client.put({ key: 'a', value: a });
    a.fill(0x11); // after the call: the message already has its own copy
    await sent;
    await client.put({ key: 'b', value: new Uint8Array(3 * 1024 * KiB).fill(0x55) });
    const gotA = (await client.get({ key: 'a' })).value;
    const gotB = (await client.get({ key: 'b' })).value;
    for (let i = 0; i < 4; i++) await client.blob({ size: 2 * 1024 * KiB + i * 8 });
    assert.equal(gotA.byteLength, 3 * 1024 * KiB);
    // Plain Uint8Arrays (a Buffer's slice() would be a view, not the copy small values get).
    await client.put({ key: 'small', value: new Uint8Array(100).fill(7) });
    const small = (await client.get({ key: 'small' })).value;
    for (const v of [gotA, small]) assert.equal(Object.getPrototypeOf(v), Uint8Array.prototype);
    assert.deepEqual(small, new Uint8Array(100).fill(7));
    assert.ok(gotA.every((x) => x === 0xaa), 'the first value held by the client is intact after later messages');
    assert.ok(gotB.every((x) => x === 0x55));
    // The server held what it received (views of its frames) across the later calls too.
    const again = (await client.get({ key: 'a' })).value;
    assert.ok(again.every((x) => x === 0xaa), 'the value held by the server is intact');
  });
});

test('big segments sent come from a bounded pool and go back only once written: pipelined blobs all arrive intact', async () => {
  await withStoreOverTcp(async (client) => {
    // 12 puts of 1 MiB each, all sent in one turn: they wait in the socket's queue together, so a
    // buffer given back before it was written would be overwritten by a later put's copy.
    const puts = [];
    for (let i = 0; i < 12; i++) puts.push(client.put({ key: `k${i}`, value: new Uint8Array(1024 * KiB).fill(i + 1) }));
    await Promise.all(puts);
    const gets = [];
    for (let i = 0; i < 12; i++) gets.push(client.get({ key: `k${i}` }));
    const values = (await Promise.all(gets)).map((r) => r.value);
    values.forEach((v, i) => assert.ok(v.byteLength === 1024 * KiB && v.every((x) => x === i + 1), `value ${i} arrived intact both ways`));
    assert.ok(segmentPoolIdleBytes() <= POOL_IDLE_BYTES);
    assert.ok(segmentPoolIdleBytes() > 0, 'written segments went back to the pool');
  });
});

test('the segment pool takes back only what it lent, once, and keeps at most POOL_IDLE_BYTES idle', () => {
  const before = segmentPoolIdleBytes();
  const a = takeSegment(100 * KiB);
  assert.equal(a.byteLength, 100 * KiB);
  giveBackSegment(new Uint8Array(100 * KiB)); // not the pool's: ignored
  assert.equal(segmentPoolIdleBytes(), before);
  giveBackSegment(a);
  const idle = segmentPoolIdleBytes();
  assert.equal(idle, before + 128 * KiB, 'kept in its size class');
  giveBackSegment(a); // twice: ignored
  assert.equal(segmentPoolIdleBytes(), idle);
  const lent = Array.from({ length: 2 * (POOL_IDLE_BYTES / POOL_LARGEST_BYTES) + 1 }, () => takeSegment(POOL_LARGEST_BYTES));
  for (const s of lent) giveBackSegment(s);
  assert.ok(segmentPoolIdleBytes() <= POOL_IDLE_BYTES, `${segmentPoolIdleBytes()} idle`);
  const huge = takeSegment(POOL_LARGEST_BYTES + 8);
  giveBackSegment(huge);
  assert.ok(segmentPoolIdleBytes() <= POOL_IDLE_BYTES, 'buffers past POOL_LARGEST_BYTES are never kept');
});
