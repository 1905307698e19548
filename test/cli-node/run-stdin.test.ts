// `ww run` on a node, as a subprocess against a real `ww start`: stdin streamed to the guest as it reads
// (data that comes later, an endless pipe to a guest that never reads, 100 MB through a counting guest),
// and the guest's lifetime: ended with its client (SIGKILL, SIGHUP), while a --detach'ed one outlives it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { guest } from '../../fixtures/wat.js';
import { repoRoot, wwBin } from '../cli/helpers.js';
import { FOREVER, cpuLoop, eventually, hello, lines, oneErrorLine, psJson, rpcSession, runWw, startNodeProcess, tempDir, type NodeUnderTest, type RpcSession } from './helpers.js';

let node: NodeUnderTest;
let rpc: RpcSession;
const fixtures = tempDir('run-stdin');
let cat = '';
let count = '';

before(async () => {
  cat = join(fixtures.path, 'cat.wasm');
  writeFileSync(cat, await guest('cat'));
  count = join(fixtures.path, 'count.wasm');
  writeFileSync(count, await guest('count-stdin'));
  node = await startNodeProcess();
  rpc = await rpcSession(node.socketPath);
});

after(async () => {
  rpc?.close();
  await node?.dispose();
  fixtures.cleanup();
});

interface WwChild {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

/** `ww run --socket <node> ARGS` with its stdin a pipe the test writes (runWw closes it at once). */
function startWw(args: string[]): WwChild {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.WW_DEBUG;
  const child = spawn(process.execPath, [wwBin, 'run', '--socket', node.socketPath, ...args], { cwd: repoRoot, env, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdin.on('error', () => {}); // ww may end before taking all we write
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000); // a hung ww fails the test, not the run
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (status, signal) => {
      clearTimeout(guard);
      resolve({ status, signal });
    }),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** The pid of the live process on the node whose argv is `argv`, once there is one. */
function livePid(argv: string[]): Promise<number> {
  return eventually(`a running ${argv.join(' ')}`, async () => (await rpc.ps()).find((p) => p.state === 0 && JSON.stringify(p.argv) === JSON.stringify(argv))?.pid);
}

describe('ww run on a node streams stdin to the guest', () => {
  test('input that comes later reaches the reading guest as it comes (nothing waits for the end)', async () => {
    const ww = startWw([cat, 'later']);
    ww.child.stdin.write('first\n');
    await eventually('the first line back', async () => (ww.stdout() === 'first\n' ? true : undefined));
    ww.child.stdin.end('second\n');
    const { status } = await ww.exited;
    assert.equal(status, 0, ww.stderr());
    assert.equal(ww.stdout(), 'first\nsecond\n');
  });

  test('an endless stdin to a guest that never reads: ww ends at once and reads none of it', async () => {
    const ww = startWw([hello, 'endless']);
    const chunk = Buffer.alloc(64 * 1024, 'y\n');
    let accepted = 0;
    let ended = false;
    void ww.exited.then(() => (ended = true));
    // Like `yes`: write until ww is gone, one chunk at a time; count what the pipe took.
    while (!ended) {
      const ok = await new Promise<boolean>((resolve) => ww.child.stdin.write(chunk, (err) => resolve(!err)));
      if (!ok) break;
      accepted += chunk.length;
      if (accepted > 256 * 1024 * 1024) break; // ww reads it all: fail below rather than run forever
    }
    ww.child.stdin.destroy();
    const { status } = await ww.exited;
    assert.equal(status, 0, ww.stderr());
    assert.equal(lines(ww.stdout())[0], 'hello from C on ww');
    // What the pipe between us holds (socket buffers: a few hundred KiB), never more: ww read nothing.
    assert.ok(accepted <= 2 * 1024 * 1024, `the pipe took ${accepted} bytes`);
  });

  test('100 MB through a guest that counts the bytes it reads', async () => {
    const ww = startWw([count]);
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 100; i++) {
      if (!ww.child.stdin.write(chunk)) await new Promise((r) => ww.child.stdin.once('drain', r)); // backpressure
    }
    ww.child.stdin.end();
    const { status } = await ww.exited;
    assert.equal(status, 0, ww.stderr());
    assert.equal(ww.stdout(), `${100 * 1024 * 1024}\n`);
  });

  test('an empty stdin (/dev/null) is end of input at once', async () => {
    const r = await runWw(['run', '--socket', node.socketPath, count]);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '0\n', '']);
  });
});

describe("an attached guest ends with its ww run; a detached one does not", () => {
  test('ww run killed with SIGKILL while its guest waits for input: the node kills the guest', async () => {
    const detached = await runWw(['run', '--detach', '--socket', node.socketPath, cpuLoop, '--', FOREVER]);
    assert.equal(detached.status, 0, detached.stderr);
    const detachedPid = Number(detached.stdout.trim());
    const ww = startWw([cat, 'sigkill']); // its stdin stays open and silent: the guest blocks reading it
    const pid = await livePid(['cat.wasm', 'sigkill']);
    ww.child.kill('SIGKILL');
    assert.equal((await ww.exited).signal, 'SIGKILL');
    await node.waitForLine(new RegExp(`end pid=${pid} reason="killed"`));
    // The --detach'ed guest's client ended long ago; it runs on until killed.
    const listed = psJson(await runWw(['ps', '--json', '--socket', node.socketPath])).find((p) => p.pid === detachedPid);
    assert.ok(listed?.state === 'running' || listed?.state === 'queued', `the detached process is ${listed?.state}`);
    assert.equal((await runWw(['kill', String(detachedPid), '--socket', node.socketPath])).status, 0);
  });

  test('SIGHUP to ww run kills the guest on the node: exit 129 and one line', async () => {
    const ww = startWw([cpuLoop, FOREVER, 'sighup']);
    const pid = await livePid(['cpu-loop.wasm', FOREVER, 'sighup']);
    ww.child.kill('SIGHUP');
    const { status } = await ww.exited;
    assert.equal(status, 129, ww.stderr());
    assert.equal(oneErrorLine(ww.stderr()), 'ww: killed the guest on SIGHUP');
    await node.waitForLine(new RegExp(`end pid=${pid} reason="killed"`));
  });
});
