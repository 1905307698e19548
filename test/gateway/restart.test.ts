// A gateway killed mid-task (SIGKILL: no chance to tidy up) and started again on its data dir loses
// nothing: a task still running is waited for (the same process, not a second one), a task that
// ended while no gateway ran is answered with its result. The gateway is `ww gateway`, a child.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot, tempDir, wwBin } from '../cli/helpers.js';
import type { WwNode } from '../../src/node/index.js';
import { ArgoAgent, executeArgs } from './argo-agent.js';
import { spawnsOf, startTestNode, writeGuests } from './helpers.js';

const TOKEN = 'restart-token-51ac';

describe('ww gateway: killed and restarted', () => {
  const dir = tempDir('gateway-restart');
  let node: WwNode;
  const children: ChildProcess[] = [];

  before(async () => {
    node = await startTestNode(dir.path);
    writeFileSync(join(dir.path, 'token'), `${TOKEN}\n`);
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await node?.close();
    dir.cleanup();
  });

  async function startGatewayProcess(port: number): Promise<{ child: ChildProcess; address: string }> {
    const args = [wwBin, 'gateway', '--listen', `127.0.0.1:${port}`, '--token-file', join(dir.path, 'token'), '--socket', node.socketPath, '--data-dir', join(dir.path, 'gw'), '--json'];
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      child.on('exit', (code) => reject(new Error(`ww gateway exited ${code}: ${stderr}`)));
    });
    return { child, address: `http://${(JSON.parse(line) as { listening: string }).listening}` };
  }

  it('waits for the same process after a restart, and answers a result that came while it was down', async () => {
    const guests = await writeGuests(dir.path);
    const long = await guests.sleep(4000, 'r-long');
    const short = await guests.sleep(300, 'r-short');
    const port = await freePort();
    const first = await startGatewayProcess(port);
    const agent = new ArgoAgent(first.address, TOKEN);
    const longArgs = executeArgs({ uid: 'uid-restart', name: 'long', plugin: { ww: { module: long } } });
    const shortArgs = executeArgs({ uid: 'uid-restart', name: 'short', plugin: { ww: { module: short } } });
    // Both accepted and spawned (their pid is in the ledger once a Running reply names it).
    for (const args of [longArgs, shortArgs]) {
      for (;;) {
        const answer = await agent.call('template.execute', args);
        assert.equal(answer.kind, 'reply');
        const node = (answer as { reply: { node: { phase: string; message: string } } }).reply.node;
        assert.equal(node.phase, 'Running', JSON.stringify(node));
        if (/running as ww process/.test(node.message)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    // The agent keeps calling: refused connections are retried with backoff until the gateway is back.
    const longOutcome = agent.runTask(longArgs);
    await new Promise((r) => setTimeout(r, 600)); // the short task ends while no gateway runs
    const second = await startGatewayProcess(port);
    const [l, s] = await Promise.all([longOutcome, agent.runTask(shortArgs)]);
    assert.deepEqual([l.node.phase, l.node.outputs?.result], ['Succeeded', 'done'], JSON.stringify(l));
    assert.deepEqual([s.node.phase, s.node.outputs?.result], ['Succeeded', 'done'], JSON.stringify(s));
    assert.equal(await spawnsOf(node.socketPath, 'r-long.wasm'), 1);
    assert.equal(await spawnsOf(node.socketPath, 'r-short.wasm'), 1);
    second.child.kill('SIGTERM');
    const code = await new Promise((r) => second.child.once('exit', (c) => r(c)));
    assert.equal(code, 0);
  });

  it('refuses to start without a readable token', async () => {
    const child = spawn(process.execPath, [wwBin, 'gateway', '--listen', '127.0.0.1:0', '--token-file', join(dir.path, 'missing-token'), '--socket', node.socketPath, '--data-dir', join(dir.path, 'gw2')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((r) => child.once('exit', (c) => r(c)));
    assert.equal(code, 1);
    assert.match(stderr, /^ww: cannot read the Argo token from .*missing-token \(ENOENT\): give --token-file/);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
