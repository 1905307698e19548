// Processes on the worker pool: exit codes, output modes, stdin, traps, kill, pause/resume.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runtime, type LoadedModule } from '../../src/wasm/index.js';
import { guest, repoRoot } from '../../fixtures/wat.js';

// process-shared.test.ts runs these same tests on shared workers (many guests per thread).
const workers = process.env.WW_TEST_WORKERS === 'shared' ? 'shared' : 'dedicated';
const rt = await Runtime.create({ poolSize: 2, workers });
after(() => rt.close());
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const load = async (name: string): Promise<LoadedModule> => rt.load(await guest(name));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** sum of i*i for i < n, modulo 2^64: what sumsquares.wat computes. */
function sumOfSquares(n: bigint): bigint {
  return (((n - 1n) * n * (2n * n - 1n)) / 6n) % (1n << 64n);
}

test('hello runs and its captured stdout comes back with exit code 0', async () => {
  const status = await rt.spawn(await load('hello'), { args: ['hello.wasm'], stdout: 'capture', stderr: 'capture' }).wait();
  assert.equal(status.code, 0);
  assert.deepEqual(status.reason, { kind: 'normal' });
  assert.equal(text(status.stdout), 'hello, world\n');
  assert.equal(text(status.stderr), '');
  assert.equal(status.memoryBytes, 65536);
  assert.ok(status.fuelUsed > 0, 'an instrumented guest uses fuel');
});

test('proc_exit(7) ends the process with code 7', async () => {
  const status = await rt.spawn(await load('exit7'), { args: ['exit7'] }).wait();
  assert.equal(status.code, 7);
  assert.deepEqual(status.reason, { kind: 'exit', code: 7 });
});

test('stdin bytes are read by the guest until end of input', async () => {
  const input = new TextEncoder().encode('the quick brown fox jumps over the lazy dog\n'.repeat(3));
  const status = await rt.spawn(await load('cat'), { args: ['cat'], stdin: input, stdout: 'capture' }).wait();
  assert.equal(status.code, 0);
  assert.equal(text(status.stdout), text(input));
});

test('a stream callback gets every chunk, in order, before wait() resolves', async () => {
  const out: number[] = [];
  const err: number[] = [];
  const status = await rt
    .spawn(await load('chunks'), {
      args: ['chunks'],
      stdout: (d) => out.push(...d),
      stderr: (d) => err.push(...d),
    })
    .wait();
  assert.equal(status.code, 0);
  assert.deepEqual(out, Array.from({ length: 100 }, (_, i) => 2 * i));
  assert.deepEqual(err, Array.from({ length: 100 }, (_, i) => 2 * i + 1));
});

test('ignored output is discarded and not returned', async () => {
  const status = await rt.spawn(await load('hello'), { args: ['hello'] }).wait();
  assert.equal(status.code, 0);
  assert.equal(status.stdout, undefined);
});

test('a pre-open reaches the worker with its mode: read-only reads and refuses writes (EPERM), read-write (false or absent) takes them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ww-runtime-preopen-'));
  try {
    writeFileSync(join(dir, 'f.txt'), 'hello');
    // The WASI tests' probe makes raw calls on fd 3, the pre-open ("op:args", one result line each).
    const probe = await rt.load(readFileSync(join(repoRoot(), 'test', 'wasi', 'guests', 'probe.wasm')));
    const run = async (readOnly: boolean | undefined) =>
      rt
        .spawn(probe, {
          args: ['probe', 'read:f.txt', 'write:new.txt:x', 'mkdir:d', 'unlink:f.txt'],
          preopens: [{ hostPath: dir, guestPath: '/d', ...(readOnly === undefined ? {} : { readOnly }) }],
          stdout: 'capture',
        })
        .wait();
    const ro = await run(true);
    assert.equal(ro.code, 0);
    assert.equal(text(ro.stdout), 'read ok hello\nwrite err 63\nmkdir err 63\nunlink err 63\n');
    assert.deepEqual(readdirSync(dir), ['f.txt']);
    for (const readOnly of [false, undefined]) {
      const rw = await run(readOnly);
      assert.equal(text(rw.stdout), 'read ok hello\nwrite ok 1\nmkdir ok\nunlink ok\n', `readOnly: ${readOnly}`);
      rmSync(join(dir, 'd'), { recursive: true });
      rmSync(join(dir, 'new.txt'));
      writeFileSync(join(dir, 'f.txt'), 'hello');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a trap names the trap and the guest function, exit code 134', async () => {
  const status = await rt.spawn(await load('traps'), { args: ['traps'] }).wait();
  assert.equal(status.code, 134);
  assert.deepEqual(status.reason, { kind: 'trap', message: 'unreachable', func: 'explode' });
});

test('an out-of-bounds load is a trap naming the function', async () => {
  const status = await rt.spawn(await load('oob'), { args: ['oob'] }).wait();
  assert.equal(status.code, 134);
  assert.deepEqual(status.reason, { kind: 'trap', message: 'memory access out of bounds', func: 'read_far' });
});

test('kill ends a running guest with reason killed and code 137; the pool replaces the worker', async () => {
  const p = rt.spawn(await load('spin'), { args: ['spin'] });
  await sleep(30);
  assert.equal(p.state, 'running');
  p.kill();
  p.kill(); // idempotent
  const status = await p.wait();
  assert.equal(status.code, 137);
  assert.deepEqual(status.reason, { kind: 'killed' });
  assert.equal(p.state, 'exited');
  const next = await rt.spawn(await load('hello'), { args: ['hello'], stdout: 'capture' }).wait();
  assert.equal(text(next.stdout), 'hello, world\n');
});

test('pause freezes a CPU-bound guest; resume continues it exactly where it stopped', async () => {
  const p = rt.spawn(await load('sumsquares'), { args: ['sumsquares'], stdout: 'capture' });
  await sleep(50);
  for (let round = 0; round < 3; round++) {
    await p.pause();
    if (p.state === 'exited') break; // finished before this round (very fast machine)
    assert.equal(p.state, 'paused');
    const before = p.stats();
    await sleep(60);
    const after = p.stats();
    assert.equal(after.fuelUsed, before.fuelUsed, 'no guest work happens while paused');
    assert.ok(after.fuelUsed > 0);
    p.resume();
    assert.equal(p.state, 'running');
    await sleep(20);
  }
  const status = await p.wait();
  assert.equal(status.code, 0);
  const result = new DataView(status.stdout!.buffer, status.stdout!.byteOffset).getBigUint64(0, true);
  assert.equal(result, sumOfSquares(150_000_000n));
});

test('a paused process can be killed', async () => {
  const p = rt.spawn(await load('spin'), { args: ['spin'] });
  await p.pause();
  assert.equal(p.state, 'paused');
  p.kill();
  assert.deepEqual((await p.wait()).reason, { kind: 'killed' });
});

test('pause and resume of an exited process do nothing', async () => {
  const p = rt.spawn(await load('hello'), { args: ['hello'] });
  await p.wait();
  await p.pause();
  p.resume();
  assert.equal(p.state, 'exited');
});

test('time spent paused does not count against the timeout', async () => {
  const p = rt.spawn(await load('spin'), { args: ['spin'], limits: { timeoutMs: 150 } });
  await p.pause();
  await sleep(400);
  assert.equal(p.state, 'paused', 'still alive after more than its timeout, because it was paused');
  p.resume();
  const status = await p.wait();
  assert.deepEqual(status.reason, { kind: 'limit', limit: 'wall' });
  assert.ok(p.stats().runningMs >= 150);
});

test('workers are reused between processes', async () => {
  const hello = await load('hello');
  for (let i = 0; i < 20; i++) await rt.spawn(hello, { args: ['hello'] }).wait();
  const info = rt.info();
  assert.ok(info.workers <= 3, `20 sequential processes should not grow the pool (workers: ${info.workers})`);
  assert.equal(info.processes, 0);
});

test('a runtime without instrumentation runs guests but refuses pause and fuel', async () => {
  const plain = await Runtime.create({ poolSize: 1, instrument: false });
  try {
    const hello = await plain.load(await guest('hello'));
    const status = await plain.spawn(hello, { args: ['hello'], stdout: 'capture' }).wait();
    assert.equal(text(status.stdout), 'hello, world\n');
    assert.equal(status.fuelUsed, 0);
    assert.throws(() => plain.spawn(hello, { args: ['hello'], limits: { fuel: 10 } }), /need an instrumented module/);
    const spin = plain.spawn(await plain.load(await guest('spin')), { args: ['spin'], limits: { timeoutMs: 50 } });
    await assert.rejects(spin.pause(), /pause needs an instrumented module/);
    assert.deepEqual((await spin.wait()).reason, { kind: 'limit', limit: 'wall' });
  } finally {
    await plain.close();
  }
});

test('when every worker is blocked, the pool grows and queued processes still run', async () => {
  const small = await Runtime.create({ poolSize: 1, maxWorkers: 2 });
  try {
    const sleeper = small.spawn(await small.load(await guest('sleep')), { args: ['sleep'] });
    const hello = small.spawn(await small.load(await guest('hello')), { args: ['hello'], stdout: 'capture' });
    const status = await hello.wait();
    assert.equal(text(status.stdout), 'hello, world\n');
    assert.equal(sleeper.state, 'running', 'hello ran on a new worker while the first one stayed blocked');
    assert.equal(small.info().workers, 2);
    sleeper.kill();
    assert.deepEqual((await sleeper.wait()).reason, { kind: 'killed' });
  } finally {
    await small.close();
  }
});

test('a process waiting for a busy worker can be killed without touching the busy one', async () => {
  const small = await Runtime.create({ poolSize: 1, maxWorkers: 1 });
  try {
    const sleeper = small.spawn(await small.load(await guest('sleep')), { args: ['sleep'] });
    const waiting = small.spawn(await small.load(await guest('hello')), { args: ['hello'] });
    waiting.kill();
    assert.deepEqual((await waiting.wait()).reason, { kind: 'killed' });
    assert.equal(sleeper.state, 'running');
    const next = small.spawn(await small.load(await guest('exit7')), { args: ['exit7'] });
    sleeper.kill();
    assert.equal((await next.wait()).code, 7, 'the worker was replaced and ran the next process');
  } finally {
    await small.close();
  }
});

test('a process never sees the memory of an earlier process on the same worker', async () => {
  const one = await Runtime.create({ poolSize: 1, maxWorkers: 1 });
  try {
    const leftovers = await one.load(await guest('leftovers'));
    for (let i = 0; i < 5; i++) {
      const status = await one.spawn(leftovers, { args: ['leftovers'], stdout: 'capture' }).wait();
      assert.deepEqual([...status.stdout!], [0], `run ${i} found what an earlier run left`);
    }
  } finally {
    await one.close();
  }
});

test('the runtime reports whether V8 uses guard regions or bounds checks', async () => {
  const { execFileSync } = await import('node:child_process');
  const index = new URL('../../src/wasm/index.js', import.meta.url).href;
  const probe = `import(${JSON.stringify(index)}).then((m) => console.log(m.wasmMemoryMode()))`;
  const env = { ...process.env, NODE_OPTIONS: '' };
  assert.equal(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8', env }).trim(), 'guard-regions');
  assert.equal(execFileSync(process.execPath, ['--disable-wasm-trap-handler', '-e', probe], { encoding: 'utf8', env }).trim(), 'bounds-checks');
});

test("'inherit' stdio: the guest reads the node's fd 0 and writes its fds 1 and 2", async () => {
  const { spawnSync } = await import('node:child_process');
  const index = new URL('../../src/wasm/index.js', import.meta.url).href;
  const fixtures = new URL('../../fixtures/wat.js', import.meta.url).href;
  const script = `
    const { Runtime } = await import(${JSON.stringify(index)});
    const { guest } = await import(${JSON.stringify(fixtures)});
    const rt = await Runtime.create({ poolSize: 1 });
    const cat = await rt.load(await guest('cat'));
    const chunks = await rt.load(await guest('chunks'));
    const a = await rt.spawn(cat, { args: ['cat'], stdin: 'inherit', stdout: 'inherit' }).wait();
    const b = await rt.spawn(chunks, { args: ['chunks'], stdout: 'inherit', stderr: 'inherit' }).wait();
    await rt.close();
    process.exitCode = a.code + b.code;`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { input: 'piped into the node\n' });
  assert.equal(r.status, 0, String(r.stderr));
  const out = r.stdout;
  const catOut = 'piped into the node\n';
  assert.equal(out.subarray(0, catOut.length).toString(), catOut);
  assert.deepEqual([...out.subarray(catOut.length)], Array.from({ length: 100 }, (_, i) => 2 * i));
  assert.deepEqual([...r.stderr], Array.from({ length: 100 }, (_, i) => 2 * i + 1));
});

test('extra workers started for blocked processes stop again once idle', async () => {
  const small = await Runtime.create({ poolSize: 1, maxWorkers: 3, idleWorkerMs: 200 });
  try {
    const sleep = await small.load(await guest('sleep'));
    const hello = await small.load(await guest('hello'));
    const sleepers = [small.spawn(sleep, { args: ['s'] }), small.spawn(sleep, { args: ['s'] })];
    assert.equal((await small.spawn(hello, { args: ['hello'] }).wait()).code, 0);
    assert.equal(small.info().workers, 3, 'grew to run hello beside two blocked sleepers');
    for (const s of sleepers) s.kill();
    const deadline = Date.now() + 15_000;
    while (small.info().workers > 1 && Date.now() < deadline) await sleep_(100);
    assert.equal(small.info().workers, 1, 'back to the warm pool size');
  } finally {
    await small.close();
  }
});
const sleep_ = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
