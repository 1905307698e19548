// A node that is a peer announces itself and keeps the membership's view: Node.cluster (what
// `ww cluster ls` prints) lists every live peer it admits, itself first, and drops one that stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectNode } from '../../src/node/index.js';
import { newSwarmKey, parseSwarmKey } from '../../src/cluster/index.js';
import { startPeer } from './helpers.js';

const FAST = { intervalMs: 200, ttlMs: 1500 };

async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('peers holding one swarm key see each other in Node.cluster, each itself first; a stopped one leaves after its TTL', async (t) => {
  const swarmKey = parseSwarmKey(newSwarmKey(), 'test');
  const a = await startPeer({ swarmKey, membership: FAST });
  t.after(() => a.close());
  const b = await startPeer({ swarmKey, join: [a.node.addresses[0]!], membership: FAST });
  let bClosed = false;
  t.after(() => (bClosed ? undefined : b.close()));
  const c = await startPeer({ swarmKey, join: [a.node.addresses[0]!], membership: FAST });
  t.after(() => c.close());

  const client = await connectNode(a.node.socketPath);
  t.after(() => client.close());
  const ids = [a, b, c].map((p) => p.node.peerId).sort();
  const seen = await eventually('a sees all three', async () => {
    const { peers } = await client.node.cluster();
    return peers.length === 3 ? peers : undefined;
  });
  assert.deepEqual(seen.map((p) => p.peerId).sort(), ids);
  assert.equal(seen[0]!.peerId, a.node.peerId, 'this node first');
  assert.equal(seen[0]!.self, true);
  assert.ok(seen.slice(1).every((p) => !p.self && p.addresses.length > 0));

  await b.close();
  bClosed = true;
  await eventually('b leaves a\'s view', async () => {
    const { peers } = await client.node.cluster();
    return peers.some((p) => p.peerId === b.node.peerId) ? undefined : peers;
  });
});

test('a node that is no peer lists itself alone', async (t) => {
  const { startNode } = await import('../../src/node/index.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'ww-alone-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const node = await startNode({ socketPath: join(dir, 'run', 'node.sock'), poolSize: 1 });
  t.after(() => node.close());
  const client = await connectNode(node.socketPath);
  t.after(() => client.close());
  const { peers } = await client.node.cluster();
  assert.equal(peers.length, 1);
  assert.equal(peers[0]!.peerId, node.peerId);
  assert.equal(peers[0]!.self, true);
});
