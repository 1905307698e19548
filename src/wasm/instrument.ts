// Binary instrumentation with binaryen (docs/ARCHITECTURE.md, "Instrumentation"). Adds to a module:
//  - a mutable i32 global, the countdown, exported as COUNTDOWN_EXPORT;
//  - at every function entry and loop header: countdown -= cost of the code up to the next
//    check (a constant, counted in expression nodes); when countdown <= 0 the guest calls
//    the import ww_meter.tick, whose i32 result becomes the new countdown;
//  - memory.fill, memory.copy and memory.init are charged by their length as well (1 unit per
//    BULK_BYTES_PER_UNIT bytes, taken from the countdown before they run), so a loop of large
//    fills reaches its ticks as often as a loop of ordinary code of the same duration;
//  - every memory.grow(delta) becomes memory.grow(ww_meter.grow(delta)), so the host can
//    refuse growth past a limit by returning a delta that cannot succeed (the guest sees -1);
//    table.grow likewise through ww_meter.grow_table (table entries are host memory).
// A loop the walk does not find runs unmetered (no fuel, no pause), so the walk reads the
// children of every expression kind binaryen has, or refuses the module (KINDS below).
// The host side of these imports lives in meter.ts. This file only transforms bytes; the
// caller loads binaryen (it is large and slow to import) and passes it in.

import type Binaryen from 'binaryen';

export const METER_MODULE = 'ww_meter';
export const TICK_FIELD = 'tick';
export const GROW_FIELD = 'grow';
/** table.grow(v, delta) becomes table.grow(v, ww_meter.grow_table(delta)): table entries are host
 *  memory (8 bytes each) a guest could otherwise grow without bound. */
export const GROW_TABLE_FIELD = 'grow_table';
export const COUNTDOWN_EXPORT = '__ww_countdown';
/** The guest's memory becomes an import of this name (still exported as `memory`), so a worker
 *  can hand a zeroed memory from an earlier process to the next one: instantiating with a fresh
 *  memory costs ~90 us, with a reused one ~10 us (measured). */
export const MEMORY_FIELD = 'memory';
/** Upper bound on the cost charged at one check. It must stay below the meter's budget per tick,
 *  or a region bigger than the budget could never run (the guest would only call tick). */
export const MAX_REGION_COST = 10_000;
/** Bump when the transformation changes, so on-disk caches of older output are not used. */
export const INSTRUMENTATION_VERSION = 9;

/** The most fuel a tick hands the guest (meter.ts): small enough that a pause lands well within
 *  10 ms on a CPU-bound loop, large enough that the call costs nothing measurable. The countdown
 *  never exceeds it (the allowance's give-backs are capped at it). */
export const TICK_BUDGET = 100_000;

/** A call-free loop runs on an allowance taken ahead from the countdown into locals (see meterLoop):
 *  the first grant in a frame, and the most one grant may be (which bounds how late such a loop sees a
 *  pause, a kill or the end of its time slice: at most this many units after the host asked). */
export const ALLOWANCE_FIRST = 64;
export const ALLOWANCE_MAX = 16_384;

/** Bytes of a bulk memory operation charged as one unit of fuel: copying 256 bytes takes about as
 *  long as the few instructions a unit stands for elsewhere (so 64 MiB is ~260,000 units). */
export const BULK_BYTES_PER_UNIT = 256;

/** Why a module cannot be instrumented (an instruction whose operands cannot be read, a name the
 *  instrumentation needs that the module already uses, bytes binaryen cannot read). */
export class InstrumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstrumentError';
  }
}

type B = typeof Binaryen;
type Ref = number;
/** Expression and function accessors binaryen.js has at runtime but not in its typings. */
interface Accessors {
  Loop: { getBody(loop: Ref): Ref; setBody(loop: Ref, body: Ref): void; getName(loop: Ref): string | null; setName(loop: Ref, name: string): void };
  MemoryGrow: { getDelta(grow: Ref): Ref; setDelta(grow: Ref, delta: Ref): void };
  TableGrow: { getDelta(grow: Ref): Ref; setDelta(grow: Ref, delta: Ref): void };
  Function: { setBody(func: Ref, body: Ref): void };
  getExceptionMessage(e: unknown): [string, string];
}
const untyped = (b: B): Accessors => b as unknown as Accessors;
/** binaryen.js's exports by name: the C API (`_BinaryenIfGetCondition`, ...) and `__i32_load`. */
const api = (b: B): Record<string, unknown> => b as unknown as Record<string, unknown>;

// Names the instrumentation gives what it adds, inside binaryen (never seen by the guest): the first of
// these free in the module, since its name section may use any (label names cannot collide: binaryen
// names a binary's labels itself, and never with this prefix).
const COUNTDOWN_NAME = '__ww_countdown';
const TICK_NAME = '__ww_tick';
const GROW_NAME = '__ww_grow';
const GROW_TABLE_NAME = '__ww_grow_table';

function freeName(taken: (name: string) => boolean, base: string): string {
  let name = base;
  for (let i = 1; taken(name); i++) name = `${base}_${i}`;
  return name;
}

/** Returns the instrumented module bytes. Throws InstrumentError for a module it refuses, or an
 *  Error if binaryen cannot read the module or the result does not validate. */
export function instrument(binaryen: B, bytes: Uint8Array): Uint8Array {
  return instrumentWithFacts(binaryen, bytes).bytes;
}

/** What the walk learnt that decides whether the module may share a thread (suspendable.ts). */
export interface ModuleFacts {
  /** Why it may not be made suspendable (it would hold its thread, or die of a preemption); undefined: it may. */
  unsuspendable?: string;
}

/** instrument(), with what the walk found out about the module. */
export function instrumentWithFacts(binaryen: B, bytes: Uint8Array): { bytes: Uint8Array } & ModuleFacts {
  const kinds = kindTable(binaryen);
  binaryen.setDebugInfo(true); // keep the name section: trap reasons name the guest's functions
  const mod = binaryen.readBinary(bytes);
  try {
    return transform(binaryen, kinds, mod);
  } catch (e) {
    throw e instanceof Error ? e : new Error(`binaryen: ${binaryenMessage(binaryen, e)}`);
  } finally {
    mod.dispose();
  }
}

function transform(binaryen: B, kinds: Kinds, mod: Binaryen.Module): { bytes: Uint8Array } & ModuleFacts {
  mod.setFeatures(v8Features(binaryen));
  const taken = (what: string, name: string): InstrumentError =>
    new InstrumentError(`the module already has ${what} named ${name}, a name ww's instrumentation adds`);
  // An export is the guest's interface, so its name cannot move: a module exporting ours is refused.
  if (mod.getExport(COUNTDOWN_EXPORT) !== 0) throw taken('an export', COUNTDOWN_EXPORT);
  const COUNTDOWN = freeName((n) => mod.getGlobal(n) !== 0, COUNTDOWN_NAME); // (0 when there is none)
  const TICK = freeName((n) => mod.getFunction(n) !== 0, TICK_NAME);
  const GROW = freeName((n) => mod.getFunction(n) !== 0, GROW_NAME);
  const GROW_TABLE = freeName((n) => mod.getFunction(n) !== 0, GROW_TABLE_NAME);

  mod.addGlobal(COUNTDOWN, binaryen.i32, true, mod.i32.const(0)); // 0: the first check asks the host for a budget
  mod.addGlobalExport(COUNTDOWN, COUNTDOWN_EXPORT);
  mod.addFunctionImport(TICK, METER_MODULE, TICK_FIELD, binaryen.none, binaryen.i32);
  mod.addFunctionImport(GROW, METER_MODULE, GROW_FIELD, binaryen.i32, binaryen.i32);
  const memoryExport = mod.getExport('memory');
  if (memoryExport) {
    const exported = binaryen.getExportInfo(memoryExport);
    const memory = exported.kind === binaryen.ExternalMemory ? mod.getMemoryInfo(exported.value) : undefined;
    if (memory && !memory.module && !memory.shared && !memory.is64) mod.addMemoryImport(exported.value, METER_MODULE, MEMORY_FIELD);
  }

  const check = (cost: number): Ref =>
    mod.block(null, [
      mod.global.set(COUNTDOWN, mod.i32.sub(mod.global.get(COUNTDOWN, binaryen.i32), mod.i32.const(cost))),
      mod.if(
        mod.i32.le_s(mod.global.get(COUNTDOWN, binaryen.i32), mod.i32.const(0)),
        mod.global.set(COUNTDOWN, mod.call(TICK, [], binaryen.i32)),
      ),
    ]);
  // The function's body becomes { check; body } typed as the function's results (not the body's
  // own type, which may be `unreachable`: V8 rejects a body block written with that type).
  const prepend = (cost: number, body: Ref, results: number): Ref => mod.block(null, [check(cost), body], results);

  const { Loop, MemoryGrow, TableGrow, Function: Func } = untyped(binaryen);

  // A loop L with body B becomes
  //   loop $outer                         (L itself, renamed)
  //     block $done
  //       block $slow
  //         loop $L                       (new: the hot loop; B's branches to $L land here)
  //           CHARGE; br_if $slow (EXHAUSTED)
  //           B
  //         br $done                      (with B's value, if any)
  //       REFILL                          (the host call, outside the hot loop)
  //       br $outer
  // Keeping the call out of the hot loop matters: a call inside it makes V8 spill the loop's
  // values on every iteration (measured: 2x slower on a tight loop; this form costs ~0).
  //
  // A loop that calls nothing (nested loops included) charges a local allowance instead of the
  // global: V8 keeps locals in registers but loads and stores a global through the instance on
  // every iteration (measured in-thread on a C sieve: the meter cost 1.73-1.88x with the global,
  // 1.10-1.12x with the allowance). CHARGE is left -= cost, EXHAUSTED is left < 0, and REFILL
  //   countdown += left                   (gives back what is left, charges the overrun: the
  //                                        iteration that ran out is paid from the countdown)
  //   if countdown <= 0: countdown = tick()
  //   grant = min(grant * 2 + FIRST, MAX, countdown); countdown -= grant
  //   left = grant + cost                 (the re-entry's CHARGE takes cost back off)
  // The allowance is taken ahead, so work is never uncharged; what is left is given back when
  // the function returns a value or ends (a void return or a throw keeps it: an overcharge no
  // larger than the last grant, which doubles only as the loop runs). A loop that calls keeps
  // the global form: the callee may be a host call that asks for a check at once (checkSoon).
  let labels = 0;
  interface Allowance {
    left: number;
    grant: number;
  }
  const meterLoop = (site: LoopSite, allowance: Allowance | undefined): void => {
    const n = labels++;
    const outer = `__ww_outer${n}`;
    const slow = `__ww_slow${n}`;
    const done = `__ww_done${n}`;
    const type = binaryen.getExpressionType(site.ref);
    const body = Loop.getBody(site.ref);
    const i32 = binaryen.i32;
    const countdown = (): Ref => mod.global.get(COUNTDOWN, i32);
    const setCountdown = (v: Ref): Ref => mod.global.set(COUNTDOWN, v);
    const tickIfSpent = (): Ref => mod.if(mod.i32.le_s(countdown(), mod.i32.const(0)), setCountdown(mod.call(TICK, [], i32)));
    let charge: Ref[];
    let refill: Ref;
    if (allowance) {
      const left = (): Ref => mod.local.get(allowance.left, i32);
      const grant = (): Ref => mod.local.get(allowance.grant, i32);
      const min = (a: () => Ref, b: () => Ref): Ref => mod.select(mod.i32.lt_s(a(), b()), a(), b());
      const doubled = (): Ref => mod.i32.add(mod.i32.shl(grant(), mod.i32.const(1)), mod.i32.const(ALLOWANCE_FIRST));
      charge = [mod.local.set(allowance.left, mod.i32.sub(left(), mod.i32.const(site.cost))), mod.br(slow, mod.i32.lt_s(left(), mod.i32.const(0)))];
      refill = mod.block(null, [
        setCountdown(mod.i32.add(countdown(), left())),
        tickIfSpent(),
        mod.local.set(allowance.grant, min(doubled, () => mod.i32.const(ALLOWANCE_MAX))),
        mod.local.set(allowance.grant, min(grant, countdown)),
        setCountdown(mod.i32.sub(countdown(), grant())),
        mod.local.set(allowance.left, mod.i32.add(grant(), mod.i32.const(site.cost))),
      ]);
    } else {
      charge = [setCountdown(mod.i32.sub(countdown(), mod.i32.const(site.cost))), mod.br(slow, mod.i32.le_s(countdown(), mod.i32.const(0)))];
      refill = setCountdown(mod.call(TICK, [], i32));
    }
    const hotBody = mod.block(null, [...charge, body], type === binaryen.unreachable ? undefined : type);
    const hot = mod.loop(Loop.getName(site.ref), hotBody);
    let outerBody: Ref;
    if (type === binaryen.unreachable) {
      // B never falls through: the only way out of the hot loop to here is $slow.
      outerBody = mod.block(null, [mod.block(slow, [hot], binaryen.none), refill, mod.br(outer)]);
    } else {
      const leave = type === binaryen.none ? mod.block(null, [hot, mod.br(done)], binaryen.none) : mod.br(done, undefined, hot);
      outerBody = mod.block(done, [mod.block(slow, [leave], binaryen.none), refill, mod.br(outer)], type);
    }
    Loop.setName(site.ref, outer);
    Loop.setBody(site.ref, outerBody);
  };
  const addVar = api(binaryen)._BinaryenFunctionAddVar as (f: Ref, t: number) => number;
  const returnApi = api(binaryen) as { _BinaryenReturnGetValue(r: Ref): Ref; _BinaryenReturnSetValue(r: Ref, v: Ref): void };
  // Gives a frame's unused allowance back to the countdown around `value` (of type `results`):
  // { tmp = value; if countdown > 0: countdown = min(countdown + left, TICK_BUDGET); tmp }. Never
  // when the host has asked for a check (countdown <= 0), and never past what a tick grants: else
  // the give-backs of many frames returning one after another would add up and put off the next
  // tick (a pause, a kill, a slice's end) by all of them. What is not given back is overcharged.
  // Undefined where it cannot (several results).
  const givingBack = (func: Ref, allowance: Allowance, results: number, value: Ref, scratch: { tmp?: number }): Ref | undefined => {
    const i32 = binaryen.i32;
    const countdown = (): Ref => mod.global.get(COUNTDOWN, i32);
    const sum = (): Ref => mod.i32.add(countdown(), mod.local.get(allowance.left, i32));
    const capped = mod.select(mod.i32.lt_s(sum(), mod.i32.const(TICK_BUDGET)), sum(), mod.i32.const(TICK_BUDGET));
    const giveBack = mod.global.set(COUNTDOWN, mod.select(mod.i32.gt_s(countdown(), mod.i32.const(0)), capped, countdown()));
    if (results === binaryen.none) return mod.block(null, [value, giveBack], binaryen.none);
    if (binaryen.expandType(results).length !== 1) return undefined;
    scratch.tmp ??= addVar(func, results);
    return mod.block(null, [mod.local.set(scratch.tmp, value), giveBack, mod.local.get(scratch.tmp, results)], results);
  };
  // Every body is walked before any is changed, so a module is refused before any work on it.
  const walker = new Walker(binaryen, kinds);
  const bodies: { func: Ref; body: Ref; results: number; scan: Scan }[] = [];
  const functionCount = mod.getNumFunctions();
  for (let i = 0; i < functionCount; i++) {
    const func = mod.getFunctionByIndex(i);
    const info = binaryen.getFunctionInfo(func);
    if (info.module !== '' || info.body === 0) continue; // an import: no body
    bodies.push({ func, body: info.body, results: info.results, scan: walker.scan(info.body, info.name) });
  }
  // Only a module that grows tables imports grow_table: every import costs each instantiation a little.
  if (bodies.some((b) => b.scan.tableGrows.length > 0)) mod.addFunctionImport(GROW_TABLE, METER_MODULE, GROW_TABLE_FIELD, binaryen.i32, binaryen.i32);
  for (const { func, body, results, scan } of bodies) {
    const allowance = scan.loops.some((l) => !l.calls) ? { left: addVar(func, binaryen.i32), grant: addVar(func, binaryen.i32) } : undefined;
    for (const loop of scan.loops) meterLoop(loop, loop.calls ? undefined : allowance);
    for (const grow of scan.grows) {
      const delta = MemoryGrow.getDelta(grow);
      if (binaryen.getExpressionType(delta) !== binaryen.i32) continue; // memory64: not supported, left as is
      MemoryGrow.setDelta(grow, mod.call(GROW, [delta], binaryen.i32));
    }
    for (const grow of scan.tableGrows) {
      const delta = TableGrow.getDelta(grow);
      if (binaryen.getExpressionType(delta) !== binaryen.i32) throw new InstrumentError('table.grow on a 64-bit table: ww cannot hold it to a memory limit');
      TableGrow.setDelta(grow, mod.call(GROW_TABLE, [delta], binaryen.i32));
    }
    // A bulk operation's length n becomes { tmp = n; countdown -= n >>> 8; if countdown <= 0: tick; tmp }:
    // evaluated where it was (the last operand), charged and checked before the operation runs (so
    // straight-line code of many large fills reaches its ticks too). One scratch local per function
    // serves them all: each use ends before another begins, nested ones included.
    let scratch = -1;
    for (const bulk of scan.bulks) {
      const size = bulkSize(binaryen, bulk);
      if (binaryen.getExpressionType(size.get()) !== binaryen.i32) continue; // memory64: not supported, left as is
      if (scratch < 0) scratch = addVar(func, binaryen.i32);
      const charge = mod.global.set(
        COUNTDOWN,
        mod.i32.sub(mod.global.get(COUNTDOWN, binaryen.i32), mod.i32.shr_u(mod.local.get(scratch, binaryen.i32), mod.i32.const(Math.log2(BULK_BYTES_PER_UNIT)))),
      );
      const check = mod.if(mod.i32.le_s(mod.global.get(COUNTDOWN, binaryen.i32), mod.i32.const(0)), mod.global.set(COUNTDOWN, mod.call(TICK, [], binaryen.i32)));
      size.set(mod.block(null, [mod.local.set(scratch, size.get()), charge, check, mod.local.get(scratch, binaryen.i32)], binaryen.i32));
    }
    let metered = body;
    if (allowance) {
      const scratchResult: { tmp?: number } = {};
      for (const ret of scan.returns) {
        const value = returnApi._BinaryenReturnGetValue(ret);
        if (value === 0) continue; // a void return keeps the allowance (see meterLoop)
        const wrapped = givingBack(func, allowance, results, value, scratchResult);
        if (wrapped !== undefined) returnApi._BinaryenReturnSetValue(ret, wrapped);
      }
      metered = givingBack(func, allowance, results, body, scratchResult) ?? body;
    }
    Func.setBody(func, prepend(scan.cost, metered, results));
  }
  // A module V8 runs but binaryen, limited to v8Features, cannot validate: one using a proposal left
  // out there (tail calls: a tail call would leave its frame without giving back its allowance).
  if (!mod.validate()) throw new InstrumentError('it uses a WebAssembly feature ww cannot instrument yet (such as tail calls)');
  return { bytes: mod.emitBinary(), ...unsuspendable(binaryen, mod, bodies.map((b) => b.scan)) };
}

/** Why a module may not share a thread (ModuleFacts), from what the walk found. */
function unsuspendable(binaryen: B, mod: Binaryen.Module, scans: Scan[]): ModuleFacts {
  // A start function runs while the module is instantiated, where the guest cannot be suspended.
  if ((api(binaryen)._BinaryenGetStart as (m: Ref) => Ref)(mod.ptr)) return { unsuspendable: 'it has a start function' };
  const exported = mod.getExport('memory');
  const memory = exported ? binaryen.getExportInfo(exported) : undefined;
  if (memory && memory.kind === binaryen.ExternalMemory && mod.getMemoryInfo(memory.value).shared) {
    return { unsuspendable: 'its memory is shared (memory.atomic.wait would block the thread)' };
  }
  if (scans.some((s) => s.waits > 0)) return { unsuspendable: 'it uses memory.atomic.wait' };
  // Their length is not charged (no accessor to rewrite it): a loop of them would hold the thread.
  if (scans.some((s) => s.tableBulks > 0)) return { unsuspendable: 'it uses table.fill, table.copy or table.init' };
  // asyncify does not carry a catch across an unwind: a wait inside a handler or a try would resume wrongly.
  if (scans.some((s) => s.exceptions > 0)) return { unsuspendable: 'it uses exception handling (try, throw)' };
  return {};
}

/** The length operand of memory.fill, memory.copy or memory.init, to read and replace. */
function bulkSize(b: B, e: Ref): { get(): Ref; set(v: Ref): void } {
  const a = api(b);
  const id = (a._BinaryenExpressionGetId as (e: Ref) => number)(e);
  const kind = id === b.MemoryFillId ? 'MemoryFill' : id === b.MemoryCopyId ? 'MemoryCopy' : 'MemoryInit';
  return {
    get: () => (a[`_Binaryen${kind}GetSize`] as (e: Ref) => Ref)(e),
    set: (v) => (a[`_Binaryen${kind}SetSize`] as (e: Ref, v: Ref) => void)(e, v),
  };
}

/** The proposals V8 in Node 20+ runs without flags. Binaryen's `All` would also enable encodings
 *  V8 cannot read (e.g. compact imports), so the output must be limited to these. */
export function v8Features(b: B): number {
  const f = b.Features;
  return (
    f.Atomics | f.MutableGlobals | f.NontrappingFPToInt | f.SIMD128 | f.BulkMemory | f.BulkMemoryOpt | f.SignExt |
    f.ExceptionHandling | f.ReferenceTypes | f.Multivalue
  );
}

/** The text of a C++ exception binaryen threw (it throws those as plain objects, not Errors). */
function binaryenMessage(b: B, e: unknown): string {
  try {
    return untyped(b).getExceptionMessage(e)[1].replace(/^Fatal:\s*/, '');
  } catch {
    return String(e);
  }
}

// ---- Expression kinds -------------------------------------------------------------------------

/**
 * How the walk reads the children of each expression kind binaryen has (binaryen's own list of
 * them and their children: src/wasm-delegations-fields.def), by kind name (`binaryen.<Kind>Id`):
 *  - a string: the children through binaryen.js's C accessors: 'Ptr Value' reads
 *    _Binaryen<Kind>GetPtr and _Binaryen<Kind>GetValue (0 is an absent optional child),
 *    '*Operand' reads _Binaryen<Kind>GetNumOperands and _Binaryen<Kind>GetOperandAt; '' is a
 *    kind without children;
 *  - { layout }: binaryen.js exports no accessors for the kind: its children are read from
 *    binaryen's memory, at offsets found by calibrating against `sample`, a function (signature
 *    and body, after module fields `decls`) whose children are marked (see calibrate());
 *  - { refuse }: some child cannot be read; a module using the kind is refused.
 * A kind binaryen has and this table lacks is refused too, and fails the test that enumerates
 * binaryen's kinds.
 */
const KINDS: Record<string, string | { layout: string; sample: string; decls?: string } | { refuse: string }> = {
  Nop: '', Unreachable: '', LocalGet: '', GlobalGet: '', Const: '', MemorySize: '', AtomicFence: '', Pause: '',
  DataDrop: '', ElemDrop: '', RefNull: '', RefFunc: '', TableSize: '', Rethrow: '', Pop: '', StringConst: '', WaitqueueNew: '',
  Block: '*Child',
  If: 'Condition IfTrue IfFalse',
  Loop: 'Body',
  Break: 'Condition Value',
  Switch: 'Condition Value',
  Call: '*Operand',
  CallIndirect: 'Target *Operand',
  CallRef: 'Target *Operand',
  LocalSet: 'Value',
  GlobalSet: 'Value',
  Load: 'Ptr',
  Store: 'Ptr Value',
  Unary: 'Value',
  Binary: 'Left Right',
  Select: 'IfTrue IfFalse Condition',
  Drop: 'Value',
  Return: 'Value',
  MemoryGrow: 'Delta',
  AtomicRMW: 'Ptr Value',
  AtomicCmpxchg: 'Ptr Expected Replacement',
  AtomicWait: 'Ptr Expected Timeout',
  AtomicNotify: 'Ptr NotifyCount',
  SIMDExtract: 'Vec',
  SIMDReplace: 'Vec Value',
  SIMDShuffle: 'Left Right',
  SIMDTernary: 'A B C',
  SIMDShift: 'Vec Shift',
  SIMDLoad: 'Ptr',
  SIMDLoadStoreLane: 'Ptr Vec',
  MemoryInit: 'Dest Offset Size',
  MemoryCopy: 'Dest Source Size',
  MemoryFill: 'Dest Value Size',
  RefIsNull: 'Value',
  RefEq: 'Left Right',
  RefAs: 'Value',
  TableGet: 'Index',
  TableSet: 'Index Value',
  TableGrow: 'Value Delta',
  TableFill: { layout: 'table.fill', decls: '(table $t 1 funcref)', sample: '(table.fill $t @0 (ref.null func) @1)' },
  TableCopy: { layout: 'table.copy', decls: '(table $t 1 funcref)', sample: '(table.copy $t $t @0 @1 @2)' },
  TableInit: { layout: 'table.init', decls: '(table $t 1 funcref) (elem $e func)', sample: '(table.init $t $e @0 @1 @2)' },
  Try: 'Body *CatchBody',
  TryTable: { layout: 'try_table', sample: '(result i32) (try_table (result i32) @0)' },
  Throw: '*Operand',
  ThrowRef: { layout: 'throw_ref', sample: '(throw_ref (ref.null exn))' },
  TupleMake: '*Operand',
  TupleExtract: 'Tuple',
  RefI31: 'Value',
  I31Get: 'I31',
  RefTest: 'Ref',
  StructGet: 'Ref',
  StructSet: 'Ref Value',
  ArrayNew: 'Init Size',
  ArrayNewData: 'Offset Size',
  ArrayNewElem: 'Offset Size',
  ArrayNewFixed: '*Value',
  ArrayGet: 'Ref Index',
  ArraySet: 'Ref Index Value',
  ArrayLen: 'Ref',
  ArrayCopy: 'DestRef DestIndex SrcRef SrcIndex Length',
  ArrayFill: 'Ref Index Value Size',
  ArrayInitData: 'Ref Index Offset Size',
  ArrayInitElem: 'Ref Index Offset Size',
  StringNew: 'Ref Start End',
  StringMeasure: 'Ref',
  StringEncode: 'Str Array Start',
  StringConcat: 'Left Right',
  StringEq: 'Left Right',
  StringWTF16Get: 'Ref Pos',
  StringSliceWTF: 'Ref Start End',
  WideIntAddSub: 'LeftLow LeftHigh RightLow RightHigh',
  WideIntMul: 'Left Right',
  // Each has a child binaryen.js cannot read: the descriptor operand (custom descriptors proposal)
  // of the first three, any operand of the others (GC atomics, multibyte arrays, string.test,
  // stack switching, shared-everything waits). None is in the proposals v8Features enables.
  RefCast: { refuse: 'ref.cast' },
  BrOn: { refuse: 'br_on_*' },
  StructNew: { refuse: 'struct.new' },
  RefGetDesc: { refuse: 'ref.get_desc' },
  StructRMW: { refuse: 'struct.atomic.rmw' },
  StructCmpxchg: { refuse: 'struct.atomic.rmw.cmpxchg' },
  ArrayLoad: { refuse: 'array.load' },
  ArrayStore: { refuse: 'array.store' },
  ArrayRMW: { refuse: 'array.atomic.rmw' },
  ArrayCmpxchg: { refuse: 'array.atomic.rmw.cmpxchg' },
  StringTest: { refuse: 'string.test' },
  ContNew: { refuse: 'cont.new' },
  ContBind: { refuse: 'cont.bind' },
  Suspend: { refuse: 'suspend' },
  Resume: { refuse: 'resume' },
  ResumeThrow: { refuse: 'resume_throw' },
  StackSwitch: { refuse: 'switch' },
  StructWait: { refuse: 'struct.wait' },
  WaitqueueNotify: { refuse: 'waitqueue.notify' },
};

/** Pushes an expression's children (in any order) onto `out`; throws Unreadable if it cannot. */
type ChildReader = (e: Ref, out: Ref[]) => void;
/** Thrown by the walk at an expression whose children cannot be read: names the instruction. */
class Unreadable {
  constructor(readonly instruction: string) {}
}

/** One expression kind as the walk treats it. */
export interface ExpressionKind {
  id: number;
  name: string;
  /** How its children are read: not at all ('leaf'), by binaryen.js's accessors or by layout (see
   *  KINDS); 'refused' if they cannot be (`refusal` names the instruction); 'unknown' for a kind
   *  binaryen has that KINDS lacks (refused too). */
  how: 'leaf' | 'accessors' | 'layout' | 'refused' | 'unknown';
  refusal?: string;
}

interface Kinds {
  list: ExpressionKind[];
  /** By expression id: its children's reader, or the instruction name when it is refused. */
  readers: (ChildReader | string | undefined)[];
  /** Calibrations not yet run (they run when the walk first meets the kind). */
  pending: Map<number, () => void>;
}

const kindsCache = new WeakMap<B, Kinds>();

/** Every expression kind binaryen has (its `_Binaryen<Kind>Id` functions), with how the walk reads it. */
export function expressionKinds(b: B): ExpressionKind[] {
  const kinds = kindTable(b);
  for (const calibrate of [...kinds.pending.values()]) calibrate();
  return kinds.list;
}

function buildKinds(b: B): Kinds {
  const binaryenApi = api(b);
  const call = (name: string): ((...args: number[]) => number) => {
    const f = binaryenApi[name];
    if (typeof f !== 'function') throw new Error(`binaryen has no ${name}: the instrumentation's table of expression kinds does not match this binaryen`);
    return f as (...args: number[]) => number;
  };
  const list: ExpressionKind[] = [];
  const readers: (ChildReader | string | undefined)[] = [];
  const pending = new Map<number, () => void>();
  for (const key of Object.keys(binaryenApi)) {
    const m = /^_Binaryen(\w+)Id$/.exec(key);
    if (!m || m[1] === 'ExpressionGet' || m[1] === 'Invalid') continue; // (the id getter; no expression)
    const name = m[1];
    const id = call(key)();
    const rule = KINDS[name];
    let kind: ExpressionKind;
    if (rule === undefined) {
      kind = { id, name, how: 'unknown', refusal: `${name} (an expression kind ww's instrumentation does not know)` };
    } else if (typeof rule === 'string') {
      kind = { id, name, how: rule === '' ? 'leaf' : 'accessors' };
      readers[id] = accessorReader(name, rule, call);
    } else if ('refuse' in rule) {
      kind = { id, name, how: 'refused', refusal: rule.refuse };
    } else {
      // Calibrated when the walk first meets the kind: few modules have one, and the first
      // parseText costs ~60 ms.
      const layout = (kind = { id, name, how: 'layout' });
      const resolve = (): void => {
        pending.delete(id);
        const offsets = calibrate(b, id, rule);
        if (offsets) readers[id] = layoutReader(b, rule.layout, offsets);
        else Object.assign(layout, { how: 'refused', refusal: (readers[id] = rule.layout) });
      };
      pending.set(id, resolve);
      readers[id] = (e, out) => {
        resolve();
        const read = readers[id];
        if (typeof read !== 'function') throw new Unreadable(rule.layout);
        read(e, out);
      };
    }
    if (kind.refusal !== undefined) readers[id] = kind.refusal;
    list.push(kind);
  }
  for (const name of Object.keys(KINDS)) {
    if (!list.some((k) => k.name === name)) throw new Error(`binaryen has no expression kind ${name}: the instrumentation's table does not match this binaryen`);
  }
  return { list, readers, pending };
}

function kindTable(b: B): Kinds {
  let kinds = kindsCache.get(b);
  if (!kinds) kindsCache.set(b, (kinds = buildKinds(b)));
  return kinds;
}

/** A reader for a kind whose children binaryen.js's C accessors return (see KINDS). */
function accessorReader(kind: string, fields: string, call: (name: string) => (...args: number[]) => number): ChildReader {
  const single: ((e: Ref) => Ref)[] = [];
  const vectors: [count: (e: Ref) => number, at: (e: Ref, i: number) => Ref][] = [];
  for (const field of fields.split(' ').filter((f) => f !== '')) {
    if (field.startsWith('*')) {
      const one = field.slice(1);
      const many = one.endsWith('y') ? `${one.slice(0, -1)}ies` : one === 'Child' ? 'Children' : `${one}s`;
      vectors.push([call(`_Binaryen${kind}GetNum${many}`), call(`_Binaryen${kind}Get${one}At`)]);
    } else {
      single.push(call(`_Binaryen${kind}Get${field}`));
    }
  }
  return (e, out) => {
    for (const get of single) {
      const child = get(e);
      if (child) out.push(child);
    }
    for (const [count, at] of vectors) for (let i = 0, n = count(e); i < n; i++) out.push(at(e, i));
  };
}

// Calibration. binaryen.js has no accessors for a few kinds V8 runs (table.fill, table.copy,
// table.init, try_table, throw_ref). Each is a C++ object in binaryen's linear memory holding its
// children as pointers at fixed offsets. calibrate() finds those offsets in the binaryen that is
// loaded: it parses a sample whose children are marked (i32.const MARK+i, or the sample's only
// ref.null), then looks in the first words of the object for the pointers to exactly those
// children. If they are not all found, each once, the kind is refused instead.
const MARK = 0x3a5c0000;
const OBJECT_WORDS = 16;

function calibrate(b: B, id: number, rule: { sample: string; decls?: string }): number[] | undefined {
  const binaryenApi = api(b);
  const load = binaryenApi.__i32_load as (address: number) => number;
  const getId = binaryenApi._BinaryenExpressionGetId as (e: Ref) => number;
  const getType = binaryenApi._BinaryenExpressionGetType as (e: Ref) => number;
  const constI32 = binaryenApi._BinaryenConstGetValueI32 as (e: Ref) => number;
  let marks = 0;
  const sample = rule.sample.replace(/@(\d)/g, (_, i: string) => {
    marks++;
    return `(i32.const ${MARK + Number(i)})`;
  });
  const wanted = marks + (sample.includes('ref.null') ? 1 : 0);
  const parseText = b.parseText as (text: string, features: number) => Binaryen.Module; // (typings lack the features)
  let mod: Binaryen.Module;
  try {
    mod = parseText(`(module ${rule.decls ?? ''} (func $sample ${sample}))`, b.Features.All);
  } catch {
    return undefined; // a binaryen that no longer reads the sample
  }
  try {
    const e = b.getFunctionInfo(mod.getFunction('sample')).body;
    if (!e || getId(e) !== id) return undefined;
    /** Which marked child `p` points to: 0, 1, ... for the i32.const marks, -1 for the ref.null. */
    const markOf = (p: number): number | undefined => {
      if (p === 0) return undefined;
      try {
        const pid = getId(p);
        if (pid === b.RefNullId) return -1;
        if (pid !== b.ConstId || getType(p) !== b.i32) return undefined;
        const i = constI32(p) - MARK;
        return i >= 0 && i < marks ? i : undefined;
      } catch {
        return undefined; // not a pointer into binaryen's memory
      }
    };
    // The scan stops at the last child: memory past the object may hold stale pointers from
    // modules binaryen freed earlier, some to where a marked child now is.
    const found = new Map<number, number>(); // mark -> byte offset
    for (let word = 2; word < OBJECT_WORDS && found.size < wanted; word++) { // (words 0 and 1: the kind's id and type)
      const mark = markOf(load(e + 4 * word));
      if (mark === undefined) continue;
      if (found.has(mark)) return undefined;
      found.set(mark, 4 * word);
    }
    return found.size === wanted ? [...found.values()] : undefined;
  } finally {
    mod.dispose();
  }
}

/** A reader for a calibrated kind: its children at `offsets`; each must be an expression of a
 *  known kind, or the module is refused (rather than walked wrongly). */
function layoutReader(b: B, instruction: string, offsets: number[]): ChildReader {
  const load = api(b).__i32_load as (address: number) => number;
  const getId = api(b)._BinaryenExpressionGetId as (e: Ref) => number;
  return (e, out) => {
    for (const offset of offsets) {
      const child = load(e + offset) >>> 0;
      const kind = child === 0 ? undefined : kindTable(b).readers[getId(child)];
      if (kind === undefined) throw new Unreadable(instruction);
      out.push(child);
    }
  };
}

// ---- The walk ---------------------------------------------------------------------------------

interface LoopSite {
  ref: Ref;
  cost: number;
  /** Whether its body (nested loops included) calls a function or grows a memory or table. */
  calls: boolean;
}
interface Scan {
  loops: LoopSite[];
  grows: Ref[];
  tableGrows: Ref[];
  /** memory.fill, memory.copy, memory.init: charged by their length. */
  bulks: Ref[];
  /** table.fill, table.copy, table.init (not charged by length) and memory.atomic.wait: counted. */
  tableBulks: number;
  waits: number;
  /** try, try_table, throw, throw_ref, rethrow. */
  exceptions: number;
  /** call, call_indirect, call_ref, memory.grow and table.grow (the last two call the host). */
  calls: number;
  returns: Ref[];
  cost: number;
}

/** Walks one function body: finds loops and memory.grow, and counts expression nodes per region
 *  (a region is the code from a function entry or loop header up to the next nested loop). */
class Walker {
  private readonly getId: (e: Ref) => number;
  private readonly loopBody: (e: Ref) => Ref;
  private readonly loopId: number;
  private readonly growId: number;
  private readonly tableGrowId: number;
  private readonly bulkIds: Set<number>;
  private readonly tableBulkIds: Set<number>;
  private readonly waitId: number;
  private readonly exceptionIds: Set<number>;
  private readonly callIds: Set<number>;
  private readonly returnId: number;

  constructor(
    b: B,
    private readonly kinds: Kinds,
  ) {
    this.getId = api(b)._BinaryenExpressionGetId as (e: Ref) => number;
    this.loopBody = api(b)._BinaryenLoopGetBody as (e: Ref) => Ref;
    this.loopId = b.LoopId;
    this.growId = b.MemoryGrowId;
    this.tableGrowId = b.TableGrowId;
    this.bulkIds = new Set([b.MemoryFillId, b.MemoryCopyId, b.MemoryInitId]);
    // (binaryen.js names these ids only as functions of its C API)
    this.tableBulkIds = new Set(['TableFill', 'TableCopy', 'TableInit'].map((k) => (api(b)[`_Binaryen${k}Id`] as () => number)()));
    this.waitId = b.AtomicWaitId;
    this.exceptionIds = new Set(['Try', 'TryTable', 'Throw', 'ThrowRef', 'Rethrow'].map((k) => (api(b)[`_Binaryen${k}Id`] as () => number)()));
    this.callIds = new Set([b.CallId, b.CallIndirectId, (api(b)._BinaryenCallRefId as () => number)(), b.MemoryGrowId, b.TableGrowId]);
    this.returnId = b.ReturnId;
  }

  /** Throws InstrumentError if the body uses a kind whose children cannot be read. */
  scan(root: Ref, functionName: string): Scan {
    const found = {
      loops: [] as LoopSite[], grows: [] as Ref[], tableGrows: [] as Ref[], bulks: [] as Ref[], returns: [] as Ref[],
      tableBulks: 0, waits: 0, exceptions: 0, calls: 0,
    };
    try {
      const cost = this.region(root, found);
      return { ...found, cost: Math.min(MAX_REGION_COST, cost) };
    } catch (e) {
      if (!(e instanceof Unreadable)) throw e;
      throw new InstrumentError(
        `function ${functionName} uses ${e.instruction}, whose operands ww's instrumentation cannot read (a loop inside them would run without fuel or pause)`,
      );
    }
  }

  private region(root: Ref, found: Omit<Scan, 'cost'>): number {
    const readers = this.kinds.readers;
    let cost = 0;
    const stack: Ref[] = [root];
    while (stack.length > 0) {
      const e = stack.pop()!;
      cost++;
      const id = this.getId(e);
      if (id === this.loopId) {
        const site: LoopSite = { ref: e, cost: 0, calls: false };
        found.loops.push(site);
        const callsBefore = found.calls;
        site.cost = Math.min(MAX_REGION_COST, Math.max(1, this.region(this.loopBody(e), found)));
        site.calls = found.calls > callsBefore;
        continue;
      }
      if (this.callIds.has(id)) found.calls++;
      if (id === this.returnId) found.returns.push(e);
      if (id === this.growId) found.grows.push(e);
      else if (id === this.tableGrowId) found.tableGrows.push(e);
      else if (this.bulkIds.has(id)) found.bulks.push(e);
      else if (this.tableBulkIds.has(id)) found.tableBulks++;
      else if (id === this.waitId) found.waits++;
      else if (this.exceptionIds.has(id)) found.exceptions++;
      const read = readers[id];
      if (typeof read !== 'function') throw new Unreadable(read ?? `an expression of kind ${id}, which ww's instrumentation does not know`);
      read(e, stack);
    }
    return cost;
  }
}
