// Binary instrumentation with binaryen (DESIGN.md decision 5). Adds to a module:
//  - a mutable i32 global, the countdown, exported as COUNTDOWN_EXPORT;
//  - at every function entry and loop header: countdown -= cost of the code up to the next
//    check (a constant, counted in expression nodes); when countdown <= 0 the guest calls
//    the import ww_meter.tick, whose i32 result becomes the new countdown;
//  - every memory.grow(delta) becomes memory.grow(ww_meter.grow(delta)), so the host can
//    refuse growth past a limit by returning a delta that cannot succeed (the guest sees -1).
// The host side of these imports lives in meter.ts. This file only transforms bytes; the
// caller loads binaryen (it is large and slow to import) and passes it in.

import type Binaryen from 'binaryen';

export const METER_MODULE = 'ww_meter';
export const TICK_FIELD = 'tick';
export const GROW_FIELD = 'grow';
export const COUNTDOWN_EXPORT = '__ww_countdown';
/** The guest's memory becomes an import of this name (still exported as `memory`), so a worker
 *  can hand a zeroed memory from an earlier process to the next one: instantiating with a fresh
 *  memory costs ~90 us, with a reused one ~10 us (measured). */
export const MEMORY_FIELD = 'memory';
/** Upper bound on the cost charged at one check. It must stay below the meter's budget per tick,
 *  or a region bigger than the budget could never run (the guest would only call tick). */
export const MAX_REGION_COST = 10_000;
/** Bump when the transformation changes, so on-disk caches of older output are not used. */
export const INSTRUMENTATION_VERSION = 3;

/** Why a module cannot be instrumented (a name the instrumentation needs that the module already uses). */
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
  Function: { setBody(func: Ref, body: Ref): void };
  getExceptionMessage(e: unknown): [string, string];
}
const untyped = (b: B): Accessors => b as unknown as Accessors;

// Names the instrumentation adds. Label names cannot collide: binaryen names a binary's labels
// itself (it reads no label names), and never with this prefix.
const COUNTDOWN = '__ww_countdown';
const TICK = '__ww_tick';
const GROW = '__ww_grow';

/** Returns the instrumented module bytes. Throws InstrumentError for a module it refuses, or an
 *  Error if binaryen cannot read the module or the result does not validate. */
export function instrument(binaryen: B, bytes: Uint8Array): Uint8Array {
  binaryen.setDebugInfo(true); // keep the name section: trap reasons name the guest's functions
  const mod = binaryen.readBinary(bytes);
  try {
    return transform(binaryen, mod);
  } catch (e) {
    throw e instanceof Error ? e : new Error(`binaryen: ${binaryenMessage(binaryen, e)}`);
  } finally {
    mod.dispose();
  }
}

function transform(binaryen: B, mod: Binaryen.Module): Uint8Array {
  mod.setFeatures(v8Features(binaryen));
  const taken = (what: string, name: string): InstrumentError =>
    new InstrumentError(`the module already has ${what} named ${name}, a name ww's instrumentation adds`);
  if (mod.getGlobal(COUNTDOWN) !== 0) throw taken('a global', COUNTDOWN); // (0 when there is none)
  for (const f of [TICK, GROW]) if (mod.getFunction(f) !== 0) throw taken('a function', f);
  if (mod.getExport(COUNTDOWN_EXPORT) !== 0) throw taken('an export', COUNTDOWN_EXPORT);

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

  const { Loop, MemoryGrow, Function: Func } = untyped(binaryen);

  // A loop L with body B becomes
  //   loop $outer                         (L itself, renamed)
  //     block $done
  //       block $slow
  //         loop $L                       (new: the hot loop; B's branches to $L land here)
  //           countdown -= cost; br_if $slow (countdown <= 0)
  //           B
  //         br $done                      (with B's value, if any)
  //       countdown = tick()              (the host call, outside the hot loop)
  //       br $outer
  // Keeping the call out of the hot loop matters: a call inside it makes V8 spill the loop's
  // values on every iteration (measured: 2x slower on a tight loop; this form costs ~0).
  let labels = 0;
  const meterLoop = (site: LoopSite): void => {
    const n = labels++;
    const outer = `__ww_outer${n}`;
    const slow = `__ww_slow${n}`;
    const done = `__ww_done${n}`;
    const type = binaryen.getExpressionType(site.ref);
    const body = Loop.getBody(site.ref);
    const countdown = (): Ref => mod.global.get(COUNTDOWN, binaryen.i32);
    const hotBody = mod.block(
      null,
      [
        mod.global.set(COUNTDOWN, mod.i32.sub(countdown(), mod.i32.const(site.cost))),
        mod.br(slow, mod.i32.le_s(countdown(), mod.i32.const(0))),
        body,
      ],
      type === binaryen.unreachable ? undefined : type,
    );
    const hot = mod.loop(Loop.getName(site.ref), hotBody);
    const refill = mod.global.set(COUNTDOWN, mod.call(TICK, [], binaryen.i32));
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
  const walker = new Walker(binaryen);
  const functionCount = mod.getNumFunctions();
  for (let i = 0; i < functionCount; i++) {
    const func = mod.getFunctionByIndex(i);
    const info = binaryen.getFunctionInfo(func);
    if (info.module !== '' || info.body === 0) continue; // an import: no body
    const { loops, grows, cost } = walker.scan(info.body);
    for (const loop of loops) meterLoop(loop);
    for (const grow of grows) {
      const delta = MemoryGrow.getDelta(grow);
      if (binaryen.getExpressionType(delta) !== binaryen.i32) continue; // memory64: not supported, left as is
      MemoryGrow.setDelta(grow, mod.call(GROW, [delta], binaryen.i32));
    }
    Func.setBody(func, prepend(cost, info.body, info.results));
  }
  if (!mod.validate()) throw new Error('binaryen produced an invalid module');
  return mod.emitBinary();
}

/** The proposals V8 in Node 20+ runs without flags. Binaryen's `All` would also enable encodings
 *  V8 cannot read (e.g. compact imports), so the output must be limited to these. */
function v8Features(b: B): number {
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

interface LoopSite {
  ref: Ref;
  cost: number;
}

/** Walks one function body: finds loops and memory.grow, and counts expression nodes per region
 *  (a region is the code from a function entry or loop header up to the next nested loop). */
class Walker {
  private readonly ids: Record<string, number>;
  constructor(private readonly b: B) {
    this.ids = b as unknown as Record<string, number>;
  }

  scan(root: Ref): { loops: LoopSite[]; grows: Ref[]; cost: number } {
    const loops: LoopSite[] = [];
    const grows: Ref[] = [];
    const cost = this.region(root, loops, grows);
    return { loops, grows, cost: Math.min(MAX_REGION_COST, cost) };
  }

  private region(root: Ref, loops: LoopSite[], grows: Ref[]): number {
    const b = this.b;
    let cost = 0;
    const stack: Ref[] = [root];
    while (stack.length > 0) {
      const e = stack.pop()!;
      if (!e) continue;
      cost++;
      const id = b.getExpressionId(e);
      if (id === b.LoopId) {
        const body = untyped(b).Loop.getBody(e);
        const site: LoopSite = { ref: e, cost: 0 };
        loops.push(site);
        site.cost = Math.min(MAX_REGION_COST, Math.max(1, this.region(body, loops, grows)));
        continue;
      }
      if (id === b.MemoryGrowId) grows.push(e);
      this.pushChildren(id, e, stack);
    }
    return cost;
  }

  private pushChildren(id: number, e: Ref, out: Ref[]): void {
    const b = this.b;
    const fields = this.childFields(id);
    if (fields.length === 0) return;
    const info = b.getExpressionInfo(e) as unknown as Record<string, unknown>;
    for (const f of fields) {
      const v = info[f];
      if (Array.isArray(v)) for (const c of v) out.push(c as number);
      else if (typeof v === 'number' && v !== 0) out.push(v);
    }
  }

  private fieldCache = new Map<number, readonly string[]>();
  private childFields(id: number): readonly string[] {
    let f = this.fieldCache.get(id);
    if (f) return f;
    f = CHILD_FIELDS.find(([name]) => this.ids[name] === id)?.[1] ?? [];
    this.fieldCache.set(id, f);
    return f;
  }
}

// Which fields of binaryen.getExpressionInfo(...) hold child expressions, per expression kind.
// Kinds not listed (GC, strings, stack switching) are treated as leaves.
const CHILD_FIELDS: [string, readonly string[]][] = [
  ['BlockId', ['children']],
  ['IfId', ['condition', 'ifTrue', 'ifFalse']],
  ['BreakId', ['condition', 'value']],
  ['SwitchId', ['condition', 'value']],
  ['CallId', ['operands']],
  ['CallIndirectId', ['target', 'operands']],
  ['CallRefId', ['target', 'operands']],
  ['LocalSetId', ['value']],
  ['GlobalSetId', ['value']],
  ['LoadId', ['ptr']],
  ['StoreId', ['ptr', 'value']],
  ['UnaryId', ['value']],
  ['BinaryId', ['left', 'right']],
  ['SelectId', ['ifTrue', 'ifFalse', 'condition']],
  ['DropId', ['value']],
  ['ReturnId', ['value']],
  ['MemoryGrowId', ['delta']],
  ['AtomicRMWId', ['ptr', 'value']],
  ['AtomicCmpxchgId', ['ptr', 'expected', 'replacement']],
  ['AtomicWaitId', ['ptr', 'expected', 'timeout']],
  ['AtomicNotifyId', ['ptr', 'notifyCount']],
  ['SIMDExtractId', ['vec']],
  ['SIMDReplaceId', ['vec', 'value']],
  ['SIMDShuffleId', ['left', 'right']],
  ['SIMDTernaryId', ['a', 'b', 'c']],
  ['SIMDShiftId', ['vec', 'shift']],
  ['SIMDLoadId', ['ptr']],
  ['SIMDLoadStoreLaneId', ['ptr', 'vec']],
  ['MemoryInitId', ['dest', 'offset', 'size']],
  ['MemoryCopyId', ['dest', 'source', 'size']],
  ['MemoryFillId', ['dest', 'value', 'size']],
  ['RefIsNullId', ['value']],
  ['RefAsId', ['value']],
  ['RefEqId', ['left', 'right']],
  ['TableGetId', ['index']],
  ['TableSetId', ['index', 'value']],
  ['TableGrowId', ['value', 'delta']],
  ['TryId', ['body', 'catchBodies']],
  ['ThrowId', ['operands']],
  ['TupleMakeId', ['operands']],
  ['TupleExtractId', ['tuple']],
  ['RefI31Id', ['value']],
  ['I31GetId', ['i31']],
];
