// Buffers for the big segments we send (Data of OWN_SEGMENT_BYTES or more, copied once), lent out
// and given back once the transport has written them. A fresh multi-MiB buffer per message costs a
// page fault per 4 KiB page (the kernel maps and zeroes each one), more than the copy itself; a
// reused one has its pages already. Bounded: idle buffers hold at most POOL_IDLE_BYTES, and
// buffers above POOL_LARGEST_BYTES are never kept. One pool per process, shared by connections.
import { Buffer } from 'node:buffer';

/** Idle bytes the pool keeps at most. */
export const POOL_IDLE_BYTES = 32 * 1024 * 1024;
/** Buffers bigger than this are allocated for one message and left to the garbage collector. */
export const POOL_LARGEST_BYTES = 16 * 1024 * 1024;
const SMALLEST_CLASS = 64 * 1024;

/** Free buffers by size class (a power of two). */
const free = new Map<number, ArrayBuffer[]>();
let idleBytes = 0;
/** Buffers lent out and not given back: only those may come back (once). */
const lent = new WeakSet<ArrayBuffer>();

function sizeClass(bytes: number): number {
  let c = SMALLEST_CLASS;
  while (c < bytes) c *= 2;
  return c;
}

/** A buffer of `bytes` (contents undefined) for a segment to send; give it back with giveBackSegment once written. */
export function takeSegment(bytes: number): Uint8Array {
  const c = sizeClass(bytes);
  if (c > POOL_LARGEST_BYTES) {
    const raw = Buffer.allocUnsafeSlow(bytes);
    return new Uint8Array(raw.buffer, raw.byteOffset, bytes);
  }
  let ab = free.get(c)?.pop();
  if (ab) idleBytes -= c;
  else ab = Buffer.allocUnsafeSlow(c).buffer as ArrayBuffer;
  lent.add(ab);
  return new Uint8Array(ab, 0, bytes);
}

/**
 * Gives back a segment once nothing reads it any more (the stream wrote it). Anything else (a
 * segment not from the pool, one given back already) is ignored.
 */
export function giveBackSegment(segment: Uint8Array): void {
  const ab = segment.buffer as ArrayBuffer;
  if (!lent.has(ab)) return;
  lent.delete(ab);
  const c = ab.byteLength;
  if (idleBytes + c > POOL_IDLE_BYTES) return;
  let list = free.get(c);
  if (!list) free.set(c, (list = []));
  list.push(ab);
  idleBytes += c;
}

/** Idle bytes held, for tests. */
export function segmentPoolIdleBytes(): number {
  return idleBytes;
}
