// `ww start --raft` and `ww registry get|put|ls` end to end: three real `ww start` processes on
// loopback; a put on one is read on another; the leader killed with SIGKILL, a put on a survivor
// succeeds and the earlier write is kept. And the refusals, each one `ww: ...` line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadIdentity } from '../../src/cluster/index.js';
import { connectNode } from '../../src/node/index.js';
import { oneErrorLine, runWw, startNodeProcess, tempDir, type NodeUnderTest } from '../cli-node/helpers.js';
import { eventually } from '../executor/helpers.js';

async function role(node: NodeUnderTest): Promise<string> {
  const s = await connectNode(node.socketPath);
  try {
    return (await s.node.registry().registry.status()).status.role;
  } finally {
    s.close();
  }
}

/** Retries while the registry has no leader yet (an election after start or after a loss). */
async function registry(node: NodeUnderTest, args: string[]) {
  let last = await runWw(['registry', ...args, '--socket', node.socketPath]);
  for (let i = 0; i < 60 && last.status !== 0 && /no leader yet/.test(last.stderr); i++) {
    await new Promise((r) => setTimeout(r, 250));
    last = await runWw(['registry', ...args, '--socket', node.socketPath]);
  }
  return last;
}

test('ww start --raft is refused without --data-dir or members, and ww registry on a node without --raft says so', async () => {
  const noDir = await runWw(['start', '--raft', '--raft-member', '12D3KooWEtiknGu1cgP4rNYFMeHEAqHodQN5YirnQpGy51PGTQED']);
  assert.equal(noDir.status, 2);
  assert.match(oneErrorLine(noDir.stderr), /--data-dir/);
  const dir = tempDir('raft');
  try {
    const noMembers = await runWw(['start', '--raft', '--data-dir', join(dir.path, 'd')]);
    assert.equal(noMembers.status, 2);
    assert.match(oneErrorLine(noMembers.stderr), /--raft-member/);
  } finally {
    dir.cleanup();
  }
  const plain = await startNodeProcess();
  try {
    const r = await runWw(['registry', 'get', 'x', '--socket', plain.socketPath]);
    assert.equal(r.status, 1);
    assert.match(oneErrorLine(r.stderr), /runs no cluster registry.*--raft/);
  } finally {
    await plain.dispose();
  }
});

test('three ww start --raft: put on one, get on another, the leader killed -9, a put on a survivor', async () => {
  const dir = tempDir('raft');
  const nodes: NodeUnderTest[] = [];
  try {
    const dataDirs = [0, 1, 2].map((i) => join(dir.path, `data${i}`));
    const ids = await Promise.all(dataDirs.map(async (d) => (await loadIdentity(d)).peerId));
    const addresses: string[] = [];
    for (const d of dataDirs) {
      const args = ['--data-dir', d, '--raft', ...ids.flatMap((id) => ['--raft-member', id, '--allow', id]), ...addresses.flatMap((a) => ['--join', a])];
      const node = await startNodeProcess(args);
      nodes.push(node);
      addresses.push((await node.waitForLine(/^ww: peer /)).split(' on ')[1]!.split(';')[0]!.split(' ')[0]!);
    }
    const put = await registry(nodes[0]!, ['put', 'svc/db', '/ip4/10.0.0.2/tcp/5432']);
    assert.equal(put.status, 0, put.stderr);
    const get = await registry(nodes[2]!, ['get', 'svc/db']);
    assert.equal(get.status, 0, get.stderr);
    assert.equal(get.stdout, '/ip4/10.0.0.2/tcp/5432\n');
    const ls = await registry(nodes[1]!, ['ls', '--json']);
    assert.equal(ls.status, 0, ls.stderr);
    const records = JSON.parse(ls.stdout) as Array<{ name: string; owner: string; version: number; expiresAtMs: number | null }>;
    assert.deepEqual(records.map((r) => [r.name, r.owner, r.expiresAtMs]), [['svc/db', ids[0], null]]);

    const big = await registry(nodes[1]!, ['put', 'big', 'x'.repeat(70 * 1024)]);
    assert.equal(big.status, 1);
    assert.match(oneErrorLine(big.stderr), /value is at most 65536 bytes/);
    const missing = await registry(nodes[1]!, ['get', 'nothing']);
    assert.equal(missing.status, 1);
    assert.match(oneErrorLine(missing.stderr), /no name 'nothing'/);
    const claim = await registry(nodes[1]!, ['put', 'lock', 'mine', '--ttl', '30s', '--json']);
    assert.equal(claim.status, 0, claim.stderr);
    assert.equal((JSON.parse(claim.stdout) as { won: boolean }).won, true);

    // The leader killed without warning: the others elect one and take writes; nothing acknowledged is lost.
    const roles = await Promise.all(nodes.map(role));
    const leaderAt = roles.indexOf('leader');
    assert.ok(leaderAt >= 0, `roles ${roles.join(' ')}`);
    await nodes[leaderAt]!.stop('SIGKILL');
    const survivors = nodes.filter((_, i) => i !== leaderAt);
    await eventually('a new leader', async () => (await Promise.all(survivors.map(role))).includes('leader'), 30_000);
    const after = await registry(survivors[0]!, ['put', 'svc/after', 'v2']);
    assert.equal(after.status, 0, after.stderr);
    const names = await registry(survivors[1]!, ['ls']);
    assert.equal(names.status, 0, names.stderr);
    assert.deepEqual(names.stdout.split('\n').slice(1, -1).map((l) => l.split(/\s+/)[0]), ['lock', 'svc/after', 'svc/db']);
  } finally {
    for (const n of nodes) await n.dispose();
    dir.cleanup();
  }
});
