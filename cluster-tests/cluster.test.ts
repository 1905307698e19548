// Real `ww start` peers, one per network namespace: discovery through --join and gossip, who may
// join (swarm key, allow-list), and a peer lost to kill -9 or to a cut link, then healed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestNetwork } from './netns.js';
import { eventually, makePeers, swarmKeyFile, type Peer } from './peers.js';
import { requireNamespaces } from './require.js';

requireNamespaces();

interface ListedPeer {
  peerId: string;
  addresses: string[];
  self: boolean;
  running: number;
}

const clusterLs = (p: Peer): ListedPeer[] => p.json<ListedPeer[]>(['cluster', 'ls']);
const ids = (list: readonly { peerId: string }[]): string[] => list.map((l) => l.peerId).sort();

/** A network of `n` hosts and their (unstarted) peers, all removed when the test ends. */
async function cluster(t: { after(fn: () => unknown): void }, n: number): Promise<{ net: TestNetwork; peers: Peer[]; dir: string }> {
  const net = TestNetwork.create(n);
  const { peers, dir, cleanup } = await makePeers(net);
  t.after(async () => {
    await net.close();
    cleanup();
  });
  return { net, peers, dir };
}

test('three peers holding one swarm key find each other: ww cluster ls on each lists all three, itself first', async (t) => {
  const { peers, dir } = await cluster(t, 3);
  const key = swarmKeyFile(dir);
  const [p1, p2, p3] = peers as [Peer, Peer, Peer];
  await p1.start({ swarmKey: key });
  await p2.start({ swarmKey: key, join: [p1] });
  await p3.start({ swarmKey: key, join: [p1] }); // p3 learns p2 through p1 only

  const id = p2.json<{ peerId: string; addresses: string[] }>(['id']);
  assert.equal(id.peerId, p2.peerId, 'the identity made ahead in the data dir is the one the node uses');
  assert.ok(id.addresses.includes(p2.address), `ww id lists ${p2.address}: ${id.addresses.join(' ')}`);

  for (const p of peers) {
    const seen = await eventually(`peer ${p.index} sees three`, 30_000, () => {
      const list = clusterLs(p);
      return list.length === 3 ? list : undefined;
    });
    assert.deepEqual(ids(seen), ids(peers));
    assert.equal(seen[0]!.peerId, p.peerId);
    assert.equal(seen[0]!.self, true);
  }
  // The table fits an 80-column terminal and names every peer.
  const table = p3.ww(['cluster', 'ls'], { COLUMNS: '80' });
  assert.equal(table.status, 0, table.stderr);
  assert.ok(table.stdout.split('\n').every((l) => l.length <= 80), table.stdout);
  for (const p of peers) assert.ok(table.stdout.includes(p.peerId.slice(0, 8)), table.stdout);
});

test('a peer without the swarm key is refused and never listed; a peer off the allow-list likewise', async (t) => {
  const { peers, dir } = await cluster(t, 4);
  const otherKey = swarmKeyFile(dir, 'other.key');
  const [p1, p2, p3, p4] = peers as [Peer, Peer, Peer, Peer];
  // p1 and p2 admit each other by the allow-list (no swarm key); p3 is on neither's list.
  await p1.start({ allow: [p2.peerId] });
  await p2.start({ allow: [p1.peerId], join: [p1] });
  await p3.start({ allow: [p1.peerId], join: [p1] });
  await eventually('p1 sees p2', 30_000, () => (clusterLs(p1).length === 2 ? true : undefined));
  await eventually(() => `p3 says it was refused; its log:\n${p3.log}\np1's log:\n${p1.log}`, 30_000, () => (/refused/i.test(p3.log) ? true : undefined));
  assert.match(p1.log, new RegExp(`refused.*${p3.peerId}|${p3.peerId}.*refused|not admitted.*${p3.peerId}|${p3.peerId}.*not admitted`, 'i'), `p1 logs the refusal of p3:\n${p1.log}`);
  assert.deepEqual(ids(clusterLs(p1)), ids([p1, p2]));
  assert.deepEqual(ids(clusterLs(p3)), [p3.peerId], 'p3 learned nothing of the cluster');

  // A swarm key p1 does not have: the handshake itself fails.
  await p4.start({ swarmKey: otherKey, join: [p1] });
  await eventually('p4 says it was refused', 30_000, () => (/refused|cannot join/i.test(p4.log) ? true : undefined));
  assert.deepEqual(ids(clusterLs(p4)), [p4.peerId]);
  assert.ok(!ids(clusterLs(p1)).includes(p4.peerId));
});

test('a peer killed -9 leaves every view; a host cut off leaves and comes back when its link heals', async (t) => {
  const { net, peers, dir } = await cluster(t, 3);
  const key = swarmKeyFile(dir);
  const [p1, p2, p3] = peers as [Peer, Peer, Peer];
  await p1.start({ swarmKey: key });
  await p2.start({ swarmKey: key, join: [p1] });
  await p3.start({ swarmKey: key, join: [p1] });
  await eventually('all three see three', 30_000, () => (peers.every((p) => clusterLs(p).length === 3) ? true : undefined));

  await p3.kill9();
  for (const p of [p1, p2]) {
    await eventually(`peer ${p.index} drops the killed peer`, 30_000, () => (clusterLs(p).some((l) => l.peerId === p3.peerId) ? undefined : true));
  }

  net.cut(2);
  await eventually('p1 drops the cut-off peer', 30_000, () => (clusterLs(p1).some((l) => l.peerId === p2.peerId) ? undefined : true));
  await eventually('the cut-off peer sees itself alone', 30_000, () => (clusterLs(p2).length === 1 ? true : undefined));
  net.heal(2);
  // p2 joined p1 with --join: it keeps reconnecting, so the cluster heals by itself.
  await eventually('p1 sees p2 again after the heal', 60_000, () => (clusterLs(p1).some((l) => l.peerId === p2.peerId) ? true : undefined));
  await eventually('p2 sees p1 again after the heal', 60_000, () => (clusterLs(p2).some((l) => l.peerId === p1.peerId) ? true : undefined));
});
