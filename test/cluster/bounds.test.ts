// What an admitted but hostile peer can make a node hold: one connection per peer, a bounded
// number of RPC streams, and the node keeps serving everyone else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { multiaddr } from '@multiformats/multiaddr';
import { RPC_PROTOCOL } from '../../src/cluster/index.js';
import { eventually } from '../executor/helpers.js';
import { peerDir, startPeer } from './helpers.js';

test('a peer that floods connections keeps one, and one that floods RPC streams holds at most two on the node; the node serves on', async () => {
  const [da, dh, dg] = [await peerDir(), await peerDir(), await peerDir()];
  const a = await startPeer({ allow: [dh.peerId, dg.peerId] }, { dir: da.dir });
  const hostile = await startPeer({ allow: [da.peerId] }, { dir: dh.dir });
  const good = await startPeer({ allow: [da.peerId] }, { dir: dg.dir });
  try {
    const host = hostile.node.cluster!.host;
    const target = multiaddr(a.node.addresses[0]);
    // force: a new connection each time, past libp2p's own reuse.
    const dials = await Promise.allSettled(Array.from({ length: 20 }, () => host.dial(target, { force: true })));
    assert.ok(dials.some((d) => d.status === 'fulfilled'));
    const hostilePeer = host.peerId;
    await eventually('one connection per peer', () => a.node.cluster!.host.getConnections(hostilePeer).filter((c) => c.status === 'open').length === 1);

    // Each new stream replaces the peer's session (a peer that lost its stream opens another): the node holds one.
    await Promise.allSettled(Array.from({ length: 20 }, () => host.dialProtocol(target, RPC_PROTOCOL)));
    await eventually(
      'the hostile peer holds at most two RPC streams on the node',
      () =>
        a.node.cluster!.host
          .getConnections(hostilePeer)
          .flatMap((c) => c.streams)
          .filter((s) => s.protocol === RPC_PROTOCOL && s.status === 'open').length <= 2,
    );

    const fromGood = await good.node.cluster!.dial(a.node.addresses[0]);
    assert.equal((await fromGood.identity()).info.peerId, a.node.peerId, 'another peer is still served');
    fromGood.release();
  } finally {
    await hostile.close();
    await good.close();
    await a.close();
  }
});
