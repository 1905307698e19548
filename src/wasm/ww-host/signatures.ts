// Load-time check of the signatures of a module's `ww` imports, so that a guest built against a
// wrong header is refused with one line naming the import and both signatures, instead of failing
// to link when it starts. Reads only the type and import sections; a module this small reader
// does not understand (e.g. GC types) is left to the engine's own link check.

import { WW_MODULE, wwArity } from './abi.js';

const I32 = 0x7f;
const VALTYPES: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };

class Unreadable extends Error {}

class Reader {
  constructor(
    private readonly b: Uint8Array,
    public pos: number,
    private readonly end: number,
  ) {}
  byte(): number {
    if (this.pos >= this.end) throw new Unreadable();
    return this.b[this.pos++];
  }
  u32(): number {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      if (shift > 63) throw new Unreadable();
      const x = this.byte();
      result += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return result;
    }
  }
  skip(n: number): void {
    if (this.pos + n > this.end) throw new Unreadable();
    this.pos += n;
  }
  name(): string {
    const n = this.u32();
    const start = this.pos;
    this.skip(n);
    return new TextDecoder().decode(this.b.subarray(start, start + n));
  }
  limits(): void {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

interface FuncType {
  params: number[];
  results: number[];
}

function render(t: FuncType): string {
  const list = (xs: number[]): string => xs.map((x) => VALTYPES[x] ?? `0x${x.toString(16)}`).join(' ');
  return `(${list(t.params)}) -> (${list(t.results)})`;
}

/** One message per `ww` import whose signature is not the ABI's; [] when all match (or the module cannot be read here). */
export function wwSignatureErrors(bytes: Uint8Array): string[] {
  try {
    return check(bytes);
  } catch (e) {
    if (e instanceof Unreadable) return [];
    throw e;
  }
}

function check(bytes: Uint8Array): string[] {
  const types: FuncType[] = [];
  const errors: string[] = [];
  const r = new Reader(bytes, 8, bytes.length);
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (end > bytes.length) throw new Unreadable();
    const s = new Reader(bytes, r.pos, end);
    if (id === 1) {
      for (let n = s.u32(); n > 0; n--) {
        if (s.byte() !== 0x60) throw new Unreadable(); // rec/sub types (GC): not ours to check
        const params = Array.from({ length: s.u32() }, () => s.byte());
        const results = Array.from({ length: s.u32() }, () => s.byte());
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = s.u32(); n > 0; n--) {
        const module = s.name();
        const field = s.name();
        const kind = s.byte();
        if (kind === 0x00) {
          const t = types[s.u32()];
          const arity = module === WW_MODULE ? wwArity(field) : undefined;
          if (arity === undefined) continue;
          if (!t) throw new Unreadable();
          const ok = t.params.length === arity && t.params.every((p) => p === I32) && t.results.length === 1 && t.results[0] === I32;
          if (!ok) {
            const want: FuncType = { params: new Array<number>(arity).fill(I32), results: [I32] };
            errors.push(`${WW_MODULE}.${field} is imported as ${render(t)}; the ABI's is ${render(want)}`);
          }
        } else if (kind === 0x01) {
          s.byte();
          s.limits();
        } else if (kind === 0x02) {
          s.limits();
        } else if (kind === 0x03) {
          s.byte();
          s.byte();
        } else if (kind === 0x04) {
          s.byte();
          s.u32();
        } else {
          throw new Unreadable();
        }
      }
      return errors; // the import section is all we need
    }
    r.pos = end;
  }
  return errors;
}
