// Hostile review of shared workers, second round (the first is shared-attacks.test.ts; none of its
// attacks is repeated here). Each test states the attack and what a fixed ww does; every one fails on
// the commit it was written against (ef1ff0f). Each attacker runs on a Runtime of its own with ONE
// shared thread, closed at the end of the test (which terminates the thread), so a hog that
// would hold the thread for minutes costs a test no more than its assertion's bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import wabtInit from 'wabt';
import { Runtime, type ExitStatus, type RuntimeOptions, type WasmProcess } from '../../src/wasm/index.js';
import { assemble, guest, sleepThenDone } from '../../fixtures/wat.js';
import { sleep, text, within } from './helpers.js';



/** Runs `fn` with a fresh Runtime (one shared thread unless told otherwise), closed afterwards. */
async function withRuntime<T>(options: RuntimeOptions, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await Runtime.create({ poolSize: 1, workers: 'shared', ...options });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/**
 * Spawns `hogWat` (as principal A), waits 300 ms, then spawns another principal's hello and asserts
 * that it ends, with its output, within `ms` (shared time slices are 10 ms). The hog is never waited for.
 * `hogMayBeDedicated`: a fix may move such a module to a dedicated worker instead.
 */
async function helloBesideHog(hogBytes: Uint8Array, ms: number, what: string, hogMayBeDedicated = false): Promise<void> {
  await withRuntime({}, async (rt) => {
    const m = await rt.load(hogBytes);
    if (!hogMayBeDedicated) assert.equal(m.suspendable, true, `${what}: the hog is hosted by the shared worker`);
    const hello = await rt.load(await guest('hello'));
    const hog = rt.spawn(m, { args: ['hog'], group: {} });
    await sleep(300);
    const started = performance.now();
    const p = rt.spawn(hello, { args: ['hello'], stdout: 'capture', group: {} });
    const status = await within(p, ms);
    assert.ok(status, `${what}: another principal's hello did not end within ${ms} ms (hog fuel ${hog.stats().fuelUsed}, state ${hog.state})`);
    assert.equal(text(status.stdout), 'hello, world\n', `${what}: after ${(performance.now() - started).toFixed(0)} ms`);
    hog.kill();
  });
}

/** A loop of `n` iterations of `body`. */
const loop = (n: number, body: string): string =>
  `(local $i i32) (loop $l ${body} (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${n}))))`;

// ---- 1. memory.atomic.wait32 on the guest's own shared memory blocks the whole shared thread ----
//
// Attack: a module that declares its own *shared* memory (exported as "memory", so it is made
// suspendable: runtime.ts compile) and executes memory.atomic.wait32 with a timeout (here 3 s; -1 waits
// forever). V8 implements it with a real futex wait of the worker thread: no tick, no suspension, no
// event loop. Every other guest of the thread stops; kill() posts 'stop', which the thread never reads
// (on a dedicated worker kill terminates the thread). With -1 and one such guest per shared worker a
// client freezes every shared thread of the node for good, while the pool keeps placing processes on them.
// Root cause: instrument.ts leaves shared memories alone (`!memory.shared`) and nothing refuses
// AtomicWait in a suspendable module; runtime.ts compile makes it suspendable all the same.
// Expected: such a module runs on a dedicated worker (or its waits become a suspending import), and the
// other principal's hello ends within 1.5 s.
test('memory.atomic.wait32 on a guest-declared shared memory does not block the other guests of its shared worker', async () => {
  const wabt = await wabtInit();
  const mod = wabt.parseWat('wait.wat', `(module (memory (export "memory") 1 1 shared)
      (func (export "_start") (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 3000000000)))))`, { threads: true });
  const bytes = new Uint8Array(mod.toBinary({}).buffer);
  mod.destroy();
  await helloBesideHog(bytes, 1500, 'atomic.wait32', true);
});

// ---- 2. table.fill / table.copy are not charged by length ----
//
// Attack: the bulk-op charge (instrument.ts, BULK_BYTES_PER_UNIT) covers memory.fill/copy/init only.
// A table of 1M funcref entries (MAX_TABLE_ENTRIES, charged once as 8 MiB) filled or copied whole in a
// loop: each op ~15 ms, charged as a handful of nodes, so 100,000 fuel (TICK_BUDGET) lasts ~2.5 minutes.
// Measured: 1,000 fills take 15.8 s with no tick; another principal's hello waits all of it, and kill
// does not land (the thread never reaches a tick). Root cause: instrument.ts Walker.region collects
// `bulks` only for MemoryFill/MemoryCopy/MemoryInit (bulkIds); TableFill/TableCopy/TableInit are walked
// but not charged. Expected: charged by their length like memory ops (e.g. 1 unit per few entries),
// so the hog yields at its 10 ms slice and the hello ends within 2 s.
test('a loop of table.fill / table.copy over a 1M-entry table does not starve the other guests of its shared worker', async () => {
  for (const op of ['(table.fill 0 (i32.const 0) (ref.null func) (i32.const 1048576))', '(table.copy (i32.const 0) (i32.const 1) (i32.const 1048575))']) {
    const hog = await assemble(`(module (memory (export "memory") 1) (table 1048576 funcref) (func (export "_start") ${loop(300, op)}))`);
    // (The fix taken: a module using these is not made suspendable; it runs on a dedicated worker.)
    await helloBesideHog(hog, 2000, op, true);
  }
});

// ---- 3. The bulk-op charge is only enforced at the next loop header or function entry ----
//
// Attack: straight-line code (no loop, one function) of 1,000 `memory.fill` of 64 MiB. Each fill is
// charged ~262,000 fuel, taken from the countdown *before* it runs, but the countdown is only compared
// with 0 at function entries and loop headers (instrument.ts `check`), so all 1,000 run (~3.5 s) before
// the next tick. A module of 100,000 of them (~1.2 MB) holds the thread for ~6 minutes, without kill.
// (Past 2^31 of charge in one region the i32 countdown also wraps positive, and `consumed` in
// meter.ts tick goes back by 2^32: free fuel.) Root cause: instrument.ts transform, the bulk charge
// (`charge` = global.set countdown - (n >>> 8)) is not followed by a check. Expected: after the charge,
// `if (countdown <= 0) countdown = tick()` (before the op runs), so the hog yields within its slice.
test('straight-line memory.fill ops (no loop between them) reach a tick as they are charged', async () => {
  const fills = '(memory.fill (i32.const 0) (i32.const 7) (i32.const 67108864))'.repeat(1000);
  await helloBesideHog(await assemble(`(module (memory (export "memory") 1024) (func (export "_start") ${fills}))`), 1500, 'straight-line fills');
});

// ---- 4. Host calls do work proportional to their arguments and are charged nothing for it ----
//
// Attack: a loop of one cheap-looking import whose host side is O(n): poll_oneoff with 16,384
// (MAX_POLL_SUBSCRIPTIONS) clock subscriptions that are all due at once (~17 ms per call: 16K objects,
// BigInts, events written) or random_get of 64 MiB (~18 ms). Each iteration costs ~15 fuel, so a tick
// comes every ~6,600 calls: measured 3,000 poll_oneoff calls = 50 s with 45,001 fuel charged, during
// which the shared thread runs nothing else and kill does not land. (fd_write/fd_pwrite of a large
// buffer to a pre-opened file, fd_read/fd_pread, path_* calls in a loop are the same.) Root cause:
// wasi/abi/preview1.ts (and ww-host imports) charge the meter nothing; meter.ts has no per-call charge.
// Expected: a host call is charged by the work it does (e.g. meter.endSoon-like `charge(n)` that zeroes
// the countdown when it passes 0, or a check in the wrapper after each import), so the hog is
// preempted at its 10 ms slice and the hello ends within 2 s.
test('a loop of O(n) host calls (poll_oneoff with 16K due clocks, random_get of 64 MiB) does not starve the other guests', async () => {
  const poll = `(module (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 100)
    (func (export "_start") ${loop(250, '(drop (call $poll (i32.const 65536) (i32.const 2000000) (i32.const 16384) (i32.const 100)))')}))`;
  const random = `(module (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
    (memory (export "memory") 1024)
    (func (export "_start") ${loop(250, '(drop (call $r (i32.const 0) (i32.const 67108864)))')}))`;
  await helloBesideHog(await assemble(poll), 2000, 'poll_oneoff x 16K clocks');
  await helloBesideHog(await assemble(random), 2000, 'random_get 64 MiB');
});

// ---- 5. A guest that exhausts the shared worker's JavaScript heap through iovecs ends its neighbours ----
//
// Attack: fixtures/guests/iovec-bomb.wat — fd_write with 8 million (empty) iovecs. GuestMemory.iovecs
// (wasi/abi/memory.ts:116) makes one Uint8Array per iovec before anything is written (count bounded
// only by memory size), ~500 MB of heap per call. hostile.test.ts accepts this on a dedicated worker
// (only the bomb's own worker dies), but a shared worker hosts everyone: shared-pool.ts onWorkerLost
// ends every guest of the thread with limit: memory (the first review fixed the same thing for
// captured output only). Expected: iovec counts bounded (IOV_MAX-like, e.g. 1024, EINVAL past it, as
// Linux) or iovecs walked without an object each, and the innocent sleeper ends normally with its output.
test('a guest calling fd_write with millions of iovecs does not end the other guests of its shared worker', async () => {
  const sleeper = sleepThenDone(1500);
  await withRuntime({ workerResourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } }, async (rt) => {
    const innocent = rt.spawn(await rt.load(await assemble(sleeper)), { args: ['sleeper'], stdout: 'capture', group: {} });
    await sleep(50);
    const bomb = rt.spawn(await rt.load(await guest('iovec-bomb')), { args: ['bomb'], group: {}, limits: { timeoutMs: 20_000 } });
    const status = await within(innocent, 20_000);
    bomb.kill();
    assert.ok(status, 'the sleeper did not end');
    assert.deepEqual(status.reason, { kind: 'normal' }, `the innocent neighbour ended with ${JSON.stringify(status.reason)}`);
    assert.equal(text(status.stdout), 'done\n');
  });
});

// ---- 6. fd_renumber onto a socket: the table is changed before the close suspends, the replay fails ----
//
// Attack (an innocent program, e.g. dup2 over a listening socket): fd_renumber(3, 4) with two
// pre-opened listeners. FdTable.renumber (wasi/fdtable.ts:58) moves fd 3 to 4 and removes 3, *then*
// closes the old fd 4, a socket: GuestListener.close is the host call 'sock.close', which suspends the
// guest. The import runs again after the answer (blocked.ts): `this.get(3)` is now EBADF, so the guest
// is told its renumber failed (errno 8) although it happened (and fd 4 now is the old fd 3). Nothing
// catches it: the replay returned before reaching its recorded 'sock.close'. A dedicated worker
// answers 0. Expected: 0 on both (renumber closes `old` first, or does its table change after the
// close as fd_close does, or records the table change).
test('fd_renumber onto a socket fd succeeds on a shared worker as on a dedicated one', async () => {
  const bytes = await assemble(`(module
    (import "wasi_snapshot_preview1" "fd_renumber" (func $renumber (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (call $exit (i32.add (i32.const 100) (call $renumber (i32.const 3) (i32.const 4))))))`);
  const dedicated = await Runtime.create({ poolSize: 1 });
  try {
    const listeners = await dedicated.listen([{ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: 0 }]);
    const reference = await dedicated.spawn(await dedicated.load(bytes), { args: ['renumber'], listen: listeners }).wait();
    assert.equal(reference.code, 100, 'a dedicated worker renumbers (errno 0)');
  } finally {
    await dedicated.close();
  }
  await withRuntime({}, async (rt) => {
    const m = await rt.load(bytes);
    assert.equal(m.suspendable, true);
    const listeners = await rt.listen([{ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: 0 }]);
    const status = await rt.spawn(m, { args: ['renumber'], listen: listeners }).wait();
    assert.equal(status.code, 100, `fd_renumber answered errno ${status.code - 100} on a shared worker`);
  });
});

// ---- 7. A guest still in its start function is trapped when its slice ends or when it is paused ----
//
// Attack (an innocent program, or a client's pause): a module whose `start` section runs for a while
// (100M iterations here). Its ticks run during `new WebAssembly.Instance` (process-worker.ts step ->
// run.instantiate), before SuspendableGuest.attach, so a tick that wants to suspend ('turn' when another
// guest is ready, 'pause' when a client pauses) throws SuspendError (suspend.ts suspend: "while it is
// instantiated") and the guest ends with a trap. A dedicated worker runs both to their end. Expected:
// a tick that cannot suspend does not (sliceOver/pause are not acted on until the instance exists:
// the guest keeps the thread a little longer, as it does in a pause on a dedicated worker), and both
// guests end normally.
test('a guest in its start function is neither trapped by the end of its time slice nor by a pause', async () => {
  const bytes = await assemble(`(module (memory (export "memory") 1)
    (func $init ${loop(100_000_000, '')})
    (start $init)
    (func (export "_start")))`);
  await withRuntime({}, async (rt) => {
    const m = await rt.load(bytes);
    // (The fix taken: a module with a start function is not made suspendable: a dedicated worker runs it.)
    assert.equal(m.suspendable, false);
    // Preempted: another principal's CPU-bound guest is ready when the slice ends.
    const spin = rt.spawn(await rt.load(await guest('spin')), { args: ['spin'], group: {} });
    const preempted = await rt.spawn(m, { args: ['init'], group: {} }).wait();
    spin.kill();
    assert.deepEqual(preempted.reason, { kind: 'normal' }, `preempted in its start function: ${JSON.stringify(preempted.reason)}`);
  });
  await withRuntime({}, async (rt) => {
    const p = rt.spawn(await rt.load(bytes), { args: ['init'] });
    await sleep(30);
    await p.pause();
    await sleep(30);
    p.resume();
    const paused = await p.wait();
    assert.deepEqual(paused.reason, { kind: 'normal' }, `paused in its start function: ${JSON.stringify(paused.reason)}`);
  });
});
