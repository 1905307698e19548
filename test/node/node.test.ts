// The ww node: its unix socket (permissions, one node per path, stale files), the client helper,
// TCP when asked, persistence in the data dir, load, and bad or vanishing clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputMode, ProcessState } from '../../src/capnp-gen/ww.rpc.js';
import { connectNode, defaultSocketPath, startNode } from '../../src/node/index.js';
import { assemble, sleepThenDone } from '../../fixtures/wat.js';
import { FOREVER, said, capture, cpuLoopWasm, eventually, helloWasm, startTestNode, text } from '../executor/helpers.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ww-node-'));
}

test('the unix socket has mode 0600, in a directory created with mode 0700', async () => {
  const t = await startTestNode();
  try {
    assert.equal(statSync(t.socketPath).mode & 0o777, 0o600);
    assert.equal(statSync(join(t.dir, 'run')).mode & 0o777, 0o700);
  } finally {
    await t.close();
  }
});

test('a second node on the same socket path refuses with a clear error; the first keeps serving', async () => {
  const t = await startTestNode();
  try {
    await assert.rejects(startNode({ socketPath: t.socketPath, poolSize: 1 }), /a ww node is already listening on .*node\.sock/);
    const { process } = await t.spawn({ moduleBytes: helloWasm() });
    assert.equal(said((await process.wait()).status.reason), 'normal');
  } finally {
    await t.close();
  }
});

test('a stale socket file (no node behind it) is removed and the node starts', async () => {
  const dir = tempDir();
  const socketPath = join(dir, 'node.sock');
  // A socket file nobody listens on: a process that listened on it was killed (SIGKILL: no cleanup).
  const script = `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`;
  spawnSync(process.execPath, ['-e', script]);
  assert.ok(existsSync(socketPath));
  const node = await startNode({ socketPath, poolSize: 1 });
  try {
    const c = await connectNode(socketPath);
    assert.ok((await c.node.identity()).info.peerId.length > 0);
    c.close();
  } finally {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a socket path that holds something other than a socket is refused, and left alone', async () => {
  const dir = tempDir();
  const path = join(dir, 'node.sock');
  writeFileSync(path, 'precious');
  try {
    await assert.rejects(startNode({ socketPath: path, poolSize: 1 }), /exists and is not a socket/);
    assert.ok(existsSync(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a socket path too long for a unix socket is refused with the limit named', async () => {
  const path = join(tmpdir(), 'x'.repeat(120), 'node.sock');
  await assert.rejects(startNode({ socketPath: path, poolSize: 1 }), /too long \(\d+ bytes; unix sockets allow 107\)/);
  assert.equal(existsSync(join(tmpdir(), 'x'.repeat(120))), false, 'nothing was created');
});

test('connectNode with no node listening fails: no ww node is listening on <path>: start one with `ww start`', async () => {
  const dir = tempDir();
  const path = join(dir, 'nothing.sock');
  try {
    await assert.rejects(connectNode(path), (e: Error) => {
      assert.equal(e.message, `no ww node is listening on ${path}: start one with \`ww start\``);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('defaultSocketPath is $XDG_RUNTIME_DIR/ww/node.sock, else ~/.ww/node.sock', () => {
  const saved = process.env.XDG_RUNTIME_DIR;
  try {
    process.env.XDG_RUNTIME_DIR = '/run/user/4242';
    assert.equal(defaultSocketPath(), '/run/user/4242/ww/node.sock');
    delete process.env.XDG_RUNTIME_DIR;
    assert.equal(defaultSocketPath(), join(homedir(), '.ww', 'node.sock'));
  } finally {
    if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = saved;
  }
});

test('with a data dir, the peer ID and the module cache survive a restart', async () => {
  const dataDir = tempDir();
  try {
    const first = await startTestNode({ dataDir });
    const cid = (await first.executor.modules().cache.put({ bytes: helloWasm() })).cid;
    const peerId = first.node.peerId;
    await first.close();
    const second = await startTestNode({ dataDir });
    try {
      assert.equal(second.node.peerId, peerId);
      assert.equal((await second.client.node.identity()).info.peerId, peerId);
      assert.equal((await second.executor.modules().cache.has({ cid })).present, true);
      const { process } = await second.spawn({ moduleCid: cid, stdout: capture });
      assert.match(text((await process.wait()).status.stdout), /hello from C on ww/);
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('1,000 concurrent processes on one node all run to their end with their own output', async () => {
  const t = await startTestNode();
  try {
    const cid = (await t.executor.modules().cache.put({ bytes: helloWasm() })).cid;
    const runs = Array.from({ length: 1000 }, (_, i) => {
      const spawned = t.executor.spawn({ spec: { moduleCid: cid, argv: ['hello', String(i)], stdout: capture } });
      return Promise.all([spawned, spawned.process.wait()]);
    });
    const results = await Promise.all(runs);
    const pids = new Set(results.map(([s]) => s.pid));
    assert.equal(pids.size, 1000);
    results.forEach(([, w], i) => {
      assert.equal(said(w.status.reason), 'normal');
      assert.equal(text(w.status.stdout), `hello from C on ww\nargv[0] = hello\nargv[1] = ${i}\n`);
    });
    const { processes } = await t.executor.ps();
    assert.ok([...pids].every((pid) => processes.some((p) => p.pid === pid && p.state === ProcessState.exited)));
    assert.equal(t.node.executor.table.liveCount, 0);
  } finally {
    await t.close();
  }
});

test('a node by default hosts a new module\'s 40 waiting processes at once: past its 16 dedicated workers once the module is suspendable', async () => {
  const t = await startTestNode({ workers: undefined, maxWorkers: 16 }); // (the node's default workers)
  try {
    const cid = (await t.executor.modules().cache.put({ bytes: await assemble(sleepThenDone(120_000)) })).cid;
    const spawned = await Promise.all(Array.from({ length: 40 }, () => t.executor.spawn({ spec: { moduleCid: cid, argv: ['sleeper'] } })));
    // The first ones run at once on dedicated workers; the rest move to the shared ones when ready.
    await eventually('all 40 running', async () => (await t.executor.ps()).processes.filter((p) => p.state === ProcessState.running).length === 40, 120_000);
    assert.equal(t.node.executor.runtime.info().shared?.workers, 2);
    for (const s of spawned) await s.process.kill();
  } finally {
    await t.close();
  }
});

test('a client that disconnects mid-wait leaves the node and its processes unaffected', async () => {
  const t = await startTestNode();
  try {
    const leaving = await t.connect();
    const ex = leaving.node.executor().executor;
    const out: Uint8Array[] = [];
    const { pid, process } = await ex.spawn({
      spec: {
        moduleBytes: cpuLoopWasm(),
        argv: ['cpu-loop', '40000000'],
        // its output goes to a sink on the client that leaves
        stdout: { mode: OutputMode.sink, sink: { write: ({ data }: { data: Uint8Array }) => void out.push(data) } },
      },
    });
    const abandoned = process.wait().then(
      () => 'answered',
      () => 'disconnected',
    );
    leaving.close();
    assert.equal(await abandoned, 'disconnected');
    const st = (await t.admin.process({ pid }).process.wait()).status;
    assert.equal(said(st.reason), 'normal', 'the process ran to its end');
    const again = await t.spawn({ moduleBytes: helloWasm() });
    assert.equal(said((await again.process.wait()).status.reason), 'normal', 'the node still serves');
  } finally {
    await t.close();
  }
});

test('a hostile client sending garbage bytes is cut off; the node keeps serving others', async () => {
  const t = await startTestNode();
  try {
    const running = await t.spawn({ moduleBytes: cpuLoopWasm(), argv: ['cpu-loop', FOREVER] });
    // Bytes that are not Cap'n Proto framing at all: the node closes the connection.
    for (const garbage of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.alloc(64 * 1024, 0xff)]) {
      const sock = net.connect(t.socketPath);
      let closed = false;
      sock.on('error', () => {});
      sock.on('data', () => {}); // read what the node says (an Abort, at most), so the end arrives
      sock.on('close', () => (closed = true));
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write(garbage);
      await eventually('the node closes the hostile connection', () => closed);
    }
    // Well-framed messages full of noise, and noise after them: whatever the node answers, it survives.
    let seed = 12345;
    const noise = Buffer.alloc(4096);
    for (let i = 0; i < noise.length; i++) noise[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 2, 0, 0, 0]), noise.subarray(0, 16)]);
    const sock = net.connect(t.socketPath);
    sock.on('error', () => {});
    sock.on('data', () => {});
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(framed);
    sock.write(noise);
    const { process } = await t.spawn({ moduleBytes: helloWasm(), stdout: capture });
    assert.match(text((await process.wait()).status.stdout), /hello/);
    assert.equal((await running.process.info()).info.state, ProcessState.running);
    await running.process.kill();
    sock.destroy();
  } finally {
    await t.close();
  }
});

test('node shutdown with processes running: they end killed, pending waits and monitors are answered, the socket goes', async () => {
  const lines: string[] = [];
  const t = await startTestNode({ log: (l) => lines.push(l) });
  const a = await t.spawn({ moduleBytes: cpuLoopWasm(), argv: ['cpu-loop', FOREVER] });
  const b = await t.spawn({ moduleBytes: cpuLoopWasm(), argv: ['cpu-loop', FOREVER], parent: a.process });
  const waiting = a.process.wait();
  const { monitor } = await b.process.monitor();
  const monitored = monitor.reason();
  await t.executor.ps(); // a round trip on the same connection: the node has both calls before it stops
  await t.node.close();
  assert.equal(said((await waiting).status.reason), 'killed');
  assert.equal(said((await monitored).reason), 'killed');
  assert.equal(existsSync(t.socketPath), false);
  for (const pid of [a.pid, b.pid]) {
    assert.ok(lines.some((l) => l.startsWith(`start pid=${pid} `)), `start of ${pid} logged`);
    assert.ok(lines.some((l) => l.startsWith(`end pid=${pid} reason="killed" code=137 `)), `end of ${pid} logged`);
  }
  await assert.rejects(connectNode(t.socketPath), /no ww node is listening/);
  await t.close(); // idempotent after node.close()
});
