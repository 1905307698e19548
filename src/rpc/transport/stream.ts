// A framed message transport over any ByteStream.
import { DEFAULT_FRAME_LIMITS, FrameDecoder, FrameError, type FrameLimits } from './framing.js';
import { BIG_SEGMENT, type ByteStream, type Transport } from './types.js';

/** Above this many buffered bytes, write at once instead of waiting for the end of the turn. */
const FLUSH_BYTES = 64 * 1024;

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

  constructor(
    private readonly stream: ByteStream,
    limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  ) {
    this.decoder = new FrameDecoder((segments) => this.messageHandler?.(segments), limits);
    stream.onData((chunk) => {
      if (this.closed || !this.reading) return;
      try {
        this.decoder.push(chunk);
      } catch (err) {
        // Bad framing: tell the engine while we can still send (it answers with Abort), then close.
        this.reading = false;
        this.closeHandler?.(err instanceof Error ? err : new Error(String(err)));
        this.close();
      }
    });
    stream.onEnd((err) => {
      if (!err && this.reading && !this.closed && !this.decoder.idle) {
        // The peer stopped in the middle of a frame: that frame is malformed too.
        this.reading = false;
        this.closeHandler?.(new FrameError('the stream ended in the middle of a frame'));
        this.close();
        return;
      }
      this.finish(err);
    });
  }

  send(segments: Uint8Array[]): void {
    if (this.closed) return;
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
    for (const seg of segments) {
      if (seg.byteLength >= BIG_SEGMENT) {
        // Big segments (blobs) are handed over: write them as they are, after what is pending.
        this.flush();
        this.stream.write(seg);
        continue;
      }
      this.reserve(seg.byteLength);
      this.pending.set(seg, this.pendingLen);
      this.pendingLen += seg.byteLength;
    }
    if (this.pendingLen >= FLUSH_BYTES) this.flush();
    else if (this.pendingLen > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      // After this turn's microtasks: a Finish and the caller's next Call leave in one write.
      setImmediate(() => this.flush());
    }
  }

  private reserve(bytes: number): void {
    if (this.pendingLen + bytes <= this.pending.byteLength) return;
    const grown = new Uint8Array(Math.max(this.pending.byteLength * 2, this.pendingLen + bytes));
    grown.set(this.pending.subarray(0, this.pendingLen));
    this.pending = grown;
    this.pendingView = new DataView(grown.buffer);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pendingLen === 0) return;
    // The stream may hold the written bytes until the OS takes them: give it its own copy.
    this.stream.write(this.pending.slice(0, this.pendingLen));
    this.pendingLen = 0;
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
    if (!this.reading) return; // the handler already heard about the framing error
    if (this.closeHandler) this.closeHandler(err);
    else this.pendingClose = { err };
  }
}
