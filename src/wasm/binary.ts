// A small reader for the parts of a WebAssembly binary the loader checks before
// compiling: the header, section framing (to name truncation precisely), the
// import and export sections, and the memory limits. It never executes anything.

import { ModuleError } from './types.js';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const SECTION_NAMES = [
  'custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data',
  'datacount', 'tag',
];
const KIND_NAMES = ['function', 'table', 'memory', 'global', 'tag'];

export interface ImportEntry {
  module: string;
  field: string;
  kind: string;
}
export interface ExportEntry {
  name: string;
  kind: string;
}
export interface MemoryLimits {
  /** In 64 KiB pages. */
  initial: number;
  maximum?: number;
}
export interface ModuleShape {
  imports: ImportEntry[];
  exports: ExportEntry[];
  /** The first memory the module defines (imported memories are listed in imports). */
  memory?: MemoryLimits;
  /** Entries of all the tables it defines at start (host memory: 8 bytes each). */
  tableEntries: number;
}

class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  byte(): number {
    if (this.pos >= this.end) throw new RangeError('unexpected end of section');
    return this.bytes[this.pos++];
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new RangeError('LEB128 integer too long');
    }
  }
  name(): string {
    const len = this.u32();
    if (this.pos + len > this.end) throw new RangeError('name runs past end of section');
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  limits(): MemoryLimits {
    const flags = this.byte();
    const initial = this.u32();
    const maximum = flags & 1 ? this.u32() : undefined;
    return { initial, maximum };
  }
}

/** Checks the header and that every section fits; throws ModuleError naming what is wrong. */
export function checkFraming(bytes: Uint8Array): void {
  if (bytes.length === 0) throw new ModuleError('module is empty (0 bytes): expected a WebAssembly binary (.wasm)');
  const head = bytes.subarray(0, 4);
  if (bytes.length < 8) {
    const isPrefix = [...head].every((b, i) => b === MAGIC[i]);
    throw new ModuleError(
      isPrefix
        ? `module is truncated: ${bytes.length} bytes, but a WebAssembly binary starts with an 8-byte header`
        : `not a WebAssembly binary: ${bytes.length} bytes that do not start with \\0asm`,
    );
  }
  if (!MAGIC.every((b, i) => head[i] === b)) {
    const text = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
    if (text.startsWith('(module') || text.startsWith(';;')) {
      throw new ModuleError('module is WebAssembly text (.wat), not a binary: assemble it first (e.g. wat2wasm)');
    }
    const hex = [...head].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new ModuleError(`not a WebAssembly binary: the file starts with ${hex}, expected 00 61 73 6d (\\0asm)`);
  }
  const version = bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24);
  if (version !== 1) {
    throw new ModuleError(
      version === 0x1000d
        ? 'module is a WebAssembly component (preview 2); ww runs WASI preview 1 core modules'
        : `unsupported WebAssembly binary version ${version} (expected 1)`,
    );
  }
  let pos = 8;
  while (pos < bytes.length) {
    const r = new Reader(bytes, pos, bytes.length);
    let id: number;
    let size: number;
    try {
      id = r.byte();
      size = r.u32();
    } catch {
      throw new ModuleError(`module is truncated: a section header at byte ${pos} is cut off (file is ${bytes.length} bytes)`);
    }
    const name = SECTION_NAMES[id] ?? `#${id}`;
    if (r.pos + size > bytes.length) {
      throw new ModuleError(
        `module is truncated: the ${name} section at byte ${pos} needs ${size} bytes but only ` +
          `${bytes.length - r.pos} remain (file is ${bytes.length} bytes)`,
      );
    }
    pos = r.pos + size;
  }
}

/** Reads imports, exports and the defined memory. Call after checkFraming and WebAssembly.validate. */
export function readShape(bytes: Uint8Array): ModuleShape {
  const shape: ModuleShape = { imports: [], exports: [], tableEntries: 0 };
  let pos = 8;
  while (pos < bytes.length) {
    const header = new Reader(bytes, pos, bytes.length);
    const id = header.byte();
    const size = header.u32();
    const r = new Reader(bytes, header.pos, header.pos + size);
    pos = header.pos + size;
    if (id === 2) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const module = r.name();
        const field = r.name();
        const kind = r.byte();
        shape.imports.push({ module, field, kind: KIND_NAMES[kind] ?? `kind ${kind}` });
        // Only function imports can be satisfied; stop at anything whose description we would have to decode.
        if (kind !== 0) break;
        r.u32();
      }
    } else if (id === 4) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        // A table with an initializer (0x40 0x00 ...) is followed by an expression this reader does
        // not decode: count it and stop (validation passed; only the sizes matter here).
        const withInit = r.bytes[r.pos] === 0x40;
        if (withInit) r.pos += 2;
        const ref = r.byte();
        if (ref === 0x63 || ref === 0x64) r.u32(); // (ref null? heaptype): its type index or code
        shape.tableEntries += r.limits().initial;
        if (withInit) {
          if (i + 1 < count) throw new ModuleError('a table with an initializer expression followed by more tables: ww cannot count their sizes');
          break;
        }
      }
    } else if (id === 5) {
      if (r.u32() > 0) shape.memory = r.limits();
    } else if (id === 7) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const name = r.name();
        const kind = r.byte();
        r.u32();
        shape.exports.push({ name, kind: KIND_NAMES[kind] ?? `kind ${kind}` });
      }
    }
  }
  return shape;
}

/** Unsigned LEB128, as the binary format writes sizes and counts. */
function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function section(id: number, body: readonly number[] | Uint8Array): number[] {
  return [id, ...leb128(body.length), ...body];
}

/**
 * The module with its one defined memory turned into an import `module`.`field` of the same limits
 * (its exports name memory index 0, which the import now is), or undefined when the module is not
 * of that form (no memory, several, shared or 64-bit). Only the import and memory sections change:
 * imported memories take no function or global index, so nothing else moves. Call after
 * checkModule, which admits no imported memory (the new import must be the only one).
 */
export function memoryAsImport(bytes: Uint8Array, module: string, field: string): Uint8Array | undefined {
  const sections: { id: number; start: number; body: number; end: number }[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    const header = new Reader(bytes, pos, bytes.length);
    const id = header.byte();
    const size = header.u32();
    sections.push({ id, start: pos, body: header.pos, end: header.pos + size });
    pos = header.pos + size;
  }
  const mem = sections.find((s) => s.id === 5);
  if (!mem) return undefined;
  const r = new Reader(bytes, mem.body, mem.end);
  if (r.u32() !== 1) return undefined;
  const limitsStart = r.pos;
  const flags = r.byte();
  if (flags > 1) return undefined; // shared (2) or 64-bit (4): left as they are
  r.u32(); // initial
  if (flags & 1) r.u32(); // maximum
  const limits = bytes.subarray(limitsStart, r.pos);
  const enc = new TextEncoder();
  const name = (s: string): number[] => {
    const b = enc.encode(s);
    return [...leb128(b.length), ...b];
  };
  const entry = [...name(module), ...name(field), 0x02, ...limits];
  const imp = sections.find((s) => s.id === 2);
  let importSection: number[];
  if (imp) {
    const ir = new Reader(bytes, imp.body, imp.end);
    const count = ir.u32();
    // checkModule admits function imports only: any memory import would already be there
    importSection = section(2, [...leb128(count + 1), ...bytes.subarray(ir.pos, imp.end), ...entry]);
  } else {
    importSection = section(2, [1, ...entry]);
  }
  // The import section goes where the import section was, else right after the type section (or first).
  const before = imp ?? sections.find((s) => s.id !== 0 && s.id !== 1);
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const s of sections) {
    if (s === before) parts.push(new Uint8Array(importSection));
    if (s === imp || s === mem) continue;
    parts.push(bytes.subarray(s.start, s.end));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
