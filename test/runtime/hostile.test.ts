// Hostile guests: each is stopped with a clear reason, the runtime survives, and other
// processes running at the same time are unaffected.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Runtime, ModuleError, type LoadedModule, type WasmProcess } from '../../src/wasm/index.js';
import { assemble, guest } from '../../fixtures/wat.js';

// A small JavaScript heap per worker, so that a guest that makes its host allocate without
// end kills its worker quickly (guest linear memory is not part of this heap).
const rt = await Runtime.create({ poolSize: 2, workerResourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } });
after(() => rt.close());
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const load = async (name: string): Promise<LoadedModule> => rt.load(await guest(name));
const PAGE = 65536;

/** Runs hello next to the hostile guest and checks it is unaffected. */
async function bystander(): Promise<WasmProcess> {
  return rt.spawn(await load('hello'), { args: ['hello'], stdout: 'capture' });
}
async function assertBystanderFine(p: WasmProcess): Promise<void> {
  const status = await p.wait();
  assert.equal(status.code, 0);
  assert.equal(text(status.stdout), 'hello, world\n');
}

test('an infinite loop is stopped by fuel: limit cpu, code 137, fuel used = the limit', async () => {
  const other = await bystander();
  // (odd: no multiple of the loop's cost, so the check that runs out overshoots the limit; it never ran)
  const status = await rt.spawn(await load('spin'), { args: ['spin'], limits: { fuel: 5_000_001 } }).wait();
  assert.equal(status.code, 137);
  assert.deepEqual(status.reason, { kind: 'limit', limit: 'cpu' });
  assert.equal(status.fuelUsed, 5_000_001);
  await assertBystanderFine(other);
});

test('an infinite loop is stopped by the wall-clock timeout: limit wall', async () => {
  const other = await bystander();
  const p = rt.spawn(await load('spin'), { args: ['spin'], limits: { timeoutMs: 100 } });
  const status = await p.wait();
  assert.equal(status.code, 137);
  assert.deepEqual(status.reason, { kind: 'limit', limit: 'wall' });
  assert.ok(p.stats().runningMs >= 100);
  await assertBystanderFine(other);
});

test('a guest blocked in a host call is stopped by the timeout too (its worker is replaced)', async () => {
  const status = await rt.spawn(await load('sleep'), { args: ['sleep'], limits: { timeoutMs: 100 } }).wait();
  assert.deepEqual(status.reason, { kind: 'limit', limit: 'wall' });
  await assertBystanderFine(await bystander());
});

test('a timeout past setTimeout\'s range holds: no timer overflow re-arming every millisecond', async () => {
  const overflows: string[] = [];
  const onWarning = (w: Error): void => void (w.name === 'TimeoutOverflowWarning' && overflows.push(w.message));
  process.on('warning', onWarning);
  try {
    const p = rt.spawn(await load('spin'), { args: ['spin'], limits: { timeoutMs: 2 ** 40 } });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(p.state, 'running');
    p.kill();
    assert.deepEqual((await p.wait()).reason, { kind: 'killed' });
    await new Promise((r) => setImmediate(r)); // (warnings are emitted on the next tick)
    assert.deepEqual(overflows, []);
  } finally {
    process.off('warning', onWarning);
  }
});

test('memory growth past the limit fails in the guest; its abort is reported as limit memory', async () => {
  const other = await bystander();
  const status = await rt.spawn(await load('grow-abort'), { args: ['grow'], limits: { maxMemoryBytes: 10 * PAGE } }).wait();
  assert.equal(status.code, 137);
  assert.deepEqual(status.reason, { kind: 'limit', limit: 'memory' });
  assert.equal(status.memoryBytes, 10 * PAGE);
  await assertBystanderFine(other);
});

test('memory.grow past the limit returns -1 to the guest, which may carry on', async () => {
  const status = await rt.spawn(await load('grow-count'), { args: ['grow'], limits: { maxMemoryBytes: 10 * PAGE + 100 } }).wait();
  assert.deepEqual(status.reason, { kind: 'exit', code: 10 }, 'the guest saw -1 at 10 pages and exited with its page count');
});

test('a module whose initial memory is above the limit is refused at spawn', async () => {
  const flood = await load('stdout-flood'); // declares 17 pages
  assert.throws(
    () => rt.spawn(flood, { args: ['flood'], limits: { maxMemoryBytes: 16 * PAGE } }),
    (e: unknown) => e instanceof ModuleError && /needs 1114112 bytes of memory at start \(17 pages\), more than the limit of 1048576/.test(e.message),
  );
});

test('unbounded recursion is a trap: call stack exhausted, naming the function', async () => {
  const other = await bystander();
  const status = await rt.spawn(await load('recurse'), { args: ['recurse'] }).wait();
  assert.equal(status.code, 134);
  assert.deepEqual(status.reason, { kind: 'trap', message: 'call stack exhausted', func: 'deeper' });
  await assertBystanderFine(other);
});

test('a guest passing millions of iovecs gets EINVAL (at most IOV_MAX = 1024, as Linux), not a worker out of heap', async () => {
  const other = await bystander();
  // fd_write with 8 million iovecs (the host used to make a view of each and run its worker out of
  // heap), then with 1,024 (allowed): exits with errno * 100 + the second errno.
  const m = await rt.load(
    await assemble(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1000)
      (func (export "_start")
        (call $exit (i32.add
          (i32.mul (call $fd_write (i32.const 1) (i32.const 0) (i32.const 8000000) (i32.const 64000000)) (i32.const 100))
          (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1024) (i32.const 64000000))))))`),
  );
  const status = await rt.spawn(m, { args: ['bomb'] }).wait();
  assert.equal(status.code, 28 * 100 + 0, 'EINVAL (28) for 8 million, success for 1,024');
  await assertBystanderFine(other);
});

test('output captured without end is cut off at the capture bound with limit memory', async () => {
  const small = await Runtime.create({ poolSize: 1, maxCaptureBytes: 4 * 1024 * 1024 });
  try {
    const flood = await small.load(await guest('stdout-flood'));
    const status = await small.spawn(flood, { args: ['flood'], stdout: 'capture' }).wait();
    assert.deepEqual(status.reason, { kind: 'limit', limit: 'memory' });
    assert.ok(status.stdout!.length <= 4 * 1024 * 1024);
  } finally {
    await small.close();
  }
});

test('200 processes at once: each ends with its own right result', async () => {
  const [hello, spin, traps, exit7] = await Promise.all(['hello', 'spin', 'traps', 'exit7'].map(load));
  const procs: { kind: string; p: WasmProcess }[] = [];
  for (let i = 0; i < 200; i++) {
    switch (i % 8) {
      case 0:
        procs.push({ kind: 'spin', p: rt.spawn(spin, { args: ['spin'], limits: { fuel: 2_000_000 } }) });
        break;
      case 1:
        procs.push({ kind: 'trap', p: rt.spawn(traps, { args: ['traps'] }) });
        break;
      case 2:
        procs.push({ kind: 'exit7', p: rt.spawn(exit7, { args: ['exit7'] }) });
        break;
      default:
        procs.push({ kind: 'hello', p: rt.spawn(hello, { args: [`hello-${i}`], stdout: 'capture' }) });
    }
  }
  const killed = rt.spawn(spin, { args: ['spin'] });
  killed.kill();
  const statuses = await Promise.all(procs.map(({ p }) => p.wait()));
  statuses.forEach((s, i) => {
    const kind = procs[i].kind;
    if (kind === 'spin') assert.deepEqual(s.reason, { kind: 'limit', limit: 'cpu' });
    if (kind === 'trap') assert.deepEqual(s.reason, { kind: 'trap', message: 'unreachable', func: 'explode' });
    if (kind === 'exit7') assert.equal(s.code, 7);
    if (kind === 'hello') assert.equal(text(s.stdout), 'hello, world\n');
  });
  assert.deepEqual((await killed.wait()).reason, { kind: 'killed' });
  assert.equal(rt.info().processes, 0);
  assert.equal(rt.info().queued, 0);
});

test('thousands of short processes, several in flight, all complete with their output', { timeout: 120_000 }, async () => {
  const hello = await load('hello');
  let done = 0;
  const lane = async (): Promise<void> => {
    for (let i = 0; i < 400; i++) {
      const status = await rt.spawn(hello, { args: ['hello'], stdout: 'capture' }).wait();
      assert.equal(text(status.stdout), 'hello, world\n');
      done++;
    }
  };
  await Promise.all([lane(), lane(), lane(), lane(), lane()]);
  assert.equal(done, 2000);
  assert.equal(rt.info().queued, 0);
});

test('bad pointers to every WASI call, and sock_* on stdio, give errnos: the guest carries on', async () => {
  const { SIGNATURES } = await import('../wasi/signatures.js');
  const BAD = -16; // 0xFFFFFFF0: past the end of any memory
  const skip = new Set(['proc_exit', 'proc_raise', 'fd_close', 'fd_renumber', 'sched_yield']);
  const calls: { name: string; args: string[] }[] = [];
  for (const [name, params] of Object.entries(SIGNATURES)) {
    if (skip.has(name)) continue;
    const args = params.map((t, i) =>
      i === 0 && /^(fd_|sock_|path_)/.test(name) ? '(i32.const 1)' : t === 'i64' ? '(i64.const 0)' : `(i32.const ${BAD})`,
    );
    calls.push({ name, args });
  }
  // sock_* on stdin, stdout and stderr with good pointers (node:wasi crashes the process on these).
  for (const fd of [0, 1, 2]) {
    calls.push({ name: 'sock_recv', args: [fd, 256, 1, 0, 512, 516].map((v) => `(i32.const ${v})`) });
    calls.push({ name: 'sock_send', args: [fd, 256, 1, 0, 512].map((v) => `(i32.const ${v})`) });
    calls.push({ name: 'sock_shutdown', args: [fd, 2].map((v) => `(i32.const ${v})`) });
    calls.push({ name: 'sock_accept', args: [fd, 0, 512].map((v) => `(i32.const ${v})`) });
  }
  const imports = Object.entries(SIGNATURES)
    .map(([n, p]) => `(import "wasi_snapshot_preview1" "${n}" (func $${n} (param ${p.join(' ')}) ${n === 'proc_exit' ? '' : '(result i32)'}))`)
    .join('\n');
  const body = calls.map((c, k) => `(i32.store (i32.const ${4096 + 4 * k}) (call $${c.name} ${c.args.join(' ')}))`).join('\n');
  const source = `(module ${imports}
    (memory (export "memory") 1)
    (func $main (export "_start")
      ${body}
      (i32.store (i32.const 0) (i32.const 4096))
      (i32.store (i32.const 4) (i32.const ${4 * calls.length}))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;
  const { assemble } = await import('../../fixtures/wat.js');
  const other = await bystander();
  const status = await rt.spawn(await rt.load(await assemble(source)), { args: ['bad'], stdout: 'capture', limits: { timeoutMs: 20_000 } }).wait();
  assert.deepEqual(status.reason, { kind: 'normal' });
  const view = new DataView(status.stdout!.buffer, status.stdout!.byteOffset, status.stdout!.byteLength);
  assert.equal(view.byteLength, 4 * calls.length);
  calls.forEach((c, k) => assert.notEqual(view.getUint32(4 * k, true), 0, `${c.name}(${c.args.join(' ')}) succeeded`));
  await assertBystanderFine(other);
});

test('a guest streaming output without end is held back by backpressure and stopped by its timeout', async () => {
  let received = 0;
  let chunks = 0;
  const status = await rt
    .spawn(await load('stdout-flood'), {
      args: ['flood'],
      stdout: (data) => {
        received += data.length;
        chunks++;
      },
      limits: { timeoutMs: 400 },
    })
    .wait();
  assert.deepEqual(status.reason, { kind: 'limit', limit: 'wall' });
  assert.ok(chunks > 8, `the callback got ${chunks} chunks`);
  assert.equal(received, chunks * 1048576, 'every chunk delivered whole');
  await assertBystanderFine(await bystander());
});
