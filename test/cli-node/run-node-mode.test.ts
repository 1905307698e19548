// `ww run` end to end in node mode: with a node on the socket it runs there (visible in ps), --node
// insists on one, --detach prints the PID, the guest's status and output pass through, a signal kills it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FOREVER, assembleFixture, cpuLoop, hello, lines, listedOnceTaken, oneErrorLine, psJson, runWw, startNodeProcess, tempDir, type NodeUnderTest } from './helpers.js';
import { repoRoot, wwBin } from '../cli/helpers.js';

let node: NodeUnderTest;
const fixtures = tempDir('run-node-fixtures');
let exit7 = '';

before(async () => {
  exit7 = await assembleFixture('exit7', fixtures.path);
  node = await startNodeProcess();
});

after(async () => {
  await node?.dispose();
  fixtures.cleanup();
});

describe('ww run says the same here and on a node', () => {
  // The same module and flags, once with no node behind --socket (it runs in ww's own process) and
  // once on the node: the same stderr and the same exit status, for ends and for refusals.
  test('traps, limits, a status past 255, a module it cannot run, limits it cannot run under', async () => {
    const notANode = join(fixtures.path, 'no-node-here.sock');
    const garbage = join(fixtures.path, 'garbage.wasm');
    writeFileSync(garbage, 'this is not wasm');
    const cases: [string, string[]][] = [
      ['trap', [await assembleFixture('trap', fixtures.path)]],
      ['fuel', ['--fuel', '100000', await assembleFixture('spin', fixtures.path)]],
      ['timeout', ['--timeout', '50ms', await assembleFixture('spin', fixtures.path)]],
      ['max-memory', ['--max-memory', '1m', await assembleFixture('grow', fixtures.path)]],
      ['exit 256', [await assembleFixture('exit256', fixtures.path)]],
      ['not a module', [garbage]],
      ['limits below the module', ['--max-memory', '64k', hello]],
    ];
    for (const [what, args] of cases) {
      const here = await runWw(['run', '--socket', notANode, ...args]);
      const there = await runWw(['run', '--node', '--socket', node.socketPath, ...args]);
      assert.deepEqual([there.status, there.stderr], [here.status, here.stderr], what);
      assert.notEqual(here.status, 0, `${what}: ${here.stderr}`);
      oneErrorLine(here.stderr);
    }
  });
});

describe('ww run with a node', () => {
  test('--guest-compiler is refused for a run on a node (the node compiles as its ww start says): exit 2, one line', async () => {
    const r = await runWw(['run', '--guest-compiler', 'optimizing', '--socket', node.socketPath, hello]);
    assert.equal(r.status, 2);
    assert.equal(oneErrorLine(r.stderr), 'ww: --guest-compiler is for a run here: a node compiles as its ww start --guest-compiler says');
    assert.equal(r.stdout, '');
  });

  test('runs on the node when one answers on the socket: output, status, and a start line in its log', async () => {
    const r = await runWw(['run', '--socket', node.socketPath, hello, '--', 'on-node']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['hello from C on ww', 'argv[0] = hello.wasm', 'argv[1] = on-node']);
    await node.waitForLine(/start pid=\d+ .*"on-node"/);
    const seven = await runWw(['run', '--socket', node.socketPath, exit7]);
    assert.deepEqual([seven.status, seven.stderr], [7, '']);
  });

  test('a piped stdin reaches the guest (streamed as it reads)', async () => {
    const probe = await assembleFixture('stdin-probe', fixtures.path); // exits 1 when it reads input, 0 on EOF
    const withInput = await runWw(['run', '--node', '--socket', node.socketPath, probe], { input: 'some input\n' });
    assert.equal(withInput.status, 1, withInput.stderr);
    const empty = await runWw(['run', '--node', '--socket', node.socketPath, probe]);
    assert.equal(empty.status, 0, empty.stderr);
  });

  test('--detach prints the PID; the process runs on until ww kill', async () => {
    const r = await runWw(['run', '--detach', '--socket', node.socketPath, cpuLoop, '--', FOREVER]);
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(r.stdout.trim());
    assert.ok(pid > 1, r.stdout);
    const listed = await listedOnceTaken(node.socketPath, pid);
    assert.equal(listed?.state, 'running');
    assert.equal((await runWw(['kill', String(pid), '--socket', node.socketPath])).status, 0);
    const waited = await runWw(['wait', String(pid), '--socket', node.socketPath]);
    assert.equal(waited.status, 137);
  });

  test('SIGINT to ww run kills the guest on the node: exit 130', async () => {
    const child = spawn(process.execPath, [wwBin, 'run', '--node', '--socket', node.socketPath, cpuLoop, '--', FOREVER], { stdio: 'pipe' });
    child.stdin.end();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // Interrupt once the guest is running on the node.
    const pid = await (async () => {
      for (;;) {
        const found = psJson(await runWw(['ps', '--json', '--socket', node.socketPath])).find((p) => p.argv[1] === FOREVER && p.state === 'running' && p.argv[0] === 'cpu-loop.wasm');
        if (found) return found.pid;
      }
    })();
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.equal(oneErrorLine(stderr), 'ww: killed the guest on SIGINT');
    const ended = psJson(await runWw(['ps', '--json', '--socket', node.socketPath])).find((p) => p.pid === pid);
    assert.deepEqual(ended?.reason, { kind: 'killed' });
  });

  test('--node without a node fails clearly; without --node ww run runs locally', async () => {
    const socket = join(fixtures.path, 'none.sock');
    const forced = await runWw(['run', '--node', '--socket', socket, hello]);
    assert.equal(forced.status, 1);
    assert.equal(oneErrorLine(forced.stderr), `ww: no ww node is listening on ${socket}: start one with \`ww start\``);
    const local = await runWw(['run', '--socket', socket, hello]);
    assert.equal(local.status, 0, local.stderr);
    assert.equal(lines(local.stdout)[0], 'hello from C on ww');
  });
});
