// Cap'n Proto stream framing (unpacked): uint32 (segmentCount-1), uint32 size in words per segment,
// padding to 8 bytes, then the segments. The decoder copes with many messages in one chunk and one
// message split across many chunks, and refuses frames beyond its limits before buffering them.
// A frame split across chunks is assembled with one copy into a buffer of its exact size, allocated
// once half of it has arrived (before that its pieces are kept as they came): what it holds stays
// within twice the bytes that arrived, or one 64 KiB block (never what the header claims), and past the first
// PARTIAL_FRAME_ALLOWANCE bytes it is taken from a PartialFrameBudget that many connections may
// share. A stream that reads into a buffer we choose (readTarget()) fills the rest in place.
import { Buffer } from 'node:buffer';
import { TransportLimitError } from './types.js';

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

/**
 * Bytes of a partly received frame that each connection holds without drawing on a budget: enough
 * for every ordinary message that happens to straddle two reads, so that a budget used up by big
 * (or hostile) frames never refuses those. Also the first size of a growing frame buffer.
 */
export const PARTIAL_FRAME_ALLOWANCE = 64 * 1024;

/** The budget a listener shares among its connections unless it is given one: 4 messages of the largest size. */
export const DEFAULT_PARTIAL_FRAME_BUDGET_BYTES = 256 * 1024 * 1024;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * Bytes held in partly received frames, shared by the decoders given it (a listener's connections,
 * a node's): past it, a frame that needs more is refused (TransportLimitError) instead of growing.
 */
export class PartialFrameBudget {
  private used = 0;

  constructor(readonly limitBytes: number) {
    if (!(limitBytes >= 0)) throw new RangeError(`a partial frame budget needs a size of 0 bytes or more, not ${limitBytes}`);
  }

  /** Bytes taken now. */
  get usedBytes(): number {
    return this.used;
  }

  /** Takes `bytes` if they fit in what is left. */
  tryTake(bytes: number): boolean {
    if (this.used + bytes > this.limitBytes) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
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

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/** Pieces smaller than this of a frame in progress are copied into a block instead of kept as they are. */
const SMALL_PIECE = 4096;

/**
 * Incremental frame decoder. Feed chunks with push(); it calls onFrame(segments) for each complete
 * message, each segment as a view: into the received chunk when the whole frame lies within it,
 * else into the frame's own buffer (never reused, so views may be kept). It may keep views of
 * pushed chunks until their frame is complete: a chunk must not be changed after push().
 *
 * pause() stops delivery between two frames (bytes that arrive meanwhile are kept as they are);
 * resume() delivers them. dispose() gives back what the frame in progress took from the budget.
 */
export class FrameDecoder {
  /** The header of the frame in progress while it straddles chunks. */
  private header = new Uint8Array(8);
  private headerFilled = 0;
  /** Parsed header of the frame in progress; null while reading a header. */
  private segmentWords: number[] | null = null;
  private bodyBytes = 0;
  /**
   * The first half of a body that straddles chunks, as it came: big pieces as views of their chunks,
   * small ones copied into blocks (so a peer sending a byte at a time costs a byte a byte).
   */
  private pieces: Uint8Array[] = [];
  private block: Uint8Array | null = null;
  private blockFilled = 0;
  /** Bytes the pieces and blocks hold. */
  private piecesHeld = 0;
  /** The body of a frame that straddles chunks, at its exact size, once half of it arrived. */
  private body: Uint8Array | null = null;
  private bodyFilled = 0;
  /** Bytes held taken from the budget. */
  private budgeted = 0;
  /** Received bytes not yet decoded, while paused. */
  private stash: Uint8Array[] = [];
  private paused = false;
  private failed = false;

  constructor(
    private readonly onFrame: (segments: Uint8Array[]) => void,
    private readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS,
    private readonly budget: PartialFrameBudget | null = null,
  ) {}

  /** Adds bytes; throws FrameError or TransportLimitError (and stays failed) on a frame past the limits. */
  push(chunk: Uint8Array): void {
    if (this.failed || chunk.byteLength === 0) return;
    if (this.paused) this.stash.push(chunk);
    else this.decode(chunk);
  }

  /** Stops delivering frames after the current one; what arrives is kept until resume(). */
  pause(): void {
    this.paused = true;
  }

  /** Delivers what arrived while paused (until something pauses it again). Throws as push() does. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    while (this.stash.length > 0 && !this.paused && !this.failed) this.decode(this.stash.shift()!);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** True when no partial message is buffered and nothing waits to be decoded. */
  get idle(): boolean {
    return !this.partial && this.stash.length === 0;
  }

  /** True while a frame has started arriving and has not ended. */
  get partial(): boolean {
    return this.headerFilled > 0 || this.segmentWords !== null;
  }

  /** Bytes held for the frame in progress (its buffer's capacity): what a slow sender costs us. */
  get heldBytes(): number {
    return (this.body?.byteLength ?? this.piecesHeld) + this.headerFilled;
  }

  /**
   * Where the next bytes of the stream may be read to, for a stream that can read into a buffer
   * of our choosing: the rest of the frame in progress once its buffer exists (no copy), else
   * null (any buffer). Valid until the next push().
   */
  readTarget(): Uint8Array | null {
    if (this.body === null || this.paused || this.failed) return null;
    return this.body.subarray(this.bodyFilled);
  }

  /** Bytes of the frame in progress that arrived, and the size its header declares (0 before the header). */
  progress(): { received: number; declared: number } {
    if (this.segmentWords === null) return { received: this.headerFilled, declared: 0 };
    return { received: this.bodyFilled, declared: this.bodyBytes };
  }

  /** Drops the frame in progress and what waits, giving back the budget; later pushes are ignored. */
  dispose(): void {
    this.failed = true;
    this.dropBody();
    this.stash = [];
  }

  private decode(chunk: Uint8Array): void {
    const end = chunk.byteLength;
    let at = 0;
    while (at < end && !this.failed) {
      if (this.paused) {
        // Ahead of anything stashed later: it arrived first.
        this.stash.unshift(at === 0 ? chunk : chunk.subarray(at));
        return;
      }
      if (this.segmentWords === null) {
        at = this.readHeader(chunk, at);
        if (this.segmentWords === null || at === end) return; // the rest is still to come
      }
      if (this.body === null && this.piecesHeld === 0 && end - at >= this.bodyBytes) {
        // The whole body is here: segments are views into the chunk.
        const segments = this.split(chunk, at);
        at += this.bodyBytes;
        this.segmentWords = null;
        this.onFrame(segments);
        continue;
      }
      at = this.accumulate(chunk, at);
    }
  }

  /** Reads header bytes from chunk[at..]; returns where the body starts (or the chunk's end). */
  private readHeader(chunk: Uint8Array, at: number): number {
    const end = chunk.byteLength;
    if (this.headerFilled === 0 && end - at >= 4) {
      const count = this.segmentCount(chunk, at);
      const headerBytes = (4 + 4 * count + 7) & ~7;
      if (end - at >= headerBytes) {
        this.parseHeader(chunk, at, count);
        return at + headerBytes;
      }
    }
    // The header straddles chunks: gather it.
    if (this.headerFilled < 4) {
      const n = Math.min(4 - this.headerFilled, end - at);
      this.header.set(chunk.subarray(at, at + n), this.headerFilled);
      this.headerFilled += n;
      at += n;
      if (this.headerFilled < 4) return at;
    }
    const count = this.segmentCount(this.header, 0);
    const headerBytes = (4 + 4 * count + 7) & ~7;
    if (this.header.byteLength < headerBytes) {
      const grown = new Uint8Array(headerBytes);
      grown.set(this.header.subarray(0, this.headerFilled));
      this.header = grown;
    }
    const n = Math.min(headerBytes - this.headerFilled, end - at);
    this.header.set(chunk.subarray(at, at + n), this.headerFilled);
    this.headerFilled += n;
    at += n;
    if (this.headerFilled < headerBytes) return at;
    this.parseHeader(this.header, 0, count);
    this.headerFilled = 0;
    if (this.header.byteLength > 8) this.header = new Uint8Array(8);
    return at;
  }

  private segmentCount(b: Uint8Array, at: number): number {
    const count = u32(b, at) + 1;
    if (count > this.limits.maxSegments) {
      this.failed = true;
      throw new FrameError(`frame declares ${count} segments; the limit is ${this.limits.maxSegments}`);
    }
    return count;
  }

  private parseHeader(b: Uint8Array, at: number, count: number): void {
    const words: number[] = [];
    let total = 0;
    for (let i = 0; i < count; i++) {
      const w = u32(b, at + 4 + 4 * i);
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
    const bodyBytes = total * 8;
    if (this.budget && bodyBytes - PARTIAL_FRAME_ALLOWANCE > this.budget.limitBytes) {
      this.failed = true;
      throw new TransportLimitError(
        'partial-frame-budget',
        `a message of ${bodyBytes} bytes is larger than the budget for partly received messages (${this.budget.limitBytes} bytes)`,
      );
    }
    this.segmentWords = words;
    this.bodyBytes = bodyBytes;
  }

  /** Takes body bytes from chunk[at..] for the frame in progress; delivers the frame when complete. */
  private accumulate(chunk: Uint8Array, at: number): number {
    const n = Math.min(this.bodyBytes - this.bodyFilled, chunk.byteLength - at);
    const piece = n === chunk.byteLength ? chunk : chunk.subarray(at, at + n);
    if (this.body === null && (this.bodyFilled + n) * 2 < this.bodyBytes) this.keepPiece(piece);
    else {
      if (this.body === null) this.allocateBody();
      // A stream that read into readTarget() put the bytes in place already.
      const inPlace = piece.buffer === this.body!.buffer && piece.byteOffset === this.body!.byteOffset + this.bodyFilled;
      if (!inPlace) this.body!.set(piece, this.bodyFilled);
    }
    this.bodyFilled += n;
    if (this.bodyFilled === this.bodyBytes) {
      const segments = this.split(this.body!, 0);
      this.dropBody();
      this.segmentWords = null;
      this.onFrame(segments);
    }
    return at + n;
  }

  /** Keeps a piece of the first half of a body: big ones as they are, small ones copied into a block. */
  private keepPiece(piece: Uint8Array): void {
    const n = piece.byteLength;
    if (n >= SMALL_PIECE) {
      this.hold(n);
      // A view keeps its whole buffer alive: kept as it is only when it is most of that buffer (a
      // small read into a connected socket's 64 KiB read buffer is copied), so what a partial frame
      // holds stays within twice what it counts.
      this.pieces.push(n * 2 >= piece.buffer.byteLength ? piece : piece.slice());
      return;
    }
    if (this.block === null || this.block.byteLength - this.blockFilled < n) {
      const size = Math.min(PARTIAL_FRAME_ALLOWANCE, this.bodyBytes - this.bodyFilled);
      this.hold(size);
      this.block = new Uint8Array(size);
      this.blockFilled = 0;
    }
    this.block.set(piece, this.blockFilled);
    const last = this.pieces[this.pieces.length - 1];
    const extends_ = last !== undefined && last.buffer === this.block.buffer && last.byteOffset + last.byteLength === this.blockFilled;
    const start = extends_ ? last.byteOffset : this.blockFilled;
    this.blockFilled += n;
    const view = this.block.subarray(start, this.blockFilled);
    if (extends_) this.pieces[this.pieces.length - 1] = view;
    else this.pieces.push(view);
  }

  /** Half of the body is here: the buffer of its exact size takes what arrived (the one copy). */
  private allocateBody(): void {
    this.hold(this.bodyBytes - this.piecesHeld);
    // Not zeroed (every byte is written before the frame is delivered): no 4 MiB memset per blob,
    // and the allocator may hand back memory a collected frame used, its pages already mapped.
    const raw = Buffer.allocUnsafeSlow(this.bodyBytes);
    const body = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    let at = 0;
    for (const p of this.pieces) {
      body.set(p, at);
      at += p.byteLength;
    }
    this.body = body;
    this.pieces = [];
    this.block = null;
    this.piecesHeld = 0;
    // The pieces' blocks may have held more than the body needs: give that back.
    const over = this.budgeted - Math.max(0, this.bodyBytes - PARTIAL_FRAME_ALLOWANCE);
    if (over > 0) {
      this.budget?.give(over);
      this.budgeted -= over;
    }
  }

  /** Counts `bytes` more held for the frame in progress, taking what passes the allowance from the budget. */
  private hold(bytes: number): void {
    const held = (this.body?.byteLength ?? this.piecesHeld) + bytes;
    const more = Math.max(0, held - PARTIAL_FRAME_ALLOWANCE) - this.budgeted;
    if (more > 0 && this.budget) {
      if (!this.budget.tryTake(more)) {
        const { limitBytes, usedBytes } = this.budget;
        this.failed = true;
        this.dropBody();
        throw new TransportLimitError(
          'partial-frame-budget',
          `a message of ${this.bodyBytes} bytes does not fit in the budget for partly received messages: ` +
            `${usedBytes} of ${limitBytes} bytes are held by messages still arriving`,
        );
      }
      this.budgeted += more;
    }
    if (this.body === null) this.piecesHeld += bytes;
  }

  private dropBody(): void {
    if (this.budgeted > 0) this.budget?.give(this.budgeted);
    this.budgeted = 0;
    this.body = null;
    this.bodyFilled = 0;
    this.pieces = [];
    this.block = null;
    this.blockFilled = 0;
    this.piecesHeld = 0;
  }

  private split(buf: Uint8Array, at: number): Uint8Array[] {
    const segments: Uint8Array[] = [];
    for (const w of this.segmentWords!) {
      segments.push(buf.subarray(at, at + w * 8));
      at += w * 8;
    }
    return segments;
  }
}
