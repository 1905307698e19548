// Transports: unix sockets carry the protocol like TCP; a StreamTransport over a hand-made ByteStream
// (the shape a libp2p stream or a guest's socket adapts to) delivers messages split and joined.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '../../src/rpc/conn.js';
import { serve } from '../../src/rpc/client.js';
import { connectUnix, listenUnix } from '../../src/rpc/transport/unix.js';
import { StreamTransport } from '../../src/rpc/transport/stream.js';
import type { ByteStream } from '../../src/rpc/transport/types.js';
import { Store } from '../../src/capnp-gen/interop.rpc.js';
import { StoreImpl } from '../../tools/interop/store.js';

test('RPC over a unix domain socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ww-rpc-unix-'));
  const path = join(dir, 'rpc.sock');
  const servers: Connection[] = [];
  const listener = await listenUnix(path, (t) => servers.push(new Connection(t, { bootstrap: serve(Store, new StoreImpl()) })));
  try {
    const conn = new Connection(await connectUnix(path));
    const store = conn.bootstrap(Store);
    const r = await store.counter({ start: 1n }).counter.increment({ by: 1n });
    assert.equal(r.value, 2n);
    store.release();
    conn.close();
  } finally {
    for (const s of servers) s.close();
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Two ByteStreams wired together that re-chunk every write into pieces of 1..7 bytes. */
function choppyPair(): [ByteStream, ByteStream] {
  const make = (): ByteStream & { peer?: ByteStream; deliver?: (c: Uint8Array) => void; ended?: (e?: Error) => void } => {
    const s: ByteStream & { peer?: ByteStream; deliver?: (c: Uint8Array) => void; ended?: (e?: Error) => void } = {
      write(chunk) {
        const copy = chunk.slice();
        let i = 0;
        let k = 1;
        const target = s.peer as typeof s;
        while (i < copy.byteLength) {
          const piece = copy.subarray(i, i + k);
          setImmediate(() => target.deliver?.(piece));
          i += k;
          k = (k % 7) + 1;
        }
      },
      onData(h) {
        s.deliver = h;
      },
      onEnd(h) {
        s.ended = h;
      },
      end() {
        setImmediate(() => (s.peer as typeof s).ended?.());
        s.ended?.();
      },
    };
    return s;
  };
  const a = make();
  const b = make();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

test('StreamTransport over a ByteStream that splits every message into tiny chunks', async () => {
  const [x, y] = choppyPair();
  const server = new Connection(new StreamTransport(y), { bootstrap: serve(Store, new StoreImpl()) });
  const conn = new Connection(new StreamTransport(x));
  const store = conn.bootstrap(Store);
  await store.put({ key: 'k', value: new Uint8Array(3000).fill(7) });
  const r = await store.get({ key: 'k' });
  assert.equal(r.value.byteLength, 3000);
  assert.ok(r.value.every((v) => v === 7));
  const values = await Promise.all(Array.from({ length: 50 }, (_, i) => store.counter({ start: BigInt(i) }).counter.increment({ by: 1n })));
  assert.deepEqual(values.map((v) => Number(v.value)), Array.from({ length: 50 }, (_, i) => i + 1));
  store.release();
  conn.close();
  server.close();
});
