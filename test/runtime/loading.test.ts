// Module loading: every kind of bad input gets a ModuleError that says what is wrong;
// good modules are content-addressed (sha256) and cached.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Runtime, ModuleError } from '../../src/wasm/index.js';
import { assemble, guest } from '../../fixtures/wat.js';

const rt = await Runtime.create({ poolSize: 1 });
after(() => rt.close());

async function rejects(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  await assert.rejects(rt.load(bytes), (e: unknown) => {
    assert.ok(e instanceof ModuleError, `expected a ModuleError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('empty input is refused as empty', async () => {
  await rejects(new Uint8Array(0), /module is empty \(0 bytes\)/);
});

test('a cut-off header is refused as truncated', async () => {
  await rejects(new Uint8Array([0, 0x61, 0x73, 0x6d, 1]), /truncated: 5 bytes/);
});

test('a module cut in the middle of a section is refused as truncated, naming the section', async () => {
  const hello = await guest('hello');
  await rejects(hello.subarray(0, hello.length - 10), /truncated: the \w+ section at byte \d+ needs \d+ bytes but only \d+ remain/);
});

test('a file that is not WebAssembly is refused with its magic bytes', async () => {
  await rejects(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]), /not a WebAssembly binary: the file starts with 7f 45 4c 46/);
});

test('WebAssembly text is refused with a hint to assemble it', async () => {
  await rejects(new TextEncoder().encode('(module (func))'), /WebAssembly text \(\.wat\).*wat2wasm/);
});

test('a structurally invalid module is refused with the engine reason', async () => {
  // framing is fine, but the body returns an i64 where the type says i32
  const bad = await assemble('(module (memory (export "memory") 1) (func (export "_start")))');
  const typeMismatch = Uint8Array.from(bad);
  // Replace the function body "end" with an i32.const so the body leaves a value: invalid.
  const code = typeMismatch.lastIndexOf(0x0b);
  typeMismatch[code] = 0x01; // nop instead of end: the body never ends
  await rejects(typeMismatch, /invalid WebAssembly module: /);
});

test('a module without _start is refused', async () => {
  await rejects(await assemble('(module (memory (export "memory") 1) (func (export "main")))'), /does not export a function `_start`/);
});

test('a reactor module is refused with a hint', async () => {
  await rejects(
    await assemble('(module (memory (export "memory") 1) (func (export "_initialize")))'),
    /`_start`.*reactor\/library module with `_initialize`/,
  );
});

// A module that exports no memory runs until a call needs memory, which traps (as wasmtime).
const EXIT_2_WITHOUT_MEMORY = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (func (export "_start") (drop (call $yield)) (call $exit (i32.const 2))))`;
const ARGS_WITHOUT_MEMORY = `(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (func $read_args (drop (call $sizes (i32.const 0) (i32.const 4))))
  (func (export "_start") (call $read_args)))`;

for (const instrument of [true, false]) {
  test(`a module without memory loads and runs: proc_exit(2) exits 2 (instrument: ${instrument})`, async () => {
    const runtime = instrument ? rt : await Runtime.create({ poolSize: 1, instrument: false });
    try {
      const mod = await runtime.load(await assemble(EXIT_2_WITHOUT_MEMORY));
      const status = await runtime.spawn(mod, { args: ['exit2'] }).wait();
      assert.deepEqual([status.code, status.reason], [2, { kind: 'exit', code: 2 }]);
      assert.equal(status.memoryBytes, 0);
    } finally {
      if (runtime !== rt) await runtime.close();
    }
  });

  test(`a WASI call that needs memory traps when the module exports none (instrument: ${instrument})`, async () => {
    const runtime = instrument ? rt : await Runtime.create({ poolSize: 1, instrument: false });
    try {
      const status = await runtime.spawn(await runtime.load(await assemble(ARGS_WITHOUT_MEMORY)), { args: ['args'] }).wait();
      assert.equal(status.code, 134);
      assert.equal(status.reason.kind, 'trap');
      assert.match(status.reason.kind === 'trap' ? status.reason.message : '', /the module exports no memory named "memory", which this call needs/);
    } finally {
      if (runtime !== rt) await runtime.close();
    }
  });
}

test('a memory the module does not export runs, but cannot be held to a memory limit', async () => {
  const mod = await rt.load(await assemble(EXIT_2_WITHOUT_MEMORY.replace('(func (export "_start")', '(memory 1) (func (export "_start")')));
  assert.equal((await rt.spawn(mod, { args: ['hidden'] }).wait()).code, 2);
  assert.throws(
    () => rt.spawn(mod, { args: ['hidden'], limits: { maxMemoryBytes: 1 << 20 } }),
    (e: unknown) => e instanceof ModuleError && /does not export its memory as `memory`.*memory limit/.test(e.message),
  );
});

test('imports ww does not provide are all named, with what ww provides', async () => {
  const bytes = await assemble(`(module
    (import "env" "foo" (func))
    (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "no_such_call" (func))
    (memory (export "memory") 1) (func (export "_start")))`);
  await rejects(bytes, /imports what ww does not provide: env\.foo \(function\), wasi_snapshot_preview1\.no_such_call \(function\)\. ww provides the functions of wasi_snapshot_preview1/);
});

test('an imported memory is refused', async () => {
  await rejects(await assemble('(module (import "env" "memory" (memory 1)) (func (export "_start")))'), /env\.memory \(memory\)/);
});

test('a module is identified by the sha256 of its bytes and cached by it', async () => {
  const bytes = await guest('hello');
  const a = await rt.load(bytes);
  assert.equal(a.cid, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(a.size, bytes.length);
  const b = await rt.load(Uint8Array.from(bytes));
  assert.equal(b, a, 'the second load of the same bytes is a cache hit');
  assert.equal(rt.get(a.cid), a);
  const other = await rt.load(await guest('exit7'));
  assert.notEqual(other.cid, a.cid);
});

test('concurrent loads of the same bytes compile once', async () => {
  const bytes = await assemble('(module (memory (export "memory") 1) (func (export "_start")) (func $distinct))');
  const [a, b] = await Promise.all([rt.load(bytes), rt.load(bytes)]);
  assert.equal(a, b);
});

test('the cache is bounded by bytes and evicts the least recently used module', async () => {
  const small = await Runtime.create({ poolSize: 1, maxCacheBytes: 600 }) // one of these tiny modules (original + instrumented) fits, two do not;
  try {
    const first = await small.load(await guest('hello'));
    const second = await small.load(await guest('exit7'));
    assert.equal(small.get(first.cid), undefined, 'the older module was evicted');
    assert.equal(small.get(second.cid), second);
    // an evicted module the caller still holds keeps working
    const status = await small.spawn(first, { args: ['hello'], stdout: 'capture' }).wait();
    assert.equal(new TextDecoder().decode(status.stdout), 'hello, world\n');
  } finally {
    await small.close();
  }
});

test('instrumented modules are kept in a private cache directory and a bad cache entry is ignored', async () => {
  const { mkdtempSync, readdirSync, statSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'ww-cache-test-'));
  try {
    const bytes = await guest('hello');
    const first = await Runtime.create({ poolSize: 1, cacheDir: dir });
    const cid = (await first.load(bytes)).cid;
    await first.close();
    const [sub] = readdirSync(dir);
    assert.match(sub, /^instrumented-v\d+$/);
    assert.equal(statSync(join(dir, sub)).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(join(dir, sub)), [`${cid}.wasm`]);
    writeFileSync(join(dir, sub, `${cid}.wasm`), 'not wasm');
    const second = await Runtime.create({ poolSize: 1, cacheDir: dir });
    try {
      const status = await second.spawn(await second.load(bytes), { args: ['hello'], stdout: 'capture' }).wait();
      assert.equal(new TextDecoder().decode(status.stdout), 'hello, world\n');
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
