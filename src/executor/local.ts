// Running one module in this Node process, without a node: `ww run` when no node answers. The
// guest still gets the whole executor — the `ww` host module, so it can spawn children, use
// channels and the capability store — in a private executor that ends with the run.

import { Runtime, type Limits, type OutputMode, type Preopen, type RuntimeOptions } from '../wasm/index.js';
import type { ListenAddress } from '../wasm/sockets/listen.js';
import { readShape } from '../wasm/binary.js';
import { Executor } from './executor.js';
import type { EndStatus } from './table.js';
import { fromRuntime } from './runtime-errors.js';

export interface LocalRunOptions {
  /** The module's bytes. Rejects with the runtime's ModuleError when they are not a runnable module. */
  module: Uint8Array;
  /** argv[0] is the program name. */
  argv: string[];
  env?: Record<string, string>;
  preopens?: Preopen[];
  limits?: Limits;
  /** Default 'inherit': this Node process's stdin. */
  stdin?: Uint8Array | 'inherit';
  /** Default 'inherit'. Children the guest spawns write where it writes. */
  stdout?: OutputMode;
  stderr?: OutputMode;
  /** Listening sockets pre-opened at fds 3, 4, ... Rejects with ListenError when one cannot be bound. */
  listen?: ListenAddress[];
  /** For the private runtime. Default: one worker (more start as guests spawn children or block),
   *  instrumented when `limits` has fuel or a memory bound, or the module imports `ww`. */
  runtimeOptions?: RuntimeOptions;
}

export interface LocalRun {
  /** The root process's pid in the private executor. */
  readonly pid: number;
  /** The addresses of `listen` as bound (HOST:PORT, the real port where 0 was asked). */
  readonly listening: string[];
  /** Resolves when the root process has ended (its children may still run until close()). */
  wait(): Promise<EndStatus>;
  /** Ends the root process and its children with reason `killed`. */
  kill(): void;
  /** Ends whatever still runs and stops the private runtime. */
  close(): Promise<void>;
}

/** True when the module imports from `ww` (malformed bytes: false; loading reports them). */
function importsWw(bytes: Uint8Array): boolean {
  try {
    return readShape(bytes).imports.some((i) => i.module === 'ww');
  } catch {
    return false;
  }
}

/**
 * Starts `module` in a private executor. Use: `const run = await runLocal(...)`, then
 * `await run.wait()`, then `await run.close()` (also on errors, and after kill()).
 */
export async function runLocal(opts: LocalRunOptions): Promise<LocalRun> {
  const fuelOrMemory = opts.limits?.fuel !== undefined || opts.limits?.maxMemoryBytes !== undefined;
  // A guest of the `ww` module may spawn children with limits and pause them: both need the meter.
  const runtime = await Runtime.create({ poolSize: 1, instrument: fuelOrMemory || importsWw(opts.module), ...opts.runtimeOptions });
  const executor = await Executor.create({ runtime, peerId: 'local' });
  try {
    const module = await executor.modules.put(opts.module);
    const listeners =
      opts.listen && opts.listen.length > 0
        ? await runtime.listen(opts.listen).catch((e: unknown) => {
            throw fromRuntime(e);
          })
        : [];
    let root;
    try {
      root = executor.spawn({
        module,
        argv: opts.argv,
        env: opts.env,
        preopens: opts.preopens,
        limits: opts.limits,
        stdin: opts.stdin ?? 'inherit',
        stdout: opts.stdout ?? 'inherit',
        stderr: opts.stderr ?? 'inherit',
        ...(listeners.length > 0 ? { listen: listeners } : {}),
      });
    } catch (e) {
      for (const l of listeners) l.close();
      throw e;
    }
    const entry = root;
    return {
      pid: entry.pid,
      listening: listeners.map((l) => l.address),
      wait: () => entry.settled,
      kill: () => executor.table.kill(entry),
      close: () => executor.close(),
    };
  } catch (e) {
    await executor.close();
    throw e;
  }
}
