// Module loading: bytes -> checks with clear errors -> content ID -> compiled module,
// and the LRU cache of compiled modules bounded by bytes.

import { createHash } from 'node:crypto';
import { checkFraming, readShape, type ModuleShape } from './binary.js';
import { ModuleError, type LoadedModule } from './types.js';
import { WASI_MODULE, isPreview1Function } from './wasi/abi/functions.js';
import { Wasm, type WasmModule } from './webassembly.js';
import { WW_FUNCTIONS, WW_MODULE } from './ww-host/abi.js';
import { wwSignatureErrors } from './ww-host/signatures.js';

export const PAGE_BYTES = 65536;

/** A checked, compiled module. `module` is what runs: the instrumented build when `instrumented`. */
export class CompiledModule implements LoadedModule {
  constructor(
    readonly cid: string,
    readonly size: number,
    readonly module: WasmModule,
    readonly instrumented: boolean,
    /** Declared initial linear memory, in 64 KiB pages. */
    readonly initialPages: number,
    /** Bytes this entry holds in the cache (original plus instrumented code), for the cache bound. */
    readonly cacheBytes: number,
    /** Set when the runnable module imports its memory (instrumented, or rewritten at load): the worker provides it. */
    readonly importedMemory?: { initial: number; maximum?: number },
    /** The module defines a memory it does not export as `memory`: neither WASI nor the meter sees it. */
    readonly hiddenMemory = false,
    /** Entries of its tables at start (each is host memory: TABLE_ENTRY_BYTES). */
    readonly initialTableEntries = 0,
    /** Made suspendable (suspendable.ts): it runs on a shared worker. */
    readonly suspendable = false,
  ) {}
}

/** Host memory one table entry takes (a pointer in V8), counted against the process's memory. */
export const TABLE_ENTRY_BYTES = 8;
/** Table entries one process may hold, all its tables together: V8 keeps them in its worker's heap,
 *  whose exhaustion aborts the whole node, so this bound holds whatever the memory budgets allow. */
export const MAX_TABLE_ENTRIES = 1024 * 1024;

/** Table entries every process has free, like its other fixed costs: a compiled C or Rust module
 *  has a small table of functions it calls indirectly, which should not cost it a whole page. */
export const FREE_TABLE_ENTRIES = PAGE_BYTES / TABLE_ENTRY_BYTES;

/** Pages of memory `entries` table entries (all tables together) are counted as. */
export function tablePages(entries: number): number {
  return Math.ceil((Math.max(0, entries - FREE_TABLE_ENTRIES) * TABLE_ENTRY_BYTES) / PAGE_BYTES);
}

export function contentId(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Whether the module exports a memory as `memory`, the one the WASI host (and the meter) reads. */
export function exportsMemory(shape: ModuleShape): boolean {
  return shape.exports.some((e) => e.name === 'memory' && e.kind === 'memory');
}

/** Runs every check that does not need compilation; throws ModuleError saying what is wrong and what to do. */
export function checkModule(bytes: Uint8Array): ModuleShape {
  checkFraming(bytes);
  if (!Wasm.validate(bytes)) {
    let reason = 'the WebAssembly engine rejected it';
    try {
      new Wasm.Module(bytes);
    } catch (e) {
      reason = (e as Error).message.replace(/^WebAssembly\.Module\(\): /, '');
    }
    throw new ModuleError(`invalid WebAssembly module: ${reason}`);
  }
  const shape = readShape(bytes);
  if (shape.tableEntries > MAX_TABLE_ENTRIES) {
    throw new ModuleError(`module declares tables of ${shape.tableEntries} entries at start, more than the ${MAX_TABLE_ENTRIES} a process may hold`);
  }
  const start = shape.exports.find((e) => e.name === '_start');
  if (!start || start.kind !== 'function') {
    const reactor = shape.exports.some((e) => e.name === '_initialize');
    throw new ModuleError(
      'module does not export a function `_start`: ww runs WASI command modules' +
        (reactor ? ' (this looks like a reactor/library module with `_initialize`; build it as a command)' : ''),
    );
  }
  const unsupported = shape.imports.filter(
    (i) =>
      !(i.kind === 'function' && i.module === WASI_MODULE && isPreview1Function(i.field)) &&
      !(i.kind === 'function' && i.module === WW_MODULE && Object.hasOwn(WW_FUNCTIONS, i.field)),
  );
  if (unsupported.length > 0) {
    const list = unsupported.map((i) => `${i.module}.${i.field} (${i.kind})`).join(', ');
    throw new ModuleError(
      `module imports what ww does not provide: ${list}. ww provides the functions of ${WASI_MODULE} ` +
        `(WASI preview 1) and of ${WW_MODULE} (guest-sdk/ABI.md) only; a memory, if the module has one, must be its own`,
    );
  }
  if (shape.imports.some((i) => i.module === WW_MODULE)) {
    const wrong = wwSignatureErrors(bytes);
    if (wrong.length > 0) {
      throw new ModuleError(`module imports ${WW_MODULE} functions with the wrong signatures: ${wrong.join('; ')} (guest-sdk/ABI.md)`);
    }
  }
  // No exported memory is not refused: such a module runs until a call needs memory, which traps (as wasmtime).
  return shape;
}

/** Compiled modules by content ID, least recently used evicted first, bounded by cacheBytes. */
export class ModuleCache {
  private readonly entries = new Map<string, CompiledModule>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}

  get(cid: string): CompiledModule | undefined {
    const m = this.entries.get(cid);
    if (m) {
      this.entries.delete(cid);
      this.entries.set(cid, m);
    }
    return m;
  }

  /** Adds `m`, or puts it in place of the entry with its content ID (made suspendable since). */
  put(m: CompiledModule): void {
    const old = this.entries.get(m.cid);
    if (old === m) return;
    if (old) {
      this.entries.delete(m.cid);
      this.bytes -= old.cacheBytes;
    }
    this.entries.set(m.cid, m);
    this.bytes += m.cacheBytes;
    for (const [cid, old] of this.entries) {
      if (this.bytes <= this.maxBytes || old === m) break;
      this.entries.delete(cid);
      this.bytes -= old.cacheBytes;
    }
  }

  get size(): number {
    return this.entries.size;
  }
  get totalBytes(): number {
    return this.bytes;
  }
}
