// A peer that answers no pings is taken for lost: its connection is closed within 2 s (plus what a
// loaded machine adds), and with it the RPC session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../executor/helpers.js';
import { peerDir, startPeer } from './helpers.js';

test('a peer that stops answering pings is dropped, its RPC session with it', async () => {
  const [da, db] = [await peerDir(), await peerDir()];
  const lines: string[] = [];
  const a = await startPeer({ allow: [db.peerId] }, { dir: da.dir, log: (l) => lines.push(l) });
  const b = await startPeer({ allow: [da.peerId] }, { dir: db.dir });
  try {
    const bFromA = await a.node.cluster!.dial(b.node.addresses[0]);
    await bFromA.identity();
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(a.node.cluster!.connectedPeers(), [b.node.peerId], 'a peer that answers stays connected');
    // b goes silent to pings (as a hung or partitioned peer would) while its TCP connection stays up.
    await b.node.cluster!.host.unhandle('/ipfs/ping/1.0.0');
    await eventually('a drops b', () => a.node.cluster!.connectedPeers().length === 0, 20_000);
    assert.ok(lines.some((l) => l.startsWith(`lost ${b.node.peerId}: no answer for`)), lines.join('\n'));
    await assert.rejects(async () => bFromA.identity(), 'the session ended with the connection');
  } finally {
    await a.close();
    await b.close();
  }
});
