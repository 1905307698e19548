// A framed message transport over any ByteStream.
import { DEFAULT_FRAME_LIMITS, FrameDecoder, encodeFrame, type FrameLimits } from './framing.js';
import type { ByteStream, Transport } from './types.js';

export class StreamTransport implements Transport {
  private messageHandler: ((segments: ArrayBuffer[]) => void) | null = null;
  private closeHandler: ((err?: Error) => void) | null = null;
  private readonly decoder: FrameDecoder;
  private closed = false;
  private pendingClose: { err?: Error } | null = null;

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
    for (const chunk of encodeFrame(segments)) this.stream.write(chunk);
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
