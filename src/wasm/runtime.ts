// The process runtime: loads modules (checked, content-addressed, instrumented, compiled,
// cached) and spawns them as processes on the worker pool. No RPC here (docs/ARCHITECTURE.md).

import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { handlerOf } from './host-call.js';
import { Instrumenter } from './instrumenter.js';
import { MEMORY_FIELD, METER_MODULE } from './instrument.js';
import { memoryAsImport } from './binary.js';
import { CompiledModule, ModuleCache, PAGE_BYTES, checkModule, contentId, exportsMemory, tablePages } from './module.js';
import { WorkerPool } from './pool.js';
import { SharedPool } from './shared-pool.js';
import { Process } from './process.js';
import { NAMESPACE as SOCKETS_NAMESPACE, type SockCalls } from './sockets/protocol.js';
import { NAMESPACE as STDIN_NAMESPACE, isInputStream, stdinHandler } from './stdin.js';
import { openListeners, type ListenAddress, type Listener } from './sockets/listen.js';
import { ProcessSockets } from './sockets/owner.js';
import type { MemoryBudget, ProcessCharge } from './memory-budget.js';
import { BudgetError, LimitsError, ModuleError, type LoadedModule, type SpawnOptions, type WasmProcess } from './types.js';
import { Wasm } from './webassembly.js';
import { optimizeGuestCodeFromNowOn, type GuestCompiler } from './guest-compiler.js';

/** Background transforms queued at once (RuntimeOptions.suspend 'background'). */
export const MAX_BACKGROUND_TRANSFORMS = 16;

export interface RuntimeOptions {
  /** Workers kept warm. Default: os.availableParallelism(). */
  poolSize?: number;
  /** Most workers at once (processes beyond it queue). Default: max(16, 8 x poolSize). */
  maxWorkers?: number;
  /** Bound on the compiled-module cache, counted in module bytes. Default 256 MiB. */
  maxCacheBytes?: number;
  /** Instrument modules for fuel, timeouts that preempt, pause/resume and memory limits. Default true.
   *  Without it: no pause, no fuel or memory limit; a timeout terminates the worker. */
  instrument?: boolean;
  /** Directory for instrumented modules kept across runs (created with mode 0700). Default: none. */
  cacheDir?: string;
  /** Extra workers idle this long are stopped. Default 10 s. */
  idleWorkerMs?: number;
  /** Modules each worker keeps without them being sent again. Default 32. */
  modulesPerWorker?: number;
  /** Bound on output captured per stream of a process ('capture'). Default 64 MiB. */
  maxCaptureBytes?: number;
  /** A process may be sent ahead to a worker whose current process began less than this many ms
   *  ago, saving a round trip when processes are short. 0 disables. Default 2. */
  prefetchMs?: number;
  /** Heap limits for each worker's JavaScript (not guest memory). */
  workerResourceLimits?: ResourceLimits;
  /**
   * 'dedicated' (default): each running process has a worker thread of its own, blocked while its
   * guest waits. 'shared': as many workers as poolSize, each hosting any number of processes; a
   * guest that waits is suspended and costs memory only (src/wasm/README.md, "Shared workers").
   * Needs instrumentation; a module that cannot be made suspendable runs on a dedicated worker.
   */
  workers?: 'dedicated' | 'shared';
  /**
   * With shared workers: 'at-load' (default): load() resolves once the module is suspendable (the
   * transform takes seconds for a large module). 'background': load() resolves once it can run on
   * a dedicated worker, and it is made suspendable meanwhile; from then on its new processes, and
   * those still queued for a dedicated worker, run on shared workers (a node's choice: the first
   * run of a new module does not wait).
   */
  suspend?: 'at-load' | 'background';
  /** How V8 compiles guest code, for the whole process once the first module is compiled
   *  (guest-compiler.ts; README.md, "Compiled code"). Default 'tiered' (V8's own). */
  guestCompiler?: GuestCompiler;
}

/** How V8 keeps guest memory accesses in bounds in this Node process (README: "Guard regions"). */
export type WasmMemoryMode = 'guard-regions' | 'bounds-checks';

/** The Node flag that switches V8 from guard regions to bounds checks. It only works on Node's
 *  command line or in NODE_OPTIONS (not v8.setFlagsFromString, not a Worker's execArgv: measured). */
export const BOUNDS_CHECKS_FLAG = '--disable-wasm-trap-handler';

export function wasmMemoryMode(): WasmMemoryMode {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.includes(BOUNDS_CHECKS_FLAG) ? 'bounds-checks' : 'guard-regions';
}

export class Runtime {
  private readonly cache: ModuleCache;
  private readonly loading = new Map<string, Promise<CompiledModule>>();
  /** Modules being made suspendable in the background (RuntimeOptions.suspend), by content ID: at most
   *  MAX_BACKGROUND_TRANSFORMS, each holding a copy of its bytes until its turn on the worker. */
  private readonly suspending = new Set<string>();
  private readonly instrumenter: Instrumenter | undefined;
  /** Its own binaryen worker for background transforms (RuntimeOptions.suspend), so that a module
   *  taking a minute does not hold up other modules' loads. */
  private readonly backgroundInstrumenter: Instrumenter | undefined;
  private readonly live = new Set<Process>();
  /** Listeners opened by listen(): the ones no process took are closed with the runtime. */
  private readonly opened = new Set<Listener>();
  private nextPid = 1;
  private closed = false;

  private constructor(
    private readonly pool: WorkerPool,
    private readonly options: RuntimeOptions,
    /** Shared workers, for suspendable modules (RuntimeOptions.workers 'shared'). */
    private readonly shared: SharedPool | undefined,
  ) {
    this.cache = new ModuleCache(options.maxCacheBytes ?? 256 * 1024 * 1024);
    if (options.instrument !== false) this.instrumenter = new Instrumenter(options.cacheDir);
    if (options.instrument !== false && options.suspend === 'background') this.backgroundInstrumenter = new Instrumenter(options.cacheDir);
  }

  /** Creates a runtime with its pool warm (workers started and ready). */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const poolSize = Math.max(1, options.poolSize ?? availableParallelism());
    const shared =
      options.workers === 'shared' && options.instrument !== false
        ? new SharedPool({ workers: poolSize, modulesPerWorker: Math.max(1, options.modulesPerWorker ?? 32), resourceLimits: options.workerResourceLimits })
        : undefined;
    const pool = new WorkerPool({
      // With shared workers, dedicated ones are for a module that cannot be suspended, or (one kept
      // warm) a new module's first runs while it is made suspendable in the background.
      minWorkers: shared ? (options.suspend === 'background' ? 1 : 0) : poolSize,
      maxWorkers: Math.max(poolSize, options.maxWorkers ?? Math.max(16, 8 * poolSize)),
      idleMs: options.idleWorkerMs ?? 10_000,
      modulesPerWorker: Math.max(1, options.modulesPerWorker ?? 32),
      growAfterMs: 50,
      prefetchMs: options.prefetchMs ?? 2,
      resourceLimits: options.workerResourceLimits,
    });
    await Promise.all([pool.warm(), shared?.warm()]);
    return new Runtime(pool, options, shared);
  }

  get instrumented(): boolean {
    return this.instrumenter !== undefined;
  }

  /** Checks, instruments and compiles a module, or returns it from the cache by content ID.
   *  Rejects with ModuleError when the bytes are not a module ww can run. */
  async load(bytes: Uint8Array): Promise<LoadedModule> {
    const cid = contentId(bytes);
    const hit = this.cache.get(cid); // passed every check when it was loaded
    if (hit) return hit;
    let pending = this.loading.get(cid);
    if (!pending) {
      const shape = checkModule(bytes);
      pending = this.compile(cid, bytes, shape.memory ?? { initial: 0 }, shape.memory !== undefined && !exportsMemory(shape), shape.tableEntries);
      this.loading.set(cid, pending);
      pending.finally(() => this.loading.delete(cid)).catch(() => {});
    }
    return pending;
  }

  /** A module loaded earlier and still in the cache, by content ID. */
  get(cid: string): LoadedModule | undefined {
    return this.cache.get(cid);
  }

  /**
   * Opens listening TCP sockets for a process to be spawned with (SpawnOptions.listen): all or none.
   * Rejects with ListenError (address in use, not an address of this machine, ...); port 0 binds a
   * free port, which the Listener reports. Listeners never given to a process are closed by close().
   */
  async listen(addresses: readonly ListenAddress[]): Promise<Listener[]> {
    if (this.closed) throw new Error('the runtime is closed');
    const listeners = await openListeners(addresses);
    for (const l of this.opened) if (l.isClosed) this.opened.delete(l); // (ended with their processes)
    for (const l of listeners) this.opened.add(l);
    return listeners;
  }

  /** Starts a process. Throws ModuleError if the module cannot run under the given limits
   *  (and leaves its listeners to the caller, who must close them). */
  spawn(module: LoadedModule, options: SpawnOptions): WasmProcess {
    if (this.closed) throw new Error('the runtime is closed');
    // The cache's entry first: the module may have been made suspendable since it was loaded.
    const compiled = this.cache.get(module.cid) ?? (module instanceof CompiledModule ? module : undefined);
    if (!compiled) throw new ModuleError(`module ${module.cid} is not loaded in this runtime: load() it first`);
    const limits = options.limits ?? {};
    if (!compiled.instrumented && (limits.fuel !== undefined || limits.maxMemoryBytes !== undefined)) {
      throw new LimitsError('fuel and memory limits need an instrumented module: create the Runtime with instrument: true');
    }
    if (limits.maxMemoryBytes !== undefined && compiled.hiddenMemory) {
      // The meter measures the memory it is given or can see exported; a hidden one could grow past the limit.
      throw new ModuleError('the module does not export its memory as `memory`, so ww cannot hold it to a memory limit: export it, or spawn without one');
    }
    const tableStartPages = tablePages(compiled.initialTableEntries);
    const startPages = compiled.initialPages + tableStartPages;
    if (limits.maxMemoryBytes !== undefined && startPages * PAGE_BYTES > limits.maxMemoryBytes) {
      throw new LimitsError(
        `module needs ${startPages * PAGE_BYTES} bytes of memory at start ` +
          `(${startPages} page${startPages === 1 ? '' : 's'}${tableStartPages > 0 ? ', its tables included' : ''}), more than the limit of ${limits.maxMemoryBytes} byte${limits.maxMemoryBytes === 1 ? '' : 's'}`,
      );
    }
    if (isInputStream(options.stdin) && options.hostCalls?.[STDIN_NAMESPACE]) {
      throw new Error(`the '${STDIN_NAMESPACE}' host calls answer a process's stdin stream; pick another namespace`);
    }
    const charge = options.memoryBudget ? this.chargeFor(compiled, options.memoryBudget) : undefined;
    let sockets: ProcessSockets | undefined;
    try {
      sockets = this.socketsFor(options);
    } catch (e) {
      charge?.release();
      throw e;
    }
    let spawnOptions = sockets ? { ...options, hostCalls: { ...options.hostCalls, [SOCKETS_NAMESPACE]: handlerOf<SockCalls>(SOCKETS_NAMESPACE, sockets.calls) } } : options;
    // A stdin stream is read through host calls of the runtime's own, and closed when the process ends.
    const stdin = isInputStream(options.stdin) ? stdinHandler(options.stdin) : undefined;
    if (stdin) spawnOptions = { ...spawnOptions, hostCalls: { ...spawnOptions.hostCalls, [STDIN_NAMESPACE]: stdin.handler } };
    const pool = compiled.suspendable && this.shared ? this.shared : this.pool;
    const proc = new Process(this.nextPid++, compiled, spawnOptions, pool, (p) => this.live.delete(p), this.options.maxCaptureBytes ?? 64 * 1024 * 1024, sockets, charge);
    if (stdin) void proc.wait().then(stdin.close);
    this.live.add(proc);
    pool.submit(proc);
    return proc;
  }

  /** The process's charge in `budget`, holding its initial pages; BudgetError when they do not fit. */
  private chargeFor(compiled: CompiledModule, budget: MemoryBudget): ProcessCharge {
    if (!compiled.instrumented) throw new LimitsError('a memory budget needs an instrumented module: create the Runtime with instrument: true');
    const pages = compiled.initialPages + tablePages(compiled.initialTableEntries);
    const charge = budget.open(pages);
    if ('full' in charge) {
      // Only the caller's own budget says how much is in use: the node's would tell of others' processes.
      const full = charge.full;
      const use = full === budget ? ` and ${full.usedBytes} of ${full.limitBytes} bytes are in use` : '';
      throw new BudgetError(`${full.name} exhausted: the module needs ${pages * PAGE_BYTES} bytes at start${use}: wait for processes to end`);
    }
    return charge;
  }

  /** The owner of the process's pre-opened sockets; throws (taking none) if it cannot have them. */
  private socketsFor(options: SpawnOptions): ProcessSockets | undefined {
    const listeners = options.listen ?? [];
    if (listeners.length === 0) return undefined;
    if (options.hostCalls?.[SOCKETS_NAMESPACE]) {
      throw new Error(`the '${SOCKETS_NAMESPACE}' host calls answer a process's pre-opened sockets; pick another namespace`);
    }
    if (new Set(listeners).size !== listeners.length) throw new Error('the same listener is given twice; open one per fd');
    for (const l of listeners) {
      if (l.taken) throw new Error(`listener ${l.address} is already given to a process; open one per process`);
      if (l.isClosed) throw new Error(`listener ${l.address} is closed; open a new one with Runtime.listen`);
    }
    return new ProcessSockets(listeners);
  }

  /** Pool and cache figures, for monitoring and tests. */
  info(): ReturnType<WorkerPool['info']> & {
    /** Shared workers (RuntimeOptions.workers 'shared'): their number, runnable guests, guests hosted. */
    shared?: ReturnType<SharedPool['info']>;
    processes: number;
    cachedModules: number;
    cachedBytes: number;
    memoryMode: WasmMemoryMode;
  } {
    return {
      ...this.pool.info(),
      ...(this.shared ? { shared: this.shared.info() } : {}),
      processes: this.live.size,
      cachedModules: this.cache.size,
      cachedBytes: this.cache.totalBytes,
      memoryMode: wasmMemoryMode(),
    };
  }

  /** Kills every process and stops every worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.live]) p.kill();
    for (const l of this.opened) l.close(); // (those processes took are closed already)
    this.opened.clear();
    this.instrumenter?.close();
    this.backgroundInstrumenter?.close();
    await Promise.all([this.pool.close(), this.shared?.close()]);
  }

  private async compile(cid: string, bytes: Uint8Array, memory: { initial: number; maximum?: number }, hiddenMemory: boolean, tableEntries: number): Promise<CompiledModule> {
    let runnable = bytes;
    let suspendable = false;
    // Suspending lends the unwind the guest's memory (suspend.ts): one it exports as `memory`, of a page at least.
    const canSuspend = this.instrumenter !== undefined && this.shared !== undefined && memory.initial > 0 && !hiddenMemory;
    const ready = canSuspend ? this.instrumenter!.cached(cid, true) : undefined;
    if (ready) {
      runnable = ready;
      suspendable = true;
    } else if (canSuspend && this.options.suspend !== 'background') {
      try {
        runnable = await this.instrumenter!.instrument(cid, bytes, true);
        suspendable = true;
      } catch {
        // asyncify cannot take it, or it could break or hold a shared thread (instrument.ts unsuspendable): dedicated
      }
    }
    if (this.instrumenter && !suspendable) {
      try {
        runnable = await this.instrumenter.instrument(cid, bytes);
      } catch (e) {
        throw new ModuleError(
          `ww cannot instrument this module (${(e as Error).message}), which it needs to pause it and to hold it to fuel and memory limits`,
        );
      }
    }
    // Uninstrumented, the module's own memory becomes an import as the instrumentation makes it, so
    // that a worker can reuse memories for it too (the rewrite moves no index: binary.ts).
    if (!this.instrumenter && !hiddenMemory) runnable = memoryAsImport(bytes, METER_MODULE, MEMORY_FIELD) ?? bytes;
    if (this.options.guestCompiler === 'optimizing') optimizeGuestCodeFromNowOn();
    const compiled = await compiledFrom(cid, bytes, runnable, memory, hiddenMemory, tableEntries, suspendable, this.instrumenter !== undefined);
    this.cache.put(compiled);
    // (after the put: the suspendable entry must replace this one, never the other way round)
    if (canSuspend && !suspendable && this.options.suspend === 'background') this.suspendLater(cid, bytes, memory, tableEntries);
    return compiled;
  }

  /** Makes the module suspendable without holding up its load; then moves its processes still
   *  queued for a dedicated worker to the shared ones. A module asyncify refuses stays dedicated. */
  private suspendLater(cid: string, bytes: Uint8Array, memory: { initial: number; maximum?: number }, tableEntries: number): void {
    // Past the bound (a client putting thousands of new modules) a module stays on dedicated workers;
    // its next load after eviction tries again.
    if (this.suspending.has(cid) || this.suspending.size >= MAX_BACKGROUND_TRANSFORMS) return;
    this.suspending.add(cid);
    const made = (async () => {
      const runnable = await this.backgroundInstrumenter!.instrument(cid, bytes, true);
      const compiled = await compiledFrom(cid, bytes, runnable, memory, false, tableEntries, true, true);
      if (this.closed) return;
      this.cache.put(compiled);
      for (const job of this.pool.withdrawQueued((j) => j.cid === cid)) (job as Process).moveTo(compiled, this.shared!);
    })();
    made.catch(() => {}).finally(() => this.suspending.delete(cid));
  }
}

/** `runnable` (the module's bytes, instrumented, or with its memory made an import) compiled, as the cache keeps it. */
async function compiledFrom(
  cid: string,
  bytes: Uint8Array,
  runnable: Uint8Array,
  memory: { initial: number; maximum?: number },
  hiddenMemory: boolean,
  tableEntries: number,
  suspendable: boolean,
  instrumented: boolean,
): Promise<CompiledModule> {
  const module = await Wasm.compile(runnable);
  const held = bytes.length + (runnable === bytes ? 0 : runnable.length);
  const importsMemory = Wasm.Module.imports(module).some((i) => i.module === METER_MODULE && i.name === MEMORY_FIELD);
  return new CompiledModule(cid, bytes.length, module, instrumented, memory.initial, held, importsMemory ? memory : undefined, hiddenMemory, tableEntries, suspendable);
}
