// TS<->TS connection pairs over TCP loopback for the engine's tests.
import { Connection, type ConnectionOptions } from '../../src/rpc/conn.js';
import type { Client } from '../../src/rpc/client.js';
import { connectTcp, listenTcp, type Listener } from '../../src/rpc/transport/tcp.js';

export interface Pair {
  client: Connection;
  server: Connection;
  listener: Listener;
  close(): Promise<void>;
}

/** A listening server whose bootstrap is `bootstrap()`, and one client connection to it. */
export async function connectPair(bootstrap: () => Client, serverOptions: ConnectionOptions = {}): Promise<Pair> {
  let server: Connection | null = null;
  let gotServer: (c: Connection) => void = () => {};
  const serverReady = new Promise<Connection>((r) => (gotServer = r));
  const listener = await listenTcp('127.0.0.1', 0, (t) => {
    const b = bootstrap();
    server = new Connection(t, { ...serverOptions, bootstrap: b });
    b.release();
    gotServer(server);
  });
  const client = new Connection(await connectTcp('127.0.0.1', listener.port));
  server = await serverReady;
  return {
    client,
    server,
    listener,
    async close() {
      client.close();
      server!.close();
      await listener.close();
    },
  };
}

export async function eventually(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
