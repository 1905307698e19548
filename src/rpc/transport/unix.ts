// Unix domain socket transport.
import net from 'node:net';
import { transportFromSocket } from './tcp.js';
import type { Transport } from './types.js';

export function connectUnix(path: string): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(transportFromSocket(socket));
    });
  });
}

export function listenUnix(path: string, onTransport: (t: Transport) => void): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onTransport(transportFromSocket(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () =>
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}
