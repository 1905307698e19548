// node:net sockets (TCP and unix) as ByteStreams.
import type { Socket } from 'node:net';
import type { ByteStream } from './types.js';

export function socketByteStream(socket: Socket): ByteStream {
  socket.setNoDelay?.(true);
  let ended = false;
  const endHandlers: ((err?: Error) => void)[] = [];
  let failure: Error | undefined;
  const fireEnd = (err?: Error): void => {
    if (ended) return;
    ended = true;
    for (const h of endHandlers) h(err ?? failure);
  };
  socket.on('error', (err) => {
    failure = err;
    fireEnd(err);
  });
  socket.on('close', () => fireEnd());
  socket.on('end', () => {
    fireEnd();
    socket.end();
  });
  return {
    write(chunk) {
      if (!socket.destroyed) socket.write(chunk);
    },
    onData(handler) {
      socket.on('data', (b: Buffer) => handler(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
    },
    onEnd(handler) {
      endHandlers.push(handler);
    },
    end() {
      socket.end();
      // A peer that never reads must not keep us waiting forever.
      setTimeout(() => socket.destroy(), 2000).unref();
    },
  };
}
