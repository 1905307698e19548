// Over a real node socket: a guest's stdin pulled from the client's ByteSource (SpawnSpec.stdinSource)
// only as the guest reads, hostile sources (too much, no answer, gone) costing only their own guest,
// and SpawnSpec.attached: a process that ends when the connection it was spawned on closes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '../../src/rpc/client.js';
import { ByteSource, OutputMode, type ByteSource$Client, type ByteSource$Server } from '../../src/capnp-gen/ww.rpc.js';
import { executorErrorFromRpc } from '../../src/executor/wire.js';
import { guest } from '../../fixtures/wat.js';
import { FOREVER, capture, cpuLoopWasm, eventually, helloWasm, psState, said, startTestNode, text, type TestNode } from './helpers.js';

let t: TestNode;
let cat: Uint8Array;
let count: Uint8Array;

before(async () => {
  t = await startTestNode();
  cat = await guest('cat');
  count = await guest('count-stdin');
});
after(() => t?.close());

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A client for `server` that the spawn may take as its only reference (ours is released once the
 *  call has taken its own), so the server is disposed when the node drops it. */
function handOver(server: ByteSource$Server): ByteSource$Client {
  const client = serve(ByteSource, server);
  queueMicrotask(() => client.release());
  return client;
}

/** A ByteSource server recording what it was asked and whether the node dropped it. */
function source(answer: (max: number) => Promise<{ data: Uint8Array; eof: boolean }>): ByteSource$Server & { asked: number[]; disposed: boolean } {
  const s = {
    asked: [] as number[],
    disposed: false,
    read: ({ max }: { max: number }) => {
      s.asked.push(max);
      return answer(max);
    },
    [Symbol.dispose]: () => void (s.disposed = true),
  };
  return s;
}

describe('stdin from a ByteSource', () => {
  test('a guest that never reads: the source is never read, and is dropped when the guest ends', async () => {
    const src = source(async () => ({ data: bytes('never'), eof: false }));
    const { process } = await t.spawn({ moduleBytes: helloWasm(), stdinSource: handOver(src), stdout: capture });
    assert.equal((await process.wait()).status.code, 0);
    await eventually('the source dropped', () => src.disposed);
    assert.deepEqual(src.asked, []);
  });

  test('data that arrives later reaches the reading guest as it comes; eof with the last bytes ends it', async () => {
    const parts = ['one\n', 'two\n'];
    let release: () => void = () => {};
    const later = new Promise<void>((r) => (release = r));
    const src = source(async () => {
      if (parts.length === 1) await later; // the second part exists only once the first came out
      const next = parts.shift()!;
      return { data: bytes(next), eof: parts.length === 0 };
    });
    const out: string[] = [];
    const sink = { write: ({ data }: { data: Uint8Array }) => void out.push(text(data)) };
    const { process } = await t.spawn({ moduleBytes: cat, stdinSource: handOver(src), stdout: { mode: OutputMode.sink, sink } });
    await eventually('the first line out', () => out.join('') === 'one\n');
    release();
    assert.equal((await process.wait()).status.code, 0);
    assert.equal(out.join(''), 'one\ntwo\n');
    assert.equal(src.asked.length, 2, 'eof came with the last bytes: no third read');
    assert.ok(src.asked.every((max) => max > 0 && max <= 64 * 1024), String(src.asked));
    await eventually('the source dropped', () => src.disposed);
  });

  test('32 MiB through a counting guest, 64 KiB per read', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x78);
    let left = 512;
    const src = source(async (max) => (left-- > 0 ? { data: chunk.subarray(0, max), eof: false } : { data: new Uint8Array(0), eof: true }));
    const { process } = await t.spawn({ moduleBytes: count, stdinSource: handOver(src), stdout: capture });
    const { status } = await process.wait();
    assert.equal(text(status.stdout), `${512 * 64 * 1024}\n`);
  });

  test('a source that answers more than asked gives the guest EIO and is not read again', async () => {
    const src = source(async (max) => ({ data: new Uint8Array(max + 1), eof: false }));
    const { process } = await t.spawn({ moduleBytes: count, stdinSource: handOver(src), stdout: capture });
    const { status } = await process.wait();
    assert.deepEqual([status.code, text(status.stdout), src.asked.length], [2, '0 errno 29\n', 1]);
  });

  test('a source that never answers blocks only its guest: the node answers others, and kill ends it', async () => {
    const src = source(() => new Promise(() => {}));
    const { process, pid } = await t.spawn({ moduleBytes: cat, stdinSource: handOver(src) });
    await eventually('the first read', () => src.asked.length > 0);
    const other = await t.spawn({ moduleBytes: helloWasm(), stdout: capture });
    assert.equal((await other.process.wait()).status.code, 0);
    assert.equal(await psState(t.admin, pid), 'running');
    await process.kill();
    assert.equal(said((await process.wait()).status.reason), 'killed');
    await eventually('the source dropped', () => src.disposed);
  });

  test('stdin bytes and a stdinSource together are refused (bad-request)', async () => {
    const src = source(async () => ({ data: new Uint8Array(0), eof: true }));
    const refused = await t.executor.spawn({ spec: { moduleBytes: helloWasm(), stdin: bytes('x'), stdinSource: handOver(src) } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.equal(executorErrorFromRpc(refused)?.code, 'bad-request', String(refused));
    await eventually('the source dropped', () => src.disposed);
  });
});

describe('attached processes and the connection they were spawned on', () => {
  test('closing the connection kills its attached process (and its subtree), not a detached one', async () => {
    const c = await t.connect();
    const ex = c.node.executor().executor;
    const attached = await ex.spawn({ spec: { moduleBytes: cpuLoopWasm(), argv: ['attached', FOREVER], attached: true } });
    const detached = await ex.spawn({ spec: { moduleBytes: cpuLoopWasm(), argv: ['detached', FOREVER] } });
    const child = await ex.spawn({ spec: { moduleBytes: cpuLoopWasm(), argv: ['child', FOREVER], parent: attached.process } });
    c.close();
    const ended = await t.admin.process({ pid: attached.pid }).process.wait();
    assert.equal(said(ended.status.reason), 'killed');
    assert.equal(said((await t.admin.process({ pid: child.pid }).process.wait()).status.reason), 'killed');
    const state = await psState(t.admin, detached.pid); // (queued while the pool grows a worker for it)
    assert.ok(state === 'running' || state === 'queued', `the detached process is ${state}`);
    await t.admin.process({ pid: detached.pid }).process.kill();
  });

  test('a client gone in the middle of a read: an attached reader is killed, a detached one gets EIO', async () => {
    const c = await t.connect();
    const ex = c.node.executor().executor;
    const one = source(() => new Promise(() => {}));
    const two = source(() => new Promise(() => {}));
    const attached = await ex.spawn({ spec: { moduleBytes: count, stdinSource: handOver(one), attached: true } });
    const detached = await ex.spawn({ spec: { moduleBytes: count, stdinSource: handOver(two), stdout: capture } });
    // Both are blocked in fd_read on a read the client will never answer.
    await eventually('both guests reading', () => one.asked.length > 0 && two.asked.length > 0);
    c.close();
    const a = await t.admin.process({ pid: attached.pid }).process.wait();
    assert.equal(said(a.status.reason), 'killed');
    const d = await t.admin.process({ pid: detached.pid }).process.wait();
    assert.deepEqual([d.status.code, text(d.status.stdout)], [2, '0 errno 29\n']);
  });
});
