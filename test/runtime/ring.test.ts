// The shared-memory ring that carries channel messages between workers (src/wasm/ring.ts): order,
// wraparound, full and empty, a message too big for it, close and EOF, a corrupt length refused,
// locks of a dead thread, and senders and a receiver in different worker threads at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Ring, RingError, recordBytes } from '../../src/wasm/ring.js';
import { messageOf, type RingJob } from './ring-worker.js';

const ME = 1;
const bytes = (...b: number[]) => new Uint8Array(b);

function recv(ring: Ring, max = 1024): ReturnType<Ring['tryRecv']> | number[] {
  const buf = new Uint8Array(max);
  const r = ring.tryRecv(buf, ME);
  return typeof r === 'number' ? [...buf.subarray(0, r)] : r;
}

function start(job: RingJob): Worker {
  return new Worker(new URL('./ring-worker.js', import.meta.url), { workerData: job });
}

function next(w: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
}

test('messages come out in order and whole, including across the end of the buffer, many times round', () => {
  const ring = Ring.create(64, 100);
  let sent = 0;
  let got = 0;
  for (let round = 0; round < 200; round++) {
    // sizes 0..13: records of 4 to 20 bytes, so records start at every 4-byte offset and split at the end
    while (ring.trySend(messageOf(0, sent, sent % 14), ME) === 'ok') sent++;
    for (let k = 0; k < 2; k++) {
      assert.deepEqual(recv(ring), [...messageOf(0, got, got % 14)]);
      got++;
    }
  }
  assert.ok(sent > 200 * 2, `${sent} messages through a 64-byte ring`);
  while (got < sent) assert.deepEqual(recv(ring), [...messageOf(0, got, got % 14)]), got++;
  assert.equal(recv(ring), 'empty');
  assert.equal(ring.length, 0);
  assert.equal(ring.used, 0);
});

test('positions that wrap past 2^31 and 2^32 keep working', () => {
  for (const start of [0x7ffffff0, -16]) {
    const ring = Ring.create(32, 10);
    const h = new Int32Array(ring.shared.header);
    h[0] = start; // head
    h[1] = start; // tail
    for (let i = 0; i < 20; i++) {
      assert.equal(ring.trySend(bytes(i, i + 1, i + 2, i + 3, i + 4), ME), 'ok');
      assert.deepEqual(recv(ring), [i, i + 1, i + 2, i + 3, i + 4]);
    }
    assert.equal(recv(ring), 'empty');
  }
});

test('full by bytes and by messages: the send is refused until a receive makes room', () => {
  const byBytes = Ring.create(32, 100);
  assert.equal(byBytes.trySend(new Uint8Array(12), ME), 'ok'); // 16 bytes
  assert.equal(byBytes.trySend(new Uint8Array(9), ME), 'ok'); // 16 bytes: now full
  assert.equal(byBytes.used, 32);
  assert.equal(byBytes.trySend(new Uint8Array(0), ME), 'no-room');
  assert.equal(byBytes.dataBytes, 21);
  assert.equal((recv(byBytes) as number[]).length, 12);
  assert.equal(byBytes.trySend(new Uint8Array(12), ME), 'ok');

  const byCount = Ring.create(1024, 3);
  for (let i = 0; i < 3; i++) assert.equal(byCount.trySend(bytes(i), ME), 'ok');
  assert.equal(byCount.trySend(bytes(9), ME), 'full');
  assert.equal(byCount.length, 3);
  assert.deepEqual(recv(byCount), [0]);
  assert.equal(byCount.trySend(bytes(3), ME), 'ok');
  assert.deepEqual([recv(byCount), recv(byCount), recv(byCount), recv(byCount)], [[1], [2], [3], 'empty']);
});

test('a message larger than the ring is refused with RingError too-big; one larger than the buffer stays queued', () => {
  const ring = Ring.create(64, 10);
  assert.equal(recordBytes(60), 64);
  assert.throws(() => ring.trySend(new Uint8Array(61), ME), (e) => e instanceof RingError && e.code === 'too-big' && /61 bytes/.test(e.message));
  assert.equal(ring.trySend(new Uint8Array(60).fill(7), ME), 'ok'); // exactly the capacity
  assert.deepEqual(recv(ring, 59), { tooBig: 60 });
  assert.equal(ring.length, 1);
  assert.deepEqual(recv(ring, 60), new Array(60).fill(7));
});

test('close: after the send end closes, what is queued is delivered, then eof; after the receive end closes, sends are refused', () => {
  const ring = Ring.create(64, 10);
  ring.trySend(bytes(1), ME);
  ring.trySend(bytes(2), ME);
  ring.closeSend(ME);
  assert.equal(ring.trySend(bytes(3), ME), 'send-closed');
  assert.deepEqual([recv(ring), recv(ring), recv(ring), recv(ring)], [[1], [2], 'eof', 'eof']);

  const other = Ring.create(64, 10);
  other.trySend(bytes(1), ME);
  other.closeRecv();
  assert.equal(other.trySend(bytes(2), ME), 'recv-closed');
  assert.equal(recv(other), 'recv-closed');
});

test('sealed: sends are diverted, and receivers get what the ring holds, then diverted (not eof or empty)', () => {
  const ring = Ring.create(64, 10);
  ring.trySend(bytes(1), ME);
  ring.seal(true);
  assert.equal(ring.trySend(bytes(2), ME), 'diverted');
  ring.closeSend(ME);
  assert.deepEqual([recv(ring), recv(ring)], [[1], 'diverted']);
  ring.seal(false);
  assert.equal(recv(ring), 'eof');
});

test('a length read from the ring that it cannot hold is RingError corrupt, not a read outside the message', () => {
  const ring = Ring.create(64, 10);
  ring.trySend(bytes(1, 2, 3), ME);
  new DataView(ring.shared.data).setUint32(0, 1000, true); // as if something wrote the length
  assert.throws(() => recv(ring), (e) => e instanceof RingError && e.code === 'corrupt');
  const h = new Int32Array(ring.shared.header);
  h[1] = h[0]! + 4096; // tail beyond the capacity
  assert.throws(() => ring.trySend(bytes(1), ME), (e) => e instanceof RingError && e.code === 'corrupt');
  assert.throws(() => new Ring({ header: new SharedArrayBuffer(8), data: ring.shared.data }), RingError);
});

test('a lock left by a thread that died while copying is freed by breakLocks for its owner only', () => {
  const ring = Ring.create(64, 10);
  const h = new Int32Array(ring.shared.header);
  h[6] = 42; // the send lock, as a terminated sender 42 would leave it
  ring.breakLocks(7);
  assert.equal(h[6], 42);
  ring.breakLocks(42);
  assert.equal(ring.trySend(bytes(5), ME), 'ok');
  assert.deepEqual(recv(ring), [5]);
});

test('two senders and a receiver in three worker threads: every message arrives once, intact, in each sender\'s order', async () => {
  const ring = Ring.create(256, 16); // small: both sides wait for each other often
  const sizes = [8, 9, 13, 64, 200, 11, 100, 252]; // at least 8: each carries its number and sender
  const n = 5000;
  const consumer = start({ role: 'consume', shared: ring.shared, bufLen: 256 });
  const producers = [1, 2].map((producer) => start({ role: 'produce', shared: ring.shared, producer, n, sizes }));
  try {
    const result = next(consumer);
    assert.deepEqual(await Promise.all(producers.map(next)), ['sent', 'sent']);
    ring.closeSend(ME);
    const { counts, bad } = (await result) as { counts: Record<string, number>; bad: number };
    assert.deepEqual({ counts, bad }, { counts: { 1: n, 2: n }, bad: 0 });
  } finally {
    await Promise.all([consumer, ...producers].map((w) => w.terminate()));
  }
});

test('a receiver blocked in another thread wakes for a message, for the close of the send end, and for a pause (Ring.wake)', async () => {
  const ring = Ring.create(64, 10);
  let w = start({ role: 'recv-once', shared: ring.shared });
  assert.equal(await next(w), 'waiting');
  await until(() => ring.waiting.receivers === 1);
  let answer = next(w);
  ring.trySend(bytes(9, 8, 7), ME);
  assert.deepEqual(await answer, { bytes: [9, 8, 7] });
  await w.terminate();

  w = start({ role: 'recv-once', shared: ring.shared });
  assert.equal(await next(w), 'waiting');
  await until(() => ring.waiting.receivers === 1);
  answer = next(w);
  ring.closeSend(ME);
  assert.equal(await answer, 'eof');
  await w.terminate();

  const paused = Ring.create(64, 10);
  const ctl = new Int32Array(new SharedArrayBuffer(4));
  w = start({ role: 'recv-once', shared: paused.shared, pause: ctl.buffer as SharedArrayBuffer });
  assert.equal(await next(w), 'waiting');
  await until(() => paused.waiting.receivers === 1);
  answer = next(w);
  Atomics.store(ctl, 0, 1); // what a pause request sets
  paused.wake(); // what the pauser does for every ring the process holds an end of
  assert.equal(await answer, 'frozen');
  answer = next(w);
  paused.trySend(bytes(1), ME);
  Atomics.store(ctl, 0, 0);
  Atomics.notify(ctl, 0); // resume
  assert.deepEqual(await answer, { bytes: [1] });
  await w.terminate();
});
