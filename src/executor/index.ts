// Public surface of the executor layer. See README.md.
import { Runtime, type RuntimeOptions } from '../wasm/index.js';
import { ExecutorContext, NodeCap } from './caps.js';
import { ModuleStore } from './modules.js';
import { ProcessTable, type GuestEvents } from './table.js';
import type { NodeInfo$Init } from '../capnp-gen/ww.rpc.js';

export { ProcessTable, ProcessEntry, INIT_PID, type EndStatus, type GuestEvents, type ProcessSnapshot, type SpawnRequest, type State, type TableOptions } from './table.js';
export { ModuleStore, isContentId } from './modules.js';
export { reasonText, reasonCode, isAbnormal, type Reason } from './reasons.js';
export { ExecutorContext, ExecutorCap, ModuleCacheCap, MonitorCap, NodeCap, ProcessCap, toProcessInfo } from './caps.js';

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
  guestEvents?: GuestEvents;
  log?: (line: string) => void;
}

/** A node's executor: the runtime, the module store, the process table and the capabilities over them. */
export class Executor {
  private constructor(
    readonly runtime: Runtime,
    readonly table: ProcessTable,
    readonly modules: ModuleStore,
    readonly context: ExecutorContext,
  ) {}

  static async create(opts: ExecutorOptions): Promise<Executor> {
    // Instrumentation gives pause, fuel and memory limits: a node always wants them.
    const runtime = opts.runtime ?? (await Runtime.create({ ...opts.runtimeOptions, instrument: true }));
    const table = new ProcessTable({
      runtime,
      pauseGraceMs: opts.pauseGraceMs,
      keepEnded: opts.keepEnded,
      guestEvents: opts.guestEvents,
      log: opts.log,
    });
    const modules = new ModuleStore(runtime, opts.dataDir);
    return new Executor(runtime, table, modules, new ExecutorContext(table, modules, opts.peerId));
  }

  /** The bootstrap capability object of a node serving this executor. */
  nodeCap(info: NodeInfo$Init): NodeCap {
    return new NodeCap(this.context, info);
  }

  /** Ends every process with reason `killed`, then stops the runtime. */
  async close(): Promise<void> {
    await this.table.close();
    await this.runtime.close();
  }
}
