// The Cap'n Proto wire format, read and built directly on byte arrays: the engine's hot path.
// Every read is bounds-checked and charged against a traversal budget, so a hostile message costs
// at most its budget, never a crash or unbounded work. (capnp-es's general-purpose classes cost
// several object allocations per pointer; this layer allocates one small record per struct.)
import { takeSegment } from './segment-pool.js';

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

/** A struct inside a received message. Offsets are bytes within segment `s`. */
export interface StructRef {
  readonly s: number;
  /** data section start */
  readonly d: number;
  /** data section length in bytes */
  readonly dl: number;
  /** pointer section start */
  readonly p: number;
  /** pointer count */
  readonly pc: number;
}

/** The kind of a pointer: its low two bits. */
export const enum PointerKind {
  struct = 0,
  list = 1,
  far = 2,
  /** A capability (an index into the message's cap table). */
  other = 3,
}

/** A list's element size code. */
export const enum ElementSize {
  void = 0,
  bit = 1,
  byte = 2,
  twoBytes = 3,
  fourBytes = 4,
  eightBytes = 5,
  pointer = 6,
  /** Structs, after a tag word that gives their size. */
  composite = 7,
}

/** Bits per element, by ElementSize (composite elements are sized by their tag). */
const ELEMENT_BITS = [0, 1, 8, 16, 32, 64, 64, 0];

/** A list inside a received message. */
export interface ListRef {
  readonly s: number;
  /** first element (for composite lists: after the tag word) */
  readonly off: number;
  readonly count: number;
  readonly size: ElementSize;
  /** composite lists: element data bytes, pointer count, bytes per element */
  readonly dl: number;
  readonly pc: number;
  readonly step: number;
}

/** How a primitive lies in a data section or list: its size in bytes and its (little-endian) accessors. */
export interface Scalar<T extends number | bigint> {
  readonly bytes: 1 | 2 | 4 | 8;
  readonly zero: T;
  get(dv: DataView, at: number): T;
  set(dv: DataView, at: number, v: T): void;
}

export const SCALARS = {
  int8: { bytes: 1, zero: 0, get: (dv, at) => dv.getInt8(at), set: (dv, at, v) => dv.setInt8(at, v) } as Scalar<number>,
  uint8: { bytes: 1, zero: 0, get: (dv, at) => dv.getUint8(at), set: (dv, at, v) => dv.setUint8(at, v) } as Scalar<number>,
  int16: { bytes: 2, zero: 0, get: (dv, at) => dv.getInt16(at, true), set: (dv, at, v) => dv.setInt16(at, v, true) } as Scalar<number>,
  uint16: { bytes: 2, zero: 0, get: (dv, at) => dv.getUint16(at, true), set: (dv, at, v) => dv.setUint16(at, v, true) } as Scalar<number>,
  int32: { bytes: 4, zero: 0, get: (dv, at) => dv.getInt32(at, true), set: (dv, at, v) => dv.setInt32(at, v, true) } as Scalar<number>,
  uint32: { bytes: 4, zero: 0, get: (dv, at) => dv.getUint32(at, true), set: (dv, at, v) => dv.setUint32(at, v, true) } as Scalar<number>,
  float32: { bytes: 4, zero: 0, get: (dv, at) => dv.getFloat32(at, true), set: (dv, at, v) => dv.setFloat32(at, v, true) } as Scalar<number>,
  float64: { bytes: 8, zero: 0, get: (dv, at) => dv.getFloat64(at, true), set: (dv, at, v) => dv.setFloat64(at, v, true) } as Scalar<number>,
  int64: { bytes: 8, zero: 0n, get: (dv, at) => dv.getBigInt64(at, true), set: (dv, at, v) => dv.setBigInt64(at, v, true) } as Scalar<bigint>,
  uint64: { bytes: 8, zero: 0n, get: (dv, at) => dv.getBigUint64(at, true), set: (dv, at, v) => dv.setBigUint64(at, v, true) } as Scalar<bigint>,
};

/** True for a list of structs. */
export function isStructList(l: ListRef): boolean {
  return l.size === ElementSize.composite;
}

const EMPTY_STRUCT: StructRef = { s: 0, d: 0, dl: 0, p: 0, pc: 0 };
const textDecoder = new TextDecoder('utf-8', { fatal: false });
const textEncoder = new TextEncoder();

export class WireReader {
  readonly views: DataView[];
  readonly bytes: Uint8Array[];
  private budget: number;

  constructor(segments: Uint8Array[], traversalWords: number) {
    this.views = segments.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength));
    this.bytes = segments;
    this.budget = traversalWords;
  }

  spend(words: number): void {
    this.budget -= words;
    if (this.budget < 0) throw new WireError('message exceeds the traversal limit');
  }

  root(): StructRef {
    if (this.views.length === 0 || this.views[0].byteLength < 8) throw new WireError('message has no root pointer');
    return this.structAt(0, 0) ?? EMPTY_STRUCT;
  }

  /**
   * Follows the pointer at (seg, off), which must be a `kind` pointer when given:
   * returns the segment and byte offset of its content and the pointer's two words (lo, hi) that
   * describe it, resolving far pointers. Null for a null pointer.
   */
  private follow(seg: number, off: number, kind?: PointerKind.struct | PointerKind.list): [number, number, number, number] | null {
    const f = this.resolveFar(seg, off);
    if (f && kind !== undefined && (f[2] & 3) !== kind) {
      throw new WireError(kind === PointerKind.struct ? 'expected a struct pointer' : 'expected a list pointer');
    }
    return f;
  }

  private resolveFar(seg: number, off: number): [number, number, number, number] | null {
    const dv = this.views[seg];
    const lo = dv.getUint32(off, true);
    const hi = dv.getUint32(off + 4, true);
    if (lo === 0 && hi === 0) return null;
    if ((lo & 3) !== PointerKind.far) return [seg, off + 8 + (lo >> 2) * 8, lo, hi];
    // Far pointer: a landing pad in segment `hi`.
    const padSeg = hi;
    const padOff = (lo >>> 3) * 8;
    const double = (lo & 4) !== 0;
    const pv = this.views[padSeg];
    if (!pv || padOff + (double ? 16 : 8) > pv.byteLength) throw new WireError('far pointer lands outside the message');
    const lo2 = pv.getUint32(padOff, true);
    const hi2 = pv.getUint32(padOff + 4, true);
    if (!double) {
      if ((lo2 & 3) === PointerKind.far) throw new WireError('far pointer lands on another far pointer');
      return [padSeg, padOff + 8 + (lo2 >> 2) * 8, lo2, hi2];
    }
    if ((lo2 & 7) !== PointerKind.far) throw new WireError('double-far landing pad is not a far pointer'); // and not double
    const contentSeg = hi2;
    if (!this.views[contentSeg]) throw new WireError('double-far pointer names a missing segment');
    const tagLo = pv.getUint32(padOff + 8, true);
    const tagHi = pv.getUint32(padOff + 12, true);
    return [contentSeg, (lo2 >>> 3) * 8, tagLo, tagHi];
  }

  /** The struct at pointer (seg, off); null when the pointer is null. */
  structAt(seg: number, off: number): StructRef | null {
    const f = this.follow(seg, off, PointerKind.struct);
    if (!f) return null;
    const [s, content, , hi] = f;
    const dw = hi & 0xffff;
    const pc = hi >>> 16;
    if (content < 0 || content + (dw + pc) * 8 > this.views[s].byteLength) throw new WireError('struct lies outside its segment');
    this.spend(dw + pc === 0 ? 1 : dw + pc);
    return { s, d: content, dl: dw * 8, p: content + dw * 8, pc };
  }

  /** True when the (possibly far) pointer at (seg, off) leads to a struct. */
  structAtOrNullIfList(seg: number, off: number): boolean {
    const f = this.follow(seg, off);
    return f !== null && (f[2] & 3) === PointerKind.struct;
  }

  /** The struct in pointer field `i` of `st` (null when absent or null). */
  structField(st: StructRef, i: number): StructRef | null {
    if (i >= st.pc) return null;
    return this.structAt(st.s, st.p + i * 8);
  }

  listAt(seg: number, off: number): ListRef | null {
    const f = this.follow(seg, off, PointerKind.list);
    if (!f) return null;
    const [s, content, , hi] = f;
    if (content < 0) throw new WireError('list lies outside its segment');
    const size: ElementSize = hi & 7;
    const n = hi >>> 3;
    const segLen = this.views[s].byteLength;
    if (size === ElementSize.composite) {
      const words = n;
      if (content + 8 + words * 8 > segLen) throw new WireError('list lies outside its segment');
      const tagLo = this.views[s].getUint32(content, true);
      const tagHi = this.views[s].getUint32(content + 4, true);
      if ((tagLo & 3) !== PointerKind.struct) throw new WireError('composite list tag is not a struct tag');
      const count = tagLo >>> 2;
      const dw = tagHi & 0xffff;
      const pc = tagHi >>> 16;
      if (count * (dw + pc) > words) throw new WireError('composite list elements overrun the list');
      this.spend(Math.max(words, count));
      return { s, off: content + 8, count, size, dl: dw * 8, pc, step: (dw + pc) * 8 };
    }
    const bits = ELEMENT_BITS[size];
    const bytes = Math.ceil((n * bits) / 8);
    if (content + bytes > segLen) throw new WireError('list lies outside its segment');
    // Zero-sized elements still cost: a list of 2^29 voids must not be free to expand.
    this.spend(size === ElementSize.void ? n : Math.ceil(bytes / 8) + 1);
    return { s, off: content, count: n, size, dl: 0, pc: size === ElementSize.pointer ? 1 : 0, step: bits / 8 };
  }

  listField(st: StructRef, i: number): ListRef | null {
    if (i >= st.pc) return null;
    return this.listAt(st.s, st.p + i * 8);
  }

  /** Element `i` of a composite list as a struct. */
  listStruct(l: ListRef, i: number): StructRef {
    if (l.size !== ElementSize.composite) throw new WireError('expected a list of structs');
    const d = l.off + i * l.step;
    return { s: l.s, d, dl: l.dl, p: d + l.dl, pc: l.pc };
  }

  /** The bytes of a Data list (a view into the message; copy it to keep it). */
  dataOf(l: ListRef): Uint8Array {
    if (l.size !== ElementSize.byte) throw new WireError('expected a list of bytes');
    return this.bytes[l.s].subarray(l.off, l.off + l.count);
  }

  textField(st: StructRef, i: number): string | null {
    const l = this.listField(st, i);
    if (!l) return null;
    return this.textOf(l);
  }

  textOf(l: ListRef): string {
    if (l.size !== ElementSize.byte) throw new WireError('expected text');
    let n = l.count;
    if (n > 0 && this.bytes[l.s][l.off + n - 1] === 0) n--;
    return textDecoder.decode(this.bytes[l.s].subarray(l.off, l.off + n));
  }

  /** The capability index of an interface pointer at (seg, off); null for a null pointer. */
  capAt(seg: number, off: number): number | null {
    const dv = this.views[seg];
    const lo = dv.getUint32(off, true);
    const hi = dv.getUint32(off + 4, true);
    if (lo === 0 && hi === 0) return null;
    if (lo !== PointerKind.other) throw new WireError('expected a capability pointer'); // kind 3 with offset 0
    return hi;
  }

  capField(st: StructRef, i: number): number | null {
    if (i >= st.pc) return null;
    return this.capAt(st.s, st.p + i * 8);
  }

  /** True when pointer field i of st is null or absent. */
  isNullField(st: StructRef, i: number): boolean {
    if (i >= st.pc) return true;
    const dv = this.views[st.s];
    const o = st.p + i * 8;
    return dv.getUint32(o, true) === 0 && dv.getUint32(o + 4, true) === 0;
  }

  // Data section reads: fields beyond a (shorter, older) struct's data read as zero.
  scalar<T extends number | bigint>(st: StructRef, byteOff: number, sc: Scalar<T>): T {
    return byteOff + sc.bytes <= st.dl ? sc.get(this.views[st.s], st.d + byteOff) : sc.zero;
  }
  // The engine's own reads, direct (the hot path: several per message).
  u16(st: StructRef, byteOff: number): number {
    return byteOff + 2 <= st.dl ? this.views[st.s].getUint16(st.d + byteOff, true) : 0;
  }
  u32(st: StructRef, byteOff: number): number {
    return byteOff + 4 <= st.dl ? this.views[st.s].getUint32(st.d + byteOff, true) : 0;
  }
  u64(st: StructRef, byteOff: number): bigint {
    return byteOff + 8 <= st.dl ? this.views[st.s].getBigUint64(st.d + byteOff, true) : 0n;
  }
  /** A Bool field: its bit XOR the schema's default (`def`). */
  bool(st: StructRef, bitOff: number, def = false): boolean {
    const b = bitOff >>> 3;
    return (b < st.dl ? (this.views[st.s].getUint8(st.d + b) & (1 << (bitOff & 7))) !== 0 : false) !== def;
  }
}

/** A struct being built: byte offsets of its sections in the builder's single segment. */
export interface StructBuilder {
  readonly d: number;
  readonly p: number;
}

/** The byte offset of pointer `index` of a struct being built (where initStruct, setText, ... write). */
export function pointerOf(st: StructBuilder, index: number): number {
  return st.p + index * 8;
}

/** Element `i` of a composite list whose element 0 is at `first` (see initCompositeList). */
export function elementOf(first: number, i: number, dataWords: number, ptrs: number): StructBuilder {
  const d = first + i * (dataWords + ptrs) * 8;
  return { d, p: d + dataWords * 8 };
}

/** Data at least this big goes in a segment of its own: copied once, never into a growing buffer. */
export const OWN_SEGMENT_BYTES = 64 * 1024;
/** Data segments of their own in one message at most; further big Data is copied into the first
 *  segment as small Data is: receivers cap a frame's segments (FrameLimits.maxSegments: 512, and
 *  C++'s reader similarly), and a message within the size limit must not be refused for its count. */
export const MAX_OWN_SEGMENTS = 64;

/**
 * Builds a message in one growing segment; Data of OWN_SEGMENT_BYTES or more is copied once into a
 * segment of its own (`extra`), reached through a double-far pointer whose landing pad is in the first.
 */
export class WireBuilder {
  buf: Uint8Array;
  dv: DataView;
  used = 0;
  /** Segments 1.. of the message: big Data, each exactly its size rounded up to a word. */
  extra: Uint8Array[] = [];

  constructor(initialBytes = 256) {
    this.buf = new Uint8Array(initialBytes);
    this.dv = new DataView(this.buf.buffer);
  }

  /** Allocates `words` zeroed words; returns their byte offset. */
  alloc(words: number): number {
    const off = this.used;
    const need = off + words * 8;
    if (need > this.buf.byteLength) {
      const grown = new Uint8Array(Math.max(need, this.buf.byteLength * 2));
      grown.set(this.buf.subarray(0, this.used));
      this.buf = grown;
      this.dv = new DataView(grown.buffer);
    }
    this.used = need;
    return off;
  }

  initRoot(dataWords: number, ptrs: number): StructBuilder {
    const ptr = this.alloc(1);
    return this.initStruct(ptr, dataWords, ptrs);
  }

  /** A new struct, pointed to from the pointer word at byte offset `ptr`. */
  initStruct(ptr: number, dataWords: number, ptrs: number): StructBuilder {
    const at = this.alloc(dataWords + ptrs);
    this.dv.setUint32(ptr, (((at - ptr - 8) / 8) << 2) | PointerKind.struct, true);
    this.dv.setUint32(ptr + 4, dataWords | (ptrs << 16), true);
    return { d: at, p: at + dataWords * 8 };
  }

  /** A new list of `count` elements of `size` (not composite) at pointer `ptr`; returns its content offset. */
  initList(ptr: number, size: ElementSize, count: number): number {
    const bits = ELEMENT_BITS[size];
    const at = this.alloc(Math.ceil((count * bits) / 64));
    this.dv.setUint32(ptr, (((at - ptr - 8) / 8) << 2) | PointerKind.list, true);
    this.dv.setUint32(ptr + 4, size | (count << 3), true);
    return at;
  }

  /** A new list of `count` structs; returns the byte offset of element 0 (elements are (dw+pc)*8 apart). */
  initCompositeList(ptr: number, count: number, dataWords: number, ptrs: number): number {
    const words = count * (dataWords + ptrs);
    const tag = this.alloc(1 + words);
    this.dv.setUint32(ptr, (((tag - ptr - 8) / 8) << 2) | PointerKind.list, true);
    this.dv.setUint32(ptr + 4, ElementSize.composite | (words << 3), true);
    this.dv.setUint32(tag, (count << 2) | PointerKind.struct, true);
    this.dv.setUint32(tag + 4, dataWords | (ptrs << 16), true);
    return tag + 8;
  }

  // Data fields of a struct being built, at byte offsets (bits for setBool) in its data section.
  setScalar<T extends number | bigint>(st: StructBuilder, byteOff: number, sc: Scalar<T>, v: T): void {
    sc.set(this.dv, st.d + byteOff, v);
  }
  setU16(st: StructBuilder, byteOff: number, v: number): void {
    this.dv.setUint16(st.d + byteOff, v, true);
  }
  setU32(st: StructBuilder, byteOff: number, v: number): void {
    this.dv.setUint32(st.d + byteOff, v, true);
  }
  setU64(st: StructBuilder, byteOff: number, v: bigint): void {
    this.dv.setBigUint64(st.d + byteOff, v, true);
  }
  /** A Bool field, stored XOR the schema's default (`def`). */
  setBool(st: StructBuilder, bitOff: number, v: boolean, def = false): void {
    const at = st.d + (bitOff >>> 3);
    const mask = 1 << (bitOff & 7);
    this.dv.setUint8(at, v !== def ? this.dv.getUint8(at) | mask : this.dv.getUint8(at) & ~mask);
  }

  setText(ptr: number, text: string): void {
    const encoded = textEncoder.encode(text);
    const at = this.initList(ptr, ElementSize.byte, encoded.byteLength + 1);
    this.buf.set(encoded, at);
  }

  setData(ptr: number, data: Uint8Array): void {
    if (data.byteLength >= OWN_SEGMENT_BYTES && this.extra.length < MAX_OWN_SEGMENTS) return this.setDataSegment(ptr, data);
    const at = this.initList(ptr, ElementSize.byte, data.byteLength);
    this.buf.set(data, at);
  }

  private setDataSegment(ptr: number, data: Uint8Array): void {
    // From the pool (the transport gives it back once written): the copy fills it but the padding.
    const segment = takeSegment((data.byteLength + 7) & ~7);
    segment.set(data);
    segment.fill(0, data.byteLength);
    this.extra.push(segment);
    const id = this.extra.length;
    // Double-far: the pad (a far pointer to the segment's start, then the list's tag) lives here.
    const pad = this.alloc(2);
    this.dv.setUint32(ptr, ((pad / 8) << 3) | 4 | PointerKind.far, true);
    this.dv.setUint32(ptr + 4, 0, true);
    this.dv.setUint32(pad, PointerKind.far, true);
    this.dv.setUint32(pad + 4, id, true);
    this.dv.setUint32(pad + 8, PointerKind.list, true);
    this.dv.setUint32(pad + 12, ElementSize.byte | (data.byteLength << 3), true);
  }

  setCap(ptr: number, index: number): void {
    this.dv.setUint32(ptr, PointerKind.other, true);
    this.dv.setUint32(ptr + 4, index, true);
  }

  /** The finished message's segments (the first a view: send it before building more). */
  segments(): Uint8Array[] {
    return [this.buf.subarray(0, this.used), ...this.extra];
  }
}

/**
 * Deep-copies the struct at `src` (from a received message) into a new struct at pointer `ptr` of
 * a builder: used to echo a message back inside Unimplemented. Capability pointers are copied as is.
 */
export function copyStruct(r: WireReader, src: StructRef, b: WireBuilder, ptr: number, depth = 0): void {
  if (depth > 64) throw new WireError('message nests too deeply to echo');
  const dw = src.dl / 8;
  const dst = b.initStruct(ptr, dw, src.pc);
  b.buf.set(r.bytes[src.s].subarray(src.d, src.d + src.dl), dst.d);
  for (let i = 0; i < src.pc; i++) copyPointer(r, src.s, src.p + i * 8, b, dst.p + i * 8, depth + 1);
}

function copyPointer(r: WireReader, seg: number, off: number, b: WireBuilder, ptr: number, depth: number): void {
  const dv = r.views[seg];
  const lo = dv.getUint32(off, true);
  const hi = dv.getUint32(off + 4, true);
  if (lo === 0 && hi === 0) return;
  const kind: PointerKind = lo & 3;
  if (kind === PointerKind.other) {
    b.setCap(ptr, hi);
    return;
  }
  if (kind === PointerKind.struct || (kind === PointerKind.far && r.structAtOrNullIfList(seg, off))) {
    const st = r.structAt(seg, off);
    if (st) copyStruct(r, st, b, ptr, depth);
    return;
  }
  const l = r.listAt(seg, off);
  if (!l) return;
  if (l.size === ElementSize.composite) {
    const dw = l.dl / 8;
    const first = b.initCompositeList(ptr, l.count, dw, l.pc);
    for (let i = 0; i < l.count; i++) {
      const e = r.listStruct(l, i);
      const at = first + i * (dw + l.pc) * 8;
      b.buf.set(r.bytes[e.s].subarray(e.d, e.d + e.dl), at);
      for (let j = 0; j < l.pc; j++) copyPointer(r, e.s, e.p + j * 8, b, at + e.dl + j * 8, depth + 1);
    }
    return;
  }
  const at = b.initList(ptr, l.size, l.count);
  if (l.size === ElementSize.pointer) {
    for (let i = 0; i < l.count; i++) copyPointer(r, l.s, l.off + i * 8, b, at + i * 8, depth + 1);
    return;
  }
  const bytes = Math.ceil((l.count * ELEMENT_BITS[l.size]) / 8);
  b.buf.set(r.bytes[l.s].subarray(l.off, l.off + bytes), at);
}
