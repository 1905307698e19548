// stdin as a stream (SpawnOptions.stdin given an InputStream, src/wasm/stdin.ts): read only while the
// guest reads, at most 64 KiB asked at once, any size in bounded memory, and a stream that misbehaves
// (answers more than asked, fails, never answers) costs only its own guest.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Runtime, type InputStream } from '../../src/wasm/index.js';
import { guest } from '../../fixtures/wat.js';

const rt = await Runtime.create({ poolSize: 2 });
after(() => rt.close());
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

/** Polls `check` until it holds; fails after 10 s naming `what` (a state to reach, not a speed). */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A stream over `chunks`, recording each read's `max` and whether it was closed. */
function streamOf(chunks: Uint8Array[]): InputStream & { asked: number[]; closed: number } {
  const s = {
    asked: [] as number[],
    closed: 0,
    read: async (max: number) => {
      s.asked.push(max);
      return chunks.shift() ?? new Uint8Array(0);
    },
    close: () => void s.closed++,
  };
  return s;
}

test('a guest that never reads never reads the stream; it is closed once when the guest ends', async () => {
  const stream = streamOf([new TextEncoder().encode('never read')]);
  const status = await rt.spawn(await rt.load(await guest('hello')), { args: ['hello'], stdin: stream, stdout: 'capture' }).wait();
  assert.equal(status.code, 0);
  assert.deepEqual(stream.asked, []);
  assert.equal(stream.closed, 1);
});

test('a reading guest gets the chunks in order, as they come, and EOF; at most 64 KiB is asked at once', async () => {
  const parts = ['one\n', 'two\n', 'three\n'];
  let release: () => void = () => {};
  let reads = 0;
  const stream: InputStream & { asked: number[]; closed: number } = {
    asked: [],
    closed: 0,
    read: async (max) => {
      stream.asked.push(max);
      reads++;
      // The second chunk arrives only when the test lets it: the guest waits for it meanwhile.
      if (reads === 2) await new Promise<void>((r) => (release = r));
      const next = parts.shift();
      return next === undefined ? new Uint8Array(0) : new TextEncoder().encode(next);
    },
    close: () => void stream.closed++,
  };
  const out: string[] = [];
  const p = rt.spawn(await rt.load(await guest('cat')), { args: ['cat'], stdin: stream, stdout: (c) => out.push(text(c)) });
  await until('the second read', () => reads >= 2);
  assert.equal(p.state, 'running');
  await until('the first line out', () => out.join('') === 'one\n'); // delivered before the rest exists
  release();
  const status = await p.wait();
  assert.equal(status.code, 0);
  assert.equal(out.join(''), 'one\ntwo\nthree\n');
  assert.ok(stream.asked.every((max) => max > 0 && max <= 64 * 1024), String(stream.asked));
  assert.equal(stream.closed, 1, 'closed once, at end of input');
});

test('10 MiB streams through a counting guest in 64 KiB chunks', async () => {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  let left = 160;
  let asked = 0;
  const stream: InputStream = {
    read: async (max) => {
      asked = Math.max(asked, max);
      if (left === 0) return new Uint8Array(0);
      left--;
      return chunk.subarray(0, max);
    },
  };
  const status = await rt.spawn(await rt.load(await guest('count-stdin')), { args: ['count'], stdin: stream, stdout: 'capture' }).wait();
  assert.equal(status.code, 0);
  assert.equal(text(status.stdout), `${160 * 64 * 1024}\n`);
  assert.equal(asked, 64 * 1024);
});

test('a stream that answers more than it was asked for, or fails, gives the guest EIO and is not read again', async () => {
  const count = await rt.load(await guest('count-stdin'));
  let reads = 0;
  let closed = 0;
  const greedy: InputStream = {
    read: async (max) => {
      reads++;
      return new Uint8Array(max + 1);
    },
    close: () => void closed++,
  };
  const status = await rt.spawn(count, { args: ['count'], stdin: greedy, stdout: 'capture' }).wait();
  assert.deepEqual([status.code, text(status.stdout), reads, closed], [2, '0 errno 29\n', 1, 1]); // 29: EIO
  const failing: InputStream = {
    read: async () => {
      throw new Error('the source went away');
    },
  };
  const failed = await rt.spawn(count, { args: ['count'], stdin: failing, stdout: 'capture' }).wait();
  assert.deepEqual([failed.code, text(failed.stdout)], [2, '0 errno 29\n']);
});

test('a stream that never answers blocks only its guest, which can be paused, resumed and killed', async () => {
  let closed = 0;
  let asked = 0;
  const silent: InputStream = {
    read: () => {
      asked++;
      return new Promise<Uint8Array>(() => {});
    },
    close: () => void closed++,
  };
  const rt2 = await Runtime.create({ poolSize: 1, instrument: true });
  try {
    const p = rt2.spawn(await rt2.load(await guest('cat')), { args: ['cat'], stdin: silent });
    await until('the first read', () => asked > 0);
    const other = await rt2.spawn(await rt2.load(await guest('hello')), { args: ['hello'], stdout: 'capture' }).wait();
    assert.equal(text(other.stdout), 'hello, world\n');
    await p.pause();
    assert.equal(p.state, 'paused');
    p.resume();
    p.kill();
    assert.deepEqual((await p.wait()).reason, { kind: 'killed' });
    assert.equal(closed, 1);
  } finally {
    await rt2.close();
  }
});
