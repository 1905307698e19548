// Third hostile review of shared workers: a preempted guest's memory grown for its frames
// (meter.ts growTo, suspend.ts framesMayNotFit) and RuntimeOptions.suspend 'background' (a module
// made suspendable while its processes run on dedicated workers: Process.moveTo,
// WorkerPool.withdrawQueued). A to F each failed on the commit they were written against (4f153a3).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget, Runtime, type LoadedModule, type WasmProcess } from '../../src/wasm/index.js';
import { assemble, sleepThenDone } from '../../fixtures/wat.js';
import { sleep, spinFunc, spinner } from './helpers.js';

// One shared thread, so that a spinning neighbour makes every other guest's slice end.
const shared = await Runtime.create({ poolSize: 1, workers: 'shared' });
const dedicated = await Runtime.create({ poolSize: 1 });
after(() => Promise.all([shared.close(), dedicated.close()]));


/** Runs `fn` while a guest of another group spins on the shared thread (so slices do end). */
async function withNeighbour<T>(fn: () => Promise<T>): Promise<T> {
  const neighbour = shared.spawn(await shared.load(await assemble(spinner(2_000_000_000))), { args: ['spin'], group: {} });
  try {
    return await fn();
  } finally {
    neighbour.kill();
    await neighbour.wait();
  }
}

/** Padding functions that make asyncify take seconds (each calls an import and the next). */
function padding(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    out += `(func $pad${i} (param $a i32) (result i32) (local $x i32)
      (local.set $x (call $write (local.get $a) (i32.const 0) (i32.const 0) (i32.const 0)))
      (if (i32.gt_u (local.get $a) (i32.const 1000000)) (then (local.set $x (i32.add (local.get $x) (call $pad${(i + 1) % n} (i32.sub (local.get $a) (i32.const 1)))))))
      (local.get $x))\n`;
  }
  return out;
}
/** sleepThenDone(ms) whose asyncify transform takes seconds (its own code unchanged). */
const slowToSuspend = (ms: number, n = 1500): string => sleepThenDone(ms).replace('(func (export "_start")', `${padding(n)} (func (export "_start")`);

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (let t = 0; t < ms && !cond(); t += 25) await sleep(25);
  return cond();
}

// ---- A. growTo is all or nothing against the memory limit (meter.ts:223-224) ----
// A 1-page guest limited to 2 MiB, preempted 6,000 frames deep (~100-200 KiB of frames): growTo asks
// for 64 pages, charge() refuses all of them (64 > 32), nothing is grown, the 64 KiB region overflows
// and the guest traps, although 2 MiB would hold its frames ("grown toward 4 MiB within its limits").
test('A: a guest with a 2 MiB memory limit preempted deep in recursion runs to its end, as on a dedicated worker', async () => {
  const bytes = await assemble(`(module (memory (export "memory") 1)
      ${spinFunc('$spin', 30_000_000)}
      (func $down (param $n i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n)) (then (call $spin) (i32.const 0))
          (else (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))
      (func (export "_start") (drop (call $down (i32.const 6000)))))`);
  const limits = { maxMemoryBytes: 2 * 1024 * 1024 };
  const d = await dedicated.spawn(await dedicated.load(bytes), { args: ['x'], limits }).wait();
  assert.deepEqual(d.reason, { kind: 'normal' });
  const s = await withNeighbour(async () => shared.spawn(await shared.load(bytes), { args: ['x'], limits }).wait());
  assert.deepEqual(s.reason, { kind: 'normal' }, JSON.stringify(s.reason));
});

// ---- B. Being preempted spends up to 4 MiB of the guest's memory limit (meter.ts:220, suspend.ts:194) ----
// The host's grow moves the guest's memory.size to 64 pages; an allocator grows from memory.size on
// (memory.grow returns the old size), so the 63 pages it asks for next no longer fit a 4 MiB limit:
// a program that runs on a dedicated worker fails on a shared one once its slice has ended.
test('B: a guest preempted once can still grow its memory to its limit, as on a dedicated worker', async () => {
  const bytes = await assemble(`(module (memory (export "memory") 1)
      ${spinFunc('$spin', 30_000_000)}
      (func (export "_start") (call $spin)
        (if (i32.eq (memory.grow (i32.const 63)) (i32.const -1)) (then unreachable))))`);
  const limits = { maxMemoryBytes: 4 * 1024 * 1024 };
  const d = await dedicated.spawn(await dedicated.load(bytes), { args: ['x'], limits }).wait();
  assert.deepEqual(d.reason, { kind: 'normal' });
  const s = await withNeighbour(async () => shared.spawn(await shared.load(bytes), { args: ['x'], limits }).wait());
  assert.deepEqual(s.reason, { kind: 'normal' }, JSON.stringify(s.reason));
});

// ---- C. ...and 4 MiB of its principal's memory budget: a 64 KiB guest costs 64x once preempted ----
test('C: a preempted 1-page guest does not take 4 MiB of its memory budget', async () => {
  const budget = new MemoryBudget('the test principal\'s budget', 6 * 1024 * 1024); // 96 pages
  const group = {};
  const procs: WasmProcess[] = [];
  await withNeighbour(async () => {
    const spin = shared.spawn(await shared.load(await assemble(spinner(2_000_000_000))), { args: ['s'], group, memoryBudget: budget });
    procs.push(spin);
    await sleep(300); // many slices ended
    const used = budget.usedBytes;
    const sleeper = await shared.load(await assemble(sleepThenDone(30_000)));
    let refused: unknown;
    try {
      for (let i = 0; i < 40; i++) procs.push(shared.spawn(sleeper, { args: ['z'], group, memoryBudget: budget })); // 40 pages
    } catch (e) {
      refused = e;
    }
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.wait()));
    assert.equal(used, 65536, `the spinner (1 page, never grew) holds ${used} bytes of the budget; memoryBytes ${spin.stats().memoryBytes}`);
    assert.equal(refused, undefined, `41 one-page processes did not fit a 6 MiB budget: ${String(refused)}`);
  });
});

// ---- D. Pausing a small guest changes its memory (suspend.ts:194 on the 'pause' site) ----
test('D: pausing a 1-page guest on a shared worker leaves its memory at 1 page', async () => {
  const p = shared.spawn(await shared.load(await assemble(spinner(2_000_000_000))), { args: ['s'] });
  try {
    await sleep(50);
    await p.pause();
    p.resume();
    await sleep(50); // (the meter publishes the memory's size at its next tick)
    assert.equal(p.stats().memoryBytes, 65536, 'memory after a pause and resume');
  } finally {
    p.kill();
    await p.wait();
  }
});

// ---- E. The background transform holds up every other new module's load (instrumenter.ts: one worker, FIFO) ----
// "a first run never waits for it" (README): module A's asyncify (seconds; a minute for Go) runs on the
// Instrumenter's single worker, so module B's plain instrumentation, asked for after it, waits behind it.
test("E: suspend 'background': loading a second new module does not wait for the first one's transform", async () => {
  const bg = await Runtime.create({ poolSize: 1, workers: 'shared', suspend: 'background' });
  try {
    const a = await bg.load(await assemble(slowToSuspend(10)));
    assert.equal(a.suspendable, false);
    const b = await bg.load(await assemble(sleepThenDone(11)));
    assert.equal(b.suspendable, false);
    // (A's transform takes seconds, B's instrumentation milliseconds: B came first unless it waited behind A)
    assert.equal(bg.get(a.cid)?.suspendable, false, 'B was loaded only once A had been made suspendable');
  } finally {
    await bg.close();
  }
});

// ---- F. A process sent ahead to a dedicated worker is not moved (runtime.ts:302, pool.ts:202) ----
// withdrawQueued takes only the queue; a process prefetched into the busy dedicated worker's slot stays
// there, and when the pool takes it back (armReclaim, requeuePrefetched) it goes to the dedicated queue
// for good, behind a worker that may be busy for hours, while the shared workers are idle. A large
// prefetchMs makes the window certain; at the default 2 ms it is a race (a move within ~5 ms of a spawn).
test("F: suspend 'background': a process sent ahead to a busy dedicated worker also moves to the shared ones", async () => {
  const bg = await Runtime.create({ poolSize: 1, maxWorkers: 1, workers: 'shared', suspend: 'background', prefetchMs: 60_000 });
  const procs: WasmProcess[] = [];
  try {
    const m: LoadedModule = await bg.load(await assemble(slowToSuspend(60_000)));
    assert.equal(m.suspendable, false);
    const first = bg.spawn(m, { args: ['first'] });
    procs.push(first);
    assert.ok(await until(() => first.state === 'running', 10_000), 'the dedicated worker started');
    const ahead = bg.spawn(m, { args: ['ahead'] }); // sent ahead to the busy worker
    procs.push(ahead);
    assert.equal(bg.get(m.cid)?.suspendable, false, '(test precondition: the transform is still running)');
    assert.ok(await until(() => bg.get(m.cid)?.suspendable === true, 60_000), 'made suspendable');
    const moved = await until(() => bg.info().shared?.hosted === 1, 3000);
    assert.ok(moved, `the process sent ahead is still waiting for the busy dedicated worker: ${JSON.stringify({ ahead: ahead.state, info: bg.info() })}`);
  } finally {
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.wait()));
    await bg.close();
  }
});

// ---- Checks that turned out fine (pass) ----
test("G: suspend 'background': a queued process paused, or killed, before the move behaves", async () => {
  const bg = await Runtime.create({ poolSize: 1, maxWorkers: 1, workers: 'shared', suspend: 'background', prefetchMs: 0 });
  try {
    const m = await bg.load(await assemble(slowToSuspend(60_000, 800)));
    const first = bg.spawn(m, { args: ['first'] });
    const paused = bg.spawn(m, { args: ['paused'] });
    const killed = bg.spawn(m, { args: ['killed'] });
    const pausing = paused.pause();
    killed.kill();
    assert.ok(await until(() => bg.get(m.cid)?.suspendable === true, 60_000), 'made suspendable');
    assert.ok(await until(() => bg.info().shared?.hosted === 1, 3000), JSON.stringify(bg.info()));
    await pausing;
    assert.equal(paused.state, 'paused');
    paused.resume();
    assert.equal(paused.state, 'running');
    assert.deepEqual((await killed.wait()).reason, { kind: 'killed' });
    first.kill();
    paused.kill();
    assert.deepEqual((await paused.wait()).reason, { kind: 'killed' });
    await first.wait();
    assert.equal(bg.info().cachedModules, 1);
    assert.equal(bg.info().cachedBytes, (bg.get(m.cid) as unknown as { cacheBytes: number }).cacheBytes, 'the replaced entry is no longer counted');
  } finally {
    await bg.close();
  }
});

test("H: suspend 'background': close() during the transform, and a module asyncify refuses, are harmless", async () => {
  const bg = await Runtime.create({ poolSize: 1, workers: 'shared', suspend: 'background' });
  const m = await bg.load(await assemble(slowToSuspend(10, 800)));
  const p = bg.spawn(m, { args: ['x'], stdout: 'capture' });
  await bg.close(); // the transform is under way
  assert.equal((await p.wait()).reason.kind, 'killed');
  const rt = await Runtime.create({ poolSize: 1, workers: 'shared', suspend: 'background' });
  try {
    // It exports a name asyncify adds: makeSuspendable refuses it; it stays on dedicated workers and runs.
    const ex = await assemble(`(module (memory (export "memory") 1) (func (export "asyncify_get_state") (result i32) (i32.const 0)) (func (export "_start")))`);
    const em = await rt.load(ex);
    await sleep(2000);
    assert.equal(rt.get(em.cid)?.suspendable, false);
    assert.deepEqual((await rt.spawn(em, { args: ['x'] }).wait()).reason, { kind: 'normal' });
  } finally {
    await rt.close();
  }
});


test("suspend 'background': a thousand new modules at once queue at most 16 transforms; the rest run on dedicated workers", async () => {
  const bg = await Runtime.create({ poolSize: 1, workers: 'shared', suspend: 'background' });
  try {
    const loaded = await Promise.all(Array.from({ length: 1000 }, (_, i) => assemble(sleepThenDone(i + 1)).then((b) => bg.load(b))));
    assert.equal(new Set(loaded.map((m) => m.cid)).size, 1000);
    const queued = (bg as unknown as { suspending: Set<string> }).suspending.size;
    assert.ok(queued <= 16, `${queued} background transforms queued`);
    const p = bg.spawn(loaded[999]!, { args: ['x'], stdout: 'capture' });
    assert.equal(new TextDecoder().decode((await p.wait()).stdout), 'done\n');
  } finally {
    await bg.close();
  }
});
