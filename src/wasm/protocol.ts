// Messages between the runtime (main thread) and a process worker, and the layout of the
// control blocks both sides read without messages (SharedArrayBuffers): one per process, one per worker.

import type { SocketsInit } from './sockets/protocol.js';
import type { ExitStatus, Limits, Preopen } from './types.js';
import type { WasmModule } from './webassembly.js';

export type OutputTarget = 'ignore' | 'inherit' | 'capture' | 'stream';
export type InputSource = { kind: 'ignore' } | { kind: 'inherit' } | { kind: 'bytes'; data: Uint8Array } | { kind: 'stream' };

export interface RunMessage {
  type: 'run';
  pid: number;
  cid: string;
  /** The process's control block (CONTROL_BYTES): pause, kill, output in flight, host-call answers, statistics. */
  control: SharedArrayBuffer;
  /** Whose process it is (a number per principal): a shared worker gives runnable guests time slices in turn between groups. */
  group: number;
  /** Sent only the first time this worker runs this module; the worker caches it by cid. */
  module?: WasmModule;
  /** Modules the worker should forget (the runtime keeps the worker's cache bounded). */
  drop: string[];
  instrumented: boolean;
  /** The memory the worker must provide (module imports it), with its declared limits in pages. */
  memory?: { initial: number; maximum?: number };
  args: string[];
  env: [string, string][];
  preopens: Preopen[];
  stdin: InputSource;
  stdout: OutputTarget;
  stderr: OutputTarget;
  limits: Limits;
  /** Nonzero when sent ahead to a worker still running another process: start it only after taking
   *  this token out of CTL_PREFETCH (a fresh token per send, so a stale message never matches). */
  prefetchToken: number;
  /** Bound on bytes captured per stream ('capture'): past it writes fail and the process ends with limit: memory. */
  maxCaptureBytes: number;
  /** Namespaces of synchronous host calls the main thread answers for this process (host-call.ts). */
  hostNamespaces: string[];
  /** Pre-opened sockets (guest fds 3, 4, ...), answered by the 'sock' host calls. */
  sockets?: SocketsInit;
  /** The shared memory budgets it counts against and its own charge in them (memory-budget.ts). */
  memoryCharge?: { budgets: Int32Array[]; cell: Int32Array };
  /** Entries of the module's tables at start (counted as memory, already charged). */
  tableEntries: number;
}
/** A shared worker drops a guest it hosts (killed, or past its wall-clock deadline while blocked). */
export interface StopMessage {
  type: 'stop';
  pid: number;
}
export type ToWorker = RunMessage | StopMessage;

/** What a worker is given at its start. `shared`: it hosts many guests at once (suspendable modules). */
export interface WorkerInit {
  /** The worker's own control block (WORKER_CONTROL_BYTES). */
  control: SharedArrayBuffer;
  /** Answers to host calls arrive here (host-call.ts). */
  callPort: import('node:worker_threads').MessagePort;
  shared: boolean;
}

/** An answer to a host call, for the process `pid` (a shared worker has many calls outstanding). */
export interface CallAnswer {
  pid: number;
  reply: import('./host-call.js').HostReply;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'out'; pid: number; fd: 1 | 2; data: Uint8Array }
  | { type: 'frozen'; pid: number; seq: number }
  /** A synchronous host call: the worker waits on CTL_CALL for the answer on its call port. */
  | { type: 'call'; pid: number; op: string; args: unknown }
  /** A host call without an answer (the worker does not wait): its handler's result and errors are
   *  dropped, so the handler must record failures where the worker can see them. Ordered with calls. */
  | { type: 'cast'; pid: number; op: string; args: unknown }
  | ({ type: 'exit'; pid: number; runningMs: number; blockedMs: number } & ExitStatus);

// A process's control block: four Int32 words, then Float64 statistics the worker publishes at each tick.
export const CONTROL_BYTES = 64;
export const CONTROL_WORDS = 4;
/** Int32 index: 0 = run; any other value = pause request number (seq), set by the runtime. */
export const CTL_PAUSE = 0;
/** Int32 index: bytes of streamed output posted by the worker and not yet delivered (backpressure). */
export const CTL_INFLIGHT = 1;
/** Int32 index: 1 once the process is killed; a running guest of a shared worker ends at its next tick. */
export const CTL_KILL = 2;
/** Int32 index: 0 while a host call is outstanding, 1 once the main thread has queued its answer. */
export const CTL_CALL = 3;
/** Float64 indexes. */
export const STAT_FUEL = 2;
export const STAT_MEMORY = 3;
export const STAT_RUNNING_MS = 4;
/** Epoch milliseconds (timeOrigin + now) at which the guest last froze; for measuring pause latency. */
export const STAT_FROZEN_AT = 5;
/** Milliseconds the worker spent blocked (sleeps, blocking reads, host calls): not CPU time. */
export const STAT_BLOCKED_MS = 6;
/** Epoch milliseconds at which the current blocking wait began; 0 when not blocked. */
export const STAT_BLOCKED_SINCE = 7;
/** Streamed output the worker may have in flight before it waits for the runtime to catch up. */
export const MAX_INFLIGHT_BYTES = 8 * 1024 * 1024;

// A worker's control block: Int32 words.
export const WORKER_CONTROL_BYTES = 12;
/** Int32 index: token of a process sent ahead to a busy worker; the runtime takes it back by
 *  compare-and-swap to 0, the worker claims it the same way before starting it. */
export const WCTL_PREFETCH = 0;
/** Int32 index (shared workers): guests ready to run or running, as the worker last counted them. */
export const WCTL_RUNNABLE = 1;
/** Int32 index (shared workers): bumped by the runtime with each message it sends the worker (a run,
 *  a stop, a host call's answer): a running guest then gives up the thread at its slice's end. */
export const WCTL_MAIL = 2;
