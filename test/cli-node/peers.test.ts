// The cluster from the command line: ww start's peer flags, ww id, ww swarm-key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWw, startNodeProcess, tempDir } from './helpers.js';

test('ww id --json prints the peer ID and the addresses, each ending /p2p/<peer ID>; plain ww id the same for people', async () => {
  const node = await startNodeProcess(['--p2p', '/ip4/127.0.0.1/tcp/0']);
  try {
    const r = await runWw(['id', '--json', '--socket', node.socketPath]);
    assert.equal(r.status, 0, r.stderr);
    const id = JSON.parse(r.stdout) as { peerId: string; addresses: string[] };
    assert.deepEqual(Object.keys(id), ['peerId', 'addresses']);
    assert.match(id.peerId, /^12D3KooW\w+$/);
    assert.equal(id.addresses.length, 1);
    assert.match(id.addresses[0], new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${id.peerId}$`));
    const plain = await runWw(['id', '--socket', node.socketPath]);
    assert.equal(plain.stdout, `${id.peerId}\n  ${id.addresses[0]}\n`);
  } finally {
    await node.dispose();
  }
});

test('peers holding one swarm key join each other; a peer without it is refused at the handshake and says so', async () => {
  const dir = tempDir('swarm');
  const key = join(dir.path, 'swarm.key');
  const made = await runWw(['swarm-key']);
  assert.equal(made.status, 0, made.stderr);
  assert.match(made.stdout, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/);
  writeFileSync(key, made.stdout, { mode: 0o600 });
  const a = await startNodeProcess(['--swarm-key', key]);
  const nodes = [a];
  try {
    const aId = JSON.parse((await runWw(['id', '--json', '--socket', a.socketPath])).stdout) as { peerId: string; addresses: string[] };
    const b = await startNodeProcess(['--swarm-key', key, '--join', aId.addresses[0]]);
    nodes.push(b);
    assert.match(await b.waitForLine(/joined|cannot join/), new RegExp(`joined ${aId.peerId}`));
    const stranger = await startNodeProcess(['--allow', aId.peerId, '--join', aId.addresses[0]]);
    nodes.push(stranger);
    assert.match(await stranger.waitForLine(/joined|cannot join/), /cannot join .* refused the connection: the handshake failed \(it requires a swarm key/);
  } finally {
    for (const n of nodes) await n.dispose();
    dir.cleanup();
  }
});

test('--peer-timeout: a peer that stops answering (SIGSTOP) is dropped after it, with a line; out-of-range values are refused', async () => {
  const dir = tempDir('peer-timeout');
  const key = join(dir.path, 'swarm.key');
  assert.equal((await runWw(['swarm-key', '--out', key])).status, 0);
  const a = await startNodeProcess(['--swarm-key', key]);
  const nodes = [a];
  try {
    const aId = JSON.parse((await runWw(['id', '--json', '--socket', a.socketPath])).stdout) as { peerId: string; addresses: string[] };
    const b = await startNodeProcess(['--swarm-key', key, '--peer-timeout', '2s', '--join', aId.addresses[0]]);
    nodes.push(b);
    assert.match(await b.waitForLine(/joined|cannot join/), new RegExp(`joined ${aId.peerId}`));
    a.child.kill('SIGSTOP');
    try {
      assert.match(await b.waitForLine(/lost /), new RegExp(`lost ${aId.peerId}: no answer for \\d+ ms`));
    } finally {
      a.child.kill('SIGCONT');
    }
    for (const bad of ['1ms', '500ms', '25h']) {
      const r = await runWw(['start', '--socket', join(dir.path, 'x.sock'), '--peer-timeout', bad]);
      assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`--peer-timeout '${bad}' must be between 1s and 24h`));
    }
  } finally {
    for (const n of nodes) await n.dispose();
    dir.cleanup();
  }
});

test('ww swarm-key --out writes a key only its owner may read and never replaces one; ww start refuses a key others may read', async () => {
  const dir = tempDir('swarm-out');
  const key = join(dir.path, 'swarm.key');
  try {
    const made = await runWw(['swarm-key', '--out', key]);
    assert.equal(made.status, 0, made.stderr);
    assert.equal(made.stdout, '');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.match(readFileSync(key, 'utf8'), /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/);
    const before = readFileSync(key, 'utf8');
    const again = await runWw(['swarm-key', '--out', key]);
    assert.equal(again.status, 1);
    assert.equal(again.stderr, `ww: ${key} exists: a swarm key is never replaced (remove it first if you mean to)\n`);
    assert.equal(readFileSync(key, 'utf8'), before);
    chmodSync(key, 0o644);
    const r = await runWw(['start', '--socket', join(dir.path, 'node.sock'), '--swarm-key', key]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`the swarm key ${key} may be read by every user of this machine \\(mode 0644\\): \`chmod 600 ${key}\` first`));
  } finally {
    dir.cleanup();
  }
});

test('an allow-list file with something that is not a peer ID: ww start exits 1 naming the file and line', async () => {
  const dir = tempDir('allow');
  const file = join(dir.path, 'allow');
  writeFileSync(file, '# our peers\n\nnot-a-peer-id\n');
  try {
    const r = await runWw(['start', '--socket', join(dir.path, 'node.sock'), '--allow-file', file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${file}:3: "not-a-peer-id" is not a peer ID`));
  } finally {
    dir.cleanup();
  }
});

test('ww start --help names the peer flags; ww id and ww swarm-key have help', async () => {
  const start = await runWw(['start', '--help']);
  for (const flag of ['--p2p', '--join', '--allow', '--allow-file', '--swarm-key', '--mdns']) assert.ok(start.stdout.includes(flag), `${flag} in ww start --help`);
  assert.match((await runWw(['id', '--help'])).stdout, /--json/);
  assert.match((await runWw(['swarm-key', '--help'])).stdout, /swarm-key/);
});
