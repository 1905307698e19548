// `ww run --listen`: the real CLI in a subprocess serving real TCP clients with the Go echo example.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { examplePath, repoRoot, runWw, wwBin } from '../cli/helpers.js';
import { startNodeProcess } from '../cli-node/helpers.js';

const echo = examplePath('echo-go', 'echo.wasm');

/** Sends `text`, half-closes, resolves with what came back before the server closed. */
function echoOnce(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.end(text);
  });
}

/** Waits for `ww: listening on 127.0.0.1:PORT (fd 3)` on the child's stderr; stderr() is all of it so far. */
function listeningPort(child: ChildProcess): Promise<{ port: number; stderr: () => string }> {
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /^ww: listening on 127\.0\.0\.1:(\d+) \(fd 3\)$/m.exec(stderr);
      if (m) resolve({ port: Number(m[1]), stderr: () => stderr });
    });
    child.on('close', () => reject(new Error(`ww ended before listening: ${stderr}`)));
  });
}

test('ww run --listen 127.0.0.1:0 serves TCP clients with the Go echo server; stdout stays empty; the port is on stderr', async () => {
  const child = spawn(process.execPath, [wwBin, 'run', '--listen', '127.0.0.1:0', echo, '--', '3'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const { port, stderr } = await listeningPort(child);
  const answers = await Promise.all(['one', 'two', 'three'].map((t) => echoOnce(port, t)));
  assert.deepEqual(answers, ['one', 'two', 'three']);
  const [code] = (await once(child, 'close')) as [number];
  assert.equal(code, 0, stderr());
  assert.equal(stdout, '');
  assert.match(stderr(), /echo: served 3 connections, exiting/);
});

test('ww run --tcplisten (wasmtime\'s spelling) works too; a --dir pre-opened after the socket (fd 4) does not disturb Go\'s pre-open scan', async () => {
  const child = spawn(process.execPath, [wwBin, 'run', '--tcplisten=127.0.0.1:0', '--dir', 'examples', echo, '1'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const port = await new Promise<number>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+) \(fd 3\)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
  });
  assert.equal(await echoOnce(port, 'ping'), 'ping');
  const [code] = (await once(child, 'close')) as [number];
  assert.equal(code, 0, stderr);
});

test('a bad --listen address or a port in use is a one-line error with exit 2', async () => {
  for (const [arg, message] of [
    ['localhost', /--listen: listen address 'localhost' must be HOST:PORT/],
    ['127.0.0.1:70000', /port 70000 is out of range/],
    ['192.0.2.1:8080', /192\.0\.2\.1 is not an address of this machine/],
  ] as const) {
    const r = await runWw(['run', '--listen', arg, echo]);
    assert.equal(r.status, 2, arg);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const busy = createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const port = (busy.address() as { port: number }).port;
  try {
    const r = await runWw(['run', '--listen', `127.0.0.1:${port}`, echo]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `ww: --listen: cannot listen on 127.0.0.1:${port}: the address is already in use; pick another port (0 picks a free one) or stop what listens there\n`);
  } finally {
    busy.close();
  }
});

test('ww run --listen on a node: the node opens the socket, reports a port 0 pick, and refuses a busy port with exit 2', async () => {
  const node = await startNodeProcess();
  try {
    const child = spawn(process.execPath, [wwBin, 'run', '--node', '--socket', node.socketPath, '--listen', '127.0.0.1:0', echo, '--', '2'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { port, stderr } = await listeningPort(child);
    assert.deepEqual(await Promise.all(['on', 'node'].map((t) => echoOnce(port, t))), ['on', 'node']);
    const [code] = (await once(child, 'close')) as [number];
    assert.equal(code, 0, stderr());
    await node.waitForLine(/start pid=\d+ .*echo\.wasm/);

    const busy = createServer().listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const taken = (busy.address() as { port: number }).port;
    try {
      const r = await runWw(['run', '--node', '--socket', node.socketPath, '--listen', `127.0.0.1:${taken}`, echo]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^ww: --listen: cannot listen on 127\\.0\\.0\\.1:${taken}: the address is already in use`));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    } finally {
      busy.close();
    }
  } finally {
    await node.dispose();
  }
});
