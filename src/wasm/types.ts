// The public surface of the process runtime (src/wasm), used by the executor
// layer and the CLI. Implementation: src/wasm/runtime.ts (class Runtime).

import type { HostCallHandler } from './host-call.js';
import type { Listener } from './sockets/listen.js';
import type { MemoryBudget } from './memory-budget.js';
import type { Preopen } from './wasi/types.js';

// A pre-opened directory, as the WASI host defines it (readOnly: wasi/README.md): one definition.
export type { Preopen };

/** Why a process ended, as far as the runtime knows (the executor adds link and peer-lost: src/executor/reasons.ts, which also renders them). */
export type ExitReason =
  | { kind: 'normal' } // exit code 0 (returned from _start or proc_exit(0))
  | { kind: 'exit'; code: number } // proc_exit(code) with code != 0
  | { kind: 'killed' }
  | { kind: 'trap'; message: string; func?: string }
  | { kind: 'limit'; limit: 'cpu' | 'memory' | 'wall' };

export interface ExitStatus {
  /** Process exit status as a shell sees it: exitCode(reason) (exit.ts). */
  code: number;
  reason: ExitReason;
  /** Present when stdout/stderr were spawned with 'capture'. */
  stdout?: Uint8Array;
  stderr?: Uint8Array;
  /** Instrumentation ticks consumed (fuel), when the module was instrumented. */
  fuelUsed: number;
  /** Peak linear memory in bytes. */
  memoryBytes: number;
}

export interface Limits {
  /** Upper bound on linear memory; memory.grow past it fails (guest sees -1) and,
   *  if the guest then traps, the reason is limit: memory. */
  maxMemoryBytes?: number;
  /** Instrumentation ticks before the process ends with limit: cpu. */
  fuel?: number;
  /** Wall-clock milliseconds of running time (time spent paused does not count). */
  timeoutMs?: number;
}

/** 'inherit' = the host's own fd; 'ignore' = discard; 'capture' = returned in ExitStatus;
 *  a function = called with each chunk as the guest writes it. */
export type OutputMode = 'inherit' | 'ignore' | 'capture' | ((data: Uint8Array) => void);
export type InputMode = 'inherit' | 'ignore' | Uint8Array | InputStream;

/**
 * A guest's stdin read on demand (stdin.ts): `read` is called only while the guest waits in fd_read,
 * one call at a time, and resolves with the next bytes, at most `max` (at most 64 KiB is asked for),
 * or an empty array at end of input. A read that rejects or gives more than `max` is EIO for the guest
 * and the stream is not read again. `close` is called once: at end of input, at such a failure, or
 * when the process ends, whichever comes first (a read may still be pending then; its answer is dropped).
 */
export interface InputStream {
  read(max: number): Promise<Uint8Array>;
  close?(): void;
}

export interface SpawnOptions {
  /** argv; args[0] is the program name (the module's file name, as wasmtime does). */
  args: string[];
  env?: Record<string, string>;
  preopens?: Preopen[];
  stdin?: InputMode; // default 'ignore'
  stdout?: OutputMode; // default 'ignore'
  stderr?: OutputMode; // default 'ignore'
  limits?: Limits;
  /** Synchronous host calls the guest's worker may make, by namespace ('ww' gives the guest the
   *  `ww` import module). See host-call.ts. */
  hostCalls?: Record<string, HostCallHandler>;
  /** Listening TCP sockets, opened beforehand with Runtime.listen: the guest gets them at fds 3, 4, ...
   *  in this order (pre-opened directories follow). Once spawn returns, the process owns them: they
   *  and every connection accepted on them close when it ends, for any reason. A listener serves one
   *  process. The 'sock' host-call namespace is then the runtime's own. */
  listen?: Listener[];
  /** The budget its linear memory counts against with other processes' (a principal's): its initial
   *  pages are charged at spawn (BudgetError past it), each memory.grow as it happens (refused past
   *  it), and all given back when it ends. Needs an instrumented module. */
  memoryBudget?: MemoryBudget;
  /** Whose process it is (e.g. a principal): while processes wait for a worker, free workers go to
   *  the groups in turn, so one group's many waiting processes do not delay another's. */
  group?: object;
}

export type ProcessState = 'starting' | 'running' | 'paused' | 'exited';

export interface ProcessStats {
  fuelUsed: number;
  memoryBytes: number;
  /** Milliseconds spent running (not paused). */
  runningMs: number;
  /** Of runningMs, the milliseconds the guest spent blocked (sleeping, waiting for input or for a
   *  host call's answer): runningMs - blockedMs approximates its CPU time. */
  blockedMs: number;
}

/** A running guest. Created by Runtime.spawn. */
export interface WasmProcess {
  readonly state: ProcessState;
  /** Resolves once, when the process has ended for any reason. Never rejects. */
  wait(): Promise<ExitStatus>;
  /** Ends the process with reason `killed` (terminates its worker, which is replaced). Idempotent. */
  kill(): void;
  /** Freezes the guest at its next instrumentation tick; resolves once it is frozen
   *  (or at once if it already ended). */
  pause(): Promise<void>;
  /** Continues a paused guest exactly where it stopped. */
  resume(): void;
  stats(): ProcessStats;
}

/** A validated, compiled module, cached by content ID. */
export interface LoadedModule {
  /** sha256 of the module bytes, lowercase hex. */
  readonly cid: string;
  readonly size: number;
  /** Made suspendable: it runs on a shared worker (RuntimeOptions.workers 'shared'). */
  readonly suspendable: boolean;
}

/** Invalid module bytes or a module ww cannot run; `message` says which and what to do. */
export class ModuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModuleError';
  }
}

/** A valid module that cannot run under the limits asked (or the runtime's settings). */
export class LimitsError extends ModuleError {
  constructor(message: string) {
    super(message);
    this.name = 'LimitsError';
  }
}

/** A shared budget (SpawnOptions.memoryBudget) has no room for the process. */
export class BudgetError extends LimitsError {
  constructor(message: string) {
    super(message);
    this.name = 'BudgetError';
  }
}
