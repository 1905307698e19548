// node:net sockets (TCP and unix) as ByteStreams, and the connecting and listening both share.
import net from 'node:net';
import { StreamTransport } from './stream.js';
import type { ByteStream, Transport } from './types.js';

export function socketByteStream(socket: net.Socket): ByteStream {
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

export function transportFromSocket(socket: net.Socket): Transport {
  return new StreamTransport(socketByteStream(socket));
}

/** Connects to a TCP address or a unix socket path. */
export function connectSocket(to: net.NetConnectOpts): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(to);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(transportFromSocket(socket));
    });
  });
}

/** A listening server; close() also ends the connections it accepted. */
export interface SocketListener {
  readonly server: net.Server;
  close(): Promise<void>;
}

/** Listens on a TCP address or a unix socket path and hands each accepted connection's transport to onTransport. */
export function listenSocket(on: net.ListenOptions, onTransport: (t: Transport) => void): Promise<SocketListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onTransport(transportFromSocket(socket));
  });
  const close = (): Promise<void> =>
    new Promise<void>((done) => {
      for (const s of sockets) s.destroy();
      server.close(() => done());
    });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(on, () => resolve({ server, close }));
  });
}
