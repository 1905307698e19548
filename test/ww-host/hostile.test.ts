// A hostile guest: every ww import called thousands of times with arguments drawn from bad
// pointers, edge integers, random numbers and its real handles. Each call answers an errno (or
// succeeds); the guest ends normally, and the node goes on serving others.
import { test, after } from 'node:test';
import assert, { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { WW_FUNCTIONS } from '../../src/wasm/ww-host/abi.js';
import { guest, run, testExecutor } from './helpers.js';

const ex = await testExecutor();
after(() => ex.close());

/** Calls that could block for good with valid arguments get NONBLOCK or are left out: event_poll
 *  (always NONBLOCK), proc_pause (would freeze the fuzzer itself). */
const fuzzed = Object.entries(WW_FUNCTIONS).filter(([name]) => name !== 'event_poll' && name !== 'proc_pause');

test('thousands of ww calls with hostile arguments answer errnos; the guest ends normally; others still run', async () => {
  const calls = fuzzed
    .map(([name, n]) => `(call $tally (call $${name} ${Array.from({ length: n }, () => '(call $arg)').join(' ')}))`)
    .join('\n        ');
  const r = await run(
    ex,
    guest(`(local $i i32)
      (drop (call $initial (i32.const 0) (i32.const 48)))
      (drop (call $initial (i32.const 1) (i32.const 52)))
      (global.set $x (i32.const 7))
      (loop $l
        ${calls}
        (call $tally (call $event_poll (i32.const 1) (call $arg)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 150))))
      (call $out (global.get $ok))
      (call $out (global.get $errs))
      (call $out (global.get $odd))`,
      `(global $x (mut i32) (i32.const 0))
    (global $ok (mut i32) (i32.const 0))
    (global $errs (mut i32) (i32.const 0))
    (global $odd (mut i32) (i32.const 0))
    ;; counts successes, errnos, and anything that is not an errno of the ABI's table
    (func $tally (param $e i32)
      (if (i32.eqz (local.get $e)) (then (global.set $ok (i32.add (global.get $ok) (i32.const 1))) (return)))
      (if (i32.or (i32.lt_s (local.get $e) (i32.const 1)) (i32.gt_s (local.get $e) (i32.const 76)))
        (then (global.set $odd (i32.add (global.get $odd) (i32.const 1))) (return)))
      (global.set $errs (i32.add (global.get $errs) (i32.const 1))))
    ;; an argument: an edge value, a pointer near the end of memory, a random number, or a real handle
    (func $arg (result i32)
      (global.set $x (i32.add (i32.mul (global.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (block $d (block $h1 (block $h0 (block $r (block $p3 (block $p2 (block $p1 (block $p0 (block $m1 (block $z
        (br_table $z $m1 $p0 $p1 $p2 $p3 $r $h0 $h1 $d (i32.rem_u (i32.shr_u (global.get $x) (i32.const 8)) (i32.const 10))))
        (return (i32.const 0)))
        (return (i32.const -1)))
        (return (i32.const 32)))
        (return (i32.const 4096)))
        (return (i32.const 131068)))
        (return (i32.const 0x7fffffff)))
        (return (global.get $x)))
        (return (i32.load (i32.const 48))))
        (return (i32.load (i32.const 52))))
      (i32.const 1))`,
    ),
  );
  strictEqual(r.reason, 'normal', r.stderr);
  const [ok, errs, odd] = r.out;
  strictEqual(odd, 0, 'every failure is an errno');
  strictEqual(ok > 0 && errs > 0, true, 'real handles were exercised too');
  strictEqual(ok + errs, 150 * (fuzzed.length + 1));
  // the node still serves others
  const after = await run(ex, guest('(call $out (call $self (i32.const 32)))'));
  deepStrictEqual(after.out, [0]);
});

test('an op outside the namespaces a process was given is ENOSYS, whatever its name (no inherited properties)', async () => {
  const { answerHostCall, handlerOf } = await import('../../src/wasm/host-call.js');
  const { Errno } = await import('../../src/wasm/wasi/abi/errno.js');
  const given = { ww: handlerOf<{ self: { args: undefined; answer: number } }>('ww', { self: () => 7 }) };
  assert.deepEqual(await answerHostCall(given, 'ww.self', undefined), { value: 7 });
  for (const op of ['constructor.x', 'toString.x', '__proto__.x', 'ww.constructor', 'ww.__proto__', 'ww.toString', 'ww.hasOwnProperty', 'nodot', '.self']) {
    const reply = await answerHostCall(given, op, undefined);
    assert.ok('errno' in reply && reply.errno === Errno.NOSYS, `${op}: ${JSON.stringify(reply)}`);
  }
});
