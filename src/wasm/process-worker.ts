// A process worker: runs one guest at a time, synchronously, with our WASI host and the
// meter. Written as a loop over 'run' messages so that it could later host several
// processes (docs/ARCHITECTURE.md, "Worker threads"); today one at a time.

import { parentPort, workerData, type MessagePort, type Transferable } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import { WasiHost, missingMemory } from './wasi/index.js';
import type { StdioEndpoint } from './wasi/types.js';
import { COUNTDOWN_EXPORT, MEMORY_FIELD, METER_MODULE } from './instrument.js';
import { LimitExceeded, Meter } from './meter.js';
import { CONTROL_WORDS, CTL_INFLIGHT, CTL_PAUSE, CTL_PREFETCH, MAX_INFLIGHT_BYTES, STAT_BLOCKED_MS, STAT_BLOCKED_SINCE, STAT_FUEL, type FromWorker, type InputSource, type OutputTarget, type RunMessage } from './protocol.js';
import type { ExitReason } from './types.js';
import { exitCode } from './exit.js';
import { Wasm, type WasmGlobal, type WasmInstance, type WasmMemory, type WasmModule } from './webassembly.js';
import { PAGE_BYTES } from './module.js';
import { createHostCall, type HostCall } from './host-call.js';
import { stdinEndpoint } from './stdin.js';
import { blockingWait, countBlockedIn, watchPauseWhileBlocked } from './blocked.js';
import { noWwHost, wwImports } from './ww-host/imports.js';
import { GuestSockets } from './sockets/guest.js';

const port = parentPort!;
const { control, callPort } = workerData as { control: SharedArrayBuffer; callPort: MessagePort };
const ctl = new Int32Array(control, 0, CONTROL_WORDS);
const stats = new Float64Array(control);
const modules = new Map<string, WasmModule>();
countBlockedIn(stats, STAT_BLOCKED_MS, STAT_BLOCKED_SINCE);

// Memories of ended processes, zeroed and given to the next process of the same shape.
// Only small ones (zeroing costs about as much as a fresh memory at ~1 MiB) that did not grow.
const REUSE_MAX_PAGES = 16;
const SPARES_PER_SHAPE = 2;
const spareMemories = new Map<string, WasmMemory[]>();
const memoryKey = (d: { initial: number; maximum?: number }): string => `${d.initial}:${d.maximum ?? ''}`;

function acquireMemory(d: { initial: number; maximum?: number }): WasmMemory {
  const spare = spareMemories.get(memoryKey(d))?.pop();
  if (spare) {
    new Uint8Array(spare.buffer).fill(0); // nothing of the previous process may be visible
    return spare;
  }
  return new Wasm.Memory(d.maximum === undefined ? { initial: d.initial } : { initial: d.initial, maximum: d.maximum });
}

function releaseMemory(d: { initial: number; maximum?: number }, memory: WasmMemory): void {
  if (d.initial > REUSE_MAX_PAGES || memory.buffer.byteLength !== d.initial * PAGE_BYTES) return;
  const key = memoryKey(d);
  const list = spareMemories.get(key) ?? [];
  if (list.length < SPARES_PER_SHAPE) list.push(memory);
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

function output(target: OutputTarget, fd: 1 | 2, msg: RunMessage, captured: Uint8Array[], meter: Meter | undefined): StdioEndpoint {
  switch (target) {
    case 'inherit':
      return { kind: 'fd', fd };
    case 'capture': {
      let total = 0;
      let chargedPages = 0;
      return {
        kind: 'sink',
        write: (data) => {
          total += data.length;
          // Captured output lives in this worker's memory: it counts against the guest's memory limit
          // and budgets. Past them or the capture bound the guest gets ENOSPC and, when metered, ends
          // with limit: memory at its next tick.
          const pages = Math.ceil(total / PAGE_BYTES);
          if (total > msg.maxCaptureBytes || (meter && pages > chargedPages && !meter.chargeHost(pages - chargedPages))) {
            meter?.endSoon('memory');
            throw Object.assign(new Error('captured output limit reached'), { code: 'ENOSPC' });
          }
          chargedPages = Math.max(chargedPages, pages);
          captured.push(data); // the host hands a sink its own copy
        },
      };
    }
    case 'stream':
      return {
        kind: 'sink',
        write: (data) => {
          const copy = new Uint8Array(data); // transferred to the runtime: never the guest's memory
          // Backpressure: wait while the runtime has not yet delivered MAX_INFLIGHT_BYTES of earlier output.
          let inflight = Atomics.add(ctl, CTL_INFLIGHT, copy.length) + copy.length;
          while (inflight > MAX_INFLIGHT_BYTES && inflight !== copy.length) {
            blockingWait(ctl, CTL_INFLIGHT, inflight, 1000);
            inflight = Atomics.load(ctl, CTL_INFLIGHT);
          }
          post({ type: 'out', pid: msg.pid, fd, data: copy }, [copy.buffer]);
        },
      };
    default:
      return { kind: 'null' };
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
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
  if (!(err instanceof Error)) return { kind: 'trap', message: `host error: ${String(err)}` };
  const func = trapFunction(err, meter && module ? meterImports(module) : 0);
  if (isInstance(err, Wasm.RuntimeError)) {
    if (meter?.memoryLimitHit) return { kind: 'limit', limit: 'memory' };
    return { kind: 'trap', message: err.message, ...(func ? { func } : {}) };
  }
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return { kind: 'trap', message: 'call stack exhausted', ...(func ? { func } : {}) };
  }
  if (err instanceof RangeError && /Wasm memory/i.test(err.message)) return { kind: 'limit', limit: 'memory' };
  if (isInstance(err, Wasm.LinkError)) return { kind: 'trap', message: `link error: ${err.message}` };
  return { kind: 'trap', message: `host error: ${err.message}`, ...(func ? { func } : {}) };
}

function run(msg: RunMessage): void {
  const module = modules.get(msg.cid);
  stats.fill(0, STAT_FUEL);
  Atomics.store(ctl, CTL_INFLIGHT, 0);
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const meter = msg.instrumented ? new Meter(ctl, stats, msg.limits, (seq) => post({ type: 'frozen', pid: msg.pid, seq }), msg.memoryCharge, { tableEntries: msg.tableEntries, ...(msg.memory?.maximum !== undefined ? { maximumPages: msg.memory.maximum } : {}) }) : undefined;
  watchPauseWhileBlocked(meter ? { ctl, index: CTL_PAUSE, holdIfPaused: () => meter.holdIfPaused() } : undefined);
  const startedAt = performance.now();
  let memory: WasmMemory | undefined;
  let provided: WasmMemory | undefined;
  let host: WasiHost | undefined;
  let sockets: GuestSockets | undefined;
  let instance: WasmInstance | undefined;
  let code: number;
  let reason: ExitReason;
  try {
    if (!module) throw new Error(`module ${msg.cid} was not sent to this worker`);
    const call = msg.hostNamespaces.length > 0 ? createHostCall(ctl, callPort, post, msg.pid) : undefined;
    if (msg.sockets) {
      if (!call) throw new Error('pre-opened sockets need the sock host calls');
      sockets = new GuestSockets(call, (op, args, transfer) => post({ type: 'cast', pid: msg.pid, op, args }, transfer), msg.sockets);
    }
    host = new WasiHost({
      args: msg.args,
      env: msg.env,
      preopens: msg.preopens,
      sockets: sockets?.preopened(),
      stdin: input(msg.stdin, call),
      stdout: output(msg.stdout, 1, msg, out, meter),
      stderr: output(msg.stderr, 2, msg, err, meter),
    });
    const imports: Record<string, Record<string, unknown>> = { ...host.imports };
    if (importsWw(module)) {
      // Without the executor's grant every `ww` import answers ENOSYS (guest-sdk/ABI.md), not a link error.
      const wwCall = call && msg.hostNamespaces.includes('ww') ? call : noWwHost;
      imports.ww = wwImports({ call: wwCall, pid: msg.pid, memory: () => memory ?? exportedMemory(instance) ?? missingMemory() });
    }
    if (meter) imports[METER_MODULE] = meter.imports;
    if (msg.memory) {
      provided = acquireMemory(msg.memory);
      imports[METER_MODULE] = { ...meter?.imports, [MEMORY_FIELD]: provided };
    }
    instance = new Wasm.Instance(module, imports);
    memory = exportedMemory(instance); // none: the guest runs until a call needs memory, which traps
    meter?.attach(instance.exports[COUNTDOWN_EXPORT] as WasmGlobal, memory);
    code = host.start(instance);
    reason = code === 0 ? { kind: 'normal' } : { kind: 'exit', code };
  } catch (e) {
    reason = classify(e, meter, module);
    code = exitCode(reason);
  } finally {
    sockets?.detach(); // the main thread closes the process's sockets when it learns of the exit
    try {
      host?.close();
    } catch {
      // closing host fds must not turn an exit into a crash
    }
  }
  const memoryBytes = memory ? memory.buffer.byteLength : 0;
  if (provided && msg.memory) releaseMemory(msg.memory, provided);
  const stdout = msg.stdout === 'capture' ? concat(out) : undefined;
  const stderr = msg.stderr === 'capture' ? concat(err) : undefined;
  // Transferring costs more than copying a small buffer (measured ~2 us per message).
  const transfer = [stdout, stderr]
    .filter((b): b is Uint8Array => b !== undefined && b.length >= 65536)
    .map((b) => b.buffer as ArrayBuffer);
  // A pause requested too late for this process must not freeze the next one. Cleared before the
  // exit is posted: after it, the runtime may already be writing the next process's request.
  Atomics.store(ctl, CTL_PAUSE, 0);
  post(
    {
      type: 'exit',
      pid: msg.pid,
      code,
      reason,
      stdout,
      stderr,
      fuelUsed: meter ? meter.fuelUsed() : 0,
      memoryBytes,
      runningMs: meter ? meter.runningMs() : performance.now() - startedAt,
      blockedMs: stats[STAT_BLOCKED_MS]!,
    },
    transfer,
  );
}

port.on('message', (msg: RunMessage) => {
  try {
    // The module cache follows the runtime's bookkeeping even for a process taken back.
    for (const cid of msg.drop) modules.delete(cid);
    if (msg.module) modules.set(msg.cid, msg.module);
    const token = msg.prefetchToken;
    if (token !== 0 && Atomics.compareExchange(ctl, CTL_PREFETCH, token, 0) !== token) return; // taken back
    run(msg);
  } catch (e) {
    // Only a bug in this file gets here; report it rather than leave the process hanging.
    writeSync(2, `ww: process worker failed: ${(e as Error).stack}\n`);
    throw e;
  }
});
post({ type: 'ready' });
