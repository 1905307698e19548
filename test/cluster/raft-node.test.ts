// Three nodes started with p2p.raft on loopback replicate the registry: a put on one is read on
// another, the leader stopped, a put afterwards succeeds; the owner writes, a remote peer only reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectNode } from '../../src/node/index.js';
import { registryRefusalCode } from '../../src/node/registry-cap.js';
import { eventually } from '../executor/helpers.js';
import { failure, peerDir, startPeer, type TestPeer } from './helpers.js';

test('three raft nodes: a put on one is read on another, the leader stops, a put afterwards succeeds; peers only read', async () => {
  const dirs = [await peerDir(), await peerDir(), await peerDir()];
  const members = dirs.map((d) => d.peerId);
  const peers: TestPeer[] = [];
  const raft = { members, tickMs: 50, electionTicks: 10 };
  try {
    for (const d of dirs) {
      const join = peers.map((p) => p.node.addresses[0]!);
      peers.push(await startPeer({ allow: members, join, raft }, { dir: d.dir }));
    }
    await eventually('a leader', () => peers.some((p) => p.node.registry!.status().role === 'leader'), 30_000);
    const owner = async (p: TestPeer) => (await connectNode(p.node.socketPath));
    const [c0, c1] = [await owner(peers[0]!), await owner(peers[1]!)];
    const r0 = c0.node.registry().registry;
    const r1 = c1.node.registry().registry;
    const { version } = await r0.put({ name: 'svc/a', value: 'here' });
    assert.ok(version > 0n);
    const got = await r1.get({ name: 'svc/a' });
    assert.equal(got.found, true);
    assert.equal(got.record.value, 'here');
    assert.equal(got.record.owner, peers[0]!.node.peerId, 'recorded as the writing node');
    assert.deepEqual((await r1.ls({ prefix: 'svc/', max: 0 })).records.map((r) => r.name), ['svc/a']);

    // A remote peer reads and may not write.
    const remote = await peers[1]!.node.cluster!.dial(peers[0]!.node.peerId);
    const rr = remote.registry().registry;
    assert.equal((await rr.get({ name: 'svc/a' })).record.value, 'here');
    const refused = await failure(rr.put({ name: 'svc/b', value: 'x' }));
    assert.equal(registryRefusalCode(refused), 'not-permitted');
    remote.release();

    // Too large a value: refused with its code.
    assert.equal(registryRefusalCode(await failure(r1.put({ name: 'big', value: 'x'.repeat(70 * 1024) }))), 'registry-bound');
    c0.close();
    c1.close();

    // The leader stops: the two others elect one and take writes.
    const leader = peers.find((p) => p.node.registry!.status().role === 'leader')!;
    await leader.close();
    const rest = peers.filter((p) => p !== leader);
    await eventually('a new leader', () => rest.some((p) => p.node.registry!.status().role === 'leader'), 30_000);
    const c = await owner(rest[0]!);
    const r = c.node.registry().registry;
    await r.put({ name: 'svc/after', value: 'v2' });
    const back = await connectNode(rest[1]!.node.socketPath);
    assert.equal((await back.node.registry().registry.get({ name: 'svc/after' })).record.value, 'v2');
    assert.equal((await back.node.registry().registry.get({ name: 'svc/a' })).record.value, 'here', 'the write before is kept');
    back.close();
    c.close();
  } finally {
    for (const p of peers) await p.close().catch(() => {});
  }
});
