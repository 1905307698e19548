// Schema descriptors and the plain-object codec. Generated code (src/capnp-gen/*.rpc.ts) describes
// each struct and interface with these descriptors; the engine turns plain JS objects into struct
// content and back, with capabilities handed to the engine through CapIO.
import * as $ from 'capnp-es';

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

/** Bounds the work one payload can cause on read, whatever its pointers claim. */
export class ReadBudget {
  constructor(public units: number) {}
  spend(n: number): void {
    this.units -= n;
    if (this.units < 0) throw new Error('message exceeds the traversal limit (too many elements)');
  }
}

export const MAX_NESTING = 64;

const sizeCache = new WeakMap<StructDesc, $.ObjectSize>();
function sizeOf(d: StructDesc): $.ObjectSize {
  let s = sizeCache.get(d);
  if (!s) {
    s = new $.ObjectSize(d.dataWords * 8, d.pointers);
    sizeCache.set(d, s);
  }
  return s;
}

const ctorCache = new WeakMap<StructDesc, $.StructCtor<$.Struct>>();
/** A capnp-es struct class for a descriptor (for composite lists and struct pointers). */
export function structClass(d: StructDesc): $.StructCtor<$.Struct> {
  let c = ctorCache.get(d);
  if (!c) {
    const size = sizeOf(d);
    c = class extends $.Struct {
      static override readonly _capnp = { displayName: d.name, id: d.id, size };
    } as unknown as $.StructCtor<$.Struct>;
    ctorCache.set(d, c);
  }
  return c;
}

const u = $.utils;


// ---------------------------------------------------------------------------------------------
// Reading

export function readStruct(
  s: $.Struct,
  d: StructDesc,
  caps: CapIO,
  budget: ReadBudget,
  depth = 0,
): Record<string, unknown> {
  if (depth > MAX_NESTING) throw new Error(`struct nesting deeper than ${MAX_NESTING}`);
  const size = u.getSize(s);
  const dataBytes = size.dataByteLength;
  const ptrs = size.pointerLength;
  const out: Record<string, unknown> = {};
  let which = -1;
  if (d.discriminantOffset !== undefined) {
    which = d.discriminantOffset * 2 + 2 <= dataBytes ? u.getUint16(d.discriminantOffset * 2, s) : 0;
  }
  for (const f of d.fields) {
    if (f.discriminant !== undefined) {
      if (f.discriminant !== which) continue;
      out.which = f.name;
    }
    if (f.group) {
      out[f.name] = readStruct(s, f.group, caps, budget, depth + 1);
      continue;
    }
    out[f.name] = readField(s, f, dataBytes, ptrs, caps, budget, depth);
  }
  return out;
}

function readField(
  s: $.Struct,
  f: FieldDesc,
  dataBytes: number,
  ptrs: number,
  caps: CapIO,
  budget: ReadBudget,
  depth: number,
): unknown {
  const t = f.type;
  const o = f.offset;
  switch (t.k) {
    case 'void':
      return undefined;
    case 'bool':
      return (o >> 3) < dataBytes ? u.getBit(o, s) : false;
    case 'int8':
      return o + 1 <= dataBytes ? u.getInt8(o, s) : 0;
    case 'uint8':
      return o + 1 <= dataBytes ? u.getUint8(o, s) : 0;
    case 'int16':
      return o * 2 + 2 <= dataBytes ? u.getInt16(o * 2, s) : 0;
    case 'uint16':
      return o * 2 + 2 <= dataBytes ? u.getUint16(o * 2, s) : 0;
    case 'int32':
      return o * 4 + 4 <= dataBytes ? u.getInt32(o * 4, s) : 0;
    case 'uint32':
      return o * 4 + 4 <= dataBytes ? u.getUint32(o * 4, s) : 0;
    case 'float32':
      return o * 4 + 4 <= dataBytes ? u.getFloat32(o * 4, s) : 0;
    case 'float64':
      return o * 8 + 8 <= dataBytes ? u.getFloat64(o * 8, s) : 0;
    case 'int64':
      return o * 8 + 8 <= dataBytes ? u.getInt64(o * 8, s) : 0n;
    case 'uint64':
      return o * 8 + 8 <= dataBytes ? u.getUint64(o * 8, s) : 0n;
    default:
      if (o >= ptrs) return defaultPointerValue(t);
      return readPointer(u.getPointer(o, s), t, caps, budget, depth);
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

function readPointer(p: $.Pointer, t: TypeDesc, caps: CapIO, budget: ReadBudget, depth: number): unknown {
  if (u.isNull(p)) return defaultPointerValue(t);
  switch (t.k) {
    case 'text': {
      const text = $.Text.fromPointer(p);
      budget.spend(text.length >> 3);
      return text.get(0);
    }
    case 'data': {
      const data = $.Data.fromPointer(p);
      budget.spend(data.length >> 3);
      // A copy: the caller may keep it after the message's buffers are reused or released.
      return data.toUint8Array().slice();
    }
    case 'struct': {
      const d = t.s();
      const s = new (structClass(d))(p.segment, p.byteOffset, p._capnp.depthLimit);
      u.validate($.PointerType.STRUCT, s);
      budget.spend(1);
      return readStruct(s, d, caps, budget, depth + 1);
    }
    case 'cap': {
      const lo = p.segment.getUint32(p.byteOffset);
      if (lo !== 3) throw new Error('expected a capability pointer');
      return caps.read(u.getCapabilityId(p), t.i());
    }
    case 'list':
      return readList(p, t.e, caps, budget, depth + 1);
    case 'anyPointer':
      return null;
    default:
      return undefined;
  }
}

const LIST_CLASS: Record<string, $.ListCtor<unknown>> = {
  void: $.VoidList as unknown as $.ListCtor<unknown>,
  bool: $.BoolList as unknown as $.ListCtor<unknown>,
  int8: $.Int8List as unknown as $.ListCtor<unknown>,
  int16: $.Int16List as unknown as $.ListCtor<unknown>,
  int32: $.Int32List as unknown as $.ListCtor<unknown>,
  int64: $.Int64List as unknown as $.ListCtor<unknown>,
  uint8: $.Uint8List as unknown as $.ListCtor<unknown>,
  uint16: $.Uint16List as unknown as $.ListCtor<unknown>,
  uint32: $.Uint32List as unknown as $.ListCtor<unknown>,
  uint64: $.Uint64List as unknown as $.ListCtor<unknown>,
  float32: $.Float32List as unknown as $.ListCtor<unknown>,
  float64: $.Float64List as unknown as $.ListCtor<unknown>,
  text: $.TextList as unknown as $.ListCtor<unknown>,
  data: $.DataList as unknown as $.ListCtor<unknown>,
};

const compositeListCache = new WeakMap<StructDesc, $.ListCtor<$.Struct>>();
function compositeList(d: StructDesc): $.ListCtor<$.Struct> {
  let c = compositeListCache.get(d);
  if (!c) {
    c = $.CompositeList(structClass(d));
    compositeListCache.set(d, c);
  }
  return c;
}

function readList(p: $.Pointer, e: TypeDesc, caps: CapIO, budget: ReadBudget, depth: number): unknown[] {
  if (depth > MAX_NESTING) throw new Error(`list nesting deeper than ${MAX_NESTING}`);
  u.validate($.PointerType.LIST, p);
  const length = u.getTargetListLength(p);
  budget.spend(length + 1);
  const out: unknown[] = new Array(length);
  if (e.k === 'struct') {
    const d = e.s();
    const list = new (compositeList(d))(p.segment, p.byteOffset, p._capnp.depthLimit);
    for (let i = 0; i < length; i++) out[i] = readStruct(list.get(i), d, caps, budget, depth + 1);
    return out;
  }
  if (e.k === 'cap' || e.k === 'list' || e.k === 'anyPointer') {
    const PL = $.PointerList($.Pointer) as $.ListCtor<$.Pointer>;
    const list = new PL(p.segment, p.byteOffset, p._capnp.depthLimit);
    for (let i = 0; i < length; i++) out[i] = readPointer(list.get(i), e, caps, budget, depth + 1);
    return out;
  }
  const Ctor = LIST_CLASS[e.k];
  const list = new Ctor(p.segment, p.byteOffset, p._capnp.depthLimit);
  for (let i = 0; i < length; i++) {
    const v = list.get(i);
    out[i] = e.k === 'data' ? (v as $.Data).toUint8Array().slice() : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

export function writeStruct(s: $.Struct, d: StructDesc, value: Record<string, unknown>, caps: CapIO): void {
  for (const f of d.fields) {
    const v = value[f.name];
    if (v === undefined) continue;
    if (f.discriminant !== undefined && d.discriminantOffset !== undefined) {
      u.setUint16(d.discriminantOffset * 2, f.discriminant, s);
    }
    if (f.group) {
      writeStruct(s, f.group, v as Record<string, unknown>, caps);
      continue;
    }
    writeField(s, f, v, caps);
  }
}

function writeField(s: $.Struct, f: FieldDesc, v: unknown, caps: CapIO): void {
  const t = f.type;
  const o = f.offset;
  switch (t.k) {
    case 'void':
      return;
    case 'bool':
      return u.setBit(o, Boolean(v), s);
    case 'int8':
      return u.setInt8(o, Number(v), s);
    case 'uint8':
      return u.setUint8(o, Number(v), s);
    case 'int16':
      return u.setInt16(o * 2, Number(v), s);
    case 'uint16':
      return u.setUint16(o * 2, Number(v), s);
    case 'int32':
      return u.setInt32(o * 4, Number(v), s);
    case 'uint32':
      return u.setUint32(o * 4, Number(v), s);
    case 'float32':
      return u.setFloat32(o * 4, Number(v), s);
    case 'float64':
      return u.setFloat64(o * 8, Number(v), s);
    case 'int64':
      return u.setInt64(o * 8, BigInt(v as bigint), s);
    case 'uint64':
      return u.setUint64(o * 8, BigInt(v as bigint), s);
    case 'text':
      return u.setText(o, String(v), s);
    case 'data': {
      const bytes = v as Uint8Array;
      const data = u.initData(o, bytes.byteLength, s);
      if (bytes.byteLength > 0) data.copyBuffer(bytes);
      return;
    }
    case 'struct': {
      const d = t.s();
      const child = u.initStructAt(o, structClass(d), s);
      return writeStruct(child, d, v as Record<string, unknown>, caps);
    }
    case 'cap':
      if (v === null) return;
      return u.setInterfacePointer(caps.write(v, t.i()), u.getPointer(o, s));
    case 'list':
      return writeList(s, o, t.e, v as unknown[], caps);
    case 'anyPointer':
      return;
  }
}

function writeList(s: $.Struct, index: number, e: TypeDesc, values: unknown[], caps: CapIO): void {
  const n = values.length;
  if (e.k === 'struct') {
    const d = e.s();
    const list = u.initList(index, compositeList(d), n, s);
    for (let i = 0; i < n; i++) writeStruct(list.get(i), d, values[i] as Record<string, unknown>, caps);
    return;
  }
  if (e.k === 'cap') {
    const list = u.initList(index, $.PointerList($.Pointer), n, s);
    for (let i = 0; i < n; i++) {
      if (values[i] !== null) u.setInterfacePointer(caps.write(values[i], e.i()), list.get(i));
    }
    return;
  }
  if (e.k === 'list' || e.k === 'anyPointer') throw new Error('lists of lists are not supported by the codec yet');
  if (e.k === 'data') throw new Error('lists of Data are not supported by the codec yet');
  const list = u.initList(index, LIST_CLASS[e.k], n, s);
  for (let i = 0; i < n; i++) list.set(i, values[i]);
}
