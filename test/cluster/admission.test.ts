// Who may connect, as the operator decides (src/cluster/admission.ts): an allow-list of peer IDs,
// a swarm key, both, or neither (nobody). A refused peer gets a refusal and nothing else; the
// refusing node logs one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newSwarmKey } from '../../src/cluster/index.js';
import { eventually } from '../executor/helpers.js';
import { failure, peerDir, startPeer, type TestPeer } from './helpers.js';

async function withPeers(fn: (close: (p: TestPeer) => TestPeer) => Promise<void>): Promise<void> {
  const peers: TestPeer[] = [];
  try {
    await fn((p) => (peers.push(p), p));
  } finally {
    for (const p of peers) await p.close();
  }
}

test('a peer not on the allow-list is refused: its dial says so, the refusing node logs one line, and no session or gossip follows', () =>
  withPeers(async (keep) => {
    const [da, dc] = [await peerDir(), await peerDir()];
    const lines: string[] = [];
    const other = await peerDir();
    const a = keep(await startPeer({ allow: [other.peerId] }, { dir: da.dir, log: (l) => lines.push(l) }));
    const c = keep(await startPeer({ allow: [da.peerId] }, { dir: dc.dir }));
    const err = await failure(c.node.cluster!.dial(a.node.addresses[0]));
    assert.equal(err.code, 'refused');
    assert.match(err.message, new RegExp(`${a.node.peerId} refused the connection right after the handshake: this node \\(${dc.peerId}\\) is probably not on its allow-list`));
    await eventually('the refusal logged', () => lines.some((l) => l.includes(`refused a connection from ${dc.peerId}`)));
    assert.equal(lines.filter((l) => l.includes(dc.peerId)).length, 1, lines.join('\n'));
    await eventually('no connection stays', () => a.node.cluster!.connectedPeers().length === 0 && c.node.cluster!.connectedPeers().length === 0);
  }));

test('a node does not dial a peer it would not admit', () =>
  withPeers(async (keep) => {
    const a = keep(await startPeer({ allow: [] }));
    const b = keep(await startPeer({ allow: [a.node.peerId] }));
    const err = await failure(a.node.cluster!.dial(b.node.addresses[0]));
    assert.equal(err.code, 'not-admitted');
    assert.match(err.message, /not on the allow-list/);
  }));

test('with neither an allow-list nor a swarm key, no peer is admitted', () =>
  withPeers(async (keep) => {
    const a = keep(await startPeer({}));
    const c = keep(await startPeer({ allow: [a.node.peerId] }));
    assert.equal((await failure(c.node.cluster!.dial(a.node.addresses[0]))).code, 'refused');
    assert.equal((await failure(a.node.cluster!.dial(c.node.addresses[0]))).code, 'not-admitted');
  }));

test('with a swarm key only holders connect: the same key is admitted, a wrong or missing key is refused at the handshake', () =>
  withPeers(async (keep) => {
    const key = new TextEncoder().encode(newSwarmKey());
    const a = keep(await startPeer({ swarmKey: key }));
    const b = keep(await startPeer({ swarmKey: key }));
    const node = await b.node.cluster!.dial(a.node.addresses[0]);
    assert.equal((await node.identity()).info.peerId, a.node.peerId);
    node.release();

    const wrong = keep(await startPeer({ swarmKey: new TextEncoder().encode(newSwarmKey()) }));
    const err = await failure(wrong.node.cluster!.dial(a.node.addresses[0]));
    assert.equal(err.code, 'refused');
    assert.match(err.message, /swarm key/);

    const none = keep(await startPeer({ allow: [a.node.peerId] }));
    const err2 = await failure(none.node.cluster!.dial(a.node.addresses[0]));
    assert.equal(err2.code, 'refused');
    assert.match(err2.message, /swarm key/);
  }));

test('with a swarm key and an allow-list, a peer must hold the key and be listed', () =>
  withPeers(async (keep) => {
    const keyFile = join((await peerDir()).dir, 'swarm.key');
    writeFileSync(keyFile, newSwarmKey(), { mode: 0o600 });
    const [da, db] = [await peerDir(), await peerDir()];
    const a = keep(await startPeer({ swarmKey: keyFile, allow: [db.peerId] }, { dir: da.dir }));
    const b = keep(await startPeer({ swarmKey: keyFile, allow: [da.peerId] }, { dir: db.dir }));
    const stranger = keep(await startPeer({ swarmKey: keyFile, allow: [da.peerId] }));
    const node = await b.node.cluster!.dial(a.node.addresses[0]);
    assert.equal((await node.identity()).info.peerId, a.node.peerId);
    node.release();
    assert.equal((await failure(stranger.node.cluster!.dial(a.node.addresses[0]))).code, 'refused', 'holds the key, not listed');
  }));

test('a swarm key file in another format is refused, saying how to make one', async () => {
  const { dir } = await peerDir();
  const file = join(dir, 'swarm.key');
  writeFileSync(file, 'not a key\n', { mode: 0o600 });
  const err = await failure(startPeer({ swarmKey: file }, { dir }));
  assert.equal(err.code, 'bad-swarm-key');
  assert.match(err.message, /ww swarm-key/);
});

test('an allow-list entry that is not a peer ID is refused at start', async () => {
  const err = await failure(startPeer({ allow: ['not-a-peer'] }));
  assert.equal(err.code, 'bad-allow-list');
});

test('an allow-list entry written as a CID (bafz...) admits the same peer as its base58 form', async () => {
  const { Admission } = await import('../../src/cluster/index.js');
  const { peerIdFromString } = await import('@libp2p/peer-id');
  const { peerId } = await peerDir();
  const asCid = peerIdFromString(peerId).toCID().toString();
  assert.notEqual(asCid, peerId);
  assert.ok(new Admission([asCid], false).admits(peerId));
  assert.ok(!new Admission([asCid], false).admits((await peerDir()).peerId));
});
