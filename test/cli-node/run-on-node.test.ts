// runOnNode (what `ww run` does when a node is running), called directly against a real `ww start`:
// streamed output, exit statuses and reasons, a signal killing the guest, --detach, and no node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { NodeMissingError, nodeIsListening, runOnNode, type OutputWriter, type RunOnNodeOptions } from '../../cli/lib/run-on-node.js';
import { said } from '../executor/helpers.js';
import { FOREVER, assembleFixture, cpuLoop, examplePath, hello, lines, listedOnceTaken, rpcSession, runWw, startNodeProcess, tempDir, type NodeUnderTest } from './helpers.js';

let node: NodeUnderTest;
const fixtures = tempDir('run-fixtures');
const wasm: Record<string, Uint8Array> = {};

before(async () => {
  for (const name of ['exit7', 'trap']) wasm[name] = readFileSync(await assembleFixture(name, fixtures.path));
  wasm.hello = readFileSync(hello);
  wasm.cpuLoop = readFileSync(cpuLoop);
  wasm.helloAs = readFileSync(examplePath('hello-as', 'hello.wasm'));
  wasm.wordcount = readFileSync(examplePath('wordcount', 'wordcount.wasm'));
  node = await startNodeProcess();
});

after(async () => {
  await node?.dispose();
  fixtures.cleanup();
});

// ww run hands its own stdout and stderr to runOnNode.
void (process.stdout satisfies OutputWriter);
void (process.stderr satisfies OutputWriter);

/** A writer that keeps what it is given, in order. */
function collector(): OutputWriter & { text(): string; chunks: number } {
  const parts: Buffer[] = [];
  return {
    write(chunk, callback) {
      parts.push(Buffer.from(chunk));
      callback?.();
      return true;
    },
    text: () => Buffer.concat(parts).toString('utf8'),
    get chunks() {
      return parts.length;
    },
  };
}

async function run(module: Uint8Array, argv: string[], extra: Partial<RunOnNodeOptions> = {}) {
  const stdout = collector();
  const stderr = collector();
  const code = await runOnNode({ module, argv, socketPath: node.socketPath, stdout, stderr, ...extra });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('runOnNode', () => {
  test("streams the guest's stdout and returns its exit status", async () => {
    const r = await run(wasm.hello, ['hello.wasm', 'one', 'two words']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(lines(r.stdout), ['hello from C on ww', 'argv[0] = hello.wasm', 'argv[1] = one', 'argv[2] = two words']);

    const seven = await run(wasm.exit7, ['exit7.wasm']);
    assert.deepEqual([seven.code, seven.stderr], [7, '']);
  });

  test('gives the same output as local ww run for env, directories and stdin-free guests', async () => {
    const local = await runWw(['run', '--env', 'NAME=ww', '--env', 'MODE=test', examplePath('hello-as', 'hello.wasm')]);
    const onNode = await run(wasm.helloAs, ['hello.wasm'], { env: { NAME: 'ww', MODE: 'test' } });
    assert.equal(onNode.code, local.status);
    assert.equal(onNode.stdout, local.stdout);

    const data = examplePath('wordcount', 'data');
    const localCount = await runWw(['run', '--dir', `${data}::/data`, examplePath('wordcount', 'wordcount.wasm'), '--', '/data']);
    const nodeCount = await run(wasm.wordcount, ['wordcount.wasm', '/data'], { dirs: [{ hostPath: data, guestPath: '/data' }] });
    assert.equal(localCount.status, 0, localCount.stderr);
    assert.equal(nodeCount.code, 0, nodeCount.stderr);
    assert.equal(nodeCount.stdout, localCount.stdout);
  });

  test('an abnormal end: one ww: line on stderr, as local ww run prints it', async () => {
    const trap = await run(wasm.trap, ['trap.wasm']);
    assert.equal(trap.code, 134);
    assert.match(trap.stderr, /^ww: trap: .*unreachable.*\n$/);

    const limited = await run(wasm.cpuLoop, ['cpu-loop.wasm', FOREVER], { limits: { fuel: 1_000_000 } });
    assert.equal(limited.code, 137);
    assert.equal(limited.stderr, 'ww: limit exceeded: cpu (fuel 1000000)\n');

    const timed = await run(wasm.cpuLoop, ['cpu-loop.wasm', FOREVER], { limits: { timeoutMs: 300 } });
    assert.equal(timed.code, 137);
    assert.equal(timed.stderr, 'ww: limit exceeded: wall (timeout 300ms)\n');
  });

  test('a signal to ww kills the guest on the node; the status is 128 + the signal', async () => {
    const rpc = await rpcSession(node.socketPath);
    try {
      // SIGHUP, not SIGUSR2: Node 24's test runner listens on SIGUSR2 itself (diagnostic reports).
      const listenersBefore = process.listenerCount('SIGHUP');
      const running = run(wasm.cpuLoop, ['signal-target.wasm', FOREVER], { signals: ['SIGHUP'] });
      const target = await waitForProcess(rpc, 'signal-target.wasm');
      process.kill(process.pid, 'SIGHUP');
      const r = await running;
      assert.equal(r.code, 128 + constants.signals.SIGHUP);
      assert.equal(r.stderr, 'ww: killed the guest on SIGHUP\n');
      const info = await rpc.info(target);
      assert.deepEqual([info.state, said(info.reason)], [2, 'killed']);
      assert.equal(process.listenerCount('SIGHUP'), listenersBefore, 'runOnNode removes its signal handlers');
    } finally {
      rpc.close();
    }
  });

  test('--detach prints the PID and returns while the process keeps running on the node', async () => {
    const stdout = collector();
    const code = await runOnNode({
      module: wasm.cpuLoop,
      argv: ['detached.wasm', FOREVER],
      detach: true,
      socketPath: node.socketPath,
      stdout,
      stderr: collector(),
    });
    assert.equal(code, 0);
    assert.match(stdout.text(), /^\d+\n$/);
    const pid = Number(stdout.text());
    const listed = await listedOnceTaken(node.socketPath, pid);
    assert.deepEqual([listed?.state, listed?.argv], ['running', ['detached.wasm', FOREVER]]);
    const killed = await runWw(['kill', String(pid), '--socket', node.socketPath]);
    assert.equal(killed.status, 0, killed.stderr);
  });

  test('a module the node cannot run is a one-line input error, not a crash', async () => {
    await assert.rejects(run(new TextEncoder().encode('not wasm at all'), ['bad.wasm']), (err: Error & { exitCode?: number }) => {
      assert.equal(err.exitCode, 1);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  });

  test('no node: NodeMissingError with the socket path; nodeIsListening says false', async () => {
    const socketPath = join(fixtures.path, 'nobody.sock');
    assert.equal(await nodeIsListening(socketPath), false);
    assert.equal(await nodeIsListening(node.socketPath), true);
    await assert.rejects(runOnNode({ module: wasm.hello, argv: ['hello.wasm'], socketPath, stdout: collector(), stderr: collector() }), (err: Error) => {
      assert.ok(err instanceof NodeMissingError);
      assert.equal(err.message, `no ww node is listening on ${socketPath}: start one with \`ww start\``);
      return true;
    });
  });
});

async function waitForProcess(rpc: Awaited<ReturnType<typeof rpcSession>>, argv0: string): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const found = (await rpc.ps()).find((p) => p.argv[0] === argv0 && p.state === 0);
    if (found) return found.pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${argv0} never appeared in ps`);
}
