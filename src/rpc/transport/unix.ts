// Unix domain socket transport.
import type { PartialFrameBudget } from './framing.js';
import { connectSocket, listenSocket, type SocketTransportOptions } from './socket.js';
import type { Transport } from './types.js';

export function connectUnix(path: string, options: SocketTransportOptions = {}): Promise<Transport> {
  return connectSocket({ path }, options);
}

/** Listens on a unix socket path; see listenSocket for the bounds its connections share. */
export async function listenUnix(
  path: string,
  onTransport: (t: Transport) => void,
  options: SocketTransportOptions = {},
): Promise<{ readonly partialFrameBudget: PartialFrameBudget | null; close(): Promise<void> }> {
  const { partialFrameBudget, close } = await listenSocket({ path }, onTransport, options);
  return { partialFrameBudget, close };
}
