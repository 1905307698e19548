// Node.cluster: the node serves the view of its cluster it was given (startNode's clusterView, which the
// cluster's Membership provides), this node first; without one, this node alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectNode, startNode } from '../../src/node/index.js';
import type { ClusterPeer } from '../../src/executor/rpc.js';

test('Node.cluster serves the injected view, 64-bit fields as bigints', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ww-cluster-view-'));
  const view: ClusterPeer[] = [
    { peerId: 'self-peer', addresses: ['/ip4/127.0.0.1/tcp/1'], running: 2, queued: 1, freeMemoryBytes: 2 ** 40, lastSeenMs: 1_800_000_000_000, self: true },
    { peerId: 'other-peer', addresses: [], running: 0, queued: 0, freeMemoryBytes: 5, lastSeenMs: 1_799_999_999_000, self: false },
  ];
  const node = await startNode({ socketPath: join(dir, 'node.sock'), poolSize: 1, clusterView: () => view });
  try {
    const c = await connectNode(node.socketPath);
    try {
      const { peers } = await c.node.cluster();
      assert.deepEqual(
        peers.map((p) => ({ ...p, addresses: [...p.addresses] })),
        view.map((p) => ({ ...p, freeMemoryBytes: BigInt(p.freeMemoryBytes), lastSeenMs: BigInt(p.lastSeenMs) })),
      );
    } finally {
      c.close();
    }
  } finally {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a cluster, Node.cluster lists this node alone, with its peer ID and memory budget', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ww-cluster-view-'));
  const node = await startNode({ socketPath: join(dir, 'node.sock'), poolSize: 1, memoryBytes: 32 * 1024 * 1024 });
  try {
    const c = await connectNode(node.socketPath);
    try {
      const { peers } = await c.node.cluster();
      assert.equal(peers.length, 1);
      assert.equal(peers[0]!.peerId, node.peerId);
      assert.equal(peers[0]!.self, true);
      assert.equal(peers[0]!.running, 0);
      assert.equal(peers[0]!.freeMemoryBytes, 32n * 1024n * 1024n);
    } finally {
      c.close();
    }
  } finally {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
