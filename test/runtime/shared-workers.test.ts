// Shared workers (RuntimeOptions.workers 'shared'): many guests per thread, a waiting guest suspended.
// What only they do: a thousand guests blocked at once on two threads, time slices between principals,
// the guest's memory under the borrowed unwind region kept intact, and a stack too deep to suspend.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Runtime, type LoadedModule } from '../../src/wasm/index.js';
import { assemble, guest, sleepThenDone } from '../../fixtures/wat.js';

const rt = await Runtime.create({ poolSize: 2, workers: 'shared' });
after(() => rt.close());
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const load = async (name: string): Promise<LoadedModule> => rt.load(await guest(name));


test('modules are made suspendable and a thousand guests blocked at once live on two threads', async () => {
  const m = await rt.load(await assemble(sleepThenDone(4000))); // (long enough for 1,000 spawns and a hello on a loaded machine)
  assert.equal(m.suspendable, true);
  const sleepers = Array.from({ length: 1000 }, () => rt.spawn(m, { args: ['sleeper'], stdout: 'capture', group: {} }));
  // While all of them wait, another client's hello starts and ends: no thread is held by a waiting guest.
  const hello = await rt.spawn(await load('hello'), { args: ['hello'], stdout: 'capture', group: {} }).wait();
  assert.equal(text(hello.stdout), 'hello, world\n');
  assert.ok(sleepers.every((p) => p.state === 'running'), 'the hello ended while every sleeper still waited');
  const info = rt.info();
  assert.equal(info.shared?.workers, 2);
  assert.equal(info.workers, 0, 'no dedicated worker was started');
  const statuses = await Promise.all(sleepers.map((p) => p.wait()));
  assert.deepEqual(new Set(statuses.map((s) => `${s.code} ${text(s.stdout)}`)), new Set(['0 done\n']));
  assert.ok(statuses.every((s) => s.fuelUsed > 0));
  assert.equal(rt.info().shared?.hosted, 0);
});

test('a guest whose data sits where an unwind writes finds it intact after every suspension', async () => {
  // Fills the first 64 KiB with a pattern, sleeps ten times (subscription at 65,536), checks the pattern.
  const m = await rt.load(
    await assemble(`(module
      (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 2)
      (func (export "_start") (local $i i32) (local $round i32)
        (loop $fill
          (i32.store8 (local.get $i) (i32.xor (local.get $i) (i32.shr_u (local.get $i) (i32.const 8))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $fill (i32.lt_u (local.get $i) (i32.const 65536))))
        (i32.store8 (i32.const 65544) (i32.const 0))
        (i32.store (i32.const 65552) (i32.const 1))
        (i64.store (i32.const 65560) (i64.const 2000000))
        (loop $sleep
          (drop (call $poll (i32.const 65536) (i32.const 65700) (i32.const 1) (i32.const 65800)))
          (local.set $round (i32.add (local.get $round) (i32.const 1)))
          (br_if $sleep (i32.lt_u (local.get $round) (i32.const 10))))
        (local.set $i (i32.const 0))
        (loop $check
          (if (i32.ne (i32.load8_u (local.get $i)) (i32.and (i32.xor (local.get $i) (i32.shr_u (local.get $i) (i32.const 8))) (i32.const 255)))
            (then unreachable))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $check (i32.lt_u (local.get $i) (i32.const 65536))))))`),
  );
  const status = await rt.spawn(m, { args: ['pattern'] }).wait();
  assert.deepEqual(status.reason, { kind: 'normal' });
});

test('a sleeping guest pauses at once and its sleep ends only after resume; a suspended guest can be killed', async () => {
  const m = await rt.load(await assemble(sleepThenDone(300)));
  const p = rt.spawn(m, { args: ['sleeper'], stdout: 'capture' });
  const neighbour = rt.spawn(m, { args: ['sleeper'], stdout: 'capture' });
  await new Promise((r) => setTimeout(r, 50));
  await p.pause();
  assert.equal(p.state, 'paused');
  await new Promise((r) => setTimeout(r, 600)); // well past its deadline
  assert.equal(p.state, 'paused', 'the sleep completes only after resume');
  assert.equal(text((await neighbour.wait()).stdout), 'done\n');
  p.resume();
  const status = await p.wait();
  assert.equal(status.code, 0);
  assert.equal(text(status.stdout), 'done\n');

  const long = rt.spawn(await rt.load(await assemble(sleepThenDone(60_000))), { args: ['sleeper'] });
  await new Promise((r) => setTimeout(r, 50));
  long.kill();
  assert.deepEqual((await long.wait()).reason, { kind: 'killed' });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(rt.info().shared?.hosted, 0, 'the killed guest was dropped by its worker');
});

test('CPU-bound guests share a thread in time slices: work is exact, and another principal gets its turn', async () => {
  const bomb = {};
  const spin = await load('spin');
  const spinners = Array.from({ length: 8 }, () => rt.spawn(spin, { args: ['spin'], group: bomb }));
  const sums = rt.spawn(await load('sumsquares'), { args: ['sumsquares'], stdout: 'capture', group: {} });
  const hello = await rt.spawn(await load('hello'), { args: ['hello'], stdout: 'capture', group: {} }).wait();
  assert.equal(text(hello.stdout), 'hello, world\n');
  assert.ok(spinners.every((p) => p.state === 'running'));
  const status = await sums.wait();
  const result = new DataView(status.stdout!.buffer, status.stdout!.byteOffset).getBigUint64(0, true);
  let expected = 0n;
  for (let i = 0n; i < 150_000_000n; i += 1n) expected = BigInt.asUintN(64, expected + i * i);
  assert.equal(result, expected, 'a guest suspended at thousands of ticks computes what it computes alone');
  for (const p of spinners) p.kill();
  await Promise.all(spinners.map((p) => p.wait()));
});

test('a guest too deep in calls when it must wait traps with a clear reason, and its thread goes on', async () => {
  // Recurses 20,000 frames deep, then sleeps: its frames do not fit the region an unwind may use.
  const m = await rt.load(
    await assemble(`(module
      (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 2)
      (func $down (param $n i32) (param $a i64) (param $b i64) (param $c i64) (result i32)
        (if (result i32) (i32.eqz (local.get $n))
          (then
            (i32.store8 (i32.const 65544) (i32.const 0))
            (i32.store (i32.const 65552) (i32.const 1))
            (i64.store (i32.const 65560) (i64.const 1000000))
            (call $poll (i32.const 65536) (i32.const 65700) (i32.const 1) (i32.const 65800)))
          (else (i32.add (call $down (i32.sub (local.get $n) (i32.const 1)) (local.get $a) (local.get $b) (local.get $c)) (i32.wrap_i64 (local.get $a))))))
      (func (export "_start") (drop (call $down (i32.const 20000) (i64.const 1) (i64.const 2) (i64.const 3)))))`),
  );
  const status = await rt.spawn(m, { args: ['deep'] }).wait();
  assert.equal(status.reason.kind, 'trap');
  assert.match((status.reason as { message: string }).message, /could not suspend the guest: its stack was too deep/);
  const hello = await rt.spawn(await load('hello'), { args: ['hello'], stdout: 'capture' }).wait();
  assert.equal(text(hello.stdout), 'hello, world\n');
});

test('a fork bomb of 4,096 spinning guests does not keep another principal\'s hello from running and ending', async () => {
  const bomb = {};
  const spin = await load('spin');
  const spinners = Array.from({ length: 4096 }, () => rt.spawn(spin, { args: ['spin'], group: bomb }));
  // The hello is spawned after all of them, and still ends while every one of them runs.
  const hello = await rt.spawn(await load('hello'), { args: ['hello'], stdout: 'capture', group: {} }).wait();
  assert.equal(text(hello.stdout), 'hello, world\n');
  assert.ok(spinners.every((p) => p.state === 'running'), 'the bomb was still running when the hello ended');
  for (const p of spinners) p.kill();
  const ends = await Promise.all(spinners.map((p) => p.wait()));
  assert.ok(ends.every((s) => s.reason.kind === 'killed'));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(rt.info().shared?.hosted, 0);
});

test("suspend 'background': a new module runs at once on a dedicated worker; once suspendable, its queued and new processes share", async () => {
  const bg = await Runtime.create({ poolSize: 1, maxWorkers: 1, workers: 'shared', suspend: 'background' });
  try {
    const m = await bg.load(await assemble(sleepThenDone(60_000)));
    assert.equal(m.suspendable, false, 'load did not wait for the transform');
    const first = bg.spawn(m, { args: ['first'] });
    const queued = bg.spawn(m, { args: ['queued'] }); // the one dedicated worker is taken
    let ready: LoadedModule | undefined;
    for (let i = 0; i < 1200 && !ready?.suspendable; i++) {
      await new Promise((r) => setTimeout(r, 50));
      ready = bg.get(m.cid);
    }
    assert.equal(ready?.suspendable, true, 'made suspendable within 60 s');
    const later = bg.spawn(m, { args: ['later'] }); // (by the object load gave: the cache's entry wins)
    for (let i = 0; i < 100 && bg.info().shared?.hosted !== 2; i++) await new Promise((r) => setTimeout(r, 50));
    const info = bg.info();
    assert.equal(info.shared?.hosted, 2, 'the queued process and the new one are on the shared worker');
    assert.equal(info.queued, 0);
    assert.equal(first.state, 'running');
    for (const p of [first, queued, later]) p.kill();
    assert.deepEqual((await Promise.all([first, queued, later].map((p) => p.wait()))).map((s) => s.reason.kind), ['killed', 'killed', 'killed']);
  } finally {
    await bg.close();
  }
});

test('a process waiting for its first turn behind 100 CPU-bound guests counts that wait as blocked, not as CPU', async () => {
  const one = await Runtime.create({ poolSize: 1, workers: 'shared' });
  try {
    const spin = await one.load(await guest('spin'));
    const group = {};
    const spinners = Array.from({ length: 100 }, () => one.spawn(spin, { args: ['spin'], group }));
    const last = one.spawn(spin, { args: ['spin'], group }); // its turn comes after ~100 slices of 10 ms
    await new Promise((r) => setTimeout(r, 300));
    const s = last.stats();
    if (s.fuelUsed === 0) {
      // (not run yet, as expected on this thread: all of its time so far was spent waiting)
      assert.ok(s.blockedMs >= s.runningMs * 0.9, `running ${s.runningMs.toFixed(0)} ms, blocked ${s.blockedMs.toFixed(0)} ms before its first turn`);
    }
    assert.ok(s.runningMs - s.blockedMs < 150, `CPU ${(s.runningMs - s.blockedMs).toFixed(0)} ms after 300 ms behind 100 spinners`);
    for (const p of [...spinners, last]) p.kill();
    await Promise.all([...spinners, last].map((p) => p.wait()));
  } finally {
    await one.close();
  }
});
