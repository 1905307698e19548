import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, wat } from './harness.js';

test('a WAT hello world writes to stdout and exits with proc_exit code', async () => {
  const mod = await wat(`(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "hello\\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 16))
      (i32.store (i32.const 4) (i32.const 6))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (call $proc_exit (i32.const 7))))`);
  const r = run(mod);
  assert.equal(r.stdout, 'hello\n');
  assert.equal(r.code, 7);
});

test('a module that exports no memory runs: calls without pointers work, one needing memory traps (as wasmtime)', async () => {
  const mod = await wat(`(module
    (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_renumber" (func $fd_renumber (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
    (global $n (mut i32) (i32.const 0))
    (func (export "_start")
      ;; EBADF (8) + EBADF: both answered without memory
      (global.set $n (i32.add (call $fd_close (i32.const 99)) (call $fd_renumber (i32.const 1) (i32.const 99))))
      (if (i32.ne (global.get $n) (i32.const 16)) (then unreachable))
      (call $proc_exit (i32.const 2)))
    (func (export "write") (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`);
  const r = run(mod);
  assert.equal(r.code, 2);
  assert.throws(
    () => (r.exports.write as () => void)(),
    (e: unknown) => e instanceof Error && e.name === 'RuntimeError' && /exports no memory named "memory"/.test(e.message),
  );
});
