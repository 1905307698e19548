// Runs every interop check against a Store server:  node dist/tools/interop/client.js --connect HOST:PORT
// Prints one line per check ("ok NAME" / "FAIL NAME: why"), then "N passed, N failed"; exits 1 on a failure.
import { Connection, connectTcp, parseHostPort } from '../../src/rpc/index.js';
import { Store } from '../../src/capnp-gen/interop.rpc.js';
import { runChecks } from './checks.js';

async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf('--connect');
  if (i < 0 || !argv[i + 1]) {
    process.stderr.write('usage: client --connect HOST:PORT\n');
    return 2;
  }
  const { host, port } = parseHostPort(argv[i + 1]);
  const conn = new Connection(await connectTcp(host, port));
  const store = conn.bootstrap(Store);
  const results = await runChecks(store, (line) => process.stdout.write(line + '\n'));
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  store.release();
  conn.close();
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`interop client: ${err instanceof Error ? err.message : String(err)}\n`);
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  },
);
