// A process worker: runs guests with our WASI host and the meter. A dedicated worker runs one
// guest at a time, synchronously: a guest that waits blocks the thread. A shared worker hosts many
// guests of suspendable modules (suspend.ts): a guest that waits is suspended and the others run,
// in time slices taken in turn between principals (docs/ARCHITECTURE.md, "Worker threads").

import { parentPort, workerData, type Transferable } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import { WasiHost, missingMemory } from './wasi/index.js';
import type { StdioEndpoint } from './wasi/types.js';
import { COUNTDOWN_EXPORT, MEMORY_FIELD, METER_MODULE } from './instrument.js';
import { GuestKilled, LimitExceeded, Meter, type Turns } from './meter.js';
import { CONTROL_WORDS, CTL_INFLIGHT, CTL_KILL, CTL_PAUSE, MAX_INFLIGHT_BYTES, STAT_BLOCKED_MS, STAT_BLOCKED_SINCE, WCTL_MAIL, WCTL_PREFETCH, WCTL_RUNNABLE, type CallAnswer, type FromWorker, type InputSource, type OutputTarget, type RunMessage, type ToWorker, type WorkerInit } from './protocol.js';
import type { ExitReason } from './types.js';
import { exitCode } from './exit.js';
import { Wasm, type WasmGlobal, type WasmInstance, type WasmMemory, type WasmModule } from './webassembly.js';
import { PAGE_BYTES } from './module.js';
import { createHostCall, createSuspendingHostCall, type HostCall, type HostReply } from './host-call.js';
import { stdinEndpoint } from './stdin.js';
import { blockingWait, countBlockedIn, recorded, runningGuest, watchPauseWhileBlocked, type PauseWatch } from './blocked.js';
import { FairQueue } from './fair-queue.js';
import { SuspendableGuest, SuspendError } from './suspend.js';
import { noWwHost, wwImports } from './ww-host/imports.js';
import { GuestSockets } from './sockets/guest.js';

const port = parentPort!;
const { control, callPort, shared } = workerData as WorkerInit;
const workerCtl = new Int32Array(control);
const modules = new Map<string, WasmModule>();

// Memories of ended processes, zeroed and given to the next process of the same declared limits.
// Only small ones (zeroing costs about as much as a fresh memory at ~1 MiB) that did not grow: a
// memory cannot shrink, and the next process must start at its module's initial size.
const REUSE_MAX_PAGES = 16;
const SPARES_PER_SHAPE = 2;
/** Spare memories by declared limits; every one in here is zeroed (releaseMemory). */
const spareMemories = new Map<string, WasmMemory[]>();
const memoryKey = (d: { initial: number; maximum?: number }): string => `${d.initial}:${d.maximum ?? ''}`;

function acquireMemory(d: { initial: number; maximum?: number }): WasmMemory {
  return spareMemories.get(memoryKey(d))?.pop() ?? new Wasm.Memory(d.maximum === undefined ? { initial: d.initial } : { initial: d.initial, maximum: d.maximum });
}

/** Keeps an ended process's memory for the next process, zeroed now: the caller has posted the
 *  exit already, so the zeroing is off the path from spawn to exit (the runtime reads the exit
 *  while this runs), and nothing of the previous process can be visible to the next. */
function releaseMemory(d: { initial: number; maximum?: number }, memory: WasmMemory): void {
  if (d.initial > REUSE_MAX_PAGES || memory.buffer.byteLength !== d.initial * PAGE_BYTES) return;
  const key = memoryKey(d);
  const list = spareMemories.get(key) ?? [];
  if (list.length >= SPARES_PER_SHAPE) return;
  new Uint8Array(memory.buffer).fill(0);
  list.push(memory);
  spareMemories.set(key, list);
}

/** Function imports the instrumentation added after the module's own (its functions' indices moved
 *  up by this many; a trap's `wasm-function[N]` is told with the module's own index). Asked on a trap only. */
function meterImports(module: WasmModule): number {
  return Wasm.Module.imports(module).filter((i) => i.module === METER_MODULE && i.kind === 'function').length;
}

// Whether a module imports from `ww`, asked once per module (most guests do not: no imports to build).
const wwImporters = new WeakMap<WasmModule, boolean>();
function importsWw(module: WasmModule): boolean {
  let yes = wwImporters.get(module);
  if (yes === undefined) {
    yes = Wasm.Module.imports(module).some((i) => i.module === 'ww');
    wwImporters.set(module, yes);
  }
  return yes;
}

function post(msg: FromWorker, transfer: readonly Transferable[] = []): void {
  port.postMessage(msg, transfer);
}

function input(src: InputSource, call: HostCall | undefined): StdioEndpoint {
  if (src.kind === 'inherit') return { kind: 'fd', fd: 0 };
  if (src.kind === 'bytes') return { kind: 'bytes', data: src.data };
  if (src.kind === 'stream') {
    if (!call) throw new Error('a stdin stream needs the stdin host calls');
    return stdinEndpoint(call);
  }
  return { kind: 'null' };
}

/** Output captured in one buffer that grows by doubling: a guest's many small writes cost no more
 *  host memory than their bytes (a chunk each would cost ~150 bytes of heap per 1-byte write). */
class Capture {
  private buf = new Uint8Array(0);
  length = 0;

  /** The capacity appending `more` bytes needs (what the guest is charged for): doubling, by at most 16 MiB. */
  capacityFor(more: number): number {
    const need = this.length + more;
    if (need <= this.buf.length) return this.buf.length;
    return Math.max(need, 4096, Math.min(2 * this.buf.length, need + 16 * 1024 * 1024));
  }

  append(data: Uint8Array): void {
    const capacity = this.capacityFor(data.length);
    if (capacity > this.buf.length) {
      const grown = new Uint8Array(capacity);
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    this.buf.set(data, this.length);
    this.length += data.length;
  }

  bytes(): Uint8Array {
    return this.buf.length === this.length ? this.buf : this.buf.slice(0, this.length);
  }
}

function output(target: OutputTarget, fd: 1 | 2, msg: RunMessage, ctl: Int32Array, captured: Capture, meter: Meter | undefined): StdioEndpoint {
  switch (target) {
    case 'inherit':
      return { kind: 'fd', fd };
    case 'capture': {
      let chargedPages = 0;
      return {
        kind: 'sink',
        write: (data) => {
          // Captured output lives in this worker's memory: it counts against the guest's memory limit
          // and budgets (its buffer's capacity). Past them or the capture bound the guest gets ENOSPC
          // and, when metered, ends with limit: memory at its next tick.
          if (captured.length + data.length > msg.maxCaptureBytes) return refuseCapture(meter);
          const pages = Math.ceil(captured.capacityFor(data.length) / PAGE_BYTES);
          if (meter && pages > chargedPages && !meter.chargeHost(pages - chargedPages)) return refuseCapture(meter);
          chargedPages = Math.max(chargedPages, pages);
          captured.append(data);
        },
      };
    }
    case 'stream':
      return {
        kind: 'sink',
        write: (data) => {
          const copy = new Uint8Array(data); // transferred to the runtime: never the guest's memory
          // Backpressure: wait while the runtime has not yet delivered MAX_INFLIGHT_BYTES of earlier
          // output. Waits come before the write's effects: a suspended guest runs this write again.
          for (;;) {
            const inflight = recorded('output in flight', () => Atomics.load(ctl, CTL_INFLIGHT));
            if (inflight === 0 || inflight + copy.length <= MAX_INFLIGHT_BYTES) break;
            blockingWait(ctl, CTL_INFLIGHT, inflight, 1000);
          }
          recorded('output', () => {
            Atomics.add(ctl, CTL_INFLIGHT, copy.length);
            post({ type: 'out', pid: msg.pid, fd, data: copy }, [copy.buffer]);
          });
        },
      };
    default:
      return { kind: 'null' };
  }
}

/** Past the capture bound or the memory limit: ENOSPC for the write, and the end at the next tick. */
function refuseCapture(meter: Meter | undefined): never {
  meter?.endSoon('memory');
  throw Object.assign(new Error('captured output limit reached'), { code: 'ENOSPC' });
}

/** The memory the guest exports as `memory`, if it exports one (the one WASI and `ww` calls read). */
function exportedMemory(instance: WasmInstance | undefined): WasmMemory | undefined {
  const m = instance?.exports.memory;
  return m instanceof (Wasm.Memory as unknown as new () => WasmMemory) ? m : undefined;
}

/** The guest function named in a trap's stack: its name-section name, or wasm-function[N] with N the
 *  index in the module as the guest built it (`addedImports`: functions instrumentation put before). */
export function trapFunction(err: Error, addedImports = 0): string | undefined {
  for (const line of (err.stack ?? '').split('\n')) {
    const m = /^\s*at (?:(\S+) \()?wasm:\/\/wasm\/[^:]*:wasm-function\[(\d+)\]/.exec(line);
    if (m) return m[1] ?? `wasm-function[${Math.max(0, Number(m[2]) - addedImports)}]`;
  }
  return undefined;
}

/** instanceof without narrowing (the engine's error classes are all plain Errors to TypeScript). */
function isInstance(value: unknown, cls: unknown): boolean {
  return value instanceof (cls as new () => object);
}

function classify(err: unknown, meter: Meter | undefined, module: WasmModule | undefined): ExitReason {
  if (err instanceof LimitExceeded) return { kind: 'limit', limit: err.limit };
  if (err instanceof GuestKilled) return { kind: 'killed' };
  if (err instanceof SuspendError) return { kind: 'trap', message: `ww could not suspend the guest: ${err.message}` };
  if (!(err instanceof Error)) return { kind: 'trap', message: `host error: ${String(err)}` };
  const func = trapFunction(err, meter && module ? meterImports(module) : 0);
  if (isInstance(err, Wasm.RuntimeError)) {
    if (meter?.memoryLimitHit) return { kind: 'limit', limit: 'memory' };
    return { kind: 'trap', message: err.message, ...(func ? { func } : {}) };
  }
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return { kind: 'trap', message: 'call stack exhausted', ...(func ? { func } : {}) };
  }
  // V8's words when an instance cannot get its memory, and when the memory the worker provides cannot be made.
  if (err instanceof RangeError && /Wasm memory|could not allocate memory/i.test(err.message)) return { kind: 'limit', limit: 'memory' };
  if (isInstance(err, Wasm.LinkError)) return { kind: 'trap', message: `link error: ${err.message}` };
  return { kind: 'trap', message: `host error: ${err.message}`, ...(func ? { func } : {}) };
}

/** One process on this worker: its host, meter and instance, from its run message to its exit. */
class GuestRun {
  readonly ctl: Int32Array;
  readonly stats: Float64Array;
  readonly meter: Meter | undefined;
  readonly pauseWatch: PauseWatch | undefined;
  private readonly out = new Capture();
  private readonly err = new Capture();
  private readonly startedAt = performance.now();
  private memory: WasmMemory | undefined;
  private provided: WasmMemory | undefined;
  private host: WasiHost | undefined;
  private sockets: GuestSockets | undefined;
  instance: WasmInstance | undefined;
  ended = false;

  constructor(
    readonly msg: RunMessage,
    turns?: Turns,
  ) {
    this.ctl = new Int32Array(msg.control, 0, CONTROL_WORDS);
    this.stats = new Float64Array(msg.control);
    const meter = msg.instrumented
      ? new Meter(this.ctl, this.stats, msg.limits, (seq) => post({ type: 'frozen', pid: msg.pid, seq }), msg.memoryCharge, { tableEntries: msg.tableEntries, ...(msg.memory?.maximum !== undefined ? { maximumPages: msg.memory.maximum } : {}) }, turns)
      : undefined;
    this.meter = meter;
    this.pauseWatch = meter
      ? { ctl: this.ctl, index: CTL_PAUSE, holdIfPaused: () => meter.holdIfPaused(), whilePaused: () => meter.whilePaused(), killed: () => meter.killed() }
      : undefined;
  }

  /** Makes this process the one whose waits and blocked time the blocking points see. */
  enter(): void {
    countBlockedIn(this.stats, STAT_BLOCKED_MS, STAT_BLOCKED_SINCE);
    watchPauseWhileBlocked(this.pauseWatch);
  }

  /** The memory WASI and `ww` calls read (and a suspension unwinds into). */
  guestMemory(): WasmMemory | undefined {
    return this.memory ?? exportedMemory(this.instance) ?? this.provided;
  }

  /** Builds its host and instance; `wrap` turns each host import into one that may suspend. Throws what instantiation throws. */
  instantiate(call: HostCall | undefined, wrap?: <F extends (...args: never[]) => unknown>(f: F) => F): WasmInstance {
    const msg = this.msg;
    const module = modules.get(msg.cid);
    if (!module) throw new Error(`module ${msg.cid} was not sent to this worker`);
    if (msg.sockets) {
      if (!call) throw new Error('pre-opened sockets need the sock host calls');
      this.sockets = new GuestSockets(call, (op, args, transfer) => recorded(op, () => post({ type: 'cast', pid: msg.pid, op, args }, transfer)), msg.sockets);
    }
    this.host = new WasiHost({
      args: msg.args,
      env: msg.env,
      preopens: msg.preopens,
      sockets: this.sockets?.preopened(),
      stdin: input(msg.stdin, call),
      stdout: output(msg.stdout, 1, msg, this.ctl, this.out, this.meter),
      stderr: output(msg.stderr, 2, msg, this.ctl, this.err, this.meter),
    });
    let imports: Record<string, Record<string, unknown>> = { ...this.host.imports };
    if (importsWw(module)) {
      // Without the executor's grant every `ww` import answers ENOSYS (guest-sdk/ABI.md), not a link error.
      const wwCall = call && msg.hostNamespaces.includes('ww') ? call : noWwHost;
      imports.ww = wwImports({ call: wwCall, pid: msg.pid, memory: () => this.guestMemory() ?? missingMemory() });
    }
    if (this.meter) imports[METER_MODULE] = { tick: this.meter.imports.tick };
    if (wrap) imports = wrapped(imports, wrap);
    if (this.meter) imports[METER_MODULE] = { ...imports[METER_MODULE], grow: this.meter.imports.grow, grow_table: this.meter.imports.grow_table };
    if (msg.memory) {
      this.provided = acquireMemory(msg.memory);
      imports[METER_MODULE] = { ...imports[METER_MODULE], [MEMORY_FIELD]: this.provided };
    }
    const instance = new Wasm.Instance(module, imports);
    this.instance = instance;
    this.memory = exportedMemory(instance); // none: the guest runs until a call needs memory, which traps
    this.meter?.attach(instance.exports[COUNTDOWN_EXPORT] as WasmGlobal, this.memory);
    return instance;
  }

  /** Runs `_start` (again, on a suspendable guest: a rewind); its exit code. */
  start(): number {
    return this.host!.start(this.instance!);
  }

  /** Its end: closes what it holds and posts its exit (unless it was stopped: no one waits for it). */
  finish(outcome: { code: number } | { error: unknown }): void {
    if (this.ended) return;
    this.ended = true;
    const msg = this.msg;
    let code: number;
    let reason: ExitReason;
    if ('code' in outcome) {
      code = outcome.code;
      reason = code === 0 ? { kind: 'normal' } : { kind: 'exit', code };
    } else {
      reason = classify(outcome.error, this.meter, modules.get(msg.cid));
      code = exitCode(reason);
    }
    this.sockets?.detach(); // the main thread closes the process's sockets when it learns of the exit
    try {
      this.host?.close();
    } catch {
      // closing host fds must not turn an exit into a crash
    }
    const memoryBytes = this.memory ? this.memory.buffer.byteLength : 0;
    const stdout = msg.stdout === 'capture' ? this.out.bytes() : undefined;
    const stderr = msg.stderr === 'capture' ? this.err.bytes() : undefined;
    // Transferring costs more than copying a small buffer (measured ~2 us per message).
    const transfer = [stdout, stderr]
      .filter((b): b is Uint8Array => b !== undefined && b.length >= 65536)
      .map((b) => b.buffer as ArrayBuffer);
    post(
      {
        type: 'exit',
        pid: msg.pid,
        code,
        reason,
        stdout,
        stderr,
        fuelUsed: this.meter ? this.meter.fuelUsed() : 0,
        memoryBytes,
        runningMs: this.meter ? this.meter.runningMs() : performance.now() - this.startedAt,
        blockedMs: this.stats[STAT_BLOCKED_MS]!,
      },
      transfer,
    );
    if (this.provided && msg.memory) releaseMemory(msg.memory, this.provided);
  }
}

/** `imports` with every function wrapped. */
function wrapped(imports: Record<string, Record<string, unknown>>, wrap: <F extends (...args: never[]) => unknown>(f: F) => F): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [m, fields] of Object.entries(imports)) {
    const w: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(fields)) w[name] = typeof value === 'function' ? wrap(value as (...args: never[]) => unknown) : value;
    out[m] = w;
  }
  return out;
}

// ---- a dedicated worker: one guest at a time, blocking the thread ----

function runDedicated(msg: RunMessage): void {
  const run = new GuestRun(msg); // (its control block is fresh: the runtime makes one per process)
  run.enter();
  let outcome: { code: number } | { error: unknown };
  try {
    const call = msg.hostNamespaces.length > 0 ? createHostCall(run.ctl, callPort, post, msg.pid) : undefined;
    run.instantiate(call);
    outcome = { code: run.start() };
  } catch (e) {
    outcome = { error: e };
  }
  run.finish(outcome);
}

// ---- a shared worker: many guests, each suspended while it waits ----

/** How long a guest runs before it lets the others (and the worker's messages) have the thread. */
const SLICE_MS = 10;
/** How long a guest runs at most while others of its worker wait only for timers (their sleeps end
 *  this late at worst). A guest alone on its worker, with no messages for it, is not preempted at all. */
const TIMER_SLICE_MS = 100;

interface SharedGuest {
  run: GuestRun;
  suspendable: SuspendableGuest;
  /** Its principal's number: ready guests take turns between groups. */
  readonly group: number;
  /** Since when it has been off the thread (suspended, or ready and waiting for its turn). */
  offSince?: number;
  /** Its paused milliseconds then: a pause is paused time, not blocked time. */
  pausedThen: number;
}

const guests = new Map<number, SharedGuest>();
const ready = new FairQueue<SharedGuest>();
const answers = new Map<number, (reply: HostReply) => void>();
let stepScheduled = false;
let sliceStart = 0;
let mailAtSliceStart = 0;

/** Whether the running guest has had its turn: others are ready, or the worker has messages or timers. */
function sliceOver(): boolean {
  const ran = performance.now() - sliceStart;
  if (ran < SLICE_MS) return false;
  return ready.length > 0 || Atomics.load(workerCtl, WCTL_MAIL) !== mailAtSliceStart || (guests.size > 1 && ran >= TIMER_SLICE_MS);
}

function publishRunnable(): void {
  Atomics.store(workerCtl, WCTL_RUNNABLE, ready.length);
}

function admit(msg: RunMessage): void {
  const g: SharedGuest = { run: undefined as unknown as GuestRun, suspendable: undefined as unknown as SuspendableGuest, group: msg.group, offSince: performance.now(), pausedThen: 0 };
  // A host call that ran past the slice (poll_oneoff of thousands of due clocks, random_get of a large
  // buffer) brings the guest's next tick forward, where it gives up the thread.
  g.suspendable = new SuspendableGuest(
    () => g.run.guestMemory(),
    () => {
      if (performance.now() - sliceStart >= SLICE_MS) g.run.meter?.checkSoon();
    },
    (bytes) => g.run.meter?.growTo(bytes),
  );
  g.run = new GuestRun(msg, { suspender: g.suspendable, sliceOver, nextTurn: () => Promise.resolve() });
  // Waiting for its first turn is blocked time too, for readers before that turn comes.
  g.run.stats[STAT_BLOCKED_SINCE] = performance.timeOrigin + g.offSince!;
  guests.set(msg.pid, g);
  ready.push(g);
  scheduleStep();
}

function scheduleStep(): void {
  publishRunnable();
  if (stepScheduled || ready.length === 0) return;
  stepScheduled = true;
  setImmediate(stepOne);
}

/** Runs the guest whose turn it is until it suspends or ends, then returns to the event loop. */
function stepOne(): void {
  stepScheduled = false;
  const g = ready.shift();
  if (g && !g.run.ended) step(g);
  scheduleStep();
}

function step(g: SharedGuest): void {
  const { run, suspendable } = g;
  const msg = run.msg;
  run.enter();
  runningGuest(suspendable);
  sliceStart = performance.now();
  mailAtSliceStart = Atomics.load(workerCtl, WCTL_MAIL);
  if (g.offSince !== undefined) {
    // Off the thread it was blocked (waiting, or ready for its turn), except while paused.
    const paused = (run.meter?.pausedTotalMs() ?? 0) - g.pausedThen;
    run.stats[STAT_BLOCKED_MS]! += Math.max(0, sliceStart - g.offSince - paused);
    run.stats[STAT_BLOCKED_SINCE] = 0;
    g.offSince = undefined;
  }
  try {
    if (!run.instance) {
      const call = msg.hostNamespaces.length > 0 ? createSuspendingHostCall(suspendable, answers, post, msg.pid) : undefined;
      const instance = run.instantiate(call, (f) => suspendable.wrap(f));
      suspendable.attach(instance);
    }
    const s = suspendable.step(() => run.start());
    if (s.done) return end(g, { code: s.code });
    g.offSince = performance.now();
    g.pausedThen = run.meter?.pausedTotalMs() ?? 0;
    // Published for readers while it waits (a pause is not blocked time: its own figure counts it).
    if (s.site !== 'pause') run.stats[STAT_BLOCKED_SINCE] = performance.timeOrigin + g.offSince;
    void s.until.then(() => {
      if (run.ended) return;
      ready.push(g);
      scheduleStep();
    });
  } catch (e) {
    end(g, { error: e });
  } finally {
    runningGuest(undefined);
  }
}

function end(g: SharedGuest, outcome: { code: number } | { error: unknown }): void {
  guests.delete(g.run.msg.pid);
  answers.delete(g.run.msg.pid);
  g.run.finish(outcome);
}

/** A guest killed (or past its deadline) while suspended or waiting for its turn: dropped here. */
function stop(pid: number): void {
  const g = guests.get(pid);
  if (!g) return;
  ready.remove(g);
  end(g, { error: new GuestKilled() });
  publishRunnable();
}

if (shared) {
  callPort.on('message', (answer: CallAnswer) => {
    const resolve = answers.get(answer.pid);
    answers.delete(answer.pid);
    resolve?.(answer.reply);
  });
}

port.on('message', (msg: ToWorker) => {
  try {
    if (msg.type === 'stop') return stop(msg.pid);
    // The module cache follows the runtime's bookkeeping even for a process taken back.
    for (const cid of msg.drop) modules.delete(cid);
    if (msg.module) modules.set(msg.cid, msg.module);
    if (shared) return admit(msg);
    const token = msg.prefetchToken;
    if (token !== 0 && Atomics.compareExchange(workerCtl, WCTL_PREFETCH, token, 0) !== token) return; // taken back
    runDedicated(msg);
  } catch (e) {
    // Only a bug in this file gets here; report it rather than leave the process hanging.
    writeSync(2, `ww: process worker failed: ${(e as Error).stack}\n`);
    throw e;
  }
});
post({ type: 'ready' });
