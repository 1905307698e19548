// Hostile review of shared workers (RuntimeOptions.workers 'shared'): what a guest or a client can
// do to a thread it shares with others, and what a dedicated worker does with the same program.
// Every test here fails on the commit it was written against (5de1803) and states what it expects.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Runtime, type ExitStatus, type LoadedModule, type WasmProcess } from '../../src/wasm/index.js';
import { assemble, guest, sleepThenDone } from '../../fixtures/wat.js';
import { sleep, spinFunc, spinner, text, within } from './helpers.js';
import binaryen from 'binaryen';



// One shared thread, so that every guest of a test shares it with every other.
const shared = await Runtime.create({ poolSize: 1, workers: 'shared' });
const dedicated = await Runtime.create({ poolSize: 1 });
after(() => Promise.all([shared.close(), dedicated.close()]));



/** Runs `bytes` on both runtimes: the dedicated outcome is the reference. */
async function onBoth(bytes: Uint8Array): Promise<{ m: LoadedModule; shared: ExitStatus; dedicated: ExitStatus }> {
  const m = await shared.load(bytes);
  const d = await dedicated.spawn(await dedicated.load(bytes), { args: ['x'] }).wait();
  const s = await shared.spawn(m, { args: ['x'] }).wait();
  return { m, shared: s, dedicated: d };
}

// ---- 1. A guest that never reaches a tick holds the shared thread: no kill, no turn for others ----
//
// Attack: memory.fill (and memory.copy, and a WASI call such as random_get) is charged a constant
// amount of fuel whatever its length, so a loop of 64 MiB fills runs for minutes between two ticks
// (TICK_BUDGET = 100,000 fuel). On a shared worker the tick is the only place where a guest gives the
// thread up (meter.ts tick: sliceOver) and where a kill lands (CTL_KILL); the 'stop' message
// (process-worker.ts stop) is only read when the thread returns to its event loop, which it never does.
// On a dedicated worker kill terminates the thread (pool.ts retire), so the same guest is stopped.
// Measured: 13 fuel per iteration and ~3.6 ms per 64 MiB fill, so a tick every ~28 s; with 1 GiB
// fills, every ~8 minutes. The hog here stops after 1,500 fills (~5.5 s, no tick) to keep the test bounded.
const fillHogWat = `(module (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (drop (memory.grow (i32.const 1024)))
    (loop $l (memory.fill (i32.const 0) (i32.const 7) (i32.const 67108864))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1500))))))`;

test('a guest that runs long between ticks (64 MiB memory.fill in a loop) does not starve the other guests of its shared worker', async () => {
  // Expected: another principal's hello ends within 2 s (time slices are 10 ms).
  const hog = shared.spawn(await shared.load(await assemble(fillHogWat)), { args: ['hog'], group: {} });
  const hello = await shared.load(await guest('hello'));
  await sleep(300);
  const p = shared.spawn(hello, { args: ['hello'], stdout: 'capture', group: {} });
  try {
    const status = await within(p, 2000);
    assert.ok(status, `a hello sharing the thread with the hog did not end within 2 s (hog fuel ${hog.stats().fuelUsed})`);
    assert.equal(text(status.stdout), 'hello, world\n');
  } finally {
    hog.kill();
    await p.wait(); // (once the hog's 1,500 fills are done)
  }
});

test('killing a shared guest that runs long between ticks (or passing its deadline) frees its thread', async () => {
  // Expected: after kill() or a wall-clock deadline, the worker stops running that guest within a
  // bounded time, as a dedicated worker does (terminated), and its other guests run again.
  const hog = shared.spawn(await shared.load(await assemble(fillHogWat)), { args: ['hog'], limits: { timeoutMs: 200 } });
  const hello = await shared.load(await guest('hello'));
  assert.deepEqual((await hog.wait()).reason, { kind: 'limit', limit: 'wall' }); // reported ended at ~225 ms...
  const p = shared.spawn(hello, { args: ['hello'], stdout: 'capture' });
  try {
    const status = await within(p, 2000); // ...but its thread is still filling memory
    assert.ok(status, 'a guest past its deadline (and killed) still holds the shared thread: the next process did not run within 2 s');
    assert.equal(text(status.stdout), 'hello, world\n');
  } finally {
    await p.wait();
  }
});

// ---- 2. poll_oneoff with a clock and a socket: the resumed call takes another path ----
//
// Attack: a clock subscription (1.0-3.0 ms) and a read on a listener that never gets a connection.
// The first run sees more than FD_RECHECK_NS (1 ms) left and waits in the host call `sock.poll`
// (suspended); the main thread's timer fires up to ~1 ms early, so the second run (replaying) reads
// a fresh, unrecorded `now` (wasi/poll.ts:64) with less than 1 ms left and goes to sleepNs instead:
// the replay log says sock.poll where the run says sleep -> SuspendError "its resumed call went
// another way", the guest trapped. A dedicated worker runs the same guest to its end.
test('poll_oneoff on a clock and a listener, repeated, is not trapped by a replay that went another way', async () => {
  const wat = `(module
    (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 2)
    (func (export "_start") (local $i i32)
      (i64.store (i32.const 70000) (i64.const 1))        ;; sub 0: userdata 1, clock monotonic, relative
      (i32.store8 (i32.const 70008) (i32.const 0))
      (i32.store (i32.const 70016) (i32.const 1))
      (i64.store (i32.const 70048) (i64.const 2))        ;; sub 1: userdata 2, fd_read on fd 3 (the listener)
      (i32.store8 (i32.const 70056) (i32.const 1))
      (i32.store (i32.const 70064) (i32.const 3))
      (loop $l
        (i64.store (i32.const 70024) (i64.add (i64.const 1000000) (i64.mul (i64.extend_i32_u (i32.rem_u (local.get $i) (i32.const 40))) (i64.const 50000))))
        (if (call $poll (i32.const 70000) (i32.const 70200) (i32.const 2) (i32.const 70400)) (then unreachable))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 300))))))`;
  const bytes = await assemble(wat);
  const m = await shared.load(bytes);
  assert.equal(m.suspendable, true);
  const dl = await dedicated.listen([{ host: '127.0.0.1', port: 0 }]);
  const reference = await dedicated.spawn(await dedicated.load(bytes), { args: ['poll'], listen: dl, limits: { timeoutMs: 10_000 } }).wait();
  assert.deepEqual(reference.reason, { kind: 'normal' });
  for (let run = 0; run < 3; run++) {
    const listeners = await shared.listen([{ host: '127.0.0.1', port: 0 }]);
    const status = await shared.spawn(m, { args: ['poll'], listen: listeners, limits: { timeoutMs: 10_000 } }).wait();
    assert.deepEqual(status.reason, { kind: 'normal' }, `run ${run}`);
  }
});

// ---- 3. A memory that is not exported as "memory": killed at the end of its first time slice ----
//
// Attack (an innocent program): a module whose memory is not exported, or exported under another
// name. Runtime.compile (runtime.ts:252) makes it suspendable whenever memory.initial > 0, but the
// instrumentation only turns an export named "memory" into the provided import (instrument.ts:104),
// so GuestRun.guestMemory() is undefined and SuspendableGuest.region() (suspend.ts:164) throws when
// its 10 ms slice ends at a tick. A dedicated worker runs it to its end.
test('a CPU-bound guest whose memory is not exported (or not as "memory") runs to its end as on a dedicated worker', async () => {
  for (const memory of ['(memory 1)', '(memory (export "mem") 1)']) {
    const r = await onBoth(await assemble(`(module ${memory} ${spinFunc('$spin', 30_000_000)} (func (export "_start") (call $spin)))`));
    assert.deepEqual(r.dedicated.reason, { kind: 'normal' });
    assert.deepEqual(r.shared.reason, { kind: 'normal' }, `${memory}: ${JSON.stringify(r.shared.reason)}`);
  }
});

// ---- 4. CPU-bound recursion deeper than the 64 KiB region when its slice ends ----
//
// Attack (an innocent program): recursion 6,000 frames deep (a few bytes of locals each; a C
// program's frames hold far more, so a few hundred frames suffice), then 30 M iterations of work.
// No wait is involved: its time slice ends at a tick (meter.ts tick -> sliceOver, which is true
// after 10 ms even when no other guest waits), the unwind overflows SUSPEND_REGION_BYTES
// (suspend.ts:17) and the guest is trapped "its stack was too deep to suspend". A dedicated worker
// runs it to its end. Expected: a guest is never killed for being preempted.
// A neighbour spinning in another group makes sure the slice does end (a guest alone runs on).
// Fixed by growing a small memory to the 4 MiB a preemption lends (meter.ts growTo).
test('a CPU-bound guest deep in recursion when its time slice ends runs to its end as on a dedicated worker', async () => {
  const neighbour = shared.spawn(await shared.load(await assemble(spinner(2_000_000_000))), { args: ['spin'], group: {} });
  try {
    const r = await onBoth(
      await assemble(`(module (memory (export "memory") 1)
        ${spinFunc('$spin', 30_000_000)}
        (func $down (param $n i32) (result i32)
          (if (result i32) (i32.eqz (local.get $n)) (then (call $spin) (i32.const 0))
            (else (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))
        (func (export "_start") (drop (call $down (i32.const 6000)))))`),
    );
    assert.equal(r.m.suspendable, true);
    assert.deepEqual(r.dedicated.reason, { kind: 'normal' });
    assert.deepEqual(r.shared.reason, { kind: 'normal' }, JSON.stringify(r.shared.reason));
  } finally {
    neighbour.kill();
    await neighbour.wait();
  }
});

test('a guest whose memory limit leaves no room for its frames when preempted deep in recursion ends with a trap that says so', async () => {
  const neighbour = shared.spawn(await shared.load(await assemble(spinner(2_000_000_000))), { args: ['spin'], group: {} });
  try {
    const m = await shared.load(await assemble(`(module (memory (export "memory") 1 1)
        ${spinFunc('$spin', 30_000_000)}
        (func $down (param $n i32) (result i32)
          (if (result i32) (i32.eqz (local.get $n)) (then (call $spin) (i32.const 0))
            (else (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))
        (func (export "_start") (drop (call $down (i32.const 6000)))))`));
    const status = await shared.spawn(m, { args: ['x'] }).wait();
    assert.equal(status.reason.kind, 'trap');
    assert.match(String((status.reason as { message?: string }).message), /stack was too deep to suspend \(more than 64 KiB of frames\)/);
  } finally {
    neighbour.kill();
    await neighbour.wait();
  }
});

// ---- 5. One guest exhausts the shared worker's JavaScript heap: its neighbours die with it ----
//
// Attack: 1-byte fd_writes to captured stdout. Each one keeps a Uint8Array (and its ArrayBuffer) in
// the worker's heap (process-worker.ts output(): captured.push), ~150 bytes of heap per byte of
// output, charged as 1 byte (pages of bytes). The worker runs out of heap (ERR_WORKER_OUT_OF_MEMORY)
// and every guest it hosts ends with limit: memory (shared-pool.ts onWorkerLost), an innocent sleeper
// of another principal included. On dedicated workers only the flooding guest's own worker dies.
// Expected: the sleeper ends normally with its output.
test("a guest flooding captured output with 1-byte writes does not end the other guests of its shared worker", async () => {
  const rt = await Runtime.create({ poolSize: 1, workers: 'shared', workerResourceLimits: { maxOldGenerationSizeMb: 32 } });
  try {
    const flood = `(module
      (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 1000) "x")
      (func (export "_start") (local $i i32)
        (i32.store (i32.const 2000) (i32.const 1000)) (i32.store (i32.const 2004) (i32.const 1))
        (loop $l
          (drop (call $write (i32.const 1) (i32.const 2000) (i32.const 1) (i32.const 2010)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 4000000))))))`;
    const innocent = rt.spawn(await rt.load(await assemble(sleepThenDone(1500))), { args: ['sleeper'], stdout: 'capture', group: {} });
    await sleep(50);
    const attacker = rt.spawn(await rt.load(await assemble(flood)), { args: ['flood'], stdout: 'capture', group: {} });
    const status = await within(innocent, 20_000);
    attacker.kill();
    assert.ok(status, 'the sleeper did not end');
    assert.deepEqual(status.reason, { kind: 'normal' }, `the innocent neighbour ended with ${JSON.stringify(status.reason)}`);
    assert.equal(text(status.stdout), 'done\n');
  } finally {
    await rt.close();
  }
});

// ---- 6. A pause on a shared worker is counted as blocked time (and the CPU figure goes negative) ----
//
// Attack (a client): pause a CPU-bound guest for 500 ms. Meter.whilePaused counts the pause in
// pausedMs (so runningMs excludes it) and step() (process-worker.ts: STAT_BLOCKED_SINCE /
// STAT_BLOCKED_MS around every suspension) counts it again as blocked, so blockedMs > runningMs and
// `ww ps`'s CPU (running - blocked) is negative. On a dedicated worker a freeze is not blocked time.
test('a paused shared guest does not count its pause as blocked time', async () => {
  const p = shared.spawn(await shared.load(await guest('spin')), { args: ['spin'] });
  try {
    await sleep(100);
    await p.pause();
    await sleep(500);
    p.resume();
    await sleep(100);
    const s = p.stats();
    assert.ok(s.blockedMs < 100, `blockedMs ${s.blockedMs.toFixed(0)} after a 500 ms pause of a guest that never waits (runningMs ${s.runningMs.toFixed(0)})`);
    assert.ok(s.runningMs - s.blockedMs >= 0, 'CPU time (running - blocked) is negative');
  } finally {
    p.kill();
    await p.wait();
  }
});

// ---- 7. Time spent waiting for a turn is counted as running (CPU) time ----
//
// Attack (accounting): two CPU-bound guests of two principals share one thread for 1 s. Each gets
// half of it, but each reports ~1000 ms of CPU (runningMs - blockedMs): the time a guest waits in
// the ready queue (after its 'turn' suspension resolves at once, process-worker.ts admit nextTurn)
// is neither blocked nor excluded. Expected: the CPU figures of guests sharing one thread add up to
// no more than the thread's time.
test('guests sharing one thread do not report more CPU time than the thread had', async () => {
  const spin = await shared.load(await guest('spin'));
  assert.equal(spin.suspendable, true, 'the spin guest was made suspendable (else it runs on dedicated workers)');
  const a = shared.spawn(spin, { args: ['spin'], group: {} });
  const b = shared.spawn(spin, { args: ['spin'], group: {} });
  try {
    // From the moment both have run (a process counts as running from its spawn, and CI once saw
    // 1003 + 1003 ms with nothing blocked: neither had been given the thread yet, it seems).
    for (let i = 0; i < 1000 && !(a.stats().fuelUsed > 0 && b.stats().fuelUsed > 0); i++) await sleep(10);
    const cpuNow = (): number[] => [a.stats(), b.stats()].map((s) => s.runningMs - s.blockedMs);
    const before = cpuNow();
    const started = performance.now();
    await sleep(1000);
    const elapsed = performance.now() - started;
    const cpu = cpuNow().map((c, i) => c - before[i]!);
    assert.ok(cpu[0]! + cpu[1]! <= elapsed * 1.25, `CPU ${cpu.map((c) => c.toFixed(0)).join(' + ')} ms on one thread in ${elapsed.toFixed(0)} ms; ${JSON.stringify(shared.info())}`);
  } finally {
    a.kill();
    b.kill();
    await Promise.all([a.wait(), b.wait()]);
  }
});

// ---- A guest that waits inside a catch handler (found by a third review) ----
//
// asyncify does not carry a try/catch across an unwind: the guest exited 0 instead of 7 (and one
// that waits inside the try trapped "its resumed call went another way"). Expected: such a module
// runs on a dedicated worker, with the same outcome.
test('a module using exception handling runs on a dedicated worker: a sleep inside a catch handler keeps what it caught', async () => {
  const parsed = binaryen.parseText(`(module
    (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (tag $e (param i32))
    (memory (export "memory") 1)
    (func $sleep
      (i32.store8 (i32.const 8) (i32.const 0))
      (i32.store (i32.const 16) (i32.const 1))
      (i64.store (i32.const 24) (i64.const 20000000))
      (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200))))
    (func (export "_start") (local $r i32)
      (try (do (throw $e (i32.const 7))) (catch $e (local.set $r) (call $sleep)))
      (call $exit (local.get $r))))`);
  parsed.setFeatures(binaryen.Features.ExceptionHandling | binaryen.Features.MutableGlobals);
  const bytes = parsed.emitBinary();
  parsed.dispose();
  const r = await onBoth(bytes);
  assert.equal(r.m.suspendable, false);
  assert.deepEqual(r.dedicated.reason, { kind: 'exit', code: 7 });
  assert.deepEqual(r.shared.reason, { kind: 'exit', code: 7 });
});
