// A channel's ring (src/executor/channel.ts, src/wasm/ring.ts) counts against its creator's account
// apart from the bytes of queued messages: a creator past its ring bound gets channels without one
// (every call through the executor), and a closed channel gives its ring's bytes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Channel, QueueAccount, RING_BYTES } from '../../src/executor/channel.js';

test('rings are charged to the creator and its principal, bounded by a quarter of the queued-bytes bound, and given back on close', () => {
  const principal = new QueueAccount(8 * RING_BYTES, 100); // room for two rings
  const a = new QueueAccount(4 * RING_BYTES, 100, principal); // room for one
  const b = new QueueAccount(64 * RING_BYTES, 100, principal);
  const first = new Channel(16, a);
  assert.ok(first.ringFor());
  assert.equal(first.ringFor(), first.ringFor(), 'one ring per channel');
  assert.equal(new Channel(16, a).ringFor(), undefined, "past a's bound: no ring");
  assert.ok(new Channel(16, b).ringFor());
  assert.equal(new Channel(16, b).ringFor(), undefined, "past the principal's bound: no ring");
  assert.deepEqual([a.ringBytes, b.ringBytes, principal.ringBytes, a.queuedBytes], [RING_BYTES, RING_BYTES, 2 * RING_BYTES, 0]);
  first.send.close();
  assert.equal(a.ringBytes, RING_BYTES, 'still open at one end');
  first.recv.close();
  assert.deepEqual([a.ringBytes, principal.ringBytes], [0, RING_BYTES]);
  assert.ok(new Channel(16, a).ringFor());
});

test('a message queued in the executor seals the ring until it is received; the ring and the queue count together against the capacity', () => {
  const account = new QueueAccount(64 * RING_BYTES, 100);
  const ch = new Channel(2, account);
  const ring = ch.ringFor()!;
  assert.equal(ring.trySend(new Uint8Array([1]), 7), 'ok'); // as a worker sends
  assert.equal(ch.length, 1);
  assert.equal(ch.fits(1), true);
  ch.push({ data: new Uint8Array([2]), caps: [], account });
  assert.equal(ring.sealed, true);
  assert.equal(ch.fits(1), false, 'capacity 2: one in the ring, one queued');
  assert.equal(ring.trySend(new Uint8Array([3]), 7), 'diverted');
  assert.deepEqual(ch.takeFromRing(16), { data: new Uint8Array([1]) }, 'the ring first');
  assert.equal(ch.takeFromRing(16), undefined);
  assert.deepEqual(ch.shift().data, new Uint8Array([2]));
  assert.equal(ring.sealed, false, 'unsealed once the queue is empty');
  assert.equal(account.queuedBytes, 0);
});
