// The WASI preview1 host: one per guest process, synchronous, run inside a
// worker thread. See README.md.
import { createImports } from './abi/preview1.js';
import { WasiCtx } from './ctx.js';
import { WasiExit, type WasiOptions } from './types.js';
import type { WasmMemory } from './abi/memory.js';

export { WasiExit } from './types.js';
export type { WasiOptions, StdioEndpoint, Preopen } from './types.js';

/** What start() needs of a WebAssembly.Instance (the ES2023 lib declares no WebAssembly types). */
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
export type { WasmMemory } from './abi/memory.js';
export { missingMemory } from './abi/memory.js';

const WasmMemoryClass = (globalThis as unknown as { WebAssembly: { Memory: abstract new (...a: never[]) => WasmMemory } })
  .WebAssembly.Memory;

export class WasiHost {
  readonly imports: { wasi_snapshot_preview1: Record<string, (...a: any[]) => any> };
  private readonly ctx: WasiCtx;

  constructor(options: WasiOptions) {
    this.ctx = new WasiCtx(options);
    this.imports = { wasi_snapshot_preview1: createImports(this.ctx) };
  }

  /** Gives the host the guest's memory; call after instantiation, before _start. */
  setMemory(memory: WasmMemory): void {
    this.ctx.memory.setMemory(memory);
  }

  /**
   * Runs the guest's _start. Returns its exit code (0 if _start returns); traps propagate. A module
   * that exports no memory runs too: a call that needs memory traps (as wasmtime), others work.
   */
  start(instance: WasmInstance): number {
    const { memory, _start } = instance.exports;
    if (typeof _start !== 'function') {
      throw new TypeError('the module exports no _start function; only WASI commands can be started');
    }
    if (memory instanceof WasmMemoryClass) this.setMemory(memory);
    try {
      _start();
      return 0;
    } catch (err) {
      if (err instanceof WasiExit) return err.code;
      throw err;
    }
  }

  /** Closes every host fd this host opened. Idempotent. */
  close(): void {
    this.ctx.fds.closeAll();
  }
}
