// The process semantics of src/executor/README.md, one test per rule, each
// driven through RPC over a real unix socket to a node started here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '../../src/rpc/index.js';
import { ExitKind, Monitor, Process, type ExitReason$Init, type Process$Client, type Process$Server, type ProcessInfo, type SpawnSpec$Init } from '../../src/capnp-gen/ww.rpc.js';
import { FOREVER, said, WAT, assemble, sleeperWat, capture, cpuLoopWasm, eventually, helloWasm, psState, sleep, startTestNode, text, type TestNode } from './helpers.js';

let t: TestNode;
const cids: Record<string, string> = {};

before(async () => {
  t = await startTestNode();
  const cache = t.executor.modules().cache;
  cids.hello = (await cache.put({ bytes: helloWasm() })).cid;
  cids.cpu = (await cache.put({ bytes: cpuLoopWasm() })).cid;
  for (const name of ['spin', 'exit3', 'trap', 'grow'] as const) cids[name] = (await cache.put({ bytes: await assemble(WAT[name]) })).cid;
  cache.release();
});
after(() => t.close());

const spawn = (guest: string, more: Partial<SpawnSpec$Init> = {}): Promise<{ process: Process$Client; pid: number }> =>
  t.spawn({ moduleCid: cids[guest], argv: [guest], ...more });
const forever = (more: Partial<SpawnSpec$Init> = {}): Promise<{ process: Process$Client; pid: number }> =>
  spawn('cpu', { argv: ['cpu-loop', FOREVER], ...more });
const info = async (p: Process$Client): Promise<ProcessInfo> => (await p.info()).info;
const reasonOf = async (p: Process$Client): Promise<string> => said((await p.wait()).status.reason);
/** running, paused or exited; a process still queued for a worker reads as running (these tests ask
 *  whether it still lives, and with two workers and many processes one may not have started yet). */
const stateOf = async (p: Process$Client): Promise<string> => ['running', 'paused', 'exited', 'running'][(await info(p)).state]!;

// ---- PIDs and the tree ----

test('pids are unique per node', async () => {
  const spawned = await Promise.all(Array.from({ length: 20 }, () => spawn('hello')));
  const pids = spawned.map((s) => s.pid);
  assert.equal(new Set(pids).size, pids.length);
  assert.ok(pids.every((p) => p > 1), 'no process but init has pid 1');
  await Promise.all(spawned.map((s) => s.process.wait()));
  const later = await spawn('hello');
  assert.ok(!pids.includes(later.pid), 'an ended process\'s pid is not reused');
});

test('pid 1 is the node\'s init: listed by ps, running, parent of none (ppid 0), and cannot be killed or paused', async () => {
  const { processes } = await t.admin.ps();
  const init = processes.find((p) => p.pid === 1);
  assert.ok(init);
  assert.equal(init.ppid, 0);
  assert.deepEqual(init.argv, ['init']);
  assert.equal(await psState(t.admin, 1), 'running');
  const p = t.admin.process({ pid: 1 }).process;
  await assert.rejects(p.kill().then(), /pid 1 is the node's init/);
  await assert.rejects(p.pause().then(), /pid 1 is the node's init/);
});

test('a spawn without a parent is a child of init', async () => {
  const { process } = await spawn('hello');
  assert.equal((await info(process)).ppid, 1);
});

test('a spawn with a parent capability is a child of that process', async () => {
  const parent = await forever();
  const child = await spawn('hello', { parent: parent.process });
  assert.equal((await info(child.process)).ppid, parent.pid);
  await parent.process.kill();
});

test('a parent is named by its capability: a pid is refused, and so are an ended parent and a Process not of this node', async () => {
  const parent = await forever();
  await assert.rejects(spawn('hello', { obsoletePpid: parent.pid }), /a parent is named by its Process capability/);
  const ended = await spawn('hello');
  await ended.process.wait();
  await assert.rejects(spawn('hello', { parent: ended.process }), new RegExp(`the parent, process ${ended.pid}, has ended`));
  const fake = serve(Process, { info: () => ({ info: { pid: parent.pid } }) } as unknown as Process$Server);
  await assert.rejects(spawn('hello', { parent: fake }), /the parent is not one of this node's processes/);
  await parent.process.kill();
});

test('killing a process kills its whole subtree, each with reason killed; others are untouched', async () => {
  const a = await forever();
  const b = await forever({ parent: a.process });
  const c = await forever({ parent: b.process });
  const c2 = await forever({ parent: a.process });
  const bystander = await forever();
  await a.process.kill();
  for (const p of [a, b, c, c2]) assert.equal(await reasonOf(p.process), 'killed');
  assert.equal(await stateOf(bystander.process), 'running');
  await bystander.process.kill();
});

test('a child outlives a parent that ended other than by kill (here: by a link), and becomes a child of init', async () => {
  const parent = await forever();
  const child = await forever({ parent: parent.process });
  const trigger = await forever();
  await parent.process.link({ other: trigger.process });
  await trigger.process.kill(); // the parent ends `link: <trigger>`: it is not killed, so its subtree is not
  assert.equal(await reasonOf(parent.process), `link: ${trigger.pid}`);
  assert.equal(await stateOf(child.process), 'running');
  assert.equal((await info(child.process)).ppid, 1);
  await child.process.kill();
});

// ---- links ----

test('link is bidirectional: killing either side ends the other with link: <pid>', async () => {
  for (const killFirst of [true, false]) {
    const a = await forever();
    const b = await forever();
    await a.process.link({ other: b.process });
    await (killFirst ? a : b).process.kill();
    const [dead, other] = killFirst ? [a, b] : [b, a];
    assert.equal(await reasonOf(dead.process), 'killed');
    const st = (await other.process.wait()).status;
    assert.equal(said(st.reason), `link: ${dead.pid}`);
    assert.equal(st.code, 137);
  }
});

test('link is idempotent: one link at most between two processes', async () => {
  const a = await forever();
  const b = await forever();
  await a.process.link({ other: b.process });
  await a.process.link({ other: b.process });
  await b.process.link({ other: a.process });
  assert.deepEqual((await info(a.process)).links, [b.pid]);
  assert.deepEqual((await info(b.process)).links, [a.pid]);
  await a.process.unlink({ other: b.process }); // one unlink undoes it entirely
  assert.deepEqual((await info(a.process)).links, []);
  assert.deepEqual((await info(b.process)).links, []);
  await a.process.kill();
  await b.process.kill();
});

test('link: a normal exit (code 0) does not propagate', async () => {
  const a = await spawn('cpu', { argv: ['cpu-loop', '2000000'] });
  const b = await forever();
  await a.process.link({ other: b.process });
  assert.equal(await reasonOf(a.process), 'normal');
  assert.equal(await stateOf(b.process), 'running');
  assert.deepEqual((await info(b.process)).links, [], 'the link is gone with the process that ended');
  await b.process.kill();
});

test('link: a trap or a non-zero exit propagates like any abnormal end', async () => {
  for (const guest of ['trap', 'exit3']) {
    const b = await forever();
    const a = await spawn(guest);
    // Whether a ends before or after the link is made, b ends with link: a.
    await b.process.link({ other: a.process });
    assert.equal(await reasonOf(b.process), `link: ${a.pid}`, guest);
  }
});

test('link: chains propagate (a-b-c: a killed, b ends link: a, c ends link: b)', async () => {
  const a = await forever();
  const b = await forever();
  const c = await forever();
  await a.process.link({ other: b.process });
  await b.process.link({ other: c.process });
  await a.process.kill();
  assert.equal(await reasonOf(b.process), `link: ${a.pid}`);
  assert.equal(await reasonOf(c.process), `link: ${b.pid}`);
});

test('linking to an already-ended process ends the caller at once if it ended abnormally, not if normally', async () => {
  const dead = await forever();
  await dead.process.kill();
  const caller = await forever();
  await caller.process.link({ other: dead.process });
  assert.equal(await reasonOf(caller.process), `link: ${dead.pid}`);

  const fine = await spawn('hello');
  await fine.process.wait();
  const caller2 = await forever();
  await caller2.process.link({ other: fine.process });
  assert.equal(await stateOf(caller2.process), 'running');
  await caller2.process.kill();
});

test('unlink stops propagation', async () => {
  const a = await forever();
  const b = await forever();
  await a.process.link({ other: b.process });
  await b.process.unlink({ other: a.process });
  await a.process.kill();
  assert.equal(await reasonOf(a.process), 'killed');
  assert.equal(await stateOf(b.process), 'running');
  await b.process.kill();
});

test('a Process capability that is not this node\'s own is never taken for the pid it claims', async () => {
  const victim = await forever();
  const caller = await forever();
  // A fake served by this client: it claims to be `victim` and can say it ended.
  let endFake!: (reason: ExitReason$Init) => void;
  const fakeEnded = new Promise<ExitReason$Init>((r) => (endFake = r));
  const fake: Partial<Process$Server> = {
    info: () => ({ info: { pid: victim.pid, ppid: 1, state: 0 } }),
    link: () => {}, // asked to link back (a link to a Process not this node's own holds both ways)
    monitor: () => ({ monitor: serve(Monitor, { reason: async () => ({ reason: await fakeEnded, code: 137 }) }) }),
  };
  await caller.process.link({ other: serve(Process, fake as Process$Server) });
  assert.deepEqual((await info(victim.process)).links, [], 'the real process is not linked');
  assert.deepEqual((await info(caller.process)).links, []);
  endFake({ kind: ExitKind.killed });
  // The caller reacts to the fake's reported end (a one-way link through its monitor) ...
  assert.equal(await reasonOf(caller.process), `link: ${victim.pid}`);
  // ... and the real process it claimed to be is untouched.
  assert.equal(await stateOf(victim.process), 'running');
  await victim.process.kill();
});

test('a linked Process that is not this node\'s own and becomes unreachable ends the caller with peer-lost', async () => {
  const caller = await forever();
  const other = await t.connect();
  const fake: Partial<Process$Server> = {
    info: () => ({ info: { pid: 4242 } }),
    link: () => {},
    monitor: () => ({ monitor: serve(Monitor, { reason: () => new Promise<never>(() => {}) }) }), // never ends by itself
  };
  const admin = other.node.admin().admin;
  await admin.process({ pid: caller.pid }).process.link({ other: serve(Process, fake as Process$Server) });
  assert.equal(await stateOf(caller.process), 'running');
  other.close(); // the peer serving the fake goes away
  assert.equal(await reasonOf(caller.process), 'peer-lost');
});

test('linking a process to itself does nothing', async () => {
  const a = await forever();
  await a.process.link({ other: a.process });
  assert.deepEqual((await info(a.process)).links, []);
  await a.process.kill();
});

// ---- monitors ----

test('a monitor delivers the reason and code, one way: the monitored process is not affected by the monitor', async () => {
  const p = await spawn('trap');
  const m = p.process.monitor().monitor;
  const r = await m.reason();
  assert.equal(said(r.reason), 'trap: unreachable in explode');
  assert.deepEqual([r.reason.kind, r.reason.message, r.reason.function], [ExitKind.trap, 'unreachable', 'explode'], 'the reason arrives typed, not as text');
  assert.equal(r.code, 134);
  const q = await forever();
  const { monitor: mq } = await q.process.monitor();
  mq.release(); // dropping the monitor does nothing to the process
  assert.equal(await stateOf(q.process), 'running');
  await q.process.kill();
});

test('a monitor fires exactly once: the first end is the reason, later calls give the same', async () => {
  const a = await forever();
  const b = await forever();
  await a.process.link({ other: b.process });
  const m = b.process.monitor().monitor;
  const first = m.reason();
  await b.process.kill(); // b ends killed; a ends link: b; nothing more reaches b's monitor
  await a.process.kill();
  await b.process.kill();
  const again = await m.reason();
  assert.deepEqual([said((await first).reason), (await first).code], ['killed', 137]);
  assert.deepEqual([said(again.reason), again.code], ['killed', 137]);
  assert.equal((await info(b.process)).monitors, 0, 'a fired monitor is no longer held');
});

test('a monitor of an already ended process fires at once', async () => {
  const p = await spawn('exit3');
  await p.process.wait();
  const r = await p.process.monitor().monitor.reason();
  assert.deepEqual([r.reason.kind, r.reason.code, r.code], [ExitKind.exit, 3, 3]);
});

test('a monitor survives the monitoring client\'s other calls', async () => {
  const p = await forever();
  const m = p.process.monitor().monitor;
  const pending = m.reason();
  // Other calls, other processes, released capabilities: none of them touch the monitor.
  await t.executor.ps();
  await info(p.process);
  const other = await spawn('hello');
  await other.process.wait();
  other.process.release();
  const other2 = await forever();
  (await other2.process.monitor()).monitor.release();
  await other2.process.kill();
  assert.equal((await info(p.process)).monitors, 1);
  await p.process.kill();
  const r = await pending;
  assert.deepEqual([said(r.reason), r.code], ['killed', 137]);
});

test('a monitor is released when dropped', async () => {
  const p = await forever();
  // Awaited results are owned by the caller: releasing the Monitor is dropping the last reference.
  const { monitor: m1 } = await p.process.monitor();
  const { monitor: m2 } = await p.process.monitor();
  assert.equal((await info(p.process)).monitors, 2);
  m1.release();
  await eventually('the node drops the released monitor', async () => (await info(p.process)).monitors === 1);
  await p.process.kill();
  assert.equal(said((await m2.reason()).reason), 'killed');
});

// ---- pause ----

test('pause: the guest is told first, keeps running through the grace period, then is frozen; it is told of the resume', async () => {
  const notices: { pid: number; fuel: number }[] = [];
  const table = (): TestNode['node']['executor']['table'] => graced.node.executor.table;
  const graced = await startTestNode({
    pauseGraceMs: 300,
    guestEvents: {
      pauseRequested: (pid) => notices.push({ pid, fuel: table().snapshot(table().get(pid)!).fuelUsed }),
      resumed: (pid) => resumed.push(pid),
    },
  });
  const resumed: number[] = [];
  try {
    const p = await graced.spawn({ moduleBytes: cpuLoopWasm(), argv: ['cpu-loop', FOREVER] });
    await eventually('the guest uses fuel', async () => (await info(p.process)).fuelUsed > 0n);
    await p.process.pause();
    assert.equal(notices.length, 1);
    assert.equal(notices[0].pid, p.pid);
    const frozen = await info(p.process);
    assert.equal(frozen.state, 1, 'paused');
    assert.ok(Number(frozen.fuelUsed) > notices[0].fuel, 'the guest ran between the notice and the freeze');
    await p.process.pause(); // already paused: no second notice
    assert.equal(notices.length, 1);
    await p.process.resume();
    await p.process.resume(); // already running: no second notice
    assert.deepEqual(resumed, [p.pid], 'the guest is told it resumed, once');
    await p.process.kill();
  } finally {
    await graced.close();
  }
});

test('pause: resume continues where it stopped (same computed result as an unpaused run)', async () => {
  const rounds = '60000000';
  const plain = (await (await spawn('cpu', { argv: ['cpu-loop', rounds], stdout: capture })).process.wait()).status;
  assert.equal(said(plain.reason), 'normal');
  // The first pause is pipelined with the spawn: the node has it before the guest can finish.
  const spawned = t.executor.spawn({ spec: { moduleCid: cids.cpu, argv: ['cpu-loop', rounds], stdout: capture } });
  const p = { process: spawned.process };
  let pauses = 0;
  for (let i = 0; i < 3; i++) {
    await p.process.pause();
    const at = await info(p.process);

    if (at.state === 2) break; // already done (a fast machine)
    pauses++;
    assert.equal(at.state, 1);
    await sleep(30);
    assert.equal((await info(p.process)).fuelUsed, at.fuelUsed, 'no guest work while paused');
    await p.process.resume();
    await sleep(10);
  }
  const st = (await p.process.wait()).status;
  assert.equal(said(st.reason), 'normal');
  assert.equal(text(st.stdout), text(plain.stdout));
  assert.ok(pauses > 0, 'the run was long enough to be paused at least once');
});

test('pause: ps shows the state paused, and running again after resume', async () => {
  const p = await forever();
  await p.process.pause();
  assert.equal(await psState(t.executor, p.pid), 'paused');
  await p.process.resume();
  assert.equal(await psState(t.executor, p.pid), 'running');
  await p.process.kill();
});

test('pause takes effect at once on a guest asleep in poll_oneoff; its sleep ends no earlier than its resume', { timeout: 20_000 }, async () => {
  const long = await t.spawn({ moduleBytes: await assemble(sleeperWat(60_000_000_000n)), argv: ['long'] });
  await eventually('asleep', async () => (await psState(t.executor, long.pid)) === 'running');
  await long.process.pause(); // before this change: only when its 60 s sleep ended
  assert.equal(await psState(t.executor, long.pid), 'paused');
  await long.process.kill();
  // A 300 ms sleep paused at once and held 700 ms: it has not ended until resumed.
  const short = await t.spawn({ moduleBytes: await assemble(sleeperWat(300_000_000n)), argv: ['short'] });
  await short.process.pause();
  await sleep(700);
  assert.equal(await stateOf(short.process), 'paused', 'its deadline passed while it was paused');
  await short.process.resume();
  assert.equal(await reasonOf(short.process), 'normal');
});

test('kill works on a paused process', async () => {
  const p = await forever();
  await p.process.pause();
  await p.process.kill();
  assert.equal(await reasonOf(p.process), 'killed');
});

test('pause: the wall-time limit does not run while paused', async () => {
  const p = t.executor.spawn({ spec: { moduleCid: cids.spin, argv: ['spin'], limits: { timeoutMs: 300n } } });
  await p.process.pause(); // pipelined with the spawn: paused before its 300 ms can run out
  await sleep(700);
  assert.equal(await stateOf(p.process), 'paused', 'alive after more than its timeout, because it was paused');
  await p.process.resume();
  assert.equal(await reasonOf(p.process), 'limit: wall');
});

test('pause: a resume during the grace period cancels the pause', async () => {
  const graced = await startTestNode({ pauseGraceMs: 400 });
  try {
    const p = await graced.spawn({ moduleBytes: cpuLoopWasm(), argv: ['cpu-loop', FOREVER] });
    const pausing = p.process.pause();
    await p.process.resume();
    await pausing; // returns: the pause was cancelled
    await sleep(600); // past the grace period: nothing freezes it
    const a = await info(p.process);
    assert.equal(a.state, 0, 'running');
    await eventually('the guest keeps running', async () => (await info(p.process)).fuelUsed > a.fuelUsed);
    await p.process.kill();
  } finally {
    await graced.close();
  }
});

test('pause: a kill during the grace period ends the process killed, and the pause returns', async () => {
  const resumed: number[] = [];
  const graced = await startTestNode({ pauseGraceMs: 10_000, guestEvents: { pauseRequested: () => {}, resumed: (pid) => resumed.push(pid) } });
  try {
    const p = await graced.spawn({ moduleBytes: cpuLoopWasm(), argv: ['cpu-loop', FOREVER] });
    const pausing = p.process.pause();
    await p.process.info(); // the pause has reached the node: it is in its grace period
    await p.process.kill();
    await pausing;
    assert.equal(said((await p.process.wait()).status.reason), 'killed');
    assert.deepEqual(resumed, [], 'an ended process is not told it resumed');
  } finally {
    await graced.close();
  }
});

// ---- lifetime ----

test('releasing the last reference to a Process does not kill it: the node owns it until it ends', async () => {
  const other = await t.connect();
  const ex = other.node.executor().executor;
  const { pid, process } = await ex.spawn({ spec: { moduleCid: cids.cpu, argv: ['cpu-loop', FOREVER] } });
  process.release();
  ex.release();
  other.close(); // even the whole connection goes
  await sleep(50);
  const again = t.admin.process({ pid }).process;
  assert.equal(await stateOf(again), 'running');
  await again.kill();
  assert.equal(await reasonOf(again), 'killed');
});

test('ended processes stay listed for ps and wait, the last keepEnded of them; a held capability outlives reaping', async () => {
  const small = await startTestNode({ keepEnded: 3 });
  try {
    const ended = [];
    for (let i = 0; i < 5; i++) {
      const p = await small.spawn({ moduleBytes: helloWasm() });
      await p.process.wait();
      ended.push(p);
    }
    const listed = (await small.admin.ps()).processes.map((p) => p.pid);
    assert.deepEqual(listed, [1, ...ended.slice(2).map((p) => p.pid)]);
    assert.equal(said((await small.admin.process({ pid: ended[4].pid }).process.wait()).status.reason), 'normal');
    await assert.rejects(small.admin.process({ pid: ended[0].pid }).process.info().then(), /no such process/);
    assert.equal(said((await ended[0].process.wait()).status.reason), 'normal');
  } finally {
    await small.close();
  }
});

// ---- exit reasons ----

test('exit reasons are a closed set: normal, exit: N, killed, trap: M, limit: cpu|memory|wall, link: P', async () => {
  const killed = await forever();
  const linked = await forever();
  await linked.process.link({ other: killed.process });
  const cases: [string, Promise<{ process: Process$Client }>, number][] = [
    ['normal', spawn('hello'), 0],
    ['exit: 3', spawn('exit3'), 3],
    ['killed', Promise.resolve(killed), 137],
    ['trap: unreachable in explode', spawn('trap'), 134],
    ['limit: cpu', spawn('spin', { limits: { fuel: 1_000_000n } }), 137],
    ['limit: memory', spawn('grow', { limits: { maxMemoryBytes: 4n * 65536n } }), 137],
    ['limit: wall', spawn('spin', { limits: { timeoutMs: 50n } }), 137],
    [`link: ${killed.pid}`, Promise.resolve(linked), 137],
  ];
  await killed.process.kill();
  for (const [reason, spawned, code] of cases) {
    const st = (await (await spawned).process.wait()).status;
    assert.equal(said(st.reason), reason);
    assert.equal(st.code, code, reason);
    assert.ok((Object.values(ExitKind) as number[]).includes(st.reason.kind), `${reason}: a kind of the schema's closed set`);
  }
});
