// A process linked to another peer's process, with real peers in network namespaces: when that peer
// is killed -9, or its host's link is cut, the linked process on the surviving peer ends with
// reason peer-lost (and, for a cut, the one on the cut-off peer too: its linker's peer vanished).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitKind, type Executor$Client, type Process$Client } from '../src/capnp-gen/ww.rpc.js';
import { connectNode, type NodeConnection } from '../src/node/index.js';
import { assemble, SLEEPER_WAT } from '../fixtures/wat.js';
import type { TestNetwork } from './netns.js';
import { swarmOfThree, type Peer } from './peers.js';
import { requireNamespaces } from './require.js';

requireNamespaces();


/** Three peers holding one swarm key (p2 and p3 join p1), the owner of p1 connected to its socket,
 *  all removed when the test ends. */
async function threePeers(t: { after(fn: () => unknown): void }): Promise<{ net: TestNetwork; peers: [Peer, Peer, Peer]; owner: NodeConnection }> {
  const { net, peers } = await swarmOfThree(t);
  const owner = await connectNode(peers[0].socket);
  t.after(() => owner.close());
  return { net, peers, owner };
}

async function spawnSleeper(ex: Executor$Client): Promise<{ process: Process$Client; pid: number }> {
  const { process, pid } = await ex.spawn({ spec: { moduleBytes: await assemble(SLEEPER_WAT), argv: ['sleeper'] } });
  return { process, pid };
}

const kindOf = async (p: Process$Client): Promise<ExitKind> => (await p.wait()).status.reason.kind;

test('a peer killed -9: the process linked to one of its processes ends peer-lost, on this peer and on a third', async (t) => {
  const { peers, owner } = await threePeers(t);
  const [, p2, p3] = peers;
  const here = owner.node.executor().executor;
  const onP2 = owner.node.peer({ peerId: p2.peerId }).node.executor().executor;
  const onP3 = owner.node.peer({ peerId: p3.peerId }).node.executor().executor;
  const doomed = await spawnSleeper(onP3);
  const local = await spawnSleeper(here);
  const third = await spawnSleeper(onP2); // linked to p3's process through p1
  const bystander = await spawnSleeper(here);
  await local.process.link({ other: doomed.process });
  await third.process.link({ other: doomed.process });

  await p3.kill9();
  assert.equal(await kindOf(local.process), ExitKind.peerLost);
  assert.equal(await kindOf(third.process), ExitKind.peerLost);
  // Not exited: running, or still queued for a worker (ProcessState: exited is 2, queued 3).
  assert.notEqual((await bystander.process.info()).info.state, 2, 'a process linked to nothing there runs on');
  // What the ww commands on p1 say of it.
  const listed = peers[0].json<{ pid: number; reason: { kind: string } | null }[]>(['ps']).find((x) => x.pid === local.pid);
  assert.equal(listed?.reason?.kind, 'peer-lost');
  const waited = peers[0].ww(['wait', String(local.pid)]);
  assert.equal(waited.status, 137, `ww wait exits 137 as for any link's end: ${waited.stdout}${waited.stderr}`);
  assert.match(waited.stdout + waited.stderr, /peer-lost/);
  await bystander.process.kill();
});

test('a host cut off: the processes linked across the cut end peer-lost on both sides', async (t) => {
  const { net, peers, owner } = await threePeers(t);
  const [, p2] = peers;
  const here = owner.node.executor().executor;
  const onP2 = owner.node.peer({ peerId: p2.peerId }).node.executor().executor;
  const there = await spawnSleeper(onP2);
  const local = await spawnSleeper(here);
  await local.process.link({ other: there.process });

  net.cut(p2.index);
  assert.equal(await kindOf(local.process), ExitKind.peerLost);
  // The cut-off side, asked through its own socket (a file: the cut does not hide it).
  const p2Owner = await connectNode(p2.socket);
  t.after(() => p2Owner.close());
  const seen = p2Owner.node.admin().admin.process({ pid: there.pid }).process;
  assert.equal(await kindOf(seen), ExitKind.peerLost);
  net.heal(p2.index);
});
