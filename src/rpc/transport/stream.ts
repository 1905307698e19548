// A framed message transport over any ByteStream, with bounds on what a peer can make it hold:
// bytes queued for a peer that does not read (maxQueuedBytes; reading pauses earlier, at
// pauseReadingAbove, so a peer that reads slowly is slowed down, not cut off), and partly received
// frames (a shared PartialFrameBudget, and partialFrameTimeoutMs of silence in the middle of one).
import { DEFAULT_FRAME_LIMITS, FrameDecoder, FrameError, type FrameLimits, type PartialFrameBudget } from './framing.js';
import { giveBackSegment } from '../segment-pool.js';
import { BIG_SEGMENT, type ByteStream, type Transport, TransportLimitError } from './types.js';

/** Above this many buffered bytes, write at once instead of waiting for the end of the turn. */
const FLUSH_BYTES = 64 * 1024;

export interface StreamTransportOptions {
  frameLimits?: FrameLimits;
  /**
   * Bytes of replies (answers to the peer's messages: see Transport.send) that may wait for the peer
   * behind the one being written; past it the peer is cut off: it is not reading its replies.
   */
  maxQueuedBytes?: number;
  /**
   * Bytes of replies waiting for the peer above which we stop reading its messages (so it cannot
   * ask for more) until half of them are gone. Needs a ByteStream that can pause.
   */
  pauseReadingAbove?: number;
  /** A peer that sends part of a frame and then nothing for this long is cut off. */
  partialFrameTimeoutMs?: number;
  /** The budget partly received frames draw on (shared with other transports); null: none beyond frameLimits. */
  partialFrameBudget?: PartialFrameBudget | null;
}

/** Room behind a reply being written for two more of the biggest a node sends (wait() with 4 MiB of stdout and of stderr). */
export const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024;
export const DEFAULT_PAUSE_READING_ABOVE = 1024 * 1024;
export const DEFAULT_PARTIAL_FRAME_TIMEOUT_MS = 30_000;

/** What a StreamTransport holds now, and the most it held queued: for tests and diagnostics. */
export interface StreamTransportStats {
  /** Bytes given to the stream and not yet taken by the OS, plus our own unwritten buffer. */
  queuedBytes: number;
  /** Bytes of replies among those. */
  queuedReplyBytes: number;
  /** The most queuedReplyBytes has been. */
  peakQueuedReplyBytes: number;
  /** Bytes held for a partly received frame. */
  partialFrameBytes: number;
  /** True while we do not read the peer because its replies wait. */
  readingPaused: boolean;
}

export class StreamTransport implements Transport {
  private messageHandler: ((segments: Uint8Array[]) => void) | null = null;
  private closeHandler: ((err?: Error) => void) | null = null;
  private readonly decoder: FrameDecoder;
  private closed = false;
  private pendingClose: { err?: Error } | null = null;
  private pending = new Uint8Array(16 * 1024);
  private pendingView = new DataView(this.pending.buffer);
  private pendingLen = 0;
  private flushScheduled = false;
  private reading = true;

  private readonly maxQueuedBytes: number;
  private readonly pauseReadingAbove: number;
  private readonly partialFrameTimeoutMs: number;
  /** Bytes handed to the stream so far. */
  private written = 0;
  /**
   * Replies not yet taken by the OS, oldest first: where each ends (in the count of bytes ever
   * queued) and its size. Other messages are not listed: they are the program's doing, not the peer's.
   */
  private replyEnds: number[] = [];
  private replySizes: number[] = [];
  private replyHead = 0;
  private queuedReplyBytes = 0;
  private peakQueuedReplyBytes = 0;
  private readingPaused = false;
  /** Set when the peer went past a bound: nothing more is queued but the engine's last word (Abort). */
  private cutOff = false;
  private lastWordAllowed = false;
  private partialFrameTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly stream: ByteStream,
    options: StreamTransportOptions = {},
  ) {
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.pauseReadingAbove = options.pauseReadingAbove ?? DEFAULT_PAUSE_READING_ABOVE;
    this.partialFrameTimeoutMs = options.partialFrameTimeoutMs ?? DEFAULT_PARTIAL_FRAME_TIMEOUT_MS;
    this.decoder = new FrameDecoder(
      (segments) => this.messageHandler?.(segments),
      options.frameLimits ?? DEFAULT_FRAME_LIMITS,
      options.partialFrameBudget ?? null,
    );
    stream.onData((chunk) => {
      if (this.closed || !this.reading) return;
      this.feed(() => this.decoder.push(chunk));
    });
    stream.onEnd((err) => {
      if (!err && this.reading && !this.closed && this.decoder.partial && !this.readingPaused) {
        // The peer stopped in the middle of a frame: that frame is malformed too.
        this.fail(new FrameError('the stream ended in the middle of a frame'));
        return;
      }
      this.finish(err);
    });
    stream.onWritten?.(() => this.checkQueue(true));
    // The second half of a big frame is read straight into its buffer.
    stream.readInto?.(() => this.decoder.readTarget());
  }

  /** Runs the decoder; a frame past the limits ends the connection. */
  private feed(decode: () => void): void {
    try {
      decode();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.watchPartialFrame();
  }

  /** Tells the engine while it can still send (it answers with Abort), then closes. */
  private fail(err: Error): void {
    if (this.closed || !this.reading) return;
    this.reading = false;
    this.lastWordAllowed = true;
    this.closeHandler?.(err);
    this.close();
  }

  send(segments: Uint8Array[], reply = false): void {
    if (this.closed || (this.cutOff && !this.lastWordAllowed)) return;
    const start = this.written + this.pendingLen;
    // Frame into one pending buffer: everything sent in one turn of the event loop leaves in one write.
    const n = segments.length;
    const headerBytes = (4 + 4 * n + 7) & ~7;
    this.reserve(headerBytes);
    const dv = this.pendingView;
    const at = this.pendingLen;
    dv.setUint32(at, n - 1, true);
    for (let i = 0; i < n; i++) {
      const len = segments[i].byteLength;
      if (len % 8 !== 0) throw new FrameError(`segment of ${len} bytes is not word aligned`);
      dv.setUint32(at + 4 + 4 * i, len / 8, true);
    }
    if (n % 2 === 0) dv.setUint32(at + 4 + 4 * n, 0, true); // padding word
    this.pendingLen = at + headerBytes;
    let corked = false;
    for (const seg of segments) {
      if (seg.byteLength >= BIG_SEGMENT) {
        // Big segments (blobs) are handed over: written as they are, after what is pending, in
        // one gathered write with it where the stream can.
        if (!corked) this.stream.cork?.();
        corked = true;
        this.flush();
        this.write(seg, () => giveBackSegment(seg));
        continue;
      }
      this.reserve(seg.byteLength);
      this.pending.set(seg, this.pendingLen);
      this.pendingLen += seg.byteLength;
    }
    if (corked) {
      this.flush(); // what follows the last big segment
      this.stream.uncork?.();
    }
    if (reply) {
      const end = this.written + this.pendingLen;
      this.replyEnds.push(end);
      this.replySizes.push(end - start);
      this.queuedReplyBytes += end - start;
    }
    if (this.pendingLen >= FLUSH_BYTES) this.flush();
    else if (this.pendingLen > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      // After this turn's microtasks: a Finish and the caller's next Call leave in one write.
      setImmediate(() => this.flush());
    }
    if (reply) this.checkQueue(false);
  }

  private reserve(bytes: number): void {
    if (this.pendingLen + bytes <= this.pending.byteLength) return;
    const grown = new Uint8Array(Math.max(this.pending.byteLength * 2, this.pendingLen + bytes));
    grown.set(this.pending.subarray(0, this.pendingLen));
    this.pending = grown;
    this.pendingView = new DataView(grown.buffer);
  }

  private write(chunk: Uint8Array, done?: () => void): void {
    this.written += chunk.byteLength;
    this.stream.write(chunk, done);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pendingLen === 0) return;
    // The stream may hold the written bytes until the OS takes them: give it its own copy.
    this.write(this.pending.slice(0, this.pendingLen));
    this.pendingLen = 0;
  }

  /** Forgets the replies the OS took; returns the reply bytes still queued. */
  private countQueued(): number {
    const taken = this.written - (this.stream.queuedBytes?.() ?? 0);
    const ends = this.replyEnds;
    let head = this.replyHead;
    while (head < ends.length && ends[head] <= taken) this.queuedReplyBytes -= this.replySizes[head++];
    if (head === ends.length) {
      this.replyEnds = [];
      this.replySizes = [];
      this.replyHead = 0;
    } else if (head > 1024 && head * 2 > ends.length) {
      this.replyEnds = ends.slice(head);
      this.replySizes = this.replySizes.slice(head);
      this.replyHead = 0;
    } else this.replyHead = head;
    if (this.queuedReplyBytes > this.peakQueuedReplyBytes) this.peakQueuedReplyBytes = this.queuedReplyBytes;
    return this.queuedReplyBytes;
  }

  /**
   * Applies the bounds to the replies queued: past maxQueuedBytes behind the reply being written,
   * the peer is cut off; past pauseReadingAbove we stop reading it, and read again once half is
   * gone. Resuming delivers messages, so only `mayResume` callers (the stream's write callbacks,
   * never the engine in the middle of a send) may resume.
   */
  private checkQueue(mayResume: boolean): void {
    const queued = this.countQueued();
    if (this.closed || this.cutOff) return;
    // One reply may be bigger than the bound (a blob): the bound is on what waits behind it.
    const behind = queued - (this.replyHead < this.replySizes.length ? this.replySizes[this.replyHead] : 0);
    if (behind > this.maxQueuedBytes) return this.cut(behind);
    if (!this.readingPaused && queued > this.pauseReadingAbove) this.pauseReading();
    else if (mayResume && this.readingPaused && queued <= this.pauseReadingAbove / 2) this.resumeReading();
  }

  private cut(behind: number): void {
    this.cutOff = true;
    this.pauseReading();
    const err = new TransportLimitError(
      'queued-bytes',
      `the peer did not read its replies: ${behind} bytes were queued for it behind the one being written ` +
        `(the bound is ${this.maxQueuedBytes}, maxQueuedBytes)`,
    );
    // Not from inside send(): the engine is in the middle of building a message. Until then every
    // send is dropped, so nothing more piles up.
    queueMicrotask(() => this.fail(err));
  }

  private pauseReading(): void {
    // Only a stream that can pause and says when its bytes leave can be resumed in time.
    if (this.readingPaused || !this.stream.pause || !this.stream.onWritten) return;
    this.readingPaused = true;
    this.decoder.pause();
    this.stream.pause();
    this.stopPartialFrameTimer(); // the peer cannot finish its frame while we do not read
  }

  private resumeReading(): void {
    this.readingPaused = false;
    this.feed(() => this.decoder.resume());
    // The decoder may have paused again on what it delivered; read more only if it did not.
    if (!this.readingPaused && !this.closed) this.stream.resume?.();
  }

  /** Arms the partial frame timer while a frame is incomplete (restarted by every chunk), stops it otherwise. */
  private watchPartialFrame(): void {
    if (this.closed || this.readingPaused || !this.decoder.partial) return this.stopPartialFrameTimer();
    if (this.partialFrameTimer) {
      this.partialFrameTimer.refresh();
      return;
    }
    this.partialFrameTimer = setTimeout(() => {
      this.partialFrameTimer = null;
      const { received, declared } = this.decoder.progress();
      const of = declared > 0 ? `${received} of ${declared} bytes of a message` : `${received} bytes of a message header`;
      this.fail(
        new TransportLimitError(
          'partial-frame-timeout',
          `the peer sent ${of} and nothing more for ${this.partialFrameTimeoutMs} ms (partialFrameTimeoutMs)`,
        ),
      );
    }, this.partialFrameTimeoutMs);
    this.partialFrameTimer.unref?.();
  }

  private stopPartialFrameTimer(): void {
    if (!this.partialFrameTimer) return;
    clearTimeout(this.partialFrameTimer);
    this.partialFrameTimer = null;
  }

  /** What this transport holds now (see StreamTransportStats). */
  stats(): StreamTransportStats {
    if (!this.closed) this.countQueued();
    return {
      queuedBytes: this.pendingLen + (this.stream.queuedBytes?.() ?? 0),
      queuedReplyBytes: this.queuedReplyBytes,
      peakQueuedReplyBytes: this.peakQueuedReplyBytes,
      partialFrameBytes: this.decoder.heldBytes,
      readingPaused: this.readingPaused,
    };
  }

  onMessage(handler: (segments: Uint8Array[]) => void): void {
    this.messageHandler = handler;
  }

  onClose(handler: (err?: Error) => void): void {
    this.closeHandler = handler;
    if (this.pendingClose) handler(this.pendingClose.err);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.stream.end();
    this.finish();
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPartialFrameTimer();
    this.decoder.dispose(); // gives back what a partial frame took from a shared budget
    if (!this.reading) return; // the handler already heard about the framing error or the bound
    if (this.closeHandler) this.closeHandler(err);
    else this.pendingClose = { err };
  }
}
