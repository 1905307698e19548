// Serves the interop Store over TCP:  node dist/tools/interop/server.js --listen HOST:PORT
// Prints "listening on HOST:PORT" (the real port, also for port 0) once ready; serves until killed.
import { Connection, listenTcp, parseHostPort, serve } from '../../src/rpc/index.js';
import { Store } from '../../src/capnp-gen/interop.rpc.js';
import { StoreImpl } from './store.js';

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--listen');
  if (i < 0 || !argv[i + 1]) {
    process.stderr.write('usage: server --listen HOST:PORT\n');
    process.exit(2);
  }
  const { host, port } = parseHostPort(argv[i + 1]);
  const listener = await listenTcp(host, port, (transport) => {
    // One Store per connection: each peer sees its own data and `held` count.
    const store = serve(Store, new StoreImpl());
    const conn = new Connection(transport, { bootstrap: store });
    store.release();
    void conn.closed();
  });
  process.stdout.write(`listening on ${host}:${listener.port}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`interop server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
