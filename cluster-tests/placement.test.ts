// Placement across real peers in namespaces: `ww run --peer auto` lands on the least loaded peer,
// `ww ps --cluster` lists what this client spawned on every peer as PEER/PID, and the process
// commands reach it there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repoRoot } from '../fixtures/wat.js';
import { eventually, swarmOfThree, type Peer } from './peers.js';
import { requireNamespaces } from './require.js';

requireNamespaces();

const CPU_LOOP = join(repoRoot(), 'examples', 'cpu-loop', 'cpu-loop.wasm');
const HELLO = join(repoRoot(), 'examples', 'hello.wasm');
const FOREVER = '100000000000';

interface Listed {
  peerId: string;
  self: boolean;
  error: string | null;
  processes: { pid: number; peerId: string; state: string }[];
}

test('ww run --peer auto picks the idle peer; ww ps --cluster shows it as PEER/PID; ww kill and wait reach it', async (t) => {
  const [p1, p2, p3] = (await swarmOfThree(t)).peers;

  // p1 and p2 each run a spinner of p1's client; p3 runs nothing.
  const local = p1.ww(['run', '--detach', CPU_LOOP, '--', FOREVER]);
  assert.equal(local.status, 0, local.stderr);
  const onP2 = p1.ww(['run', '--peer', p2.peerId, '--detach', CPU_LOOP, '--', FOREVER]);
  assert.equal(onP2.status, 0, `${onP2.stderr}\np1's log:\n${p1.log}\np2's log:\n${p2.log}`);
  assert.match(onP2.stdout, new RegExp(`^${p2.peerId}/\\d+\\n$`));
  await eventually(() => `p3 the least loaded in p1's view:\n${JSON.stringify(p1.json(['cluster', 'ls']))}`, 30_000, () => {
    const view = p1.json<{ peerId: string; running: number; queued: number }[]>(['cluster', 'ls']);
    const load = (p: Peer): number => view.filter((v) => v.peerId === p.peerId).reduce((n, v) => n + v.running + v.queued, 0);
    return load(p3) < load(p1) && load(p3) < load(p2) ? true : undefined;
  });
  const auto = p1.ww(['run', '--peer', 'auto', '--detach', CPU_LOOP, '--', FOREVER]);
  assert.equal(auto.status, 0, `${auto.stderr}\np1's log:\n${p1.log}\np3's log:\n${p3.log}`);
  assert.match(auto.stdout, new RegExp(`^${p3.peerId}/\\d+\\n$`), 'auto chose the idle peer');
  const onP3 = auto.stdout.trim();

  // Attached on another peer: its output and exit status come back here.
  const hello = p1.ww(['run', '--peer', p3.peerId.slice(0, 20), HELLO]);
  assert.equal(hello.status, 0, hello.stderr);
  assert.match(hello.stdout, /hello/i);

  const listing = p1.json<Listed[]>(['ps', '--cluster']);
  assert.deepEqual(listing.map((l) => l.peerId).sort(), [p1.peerId, p2.peerId, p3.peerId].sort());
  assert.equal(listing[0]!.peerId, p1.peerId);
  for (const l of listing) assert.equal(l.error, null, `${l.peerId}: ${l.error}`);
  const pidOn = (_p: Peer, ref: string): number => Number(ref.split('/')[1]);
  const byPeer = new Map(listing.map((l) => [l.peerId, l]));
  assert.ok(byPeer.get(p2.peerId)!.processes.some((p) => p.pid === pidOn(p2, onP2.stdout.trim()) && (p.state === 'running' || p.state === 'queued')));
  assert.ok(byPeer.get(p3.peerId)!.processes.some((p) => p.pid === pidOn(p3, onP3) && (p.state === 'running' || p.state === 'queued')));

  // p2's owner sees every process on p2, p1's among them; p1's client saw none of p2's own (init).
  const p2Own = p2.json<{ pid: number }[]>(['ps']);
  assert.ok(p2Own.some((p) => p.pid === pidOn(p2, onP2.stdout.trim())));
  assert.ok(!byPeer.get(p2.peerId)!.processes.some((p) => p.pid === 1), 'p2\'s init is not p1\'s to see');

  for (const ref of [onP2.stdout.trim(), onP3]) {
    const kill = p1.ww(['kill', ref]);
    assert.equal(kill.status, 0, kill.stderr);
    const wait = p1.ww(['wait', ref]);
    assert.equal(wait.status, 137, wait.stderr);
    assert.equal(wait.stderr, `ww: process ${ref} ended: killed\n`);
  }
  assert.equal(p1.ww(['kill', local.stdout.trim()]).status, 0);
});
