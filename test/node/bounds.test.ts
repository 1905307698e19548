// The node's connections carry the RPC engine's bounds (src/rpc/README.md, "Bounds"), with one
// partial frame budget for the whole node: a client that floods calls and never reads does not stop
// another; a half-sent message is cut off with an Abort that says why; partly sent messages of all
// connections share the node's budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Connection } from '../../src/rpc/conn.js';
import { FrameDecoder, PartialFrameBudget } from '../../src/rpc/transport/framing.js';
import { StreamTransport } from '../../src/rpc/transport/stream.js';
import type { ByteStream } from '../../src/rpc/transport/types.js';
import { WireReader } from '../../src/rpc/wire.js';
import * as rpc from '../../src/capnp-gen/rpc.layout.js';
import { Node, type Node$Client } from '../../src/capnp-gen/ww.rpc.js';
import { eventually, startTestNode } from '../executor/helpers.js';

const KiB = 1024;

/** The bytes a client sends for: bootstrap, then the calls `makeCalls` pipelines on it (built by our own engine). */
async function nodeClientBytes(makeCalls: (node: Node$Client) => void): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const capture: ByteStream = { write: (c) => void chunks.push(c.slice()), onData() {}, onEnd() {}, end() {} };
  const conn = new Connection(new StreamTransport(capture));
  makeCalls(conn.bootstrap(Node));
  await new Promise((r) => setImmediate(r)); // the transport writes at the end of the turn
  conn.close();
  return Buffer.concat(chunks);
}

/** Everything a raw socket receives until the node closes it, and the reason of the Abort among it. */
async function abortReasonUntilClose(socket: net.Socket): Promise<string | null> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  let reason: string | null = null;
  new FrameDecoder((segments) => {
    const r = new WireReader(segments, 1 << 20);
    const root = r.root();
    if (r.u16(root, rpc.Message.discriminant) !== rpc.Message_Which.abort) return;
    reason = r.textField(r.structField(root, rpc.Message.abort) ?? { s: 0, d: 0, dl: 0, p: 0, pc: 0 }, rpc.Exception.reason);
  }).push(Buffer.concat(chunks));
  return reason;
}

/** A frame header (one segment) declaring `bodyBytes` bytes. */
function header(bodyBytes: number): Uint8Array {
  const h = new Uint8Array(8);
  new DataView(h.buffer).setUint32(4, bodyBytes / 8, true);
  return h;
}

test('a client that pipelines 20,000 ps calls and never reads them does not stop another client of the node', async () => {
  const t = await startTestNode({ poolSize: 1, connectionBounds: { pauseReadingAbove: 16 * KiB, maxQueuedBytes: 64 * KiB } });
  const raw = net.connect(t.socketPath);
  try {
    const attack = await nodeClientBytes((node) => {
      const admin = node.admin().admin;
      for (let i = 0; i < 20_000; i++) admin.ps();
    });
    await once(raw, 'connect');
    raw.write(attack);
    for (let i = 0; i < 20; i++) {
      assert.ok((await t.admin.ps()).processes.length >= 1);
      assert.ok((await t.client.node.identity()).info.peerId.length > 0);
    }
  } finally {
    raw.destroy();
    await t.close();
  }
});

test('a node cuts off a client that sends part of a message and then nothing, with an Abort that says so', async () => {
  const t = await startTestNode({ poolSize: 1, connectionBounds: { partialFrameTimeoutMs: 200 } });
  try {
    const raw = net.connect(t.socketPath);
    await once(raw, 'connect');
    const reason = abortReasonUntilClose(raw);
    raw.write(header(64 * KiB));
    raw.write(new Uint8Array(100));
    assert.equal(await reason, 'the peer sent 100 of 65536 bytes of a message and nothing more for 200 ms (partialFrameTimeoutMs)');
    assert.ok((await t.client.node.identity()).info.peerId.length > 0, 'the node carries on');
  } finally {
    await t.close();
  }
});

test('partly sent messages of all a node’s connections share one budget: past it, the next is refused', async () => {
  const budget = new PartialFrameBudget(512 * KiB);
  const t = await startTestNode({ poolSize: 1, connectionBounds: { partialFrameBudget: budget } });
  const first = net.connect(t.socketPath);
  try {
    await once(first, 'connect');
    first.write(header(512 * KiB));
    first.write(new Uint8Array(400 * KiB)); // held: past the 64 KiB allowance it draws on the budget
    await eventually('the first message is held', () => budget.usedBytes > 256 * KiB);
    const second = net.connect(t.socketPath);
    await once(second, 'connect');
    const reason = abortReasonUntilClose(second);
    second.write(header(512 * KiB));
    second.write(new Uint8Array(400 * KiB));
    assert.match((await reason) ?? '', /^a message of 524288 bytes does not fit in the budget for partly received messages: \d+ of 524288 bytes are held/);
    assert.ok(budget.usedBytes <= 512 * KiB);
    assert.ok((await t.client.node.identity()).info.peerId.length > 0, 'the node carries on');
    first.destroy();
    await eventually('the budget is whole again once the first client left', () => budget.usedBytes === 0);
  } finally {
    first.destroy();
    await t.close();
  }
});
