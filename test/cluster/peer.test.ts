// Node.peer: the owner reaches another peer's Node through its own node, by a unique prefix of the
// peer ID; what it gets there is this node's peer principal (no admin, only what it spawned), and
// nobody but the owner may ask. Executor.process finds a process of the Executor's own scope by pid.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitKind, OutputMode } from '../../src/capnp-gen/ww.rpc.js';
import { newSwarmKey, parseSwarmKey } from '../../src/cluster/index.js';
import { executorErrorFromRpc } from '../../src/executor/rpc.js';
import { connectNode, type NodeConnection } from '../../src/node/index.js';
import { cpuLoopWasm, FOREVER, helloWasm, text } from '../executor/helpers.js';
import { refusedWith, startPeer, type TestPeer } from './helpers.js';

const FAST = { intervalMs: 200, ttlMs: 10_000 };
// This machine may stall a node's event loop past the default 1 s ping timeout (a first spawn
// instruments its module): a dropped connection is not what these tests are about.
const bounds = { peerTimeoutMs: 30_000 };
let a: TestPeer;
let b: TestPeer;
let c: TestPeer;
let owner: NodeConnection;

async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  const swarmKey = parseSwarmKey(newSwarmKey(), 'test');
  a = await startPeer({ swarmKey, membership: FAST, bounds });
  b = await startPeer({ swarmKey, join: [a.node.addresses[0]!], membership: FAST, bounds });
  c = await startPeer({ swarmKey, join: [a.node.addresses[0]!], membership: FAST, bounds });
  owner = await connectNode(a.node.socketPath);
  await eventually('a sees all three', async () => ((await owner.node.cluster()).peers.length === 3 ? true : undefined));
});
after(async () => {
  owner?.close();
  await c?.close();
  await b?.close();
  await a?.close();
});

/** The shortest prefix of `id` that no other of `ids` starts with. */
function uniquePrefix(id: string, ids: string[]): string {
  for (let n = 1; ; n++) if (ids.filter((x) => x.startsWith(id.slice(0, n))).length === 1) return id.slice(0, n);
}

test('the owner reaches another peer by a unique prefix of its ID: that peer answers, and what runs there is its', async () => {
  const ids = [a, b, c].map((p) => p.node.peerId);
  const prefix = uniquePrefix(b.node.peerId, ids);
  const remote = owner.node.peer({ peerId: prefix }).node;
  assert.equal((await remote.identity()).info.peerId, b.node.peerId);
  const ex = remote.executor().executor;
  const { process, pid } = await ex.spawn({ spec: { moduleBytes: helloWasm(), argv: ['hello'], stdout: { mode: OutputMode.capture } } });
  const { status } = await process.wait();
  assert.equal(status.code, 0);
  assert.match(text(status.stdout), /hello/i);
  assert.equal((await process.info()).info.peerId, b.node.peerId);
  // b's owner sees it as spawned by a's peer principal.
  const bOwner = await connectNode(b.node.socketPath);
  const seen = (await bOwner.node.admin().admin.ps({ after: 0, max: 0 })).processes.find((p) => p.pid === pid);
  assert.ok(seen, 'b lists the process');
  bOwner.close();
  process.release();
  ex.release();
  remote.release();
});

test('the full peer ID works too, and this node\'s own ID gives this node itself (with its admin)', async () => {
  const remote = owner.node.peer({ peerId: c.node.peerId }).node;
  assert.equal((await remote.identity()).info.peerId, c.node.peerId);
  remote.release();
  const self = owner.node.peer({ peerId: a.node.peerId }).node;
  assert.equal((await self.identity()).info.peerId, a.node.peerId);
  assert.ok((await self.admin().admin.ps({ after: 0, max: 0 })).processes.some((p) => p.pid === 1), 'the owner\'s admin through itself');
  self.release();
});

test('on the other peer this node is a principal with no admin, no host directory, no listening socket', async () => {
  const remote = owner.node.peer({ peerId: b.node.peerId }).node;
  assert.equal(await refusedWith(remote.admin().admin.ps({ after: 0, max: 0 })), 'not-permitted');
  const ex = remote.executor().executor;
  assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: helloWasm(), dirs: [{ hostPath: b.dir, guestPath: '/d' }] } })), 'not-permitted');
  assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: helloWasm(), listen: ['127.0.0.1:0'] } })), 'not-permitted');
  // Nor may it go on from there: Node.peer is the owner's, and a's principal on b is not b's owner.
  assert.equal(await refusedWith(remote.peer({ peerId: c.node.peerId }).node.identity()), 'not-permitted');
  ex.release();
  remote.release();
});

test('an unknown prefix and an ambiguous one are refused (bad-request), the reason saying what to do', async () => {
  const unknown = await failure(owner.node.peer({ peerId: '12D3KooWzzzzzz' }).node.identity());
  assert.equal(executorErrorFromRpc(unknown)?.code, 'bad-request');
  assert.match(unknown.message, /no live peer's ID starts with "12D3KooWzzzzzz" \(`ww cluster ls` lists the live peers\)/);
  const ambiguous = await failure(owner.node.peer({ peerId: '12D3KooW' }).node.identity());
  assert.equal(executorErrorFromRpc(ambiguous)?.code, 'bad-request');
  assert.match(ambiguous.message, /peer "12D3KooW" is ambiguous/);
  for (const p of [a, b, c]) assert.ok(ambiguous.message.includes(p.node.peerId), `the candidates are listed: ${p.node.peerId}`);
});

test('Node.peer is refused to a non-owner: a remote peer cannot use this node to reach a third one', async () => {
  const aFromB = await b.node.cluster!.dial(a.node.peerId);
  assert.equal(await refusedWith(aFromB.peer({ peerId: c.node.peerId }).node.identity()), 'not-permitted');
  aFromB.release();
});

test('Executor.process finds its own process by pid (a sleeper it then kills), and no other principal\'s', async () => {
  const remote = owner.node.peer({ peerId: b.node.peerId }).node;
  const ex = remote.executor().executor;
  const { pid } = await ex.spawn({ spec: { moduleBytes: cpuLoopWasm(), argv: ['cpu-loop', FOREVER] } });
  // A fresh Node from a second call: the same scope (one per peer), so the pid is found again.
  const again = owner.node.peer({ peerId: b.node.peerId }).node;
  const found = again.executor().executor.process({ pid }).process;
  assert.equal((await found.info()).info.pid, pid);
  await found.kill();
  assert.equal((await found.wait()).status.reason.kind, ExitKind.killed);
  // b's owner's process and init are not this principal's: they read as absent.
  const bOwner = await connectNode(b.node.socketPath);
  const theirs = await bOwner.node.executor().executor.spawn({ spec: { moduleBytes: helloWasm() } });
  assert.equal(await refusedWith(ex.process({ pid: theirs.pid }).process.info()), 'no-such-process');
  assert.equal(await refusedWith(ex.process({ pid: 1 }).process.info()), 'no-such-process');
  bOwner.close();
  ex.release();
  remote.release();
  again.release();
});

async function failure(p: PromiseLike<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not fail');
}
