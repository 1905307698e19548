// The instrumentation pass: the instrumented module validates, computes exactly what the
// original computes (even when the meter interrupts every few iterations), and calls the
// meter at loop headers and function entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import binaryen from 'binaryen';
import { instrument, InstrumentError, COUNTDOWN_EXPORT, MEMORY_FIELD, METER_MODULE } from '../../src/wasm/instrument.js';
import { Runtime, ModuleError } from '../../src/wasm/index.js';
import { Wasm, type WasmGlobal, type WasmMemory } from '../../src/wasm/webassembly.js';
import { assemble } from '../../fixtures/wat.js';

const source = `(module
  (memory (export "memory") 1 8)
  ;; a loop with a result value
  (func $count (export "count") (param $n i32) (result i32) (local $i i32)
    (loop $l (result i32)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n)))
      (local.get $i)))
  ;; nested loops, the inner one branching to the outer one's label
  (func $pairs (export "pairs") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $c i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $c (i32.add (local.get $c) (i32.xor (local.get $i) (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $outer (i32.lt_u (local.get $i) (local.get $n)))))
    (local.get $c))
  ;; a loop that never falls through (type unreachable) in a function returning i32
  (func $find (export "find") (param $n i32) (result i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 3)))
      (if (i32.ge_u (local.get $i) (local.get $n)) (then (return (local.get $i))))
      (br $l))
    (unreachable))
  ;; an unnamed loop (nothing branches to it: runs once)
  (func $once (export "once") (result i32) (local $x i32)
    (loop (local.set $x (i32.add (local.get $x) (i32.const 41))))
    (i32.add (local.get $x) (i32.const 1)))
  ;; recursion: function entries are metered
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1))) (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func $grow (export "grow") (param $pages i32) (result i32) (memory.grow (local.get $pages))))`;

const calls: [string, number[]][] = [
  ['count', [1000]],
  ['pairs', [300]],
  ['find', [100_000]],
  ['once', []],
  ['fib', [20]],
];

test('instrumented code computes what the original computes, with the meter called often', async () => {
  const original = await assemble(source);
  const instrumented = instrument(binaryen, original);
  assert.ok(Wasm.validate(instrumented));
  const plain = new Wasm.Instance(new Wasm.Module(original), {});
  let ticks = 0;
  const metered = new Wasm.Instance(new Wasm.Module(instrumented), {
    [METER_MODULE]: {
      tick: () => {
        ticks++;
        return 50; // a tiny budget (above any one region's cost): the guest is interrupted every few iterations
      },
      grow: (delta: number) => delta,
      [MEMORY_FIELD]: new Wasm.Memory({ initial: 1, maximum: 8 }),
    },
  });
  for (const [name, args] of calls) {
    const f = plain.exports[name] as (...a: number[]) => number;
    const g = metered.exports[name] as (...a: number[]) => number;
    assert.equal(g(...args), f(...args), name);
  }
  assert.ok(ticks > 1000, `the meter was called ${ticks} times`);
  assert.equal(typeof (metered.exports[COUNTDOWN_EXPORT] as WasmGlobal).value, 'number');
});

test('memory.grow goes through the meter, which can refuse it (the guest sees -1)', async () => {
  const instrumented = instrument(binaryen, await assemble(source));
  const asked: number[] = [];
  const inst = new Wasm.Instance(new Wasm.Module(instrumented), {
    [METER_MODULE]: {
      tick: () => 1_000_000,
      grow: (delta: number) => {
        asked.push(delta);
        return delta > 2 ? -1 : delta;
      },
      [MEMORY_FIELD]: new Wasm.Memory({ initial: 1, maximum: 8 }),
    },
  });
  const grow = inst.exports.grow as (pages: number) => number;
  assert.equal(grow(2), 1, 'allowed: returns the old size in pages');
  assert.equal(grow(3), -1, 'refused by the meter');
  assert.equal((inst.exports.memory as WasmMemory).buffer.byteLength, 3 * 65536);
  assert.deepEqual(asked, [2, 3]);
});

test('the memory becomes an import (still exported as memory) and keeps its limits and data', async () => {
  const instrumented = instrument(binaryen, await assemble('(module (memory (export "memory") 2 5) (data (i32.const 7) "hi") (func (export "_start")))'));
  const module = new Wasm.Module(instrumented);
  assert.ok(Wasm.Module.imports(module).some((i) => i.module === METER_MODULE && i.name === MEMORY_FIELD && i.kind === 'memory'));
  const memory = new Wasm.Memory({ initial: 2, maximum: 5 });
  const inst = new Wasm.Instance(module, { [METER_MODULE]: { tick: () => 100, grow: (d: number) => d, [MEMORY_FIELD]: memory } });
  assert.equal(inst.exports.memory, memory);
  assert.equal(new TextDecoder().decode(new Uint8Array(memory.buffer, 7, 2)), 'hi', 'data segments are written into the provided memory');
  assert.throws(() => new Wasm.Instance(module, { [METER_MODULE]: { tick: () => 1, grow: (d: number) => d, [MEMORY_FIELD]: new Wasm.Memory({ initial: 2 }) } }), /memory/i, 'a memory without the declared maximum is refused');
});

test('the name section survives, so traps still name guest functions', async () => {
  const instrumented = instrument(binaryen, await assemble('(module (func $kaboom (export "k") unreachable))'));
  const inst = new Wasm.Instance(new Wasm.Module(instrumented), { [METER_MODULE]: { tick: () => 100, grow: (d: number) => d } });
  assert.throws(() => (inst.exports.k as () => void)(), (e: Error) => /at kaboom \(wasm:/.test(e.stack ?? ''));
});

test("a module that already uses one of the instrumentation's names is refused with that name", async () => {
  const cases: [string, RegExp][] = [
    ['(global $__ww_countdown (mut i32) (i32.const 0))', /already has a global named __ww_countdown/],
    ['(func $__ww_tick)', /already has a function named __ww_tick/],
    ['(func $__ww_grow)', /already has a function named __ww_grow/],
    ['(global $g i32 (i32.const 0)) (export "__ww_countdown" (global $g))', /already has an export named __ww_countdown/],
  ];
  for (const [fields, reason] of cases) {
    const bytes = await assemble(`(module (memory (export "memory") 1) ${fields} (func (export "_start")))`);
    assert.throws(() => instrument(binaryen, bytes), (e: Error) => e instanceof InstrumentError && reason.test(e.message), fields);
  }
  // Through the runtime: a ModuleError at load that carries the reason.
  const rt = await Runtime.create({ poolSize: 1 });
  try {
    const bytes = await assemble(`(module (memory (export "memory") 1) ${cases[0][0]} (func (export "_start")))`);
    await assert.rejects(rt.load(bytes), (e: Error) => e instanceof ModuleError && cases[0][1].test(e.message) && !/undefined/.test(e.message));
  } finally {
    await rt.close();
  }
});
