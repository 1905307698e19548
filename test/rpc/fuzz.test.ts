// Hostile input: random and mutated frames against a server connection. Whatever arrives, the
// server must not throw, hang, or grow without bound, and its other connections must keep working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Connection } from '../../src/rpc/conn.js';
import { serve } from '../../src/rpc/client.js';
import { encodeFrame } from '../../src/rpc/transport/framing.js';
import type { Transport } from '../../src/rpc/transport/types.js';
import { Counter, Store } from '../../src/capnp-gen/interop.rpc.js';
import { CounterImpl, StoreImpl } from '../../tools/interop/store.js';
import { connectPair } from './helpers.js';

/** mulberry32: a small seeded PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** Real frames a client sends (bootstrap, pipelined calls, caps in params), recorded from the engine. */
function recordValidFrames(): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const recorder: Transport = {
    send: (segments) => frames.push(concat(encodeFrame(segments))),
    onMessage: () => {},
    onClose: () => {},
    close: () => {},
  };
  const conn = new Connection(recorder);
  const store = conn.bootstrap(Store);
  const p = store.counter({ start: 3n });
  void p.counter.self().counter.increment({ by: 4n });
  void store.put({ key: 'key', value: new Uint8Array([1, 2, 3, 4, 5]) });
  void store.get({ key: 'key' });
  const mine = serve(Counter, new CounterImpl(0n));
  void store.echo({ counter: mine });
  void store.blob({ size: 1000 });
  void store.fail({ message: 'x' });
  mine.release();
  return frames;
}

/** A Store whose blobs stay small, so mutated sizes cannot ask for gigabytes. */
class FuzzStore extends StoreImpl {
  override blob({ size }: { size: number }): { data: Uint8Array } {
    return super.blob({ size: Math.min(size, 1 << 16) });
  }
}

/**
 * Sends `bytes`, then ends our side; resolves with how many bytes the server sent back once it has
 * closed the connection. (No timers: if the server hung, this would never resolve.)
 */
function sendAndEnd(port: number, bytes: Uint8Array[]): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let replied = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(replied);
    };
    s.on('error', finish);
    s.on('close', finish);
    s.on('data', (d: Buffer) => (replied += d.byteLength));
    s.on('connect', () => {
      for (const b of bytes) s.write(b);
      s.end();
    });
  });
}

test('random and mutated frames: no crash, no hang, bounded memory, other connections unaffected', async () => {
  let uncaught = 0;
  const onUncaught = (): void => void uncaught++;
  process.on('uncaughtException', onUncaught);
  const pair = await connectPair(() => serve(Store, new FuzzStore()));
  const good = pair.client.bootstrap(Store);
  await good.put({ key: 'before', value: new Uint8Array([9]) });

  const valid = recordValidFrames();
  const rand = prng(0x5eed);
  const heapBefore = process.memoryUsage().heapUsed;
  const ITERATIONS = 300;
  let noiseAnswered = 0;
  let noise = 0;
  const batch: Promise<number>[] = [];
  const kinds: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const kind = i % 3;
    let bytes: Uint8Array[];
    if (kind === 0) {
      // Pure noise.
      const n = 1 + Math.floor(rand() * 2048);
      const b = new Uint8Array(n);
      for (let j = 0; j < n; j++) b[j] = Math.floor(rand() * 256);
      bytes = [b];
    } else {
      // A valid conversation with a few bytes flipped in one or more frames.
      bytes = valid.map((f) => {
        const copy = f.slice();
        if (kind === 2 || rand() < 0.5) {
          const flips = 1 + Math.floor(rand() * 6);
          for (let k = 0; k < flips; k++) copy[Math.floor(rand() * copy.length)] = Math.floor(rand() * 256);
        }
        return copy;
      });
    }
    batch.push(sendAndEnd(pair.listener.port, bytes));
    kinds.push(kind);
    if (batch.length === 25 || i === ITERATIONS - 1) {
      const replies = await Promise.all(batch);
      replies.forEach((n, j) => {
        if (kinds[j] === 0) {
          noise++;
          if (n > 0) noiseAnswered++;
        }
      });
      batch.length = 0;
      kinds.length = 0;
    }
  }

  process.off('uncaughtException', onUncaught);
  assert.equal(uncaught, 0, 'hostile frames caused uncaught exceptions');
  // Every hostile connection was closed by the server (sendAndEnd resolved); every noise frame got an Abort.
  assert.equal(noiseAnswered, noise, `only ${noiseAnswered} of ${noise} connections sending noise got an Abort back`);
  const growth = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(growth < 256 * 1024 * 1024, `heap grew by ${Math.round(growth / 1e6)} MB while fuzzing`);

  // The connection that behaved is still served.
  const r = await good.get({ key: 'before' });
  assert.deepEqual([...r.value], [9]);
  good.release();
  await pair.close();
});
