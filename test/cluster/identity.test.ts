// The node's identity: an Ed25519 key in its data directory, so the peer ID survives restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDENTITY_FILE } from '../../src/cluster/index.js';
import { failure, peerDir, startPeer } from './helpers.js';

test('the peer ID persists across restarts with the same data directory, in a 0600 key file', async () => {
  const { dir, dataDir, peerId } = await peerDir();
  const first = await startPeer({ allow: [] }, { dir });
  assert.equal(first.node.peerId, peerId);
  await first.node.close();
  assert.equal(statSync(join(dataDir, IDENTITY_FILE)).mode & 0o777, 0o600);
  const second = await startPeer({ allow: [] }, { dir });
  assert.equal(second.node.peerId, peerId);
  await second.close();
});

test('without a data directory, each start is a new peer', async () => {
  const a = await startPeer({ allow: [] }, { dataDir: undefined });
  const b = await startPeer({ allow: [] }, { dataDir: undefined });
  assert.notEqual(a.node.peerId, b.node.peerId);
  assert.match(a.node.peerId, /^12D3KooW/);
  await a.close();
  await b.close();
});

test('a corrupt key file is refused with a clear error and left as it was', async () => {
  const { dir, dataDir } = await peerDir();
  const file = join(dataDir, IDENTITY_FILE);
  writeFileSync(file, 'garbage');
  const err = await failure(startPeer({ allow: [] }, { dir }));
  assert.equal(err.code, 'bad-key-file');
  assert.match(err.message, new RegExp(`${file} is not a readable private key`));
  assert.equal(readFileSync(file, 'utf8'), 'garbage', 'never silently replaced');
});
