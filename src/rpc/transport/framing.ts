// Cap'n Proto stream framing (unpacked): uint32 (segmentCount-1), uint32 size in words per segment,
// padding to 8 bytes, then the segments. The decoder copes with many messages in one chunk and one
// message split across many chunks, and refuses frames beyond its limits before buffering them.

export interface FrameLimits {
  /** Largest message accepted, in 8-byte words (header excluded). */
  maxMessageWords: number;
  /** Most segments one message may have. */
  maxSegments: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = {
  maxMessageWords: (64 * 1024 * 1024) / 8, // 64 MiB: a 32 MiB blob fits with room to spare
  maxSegments: 512,
};

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Header bytes for a message of the given segment word counts. */
export function frameHeader(segmentWords: number[]): Uint8Array {
  const n = segmentWords.length;
  const headerBytes = (4 + 4 * n + 7) & ~7;
  const header = new Uint8Array(headerBytes);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, n - 1, true);
  for (let i = 0; i < n; i++) dv.setUint32(4 + 4 * i, segmentWords[i], true);
  return header;
}

/** The full frame (header + segments) as a list of chunks to write in order. */
export function encodeFrame(segments: Uint8Array[]): Uint8Array[] {
  const words = segments.map((s) => {
    if (s.byteLength % 8 !== 0) throw new FrameError(`segment of ${s.byteLength} bytes is not word aligned`);
    return s.byteLength / 8;
  });
  return [frameHeader(words), ...segments];
}

/**
 * Incremental frame decoder. Feed chunks with push(); it calls onFrame(segments) for each complete
 * message, each segment as a view: into the received chunk when it lies within one, else a copy.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private segmentWords: number[] | null = null; // parsed header of the message in progress
  private headerBytes = 0;
  private bodyBytes = 0;
  private failed = false;

  constructor(
    private readonly onFrame: (segments: Uint8Array[]) => void,
    private readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  ) {}

  /** Adds bytes; throws FrameError (and stays failed) on a frame that breaks the limits. */
  push(chunk: Uint8Array): void {
    if (this.failed) return;
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    for (;;) {
      if (this.segmentWords === null) {
        if (this.buffered < 4) return;
        const first = this.peek(4);
        const count = new DataView(first.buffer, first.byteOffset, 4).getUint32(0, true) + 1;
        if (count > this.limits.maxSegments || count === 0) {
          this.failed = true;
          throw new FrameError(`frame declares ${count} segments; the limit is ${this.limits.maxSegments}`);
        }
        const headerBytes = (4 + 4 * count + 7) & ~7;
        if (this.buffered < headerBytes) return;
        const header = this.peek(headerBytes);
        const dv = new DataView(header.buffer, header.byteOffset, headerBytes);
        const words: number[] = [];
        let total = 0;
        for (let i = 0; i < count; i++) {
          const w = dv.getUint32(4 + 4 * i, true);
          words.push(w);
          total += w;
        }
        if (total > this.limits.maxMessageWords) {
          this.failed = true;
          throw new FrameError(`frame of ${total} words exceeds the limit of ${this.limits.maxMessageWords} words`);
        }
        if (total === 0) {
          this.failed = true;
          throw new FrameError('frame has no content (a message needs at least its root pointer)');
        }
        this.segmentWords = words;
        this.headerBytes = headerBytes;
        this.bodyBytes = total * 8;
      }
      if (this.buffered < this.headerBytes + this.bodyBytes) return;
      this.skip(this.headerBytes);
      const segments: Uint8Array[] = [];
      for (const w of this.segmentWords) segments.push(this.take(w * 8));
      this.segmentWords = null;
      this.onFrame(segments);
      if (this.failed) return;
    }
  }

  /** True when no partial message is buffered. */
  get idle(): boolean {
    return this.buffered === 0;
  }

  private peek(n: number): Uint8Array {
    const head = this.chunks[0];
    if (head.byteLength >= n) return head;
    const out = new Uint8Array(n);
    let off = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.byteLength, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (off === n) break;
    }
    return out;
  }

  private skip(n: number): void {
    this.take(n, false);
  }

  /** Removes n bytes from the front; returns them (a view when they lie in one chunk). */
  private take(n: number, copy = true): Uint8Array {
    const head = this.chunks[0];
    if (head && head.byteLength >= n) {
      const view = head.subarray(0, n);
      if (head.byteLength === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      this.buffered -= n;
      // Views must stay 8-byte aligned for nothing here, but keep them word-sized for DataView reads.
      return view;
    }
    const out = copy ? new Uint8Array(n) : null;
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.byteLength, n - off);
      if (out) out.set(k === c.byteLength ? c : c.subarray(0, k), off);
      off += k;
      if (k === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out ?? new Uint8Array(0);
  }
}
