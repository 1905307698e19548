// The one checked view of guest memory. Every pointer and length the guest
// passes goes through here: each access is checked against the memory's
// current byteLength (re-read on every call, because memory.grow replaces the
// buffer) and an out-of-range access throws WasiError(EFAULT). Without a
// memory (the module exports none), an access traps the guest.
import { Errno, WasiError } from './errno.js';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

const RuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new (message: string) => Error } }).WebAssembly
  .RuntimeError;

/** Whether `err` is a trap a host call raised on purpose (see missingMemory): it must reach the guest as one. */
export function isTrap(err: unknown): boolean {
  return err instanceof RuntimeError;
}

/**
 * What a call that needs the guest's memory does when the module exports none: it traps, as wasmtime
 * ("missing required memory export"). A WebAssembly.RuntimeError, so runners report it as a trap.
 */
export function missingMemory(): never {
  throw new RuntimeError('the module exports no memory named "memory", which this call needs to read or write its arguments');
}

/** The part of WebAssembly.Memory the host uses (the ES2023 lib declares no WebAssembly types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

export class GuestMemory {
  private memory: WasmMemory | undefined;
  // The buffer the cached view was made for; memory.grow replaces memory.buffer, which invalidates both.
  private buf: ArrayBuffer | undefined;
  private view: DataView | undefined;

  setMemory(memory: WasmMemory): void {
    this.memory = memory;
    this.buf = undefined;
    this.view = undefined;
  }

  /** The current buffer (re-read every call: memory may have grown since the last one). */
  private current(): DataView {
    const memory = this.memory;
    if (!memory) return missingMemory();
    // A shared memory's buffer works the same for typed-array views.
    const buf = memory.buffer as ArrayBuffer;
    if (buf !== this.buf) {
      this.buf = buf;
      this.view = new DataView(buf);
    }
    return this.view!;
  }

  /** Throws EFAULT unless [ptr, ptr+len) lies inside memory; returns a view of the current buffer. */
  private checked(ptr: number, len: number): DataView {
    const view = this.current();
    if (ptr < 0 || len < 0 || ptr + len > view.byteLength) throw new WasiError(Errno.FAULT);
    return view;
  }

  /** A live view of guest bytes (valid until the next memory.grow). */
  bytes(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.checked(ptr, len).buffer, ptr, len);
  }

  /** Throws EFAULT unless the range is inside memory; for callers that write later. */
  check(ptr: number, len: number): void {
    this.checked(ptr, len);
  }

  u8(ptr: number): number {
    return this.checked(ptr, 1).getUint8(ptr);
  }
  u16(ptr: number): number {
    return this.checked(ptr, 2).getUint16(ptr, true);
  }
  u32(ptr: number): number {
    return this.checked(ptr, 4).getUint32(ptr, true);
  }
  u64(ptr: number): bigint {
    return this.checked(ptr, 8).getBigUint64(ptr, true);
  }
  setU8(ptr: number, v: number): void {
    this.checked(ptr, 1).setUint8(ptr, v);
  }
  setU16(ptr: number, v: number): void {
    this.checked(ptr, 2).setUint16(ptr, v, true);
  }
  setU32(ptr: number, v: number): void {
    this.checked(ptr, 4).setUint32(ptr, v >>> 0, true);
  }
  setU64(ptr: number, v: bigint): void {
    // setBigUint64 wraps modulo 2^64 itself.
    this.checked(ptr, 8).setBigUint64(ptr, v, true);
  }

  /** Copies `data` into guest memory at ptr. */
  write(ptr: number, data: Uint8Array): void {
    new Uint8Array(this.checked(ptr, data.length).buffer, ptr, data.length).set(data);
  }

  /** A UTF-8 string the guest passed (invalid UTF-8 => EILSEQ, like wasmtime). */
  string(ptr: number, len: number): string {
    const bytes = this.bytes(ptr, len);
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      throw new WasiError(Errno.ILSEQ, 'path is not valid UTF-8');
    }
  }

  /** Reads an iovec/ciovec array: [{buf: u32, buf_len: u32}] * count, each buffer bounds-checked.
   *  At most IOV_MAX of them (EINVAL past it, as Linux's readv/writev): the host makes a view of each. */
  iovecs(ptr: number, count: number): Uint8Array[] {
    const view = this.checked(ptr, count * 8); // (EFAULT first, as for any pointer)
    if (count > IOV_MAX) throw new WasiError(Errno.INVAL, `${count} iovecs, more than ${IOV_MAX}`);
    const out: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const base = view.getUint32(ptr + i * 8, true);
      const len = view.getUint32(ptr + i * 8 + 4, true);
      if (base + len > view.byteLength) throw new WasiError(Errno.FAULT);
      out.push(new Uint8Array(view.buffer, base, len));
    }
    return out;
  }
}

/** The most iovecs one call takes (Linux's IOV_MAX). */
export const IOV_MAX = 1024;

export function encodeUtf8(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}
