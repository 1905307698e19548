// Unit tests of the four tables, the embargo table and the stream framing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportTable, IdTable, ImportTable } from '../../src/rpc/tables.js';
import { EmbargoTable } from '../../src/rpc/embargo.js';
import { FrameDecoder, FrameError, encodeFrame } from '../../src/rpc/transport/framing.js';

test('IdTable reuses the lowest freed id first', () => {
  const t = new IdTable<string>();
  assert.deepEqual([t.alloc('a'), t.alloc('b'), t.alloc('c'), t.alloc('d')], [0, 1, 2, 3]);
  t.delete(2);
  t.delete(0);
  t.delete(3);
  assert.equal(t.size, 1);
  assert.equal(t.alloc('x'), 0);
  assert.equal(t.alloc('y'), 2);
  assert.equal(t.alloc('z'), 3);
  assert.equal(t.alloc('w'), 4);
  assert.equal(t.get(2), 'y');
  assert.equal(t.delete(9), undefined);
});

test('ExportTable counts a capability exported twice under one id and frees it on the last Release', () => {
  const t = new ExportTable<object>();
  const cap = {};
  const first = t.add(cap);
  const second = t.add(cap);
  assert.equal(first.fresh, true);
  assert.equal(second.fresh, false);
  assert.equal(first.id, second.id);
  assert.equal(t.refs(first.id), 2);
  assert.equal(t.release(first.id, 1), null);
  assert.equal(t.release(first.id, 1), cap);
  assert.equal(t.size, 0);
  assert.equal(t.add(cap).fresh, true);
});

test('ExportTable refuses a Release of more references than the peer holds, or of an unknown id', () => {
  const t = new ExportTable<object>();
  const { id } = t.add({});
  assert.throws(() => t.release(id, 2), /only 1/);
  assert.throws(() => t.release(id + 7, 1), /does not exist/);
});

test('ImportTable reports how many receipts to release when the last local reference goes', () => {
  const t = new ImportTable<object>();
  const hook = {};
  assert.equal(t.received(5), null);
  t.set(5, hook);
  assert.equal(t.received(5), hook);
  assert.equal(t.received(5), hook);
  assert.equal(t.drop(5, {}), 0, 'a stale hook must not drop the current entry');
  assert.equal(t.drop(5, hook), 3);
  assert.equal(t.size, 0);
});

test('EmbargoTable lifts each embargo once, by id', () => {
  const e = new EmbargoTable();
  const lifted: number[] = [];
  const a = e.start(() => lifted.push(1));
  const b = e.start(() => lifted.push(2));
  assert.notEqual(a, b);
  assert.equal(e.lift(b), true);
  assert.equal(e.lift(b), false);
  assert.equal(e.lift(a), true);
  assert.deepEqual(lifted, [2, 1]);
  assert.equal(e.size, 0);
});

function frame(words: number[]): Uint8Array {
  const segs = words.map((w, i) => new Uint8Array(w * 8).fill(i + 1));
  const parts = encodeFrame(segs);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

test('FrameDecoder splits many messages from one chunk and joins one message from many chunks', () => {
  const got: number[][] = [];
  const d = new FrameDecoder((segs) => got.push(segs.map((s) => s.byteLength)));
  const a = frame([1]);
  const b = frame([2, 3]);
  const c = frame([1, 1, 1]);
  const all = new Uint8Array(a.byteLength + b.byteLength + c.byteLength);
  all.set(a, 0);
  all.set(b, a.byteLength);
  all.set(c, a.byteLength + b.byteLength);
  d.push(all);
  assert.deepEqual(got, [[8], [16, 24], [8, 8, 8]]);
  got.length = 0;
  for (let i = 0; i < all.byteLength; i++) d.push(all.subarray(i, i + 1));
  assert.deepEqual(got, [[8], [16, 24], [8, 8, 8]]);
  assert.equal(d.idle, true);
});

test('FrameDecoder refuses oversized and absurd frames before buffering them', () => {
  const d = new FrameDecoder(() => {}, { maxMessageWords: 100, maxSegments: 4 });
  const header = new Uint8Array(8);
  new DataView(header.buffer).setUint32(4, 101, true);
  assert.throws(() => d.push(header), FrameError);
  const d2 = new FrameDecoder(() => {}, { maxMessageWords: 100, maxSegments: 4 });
  const many = new Uint8Array(4);
  new DataView(many.buffer).setUint32(0, 0xffffffff, true);
  assert.throws(() => d2.push(many), /segments/);
});
