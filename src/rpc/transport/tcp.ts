// TCP transport: connect to or listen on HOST:PORT.
import type net from 'node:net';
import type { PartialFrameBudget } from './framing.js';
import { connectSocket, listenSocket, type SocketTransportOptions } from './socket.js';
import type { Transport } from './types.js';

export { transportFromSocket } from './socket.js';

export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  if (i < 0) throw new Error(`expected HOST:PORT, got "${address}"`);
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in "${address}"`);
  return { host, port };
}

export function connectTcp(host: string, port: number, options: SocketTransportOptions = {}): Promise<Transport> {
  return connectSocket({ host, port }, options);
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  /** What its connections' partly received frames hold together (see listenSocket). */
  readonly partialFrameBudget: PartialFrameBudget | null;
  close(): Promise<void>;
}

/** Listens on host:port (0 = ephemeral) and hands each accepted connection's transport to onTransport. */
export async function listenTcp(
  host: string,
  port: number,
  onTransport: (t: Transport) => void,
  options: SocketTransportOptions = {},
): Promise<Listener> {
  const { server, partialFrameBudget, close } = await listenSocket({ host, port }, onTransport, options);
  return { host, port: (server.address() as net.AddressInfo).port, partialFrameBudget, close };
}
