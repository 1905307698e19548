// TCP transport: connect to or listen on HOST:PORT.
import net from 'node:net';
import { socketByteStream } from './socket.js';
import { StreamTransport } from './stream.js';
import type { Transport } from './types.js';

export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  if (i < 0) throw new Error(`expected HOST:PORT, got "${address}"`);
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in "${address}"`);
  return { host, port };
}

export function transportFromSocket(socket: net.Socket): Transport {
  return new StreamTransport(socketByteStream(socket));
}

export function connectTcp(host: string, port: number): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(transportFromSocket(socket));
    });
  });
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on host:port (0 = ephemeral) and hands each accepted connection's transport to onTransport. */
export function listenTcp(host: string, port: number, onTransport: (t: Transport) => void): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onTransport(transportFromSocket(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address() as net.AddressInfo;
      resolve({
        host,
        port: addr.port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
