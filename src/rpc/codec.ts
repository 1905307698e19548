// Schema descriptors and the plain-object codec. Generated code (src/capnp-gen/*.rpc.ts) describes
// each struct and interface with these descriptors; the engine turns plain JS objects into struct
// content and back, with capabilities handed to the engine through CapIO.
import { ElementSize, SCALARS, type Scalar, type StructBuilder, type StructRef, WireBuilder, WireError, WireReader } from './wire.js';

export type TypeDesc =
  | { readonly k: 'void' }
  | { readonly k: 'bool' }
  | { readonly k: 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32' | 'float32' | 'float64' }
  | { readonly k: 'int64' | 'uint64' }
  | { readonly k: 'text' }
  | { readonly k: 'data' }
  | { readonly k: 'anyPointer' }
  | { readonly k: 'struct'; readonly s: () => StructDesc }
  | { readonly k: 'list'; readonly e: TypeDesc }
  | { readonly k: 'cap'; readonly i: () => InterfaceDesc };

export interface FieldDesc {
  readonly name: string;
  readonly type: TypeDesc;
  /** Data fields: offset in units of the field's size (bits for bool). Pointer fields: pointer index. */
  readonly offset: number;
  /** Union member: the discriminant value that selects this field. */
  readonly discriminant?: number;
  /** The schema's default: primitives are stored XOR it; text and data read as it when null. */
  readonly def?: number | bigint | boolean | string | Uint8Array;
  /** Group fields share their parent's sections; `group` describes the group's own fields. */
  readonly group?: StructDesc;
}

export interface StructDesc {
  readonly name: string;
  readonly id: string;
  readonly dataWords: number;
  readonly pointers: number;
  readonly fields: readonly FieldDesc[];
  /** Byte offset of the union discriminant (uint16), when the struct has an unnamed union. */
  readonly discriminantOffset?: number;
}

export interface MethodDesc {
  readonly name: string;
  readonly ordinal: number;
  readonly interfaceId: bigint;
  readonly interfaceName: string;
  readonly params: StructDesc;
  readonly results: StructDesc;
}

export interface InterfaceDesc {
  readonly name: string;
  readonly id: bigint;
  readonly methods: readonly MethodDesc[];
}

/** How the codec asks the engine for capabilities while reading and writing a payload. */
export interface CapIO {
  /** Reading: the capability at `index` of the payload's cap table (null for a null pointer). */
  read(index: number, iface: InterfaceDesc): unknown;
  /** Writing: adds `value` to the payload's cap table, returns its index. */
  write(value: unknown, iface: InterfaceDesc): number;
}

export const MAX_NESTING = 64;
/** Data fields at least this big are returned as views into the received message instead of copies. */
const ZERO_COPY_BYTES = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Reading

export function readStruct(r: WireReader, st: StructRef, d: StructDesc, caps: CapIO, depth = 0): Record<string, unknown> {
  if (depth > MAX_NESTING) throw new WireError(`struct nesting deeper than ${MAX_NESTING}`);
  const out: Record<string, unknown> = {};
  const which = d.discriminantOffset !== undefined ? r.u16(st, d.discriminantOffset * 2) : -1;
  for (const f of d.fields) {
    if (f.discriminant !== undefined) {
      if (f.discriminant !== which) continue;
      out.which = f.name;
    }
    if (f.group) {
      out[f.name] = readStruct(r, st, f.group, caps, depth + 1);
      continue;
    }
    out[f.name] = readField(r, st, f, caps, depth);
  }
  return out;
}

function readField(r: WireReader, st: StructRef, f: FieldDesc, caps: CapIO, depth: number): unknown {
  const o = f.offset;
  const k = f.type.k;
  if (k === 'void') return undefined;
  if (k === 'bool') return r.bool(st, o, f.def === true);
  const sc = scalarOf(k);
  if (sc) {
    const raw = r.scalar(st, o * sc.bytes, sc);
    return f.def === undefined ? raw : fromBits(sc, xorBits(bitsOf(sc, raw), bitsOf(sc, f.def as Num)));
  }
  if (f.def !== undefined && (o >= st.pc || r.isNullField(st, o))) {
    // Text and Data read as their default when null.
    return k === 'data' ? (f.def as Uint8Array).slice() : f.def;
  }
  if (o >= st.pc) return defaultPointerValue(f.type);
  return readPointer(r, st.s, st.p + o * 8, f.type, caps, depth);
}

// Primitives: a field is stored XOR its schema default, bit for bit (floats too), so zeroed memory
// reads as the default.
type Num = number | bigint;
/** Any primitive's scalar; values are checked by asScalar() before they are set. */
type AnyScalar = Scalar<Num>;
const UNSIGNED: Record<number, AnyScalar> = { 1: SCALARS.uint8, 2: SCALARS.uint16, 4: SCALARS.uint32, 8: SCALARS.uint64 };
const scratch = new DataView(new ArrayBuffer(8));

function scalarOf(k: TypeDesc['k']): AnyScalar | undefined {
  return (SCALARS as Record<string, AnyScalar>)[k];
}

/** `v` as the scalar's own type: a bigint for 64-bit integers, a number otherwise. */
function asScalar(sc: AnyScalar, v: unknown): Num {
  return typeof sc.zero === 'bigint' ? BigInt(v as Num) : Number(v);
}

/** The bits `v` is stored as, as an unsigned integer of the scalar's width. */
function bitsOf(sc: AnyScalar, v: Num): Num {
  sc.set(scratch, 0, v);
  return UNSIGNED[sc.bytes].get(scratch, 0);
}

function fromBits(sc: AnyScalar, bits: Num): Num {
  UNSIGNED[sc.bytes].set(scratch, 0, bits);
  return sc.get(scratch, 0);
}

function xorBits(a: Num, b: Num): Num {
  return typeof a === 'bigint' ? a ^ (b as bigint) : ((a as number) ^ (b as number)) >>> 0;
}

function defaultPointerValue(t: TypeDesc): unknown {
  switch (t.k) {
    case 'text':
      return '';
    case 'data':
      return new Uint8Array(0);
    case 'list':
      return [];
    default:
      return null;
  }
}

function readPointer(r: WireReader, seg: number, off: number, t: TypeDesc, caps: CapIO, depth: number): unknown {
  switch (t.k) {
    case 'text': {
      const l = r.listAt(seg, off);
      return l ? r.textOf(l) : '';
    }
    case 'data': {
      const l = r.listAt(seg, off);
      if (!l) return new Uint8Array(0);
      // Small values are copied (a view would pin the whole received chunk); big ones are views
      // into their segment, which is then theirs to keep (no second copy of a blob).
      const bytes = r.dataOf(l);
      return bytes.byteLength >= ZERO_COPY_BYTES ? bytes : bytes.slice();
    }
    case 'struct': {
      const st = r.structAt(seg, off);
      const d = t.s();
      return readStruct(r, st ?? { s: 0, d: 0, dl: 0, p: 0, pc: 0 }, d, caps, depth + 1);
    }
    case 'cap': {
      const index = r.capAt(seg, off);
      return index === null ? null : caps.read(index, t.i());
    }
    case 'list': {
      const l = r.listAt(seg, off);
      return l ? readList(r, l, t.e, caps, depth + 1) : [];
    }
    default:
      return null;
  }
}

/** The list element size of each type. */
const SIZE_OF: Record<TypeDesc['k'], ElementSize> = {
  void: ElementSize.void, bool: ElementSize.bit,
  int8: ElementSize.byte, uint8: ElementSize.byte, int16: ElementSize.twoBytes, uint16: ElementSize.twoBytes,
  int32: ElementSize.fourBytes, uint32: ElementSize.fourBytes, float32: ElementSize.fourBytes,
  int64: ElementSize.eightBytes, uint64: ElementSize.eightBytes, float64: ElementSize.eightBytes,
  text: ElementSize.pointer, data: ElementSize.pointer, list: ElementSize.pointer, cap: ElementSize.pointer, anyPointer: ElementSize.pointer,
  struct: ElementSize.composite,
};

function readList(r: WireReader, l: import('./wire.js').ListRef, e: TypeDesc, caps: CapIO, depth: number): unknown[] {
  if (depth > MAX_NESTING) throw new WireError(`list nesting deeper than ${MAX_NESTING}`);
  const n = l.count;
  const out: unknown[] = new Array(n);
  if (e.k === 'struct') {
    if (l.size !== ElementSize.composite) throw new WireError('expected a list of structs');
    const d = e.s();
    for (let i = 0; i < n; i++) out[i] = readStruct(r, r.listStruct(l, i), d, caps, depth + 1);
    return out;
  }
  const want = SIZE_OF[e.k];
  if (l.size !== want && !(e.k === 'void')) throw new WireError(`list element size ${l.size} does not match ${e.k}`);
  if (want === ElementSize.pointer) {
    for (let i = 0; i < n; i++) out[i] = readPointer(r, l.s, l.off + i * 8, e, caps, depth + 1);
    return out;
  }
  const dv = r.views[l.s];
  const base = l.off;
  const sc = scalarOf(e.k);
  for (let i = 0; i < n; i++) {
    if (sc) out[i] = sc.get(dv, base + i * sc.bytes);
    else if (e.k === 'bool') out[i] = (dv.getUint8(base + (i >>> 3)) & (1 << (i & 7))) !== 0;
    else out[i] = undefined;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Writes `value` as a new struct of type `d` at the pointer word `ptr`. */
export function writeStructAt(b: WireBuilder, ptr: number, d: StructDesc, value: Record<string, unknown>, caps: CapIO): void {
  const st = b.initStruct(ptr, d.dataWords, d.pointers);
  writeStruct(b, st, d, value, caps);
}

export function writeStruct(b: WireBuilder, st: StructBuilder, d: StructDesc, value: Record<string, unknown>, caps: CapIO): void {
  // `which` may name the union member (needed for Void members; a present member's value also selects it).
  if (typeof value.which === 'string' && d.discriminantOffset !== undefined) {
    const member = d.fields.find((f) => f.name === value.which && f.discriminant !== undefined);
    if (member) b.dv.setUint16(st.d + d.discriminantOffset * 2, member.discriminant!, true);
  }
  const chosen = typeof value.which === 'string' ? value.which : null;
  for (const f of d.fields) {
    const v = value[f.name];
    if (v === undefined) continue;
    if (f.discriminant !== undefined && chosen !== null && f.name !== chosen) continue; // `which` wins
    if (f.discriminant !== undefined && d.discriminantOffset !== undefined) {
      b.dv.setUint16(st.d + d.discriminantOffset * 2, f.discriminant, true);
    }
    if (f.group) {
      writeStruct(b, st, f.group, v as Record<string, unknown>, caps);
      continue;
    }
    writeField(b, st, f, v, caps);
  }
}

function writeField(b: WireBuilder, st: StructBuilder, f: FieldDesc, v: unknown, caps: CapIO): void {
  const o = f.offset;
  const k = f.type.k;
  if (k === 'void') return;
  if (k === 'bool') return b.setBool(st, o, Boolean(v), f.def === true);
  const sc = scalarOf(k);
  if (!sc) return writePointer(b, st.p + o * 8, f.type, v, caps);
  const x = asScalar(sc, v);
  if (f.def === undefined) return b.setScalar(st, o * sc.bytes, sc, x);
  // Raw bits: a float's NaN payload is kept, not canonicalised.
  b.setScalar(st, o * sc.bytes, UNSIGNED[sc.bytes], xorBits(bitsOf(sc, x), bitsOf(sc, f.def as Num)));
}

function writePointer(b: WireBuilder, ptr: number, t: TypeDesc, v: unknown, caps: CapIO): void {
  if (v === null) return;
  switch (t.k) {
    case 'text':
      return b.setText(ptr, String(v));
    case 'data':
      return b.setData(ptr, v as Uint8Array);
    case 'struct':
      return writeStructAt(b, ptr, t.s(), v as Record<string, unknown>, caps);
    case 'cap':
      return b.setCap(ptr, caps.write(v, t.i()));
    case 'list':
      return writeList(b, ptr, t.e, v as unknown[], caps);
    default:
      return;
  }
}

function writeList(b: WireBuilder, ptr: number, e: TypeDesc, values: unknown[], caps: CapIO): void {
  const n = values.length;
  if (e.k === 'struct') {
    const d = e.s();
    const first = b.initCompositeList(ptr, n, d.dataWords, d.pointers);
    const step = (d.dataWords + d.pointers) * 8;
    for (let i = 0; i < n; i++) {
      const at = first + i * step;
      writeStruct(b, { d: at, p: at + d.dataWords * 8 }, d, values[i] as Record<string, unknown>, caps);
    }
    return;
  }
  const size = SIZE_OF[e.k];
  const at = b.initList(ptr, size, n);
  if (size === ElementSize.pointer) {
    for (let i = 0; i < n; i++) writePointer(b, at + i * 8, e, values[i], caps);
    return;
  }
  const dv = b.dv;
  const sc = scalarOf(e.k);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (sc) sc.set(dv, at + i * sc.bytes, asScalar(sc, v));
    else if (e.k === 'bool' && v) dv.setUint8(at + (i >>> 3), dv.getUint8(at + (i >>> 3)) | (1 << (i & 7)));
  }
}

export { WireReader, WireBuilder };
