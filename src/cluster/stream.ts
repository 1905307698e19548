// A libp2p stream as the RPC engine's ByteStream, with backpressure both ways: what we send waits
// in the stream's write buffer while the peer's window is shut (StreamTransport bounds it through
// queuedBytes and hears when it shrinks through onWritten); when the engine stops reading, the
// stream is paused, yamux stops granting window, and the peer waits (the window is kept within the
// read buffer: host.ts), so a paused reader is never reset.
import type { Stream } from '@libp2p/interface';
import type { ByteStream } from '../rpc/index.js';

/** How long close() waits for the peer to take what is queued before resetting the stream. */
const CLOSE_GRACE_MS = 2000;

export function libp2pByteStream(stream: Stream): ByteStream {
  const endHandlers: ((err?: Error) => void)[] = [];
  const writtenHandlers: (() => void)[] = [];
  let ended = false;
  const fireEnd = (err?: Error): void => {
    if (ended) return;
    ended = true;
    for (const h of endHandlers) h(err);
  };
  const fireWritten = (): void => {
    for (const h of writtenHandlers) h();
  };
  stream.addEventListener('close', (evt) => fireEnd(evt.error));
  stream.addEventListener('remoteCloseWrite', () => {
    fireEnd();
    void stream.close().catch(() => {});
  });
  // 'drain': the peer's window opened and the queue is being sent; count after it moved.
  stream.addEventListener('drain', () => setImmediate(fireWritten));
  stream.addEventListener('idle', fireWritten);
  return {
    write(chunk, done) {
      if (ended || stream.writeStatus !== 'writable') return done?.();
      if (done) {
        // The stream keeps the chunk until the muxer takes it; the caller reuses it after done().
        stream.send(chunk.slice());
        done();
        return;
      }
      stream.send(chunk);
    },
    onData(handler) {
      stream.addEventListener('message', (evt) => {
        const data = evt.data;
        handler(data instanceof Uint8Array ? data : data.subarray());
      });
    },
    onEnd(handler) {
      endHandlers.push(handler);
    },
    end() {
      if (stream.status !== 'open') return;
      const timer = setTimeout(() => stream.abort(new Error('the peer did not take what was queued for it')), CLOSE_GRACE_MS);
      timer.unref();
      void stream
        .close()
        .catch(() => stream.abort(new Error('closing the RPC stream failed')))
        .finally(() => clearTimeout(timer));
    },
    queuedBytes: () => stream.writeBufferLength,
    onWritten(handler) {
      writtenHandlers.push(handler);
    },
    pause: () => {
      if (stream.status === 'open') stream.pause();
    },
    resume: () => {
      if (stream.status === 'open') stream.resume();
    },
  };
}
