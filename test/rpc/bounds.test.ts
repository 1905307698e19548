// Every bound the engine keeps against a hostile or slow peer (src/rpc/README.md, "Bounds"), each
// against the attack it is for. What is held is read from the engine's own counters, never from
// RSS or timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, PARTIAL_FRAME_ALLOWANCE, PartialFrameBudget, encodeFrame } from '../../src/rpc/transport/framing.js';
import { TransportLimitError } from '../../src/rpc/transport/types.js';

const KiB = 1024;

/** A frame header (one segment) declaring `bodyBytes` bytes. */
function header(bodyBytes: number): Uint8Array {
  const h = new Uint8Array(8);
  new DataView(h.buffer).setUint32(4, bodyBytes / 8, true);
  return h;
}

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
  assert.equal(budget.usedBytes, 256 * KiB - 8, 'all but 8 bytes of the budget are spent on a frame 8 bytes short');
  // A 60 KiB message in 1000-byte pieces: within the allowance, delivered whole.
  const got: number[] = [];
  const d = new FrameDecoder((segs) => got.push(segs[0].byteLength), undefined, budget);
  const frame = Buffer.concat(encodeFrame([new Uint8Array(60 * KiB).fill(9)]));
  for (let i = 0; i < frame.byteLength; i += 1000) d.push(frame.subarray(i, i + 1000));
  assert.deepEqual(got, [60 * KiB]);
  // A bigger one grows past the allowance into the spent budget: refused, and nothing of it kept.
  const big = new FrameDecoder(() => {}, undefined, budget);
  big.push(header(128 * KiB));
  big.push(new Uint8Array(PARTIAL_FRAME_ALLOWANCE));
  assert.throws(
    () => big.push(new Uint8Array(1)),
    (e: unknown) => e instanceof TransportLimitError && e.limit === 'partial-frame-budget' && /^a message of 131072 bytes does not fit/.test(e.message),
  );
  assert.equal(big.heldBytes, 0);
  hog.dispose();
  assert.equal(budget.usedBytes, 0);
  // A header that could never fit is refused at once, before a byte of its body.
  assert.throws(() => new FrameDecoder(() => {}, undefined, budget).push(header(4096 * KiB)), /a message of 4194304 bytes is larger than the budget for partly received messages \(262144 bytes\)$/);
});
