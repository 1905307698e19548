// M:N prototype measurements: many guests per thread, a guest that blocks is suspended (not its
// thread). Standalone: it uses ww's instrumentation pass, WASI host and host-call bridge as they are,
// and changes nothing in the runtime. Findings and how to read the figures: docs/mn-findings.md.
//
//   npx tsc -p . && node dist/bench/mn.js [--quick] [--go] [PART...]      (or: npm run bench -- mn)
//   parts: support size mem chain roundtrip cpu pause depth (default: all)
//
// Mechanisms, where the Node version has them (the `support` line says which):
//  - asyncify-shared:   binaryen's asyncify pass (after ww's instrumentation), its data in a secondary
//                       memory that is *imported*: one scratch memory per thread, shared by every guest
//                       of that thread; a suspended guest's unwound frames are copied out to a JS buffer
//                       (needs multi-memory: Node 22+).
//  - asyncify-own:      the same, but binaryen's default: one secondary memory per instance.
//  - asyncify-borrowed: asyncify's data in the guest's own memory, in a region whose bytes the host
//                       saves before the unwind and puts back right after (and again around the
//                       rewind): no second memory, works on Node 20.
//  - jspi:              JS promise integration, no transform: WebAssembly.Suspending imports and
//                       WebAssembly.promising(_start) (Node 24, on by default).
//  - jspi-old:          the pre-2024 JSPI API (WebAssembly.Function with suspending/promising 'first'
//                       and a suspender externref the module threads through a global: a small binaryen
//                       transform here), enabled by v8.setFlagsFromString before the worker starts
//                       (Node 20: --experimental-wasm-stack-switching, Node 22: --experimental-wasm-jspi).
//  - baseline:          today's design: one worker thread per live guest, blocked in Atomics.wait
//                       (the real Runtime, N sleeping processes).
// Every measurement runs in a fresh child process of this same node binary (so RSS deltas are its
// own), and every M:N guest runs inside ONE worker thread of that child. Output: JSON lines.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { Worker, isMainThread, parentPort, workerData, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { setFlagsFromString, getHeapStatistics } from 'node:v8';
import binaryen from 'binaryen';
import { instrument } from '../src/wasm/instrument.js';
import { WasiHost, WasiExit } from '../src/wasm/wasi/index.js';
import { Wasm, type WasmInstance, type WasmMemory, type WasmModule } from '../src/wasm/webassembly.js';
import { createHostCall } from '../src/wasm/host-call.js';
import { CONTROL_BYTES, CONTROL_WORDS, CTL_CALL, type FromWorker } from '../src/wasm/protocol.js';
import { Runtime } from '../src/wasm/index.js';
import { assemble, repoRoot } from '../fixtures/wat.js';

// ---- what this Node has ------------------------------------------------------------------------

type Mechanism = 'asyncify-shared' | 'asyncify-own' | 'asyncify-borrowed' | 'jspi' | 'jspi-old';
type Bench = Record<string, unknown>;
const emit = (o: Bench): void => console.log(JSON.stringify(o));
const major = Number(process.versions.node.split('.')[0]);
/** The V8 flag that turns on the old JSPI API on this Node, if any (checked in `support`). */
const OLD_JSPI_FLAG = major === 20 ? '--experimental-wasm-stack-switching' : major === 22 ? '--experimental-wasm-jspi' : undefined;

// The parts of the WebAssembly global this file uses beyond webassembly.ts's typed ones.
interface JspiApi {
  Suspending?: new (fn: (...a: never[]) => unknown) => unknown;
  promising?: (fn: unknown) => (...a: unknown[]) => Promise<unknown>;
  Suspender?: unknown;
  Function?: new (type: { parameters: string[]; results: string[] }, fn: unknown, opts?: { suspending?: 'first'; promising?: 'first' }) => (...a: unknown[]) => unknown;
}
const WA = (globalThis as unknown as { WebAssembly: JspiApi }).WebAssembly;

function multiMemory(): boolean {
  // (module (memory 1) (memory 1))
  try {
    new Wasm.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 5, 2, 0, 1, 0, 1]));
    return true;
  } catch {
    return false;
  }
}

/** Mechanisms usable in this thread (in a worker started after the old-JSPI flag was set, jspi-old too).
 *  Node 20's old JSPI (V8 11.3) segfaults once a function that ran on a suspendable stack tiers up
 *  (Liftoff to TurboFan; fine with --liftoff-only or --no-liftoff): left out unless WW_MN_NODE20_JSPI=1. */
function mechanisms(): Mechanism[] {
  const m: Mechanism[] = [];
  if (multiMemory()) m.push('asyncify-shared', 'asyncify-own');
  m.push('asyncify-borrowed');
  if (typeof WA.Suspending === 'function' && typeof WA.promising === 'function') m.push('jspi');
  else if (typeof WA.Suspender === 'function' && typeof WA.Function === 'function' && (major !== 20 || process.env.WW_MN_NODE20_JSPI === '1')) m.push('jspi-old');
  return m;
}

// ---- guests ------------------------------------------------------------------------------------

// The sleeper: 1 page of memory, three frames deep when it blocks (_start -> $run -> $nap ->
// poll_oneoff), a few live locals in each. It sleeps `count` times (i32 at 512, written by the host
// before _start) for `ns` nanoseconds each (i64 at 520), then exits with 0.
const SLEEPER_WAT = `(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $nap (param $ns i64) (param $k i32) (result i32)
    (local $r i32)
    (i64.store (i32.const 0) (i64.extend_i32_u (local.get $k)))   ;; userdata
    (i32.store8 (i32.const 8) (i32.const 0))                       ;; tag: clock
    (i32.store (i32.const 16) (i32.const 1))                       ;; monotonic
    (i64.store (i32.const 24) (local.get $ns))                     ;; relative timeout
    (i64.store (i32.const 32) (i64.const 0))
    (i32.store16 (i32.const 40) (i32.const 0))
    (local.set $r (call $poll (i32.const 0) (i32.const 128) (i32.const 1) (i32.const 256)))
    (i32.add (local.get $r) (i32.load (i32.const 256))))          ;; errno + nevents (1)
  (func $run (param $count i32) (param $ns i64) (result i32)
    (local $i i32) (local $sum i32)
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $sum (i32.add (local.get $sum) (call $nap (local.get $ns) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
    (local.get $sum))
  (func $main (export "_start")
    (local $sum i32)
    (local.set $sum (call $run (i32.load (i32.const 512)) (i64.load (i32.const 520))))
    ;; every nap returned errno 0 and one event: exit 0 if sum == count
    (call $exit (i32.ne (local.get $sum) (i32.load (i32.const 512))))))`;

// The chain: a process of depth d > 0 spawns one of depth d-1 and waits for it, then exits with
// (child's code + 1) & 255. Depth at 512. The ww imports keep the ABI's names and arities; their
// meaning here is this benchmark's host (spawn's first argument is the child's depth).
const CHAIN_WAT = `(module
  (import "ww" "spawn" (func $spawn (param i32 i32 i32 i32) (result i32)))
  (import "ww" "proc_wait" (func $wait (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $main (export "_start")
    (local $depth i32)
    (local.set $depth (i32.load (i32.const 512)))
    (if (i32.eqz (local.get $depth)) (then (call $exit (i32.const 0))))
    (drop (call $spawn (i32.sub (local.get $depth) (i32.const 1)) (i32.const 0) (i32.const 0) (i32.const 600)))
    (drop (call $wait (i32.load (i32.const 600)) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 604)))
    (call $exit (i32.and (i32.add (i32.load (i32.const 604)) (i32.const 1)) (i32.const 255)))))`;

// Today's sleeper for the baseline (the runtime cannot write the sleeper's inputs): one hour.
const HOUR_SLEEP_WAT = `(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (drop (call $poll (i32.const 0) (i32.const 128) (i32.const 1) (i32.const 256)))))`;

// Compute guests for the transform's CPU cost: fib through direct calls, and through call_indirect
// (asyncify must assume an indirect call may suspend, unless told otherwise: the worst case for C++
// virtual calls, Go, and any C that calls through function pointers).
const fibWat = (indirect: boolean): string => `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (type $ft (func (param i32) (result i32)))
  (table 1 funcref) (elem (i32.const 0) $fib)
  (memory (export "memory") 1)
  (func $fib (type $ft) (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2)) (then (local.get $n))
      (else (i32.add
        ${indirect ? '(call_indirect (type $ft) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))' : '(call $fib (i32.sub (local.get $n) (i32.const 1)))'}
        ${indirect ? '(call_indirect (type $ft) (i32.sub (local.get $n) (i32.const 2)) (i32.const 0))' : '(call $fib (i32.sub (local.get $n) (i32.const 2)))'}))))
  (func (export "_start") (i32.store (i32.const 0) (call $fib (i32.load (i32.const 512)))) (call $exit (i32.const 0))))`;

/** The imports that block, and so may suspend: WASI's waits and the ww calls that wait. */
export const BLOCKING_IMPORTS = [
  'wasi_snapshot_preview1.poll_oneoff',
  'wasi_snapshot_preview1.fd_read',
  'ww.proc_wait',
  'ww.monitor_wait',
  'ww.chan_recv',
  'ww.chan_send',
  'ww.event_poll',
];
const TICK_IMPORT = 'ww_meter.tick';

// ---- transforms --------------------------------------------------------------------------------

/** The proposals ww's instrumentation emits (instrument.ts v8Features), plus multi-memory when asked. */
function features(b: typeof binaryen, multi: boolean): number {
  const f = b.Features;
  return (
    f.Atomics | f.MutableGlobals | f.NontrappingFPToInt | f.SIMD128 | f.BulkMemory | f.BulkMemoryOpt | f.SignExt |
    f.ExceptionHandling | f.ReferenceTypes | f.Multivalue | (multi ? f.MultiMemory : 0)
  );
}

/** Pages of the scratch memory (shared variant) or of the per-instance one (own variant). */
const SCRATCH_PAGES = 16;
/** Bytes of guest memory the borrowed variant lends to asyncify (its bytes saved and put back). */
const BORROWED_BYTES = 4096;
export const SCRATCH_FIELD = { module: 'ww_async', name: 'scratch' };

interface Prepared {
  bytes: Uint8Array;
  ms: number;
}

/** ww's instrumentation, then the mechanism's transform. `withTick`: ww_meter.tick may suspend too (pause). */
export function prepare(raw: Uint8Array, mech: Mechanism | 'plain', withTick = false): Prepared {
  const inst = instrument(binaryen, raw);
  const t0 = performance.now();
  if (mech === 'plain' || mech === 'jspi') return { bytes: inst, ms: 0 };
  if (mech === 'jspi-old') return { bytes: jspiOldTransform(inst, withTick), ms: performance.now() - t0 };
  binaryen.setDebugInfo(true);
  const mod = binaryen.readBinary(inst);
  try {
    const secondary = mech !== 'asyncify-borrowed';
    mod.setFeatures(features(binaryen, secondary));
    binaryen.setOptimizeLevel(2);
    binaryen.setShrinkLevel(0);
    binaryen.setPassArgument('asyncify-imports', [...BLOCKING_IMPORTS, ...(withTick ? [TICK_IMPORT] : [])].join(','));
    binaryen.setPassArgument('asyncify-in-secondary-memory', secondary ? 'true' : null);
    binaryen.setPassArgument('asyncify-secondary-memory-size', secondary ? String(SCRATCH_PAGES) : null);
    mod.runPasses(['asyncify']);
    binaryen.setPassArgument('asyncify-in-secondary-memory', null);
    binaryen.setPassArgument('asyncify-secondary-memory-size', null);
    if (secondary) {
      const name = 'asyncify_memory'; // the name binaryen gives the memory it adds
      if (!mod.getMemoryInfo(name)) throw new Error('asyncify added no secondary memory');
      if (mech === 'asyncify-shared') mod.addMemoryImport(name, SCRATCH_FIELD.module, SCRATCH_FIELD.name);
      else mod.addMemoryExport(name, '__asyncify_memory');
    }
    if (!mod.validate()) throw new Error('asyncify output does not validate');
    return { bytes: mod.emitBinary(), ms: performance.now() - t0 };
  } finally {
    mod.dispose();
  }
}

const SUSPENDER = '__ww_suspender';
/** jspi-old: a transformed import's name gets this suffix (its first parameter is the suspender). */
const SUSPENDING_SUFFIX = '$suspending';
/** The old JSPI API wants a suspender (externref) as the first parameter of each suspending import
 *  and promising export: a global holds it, set by a new export that wraps _start; each blocking
 *  import becomes a function calling an import of the same name that takes the suspender first. */
function jspiOldTransform(bytes: Uint8Array, withTick: boolean): Uint8Array {
  const b = binaryen;
  b.setDebugInfo(true);
  const mod = b.readBinary(bytes);
  try {
    mod.setFeatures(features(b, false));
    const blocking = new Set([...BLOCKING_IMPORTS, ...(withTick ? [TICK_IMPORT] : [])]);
    mod.addGlobal(SUSPENDER, b.externref, true, mod.ref.null(b.externref));
    const found: binaryen.FunctionInfo[] = [];
    for (let i = 0; i < mod.getNumFunctions(); i++) {
      const info = b.getFunctionInfo(mod.getFunctionByIndex(i));
      if (info.module && blocking.has(`${info.module}.${info.base}`)) found.push(info);
    }
    for (const info of found) {
      const params = b.expandType(info.params);
      const inner = `${info.name}$suspending`;
      mod.removeFunction(info.name);
      mod.addFunctionImport(inner, info.module!, `${info.base!}${SUSPENDING_SUFFIX}`, b.createType([b.externref, ...params]), info.results);
      const args = [mod.global.get(SUSPENDER, b.externref), ...params.map((t, i) => mod.local.get(i, t))];
      mod.addFunction(info.name, info.params, info.results, [], mod.call(inner, args, info.results));
    }
    const start = b.getExportInfo(mod.getExport('_start')).value;
    mod.addFunction('__ww_start_promising', b.createType([b.externref]), b.none, [], mod.block(null, [mod.global.set(SUSPENDER, mod.local.get(0, b.externref)), mod.call(start, [], b.none)]));
    mod.addFunctionExport('__ww_start_promising', '__ww_start_promising');
    if (!mod.validate()) throw new Error('jspi-old output does not validate');
    return mod.emitBinary();
  } finally {
    mod.dispose();
  }
}

// ---- running suspendable guests in one thread --------------------------------------------------

/** A blocking import: answers now (a number) or later (a promise of one). */
type Blocking = (...args: number[]) => number | Promise<number>;

/** One thread's state for asyncify-shared: the scratch memory every guest of the thread unwinds into. */
let sharedScratch: WasmMemory | undefined;
const scratchMemory = (): WasmMemory => (sharedScratch ??= new Wasm.Memory({ initial: SCRATCH_PAGES, maximum: SCRATCH_PAGES }));

interface AsyncifyExports {
  _start(): void;
  asyncify_start_unwind(p: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(p: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
  memory?: WasmMemory;
  __asyncify_memory?: WasmMemory;
}

/** A guest that can be suspended in its blocking imports, whatever the mechanism. */
export interface Guest {
  /** Runs _start to its end (suspending as often as it blocks); resolves with the exit code. */
  run(): Promise<number>;
  memory(): WasmMemory;
  exports(): Record<string, unknown>;
  /** Bytes kept for this guest while it is suspended, beyond its instance (asyncify: the saved frames). */
  savedBytes(): number;
}

/** Instantiates `module` under `mech`; `imports` are the plain ones, `blocking` those that may suspend
 *  (by "module.name"). `init` runs after instantiation, before _start (writes the guest's inputs). */
export function makeGuest(
  mech: Mechanism,
  module: WasmModule,
  imports: Record<string, Record<string, unknown>>,
  blocking: Record<string, Blocking>,
  init: (memory: WasmMemory) => void,
): Guest {
  if (mech === 'jspi' || mech === 'jspi-old') return jspiGuest(mech, module, imports, blocking, init);
  return asyncifyGuest(mech, module, imports, blocking, init);
}

function withImports(imports: Record<string, Record<string, unknown>>, wrapped: Record<string, unknown>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [m, fields] of Object.entries(imports)) out[m] = { ...fields };
  for (const [key, fn] of Object.entries(wrapped)) {
    const dot = key.indexOf('.');
    (out[key.slice(0, dot)] ??= {})[key.slice(dot + 1)] = fn;
  }
  return out;
}

function asyncifyGuest(
  mech: Mechanism,
  module: WasmModule,
  imports: Record<string, Record<string, unknown>>,
  blocking: Record<string, Blocking>,
  init: (memory: WasmMemory) => void,
): Guest {
  let ex: AsyncifyExports;
  let pending: Promise<number> | undefined;
  let answer = 0;
  let saved: Uint8Array | undefined; // the unwound frames while suspended
  let lent: Uint8Array | undefined; // borrowed: the guest's own bytes under the region
  // Where asyncify's data lives: [ptr, ptr+4) current, [ptr+4, ptr+8) end, then the frames.
  const DATA = 0;
  const area = (): Uint8Array => {
    if (mech === 'asyncify-shared') return new Uint8Array(scratchMemory().buffer);
    if (mech === 'asyncify-own') return new Uint8Array(ex.__asyncify_memory!.buffer);
    return new Uint8Array(ex.memory!.buffer, 0, BORROWED_BYTES);
  };
  const setBounds = (a: Uint8Array, current: number): void => {
    const v = new DataView(a.buffer, a.byteOffset, 8);
    v.setUint32(0, DATA + current, true);
    v.setUint32(4, DATA + a.length, true);
  };
  const wrapped: Record<string, unknown> = {};
  for (const [key, fn] of Object.entries(blocking)) {
    wrapped[key] = (...args: number[]): number => {
      if (ex.asyncify_get_state() === 2) {
        // Rewinding: the guest is back where it called us; this call's answer is the awaited one.
        ex.asyncify_stop_rewind();
        if (lent) {
          area().set(lent);
          lent = undefined;
        }
        return answer;
      }
      const r = fn(...args);
      if (typeof r === 'number') return r;
      pending = r;
      const a = area();
      if (mech === 'asyncify-borrowed') lent = a.slice();
      setBounds(a, 8);
      ex.asyncify_start_unwind(DATA);
      return 0; // ignored: the guest unwinds
    };
  }
  const inst = new Wasm.Instance(module, withImports(mech === 'asyncify-shared' ? { ...imports, [SCRATCH_FIELD.module]: { [SCRATCH_FIELD.name]: scratchMemory() } } : imports, wrapped));
  ex = inst.exports as unknown as AsyncifyExports;
  init(ex.memory!);
  return {
    memory: () => ex.memory!,
    exports: () => inst.exports,
    savedBytes: () => saved?.byteLength ?? 0,
    async run(): Promise<number> {
      for (;;) {
        try {
          ex._start();
        } catch (e) {
          if (e instanceof WasiExit) return e.code;
          throw e;
        }
        if (ex.asyncify_get_state() !== 1) return 0; // _start returned
        ex.asyncify_stop_unwind();
        const a = area();
        const used = new DataView(a.buffer, a.byteOffset, 4).getUint32(0, true) - DATA;
        saved = a.slice(8, used); // only the frames this guest unwound
        if (lent) {
          a.set(lent);
          lent = undefined;
        }
        const p = pending!;
        pending = undefined;
        answer = await p;
        const b = area();
        if (mech === 'asyncify-borrowed') lent = b.slice();
        b.set(saved, 8);
        setBounds(b, 8 + saved.length); // the rewind pops frames from the top down
        saved = undefined;
        ex.asyncify_start_rewind(DATA);
      }
    },
  };
}

function jspiGuest(
  mech: 'jspi' | 'jspi-old',
  module: WasmModule,
  imports: Record<string, Record<string, unknown>>,
  blocking: Record<string, Blocking>,
  init: (memory: WasmMemory) => void,
): Guest {
  const wrapped: Record<string, unknown> = {};
  for (const imp of Wasm.Module.imports(module)) {
    if (mech === 'jspi') {
      const fn = blocking[`${imp.module}.${imp.name}`];
      if (fn) wrapped[`${imp.module}.${imp.name}`] = new WA.Suspending!(fn as (...a: never[]) => unknown);
    } else if (imp.name.endsWith(SUSPENDING_SUFFIX)) {
      const key = `${imp.module}.${imp.name.slice(0, -SUSPENDING_SUFFIX.length)}`;
      const fn = blocking[key];
      if (fn) {
        // (every blocking import of ww's and WASI's takes i32s and returns an i32)
        // (the type the import declares, where V8 reflects it; else the function's arity)
        const declared = (imp as { type?: { parameters: string[] } }).type?.parameters;
        const type = { parameters: declared ?? ['externref', ...Array<string>(fn.length).fill('i32')], results: ['i32'] };
        // (the wrapper takes the suspender off before it calls fn)
        wrapped[`${imp.module}.${imp.name}`] = new WA.Function!(type, fn, { suspending: 'first' });
      } else {
        // A blocking import this run answers at once: the plain one, without the suspender.
        const plain = imports[imp.module]?.[imp.name.slice(0, -SUSPENDING_SUFFIX.length)] as ((...a: unknown[]) => unknown) | undefined;
        wrapped[`${imp.module}.${imp.name}`] = (_suspender: unknown, ...args: unknown[]) => plain!(...args);
      }
    }
  }
  const inst = new Wasm.Instance(module, withImports(imports, wrapped));
  const ex = inst.exports as unknown as { _start: () => void; __ww_start_promising?: unknown; memory: WasmMemory };
  init(ex.memory);
  const start =
    mech === 'jspi'
      ? WA.promising!(ex._start)
      : (new WA.Function!({ parameters: [], results: ['externref'] }, ex.__ww_start_promising, { promising: 'first' }) as () => Promise<unknown>);
  return {
    memory: () => ex.memory,
    exports: () => inst.exports,
    savedBytes: () => 0,
    async run(): Promise<number> {
      try {
        await start();
        return 0;
      } catch (e) {
        if (e instanceof WasiExit) return e.code;
        throw e;
      }
    },
  };
}

// ---- a suspending poll_oneoff and the sleeper's host --------------------------------------------

/** How a suspended sleeper is woken. */
type WakeMode = { kind: 'hold'; wakers: (() => void)[]; killers?: ((e: Error) => void)[] } | { kind: 'now' } | { kind: 'main'; ask: () => Promise<void> };

/** poll_oneoff for clock subscriptions only (the sleeper's): writes the one event, then answers after
 *  the wake (mode). The real host would compute readiness (poll.ts) and suspend only when none is. */
function sleepPoll(memory: () => WasmMemory, wake: WakeMode): Blocking {
  return (inPtr: number, outPtr: number, n: number, neventsPtr: number) => {
    const v = new DataView(memory().buffer);
    const userdata = v.getBigUint64(inPtr, true);
    v.setBigUint64(outPtr, userdata, true);
    v.setUint16(outPtr + 8, 0, true);
    v.setUint8(outPtr + 10, 0);
    v.setUint32(neventsPtr, n > 0 ? 1 : 0, true);
    if (wake.kind === 'now') return Promise.resolve(0);
    if (wake.kind === 'main') return wake.ask().then(() => 0);
    return new Promise<number>((resolve, reject) => {
      wake.wakers.push(() => resolve(0));
      wake.killers?.push(reject);
    });
  };
}

const meterImports = (memory?: WasmMemory): Record<string, unknown> => ({ tick: () => 100_000, grow: (d: number) => d, ...(memory ? { memory } : {}) });

/** A sleeper guest with ww's host pieces as a process would have them: a WasiHost (fd table, args,
 *  env) per guest, the meter's imports and its own 1-page memory (imported, as ww instruments it). */
function sleeper(mech: Mechanism, module: WasmModule, count: number, ns: bigint, wake: WakeMode): Guest {
  const host = new WasiHost({ args: ['sleeper'], env: [], preopens: [], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
  const memory = new Wasm.Memory({ initial: 1, maximum: 1 }) as WasmMemory;
  host.setMemory(memory);
  const imports = { ...host.imports, ww_meter: meterImports(memory) } as Record<string, Record<string, unknown>>;
  return makeGuest(mech, module, imports, { 'wasi_snapshot_preview1.poll_oneoff': sleepPoll(() => memory, wake) }, (m) => {
    const v = new DataView(m.buffer);
    v.setUint32(512, count, true);
    v.setBigUint64(520, ns, true);
  });
}

// ---- worker-side scenarios -----------------------------------------------------------------------

const gc = (): void => (globalThis as unknown as { gc?: () => void }).gc?.();
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
};
const rss = (): number => process.memoryUsage.rss();
const heap = (): number => getHeapStatistics().used_heap_size;
const ROUNDS = 5;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Memory of N guests suspended in a sleep, all in this thread; then wakes them all and times it. */
async function memScenario(mech: Mechanism, n: number): Promise<Bench> {
  const module = new Wasm.Module(prepare(await assemble(SLEEPER_WAT), mech).bytes);
  // Warm: one guest through a sleep and out, so compiled code and the host's lazy state exist.
  const warm = { kind: 'hold', wakers: [] } as WakeMode & { kind: 'hold' };
  const w = sleeper(mech, module, 1, 0n, warm).run();
  await Promise.resolve();
  warm.wakers.splice(0).forEach((f) => f());
  await w;
  await settle();
  const rss0 = rss();
  const heap0 = heap();
  const wake = { kind: 'hold', wakers: [] } as WakeMode & { kind: 'hold' };
  const guests: Guest[] = [];
  const runs: Promise<number>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const g = sleeper(mech, module, 1, 3_600_000_000_000n, wake);
    guests.push(g);
    runs.push(g.run());
  }
  const spawnMs = performance.now() - t0;
  while (wake.wakers.length < n) await new Promise((r) => setImmediate(r));
  await settle();
  const rss1 = rss();
  const heap1 = heap();
  const saved = guests.reduce((s, g) => s + g.savedBytes(), 0) / n;
  // A full collection with every guest suspended (JSPI: V8 walks each suspended stack).
  const gcTimes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const g0 = performance.now();
    gc();
    gcTimes.push(performance.now() - g0);
  }
  const t1 = performance.now();
  wake.wakers.splice(0).forEach((f) => f());
  const codes = await Promise.all(runs);
  const wakeMs = performance.now() - t1;
  // Kill as M:N would do it: N more suspended guests, either dropped without resuming (no reference
  // kept), or ended by rejecting their pending call (the guest unwinds with an exception).
  guests.length = 0;
  runs.length = 0;
  const killed: Bench = {};
  for (const how of ['rejected', 'dropped'] as const) { // (dropped last: under JSPI they are never freed)
    await settle();
    const rssA = rss();
    const heapA = heap();
    const hold = { kind: 'hold', wakers: [], killers: [] } as { kind: 'hold'; wakers: (() => void)[]; killers: ((e: Error) => void)[] };
    const ended: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) ended.push(sleeper(mech, module, 1, 3_600_000_000_000n, hold).run().catch(() => 'killed'));
    while (hold.wakers.length < n) await new Promise((r) => setImmediate(r));
    await settle();
    const heapHeld = heap();
    if (how === 'rejected') {
      hold.killers.forEach((k) => k(new Error('killed')));
      await Promise.all(ended);
    }
    hold.wakers.length = 0;
    hold.killers.length = 0;
    ended.length = 0;
    await settle();
    await settle();
    killed[how] = { heap_held_per_guest_bytes: Math.round((heapHeld - heapA) / n), heap_left_per_guest_bytes: Math.round((heap() - heapA) / n), rss_left_per_guest_bytes: Math.round((rss() - rssA) / n) };
  }
  return {
    kill_then_gc: killed,
    gc_ms_all_suspended: +median(gcTimes).toFixed(1),
    suspended: n,
    all_exit_0: codes.every((c) => c === 0),
    rss_per_guest_bytes: Math.round((rss1 - rss0) / n),
    heap_per_guest_bytes: Math.round((heap1 - heap0) / n),
    linear_memory_declared_bytes: 65536,
    saved_frames_bytes: Math.round(saved),
    start_and_suspend_us_per_guest: +((spawnMs * 1000) / n).toFixed(1),
    wake_all_to_exit_us_per_guest: +((wakeMs * 1000) / n).toFixed(1),
  };
}

/** A chain of `depth` processes, each waiting for its child (ww.spawn + ww.proc_wait), in this thread. */
async function chainScenario(mech: Mechanism, depth: number): Promise<Bench> {
  const module = new Wasm.Module(prepare(await assemble(CHAIN_WAT), mech).bytes);
  const rss0 = rss();
  let live = 0;
  let peak = 0;
  let peakRss = rss0;
  const exits = new Map<number, Promise<number>>();
  let nextHandle = 1;
  const start = (d: number): Promise<number> => {
    const host = new WasiHost({ args: ['chain'], env: [], preopens: [], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
    const memory = new Wasm.Memory({ initial: 1, maximum: 1 }) as WasmMemory;
    host.setMemory(memory);
    const view = (): DataView => new DataView(memory.buffer);
    const ww = {
      spawn: (childDepth: number, _a: number, _b: number, out: number): number => {
        const h = nextHandle++;
        // The child starts on a later turn, as a spawn answered by the main thread would.
        exits.set(h, new Promise((r) => setImmediate(r)).then(() => start(childDepth)));
        view().setUint32(out, h, true);
        return 0;
      },
    };
    const blocking: Record<string, Blocking> = {
      'ww.proc_wait': (h: number, _a: number, _b: number, _c: number, _d: number, codePtr: number) =>
        exits.get(h)!.then((code) => {
          view().setUint32(codePtr, code, true);
          return 0;
        }),
    };
    const g = makeGuest(mech, module, { ...host.imports, ww, ww_meter: meterImports(memory) }, blocking, (m) => new DataView(m.buffer).setUint32(512, d, true));
    live++;
    if (live > peak) {
      peak = live;
      if (peak % 250 === 0) peakRss = Math.max(peakRss, rss());
    }
    return g.run().finally(() => live--);
  };
  const t0 = performance.now();
  const code = await start(depth);
  const ms = performance.now() - t0;
  peakRss = Math.max(peakRss, rss());
  return { depth, completed: code === depth % 256, exit_code: code, peak_live: peak, ms: Math.round(ms), us_per_process: +((ms * 1000) / depth).toFixed(1), peak_rss_delta_per_process_bytes: Math.round((peakRss - rss0) / depth) };
}

/** Suspend + resume per blocking call: resumed at once (mechanism only), and resumed by an answer
 *  from the main thread (what an M:N host call costs). */
async function roundtripScenario(mech: Mechanism, calls: number, port: MessagePort): Promise<Bench[]> {
  const module = new Wasm.Module(prepare(await assemble(SLEEPER_WAT), mech).bytes);
  const out: Bench[] = [];
  // via the main thread: suspend, post a message, the main thread answers, resume on that message.
  let seq = 0;
  const waiting = new Map<number, () => void>();
  port.on('message', (id: number) => {
    waiting.get(id)!();
    waiting.delete(id);
  });
  const ask = (): Promise<void> =>
    new Promise((resolve) => {
      const id = ++seq;
      waiting.set(id, resolve);
      port.postMessage(id);
    });
  const modes: { what: string; wake: WakeMode }[] = [
    // each poll_oneoff suspends and is resumed from a resolved promise (a microtask): the mechanism alone
    { what: 'suspend+resume, resumed by a microtask, in-thread, warm', wake: { kind: 'now' } },
    { what: 'suspend + ask the main thread + resume on its answer, in-worker, warm', wake: { kind: 'main', ask } },
  ];
  const per = Math.max(1, Math.floor(calls / ROUNDS));
  const times = modes.map(() => [] as number[]);
  // Interleaved rounds (the first warms up): machine noise spreads over both modes.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [i, mode] of modes.entries()) {
      const t0 = performance.now();
      const code = await sleeper(mech, module, per, 0n, mode.wake).run();
      if (code !== 0) throw new Error(`sleeper exited ${code}`);
      if (round > 0) times[i]!.push(((performance.now() - t0) * 1000) / per);
    }
  }
  for (const [i, mode] of modes.entries()) out.push({ what: mode.what, calls: per * ROUNDS, us_per_call_median: +median(times[i]!).toFixed(2), us_per_call_min: +Math.min(...times[i]!).toFixed(2), rounds: ROUNDS });
  port.removeAllListeners('message');
  return out;
}

/** Today's bridge for comparison: the same main thread, answered through host-call.ts (worker blocks in Atomics.wait). */
function roundtripBaseline(calls: number, ctlBuffer: SharedArrayBuffer, callPort: MessagePort, notify: MessagePort): Bench {
  const ctl = new Int32Array(ctlBuffer, 0, CONTROL_WORDS);
  const call = createHostCall(ctl, callPort, (msg: FromWorker) => notify.postMessage(msg), 1);
  for (let i = 0; i < 1000; i++) call('bench.ping');
  const per = Math.max(1, Math.floor(calls / ROUNDS));
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    for (let i = 0; i < per; i++) call('bench.ping');
    times.push(((performance.now() - t0) * 1000) / per);
  }
  return { what: 'today: host call via host-call.ts (Atomics.wait until the main thread answers), in-worker, warm', calls: per * ROUNDS, us_per_call_median: +median(times).toFixed(2), us_per_call_min: +Math.min(...times).toFixed(2), rounds: ROUNDS };
}

/** CPU cost of the transform: the same compute guest, ww-instrumented, with and without the mechanism. */
async function cpuScenario(mechs: Mechanism[], quick: boolean): Promise<Bench[]> {
  const cpuLoop = readFileSync(join(repoRoot(), 'examples', 'cpu-loop', 'cpu-loop.wasm'));
  const guests: { name: string; raw: Uint8Array; args: string[]; input?: number }[] = [
    { name: 'cpu-loop.wasm (C: LCG + xorshift loop, printf at the end)', raw: cpuLoop, args: ['cpu-loop', quick ? '20000000' : '100000000'] },
    { name: `fib(${quick ? 30 : 32}) via direct calls (WAT)`, raw: await assemble(fibWat(false)), args: ['fib'], input: quick ? 30 : 32 },
    { name: `fib(${quick ? 30 : 32}) via call_indirect (WAT)`, raw: await assemble(fibWat(true)), args: ['fib'], input: quick ? 30 : 32 },
  ];
  const variants: { label: string; mech: Mechanism | 'plain'; tick: boolean }[] = [{ label: 'plain', mech: 'plain', tick: false }];
  for (const m of mechs) {
    variants.push({ label: m, mech: m, tick: false });
    if (m !== 'asyncify-own') variants.push({ label: `${m}+tick`, mech: m, tick: true });
  }
  const out: Bench[] = [];
  const reps = quick ? 3 : 7;
  for (const g of guests) {
    const compiled = variants.map((v) => ({ v, module: new Wasm.Module(prepare(g.raw, v.mech, v.tick).bytes) }));
    const times = new Map<string, number[]>();
    // Interleaved rounds: each variant once per round, so machine noise spreads over all of them.
    for (let round = -1; round <= reps; round++) {
      for (const { v, module } of compiled) {
        const host = new WasiHost({ args: g.args, env: [], preopens: [], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
        const memory = new Wasm.Memory({ initial: 2, maximum: 65536 }) as WasmMemory;
        // cpu-loop.wasm declares its own memory size: instantiate with the one its import asks for.
        const memImport = Wasm.Module.imports(module).find((i) => i.module === 'ww_meter' && i.name === 'memory');
        const mem = memImport ? memoryFor(g.raw, memory) : undefined;
        if (mem) host.setMemory(mem);
        const imports = { ...host.imports, ww_meter: meterImports(mem) } as Record<string, Record<string, unknown>>;
        const pollNever: Blocking = () => 0;
        const tickBlocking: Record<string, Blocking> = v.tick ? { [TICK_IMPORT]: () => 100_000 } : {};
        if (v.tick) delete (imports.ww_meter as Record<string, unknown>).tick;
        const t0 = performance.now();
        let code: number;
        if (v.mech === 'plain') {
          const inst = new Wasm.Instance(module, imports);
          if (g.input !== undefined) new DataView(mem!.buffer).setUint32(512, g.input, true);
          code = host.start(inst);
        } else {
          const guest = makeGuest(v.mech, module, imports, { 'wasi_snapshot_preview1.poll_oneoff': pollNever, ...tickBlocking }, (m) => {
            if (g.input !== undefined) new DataView(m.buffer).setUint32(512, g.input, true);
          });
          code = await guest.run();
        }
        const ms = performance.now() - t0;
        if (code !== 0) throw new Error(`${g.name} under ${v.label} exited ${code}`);
        if (round > 0) times.set(v.label, [...(times.get(v.label) ?? []), ms]); // rounds -1 and 0 warm up (tier-up)
      }
    }
    const base = median(times.get('plain')!);
    const baseMin = Math.min(...times.get('plain')!);
    for (const { v } of compiled) {
      const ms = median(times.get(v.label)!);
      const min = Math.min(...times.get(v.label)!);
      out.push({ guest: g.name, variant: v.label, tick_may_suspend: v.tick, median_ms: +ms.toFixed(1), min_ms: +min.toFixed(1), ratio_to_plain: +(ms / base).toFixed(3), ratio_of_mins: +(min / baseMin).toFixed(3), runs: reps, what: 'in-worker, warm (compiled once, fresh instance per run), ww instrumentation in every variant' });
    }
  }
  return out;
}

/** Pause as a suspension: ww_meter.tick may suspend (it is in the transform's list, or a Suspending
 *  import under JSPI). cpu-loop.wasm runs with a tick that suspends at every call (every 100,000 fuel),
 *  resumed on the next event-loop turn; its output must equal the plain run's. */
async function pauseScenario(mechs: Mechanism[], rounds: string): Promise<Bench[]> {
  const raw = readFileSync(join(repoRoot(), 'examples', 'cpu-loop', 'cpu-loop.wasm'));
  const out: Bench[] = [];
  const runOnce = async (mech: Mechanism | 'plain', module: WasmModule): Promise<{ stdout: string; ms: number; suspensions: number }> => {
    const chunks: Uint8Array[] = [];
    const host = new WasiHost({ args: ['cpu-loop', rounds], env: [], preopens: [], stdin: { kind: 'null' }, stdout: { kind: 'sink', write: (d) => chunks.push(d) }, stderr: { kind: 'null' } });
    const mem = memoryFor(raw, new Wasm.Memory({ initial: 1 }) as WasmMemory);
    host.setMemory(mem);
    const imports = { ...host.imports, ww_meter: meterImports(mem) } as Record<string, Record<string, unknown>>;
    let suspensions = 0;
    const t0 = performance.now();
    let code: number;
    if (mech === 'plain') code = host.start(new Wasm.Instance(module, imports));
    else {
      delete (imports.ww_meter as Record<string, unknown>).tick;
      const tick: Blocking = () => {
        suspensions++;
        return new Promise((r) => setImmediate(() => r(100_000)));
      };
      code = await makeGuest(mech, module, imports, { [TICK_IMPORT]: tick }, () => undefined).run();
    }
    const ms = performance.now() - t0;
    if (code !== 0) throw new Error(`cpu-loop under ${mech} exited ${code}`);
    return { stdout: Buffer.concat(chunks).toString().trim(), ms, suspensions };
  };
  const plainModule = new Wasm.Module(prepare(raw, 'plain').bytes);
  await runOnce('plain', plainModule);
  const plain = await runOnce('plain', plainModule);
  for (const mech of mechs.filter((m) => m !== 'asyncify-own')) {
    const module = new Wasm.Module(prepare(raw, mech, true).bytes);
    await runOnce(mech, module);
    const r = await runOnce(mech, module);
    out.push({
      mechanism: mech,
      what: 'cpu-loop.wasm with a tick that suspends at every call (resumed by setImmediate), in-worker, warm',
      rounds: Number(rounds),
      suspensions: r.suspensions,
      same_output_as_plain: r.stdout === plain.stdout,
      output: r.stdout,
      ms: Math.round(r.ms),
      plain_ms: Math.round(plain.ms),
      us_per_suspension_beyond_plain: +(((r.ms - plain.ms) * 1000) / Math.max(1, r.suspensions)).toFixed(1),
    });
  }
  return out;
}

/** How deep a guest can recurse before "call stack exhausted", plain vs each mechanism (a JSPI guest
 *  runs on its own, smaller stack; asyncify adds locals to each frame). */
async function depthScenario(mechs: Mechanism[]): Promise<Bench[]> {
  const wat = `(module
    (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (global $max (mut i32) (i32.const 0))
    (func $deeper (param $n i32) (result i32)
      (global.set $max (local.get $n))
      (if (i32.eq (local.get $n) (i32.const 10)) (then (drop (call $poll (i32.const 0) (i32.const 128) (i32.const 1) (i32.const 256)))))
      (i32.add (call $deeper (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
    (func (export "max") (result i32) (global.get $max))
    (func (export "_start") (drop (call $deeper (i32.const 0)))))`;
  const raw = await assemble(wat);
  const out: Bench[] = [];
  for (const mech of ['plain' as const, ...mechs]) {
    const module = new Wasm.Module(prepare(raw, mech).bytes);
    const mem = new Wasm.Memory({ initial: 1, maximum: 1 }) as WasmMemory;
    const imports = { wasi_snapshot_preview1: { poll_oneoff: () => 0 }, ww_meter: meterImports(mem) } as Record<string, Record<string, unknown>>;
    let max = 0;
    let message = '';
    if (mech === 'plain') {
      const inst = new Wasm.Instance(module, imports);
      try {
        (inst.exports._start as () => void)();
      } catch (e) {
        message = (e as Error).message;
      }
      max = (inst.exports.max as () => number)();
    } else {
      // the poll at depth 10 suspends once, so the rest runs on a resumed (for JSPI: its own) stack
      let inst: WasmInstance | undefined;
      const g = makeGuest(mech, module, imports, { 'wasi_snapshot_preview1.poll_oneoff': (_a, _b, _c, _d) => Promise.resolve(0) }, () => undefined);
      try {
        await g.run();
      } catch (e) {
        message = (e as Error).message;
      }
      void inst;
      max = (g.exports().max as () => number)();
    }
    out.push({ mechanism: mech, what: 'frames of a one-i32-parameter function before the stack is exhausted, in-worker (the worker default stack, 4 MB)', max_depth: max, error: message.slice(0, 60) });
  }
  return out;
}

/** The memory an instrumented module imports: the size its own declaration asks for. */
function memoryFor(raw: Uint8Array, fallback: WasmMemory): WasmMemory {
  const mod = binaryen.readBinary(raw);
  try {
    const ex = mod.getExport('memory');
    if (!ex) return fallback;
    const info = mod.getMemoryInfo(binaryen.getExportInfo(ex).value);
    return new Wasm.Memory(info.max !== undefined && info.max !== null && info.max < 65536 ? { initial: info.initial, maximum: info.max } : { initial: info.initial }) as WasmMemory;
  } finally {
    mod.dispose();
  }
}

async function workerMain(): Promise<void> {
  const { scenario, mech, n, quick, port, ctl, callPort, notify } = workerData as {
    scenario: string;
    mech: Mechanism;
    n: number;
    quick: boolean;
    port: MessagePort;
    ctl: SharedArrayBuffer;
    callPort: MessagePort;
    notify: MessagePort;
  };
  const send = (o: Bench | Bench[]): void => parentPort!.postMessage(o);
  if (scenario === 'support') send({ worker_mechanisms: mechanisms() });
  else if (scenario === 'mem') send(await memScenario(mech, n));
  else if (scenario === 'chain') send(await chainScenario(mech, n));
  else if (scenario === 'roundtrip') send(await roundtripScenario(mech, n, port));
  else if (scenario === 'roundtrip-baseline') send(roundtripBaseline(n, ctl, callPort, notify));
  else if (scenario === 'cpu') send(await cpuScenario(mechanisms(), quick));
  else if (scenario === 'pause') send(await pauseScenario(mechanisms(), quick ? '20000000' : '100000000'));
  else if (scenario === 'depth') send(await depthScenario(mechanisms()));
  port?.close();
  notify?.close();
  callPort?.close();
}

// ---- child process: one scenario, in one worker -------------------------------------------------

interface ChildSpec {
  scenario: string;
  mech?: Mechanism;
  n?: number;
  quick?: boolean;
}

async function childMain(spec: ChildSpec): Promise<void> {
  // The old JSPI API exists only in isolates created after its flag is set (execArgv refuses it).
  // On Node 20 the flag alone (JSPI unused) makes tiered-up guest code segfault: set only when asked.
  const oldJspi = OLD_JSPI_FLAG !== undefined && (major !== 20 || process.env.WW_MN_NODE20_JSPI === '1');
  if (oldJspi && (spec.mech === 'jspi-old' || ['support', 'cpu', 'pause', 'depth'].includes(spec.scenario))) setFlagsFromString(OLD_JSPI_FLAG);
  if (spec.scenario === 'baseline') return emit(await baselineScenario(spec.n ?? 100));
  const { port1, port2 } = new MessageChannel();
  const { port1: call1, port2: call2 } = new MessageChannel();
  const { port1: note1, port2: note2 } = new MessageChannel();
  const ctlBuffer = new SharedArrayBuffer(CONTROL_BYTES);
  const ctl = new Int32Array(ctlBuffer, 0, CONTROL_WORDS);
  port1.on('message', (id: number) => port1.postMessage(id)); // the main thread's answer to an M:N call
  note1.on('message', () => {
    call1.postMessage({ value: 0 }); // today's bridge: answer on the call port, then wake the worker
    Atomics.store(ctl, CTL_CALL, 1);
    Atomics.notify(ctl, CTL_CALL);
  });
  const w = new Worker(fileURLToPath(import.meta.url), {
    execArgv: [],
    workerData: { role: 'mn-worker', ...spec, port: port2, ctl: ctlBuffer, callPort: call2, notify: note2 },
    transferList: [port2, call2, note2],
  });
  const result = await new Promise<Bench | Bench[]>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  for (const r of Array.isArray(result) ? result : [result]) emit({ ...r });
  await w.terminate();
  port1.close();
  note1.close();
  call1.close();
}

/** Today's design: N sleeping processes through the real Runtime, one worker each. */
async function baselineScenario(n: number): Promise<Bench> {
  const raw = await assemble(HOUR_SLEEP_WAT);
  const rt = await Runtime.create({ poolSize: 1, maxWorkers: n + 1 });
  try {
    const mod = await rt.load(raw);
    // Warm: one short sleep through the runtime (instrumenter started, module compiled and posted).
    const warm = rt.spawn(await rt.load(await assemble(SLEEPER_WAT)), { args: ['s'] }); // count 0: exits at once
    await warm.wait();
    await settle();
    const rss0 = rss();
    const procs = [];
    for (let i = 0; i < n; i++) procs.push(rt.spawn(mod, { args: ['s'] }));
    const t0 = Date.now();
    while (rt.info().busy < n && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 50));
    await settle();
    const rss1 = rss();
    const busy = rt.info().busy;
    for (const p of procs) p.kill();
    return { mechanism: 'baseline', what: 'one worker thread per live guest (the real Runtime), guests blocked in poll_oneoff (Atomics.wait)', suspended: busy, rss_per_guest_bytes: Math.round((rss1 - rss0) / busy), linear_memory_declared_bytes: 65536 };
  } finally {
    await rt.close();
  }
}

// ---- the orchestrator ----------------------------------------------------------------------------

function runChild(spec: ChildSpec, nodeFlags: string[] = []): Promise<Bench[]> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', ...nodeFlags, fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', (code) => {
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Bench);
      if (code !== 0 || lines.length === 0) lines.push({ error: `child exited ${code}`, stderr: err.trim().split('\n').slice(-3).join(' | ') });
      resolve(lines);
    });
  });
}

const PARTS = ['support', 'size', 'mem', 'chain', 'roundtrip', 'cpu', 'pause', 'depth'] as const;

export async function main(argv: string[] = []): Promise<void> {
  const quick = argv.includes('--quick');
  const wanted = argv.filter((a) => !a.startsWith('--'));
  const parts = PARTS.filter((p) => wanted.length === 0 || wanted.includes(p));
  const node = { node: process.version, v8: process.versions.v8 };
  const [support] = await runChild({ scenario: 'support' });
  const mechs = ((support?.worker_mechanisms as Mechanism[] | undefined) ?? []).slice();
  const line = (part: string, o: Bench): void => emit({ bench: `mn-${part}`, ...node, ...o, load_avg_1m: +loadavg()[0]!.toFixed(1) });
  if (parts.includes('support')) {
    line('support', {
      main_thread_mechanisms: mechanisms(),
      worker_mechanisms: mechs,
      multi_memory: multiMemory(),
      jspi_new_api: typeof WA.Suspending === 'function',
      old_jspi_flag: OLD_JSPI_FLAG ?? null,
      old_jspi_left_out: major === 20 && process.env.WW_MN_NODE20_JSPI !== '1' ? 'V8 11.3 segfaults at tier-up after a suspension (WW_MN_NODE20_JSPI=1 to run it)' : null,
      what: 'worker_mechanisms: in a worker started after v8.setFlagsFromString(old_jspi_flag) in its process (execArgv refuses that flag)',
    });
  }
  if (parts.includes('size')) for (const o of sizes(mechs, argv.includes('--go'))) line('size', o);
  if (parts.includes('mem')) {
    const ns = quick ? [1000] : [1000, 10_000];
    for (const n of ns) {
      for (const mech of mechs) {
        for (const o of await runChild({ scenario: 'mem', mech, n })) line('mem', { mechanism: mech, what: `N guests suspended in poll_oneoff in ONE worker; (RSS after - RSS before)/N, warm (module compiled, one guest run before)`, ...o });
      }
    }
    // Guard regions cap wasm memories per process (~12.9k): the shared scratch at 10k, and the own one, under bounds checks too.
    if (!quick && mechs.includes('asyncify-own')) {
      for (const o of await runChild({ scenario: 'mem', mech: 'asyncify-own', n: 10_000 }, ['--disable-wasm-trap-handler'])) line('mem', { mechanism: 'asyncify-own', flags: '--disable-wasm-trap-handler', ...o });
    }
    for (const o of await runChild({ scenario: 'baseline', n: quick ? 50 : 100 })) line('mem', o);
  }
  if (parts.includes('chain')) {
    for (const depth of quick ? [1000] : [1000, 10_000]) {
      for (const mech of mechs) for (const o of await runChild({ scenario: 'chain', mech, n: depth })) line('chain', { mechanism: mech, what: 'a chain of processes each waiting for its child (ww.spawn + ww.proc_wait), all in ONE worker', ...o });
    }
  }
  if (parts.includes('roundtrip')) {
    const calls = quick ? 5000 : 20_000;
    for (const mech of mechs) for (const o of await runChild({ scenario: 'roundtrip', mech, n: calls })) line('roundtrip', { mechanism: mech, ...o });
    for (const o of await runChild({ scenario: 'roundtrip-baseline', n: calls })) line('roundtrip', { mechanism: 'baseline', ...o });
  }
  if (parts.includes('cpu')) for (const o of await runChild({ scenario: 'cpu', quick })) line('cpu', o);
  if (parts.includes('pause')) for (const o of await runChild({ scenario: 'pause', quick })) line('pause', o);
  if (parts.includes('depth')) for (const o of await runChild({ scenario: 'depth' })) line('depth', o);
}

/** Code size of the example guests: raw, ww-instrumented, and after each transform (and its time). */
function sizes(mechs: Mechanism[], go: boolean): Bench[] {
  const dir = join(repoRoot(), 'examples');
  // echo-go (2.7 MB of Go) takes ~1 minute per asyncify transform: only with --go.
  const files = ['hello-c/hello.wasm', 'cpu-loop/cpu-loop.wasm', 'wordcount/wordcount.wasm', 'ww-c/squares.wasm', 'hello-as/hello.wasm', ...(go ? ['echo-go/echo.wasm'] : [])];
  const out: Bench[] = [];
  for (const f of files) {
    let raw: Uint8Array;
    try {
      raw = readFileSync(join(dir, f));
    } catch {
      continue;
    }
    const inst = prepare(raw, 'plain').bytes.length;
    const row: Bench = { guest: f, raw_bytes: raw.length, instrumented_bytes: inst };
    // The asyncify variants differ only in the memory their data goes to: one of them (the sizes match).
    const asyncify = mechs.includes('asyncify-shared') ? 'asyncify-shared' : 'asyncify-borrowed';
    for (const m of mechs.filter((x) => x === asyncify || x === 'jspi-old')) {
      for (const tick of [false, true]) {
        const key = `${m}${tick ? '+tick' : ''}`;
        try {
          const p = prepare(raw, m, tick);
          row[`${key}_bytes`] = p.bytes.length;
          row[`${key}_ratio`] = +(p.bytes.length / inst).toFixed(2);
          row[`${key}_transform_ms`] = Math.round(p.ms);
        } catch (e) {
          row[`${key}_error`] = (e as Error).message;
        }
      }
    }
    out.push({ ...row, what: 'bytes of the module; ratio to the ww-instrumented module; transform ms (cold binaryen per module, in-thread)' });
  }
  return out;
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) await childMain(JSON.parse(process.argv[i + 1]!) as ChildSpec);
  else await main(process.argv.slice(2));
} else if (!isMainThread && (workerData as { role?: string } | null)?.role === 'mn-worker') {
  await workerMain();
}
