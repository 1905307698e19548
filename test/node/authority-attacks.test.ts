// Attacks a hostile review of the authority model found working, each now failing for the attacker:
// a restricted Executor handle passed to a less limited guest, guests of one principal using up a
// node-wide bound, budget drift through grows the engine refuses, a read-only subdirectory reached
// through a read-write parent, a refusal telling one principal of another's memory, and a guest's
// children writing past the flow control that held back only their parent, and channel messages
// parked in the store after their sender ended, counted nowhere.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, serve } from '../../src/rpc/index.js';
import { memoryPair } from '../../src/rpc/transport/memory.js';
import { ByteSink, Node, OutputMode, type Executor$Client } from '../../src/capnp-gen/ww.rpc.js';
import { Grant, nodeCapOf, Principal, type Quotas } from '../../src/executor/rpc.js';
import { guest } from '../../fixtures/ww-guest.js';
import { assemble, capture, eventually, said, sleeperWat, startTestNode, writer, type TestNode } from '../executor/helpers.js';

const PAGE = 65536;
const MIB = 1024 * 1024;

let t: TestNode;
before(async () => {
  t = await startTestNode();
});
after(() => t.close());

/** A second client of the node, as another principal (not the owner), over an in-memory connection. */
function stranger(name: string | Principal, quotas: Partial<Quotas> = {}, grant?: Grant): { principal: Principal; ex: Executor$Client; close(): void } {
  const principal =
    typeof name === 'string' ? new Principal(name, { processes: 16, spawning: 4, connections: 1, memoryBytes: 64 * PAGE, ...quotas }, t.node.executor.memory) : name;
  const [a, b] = memoryPair();
  const info = { peerId: 'x', version: '0', startedAtMs: 0n, osPid: 0 };
  const server = new Connection(a, { bootstrap: serve(Node, nodeCapOf(t.node.executor, info, { principal, owner: false, ...(grant ? { grant } : {}) })) });
  const client = new Connection(b);
  const ex = client.bootstrap(Node).executor().executor;
  return {
    principal,
    ex,
    close() {
      ex.release();
      client.close();
      server.close();
    },
  };
}


test("a restricted Executor's handle, passed to another principal's unlimited guest, still spawns within the restricted grant", async () => {
  const FUEL = 1_000_000;
  // The victim (the owner here) offers a restricted executor to the world: spawns with fuel <= 1e6.
  const restricted = t.executor.restrict({ restriction: { limits: { fuel: BigInt(FUEL) } } }).executor;
  const mallory = stranger('peer mallory', { processes: 16 });
  const NAME = 'svc-review-4';
  // Publisher: puts its Executor handle (initial 0, the restricted scope) under a shared name, then waits.
  const publisher = await assemble(
    guest(
      `(drop (call $initial (i32.const 0) (i32.const 48)))
      (drop (call $initial (i32.const 2) (i32.const 52)))
      (call $out (call $store_set (i32.load (i32.const 52)) (i32.const 1024) (i32.const ${NAME.length}) (i32.load (i32.const 48))))
      (drop (call $event_poll (i32.const 0) (i32.const 64)))`,
      `(data (i32.const 1024) "${NAME}")`,
    ),
  );
  // Mallory's guest (spawned without limits): takes the handle and spawns a spinner through it.
  // The child (no initial handles) spins; the parent waits for it and reports its reason.
  const taker = await assemble(
    guest(
      `(if (call $initial (i32.const 0) (i32.const 48)) (then (loop $l (br $l))))
      (drop (call $initial (i32.const 2) (i32.const 52)))
      (call $out (call $store_get (i32.load (i32.const 52)) (i32.const 1024) (i32.const ${NAME.length}) (i32.const 40)))
      (call $out (call $spawn (i32.load (i32.const 40)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64) (i32.const 32)))
      (call $out (call $proc_pid (i32.load (i32.const 32)) (i32.const 44)))
      (call $out (i32.load (i32.const 44)))`,
      `(data (i32.const 1024) "${NAME}")`,
    ),
  );
  const pub = await restricted.spawn({ spec: { moduleBytes: publisher, stdout: capture } });
  try {
    await eventually('published', () => t.node.executor.ww.store.size > 0);
    const m = await mallory.ex.spawn({ spec: { moduleBytes: taker, stdout: capture } });
    const { status } = await m.process.wait();
    const out = new Int32Array(new Uint8Array(status.stdout).buffer.slice(0));
    assert.deepEqual([...out.slice(0, 3)], [0, 0, 0], 'store_get, spawn, proc_pid');
    const childPid = out[3]!;
    const child = t.node.executor.table.get(childPid)!;
    assert.ok(child, 'the child exists');
    assert.ok((await restricted.ps()).processes.some((p) => p.pid === childPid), "the child is in the restricted executor's scope (and its principal's quota)");
    // Is it held to the grant's fuel ceiling? It spins: with fuel <= 1e6 it would have ended `limit: cpu` long ago.
    await new Promise((r) => setTimeout(r, 1500));
    const fuel = t.node.executor.table.snapshot(child).fuelUsed;
    const state = child.status ? said({ ...(await t.admin.process({ pid: childPid }).process.info()).info.reason }) : 'running';
    assert.ok(
      fuel <= FUEL,
      `the child spawned through the restricted Executor (fuel <= ${FUEL}) has used ${Math.round(fuel)} fuel and is ${state}: ` +
        `it got the caller's limits (none), not the grant's`,
    );
  } finally {
    for (const p of (await restricted.ps()).processes) if (p.state !== 2) await t.admin.process({ pid: p.pid }).process.kill();
    await pub.process.kill();
    restricted.release();
    mallory.close();
  }
});

test("one principal's guests cannot use up the node's bound on guest-spawned processes for every other principal", async () => {
  const { Executor } = await import('../../src/executor/index.js');
  const { Scope } = await import('../../src/executor/rpc.js');
  const { DEFAULT_QUOTAS } = await import('../../src/executor/rpc.js');
  const ex = await Executor.create({ peerId: 'review', maxGuestSpawned: 8, runtimeOptions: { poolSize: 2 } });
  const scopeOf = (name: string): InstanceType<typeof Scope> => new Scope(new Principal(name, { ...DEFAULT_QUOTAS, processes: 100 }), Grant.all);
  // Spawns `n` children of its own module (they block for ever), reports each spawn's errno, then blocks.
  const spawner = (n: number): string =>
    guest(`(local $i i32)
      (if (call $initial (i32.const 0) (i32.const 48)) (then (drop (call $event_poll (i32.const 0) (i32.const 64))) (return)))
      (loop $s
        (call $out (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64) (i32.const 32)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $s (i32.lt_u (local.get $i) (i32.const ${n}))))
      ${n > 1 ? '(drop (call $event_poll (i32.const 0) (i32.const 64)))' : ''}`);
  try {
    const mallory = scopeOf('mallory');
    const alice = scopeOf('alice');
    const hog = ex.spawn({ module: await ex.modules.put(await assemble(spawner(8))), argv: ['hog'], stdout: 'capture', scope: mallory });
    await eventually("mallory's guests spawned 8", () => ex.ww.spawnedByGuests === 8);
    const one = ex.spawn({ module: await ex.modules.put(await assemble(spawner(1))), argv: ['one'], stdout: 'capture', scope: alice });
    const s = await one.settled;
    const { ints } = await import('../../fixtures/ww-guest.js');
    assert.deepEqual(ints(s.stdout), [0], `alice's first spawn from a guest was refused with errno ${ints(s.stdout)} (6: EAGAIN) because mallory's guests hold the node's whole bound`);
    ex.table.kill(hog);
  } finally {
    await ex.close();
  }
});

test('a memory.grow that fails (past the module\'s declared maximum) is not left charged to the principal\'s budget', async () => {
  const s = stranger('peer drift', { memoryBytes: 150 * PAGE });
  // 1 page, at most 2: grow(100) must fail. Then it sleeps, holding 1 page.
  const failingGrower = await assemble(`(module
    (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1 2)
    (func (export "_start")
      (if (i32.ne (memory.grow (i32.const 100)) (i32.const -1)) (then unreachable))
      (i32.store8 (i32.const 8) (i32.const 0)) (i32.store (i32.const 16) (i32.const 1))
      (i64.store (i32.const 24) (i64.const 60000000000))
      (drop (call $poll (i32.const 0) (i32.const 128) (i32.const 1) (i32.const 256)))))`);
  try {
    const p = await s.ex.spawn({ spec: { moduleBytes: failingGrower } });
    await eventually('the grow was tried', () => s.principal.memory.usedBytes > PAGE, 3000).catch(() => {});
    const info = (await p.process.info()).info;
    assert.equal(info.state, 0, 'it runs (its grow failed, as it expected)');
    let sixty = 'spawned';
    try {
      const q = await s.ex.spawn({ spec: { moduleBytes: await assemble(sleeperWat(0n, { pages: 60 })) } });
      await q.process.wait();
    } catch (e) {
      sixty = `refused: ${(e as Error).message}`;
    }
    assert.equal(
      s.principal.memory.usedBytes,
      Number(info.memoryBytes),
      `the process holds ${info.memoryBytes} bytes, its principal's budget counts ${s.principal.memory.usedBytes} for it ` +
        `(and the node's budget too); a spawn of 60 pages of a 150-page budget: ${sixty}`,
    );
  } finally {
    for (const p of (await s.ex.ps()).processes) if (p.state !== 2) await t.admin.process({ pid: p.pid }).process.kill();
    s.close();
  }
});

test('a restricted executor granted DIR read-write and DIR/sub read-only cannot write into DIR/sub', async () => {
  const base = mkdtempSync(join(tmpdir(), 'ww-review-ro-'));
  const sub = join(base, 'sub');
  mkdirSync(sub);
  const weak = t.executor.restrict({ restriction: { limitDirs: true, dirs: [{ hostPath: base }, { hostPath: sub, readOnly: true }] } }).executor;
  try {
    const direct = await weak.spawn({ spec: { moduleBytes: await writer('new.txt'), dirs: [{ hostPath: sub, guestPath: '/d' }] } }).then(
      () => 'allowed',
      () => 'refused',
    );
    assert.equal(direct, 'refused', 'pre-opening the read-only subdirectory read-write is refused');
    // Its read-write parent would reach it with write rights: refused, saying why; read-only it is fine.
    const parent = await weak.spawn({ spec: { moduleBytes: await writer('sub/planted.txt'), dirs: [{ hostPath: base, guestPath: '/d' }] } }).then(
      () => 'allowed',
      (e: Error) => e.message,
    );
    assert.match(parent, /holds .*sub, which may be pre-opened read-only only/);
    const { process: p } = await weak.spawn({ spec: { moduleBytes: await writer('sub/planted.txt'), dirs: [{ hostPath: base, guestPath: '/d', readOnly: true }] } });
    assert.equal((await p.wait()).status.code, 63, 'read-only: EPERM');
    assert.equal(existsSync(join(sub, 'planted.txt')), false);
  } finally {
    weak.release();
    rmSync(base, { recursive: true, force: true });
  }
});

test("a non-owner's refusal at the node's memory budget does not tell it how much memory the other principals' processes hold", async () => {
  const small = await startTestNode({ memoryBytes: 150 * PAGE });
  const principal = new Principal('peer curious', { processes: 4, spawning: 4, connections: 1, memoryBytes: 1 << 30 }, small.node.executor.memory);
  const [a, b] = memoryPair();
  const info = { peerId: 'x', version: '0', startedAtMs: 0n, osPid: 0 };
  const server = new Connection(a, { bootstrap: serve(Node, nodeCapOf(small.node.executor, info, { principal, owner: false })) });
  const client = new Connection(b);
  const ex = client.bootstrap(Node).executor().executor;
  try {
    // The owner's process holds 101 pages (6,619,136 bytes).
    const owners = await small.executor.spawn({ spec: { moduleBytes: await assemble(sleeperWat(60_000_000_000n, { grow: 100 })) } });
    await eventually('grown', () => small.node.executor.memory.usedBytes === 101 * PAGE);
    const message = await ex.spawn({ spec: { moduleBytes: await assemble(sleeperWat(0n, { pages: 60 })) } }).then(
      () => 'spawned',
      (e: Error) => e.message,
    );
    assert.doesNotMatch(message, /6619136/, `the stranger's refusal reads: ${message}`);
    await owners.process.kill();
  } finally {
    ex.release();
    client.close();
    server.close();
    await small.close();
  }
});

test("a guest's children are held back with it when the sink is behind: unacknowledged output stays near 4 MiB", async () => {
  const CHILDREN = 4;
  const CHUNKS = 400; // 64 KiB each: 25 MiB per child
  const tree = await assemble(
    guest(`(local $i i32) (local $j i32)
      (if (call $initial (i32.const 0) (i32.const 48))
        (then
          (i32.store (i32.const 200) (i32.const 65536)) (i32.store (i32.const 204) (i32.const 65536))
          (loop $l
            (local.set $j (i32.const 0))
            (loop $work (local.set $j (i32.add (local.get $j) (i32.const 1))) (br_if $work (i32.lt_u (local.get $j) (i32.const 100000))))
            (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (i32.const ${CHUNKS}))))
          (return)))
      (loop $s
        (drop (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64) (i32.const 32)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $s (i32.lt_u (local.get $i) (i32.const ${CHILDREN}))))
      (drop (call $proc_wait (i32.load (i32.const 32)) (i32.const 0) (i32.const 40) (i32.const 64) (i32.const 0) (i32.const 44)))`),
  );
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let unacknowledged = 0;
  const sink = serve(ByteSink, {
    write: async ({ data }) => {
      unacknowledged += data.length;
      await gate; // nothing is acknowledged until the gate opens
    },
  });
  const { process: root } = await t.spawn({ moduleBytes: tree, stdout: { mode: OutputMode.sink, sink } });
  try {
    // Let it run until the output stops growing (held back) or the children are done.
    let last = -1;
    await eventually('the output stops growing', async () => {
      const still = unacknowledged === last;
      last = unacknowledged;
      await new Promise((r) => setTimeout(r, 300));
      return still;
    }, 60_000);
    assert.ok(
      unacknowledged <= 8 * MIB,
      `${Math.round(unacknowledged / MIB)} MiB written to the sink and not acknowledged (the node's bound is 4 MiB): ` +
        `the root was frozen, its ${CHILDREN} children were not`,
    );
  } finally {
    open();
    await root.kill();
  }
});

/** Bytes queued in channels whose receive ends `owner` holds in the store (read from the objects). */
function bytesParkedBy(owner: object): { names: number; bytes: number } {
  const store = t.node.executor.ww.store as unknown as { own: Map<object, Map<string, { cap: { channel?: { bytes: number } } }>> };
  let names = 0;
  let bytes = 0;
  for (const e of store.own.get(owner)?.values() ?? []) {
    names++;
    bytes += e.cap.channel?.bytes ?? 0;
  }
  return { names, bytes };
}

test("what a principal's guests leave queued in channels is bounded for the principal, not 64 MiB more for every process it runs", async () => {
  const s = stranger('peer parker', { processes: 1, memoryBytes: 2 * PAGE, channelBytes: 80 * MIB });
  // Each run: 16 channels (capacity 64), 32 messages of 128 KiB each (4 MiB per channel, the channel's
  // bound; 64 MiB in all, the process's own bound), each receive end stored under an own name.
  const parker = await assemble(
    guest(`(local $c i32) (local $m i32) (local $ok i32)
      (drop (call $initial (i32.const 1) (i32.const 48)))
      (drop (call $self (i32.const 52)))
      (drop (call $proc_pid (i32.load (i32.const 52)) (i32.const 56)))
      (loop $chans
        (drop (call $chan_create (i32.const 64) (i32.const 32) (i32.const 36)))
        (local.set $m (i32.const 0))
        (loop $msgs
          (if (i32.eqz (call $chan_send (i32.load (i32.const 32)) (i32.const 1) (i32.const 4096) (i32.const 126976) (i32.const 0) (i32.const 0)))
            (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
          (local.set $m (i32.add (local.get $m) (i32.const 1)))
          (br_if $msgs (i32.lt_u (local.get $m) (i32.const 32))))
        (i32.store (i32.const 60) (local.get $c))
        (drop (call $store_set (i32.load (i32.const 48)) (i32.const 56) (i32.const 8) (i32.load (i32.const 36))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $chans (i32.lt_u (local.get $c) (i32.const 16))))
      (call $out (local.get $ok))`),
  );
  try {
    const RUNS = 3;
    for (let i = 0; i < RUNS; i++) {
      const { process: p } = await s.ex.spawn({ spec: { moduleBytes: parker, stdout: capture } });
      const { status } = await p.wait();
      assert.equal(said(status.reason), 'normal');
      p.release();
    }
    assert.equal(s.principal.live, 0, 'no process of the principal is alive');
    const parked = bytesParkedBy(s.principal);
    assert.ok(parked.bytes > 60 * MIB, `the first run parked its 64 MiB (${parked.bytes} bytes)`);
    assert.ok(
      parked.bytes <= 80 * MIB && s.principal.channels.queuedBytes <= 80 * MIB,
      `after ${RUNS} processes ended, the node holds ${Math.round(parked.bytes / MIB)} MiB of their messages in ${parked.names} parked channels ` +
        `for a principal allowed 80 MiB (counted: ${s.principal.channels.queuedBytes})`,
    );
  } finally {
    s.close();
  }
});
