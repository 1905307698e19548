// Attacks on the large-message path (framing.ts, segment-pool.ts, stream.ts, socket.ts): what a
// hostile peer can make a node hold, whether a pooled buffer can be seen by two messages, and
// whether the decoder only ever fails with a typed error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FrameDecoder, FrameError, PartialFrameBudget, PARTIAL_FRAME_ALLOWANCE, encodeFrame, frameHeader } from '../../src/rpc/transport/framing.js';
import { StreamTransport } from '../../src/rpc/transport/stream.js';
import { TransportLimitError, type ByteStream } from '../../src/rpc/transport/types.js';
import { connectTcp } from '../../src/rpc/transport/tcp.js';
import { takeSegment } from '../../src/rpc/segment-pool.js';
import { WireBuilder, OWN_SEGMENT_BYTES, pointerOf } from '../../src/rpc/wire.js';

const KiB = 1024;

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const typed = (e: unknown): boolean => e instanceof FrameError || e instanceof TransportLimitError;

test('fuzz: valid frames, corrupted segment tables and cut points anywhere: the right frames or a typed error, never a loop', () => {
  const r = rng(7);
  for (let round = 0; round < 300; round++) {
    const frames: Uint8Array[][] = [];
    const parts: Uint8Array[] = [];
    for (let f = 0; f < 1 + Math.floor(r() * 4); f++) {
      const segs = Array.from({ length: 1 + Math.floor(r() * 3) }, () => {
        const s = new Uint8Array(8 * (1 + Math.floor(r() * (r() < 0.2 ? 20_000 : 40))));
        for (let i = 0; i < s.length; i += 97) s[i] = (r() * 256) | 0;
        return s;
      });
      frames.push(segs);
      parts.push(...encodeFrame(segs));
    }
    const stream = new Uint8Array(Buffer.concat(parts));
    const corrupt = round % 3 === 0;
    if (corrupt) for (let k = 0; k < 4; k++) stream[Math.floor(r() * Math.min(stream.length, 64))] = (r() * 256) | 0;
    const budget = new PartialFrameBudget(1024 * KiB);
    const got: Uint8Array[][] = [];
    const d = new FrameDecoder((segs) => got.push(segs.map((s) => new Uint8Array(s))), { maxMessageWords: (2 * 1024 * KiB) / 8, maxSegments: 16 }, budget);
    let failed: unknown;
    try {
      for (let at = 0; at < stream.length; ) {
        const n = 1 + Math.floor(r() * (r() < 0.5 ? 16 : 70_000));
        d.push(stream.subarray(at, at + n));
        at += n;
        if (r() < 0.1) {
          d.pause();
          d.resume();
        }
      }
    } catch (e) {
      failed = e;
    }
    if (failed !== undefined) assert.ok(typed(failed), `round ${round}: ${String(failed)}`);
    if (!corrupt) {
      assert.equal(failed, undefined, `round ${round}`);
      assert.deepEqual(got, frames, `round ${round}`);
      assert.ok(d.idle);
    }
    d.dispose();
    assert.equal(budget.usedBytes, 0, `round ${round}: the budget is given back`);
  }
});

test('many half-sent frames across connections: the shared budget is never exceeded, the one past it gets a typed error, the rest go on', () => {
  const budget = new PartialFrameBudget(4 * 1024 * KiB);
  const frameBytes = 1024 * KiB;
  const header = frameHeader([frameBytes / 8]);
  const decoders: FrameDecoder[] = [];
  const errors: unknown[] = [];
  let delivered = 0;
  for (let c = 0; c < 12; c++) {
    const d = new FrameDecoder(() => delivered++, undefined, budget);
    decoders.push(d);
    try {
      d.push(header);
      // Just past half: the frame's own buffer (its full size) is allocated now.
      for (let sent = 0; sent <= frameBytes / 2; sent += 8 * KiB) d.push(new Uint8Array(8 * KiB));
    } catch (e) {
      errors.push(e);
    }
    assert.ok(budget.usedBytes <= budget.limitBytes, `after connection ${c}: ${budget.usedBytes} used`);
  }
  // Each holds its 1 MiB less the 64 KiB allowance: four fit, and the rest are refused.
  assert.equal(errors.length, 12 - 4);
  for (const e of errors) assert.ok(e instanceof TransportLimitError && e.limit === 'partial-frame-budget', String(e));
  // The four that fit complete their frames; then others can take the budget.
  for (const d of decoders.slice(0, 4)) for (let sent = frameBytes / 2 + 8 * KiB; sent < frameBytes; sent += 8 * KiB) d.push(new Uint8Array(8 * KiB));
  assert.equal(delivered, 4);
  assert.equal(budget.usedBytes, 0);
  for (const d of decoders) d.dispose();
  assert.equal(budget.usedBytes, 0);
  // A frame claiming more than the whole budget is refused at its header, before any allocation;
  // one that fits the budget costs nothing until its bytes arrive.
  const huge = frameHeader([(64 * 1024 * KiB) / 8 - 1]);
  assert.throws(() => new FrameDecoder(() => {}, undefined, budget).push(huge), (e: unknown) => e instanceof TransportLimitError);
  const liar = new FrameDecoder(() => {}, undefined, new PartialFrameBudget(256 * 1024 * KiB));
  liar.push(huge);
  liar.push(new Uint8Array(8));
  assert.ok(liar.heldBytes <= PARTIAL_FRAME_ALLOWANCE + 8, `held ${liar.heldBytes}`);
  liar.dispose();
});

// A ByteStream that keeps what is written (and the write callbacks) until the test says the OS took it.
function heldStream(): { stream: ByteStream; release(): void; writes: Uint8Array[] } {
  const writes: Uint8Array[] = [];
  const callbacks: (() => void)[] = [];
  const stream: ByteStream = {
    write(chunk, done) {
      writes.push(chunk);
      if (done) callbacks.push(done);
    },
    onData() {},
    onEnd() {},
    end() {},
  };
  return { stream, writes, release: () => callbacks.splice(0).forEach((f) => f()) };
}

test('a pooled segment being written is never lent again until the stream is done with it', () => {
  const { stream, writes, release } = heldStream();
  const t = new StreamTransport(stream);
  const size = 256 * KiB;
  const seg = takeSegment(size);
  seg.fill(0xab);
  t.send([new Uint8Array(8), seg]);
  assert.ok(writes.includes(seg), 'handed over as it is');
  // While the stream holds it, the pool lends other buffers, however many are asked for.
  const others = Array.from({ length: 8 }, () => takeSegment(size));
  for (const o of others) assert.notEqual(o.buffer, seg.buffer);
  assert.ok(seg.every((b) => b === 0xab), 'what is being written is untouched');
  release();
  // Written: it may come back now (the most recently returned first), exactly once.
  const again = takeSegment(size);
  assert.equal(again.buffer, seg.buffer);
  assert.notEqual(takeSegment(size).buffer, seg.buffer);
  t.close();
});

test('a send dropped by a closed transport never gives its segment back (it may still be referenced)', () => {
  const { stream } = heldStream();
  const t = new StreamTransport(stream);
  t.close();
  const seg = takeSegment(128 * KiB);
  t.send([new Uint8Array(8), seg]);
  for (let i = 0; i < 4; i++) assert.notEqual(takeSegment(128 * KiB).buffer, seg.buffer);
});

// Found by review (finding R1; it failed before pieces that are a small part of their buffer were copied). Sockets we connect read through node:net's onread
// into a fresh 64 KiB buffer per read (socket.ts freshReadBuffer) and hand on a view of its first n
// bytes; the decoder keeps pieces of 4 KiB or more of a partial frame as views (framing.ts
// keepPiece), so each one keeps its whole 64 KiB read buffer alive while counting only its own
// length. A peer that writes a frame's first half in 4 KiB reads makes the node hold 16x what the
// bound ("at most twice the bytes that arrived") and the budget count: 512 MiB for one 64 MiB frame.
test('a peer sending a frame in 4 KiB reads to a socket we connected holds no more memory than the decoder counts', async () => {
  const frameBytes = 4 * 1024 * KiB;
  const piece = 4 * KiB;
  const pieces = 128; // 512 KiB: well under half of the frame, so all are held as pieces
  let peer!: net.Socket;
  const server = net.createServer((s) => (peer = s));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as net.AddressInfo).port;
  const t = (await connectTcp('127.0.0.1', port)) as StreamTransport;
  while (!peer) await new Promise((r) => setImmediate(r));
  peer.setNoDelay(true);
  peer.write(frameHeader([frameBytes / 8]));
  for (let i = 0; i < pieces; i++) {
    peer.write(new Uint8Array(piece).fill(i));
    await new Promise((r) => setTimeout(r, 2)); // one read each
  }
  await new Promise((r) => setTimeout(r, 50));
  const decoder = (t as unknown as { decoder: { pieces: Uint8Array[] } }).decoder;
  const counted = t.stats().partialFrameBytes;
  const kept = new Set(decoder.pieces.map((p) => p.buffer));
  let pinned = 0;
  for (const b of kept) pinned += b.byteLength;
  const what = `${decoder.pieces.length} pieces counted as ${counted} bytes keep ${kept.size} buffers of ${pinned} bytes alive (${(pinned / counted).toFixed(1)}x)`;
  t.close();
  peer.destroy();
  server.close();
  assert.ok(counted >= pieces * piece - PARTIAL_FRAME_ALLOWANCE, `counted ${counted}`);
  assert.ok(
    pinned <= 2 * counted + PARTIAL_FRAME_ALLOWANCE,
    what,
  );
});

// Found by review (finding R2; it failed before MAX_OWN_SEGMENTS). Every Data of OWN_SEGMENT_BYTES or more becomes a
// segment of its own (wire.ts setDataSegment), with no cap on how many: a message carrying 600
// such values (38 MiB, within the 64 MiB frame limit) has 601 segments, and every receiver with
// the default FrameLimits (maxSegments 512; C++'s reader has a similar cap) refuses the frame and
// drops the connection. Before the change the same message was one segment and arrived.
test('a message with many big Data values stays within the segment limit its receivers apply', () => {
  const b = new WireBuilder();
  const count = 600;
  const root = b.initRoot(0, count);
  const blob = new Uint8Array(OWN_SEGMENT_BYTES).fill(9);
  for (let i = 0; i < count; i++) b.setData(pointerOf(root, i), blob);
  const segments = b.segments();
  let delivered = 0;
  const d = new FrameDecoder(() => delivered++);
  let refused: unknown;
  try {
    for (const part of encodeFrame(segments)) d.push(part);
  } catch (e) {
    refused = e;
  }
  assert.equal(refused, undefined, `${segments.length} segments: ${String(refused)}`);
  assert.equal(delivered, 1);
});
