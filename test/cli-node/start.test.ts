// `ww start` end to end: the ready line, one log line per process start and end, a second node on the
// same socket refused, and SIGTERM/SIGINT with processes running: they end killed and ww start exits 0.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { FOREVER, cpuLoop, hello, lines, oneErrorLine, rpcSession, runWw, startNodeProcess, tempDir } from './helpers.js';
import { assembleFixture, repoRoot, wwBin } from '../cli/helpers.js';
import { connectNode, startNode } from '../../src/node/index.js';

describe('ww start', () => {
  test('prints a ready line naming the socket, which is owner-only; a second node on that socket is refused', async () => {
    const node = await startNodeProcess();
    try {
      assert.match(lines(node.stderr())[0], new RegExp(`^ww: node listening on ${escape(node.socketPath)} `));
      assert.equal(statSync(node.socketPath).mode & 0o777, 0o600);

      const second = await runWw(['start', '--socket', node.socketPath]);
      assert.equal(second.status, 1);
      assert.equal(
        oneErrorLine(second.stderr),
        `ww: a ww node is already listening on ${node.socketPath}: stop it first, or start this one with another socket path`,
      );
      // The first node is unharmed.
      assert.equal((await runWw(['ps', '--socket', node.socketPath])).status, 0);
    } finally {
      await node.dispose();
    }
  });

  test('two nodes started on one socket at the same instant: the loser says a node is already listening', async () => {
    // In one process the race is certain: both find the path free before either listens.
    const dir = tempDir('race');
    const socketPath = join(dir.path, 'node.sock');
    const results = await Promise.allSettled([startNode({ socketPath, poolSize: 1 }), startNode({ socketPath, poolSize: 1 })]);
    const won = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    try {
      const lost = results.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.equal(lost.length, 1);
      assert.equal((lost[0].reason as Error).message, `a ww node is already listening on ${socketPath}: stop it first, or start this one with another socket path`);
      const session = await connectNode(socketPath); // the winner still answers on its socket
      session.close();
    } finally {
      for (const node of won) await node.close();
      dir.cleanup();
    }
  });

  test('two `ww start` on one socket at once: one serves, the other exits 1 with the friendly line', async () => {
    const dir = tempDir('race-cli');
    const socketPath = join(dir.path, 'node.sock');
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.WW_DEBUG;
    const starts = [0, 1].map(() => {
      const child = spawn(process.execPath, [wwBin, 'start', '--socket', socketPath], { cwd: repoRoot, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      return { child, stderr: () => stderr, exited };
    });
    try {
      const loser = await Promise.race(starts.map((s) => s.exited.then(() => s)));
      assert.equal(await loser.exited, 1, loser.stderr());
      assert.equal(oneErrorLine(loser.stderr()), `ww: a ww node is already listening on ${socketPath}: stop it first, or start this one with another socket path`);
      const winner = starts.find((s) => s !== loser)!;
      const ps = await runWw(['ps', '--socket', socketPath]);
      assert.equal(ps.status, 0, ps.stderr);
      assert.match(winner.stderr(), /^ww: node listening on /m);
      winner.child.kill('SIGTERM');
      assert.equal(await winner.exited, 0, winner.stderr());
    } finally {
      for (const s of starts) s.child.kill('SIGKILL');
      dir.cleanup();
    }
  });

  test('--data-dir keeps the peer ID across restarts; by default the node listens on TCP on loopback only (its libp2p port)', async () => {
    const data = tempDir('data');
    let node = await startNodeProcess(['--data-dir', data.path]);
    try {
      assert.match(node.stderr(), /^ww: node listening on \S+ \(os pid (\d+)\)/m);
      const osPid = /\(os pid (\d+)\)/.exec(node.stderr())![1];
      // Every listening TCP socket the node holds (its fds' socket inodes against the kernel's tables
      // of TCP sockets in state LISTEN, 0A) is bound to 127.0.0.1 (0100007F in the table).
      const held = new Set(
        readdirSync(`/proc/${osPid}/fd`)
          .map((fd) => { try { return readlinkSync(`/proc/${osPid}/fd/${fd}`); } catch { return ''; } })
          .flatMap((l) => /^socket:\[(\d+)\]$/.exec(l)?.[1] ?? []),
      );
      assert.ok(held.size > 0, 'the node holds its unix socket');
      let listening = 0;
      for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
        for (const row of readFileSync(table, 'utf8').trim().split('\n').slice(1)) {
          const cols = row.trim().split(/\s+/);
          if (cols[3] !== '0A' || !held.has(cols[9]!)) continue;
          listening++;
          assert.match(cols[1]!, /^0100007F:/, `the node listens beyond loopback: ${row}`);
        }
      }
      assert.equal(listening, 1, 'one libp2p port');
      const init = await runWw(['info', '1', '--json', '--socket', node.socketPath]);
      assert.equal(init.status, 0, init.stderr);
      const peerId = JSON.parse(init.stdout).peerId as string;
      assert.match(peerId, /^12D3KooW/);
      await node.stop();
      node = await startNodeProcess(['--data-dir', data.path]);
      const again = await runWw(['id', '--json', '--socket', node.socketPath]);
      assert.equal(JSON.parse(again.stdout).peerId, peerId);
    } finally {
      await node.dispose();
      data.cleanup();
    }
  });

  test('without --socket: the node and the commands meet at $XDG_RUNTIME_DIR/ww/node.sock; $WW_SOCKET names another', async () => {
    const node = await startNodeProcess([], { defaultSocket: true });
    try {
      assert.match(lines(node.stderr())[0], new RegExp(`^ww: node listening on ${escape(node.socketPath)} `));
      const runtimeDir = dirname(dirname(node.socketPath));
      const viaDefault = await runWw(['ps', '--json'], { env: { XDG_RUNTIME_DIR: runtimeDir, WW_SOCKET: '' } });
      assert.equal(viaDefault.status, 0, viaDefault.stderr);
      assert.equal(JSON.parse(viaDefault.stdout)[0].pid, 1);
      const viaEnv = await runWw(['ps', '--json'], { env: { XDG_RUNTIME_DIR: '/nonexistent', WW_SOCKET: node.socketPath } });
      assert.equal(viaEnv.status, 0, viaEnv.stderr);
      const elsewhere = await runWw(['ps'], { env: { XDG_RUNTIME_DIR: '/nonexistent', WW_SOCKET: '' } });
      assert.equal(elsewhere.status, 1);
      assert.equal(oneErrorLine(elsewhere.stderr), 'ww: no ww node is listening on /nonexistent/ww/node.sock: start one with `ww start`');
    } finally {
      await node.dispose();
    }
  });

  test('logs one line per process start and end, with its pid and reason', async () => {
    const node = await startNodeProcess();
    const rpc = await rpcSession(node.socketPath);
    try {
      const { pid, process } = await rpc.spawn(hello, ['hello.wasm']);
      await process.wait();
      await node.waitForLine(new RegExp(`\\bend pid=${pid}\\b`));
      const started = lines(node.stderr()).filter((line) => new RegExp(`\\bpid=${pid}\\b`).test(line));
      assert.equal(started.length, 2, node.stderr());
      assert.match(started[0], /^ww: start pid=\d+ .*hello\.wasm/);
      assert.match(started[1], /^ww: end pid=\d+ reason="normal" code=0/);
    } finally {
      rpc.close();
      await node.dispose();
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} with processes running: they end killed, it reports how many, and exits 0`, async () => {
      const node = await startNodeProcess();
      try {
        const rpc = await rpcSession(node.socketPath);
        const parent = await rpc.spawn(cpuLoop, ['cpu-loop.wasm', FOREVER]);
        const child = await rpc.spawn(cpuLoop, ['cpu-loop.wasm', FOREVER], { parent: parent.process });
        const paused = await rpc.spawn(cpuLoop, ['cpu-loop.wasm', FOREVER]);
        await paused.process.pause();

        const stopped = await node.stop(signal);
        assert.equal(stopped.status, 0, stopped.stderr);
        assert.match(stopped.stderr, new RegExp(`^ww: stopping on ${signal}: killing 3 processes$`, 'm'));
        for (const { pid } of [parent, child, paused]) {
          assert.match(stopped.stderr, new RegExp(`^ww: end pid=${pid} reason="killed" code=137`, 'm'));
        }
        rpc.close();
        // The socket is gone: the next command says no node is listening.
        const after = await runWw(['ps', '--socket', node.socketPath]);
        assert.equal(after.status, 1);
        assert.match(oneErrorLine(after.stderr), /no ww node is listening/);
      } finally {
        await node.dispose();
      }
    });
  }

  test('--max-memory bounds the owner\'s processes together: a guest growing past it gets limit: memory, and the next run has it all again', async () => {
    const fixtures = tempDir('budget');
    const node = await startNodeProcess(['--max-memory', '4M']);
    try {
      const grow = await assembleFixture('grow', fixtures.path);
      const first = await runWw(['run', '--node', '--socket', node.socketPath, grow]);
      assert.equal(first.status, 137, first.stderr);
      assert.match(oneErrorLine(first.stderr), /^ww: limit exceeded: memory$/);
      const again = await runWw(['run', '--node', '--socket', node.socketPath, hello]);
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stdout, /^hello from C on ww/);
    } finally {
      await node.dispose();
      fixtures.cleanup();
    }
  });

  test('--workers shared: runs processes on shared threads; a running one is paused, listed paused, and killed; a bad value is refused', async () => {
    const bad = await runWw(['start', '--workers', 'many']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /dedicated|shared/);
    const node = await startNodeProcess(['--workers', 'shared']);
    try {
      const hi = await runWw(['run', '--node', '--socket', node.socketPath, hello]);
      assert.equal(hi.status, 0, hi.stderr);
      assert.match(hi.stdout, /^hello from C on ww/);
      const started = await runWw(['run', '--detach', '--socket', node.socketPath, cpuLoop, '--', FOREVER]);
      assert.equal(started.status, 0, started.stderr);
      const pid = started.stdout.trim();
      assert.equal((await runWw(['pause', pid, '--socket', node.socketPath])).status, 0);
      const listed = await runWw(['ps', '--json', '--socket', node.socketPath]);
      const entry = (JSON.parse(listed.stdout) as { pid: number; state: string }[]).find((p) => String(p.pid) === pid);
      assert.equal(entry?.state, 'paused');
      assert.equal((await runWw(['kill', pid, '--socket', node.socketPath])).status, 0);
      const waited = await runWw(['wait', pid, '--socket', node.socketPath]);
      assert.equal(waited.status, 137);
    } finally {
      await node.dispose();
    }
  });

  test('--guest-compiler tiered: the node runs guests; a bad value is refused', async () => {
    const bad = await runWw(['start', '--guest-compiler', 'fast']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /optimizing|tiered/);
    const node = await startNodeProcess(['--guest-compiler', 'tiered']);
    try {
      const hi = await runWw(['run', '--node', '--socket', node.socketPath, hello]);
      assert.equal(hi.status, 0, hi.stderr);
      assert.match(hi.stdout, /^hello from C on ww/);
    } finally {
      await node.dispose();
    }
  });

  test('a node that dies while ww wait waits: one line saying the connection was lost, exit 1', async () => {
    const node = await startNodeProcess();
    try {
      const rpc = await rpcSession(node.socketPath);
      const { pid } = await rpc.spawn(cpuLoop, ['cpu-loop.wasm', FOREVER]);
      const before = socketCount(node.child.pid!);
      const waiter = spawn(process.execPath, [wwBin, 'wait', String(pid), '--socket', node.socketPath], { cwd: repoRoot, stdio: 'pipe' });
      waiter.stdin.end();
      let stderr = '';
      waiter.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      let waiterDone = false;
      const exited = new Promise<number | null>((r) => waiter.on('exit', (code) => ((waiterDone = true), r(code))));
      // Once ww wait's connection is open on the node, its calls follow on it: kill the node then.
      while (socketCount(node.child.pid!) <= before && !waiterDone) await new Promise((r) => setTimeout(r, 10));
      assert.ok(!waiterDone, `ww wait ended before the node was killed: ${stderr}`);
      node.child.kill('SIGKILL');
      assert.equal(await exited, 1);
      assert.equal(oneErrorLine(stderr), `ww: lost the connection to the ww node on ${node.socketPath} (did it stop?)`);
      rpc.close();
    } finally {
      await node.dispose();
    }
  });
});

/** How many sockets the OS process `pid` holds open (Linux /proc): the node's listener and its clients. */
function socketCount(pid: number): number {
  const dir = `/proc/${pid}/fd`;
  return readdirSync(dir).filter((fd) => {
    try {
      return readlinkSync(`${dir}/${fd}`).startsWith('socket:');
    } catch {
      return false; // closed while we looked
    }
  }).length;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
