// Handle forgery: a number the caller's table does not hold — guessed, another process's, dropped,
// moved away — is EBADF; a bad pointer is EFAULT; neither harms the node or other processes.
import { test, after } from 'node:test';
import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { E, eventually, guest, ints, run, start, testExecutor } from './helpers.js';

const ex = await testExecutor();
after(() => ex.close());

test('guessed integers are not handles: 0, -1, small numbers and 2000 pseudo-random ones all give EBADF', async () => {
  const r = await run(
    ex,
    guest(`(local $i i32) (local $x i32) (local $bad i32)
    (call $out (call $handle_kind (i32.const 0) (i32.const 32)))
    (call $out (call $handle_kind (i32.const -1) (i32.const 32)))
    (call $out (call $handle_kind (i32.const 1) (i32.const 32)))
    (call $out (call $proc_kill (i32.const 2)))
    (call $out (call $chan_send (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
    (call $out (call $handle_drop (i32.const 4)))
    (local.set $x (i32.const 12345))
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (if (i32.ne (call $handle_kind (local.get $x) (i32.const 32)) (i32.const 8))
        (then (local.set $bad (i32.add (local.get $bad) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 2000))))
    (call $out (local.get $bad))`),
  );
  deepStrictEqual(r.out, [E.BADF, E.BADF, E.BADF, E.BADF, E.BADF, E.BADF, 0]);
  strictEqual(r.reason, 'normal');
});

test('a dropped handle and a handle moved away are EBADF; a received handle has a new number and works', async () => {
  const r = await run(
    ex,
    guest(`
    (drop (call $self (i32.const 32)))
    (call $out (call $handle_kind (call $o1) (i32.const 36)))
    (call $out (i32.load (i32.const 36)))
    (call $out (call $handle_drop (call $o1)))
    (call $out (call $handle_kind (call $o1) (i32.const 36)))
    (call $out (call $handle_drop (call $o1)))
    ;; a channel; its send end sent over itself: moved out of this table, back in under a new number
    (drop (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))
    (i32.store (i32.const 256) (call $o1))
    (call $out (call $chan_send (call $o1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 256) (i32.const 1)))
    (call $out (call $handle_kind (call $o1) (i32.const 40)))
    (call $out (call $chan_recv (call $o2) (i32.const 1) (i32.const 4096) (i32.const 100) (i32.const 40) (i32.const 300) (i32.const 4) (i32.const 44)))
    (call $out (call $o4))
    (call $out (call $handle_kind (i32.load (i32.const 300)) (i32.const 40)))
    (call $out (i32.load (i32.const 40)))
    (call $out (i32.ne (i32.load (i32.const 300)) (call $o1)))
    ;; the wrong kind: a receive end is not a Process
    (call $out (call $proc_kill (call $o2)))`),
  );
  deepStrictEqual(r.out, [0, 1, 0, E.BADF, E.BADF, 0, E.BADF, 0, 1, 0, 3, 1, E.BADF]);
});

test('pointers outside memory are EFAULT and the process runs on', async () => {
  const r = await run(
    ex,
    guest(`
    (drop (call $self (i32.const 32)))
    (call $out (call $handle_kind (call $o1) (i32.const 0x7ffffff0)))
    (call $out (call $self (i32.const -4)))
    (call $out (call $chan_create (i32.const 0) (i32.const 32) (i32.const 131070)))
    (call $out (call $spawn (i32.const 1) (i32.const 131040) (i32.const 64) (i32.const 32)))
    (call $out (call $last_error (i32.const 0) (i32.const 1000000) (i32.const 32)))
    (call $out (call $event_poll (i32.const 1) (i32.const 131068)))
    (call $out (call $chan_send (call $o1) (i32.const 0) (i32.const 100) (i32.const 0x7fff0000) (i32.const 0) (i32.const 0)))`),
  );
  deepStrictEqual(r.out, [E.FAULT, E.FAULT, E.FAULT, E.FAULT, E.FAULT, E.FAULT, E.FAULT]);
  strictEqual(r.reason, 'normal');
});

test("another process's handle numbers are EBADF in this process, and its capabilities are untouched", async () => {
  // A prints its handles (self, send end, receive end), then waits on its channel.
  let printed = new Uint8Array(0);
  const a = await start(
    ex,
    guest(`
    (drop (call $self (i32.const 32)))
    (drop (call $chan_create (i32.const 0) (i32.const 36) (i32.const 40)))
    (call $out (call $o1)) (call $out (call $o2)) (call $out (call $o3))
    (call $out (call $chan_recv (call $o3) (i32.const 0) (i32.const 4096) (i32.const 100) (i32.const 48) (i32.const 300) (i32.const 4) (i32.const 52)))`),
    { stdout: (d) => (printed = new Uint8Array([...printed, ...d])) },
  );
  await eventually('A printed its handles', () => printed.length >= 12);
  const numbers = printed.slice(0, 12);
  // B reads those numbers from stdin and tries them.
  const b = await run(
    ex,
    guest(`
    (drop (call $readStdin (i32.const 256) (i32.const 12)))
    (call $out (call $handle_kind (i32.load (i32.const 256)) (i32.const 32)))
    (call $out (call $proc_kill (i32.load (i32.const 256))))
    (call $out (call $chan_send (i32.load (i32.const 260)) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
    (call $out (call $chan_close (i32.load (i32.const 264))))
    (call $out (call $handle_drop (i32.load (i32.const 264))))`),
    { stdin: numbers },
  );
  deepStrictEqual(b.out, [E.BADF, E.BADF, E.BADF, E.BADF, E.BADF]);
  strictEqual(a.state, 'running');
  const [self, send, recv] = ints(numbers);
  const held = ex.ww.guest(a.pid)!.handles;
  strictEqual(held.has(self) && held.has(send) && held.has(recv), true);
  ex.table.kill(a);
});

test('a table holds 4096 handles: one more is EMFILE, and dropping one makes room', async () => {
  const r = await run(
    ex,
    guest(`(local $n i32) (local $e i32)
    (drop (call $initial (i32.const 0) (i32.const 48)))
    (loop $l
      (local.set $e (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))
      (if (i32.eqz (local.get $e)) (then (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $l))))
    (call $out (local.get $e))
    (call $out (local.get $n))
    (call $out (call $handle_dup (i32.load (i32.const 48)) (i32.const 40)))
    (call $out (call $self (i32.const 40)))
    (call $out (call $handle_drop (call $o1)))
    (call $out (call $handle_dup (i32.load (i32.const 48)) (i32.const 40)))`),
  );
  // 3 initial handles + 2046 channels x 2 ends = 4095: one more channel does not fit, one dup does
  deepStrictEqual(r.out, [E.MFILE, 2046, 0, E.MFILE, 0, 0]);
});

test('a module importing a ww function with the wrong signature is refused at load, naming it and the ABI\'s', async () => {
  const { rejects } = await import('node:assert/strict');
  const { assemble } = await import('./helpers.js');
  const bad = await assemble(`(module
    (import "ww" "spawn" (func (param i32 i32) (result i32)))
    (import "ww" "self" (func (param i32) (result i32)))
    (memory (export "memory") 1) (func (export "_start")))`);
  await rejects(ex.modules.put(bad), {
    name: 'ExecutorError',
    code: 'invalid-module',
    message: 'module imports ww functions with the wrong signatures: ww.spawn is imported as (i32 i32) -> (i32); ' +
      "the ABI's is (i32 i32 i32 i32) -> (i32) (guest-sdk/ABI.md)",
  });
});

test('a module importing ww run on a bare Runtime (no executor) gets ENOSYS from every call, not a link error', async () => {
  const { Runtime } = await import('../../src/wasm/index.js');
  const { assemble } = await import('./helpers.js');
  const rt = await Runtime.create({ poolSize: 1 });
  try {
    const mod = await rt.load(await assemble(guest(`(call $out (call $self (i32.const 32))) (call $out (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))`)));
    const status = await rt.spawn(mod, { args: ['bare'], stdout: 'capture' }).wait();
    strictEqual(status.reason.kind, 'normal');
    deepStrictEqual(ints(status.stdout), [52, 52]);
  } finally {
    await rt.close();
  }
});
