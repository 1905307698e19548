// The main-thread socket owner alone (no guest): the answers a process's 'sock.*' host calls get,
// against real TCP clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { ListenError, openListeners, parseListenAddress, ProcessSockets } from '../../src/wasm/sockets/index.js';
import { HIGH_WATER, READABLE, RECV_CHUNK, WRITABLE, type SockCalls } from '../../src/wasm/sockets/protocol.js';
import { handlerOf } from '../../src/wasm/host-call.js';

const AGAIN = 6;
const BADF = 8;
const PIPE = 64;

async function errnoOf(p: unknown): Promise<number> {
  try {
    await p;
  } catch (err) {
    return (err as { errno: number }).errno;
  }
  throw new Error('the call succeeded');
}

async function client(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  return s;
}

async function setup() {
  const [listener] = await openListeners([{ host: '127.0.0.1', port: 0 }]);
  const sockets = new ProcessSockets([listener!]);
  const ready = new Int32Array(sockets.init().ready);
  return { listener: listener!, sockets, ready, call: (op: string, ...args: unknown[]) => handlerOf<SockCalls>('sock', sockets.calls)(`sock.${op}`, args) };
}

test('port 0 binds a free port; the same address twice is a ListenError that says what to do', async () => {
  const [a] = await openListeners([{ host: '127.0.0.1', port: 0 }]);
  assert.ok(a!.port > 0);
  assert.equal(a!.address, `127.0.0.1:${a!.port}`);
  await assert.rejects(openListeners([{ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: a!.port }]), (err: unknown) => {
    assert.ok(err instanceof ListenError);
    assert.equal(err.code, 'EADDRINUSE');
    assert.match(err.message, /already in use; pick another port/);
    return true;
  });
  await assert.rejects(openListeners([{ host: '192.0.2.1', port: 0 }]), /not an address of this machine/);
  a!.close();
  assert.deepEqual(parseListenAddress('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseListenAddress('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  for (const bad of ['8080', ':8080', '127.0.0.1:', '127.0.0.1:99999', 'host:port']) assert.throws(() => parseListenAddress(bad), ListenError, bad);
});

test('accept: EAGAIN with nothing pending, the readiness word follows the queue, a blocking accept waits', async () => {
  const { listener, sockets, ready, call } = await setup();
  assert.equal(await errnoOf(call('accept', 0, false)), AGAIN);
  assert.equal(Atomics.load(ready, 0) & READABLE, 0);
  const waiting = call('accept', 0, true) as Promise<number>;
  const c = await client(listener.port);
  const id = await waiting;
  assert.equal(id, 1);
  c.write('hi');
  // A poll that a connection's data woke hands the data over with its answer.
  const woke = (await call('poll', [id], [], -1)) as [number, Uint8Array][];
  assert.deepEqual(woke.map(([i, d]) => [i, Buffer.from(d).toString()]), [[id, 'hi']]);
  assert.equal(Atomics.load(ready, id) & READABLE, 0);
  assert.equal(await errnoOf(call('recv', id, 100, false)), AGAIN);
  c.write('again');
  while (!(Atomics.load(ready, id) & READABLE)) await new Promise((r) => setTimeout(r, 1));
  assert.equal(Buffer.from((await call('recv', id, 100, false)) as Uint8Array).toString(), 'again');
  assert.equal(await call('send', id, new TextEncoder().encode('yo'), false), 2);
  const [echo] = (await once(c, 'data')) as [Buffer];
  assert.equal(echo.toString(), 'yo');
  c.end();
  assert.equal(((await call('recv', id, 100, true)) as Uint8Array).length, 0, 'end of stream');
  call('close', id);
  assert.equal(await errnoOf(call('recv', id, 100, false)), BADF);
  sockets.closeAll();
});

test('poll returns at its timeout when nothing is ready, at once when something is', async () => {
  const { listener, sockets, call } = await setup();
  await call('poll', [0], [], 10); // times out: nothing connects
  const c = await client(listener.port);
  await call('poll', [0], [], -1);
  const id = (await call('accept', 0, false)) as number;
  await call('poll', [], [id], -1); // writable at once
  c.destroy();
  sockets.closeAll();
});

test('backpressure: a guest that does not read holds at most HIGH_WATER + one read on the main thread; reading resumes the flow', async () => {
  const { listener, sockets, call } = await setup();
  const c = await client(listener.port);
  const id = (await call('accept', 0, true)) as number;
  const total = 8 * HIGH_WATER;
  c.write(Buffer.alloc(total, 7));
  // Let the data flow until the owner pauses the socket.
  for (let i = 0; i < 200 && !(sockets as unknown as { entries: { conn: { socket: Socket } }[] }).entries[id]!.conn.socket.isPaused(); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const conn = (sockets as unknown as { entries: { conn: { buffered: number; socket: Socket } }[] }).entries[id]!.conn;
  assert.ok(conn.socket.isPaused(), 'the socket is paused');
  assert.ok(conn.buffered >= HIGH_WATER && conn.buffered < HIGH_WATER + 1024 * 1024, `buffered ${conn.buffered}`);
  let got = 0;
  while (got < total) {
    const data = (await call('recv', id, RECV_CHUNK, true)) as Uint8Array;
    assert.ok(data.length > 0 && data.length <= RECV_CHUNK);
    got += data.length;
  }
  assert.equal(got, total);
  c.destroy();
  sockets.closeAll();
});

test('send: EAGAIN once the peer stops reading and the buffer is full; EPIPE after the peer is gone', async () => {
  const { listener, sockets, ready, call } = await setup();
  const c = await client(listener.port);
  c.pause();
  const id = (await call('accept', 0, true)) as number;
  const chunk = new Uint8Array(64 * 1024);
  let errno = 0;
  for (let i = 0; i < 2000 && errno === 0; i++) {
    try {
      await call('send', id, chunk, false);
    } catch (err) {
      errno = (err as { errno: number }).errno;
    }
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(errno, AGAIN);
  assert.equal(Atomics.load(ready, id) & WRITABLE, 0);
  c.resume();
  await call('poll', [], [id], -1); // drains
  assert.ok(Atomics.load(ready, id) & WRITABLE);
  c.resetAndDestroy();
  await call('poll', [id], [], -1); // the reset is seen as readable (an error to report)
  assert.equal(await errnoOf(call('send', id, chunk, false)), PIPE);
  sockets.closeAll();
});

test('closeAll stops listening and resets accepted and pending connections', async () => {
  const { listener, sockets, call } = await setup();
  const accepted = await client(listener.port);
  await call('accept', 0, true);
  const pending = await client(listener.port);
  for (const c of [accepted, pending]) c.on('error', () => {}); // reset
  await call('poll', [0], [], -1);
  sockets.closeAll();
  // (events.once would reject on the reset's 'error')
  await Promise.all([accepted, pending].map((c) => new Promise((resolve) => c.on('close', resolve))));
  const refused = connect({ host: '127.0.0.1', port: listener.port });
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNREFUSED');
});
