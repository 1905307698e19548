// A chain of 1,000 processes each waiting for its child (proc_wait) completes on shared workers:
// a waiting guest holds no thread. On dedicated workers the same chain needs a thread per link.
import { test, after } from 'node:test';
import { strictEqual, ok } from 'node:assert/strict';
import { Executor, reasonText } from '../../src/executor/index.js';
import { assemble } from './helpers.js';

/** With argv[0] one character long, argv[1]'s length is the depth to go: a process spawns a copy of itself with one fewer, passing
 *  it a duplicate of its Executor handle, waits for it and exits with its code; the last exits 7. */
const CHAIN = `(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "ww" "initial" (func $initial (param i32 i32) (result i32)))
  (import "ww" "handle_dup" (func $dup (param i32 i32) (result i32)))
  (import "ww" "spawn" (func $spawn (param i32 i32 i32 i32) (result i32)))
  (import "ww" "proc_wait" (func $wait (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $d i32) (local $err i32)
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (local.set $d (i32.sub (i32.load (i32.const 4)) (i32.const 3)))
    (if (i32.le_s (local.get $d) (i32.const 0)) (then (call $exit (i32.const 7))))
    (if (call $initial (i32.const 0) (i32.const 48)) (then (call $exit (i32.const 90))))
    (if (call $dup (i32.load (i32.const 48)) (i32.const 52)) (then (call $exit (i32.const 91))))
    (i32.store8 (i32.const 4096) (i32.const 99))
    (i32.store8 (i32.const 4097) (i32.const 0))
    (memory.fill (i32.const 4098) (i32.const 120) (i32.sub (local.get $d) (i32.const 1)))
    (i32.store8 (i32.add (i32.const 4097) (local.get $d)) (i32.const 0))
    (memory.fill (i32.const 128) (i32.const 0) (i32.const 64))
    (i32.store (i32.const 136) (i32.const 2))
    (i32.store (i32.const 140) (i32.const 4096))
    (i32.store (i32.const 144) (i32.add (local.get $d) (i32.const 2)))
    (i32.store (i32.const 156) (i32.const 52))
    (i32.store (i32.const 160) (i32.const 1))
    (local.set $err (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 64) (i32.const 32)))
    (if (local.get $err) (then (call $exit (i32.add (i32.const 100) (local.get $err)))))
    (if (call $wait (i32.load (i32.const 32)) (i32.const 0) (i32.const 36) (i32.const 0) (i32.const 0) (i32.const 40))
      (then (call $exit (i32.const 92))))
    (call $exit (i32.load (i32.const 36)))))`;

const ex = await Executor.create({ peerId: 'chain', keepEnded: 5000, runtimeOptions: { poolSize: 2, workers: 'shared' } });
after(() => ex.close());

test('a chain of 1,000 processes each waiting for its child completes on two shared workers, and others still run meanwhile', async () => {
  const module = await ex.modules.put(await assemble(CHAIN));
  const links = 1000;
  const root = ex.spawn({ module, argv: ['c', 'x'.repeat(links - 1)], stdout: 'capture', stderr: 'capture' });
  // While the chain grows, a process of its own runs to its end beside it.
  const probe = ex.spawn({ module, argv: ['p', ''] });
  strictEqual((await probe.settled).code, 7);
  const s = await root.settled;
  strictEqual(reasonText(s.reason), 'exit: 7', 'the last link exited 7 and every link passed its code up');
  const ended = ex.table.list().filter((e) => e.status && e.argv[0] === 'c');
  strictEqual(ended.length, links, 'every link ran');
  ok(ended.every((e) => e.status!.code === 7));
  strictEqual(ex.runtime.info().workers, 0, 'no dedicated worker was needed');
});
