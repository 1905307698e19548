// Pre-opened sockets through the runtime: real guests (the Go echo example, a C probe) on listeners
// opened by the main thread, answering real TCP clients.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Runtime, type LoadedModule, type WasmProcess } from '../../src/wasm/index.js';
import { ListenError } from '../../src/wasm/sockets/index.js';
import { repoRoot } from '../../fixtures/wat.js';

let rt: Runtime;
let echo: LoadedModule;
let probe: LoadedModule;
before(async () => {
  // runtime-shared.test.ts runs these same tests on shared workers (a waiting guest suspended).
  rt = await Runtime.create({ poolSize: 2, workers: process.env.WW_TEST_WORKERS === 'shared' ? 'shared' : 'dedicated' });
  echo = await rt.load(readFileSync(join(repoRoot(), 'examples', 'echo-go', 'echo.wasm')));
  probe = await rt.load(readFileSync(join(repoRoot(), 'test', 'sockets', 'guests', 'sockprobe.wasm')));
});
after(() => rt.close());

/** Collects a process's output and lets a test wait for a line. */
function lineWatcher() {
  let text = '';
  let waiters: (() => void)[] = [];
  return {
    sink: (chunk: Uint8Array) => {
      text += Buffer.from(chunk).toString();
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    get text() {
      return text;
    },
    async line(pattern: RegExp): Promise<string> {
      for (;;) {
        const m = text.split('\n').find((l) => pattern.test(l));
        if (m !== undefined) return m;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

async function connectTo(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

/** Sends `data` (in pieces), half-closes, and resolves with everything received until the server closes. */
function exchange(s: Socket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', reject);
    s.on('end', () => resolve(Buffer.concat(got)));
    for (let at = 0; at < data.length; at += 7000) s.write(data.subarray(at, at + 7000));
    s.end();
  });
}

async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function spawnEcho(args: string[]): Promise<{ proc: WasmProcess; port: number; stderr: ReturnType<typeof lineWatcher> }> {
  const listeners = await rt.listen([{ host: '127.0.0.1', port: 0 }]);
  const stderr = lineWatcher();
  const proc = rt.spawn(echo, { args: ['echo.wasm', ...args], listen: listeners, stderr: stderr.sink });
  return { proc, port: listeners[0]!.port, stderr };
}

test('the Go echo server answers 50 concurrent clients byte for byte, then exits 0 and its port closes', async () => {
  const n = 50;
  const { proc, port, stderr } = await spawnEcho([String(n)]);
  const payloads = Array.from({ length: n }, (_, i) => randomBytes(i % 10 === 0 ? 300_000 : 1 + i * 37));
  const sockets = await Promise.all(payloads.map(() => connectTo(port)));
  const echoed = await Promise.all(sockets.map((s, i) => exchange(s, payloads[i]!)));
  echoed.forEach((e, i) => assert.ok(e.equals(payloads[i]!), `client ${i}: ${e.length} of ${payloads[i]!.length} bytes back`));
  const status = await proc.wait();
  assert.equal(status.code, 0, stderr.text);
  assert.match(stderr.text, /served 50 connections, exiting/);
  assert.ok(await refused(port), 'the listener is closed once the process has ended');
});

test('a client that disconnects mid-stream ends only its own connection; the server goes on serving', async () => {
  const { proc, port, stderr } = await spawnEcho(['2']);
  const quitter = await connectTo(port);
  quitter.on('error', () => {});
  quitter.write(randomBytes(1_000_000));
  await new Promise((r) => quitter.once('data', r)); // the echo has begun
  quitter.resetAndDestroy();
  await stderr.line(/connection 1: /);
  const stayer = await connectTo(port);
  const data = randomBytes(50_000);
  assert.ok((await exchange(stayer, data)).equals(data));
  const status = await proc.wait();
  assert.equal(status.code, 0, stderr.text);
  assert.match(stderr.text, /connection 2: 50000 bytes echoed, closed by client/);
});

test('C probe: EAGAIN, poll with timeouts on the listener and a connection, peek, recv, send, shutdown, hangup; a directory after the socket is found', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ww-sock-'));
  writeFileSync(join(dir, 'note.txt'), 'x');
  try {
    const listeners = await rt.listen([{ host: '127.0.0.1', port: 0 }]);
    const out = lineWatcher();
    const proc = rt.spawn(probe, { args: ['sockprobe', 'script', '/data/note.txt'], listen: listeners, preopens: [{ hostPath: dir, guestPath: '/data' }], stdout: out.sink, stderr: out.sink });
    await out.line(/^connect now/);
    const c = await connectTo(listeners[0]!.port);
    const received: Buffer[] = [];
    c.on('data', (d: Buffer) => received.push(d));
    const ended = new Promise((r) => c.once('end', r)); // the guest's shutdown(WR); the client then ends too
    await out.line(/^send hello/);
    c.write('hello');
    await out.line(/^close your side/);
    await ended;
    const status = await proc.wait();
    assert.equal(status.code, 0, out.text);
    assert.equal(Buffer.concat(received).toString(), 'HELLO+fd_write');
    assert.deepEqual(out.text.trimEnd().split('\n'), [
      'listener filetype=6 nonblock=1 accept-right=1',
      'prestat 3: errno 0 tag 1',
      'open /data/note.txt: ok',
      'accept with none pending: errno 6',
      'poll listener 20ms: clock',
      'connect now',
      'poll listener: fd',
      'accepted fd 5 filetype=6 nonblock=0 read-right=1 shutdown-right=1',
      'poll conn read 20ms: clock',
      'poll conn write 20ms: fd',
      'send hello',
      'peek: hello',
      'recv: hello',
      'non-blocking recv with nothing there: errno 6',
      'shutdown write: errno 0',
      'close your side',
      'poll conn read: fd hangup=1, then recv: errno 0, 0 bytes',
      'close: errno 0',
      'recv after close: errno 8',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a send after the client is gone fails with EPIPE', async () => {
  const listeners = await rt.listen([{ host: '127.0.0.1', port: 0 }]);
  const out = lineWatcher();
  const proc = rt.spawn(probe, { args: ['sockprobe', 'epipe'], listen: listeners, stdout: out.sink });
  const c = await connectTo(listeners[0]!.port);
  c.on('error', () => {});
  await out.line(/^accepted/);
  c.end('bye');
  await out.line(/^end of stream/);
  c.destroy(); // gone for good: what the guest sends now is refused
  const status = await proc.wait();
  assert.equal(status.code, 0, out.text);
  assert.match(out.text, /end of stream after 3 bytes: errno 0/);
  assert.match(out.text, /send failed: errno 64\n/);
});

test('kill while blocked in accept: the process ends killed and its listener and connections close', async () => {
  const listeners = await rt.listen([{ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: 0 }]);
  const out = lineWatcher();
  const proc = rt.spawn(probe, { args: ['sockprobe', 'block-accept'], listen: listeners, stdout: out.sink });
  await out.line(/^blocking in accept/);
  // A connection to the second listener (fd 4) waits, never accepted.
  const waiting = await connectTo(listeners[1]!.port);
  const closed = new Promise((r) => waiting.on('close', r));
  waiting.on('error', () => {});
  proc.kill();
  const status = await proc.wait();
  assert.equal(status.reason.kind, 'killed');
  await closed;
  assert.ok(await refused(listeners[0]!.port));
  assert.ok(await refused(listeners[1]!.port));
});

test('a port in use is a ListenError before anything starts; a listener serves one process only; a bad listen option takes nothing', async () => {
  const [first] = await rt.listen([{ host: '127.0.0.1', port: 0 }]);
  await assert.rejects(rt.listen([{ host: '127.0.0.1', port: first!.port }]), (err: unknown) => err instanceof ListenError && err.code === 'EADDRINUSE');
  const proc = rt.spawn(echo, { args: ['echo.wasm', '1'], listen: [first!] });
  assert.throws(() => rt.spawn(echo, { args: ['echo.wasm', '1'], listen: [first!] }), /already given to a process/);
  proc.kill();
  await proc.wait();
  const [second] = await rt.listen([{ host: '127.0.0.1', port: 0 }]);
  assert.throws(() => rt.spawn(echo, { args: ['echo.wasm'], listen: [second!, second!] }), /the same listener is given twice/);
  assert.throws(() => rt.spawn(echo, { args: ['echo.wasm'], listen: [second!], hostCalls: { sock: () => 0 } }), /'sock' host calls answer a process's pre-opened sockets/);
  assert.equal(second!.taken, false, 'a spawn that throws takes nothing');
  second!.close();
  assert.throws(() => rt.spawn(echo, { args: ['echo.wasm'], listen: [second!] }), /is closed; open a new one/);
});

test('pause takes effect while the guest waits on its sockets; after resume it serves the client that came meanwhile', async () => {
  const { proc, port, stderr } = await spawnEcho(['1']);
  await stderr.line(/listening on fd 3/);
  await proc.pause();
  assert.equal(proc.state, 'paused');
  const c = await connectTo(port); // queued on the main thread while the guest is frozen
  const answer = exchange(c, Buffer.from('while you were out'));
  proc.resume();
  assert.equal((await answer).toString(), 'while you were out');
  assert.equal((await proc.wait()).code, 0, stderr.text);
});

test('a client that sends 3 MB before it reads anything gets all of it back (backpressure both ways, no loss)', async () => {
  const { proc, port, stderr } = await spawnEcho(['1']);
  const c = await connectTo(port);
  c.pause(); // not reading: the guest's sends fill up and it must stop reading too
  const data = randomBytes(3 * 1024 * 1024);
  const got: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    c.on('data', (d: Buffer) => got.push(d));
    c.on('end', resolve);
    c.on('error', reject);
  });
  c.end(data);
  await new Promise((r) => setTimeout(r, 100)); // let every buffer on the way fill (correctness does not depend on it)
  c.resume();
  await ended;
  assert.ok(Buffer.concat(got).equals(data), `${Buffer.concat(got).length} of ${data.length} bytes back`);
  assert.equal((await proc.wait()).code, 0, stderr.text);
});

test('closing the runtime closes the listeners it opened that no process took', async () => {
  const own = await Runtime.create({ poolSize: 1 });
  const [idle] = await own.listen([{ host: '127.0.0.1', port: 0 }]);
  await own.close();
  assert.ok(idle!.isClosed);
  assert.ok(await refused(idle!.port));
  await assert.rejects(own.listen([{ host: '127.0.0.1', port: 0 }]), /the runtime is closed/);
});
