// The registry across namespaces: three `ww start --raft` peers, clients writing and reading through
// each node's socket while the Raft leader is killed with SIGKILL; every acknowledged write survives
// and the recorded history is linearizable (fixtures/linearizability).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory } from '../fixtures/linearizability/check.js';
import { Recorder } from '../fixtures/linearizability/history.js';
import { connectNode, type NodeConnection } from '../src/node/index.js';
import { registryRefusalCode } from '../src/node/registry-cap.js';
import { TestNetwork } from './netns.js';
import { makePeers, swarmKeyFile, type Peer } from './peers.js';
import { requireNamespaces } from './require.js';

requireNamespaces();

/** Refused before anything was proposed: the operation certainly did not take effect. */
const refusedBeforeProposing = (e: unknown): boolean => ['no-leader', 'not-member', 'not-permitted', 'registry-bound'].includes(registryRefusalCode(e) ?? '');

async function roleOf(p: Peer): Promise<string> {
  const s = await connectNode(p.socket);
  try {
    return (await s.node.registry().registry.status()).status.role;
  } finally {
    s.close();
  }
}

/** The peer that leads, asked every 200 ms for up to 30 s. */
async function leaderAmong(peers: readonly Peer[]): Promise<Peer | undefined> {
  for (let i = 0; i < 150; i++) {
    for (const p of peers) if ((await roleOf(p).catch(() => '')) === 'leader') return p;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

test('the raft leader killed -9 during writes: no acknowledged write lost, the history linearizable', async (t) => {
  const net = TestNetwork.create(3);
  const { peers, dir, cleanup } = await makePeers(net);
  const sessions: NodeConnection[] = [];
  t.after(async () => {
    for (const s of sessions) s.close();
    await net.close();
    cleanup();
  });
  const key = swarmKeyFile(dir);
  const raft = ['--raft', ...peers.flatMap((p) => ['--raft-member', p.peerId])];
  for (const [i, p] of peers.entries()) await p.start({ swarmKey: key, join: peers.slice(0, i), args: raft });

  const leader = await leaderAmong(peers);
  assert.ok(leader, 'a leader within 30 s');

  const recorder = new Recorder(() => performance.now());
  const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
  let stop = false;
  let seq = 0;
  const client = async (p: Peer, name: string): Promise<void> => {
    const s = await connectNode(p.socket);
    sessions.push(s);
    const registry = s.node.registry().registry;
    while (!stop) {
      const k = keys[seq % keys.length]!;
      const write = seq % 2 === 0;
      const value = `${name}-${seq++}`;
      if (write) await recorder.record(name, { kind: 'put', key: k, value }, async () => (await registry.put({ name: k, value }), { kind: 'put' as const }), refusedBeforeProposing);
      else await recorder.record(name, { kind: 'get', key: k }, async () => { const r = await registry.get({ name: k }); return { kind: 'get' as const, value: r.found ? r.record.value : null }; }, refusedBeforeProposing);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const acknowledgedWrites = (): number => recorder.history().filter((o) => o.output !== null && o.input.kind === 'put').length;
  /** Lets the clients run until `n` more writes are acknowledged (at most a minute: the machine may be slow). */
  const whileWriting = async (n: number): Promise<void> => {
    const target = acknowledgedWrites() + n;
    for (let i = 0; i < 600 && acknowledgedWrites() < target; i++) await new Promise((r) => setTimeout(r, 100));
  };
  const clients = peers.map((p, i) => client(p, `c${i}`).catch(() => {}));
  await whileWriting(5);
  await leader.kill9();
  const survivors = peers.filter((p) => p !== leader);
  assert.ok(await leaderAmong(survivors), 'the survivors elect a leader within 30 s');
  const beforeElection = acknowledgedWrites();
  await whileWriting(5);
  stop = true;
  await Promise.all(clients);

  // A last read of every key on each survivor, after everything else: a lost acknowledged write shows here.
  for (const p of survivors) {
    const s = await connectNode(p.socket);
    sessions.push(s);
    for (const k of keys) {
      await recorder.record(`final-${p.index}`, { kind: 'get', key: k }, async () => { const r = await s.node.registry().registry.get({ name: k }); return { kind: 'get' as const, value: r.found ? r.record.value : null }; });
    }
  }
  const history = recorder.history();
  assert.ok(acknowledgedWrites() >= beforeElection + 5, `writes acknowledged after the election: ${acknowledgedWrites() - beforeElection}`);
  const finals = history.filter((o) => o.client.startsWith('final-'));
  assert.ok(finals.every((o) => o.output !== null), 'the survivors answer every final read');
  const verdict = checkHistory(history, { budget: 20_000_000 });
  assert.equal(verdict.verdict, 'linearizable', verdict.verdict === 'linearizable' ? '' : verdict.explanation);
});
