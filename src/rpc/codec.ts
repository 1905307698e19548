// Schema descriptors and the plain-object codec. Generated code (src/capnp-gen/*.rpc.ts) describes
// each struct and interface with these descriptors; the engine turns plain JS objects into struct
// content and back, with capabilities handed to the engine through CapIO.
import { type StructBuilder, type StructRef, WireBuilder, WireError, WireReader } from './wire.js';

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
  if (f.def !== undefined) return readFieldWithDefault(r, st, f, caps, depth);
  const o = f.offset;
  switch (f.type.k) {
    case 'void':
      return undefined;
    case 'bool':
      return r.bool(st, o);
    case 'int8':
      return r.i8(st, o);
    case 'uint8':
      return r.u8(st, o);
    case 'int16':
      return r.i16(st, o * 2);
    case 'uint16':
      return r.u16(st, o * 2);
    case 'int32':
      return r.i32(st, o * 4);
    case 'uint32':
      return r.u32(st, o * 4);
    case 'float32':
      return r.f32(st, o * 4);
    case 'float64':
      return r.f64(st, o * 8);
    case 'int64':
      return r.i64(st, o * 8);
    case 'uint64':
      return r.u64(st, o * 8);
    default:
      if (o >= st.pc) return defaultPointerValue(f.type);
      return readPointer(r, st.s, st.p + o * 8, f.type, caps, depth);
  }
}

// Defaults: a primitive is stored XOR its default, so zeroed memory reads as the default.
const bits = new DataView(new ArrayBuffer(8));

function readFieldWithDefault(r: WireReader, st: StructRef, f: FieldDesc, caps: CapIO, depth: number): unknown {
  const o = f.offset;
  const def = f.def!;
  switch (f.type.k) {
    case 'bool':
      return r.bool(st, o, def as boolean);
    case 'int8':
      return ((r.u8(st, o) ^ (def as number)) << 24) >> 24;
    case 'uint8':
      return (r.u8(st, o) ^ (def as number)) & 0xff;
    case 'int16':
      return ((r.u16(st, o * 2) ^ (def as number)) << 16) >> 16;
    case 'uint16':
      return (r.u16(st, o * 2) ^ (def as number)) & 0xffff;
    case 'int32':
      return r.i32(st, o * 4) ^ (def as number);
    case 'uint32':
      return (r.u32(st, o * 4) ^ (def as number)) >>> 0;
    case 'int64':
      return BigInt.asIntN(64, r.i64(st, o * 8) ^ (def as bigint));
    case 'uint64':
      return BigInt.asUintN(64, r.u64(st, o * 8) ^ BigInt.asUintN(64, def as bigint));
    case 'float32':
      bits.setFloat32(0, def as number, true);
      bits.setUint32(0, bits.getUint32(0, true) ^ r.u32(st, o * 4), true);
      return bits.getFloat32(0, true);
    case 'float64':
      bits.setFloat64(0, def as number, true);
      bits.setBigUint64(0, bits.getBigUint64(0, true) ^ r.u64(st, o * 8), true);
      return bits.getFloat64(0, true);
    case 'text':
    case 'data': {
      const ptrNull = o >= st.pc || r.isNullField(st, o);
      if (ptrNull) return f.type.k === 'data' ? (def as Uint8Array).slice() : def;
      return readPointer(r, st.s, st.p + o * 8, f.type, caps, depth);
    }
    default:
      return readField(r, st, { ...f, def: undefined }, caps, depth);
  }
}

function storedWithDefault(f: FieldDesc, v: unknown): unknown {
  const def = f.def!;
  switch (f.type.k) {
    case 'bool':
      return Boolean(v) !== def;
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
      return Number(v) ^ (def as number);
    case 'int64':
    case 'uint64':
      return BigInt.asUintN(64, BigInt(v as bigint)) ^ BigInt.asUintN(64, def as bigint);
    default:
      return v;
  }
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

const SIZE_OF: Record<string, number> = {
  void: 0, bool: 1, int8: 2, uint8: 2, int16: 3, uint16: 3, int32: 4, uint32: 4, float32: 4,
  int64: 5, uint64: 5, float64: 5, text: 6, data: 6, list: 6, cap: 6, anyPointer: 6, struct: 7,
};

function readList(r: WireReader, l: import('./wire.js').ListRef, e: TypeDesc, caps: CapIO, depth: number): unknown[] {
  if (depth > MAX_NESTING) throw new WireError(`list nesting deeper than ${MAX_NESTING}`);
  const n = l.count;
  const out: unknown[] = new Array(n);
  if (e.k === 'struct') {
    if (l.size !== 7) throw new WireError('expected a list of structs');
    const d = e.s();
    for (let i = 0; i < n; i++) out[i] = readStruct(r, r.listStruct(l, i), d, caps, depth + 1);
    return out;
  }
  const want = SIZE_OF[e.k];
  if (l.size !== want && !(e.k === 'void')) throw new WireError(`list element size ${l.size} does not match ${e.k}`);
  if (want === 6) {
    for (let i = 0; i < n; i++) out[i] = readPointer(r, l.s, l.off + i * 8, e, caps, depth + 1);
    return out;
  }
  const dv = r.views[l.s];
  const base = l.off;
  for (let i = 0; i < n; i++) {
    switch (e.k) {
      case 'bool':
        out[i] = (dv.getUint8(base + (i >>> 3)) & (1 << (i & 7))) !== 0;
        break;
      case 'int8':
        out[i] = dv.getInt8(base + i);
        break;
      case 'uint8':
        out[i] = dv.getUint8(base + i);
        break;
      case 'int16':
        out[i] = dv.getInt16(base + i * 2, true);
        break;
      case 'uint16':
        out[i] = dv.getUint16(base + i * 2, true);
        break;
      case 'int32':
        out[i] = dv.getInt32(base + i * 4, true);
        break;
      case 'uint32':
        out[i] = dv.getUint32(base + i * 4, true);
        break;
      case 'float32':
        out[i] = dv.getFloat32(base + i * 4, true);
        break;
      case 'int64':
        out[i] = dv.getBigInt64(base + i * 8, true);
        break;
      case 'uint64':
        out[i] = dv.getBigUint64(base + i * 8, true);
        break;
      case 'float64':
        out[i] = dv.getFloat64(base + i * 8, true);
        break;
      default:
        out[i] = undefined;
    }
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
    if (f.def === undefined) writeField(b, st, f, v, caps);
    else if (f.type.k === 'float32') {
      bits.setFloat32(0, Number(v), true);
      const x = bits.getUint32(0, true);
      bits.setFloat32(0, f.def as number, true);
      b.dv.setUint32(st.d + f.offset * 4, x ^ bits.getUint32(0, true), true); // raw bits: no NaN canonicalising
    } else if (f.type.k === 'float64') {
      bits.setFloat64(0, Number(v), true);
      const x = bits.getBigUint64(0, true);
      bits.setFloat64(0, f.def as number, true);
      b.dv.setBigUint64(st.d + f.offset * 8, x ^ bits.getBigUint64(0, true), true);
    } else writeField(b, st, f, storedWithDefault(f, v), caps);
  }
}

function writeField(b: WireBuilder, st: StructBuilder, f: FieldDesc, v: unknown, caps: CapIO): void {
  const o = f.offset;
  const dv = b.dv;
  const at = st.d;
  switch (f.type.k) {
    case 'void':
      return;
    case 'bool':
      return b.setBool(st, o, Boolean(v));
    case 'int8':
      return dv.setInt8(at + o, Number(v));
    case 'uint8':
      return dv.setUint8(at + o, Number(v));
    case 'int16':
      return dv.setInt16(at + o * 2, Number(v), true);
    case 'uint16':
      return dv.setUint16(at + o * 2, Number(v), true);
    case 'int32':
      return dv.setInt32(at + o * 4, Number(v), true);
    case 'uint32':
      return dv.setUint32(at + o * 4, Number(v), true);
    case 'float32':
      return dv.setFloat32(at + o * 4, Number(v), true);
    case 'float64':
      return dv.setFloat64(at + o * 8, Number(v), true);
    case 'int64':
      return dv.setBigInt64(at + o * 8, BigInt(v as bigint), true);
    case 'uint64':
      return dv.setBigUint64(at + o * 8, BigInt(v as bigint), true);
    default:
      return writePointer(b, st.p + o * 8, f.type, v, caps);
  }
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
  if (size === 6) {
    for (let i = 0; i < n; i++) writePointer(b, at + i * 8, e, values[i], caps);
    return;
  }
  const dv = b.dv;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    switch (e.k) {
      case 'bool':
        if (v) dv.setUint8(at + (i >>> 3), dv.getUint8(at + (i >>> 3)) | (1 << (i & 7)));
        break;
      case 'int8':
        dv.setInt8(at + i, Number(v));
        break;
      case 'uint8':
        dv.setUint8(at + i, Number(v));
        break;
      case 'int16':
        dv.setInt16(at + i * 2, Number(v), true);
        break;
      case 'uint16':
        dv.setUint16(at + i * 2, Number(v), true);
        break;
      case 'int32':
        dv.setInt32(at + i * 4, Number(v), true);
        break;
      case 'uint32':
        dv.setUint32(at + i * 4, Number(v), true);
        break;
      case 'float32':
        dv.setFloat32(at + i * 4, Number(v), true);
        break;
      case 'int64':
        dv.setBigInt64(at + i * 8, BigInt(v as bigint), true);
        break;
      case 'uint64':
        dv.setBigUint64(at + i * 8, BigInt(v as bigint), true);
        break;
      case 'float64':
        dv.setFloat64(at + i * 8, Number(v), true);
        break;
      default:
        break;
    }
  }
}

export { WireReader, WireBuilder };
