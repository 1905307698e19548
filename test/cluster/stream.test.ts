// The libp2p stream as the RPC engine's ByteStream: a reader that pauses makes the writer wait
// (its bytes queue on its side), and is never reset for it; everything arrives once it resumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { libp2pByteStream } from '../../src/cluster/index.js';
import { eventually, sleep } from '../executor/helpers.js';
import { peerDir, startPeer } from './helpers.js';

const MIB = 1024 * 1024;

test('a paused reader holds the writer back instead of being reset, and gets every byte once it resumes', async () => {
  const [da, db] = [await peerDir(), await peerDir()];
  const a = await startPeer({ allow: [db.peerId] }, { dir: da.dir });
  const b = await startPeer({ allow: [da.peerId] }, { dir: db.dir });
  try {
    const accepted = Promise.withResolvers<Stream>();
    await b.node.cluster!.host.handle('/ww-test/bulk/1.0.0', (stream) => accepted.resolve(stream));
    const out = libp2pByteStream(await a.node.cluster!.host.dialProtocol(multiaddr(b.node.addresses[0]), '/ww-test/bulk/1.0.0'));
    const inStream = await accepted.promise;
    let why = '';
    inStream.addEventListener('close', (e) => (why = `${e.error?.name}: ${e.error?.message}`));
    const reader = libp2pByteStream(inStream);
    let received = 0;
    let ended: Error | undefined | null = null;
    reader.onData((chunk) => (received += chunk.byteLength));
    reader.onEnd((err) => (ended = err));
    reader.pause!();

    // 24 MiB: far past the 4 MiB a paused stream may buffer before libp2p resets it.
    const total = 24 * MIB;
    const chunk = new Uint8Array(256 * 1024).fill(7);
    for (let sent = 0; sent < total; sent += chunk.byteLength) out.write(chunk);
    await sleep(1000);
    assert.equal(inStream.status, 'open', `the paused reader was not reset (${why})`);
    assert.equal(ended, null);
    assert.ok(received < total, `the reader got ${received} bytes while paused`);
    assert.ok(out.queuedBytes!() >= total - received - 4 * MIB - 64 * 1024, `the writer holds what the reader does not take (${out.queuedBytes!()} queued)`);

    reader.resume!();
    await eventually('every byte arrives', () => received === total, 30_000);
    assert.equal(out.queuedBytes!(), 0);
    out.end();
  } finally {
    await a.close();
    await b.close();
  }
});
