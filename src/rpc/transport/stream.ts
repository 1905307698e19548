// A framed message transport over any ByteStream.
import { DEFAULT_FRAME_LIMITS, FrameDecoder, encodeFrame, type FrameLimits } from './framing.js';
import type { ByteStream, Transport } from './types.js';

/** Above this many buffered bytes, write at once instead of waiting for the end of the turn. */
const FLUSH_BYTES = 64 * 1024;

export class StreamTransport implements Transport {
  private messageHandler: ((segments: ArrayBuffer[]) => void) | null = null;
  private closeHandler: ((err?: Error) => void) | null = null;
  private readonly decoder: FrameDecoder;
  private closed = false;
  private pendingClose: { err?: Error } | null = null;
  private outbox: Uint8Array[] = [];
  private outboxBytes = 0;
  private flushScheduled = false;

  constructor(
    private readonly stream: ByteStream,
    limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  ) {
    this.decoder = new FrameDecoder((segments) => this.messageHandler?.(segments), limits);
    stream.onData((chunk) => {
      if (this.closed) return;
      try {
        this.decoder.push(chunk);
      } catch (err) {
        this.finish(err instanceof Error ? err : new Error(String(err)));
        this.stream.end();
      }
    });
    stream.onEnd((err) => this.finish(err));
  }

  send(segments: Uint8Array[]): void {
    if (this.closed) return;
    // Coalesce everything sent in one turn of the event loop into few writes.
    for (const chunk of encodeFrame(segments)) {
      this.outbox.push(chunk);
      this.outboxBytes += chunk.byteLength;
    }
    if (this.outboxBytes >= FLUSH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0) return;
    const chunks = this.outbox;
    const total = this.outboxBytes;
    this.outbox = [];
    this.outboxBytes = 0;
    if (chunks.length === 1) {
      this.stream.write(chunks[0]);
      return;
    }
    // Small chunks are copied into one buffer; big ones (blob segments) are written as they are.
    let run: Uint8Array[] = [];
    let runBytes = 0;
    const writeRun = (): void => {
      if (run.length === 0) return;
      if (run.length === 1) this.stream.write(run[0]);
      else {
        const joined = new Uint8Array(runBytes);
        let off = 0;
        for (const c of run) {
          joined.set(c, off);
          off += c.byteLength;
        }
        this.stream.write(joined);
      }
      run = [];
      runBytes = 0;
    };
    for (const c of chunks) {
      if (c.byteLength >= FLUSH_BYTES) {
        writeRun();
        this.stream.write(c);
      } else {
        run.push(c);
        runBytes += c.byteLength;
      }
    }
    writeRun();
    void total;
  }

  onMessage(handler: (segments: ArrayBuffer[]) => void): void {
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
    if (this.closeHandler) this.closeHandler(err);
    else this.pendingClose = { err };
  }
}
