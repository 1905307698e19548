// Unix domain socket transport.
import { connectSocket, listenSocket } from './socket.js';
import type { Transport } from './types.js';

export function connectUnix(path: string): Promise<Transport> {
  return connectSocket({ path });
}

export async function listenUnix(path: string, onTransport: (t: Transport) => void): Promise<{ close(): Promise<void> }> {
  const { close } = await listenSocket({ path }, onTransport);
  return { close };
}
