// Attacks on the loop allowance (src/wasm/instrument.ts, meterLoop and givingBack): a call-free loop
// runs on fuel its frame took ahead from the countdown, given back when the frame returns a value.
// What a hostile guest must not get: work that is never charged, a countdown past what the host
// granted, or a module the instrumentation turns invalid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import binaryen from 'binaryen';
import { instrument, ALLOWANCE_MAX, COUNTDOWN_EXPORT, InstrumentError, METER_MODULE } from '../../src/wasm/instrument.js';
import { TICK_BUDGET } from '../../src/wasm/meter.js';
import { Wasm, type WasmGlobal } from '../../src/wasm/webassembly.js';
import { assemble } from '../../fixtures/wat.js';

/** A meter keeping the same account as meter.ts: what a tick finds left of its grant was not used. */
function metered(bytes: Uint8Array, extra: Record<string, unknown> = {}) {
  const account = { consumed: 0, granted: 0, ticks: 0 };
  let countdown: WasmGlobal;
  const fuel = (): number => account.consumed + account.granted - (countdown.value as number);
  const inst = new Wasm.Instance(new Wasm.Module(instrument(binaryen, bytes)), {
    [METER_MODULE]: {
      tick: () => {
        account.ticks++;
        account.consumed = fuel();
        return (account.granted = TICK_BUDGET);
      },
      grow: (d: number) => d,
      grow_table: (d: number) => d,
    },
    ...extra,
  });
  countdown = inst.exports[COUNTDOWN_EXPORT] as WasmGlobal;
  return { inst, countdown: () => countdown, account, fuel };
}

// Each frame of $hoard warms its loop's allowance (the grant doubles up to ALLOWANCE_MAX), then
// recurses; at the bottom the host asks for a check (what checkSoon/endSoon do: countdown = 0, the
// way a pause, a kill on a shared worker, the end of a time slice or a pending limit is delivered).
// Each frame then returns a value and gives its unused allowance back to the countdown.
const hoarder = `(module
  (import "host" "ask" (func $ask))
  (func $hoard (export "hoard") (param $d i32) (result i32) (local $i i32)
    (loop $warm
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $warm (i32.lt_u (local.get $i) (i32.const 6000))))
    (if (result i32) (local.get $d)
      (then (call $hoard (i32.sub (local.get $d) (i32.const 1))))
      (else (call $ask) (i32.const 0)))))`;

// Found by review (it failed before the give-backs were capped): the give-backs of many frames added
// up, so a pause asked at depth D was seen only after about D x (unused allowance) units; with D = 2000
// the countdown after the unwind was ~10^7 units (100x TICK_BUDGET).
test('a host request for a check is not postponed by more than one allowance by frames giving theirs back', async () => {
  let m!: ReturnType<typeof metered>;
  m = metered(await assemble(hoarder, 'hoarder.wat'), {
    host: {
      ask: () => {
        m.account.consumed = m.fuel(); // checkSoon(): settle, then zero the countdown
        m.account.granted = 0;
        m.countdown().value = 0;
      },
    },
  });
  const hoard = m.inst.exports.hoard as (d: number) => number;
  const depth = 2000;
  hoard(depth);
  // What the guest may now run before its next tick (where the pause, the kill, the slice end are seen).
  const unchecked = m.countdown().value as number;
  assert.ok(
    unchecked <= ALLOWANCE_MAX,
    `after the host asked for a check at depth ${depth}, the guest may run ${unchecked} units before its next tick ` +
      `(${(unchecked / TICK_BUDGET).toFixed(1)} x TICK_BUDGET; the promised bound is ALLOWANCE_MAX = ${ALLOWANCE_MAX})`,
  );
});

test('fuel across the hoarding recursion: every frame pays for its work, and what is not given back is at most a grant a frame', async () => {
  const m = metered(await assemble(hoarder, 'hoarder.wat'), { host: { ask: () => {} } });
  const hoard = m.inst.exports.hoard as (d: number) => number;
  const charged = (d: number): number => {
    const before = m.fuel();
    hoard(d);
    return m.fuel() - before;
  };
  // hoard(d) runs d + 1 frames. Two frames give all back (the countdown stays under TICK_BUDGET): exact.
  const perFrame = charged(1) / 2;
  assert.ok(perFrame >= 6000 * 4, `each frame pays for its 6000 iterations: ${perFrame}`);
  // Deep, the give-backs stop at TICK_BUDGET (else they would put off the next tick): overcharged, never under.
  const c101 = charged(101);
  assert.ok(c101 >= 102 * perFrame, `${c101} charged for 102 frames of ${perFrame}`);
  assert.ok(c101 <= 102 * (perFrame + ALLOWANCE_MAX), `${c101} charged for 102 frames of ${perFrame}: overcharge past a grant a frame`);
});

// Shapes that could trip the rewrite: a loop with several results (givingBack cannot wrap those),
// a loop typed unreachable inside a valued block, returns from nested loops, br_table leaving two
// loops, a loop inside try/catch that throws to its own handler. Each must validate and compute what
// the original computes. (Not here: return_call, which binaryen is not told V8 has (v8Features), so
// any module using it is refused with a plain Error: finding A2 of the review.)
test('loops of awkward shapes stay valid and compute the same when instrumented', async () => {
  const source = `(module
    (tag $t (param i32))
    (func $pair (export "pair") (param $n i32) (result i32 i32) (local $i i32)
      (loop $l (result i32 i32)
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n)))
        (local.get $i) (i32.mul (local.get $i) (i32.const 2))))
    (func (export "pairsum") (param $n i32) (result i32)
      (call $pair (local.get $n)) (i32.add))
    (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $j i32)
      (block $out
        (loop $a
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (local.set $j (i32.const 0))
          (loop $b
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (if (i32.eq (i32.mul (local.get $i) (local.get $j)) (local.get $n))
              (then (return (i32.add (i32.mul (local.get $i) (i32.const 1000)) (local.get $j)))))
            (br_table $b $a $out
              (select (i32.const 0) (select (i32.const 1) (i32.const 2) (i32.lt_u (local.get $i) (i32.const 200))) (i32.lt_u (local.get $j) (i32.const 100)))))))
      (i32.const -1))
    (func (export "spin") (param $n i32) (result i32) (local $i i32)
      (block $b (result i32)
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $b (local.get $i) (i32.ge_u (local.get $i) (local.get $n)))
          (br $l))
        (unreachable)))
    (func (export "caught") (param $n i32) (result i32) (local $i i32)
      (try (result i32)
        (do
          (loop $l
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (if (i32.ge_u (local.get $i) (local.get $n)) (then (throw $t (local.get $i))))
            (br $l))
          (i32.const -1))
        (catch $t (i32.add (i32.const 1))))))`;
  const original = await assemble(source, 'shapes.wat', { exceptions: true });
  const plain = new Wasm.Instance(new Wasm.Module(original), {});
  const m = metered(original);
  assert.ok(Wasm.validate(instrument(binaryen, original)));
  const cases: [string, number[]][] = [['pairsum', [5000]], ['nested', [4321]], ['nested', [7]], ['nested', [1_000_003]], ['spin', [100_000]], ['caught', [50_000]]];
  for (const [name, args] of cases) {
    const before = m.fuel();
    const got = (m.inst.exports[name] as (...a: number[]) => number)(...args);
    assert.equal(got, (plain.exports[name] as (...a: number[]) => number)(...args), `${name}(${args})`);
    assert.ok(m.fuel() - before > 0, `${name} was charged`);
  }
  // The countdown never goes past what was granted plus what frames took ahead (here: at most one frame's).
  assert.ok((m.countdown().value as number) <= TICK_BUDGET + ALLOWANCE_MAX);
});

// A guest cannot make the i32 countdown wrap upward with the per-frame allowance within a stack:
// each give-back is at most one grant, and the grants it gives back were taken from the countdown
// first. This spins one frame through many refills with the host granting the largest budget a
// meter ever grants (TICK_BUDGET) and checks the countdown after each return.
test('valued returns from a frame that refilled many times leave the countdown within [0, TICK_BUDGET]', async () => {
  const m = metered(await assemble(`(module
    (func (export "run") (param $n i32) (result i32) (local $i i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (local.get $i)))`, 'spin.wat'));
  const run = m.inst.exports.run as (n: number) => number;
  const seen: number[] = [];
  for (let k = 0; k < 50; k++) {
    run(37_000 + k * 1013);
    seen.push(m.countdown().value as number);
  }
  assert.ok(Math.max(...seen) <= TICK_BUDGET, `countdown after valued returns: max ${Math.max(...seen)}`);
  assert.ok(Math.min(...seen) >= 0, `countdown after valued returns: min ${Math.min(...seen)}`);
  assert.ok(m.account.ticks > 10);
});

// A tail call leaves its frame without giving back its allowance, and binaryen is not told V8 has them:
// such a module is refused, with the instrumentation's own error (found by review: a plain Error was thrown).
test('a module using tail calls is refused with an InstrumentError', async () => {
  const tail = await assemble(
    `(module
      (func $f (param i32) (result i32) (local.get 0))
      (func (export "g") (param i32) (result i32) (return_call $f (local.get 0))))`,
    'tail.wat',
    { tail_call: true },
  );
  assert.throws(() => instrument(binaryen, tail), InstrumentError);
});
