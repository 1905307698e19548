// The other thread of test/runtime/ring.test.ts: sends or receives through a Ring as a guest's
// worker would (ringSend / ringRecv, blocking through blocked.ts), and reports what it saw.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Ring, ringRecv, ringSend } from '../../src/wasm/ring.js';
import { watchPauseWhileBlocked } from '../../src/wasm/blocked.js';

export type RingJob =
  /** Sends `n` messages: message i is `i` in its first 4 bytes, then bytes (producer + i + k) & 255, of length sizes[i % sizes.length]. */
  | { role: 'produce'; shared: Ring['shared']; producer: number; n: number; sizes: number[] }
  /** Receives until eof; answers per producer the count and whether all came in order and intact. */
  | { role: 'consume'; shared: Ring['shared']; bufLen: number }
  /** One blocking receive; answers its result. With `pause`, blocked waits freeze when ctl[0] is set and post 'frozen'. */
  | { role: 'recv-once'; shared: Ring['shared']; pause?: SharedArrayBuffer };

/** The bytes of message i from `producer` (what 'consume' checks). */
export function messageOf(producer: number, i: number, size: number): Uint8Array {
  const m = new Uint8Array(size);
  for (let k = 0; k < size; k++) m[k] = (producer + i + k) & 255;
  if (size >= 8) new DataView(m.buffer).setUint32(0, i, true), new DataView(m.buffer).setUint32(4, producer, true);
  return m;
}

// Imported by the test for messageOf: the job runs only in the worker.
if (!isMainThread) run();

function run(): void {
  const job = workerData as RingJob;
  const ring = new Ring(job.shared);
  const owner = 100 + (job.role === 'produce' ? job.producer : 0);

  if (job.role === 'produce') {
    for (let i = 0; i < job.n; i++) {
      const r = ringSend(ring, messageOf(job.producer, i, job.sizes[i % job.sizes.length]!), owner, false, true);
      if (r !== 'ok') throw new Error(`send ${i}: ${r}`);
    }
    parentPort!.postMessage('sent');
  } else if (job.role === 'consume') {
    const buf = new Uint8Array(job.bufLen);
    const next = new Map<number, number>();
    let bad = 0;
    for (;;) {
      const r = ringRecv(ring, buf, owner, false);
      if (r === 'eof') break;
      if (typeof r !== 'number') throw new Error(`recv: ${JSON.stringify(r)}`);
      const view = new DataView(buf.buffer, 0, r);
      const i = view.getUint32(0, true);
      const producer = view.getUint32(4, true);
      const want = messageOf(producer, i, r);
      if (i !== (next.get(producer) ?? 0) || want.some((b, k) => buf[k] !== b)) bad++;
      next.set(producer, i + 1);
    }
    parentPort!.postMessage({ counts: Object.fromEntries(next), bad });
  } else {
    if (job.pause) {
      const ctl = new Int32Array(job.pause);
      watchPauseWhileBlocked({
        ctl,
        index: 0,
        holdIfPaused: () => {
          if (Atomics.load(ctl, 0) === 0) return;
          parentPort!.postMessage('frozen');
          while (Atomics.load(ctl, 0) !== 0) Atomics.wait(ctl, 0, 1);
        },
        whilePaused: async () => {},
        killed: () => false,
      });
    }
    parentPort!.postMessage('waiting');
    const buf = new Uint8Array(64);
    const r = ringRecv(ring, buf, owner, false);
    parentPort!.postMessage(typeof r === 'number' ? { bytes: [...buf.subarray(0, r)] } : r);
  }
}
