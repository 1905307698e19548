// A remote peer is a principal of its own: it spawns on another node over the libp2p RPC stream,
// sees only its own processes, and gets no admin capability, no host directory, no listening socket.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { OutputMode, type Node$Client } from '../../src/capnp-gen/ww.rpc.js';
import { connectNode } from '../../src/node/index.js';
import { helloWasm, text } from '../executor/helpers.js';
import { peerDir, refusedWith, startPeer, type TestPeer } from './helpers.js';

let a: TestPeer;
let b: TestPeer;
let bFromA: Node$Client;
before(async () => {
  const [da, db] = [await peerDir(), await peerDir()];
  a = await startPeer({ allow: [db.peerId] }, { dir: da.dir });
  b = await startPeer({ allow: [da.peerId] }, { dir: db.dir });
  bFromA = await a.node.cluster!.dial(b.node.addresses[0]);
});
after(async () => {
  bFromA?.release();
  await a?.close();
  await b?.close();
});

test('each address ends with the peer ID, and identity() over libp2p says who answered and where', async () => {
  assert.match(a.node.peerId, /^12D3KooW/);
  for (const addr of b.node.addresses) assert.ok(addr.endsWith(`/p2p/${b.node.peerId}`), addr);
  const { info } = await bFromA.identity();
  assert.equal(info.peerId, b.node.peerId);
  assert.deepEqual(info.addresses, b.node.addresses);
});

test('a remote peer spawns hello on another node over the libp2p stream and waits for exit 0; its ps lists only its own', async () => {
  // The owner of b runs something first: the remote peer must not see it.
  const owner = await connectNode(b.node.socketPath);
  const mine = await owner.node.executor().executor.spawn({ spec: { moduleBytes: helloWasm(), argv: ['hello'] } });
  await mine.process.wait();
  const ex = bFromA.executor().executor;
  const { process, pid } = await ex.spawn({ spec: { moduleBytes: helloWasm(), argv: ['hello'], stdout: { mode: OutputMode.capture } } });
  const { status } = await process.wait();
  assert.equal(status.code, 0);
  assert.match(text(status.stdout), /hello/i);
  const { processes } = await ex.ps();
  assert.deepEqual(processes.map((p) => p.pid), [pid], 'the remote principal sees its own process only (not init, not the owner\'s)');
  const ownerSees = (await owner.node.admin().admin.ps({ after: 0, max: 0 })).processes.map((p) => p.pid);
  assert.ok(ownerSees.includes(mine.pid) && ownerSees.includes(pid), 'the owner sees both');
  process.release();
  ex.release();
  owner.close();
});

test('admin() is refused to a remote peer', async () => {
  assert.equal(await refusedWith(bFromA.admin().admin.ps({ after: 0, max: 0 })), 'not-permitted');
});

test('a remote peer may not pre-open a host directory nor listen on a socket', async () => {
  const ex = bFromA.executor().executor;
  assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: helloWasm(), dirs: [{ hostPath: b.dir, guestPath: '/d' }] } })), 'not-permitted');
  assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: helloWasm(), listen: ['127.0.0.1:0'] } })), 'not-permitted');
  ex.release();
});

test('the session is symmetric: the dialed peer reaches the dialer\'s Node over the same stream', async () => {
  const aFromB = await b.node.cluster!.dial(a.node.peerId);
  assert.equal((await aFromB.identity()).info.peerId, a.node.peerId);
  assert.equal(b.node.cluster!.connectedPeers().length, 1);
  aFromB.release();
});
