// The executor without its RPC face: runtime, module store, process table and the `ww` host
// module. caps.ts serves it over Cap'n Proto (nodeCapOf); a local `ww run` needs none of that, so
// this file does not load the RPC engine.
import { MemoryBudget, Runtime, type RuntimeOptions } from '../wasm/index.js';
import { DEFAULT_NODE_MEMORY_BYTES } from './quotas.js';
import { ModuleStore } from './modules.js';
import { ProcessTable, type GuestEvents, type ProcessEntry, type SpawnRequest } from './table.js';
import { WwHost } from './guest.js';

export interface ExecutorOptions {
  /** A runtime to use (the executor closes it on close()); default: one created with runtimeOptions. */
  runtime?: Runtime;
  runtimeOptions?: RuntimeOptions;
  /** Where modules put in the cache are kept across restarts (<dataDir>/modules). Default: memory only. */
  dataDir?: string;
  peerId: string;
  /** Cooperative pause notice to freeze, in ms. Default 100. */
  pauseGraceMs?: number;
  /** Ended processes kept for ps/wait/info. Default 1000. */
  keepEnded?: number;
  /** Captured output of ended processes kept, in bytes (oldest dropped first). Default 256 MiB. */
  keepOutputBytes?: number;
  guestEvents?: GuestEvents;
  log?: (line: string) => void;
  /** Live processes spawned by guests at once (EAGAIN past it). Default 4096. */
  maxGuestSpawned?: number;
  /** Linear memory of all processes together, every principal's budget inside it. Default DEFAULT_NODE_MEMORY_BYTES. */
  memoryBytes?: number;
}

/** A node's executor: the runtime, the module store, the process table and the capabilities over them. */
export class Executor {
  private constructor(
    readonly runtime: Runtime,
    readonly table: ProcessTable,
    readonly modules: ModuleStore,
    readonly peerId: string,
    /** The `ww` host module: handle tables, channels, the capability store, guest events. */
    readonly ww: WwHost,
    /** The node's memory budget: each principal's is inside it. */
    readonly memory: MemoryBudget,
  ) {}

  static async create(opts: ExecutorOptions): Promise<Executor> {
    // Instrumentation gives pause, fuel and memory limits: a node always wants them.
    const runtime = opts.runtime ?? (await Runtime.create({ ...opts.runtimeOptions, instrument: true }));
    const pauseGraceMs = opts.pauseGraceMs ?? 100;
    // The table tells the ww host of pauses (PAUSE/RESUME events), which tells opts.guestEvents.
    let ww: WwHost | undefined;
    const table = new ProcessTable({
      runtime,
      pauseGraceMs,
      keepEnded: opts.keepEnded,
      keepOutputBytes: opts.keepOutputBytes,
      guestEvents: { pauseRequested: (pid) => ww?.pauseRequested(pid), freezing: (pid) => ww?.freezing(pid), resumed: (pid) => ww?.resumed(pid) },
      log: opts.log,
    });
    const modules = new ModuleStore(runtime, opts.dataDir);
    ww = new WwHost({ table, modules, pauseGraceMs, forward: opts.guestEvents, maxGuestSpawned: opts.maxGuestSpawned });
    return new Executor(runtime, table, modules, opts.peerId, ww, new MemoryBudget("the node's memory budget", opts.memoryBytes ?? DEFAULT_NODE_MEMORY_BYTES));
  }

  /** Starts a process with the `ww` host module (initial handles: this Executor, the capability store). */
  spawn(req: SpawnRequest): ProcessEntry {
    return this.ww.spawn(req);
  }

  /** What this node is doing and can still take (a cluster's heartbeats carry it): processes running
   *  or paused, processes waiting for a worker, and the node's memory budget not in use. */
  load(): { running: number; queued: number; freeMemoryBytes: number } {
    let running = 0;
    let queued = 0;
    for (const e of this.table.list()) {
      if (e === this.table.init) continue;
      const state = e.state;
      if (state === 'queued') queued++;
      else if (state !== 'exited') running++;
    }
    return { running, queued, freeMemoryBytes: Math.max(0, this.memory.limitBytes - this.memory.usedBytes) };
  }

  /** Ends every process with reason `killed`, then stops the runtime. */
  async close(): Promise<void> {
    await this.table.close();
    this.ww.close();
    await this.runtime.close();
  }
}
