// Links and monitors across peers, with the local semantics: a link to another peer's process holds
// both ways (each side watches the other), unlink on either side removes both directions, a normal
// end does not propagate, and a peer lost without a goodbye ends the processes linked to its
// processes with `peer-lost`, on both sides. Remote links and monitors are bounded per process and
// per principal (`quota`).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Monitor, Process, type Executor$Client, type Node$Client, type Process$Client, type Process$Server } from '../../src/capnp-gen/ww.rpc.js';
import { serve } from '../../src/rpc/index.js';
import { newSwarmKey, parseSwarmKey } from '../../src/cluster/index.js';
import { LINKS_PER_PROCESS } from '../../src/executor/caps.js';
import { executorErrorFromRpc } from '../../src/executor/rpc.js';
import { endOrPeerLost, reasonText } from '../../src/executor/wire.js';
import { connectNode, type NodeConnection } from '../../src/node/index.js';
import { assemble, eventually, said, sleeperWat, WAT } from '../executor/helpers.js';
import { startPeer, type TestPeer } from './helpers.js';

// This machine may stall an event loop past the default ping timeout: a dropped connection is not
// what most of these tests are about (the peer-lost test cuts one on purpose).
const bounds = { peerTimeoutMs: 30_000 };
const membership = { intervalMs: 200, ttlMs: 10_000 };
/** What c's operator lets each remote peer's processes hold together (links and monitors). */
const C_LINKS = 4;
let a: TestPeer;
let b: TestPeer;
let c: TestPeer;
let owner: NodeConnection;
let onA: Executor$Client;
let onB: Executor$Client;
let bNode: Node$Client;
let sleeper: Uint8Array;
let exit3: Uint8Array;

before(async () => {
  const swarmKey = parseSwarmKey(newSwarmKey(), 'test');
  a = await startPeer({ swarmKey, bounds, membership }, { poolSize: 2 });
  b = await startPeer({ swarmKey, bounds, membership, join: [a.node.addresses[0]!] }, { poolSize: 2 });
  c = await startPeer({ swarmKey, bounds, membership, join: [a.node.addresses[0]!], peerQuotas: { links: C_LINKS } }, { poolSize: 2 });
  owner = await connectNode(a.node.socketPath);
  onA = owner.node.executor().executor;
  // Node.peer finds peers in the cluster's view (heartbeats).
  await eventually('a sees b and c', async () => (await owner.node.cluster()).peers.length === 3, 30_000);
  bNode = owner.node.peer({ peerId: b.node.peerId }).node;
  onB = bNode.executor().executor;
  sleeper = await assemble(sleeperWat(1_000_000_000_000n)); // sleeps far longer than any test
  exit3 = await assemble(WAT.exit3);
});
after(async () => {
  onB?.release();
  bNode?.release();
  onA?.release();
  owner?.close();
  await c?.close();
  await b?.close();
  await a?.close();
});

async function spawnOn(ex: Executor$Client, bytes = sleeper): Promise<{ process: Process$Client; pid: number }> {
  const { process, pid } = await ex.spawn({ spec: { moduleBytes: bytes } });
  return { process, pid };
}
const reasonOf = async (p: Process$Client): Promise<string> => said((await p.wait()).status.reason);
const stateOf = async (p: Process$Client): Promise<number> => (await p.info()).info.state;
const monitorsOf = async (p: Process$Client): Promise<number> => (await p.info()).info.monitors;
/** ProcessState.exited: a process not ended is running, or still queued for a worker on a busy node. */
const EXITED = 2;

test('a link to another peer\'s process holds both ways: either side ending abnormally ends the other with link: <pid>', async () => {
  // Linked from a's side, a ends: b learns.
  const a1 = await spawnOn(onA);
  const b1 = await spawnOn(onB);
  await a1.process.link({ other: b1.process });
  assert.equal(await monitorsOf(a1.process), 1, 'b\'s side watches a1');
  assert.equal(await monitorsOf(b1.process), 1, 'a\'s side watches b1');
  await a1.process.kill();
  assert.equal(await reasonOf(b1.process), `link: ${a1.pid}`);

  // Linked from a's side, b ends: a learns.
  const a2 = await spawnOn(onA);
  const b2 = await spawnOn(onB);
  await a2.process.link({ other: b2.process });
  await b2.process.kill();
  assert.equal(await reasonOf(a2.process), `link: ${b2.pid}`);

  // Linked from b's side; a ends with exit: 3 (abnormal: any reason but normal propagates).
  const b3 = await spawnOn(onB);
  const a3 = await spawnOn(onA, exit3); // ends at once: linking to a process that ended abnormally ends the caller
  await b3.process.link({ other: a3.process });
  assert.equal(await reasonOf(b3.process), `link: ${a3.pid}`);
});

test('linking twice is one link; unlink on either side removes both directions', async () => {
  const a1 = await spawnOn(onA);
  const b1 = await spawnOn(onB);
  await a1.process.link({ other: b1.process });
  await a1.process.link({ other: b1.process });
  await b1.process.link({ other: a1.process }); // the same link, asked from the other side
  assert.equal(await monitorsOf(a1.process), 1);
  assert.equal(await monitorsOf(b1.process), 1);
  // Unlinked from b's side: neither side watches any more.
  await b1.process.unlink({ other: a1.process });
  await eventually('both watches dropped', async () => (await monitorsOf(a1.process)) === 0 && (await monitorsOf(b1.process)) === 0);
  await a1.process.kill();
  assert.equal(await reasonOf(a1.process), 'killed');
  assert.notEqual(await stateOf(b1.process), EXITED);

  // Unlinked from a's side.
  const a2 = await spawnOn(onA);
  await a2.process.link({ other: b1.process });
  await a2.process.unlink({ other: b1.process });
  await a2.process.unlink({ other: b1.process }); // idempotent
  await eventually('both watches dropped', async () => (await monitorsOf(a2.process)) === 0 && (await monitorsOf(b1.process)) === 0);
  await b1.process.kill();
  assert.equal(await reasonOf(b1.process), 'killed');
  assert.notEqual(await stateOf(a2.process), EXITED);
  await a2.process.kill();
});

test('the other side of a link gets a facet to watch the process (monitor, pid), not the power to kill, pause or read it', async () => {
  const a1 = await spawnOn(onA);
  // A Process this node cannot vouch for, served by this client: it keeps what it is asked to link back to.
  let given!: Process$Client;
  const fake: Partial<Process$Server> = {
    info: () => ({ info: { pid: 77, peerId: 'a-fake-peer' } }),
    monitor: () => ({ monitor: serve(Monitor, { reason: () => new Promise<never>(() => {}) }) }),
    link: ({ other }) => {
      given = other!;
    },
  };
  const fakeCap = serve(Process, fake as Process$Server);
  await a1.process.link({ other: fakeCap.dup() });
  const { info } = await given.info();
  assert.equal(info.pid, a1.pid);
  assert.equal(info.peerId, a.node.peerId);
  assert.deepEqual([...info.argv], [], 'no argv, no module: only who it is');
  for (const act of [() => given.kill(), () => given.pause(), () => given.output({ stream: 0, offset: 0n, max: 10 }), () => given.link({ other: fakeCap.dup() })]) {
    assert.equal(executorErrorFromRpc(await act().then(() => undefined, (e: unknown) => e))?.code, 'not-permitted');
  }
  const watched = given.monitor();
  await a1.process.kill();
  assert.equal(said((await watched.monitor.reason()).reason), 'killed', 'its monitor is what the other side watches');
  watched.release();
  given.release();
  fakeCap.release();
});

test('a normal end does not propagate across peers, either way', async () => {
  const shortSleeper = await assemble(sleeperWat(300_000_000n));
  const a1 = await spawnOn(onA);
  const b1 = await spawnOn(onB, shortSleeper);
  await a1.process.link({ other: b1.process });
  assert.equal(await reasonOf(b1.process), 'normal');
  // a's watch hears of b1's normal end and lets go (so the link is gone, not pending).
  await eventually('a1 no longer watched from b', async () => (await monitorsOf(a1.process)) === 0);
  assert.notEqual(await stateOf(a1.process), EXITED);

  const b2 = await spawnOn(onB);
  const a2 = await spawnOn(onA, shortSleeper);
  await b2.process.link({ other: a2.process });
  assert.equal(await reasonOf(a2.process), 'normal');
  await eventually('b2 no longer watched from a', async () => (await monitorsOf(b2.process)) === 0);
  assert.notEqual(await stateOf(b2.process), EXITED);
  await a1.process.kill();
  await b2.process.kill();
});

test('a monitor on another peer\'s process gets its reason and code', async () => {
  const b1 = await spawnOn(onB);
  const { monitor } = b1.process.monitor();
  const fired = monitor.reason();
  await b1.process.kill();
  const { reason, code } = await fired;
  assert.equal(said(reason), 'killed');
  assert.equal(code, 137);
  const b2 = await spawnOn(onB, exit3);
  const second = await b2.process.monitor().monitor.reason();
  assert.equal(said(second.reason), 'exit: 3');
  assert.equal(second.code, 3);
  monitor.release();
});

test('remote links and monitors are bounded per principal and per process (quota), and a refused link holds neither way', async () => {
  const cNode = owner.node.peer({ peerId: c.node.peerId }).node;
  const onC = cNode.executor().executor;
  const target = await spawnOn(onC);
  // Each link watches the target from a's side (a monitor on c, charged to a's principal there) and
  // the a process from c's side (charged there too): C_LINKS holdings are C_LINKS / 2 links.
  const linked: { process: Process$Client; pid: number }[] = [];
  for (let i = 0; i < C_LINKS / 2; i++) {
    const p = await spawnOn(onA);
    await p.process.link({ other: target.process });
    linked.push(p);
  }
  const refused = await spawnOn(onA);
  const err = await refused.process.link({ other: target.process }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.equal(executorErrorFromRpc(err)?.code, 'quota', `refused with quota: ${(err as Error | undefined)?.message}`);
  assert.match((err as Error).message, /already hold \d+ remote links and monitors \(at most 4\)/);
  await target.process.kill();
  for (const p of linked) assert.equal(await reasonOf(p.process), `link: ${target.pid}`);
  assert.notEqual(await stateOf(refused.process), EXITED, 'the refused link left no half behind');
  await refused.process.kill();
  onC.release();
  cNode.release();

  // Per process: monitors served over RPC on one process (here the owner's own, on a).
  const one = await spawnOn(onA);
  const held = [];
  for (let i = 0; i < LINKS_PER_PROCESS; i++) held.push(one.process.monitor());
  await Promise.all(held.map((m) => m.monitor.whenResolved()));
  const past = await one.process.monitor().monitor.whenResolved().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.equal(executorErrorFromRpc(past)?.code, 'quota');
  assert.match((past as Error).message, new RegExp(`process ${one.pid} already holds ${LINKS_PER_PROCESS} remote links and monitors`));
  // Dropping monitors gives room again (releasing the call's result drops the Monitor in it).
  for (const m of held.splice(0, 10)) m.release();
  await eventually('a monitor fits again', async () => (await monitorsOf(one.process)) <= LINKS_PER_PROCESS - 10);
  const again = one.process.monitor();
  await again.monitor.whenResolved();
  for (const m of [...held, again]) m.release();
  await one.process.kill();
});

test('a peer lost without a goodbye: processes linked to its processes end peer-lost, on both sides', async () => {
  const cNode = owner.node.peer({ peerId: c.node.peerId }).node;
  const onC = cNode.executor().executor;
  const onCside = await spawnOn(onC);
  const aLinked = await spawnOn(onA);
  const aUnlinked = await spawnOn(onA);
  await aLinked.process.link({ other: onCside.process });
  const cOwner = await connectNode(c.node.socketPath);
  const asSeenOnC = cOwner.node.admin().admin.process({ pid: onCside.pid }).process;
  assert.equal(await monitorsOf(asSeenOnC), 1);
  // A client of a holds a monitor on c's process, and waits for it, through a.
  const monitored = onCside.process.monitor();
  await monitored.monitor.whenResolved();
  const monitorSays = endOrPeerLost(monitored.monitor.reason());
  const waitSays = endOrPeerLost(onCside.process.wait().then(({ status }) => status));
  // c drops its connection to a: no RPC goodbye, no process ends first.
  for (const conn of c.node.cluster!.host.getConnections()) {
    if (conn.remotePeer.toString() === a.node.peerId) conn.abort(new Error('test: the connection is cut'));
  }
  assert.equal(await reasonOf(aLinked.process), 'peer-lost');
  assert.equal(await reasonOf(asSeenOnC), 'peer-lost', 'the process on the lost side ends too: its linker\'s peer vanished');
  assert.notEqual(await stateOf(aUnlinked.process), EXITED);
  // The client sees a reason, not an exception.
  for (const said of [await monitorSays, await waitSays]) {
    assert.equal(reasonText(said.reason), 'peer-lost');
    assert.equal(said.code, 137);
  }
  monitored.release();
  await aUnlinked.process.kill();
  cOwner.close();
  onC.release();
  cNode.release();
});
