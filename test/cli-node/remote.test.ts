// Placement from the command line: two `ww start` peers holding one swarm key; the CLI talks only to
// node A, which reaches B through Node.peer. ww run --peer, --peer auto, ww ps --cluster, and the
// process commands on PEER/PID.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuLoop, eventually, FOREVER, hello, runWw, startNodeProcess, tempDir, type NodeUnderTest } from './helpers.js';

// This machine may stall a node's event loop past the default 1.5 s peer timeout: a dropped
// connection is not what these tests are about.
const PEER_FLAGS = ['--peer-timeout', '60s'];
let dir: { path: string; cleanup(): void };
let a: NodeUnderTest;
let b: NodeUnderTest;
let aId: string;
let bId: string;

before(async () => {
  dir = tempDir('remote');
  const key = join(dir.path, 'swarm.key');
  writeFileSync(key, (await runWw(['swarm-key'])).stdout, { mode: 0o600 });
  a = await startNodeProcess(['--swarm-key', key, ...PEER_FLAGS]);
  const aInfo = JSON.parse((await runWw(['id', '--json', '--socket', a.socketPath])).stdout) as { peerId: string; addresses: string[] };
  aId = aInfo.peerId;
  b = await startNodeProcess(['--swarm-key', key, '--join', aInfo.addresses[0]!, ...PEER_FLAGS]);
  bId = (JSON.parse((await runWw(['id', '--json', '--socket', b.socketPath])).stdout) as { peerId: string }).peerId;
  // B compiles each new module once, stalling for seconds on a loaded machine: do it before the tests.
  for (const m of [hello, cpuLoop]) assert.equal((await runWw(['run', '--socket', b.socketPath, '--detach', m, '--', '1'])).status, 0);
  await eventually('A sees B', async () => {
    const r = await runWw(['cluster', 'ls', '--json', '--socket', a.socketPath]);
    return (JSON.parse(r.stdout) as unknown[]).length === 2 ? true : undefined;
  }, 60_000);
});
after(async () => {
  if (process.env.WW_KEEP_NODE_LOGS) {
    writeFileSync(join(process.env.WW_KEEP_NODE_LOGS, 'a.log'), a?.stderr() ?? '');
    writeFileSync(join(process.env.WW_KEEP_NODE_LOGS, 'b.log'), b?.stderr() ?? '');
  }
  await a?.dispose();
  await b?.dispose();
  dir?.cleanup();
});

/** The shortest prefix of `id` that the other peer's ID does not start with. */
const prefixOf = (id: string, other: string): string => {
  for (let n = 1; ; n++) if (!other.startsWith(id.slice(0, n))) return id.slice(0, n);
};

test('ww run --peer PREFIX runs on the other peer: its output and exit status here, the process there', async () => {
  const r = await runWw(['run', '--socket', a.socketPath, '--peer', prefixOf(bId, aId), hello]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /hello/i);
  assert.match(b.stderr(), /start pid=\d+ .*argv=\["hello\.wasm"\]/, 'B ran it');
  assert.doesNotMatch(a.stderr(), /argv=\["hello\.wasm"\]/, 'A did not');
});

test('what the other peer refuses (--dir) is one line naming it, exit 1; an unknown peer is one line, exit 1', async () => {
  const r = await runWw(['run', '--socket', a.socketPath, '--peer', bId, '--dir', dir.path, hello]);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^ww: peer ${bId} refused: .*`));
  const unknown = await runWw(['run', '--socket', a.socketPath, '--peer', '12D3KooWzzzz', hello]);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /^ww: no live peer's ID starts with "12D3KooWzzzz" \(`ww cluster ls` lists the live peers\)\n$/);
  const bad = await runWw(['run', '--socket', a.socketPath, '--peer', 'not/a/peer', hello]);
  assert.equal(bad.status, 2);
});

test('a sleeper on B: ww ps --cluster lists it as PEER/PID; ww kill PEER/PID ends it and ww wait PEER/PID says so', async () => {
  const detached = await runWw(['run', '--socket', a.socketPath, '--peer', bId, '--detach', cpuLoop, '--', FOREVER]);
  assert.equal(detached.status, 0, detached.stderr);
  const [peer, pidText] = detached.stdout.trim().split('/');
  assert.equal(peer, bId);
  const pid = Number(pidText);
  assert.ok(pid > 1);

  const json = await runWw(['ps', '--cluster', '--json', '--socket', a.socketPath]);
  assert.equal(json.status, 0, json.stderr);
  const listing = JSON.parse(json.stdout) as { peerId: string; self: boolean; error: string | null; processes: { pid: number; peerId: string; state: string }[] }[];
  assert.deepEqual(listing.map((l) => l.peerId), [aId, bId]);
  assert.equal(listing[0]!.self, true);
  assert.ok(listing[0]!.processes.some((p) => p.pid === 1), 'this node\'s own, init included (as owner)');
  const onB = listing[1]!;
  assert.equal(onB.error, null);
  assert.ok(onB.processes.every((p) => p.peerId === bId && p.pid !== 1), 'on B only what A spawned there (no init)');
  assert.ok(onB.processes.some((p) => p.pid === pid && (p.state === 'running' || p.state === 'queued')));

  const table = await runWw(['ps', '--cluster', '--socket', a.socketPath]);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^\\s*${bId.slice(0, 12)}\\w*/${pid}\\s`, 'm'));

  const ref = `${prefixOf(bId, aId)}/${pid}`;
  const info = await runWw(['info', '--json', '--socket', a.socketPath, ref]);
  assert.equal(info.status, 0, info.stderr);
  assert.equal((JSON.parse(info.stdout) as { peerId: string }).peerId, bId);
  const kill = await runWw(['kill', '--socket', a.socketPath, ref]);
  assert.equal(kill.status, 0, kill.stderr);
  const wait = await runWw(['wait', '--socket', a.socketPath, ref]);
  assert.equal(wait.status, 137);
  assert.equal(wait.stderr, `ww: process ${ref} ended: killed\n`);
  // A pid on B that A's principal did not spawn (B's init) reads as absent.
  const init = await runWw(['info', '--socket', a.socketPath, `${bId}/1`]);
  assert.equal(init.status, 1);
  assert.match(init.stderr, /^ww: no such process: 1\n$/);
});

test('--peer auto picks the less loaded peer: B while A runs a sleeper', async () => {
  const sleeper = await runWw(['run', '--socket', a.socketPath, '--detach', cpuLoop, '--', FOREVER]);
  assert.equal(sleeper.status, 0, sleeper.stderr);
  try {
    // B's heartbeat says it runs nothing of A's any more (the killed sleeper above has ended).
    await eventually('B is the least loaded in A\'s view', async () => {
      const peers = JSON.parse((await runWw(['cluster', 'ls', '--json', '--socket', a.socketPath])).stdout) as { peerId: string; running: number; queued: number }[];
      const load = (id: string): number => peers.filter((p) => p.peerId === id).reduce((n, p) => n + p.running + p.queued, 0);
      return load(bId) < load(aId) ? true : undefined;
    }, 30_000);
    const r = await runWw(['run', '--socket', a.socketPath, '--peer', 'auto', '--detach', hello]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${bId}/\\d+\\n$`));
  } finally {
    await runWw(['kill', '--socket', a.socketPath, sleeper.stdout.trim()]);
  }
});
