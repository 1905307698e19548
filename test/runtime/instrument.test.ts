// The instrumentation pass: the instrumented module validates, computes exactly what the
// original computes (even when the meter interrupts every few iterations), and calls the
// meter at loop headers and function entries, wherever a loop is; modules it cannot walk or
// whose names collide with its own are refused with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import binaryen from 'binaryen';
import { instrument, expressionKinds, InstrumentError, ALLOWANCE_MAX, COUNTDOWN_EXPORT, MEMORY_FIELD, METER_MODULE, TICK_BUDGET } from '../../src/wasm/instrument.js';
import { Runtime, ModuleError } from '../../src/wasm/index.js';
import { Wasm, type WasmGlobal, type WasmMemory } from '../../src/wasm/webassembly.js';
import { assemble, guest } from '../../fixtures/wat.js';

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
      grow_table: (delta: number) => delta,
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

// A loop that calls nothing runs on an allowance the frame takes ahead from the countdown (instrument.ts,
// meterLoop): fuel must still be charged for every iteration, however the frame is left.
test("a call-free loop's allowance leaves no work uncharged, however its frame is left, and gives back what it did not use", async () => {
  const loops = await assemble(
    `(module
      (tag $t)
      (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
        (loop $l
          (local.set $s (i32.add (local.get $s) (local.get $i)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $s))
      ;; left by a void return from inside the loop (it keeps its allowance)
      (func (export "early") (param $n i32) (local $i i32)
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (if (i32.ge_u (local.get $i) (local.get $n)) (then (return)))
          (br $l)))
      ;; left by a throw from inside the loop
      (func (export "escape") (param $n i32) (local $i i32)
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (if (i32.ge_u (local.get $i) (local.get $n)) (then (throw $t)))
          (br $l))))`,
    'allowance.wat',
    { exceptions: true },
  );
  // The meter's accounting (meter.ts): what a tick finds left of the last budget is what was not used.
  let consumed = 0;
  let budget = 0;
  const fuel = (): number => consumed + budget - (countdown.value as number);
  const inst = new Wasm.Instance(new Wasm.Module(instrument(binaryen, loops)), {
    [METER_MODULE]: {
      tick: () => ((consumed = fuel()), (budget = TICK_BUDGET)), // (what meter.ts grants)
      grow: (d: number) => d,
      grow_table: (d: number) => d,
    },
  });
  const countdown = inst.exports[COUNTDOWN_EXPORT] as WasmGlobal;
  const charged = (run: () => void): number => {
    const before = fuel();
    run();
    return fuel() - before;
  };
  const sum = inst.exports.sum as (n: number) => number;
  const early = inst.exports.early as (n: number) => void;
  const escape = inst.exports.escape as (n: number) => void;
  // Returning a value gives the rest back: the charge is exactly linear in the iterations.
  const sizes = [1_000, 10_000, 25_000, 70_000];
  const charges = sizes.map((n) => charged(() => sum(n)));
  const perIteration = (charges[1] - charges[0]) / (sizes[1] - sizes[0]);
  assert.ok(perIteration >= 5, `at least 5 units an iteration: ${perIteration}`);
  for (let i = 2; i < sizes.length; i++) {
    assert.equal(charges[i] - charges[0], perIteration * (sizes[i] - sizes[0]), `charged ${charges.join(', ')} for ${sizes.join(', ')} iterations`);
  }
  // Left without giving back: never less than the iterations that ran, at most one grant more.
  const calls = 200;
  const n = 1_000;
  const earlyCharge = charged(() => {
    for (let i = 0; i < calls; i++) early(n);
  });
  const escapeCharge = charged(() => {
    for (let i = 0; i < calls; i++) assert.throws(() => escape(n));
  });
  for (const [how, c] of [['a void return', earlyCharge], ['a throw', escapeCharge]] as const) {
    assert.ok(c >= calls * n * 4, `${how}: charged ${c} for ${calls * n} iterations`);
    assert.ok(c <= calls * (n * perIteration * 3 + ALLOWANCE_MAX), `${how}: charged ${c}, overcharge bounded by a grant a call`);
  }
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
      grow_table: (delta: number) => delta,
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
  const inst = new Wasm.Instance(module, { [METER_MODULE]: { tick: () => 100, grow: (d: number) => d, grow_table: (d: number) => d, [MEMORY_FIELD]: memory } });
  assert.equal(inst.exports.memory, memory);
  assert.equal(new TextDecoder().decode(new Uint8Array(memory.buffer, 7, 2)), 'hi', 'data segments are written into the provided memory');
  assert.throws(() => new Wasm.Instance(module, { [METER_MODULE]: { tick: () => 1, grow: (d: number) => d, grow_table: (d: number) => d, [MEMORY_FIELD]: new Wasm.Memory({ initial: 2 }) } }), /memory/i, 'a memory without the declared maximum is refused');
});

test('the name section survives, so traps still name guest functions', async () => {
  const instrumented = instrument(binaryen, await assemble('(module (func $kaboom (export "k") unreachable))'));
  const inst = new Wasm.Instance(new Wasm.Module(instrumented), { [METER_MODULE]: { tick: () => 100, grow: (d: number) => d, grow_table: (d: number) => d } });
  assert.throws(() => (inst.exports.k as () => void)(), (e: Error) => /at kaboom \(wasm:/.test(e.stack ?? ''));
});

test("every expression kind binaryen has is walked or explicitly refused (a binaryen upgrade adding one fails here)", () => {
  const api = binaryen as unknown as Record<string, unknown>;
  const ids = new Map<number, string>();
  for (const [key, value] of Object.entries(api)) {
    if (/^[A-Z]\w*Id$/.test(key) && typeof value === 'number') ids.set(value, key); // binaryen.BlockId, ...
    const fn = /^_Binaryen(\w+Id)$/.exec(key); // the C API has every kind, the constants only some
    if (fn && key !== '_BinaryenExpressionGetId' && typeof value === 'function') ids.set((value as () => number)(), fn[1]);
  }
  ids.delete(binaryen.InvalidId);
  assert.ok(ids.size > 100, `binaryen has ${ids.size} expression kinds`);
  const kinds = new Map(expressionKinds(binaryen).map((k) => [k.id, k]));
  for (const [id, name] of ids) {
    const kind = kinds.get(id);
    assert.ok(kind, `${name} (${id}) is not in the instrumentation's table`);
    assert.notEqual(kind.how, 'unknown', `${name} (${id}) is neither walked nor explicitly refused`);
    if (kind.how === 'refused') assert.match(kind.refusal ?? '', /\S/, `${name}: a refusal names the instruction`);
  }
  // The kinds V8 runs that binaryen.js has no accessors for are read by layout, not refused.
  for (const name of ['TableFill', 'TableCopy', 'TableInit', 'TryTable', 'ThrowRef']) {
    assert.equal([...kinds.values()].find((k) => k.name === name)?.how, 'layout', name);
  }
});

/**
 * Instructions with a loop in each operand in turn. `#T` is an operand of type T: in one function
 * it is a loop giving a T, elsewhere a constant. `(result T)` at the start is the function's result.
 */
const OPERAND_TEMPLATES = [
  '(block #none (nop))',
  '(drop (if (result i32) #i32 (then #i32) (else #i32)))',
  '(loop $outer #none)',
  '(drop (block $b (result i32) (br_if $b #i32 #i32)))',
  '(drop (block $b (result i32) (br_table $b $b #i32 #i32)))',
  '(drop (call $id #i32))',
  '(drop (call_indirect $tab (type $sig) #i32 #i32))',
  '(local.set $x #i32)',
  '(global.set $g #i32)',
  '(drop (i32.load #i32))',
  '(i32.store #i32 #i32)',
  '(drop (i32.eqz #i32))',
  '(drop (i32.add #i32 #i32))',
  '(drop (select #i32 #i32 #i32))',
  '(result i32) (return #i32)',
  '(drop (memory.grow #i32))',
  '(drop (i32.atomic.rmw.add #i32 #i32))',
  '(drop (i32.atomic.rmw.cmpxchg #i32 #i32 #i32))',
  '(drop (memory.atomic.wait32 #i32 #i32 #i64))',
  '(drop (memory.atomic.notify #i32 #i32))',
  '(drop (i32x4.extract_lane 0 #v128))',
  '(drop (i32x4.replace_lane 0 #v128 #i32))',
  '(drop (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 #v128 #v128))',
  '(drop (v128.bitselect #v128 #v128 #v128))',
  '(drop (i32x4.shl #v128 #i32))',
  '(drop (v128.load32_splat #i32))',
  '(drop (v128.load32_lane 0 #i32 #v128))',
  '(memory.init $d #i32 #i32 #i32)',
  '(memory.copy #i32 #i32 #i32)',
  '(memory.fill #i32 #i32 #i32)',
  '(drop (ref.is_null #funcref))',
  '(drop (table.get $tab #i32))',
  '(table.set $tab #i32 #funcref)',
  '(drop (table.grow $tab #funcref #i32))',
  '(table.fill $tab #i32 #funcref #i32)',
  '(table.copy $tab $tab #i32 #i32 #i32)',
  '(table.init $tab $e #i32 #i32 #i32)',
  '(try (do #none) (catch $tag #none) (catch_all #none))',
  '(block $b (try_table (catch_all $b) #none))',
  '(throw $tagI32 #i32)',
  '(throw_ref #exnref)',
  '(drop (tuple.extract 2 0 (tuple.make 2 #i32 #i32)))',
];
const CONSTANT: Record<string, string> = {
  i32: '(i32.const 0)', i64: '(i64.const 0)', v128: '(v128.const i64x2 0 0)', funcref: '(ref.null func)', exnref: '(ref.null exn)', none: '(nop)',
};
// The loop is the operand itself: wrapped in an unnamed block, it would be written to the binary
// ahead of the instruction rather than inside it.
const loopOf = (type: string): string =>
  type === 'none' ? '(loop $l (br_if $l (i32.const 0)))' : `(loop $l (result ${type}) (br_if $l (i32.const 0)) ${CONSTANT[type]})`;

test('a loop in any operand of any instruction V8 runs is metered', () => {
  const functions: { name: string; what: string; loops: number; bulks: number }[] = [];
  const bodies: string[] = [];
  for (const template of OPERAND_TEMPLATES) {
    const slots = [...template.matchAll(/#(\w+)/g)];
    slots.forEach((slot, k) => {
      let i = 0;
      const body = template.replace(/#(\w+)/g, (_, type: string) => (i++ === k ? loopOf(type) : CONSTANT[type]));
      const name = `f${functions.length}`;
      const bulks = (body.match(/\(memory\.(fill|copy|init)\b/g) ?? []).length; // each checked after its length is charged
      functions.push({ name, what: `operand ${k + 1} of ${template}`, loops: body.split('(loop ').length - 1, bulks });
      const result = /^\(result \w+\)/.exec(body)?.[0] ?? '';
      bodies.push(`(func $${name} ${result} (local $x i32) ${body.slice(result.length)})`);
    });
  }
  const text = `(module
    (type $sig (func (param i32) (result i32)))
    (memory 1) (table $tab 1 funcref) (global $g (mut i32) (i32.const 0)) (data $d "") (elem $e func)
    (tag $tag) (tag $tagI32 (param i32))
    (func $id (type $sig) (local.get 0))
    ${bodies.join('\n    ')})`;
  const parseText = binaryen.parseText as (text: string, features: number) => binaryen.Module;
  const original = parseText(text, binaryen.Features.All);
  binaryen.setDebugInfo(true); // (function names, to report which operand)
  const bytes = original.emitBinary();
  original.dispose();

  const instrumented = binaryen.readBinary(instrument(binaryen, bytes));
  // Every function calls the meter at its entry, on each loop's slow path and after charging each
  // bulk memory operation. A loop the walk missed has no slow path.
  const printed = instrumented.emitText();
  instrumented.dispose();
  const tick = new RegExp(String.raw`\(import "${METER_MODULE}" "tick" \(func (\$\S+)`).exec(printed)?.[1];
  assert.ok(tick, 'the meter import is there');
  const ticks = new Map<string, number>();
  for (const chunk of printed.split(/\n \(func \$/).slice(1)) {
    const name = chunk.slice(0, chunk.search(/[\s(]/));
    ticks.set(name, chunk.split(`(call ${tick})`).length - 1);
  }
  assert.ok(functions.length >= OPERAND_TEMPLATES.length, "every template has an operand");
  for (const { name, what, loops, bulks } of functions) assert.equal(ticks.get(name), 1 + loops + bulks, `the loop in ${what}`);
});

test('a loop inside a table.fill operand is stopped by fuel and frozen by pause', { timeout: 120_000 }, async () => {
  const rt = await Runtime.create({ poolSize: 1 });
  try {
    const module = await rt.load(await guest('table-fill-loop'));
    // timeoutMs only ends the test if the loop is not metered (the worker is then terminated).
    const limits = { fuel: 1_000_000, timeoutMs: 30_000 };
    const status = await rt.spawn(module, { args: ['table-fill-loop'], limits }).wait();
    assert.deepEqual(status.reason, { kind: 'limit', limit: 'cpu' });
    assert.ok(status.fuelUsed >= limits.fuel, `fuel used ${status.fuelUsed}`);

    const p = rt.spawn(module, { args: ['table-fill-loop'], limits: { timeoutMs: 30_000 } });
    await p.pause();
    assert.equal(p.state, 'paused');
    const frozen = p.stats().fuelUsed;
    assert.ok(frozen > 0, 'it ran before the pause');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(p.stats().fuelUsed, frozen, 'no guest work happens while paused');
    p.kill();
    assert.deepEqual((await p.wait()).reason, { kind: 'killed' });
  } finally {
    await rt.close();
  }
});

test('a module using an instruction whose operands cannot be read is refused, naming it', () => {
  const parseText = binaryen.parseText as (text: string, features: number) => binaryen.Module;
  const gc = parseText(`(module (type $s (struct (field i32))) (memory (export "memory") 1)
    (func $make (export "_start") (drop (struct.new $s (i32.const 1)))))`, binaryen.Features.All);
  const bytes = gc.emitBinary();
  gc.dispose();
  assert.throws(() => instrument(binaryen, bytes), (e: Error) => e instanceof InstrumentError && /function make uses struct\.new\b/.test(e.message));
});

test("names the instrumentation adds inside the module give way to the module's own; only its export name is reserved", async () => {
  // A name section may use any name: the module's own global and functions keep theirs and still work.
  for (const fields of ['(global $__ww_countdown (mut i32) (i32.const 7))', '(func $__ww_tick)', '(func $__ww_grow)']) {
    const bytes = await assemble(`(module (memory (export "memory") 1) ${fields} (func (export "_start")))`);
    assert.ok(instrument(binaryen, bytes).length > bytes.length, fields);
  }
  const exportTaken = await assemble('(module (memory (export "memory") 1) (global $g i32 (i32.const 0)) (export "__ww_countdown" (global $g)) (func (export "_start")))');
  assert.throws(() => instrument(binaryen, exportTaken), (e: Error) => e instanceof InstrumentError && /already has an export named __ww_countdown/.test(e.message));
  const rt = await Runtime.create({ poolSize: 1 });
  try {
    // Through the runtime: a module whose global is named __ww_countdown runs, metered (fuel counts).
    const own = await assemble(`(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1) (global $__ww_countdown (mut i32) (i32.const 3))
      (func (export "_start") (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
        (call $exit (global.get $__ww_countdown))))`);
    const status = await rt.spawn(await rt.load(own), { args: ['own'] }).wait();
    assert.deepEqual(status.reason, { kind: 'exit', code: 3 }, 'its own global is untouched');
    assert.ok(status.fuelUsed > 0);
    // The reserved export: a ModuleError at load that carries the reason.
    await assert.rejects(rt.load(exportTaken), (e: Error) => e instanceof ModuleError && /already has an export named __ww_countdown/.test(e.message) && !/undefined/.test(e.message));
  } finally {
    await rt.close();
  }
});

test('bulk memory operations are charged by their length: a loop of large fills runs out of fuel, and copies come out right', async () => {
  const rt = await Runtime.create({ poolSize: 1 });
  try {
    // 100 fills of 16 MiB: 1,300 units if each counted as its few nodes, ~6.5 million by length.
    const fills = await rt.load(
      await assemble(`(module (memory (export "memory") 256)
        (func (export "_start") (local $i i32)
          (loop $l (memory.fill (i32.const 0) (i32.const 7) (i32.const 16777216))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))))`),
    );
    const limited = await rt.spawn(fills, { args: ['fills'], limits: { fuel: 1_000_000 } }).wait();
    assert.deepEqual(limited.reason, { kind: 'limit', limit: 'cpu' });
    const free = await rt.spawn(fills, { args: ['fills'] }).wait();
    assert.deepEqual(free.reason, { kind: 'normal' });
    assert.ok(free.fuelUsed >= (100 * 16777216) / 256, `fuel used ${free.fuelUsed}`);
    // The length is still the operation's: a copy, a fill and an init whose lengths come from
    // expressions with effects (a call) move exactly the bytes asked, in order.
    const exact = await rt.load(
      await assemble(`(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1) (data $d "abcdef") (global $n (mut i32) (i32.const 0))
        (func $len (param $x i32) (result i32) (global.set $n (i32.add (global.get $n) (i32.const 1))) (local.get $x))
        (func (export "_start")
          (memory.init $d (i32.const 100) (i32.const 0) (call $len (i32.const 6)))
          (memory.copy (i32.const 200) (i32.const 100) (call $len (i32.const 4)))
          (memory.fill (i32.const 203) (i32.const 122) (call $len (i32.const 2)))
          (call $exit (i32.add (i32.mul (global.get $n) (i32.const 10))
            (i64.eq (i64.load (i32.const 200)) (i64.const 0x0000007a7a636261))))))`),
    );
    assert.equal((await rt.spawn(exact, { args: ['exact'] }).wait()).code, 31);
  } finally {
    await rt.close();
  }
});
