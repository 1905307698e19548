// The executor-plugin contract as Argo's agent sees it (argo-agent.ts plays the agent): a gateway in
// this process over a real node's socket, requests in Argo's shape.
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { tempDir } from '../cli/helpers.js';
import { connectNode, type WwNode } from '../../src/node/index.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { ArgoAgent, executeArgs, parseGoDuration } from './argo-agent.js';
import { spawnsOf, startTestNode, writeGuests } from './helpers.js';

const TOKEN = 'argo-agent-token-9f2c';
const HELLO_OUTPUTS = { parameters: [{ name: 'greeting', valueFrom: { path: '/tmp/hello.txt' } }] };

describe('ww gateway: the executor-plugin contract', () => {
  const dir = tempDir('gateway');
  let node: WwNode;
  let gateway: Gateway;
  let url: string;
  let guests: Awaited<ReturnType<typeof writeGuests>>;

  before(async () => {
    node = await startTestNode(dir.path);
    guests = await writeGuests(dir.path);
    gateway = await startGateway({ host: '127.0.0.1', port: 0, token: TOKEN, dataDir: `${dir.path}/gw`, connect: () => connectNode(node.socketPath) });
    url = `http://${gateway.address}`;
  });
  after(async () => {
    await gateway?.close();
    await node?.close();
    dir.cleanup();
  });

  it('refuses a call without the token, or with a wrong one, with 403', async () => {
    const args = executeArgs({ uid: 'uid-403', plugin: { ww: { module: guests.step('s403') } } });
    for (const token of [undefined, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const outcome = await new ArgoAgent(url, token).runTask(args);
      assert.match(outcome.node.message ?? '', /^403 Forbidden: /);
      assert.equal(outcome.node.phase, 'Failed');
    }
    assert.equal(await spawnsOf(node.socketPath, 's403.wasm'), 0);
  });

  it('answers {} for a template that is another plugin\'s', async () => {
    const agent = new ArgoAgent(url, TOKEN);
    const outcome = await agent.runTask(executeArgs({ uid: 'uid-foreign', plugin: { hello: { message: 'hi' } } }));
    assert.deepEqual(outcome.replies, [{}]);
    assert.equal(outcome.node.message, 'no plugin executed the template');
    const container = executeArgs({ uid: 'uid-foreign', plugin: undefined }) as { template: Record<string, unknown> };
    delete container.template.plugin;
    container.template.container = { image: 'busybox', command: ['echo'] };
    assert.deepEqual((await agent.runTask(container)).replies, [{}]);
  });

  it('answers Running with a requeue, then Succeeded with the parameters, result and exit code', async () => {
    const module = guests.step('s-ok');
    const outcome = await new ArgoAgent(url, TOKEN).runTask(executeArgs({ uid: 'uid-ok', plugin: { ww: { module } }, outputs: HELLO_OUTPUTS }));
    assert.equal(outcome.node.phase, 'Succeeded', JSON.stringify(outcome));
    assert.deepEqual(outcome.node.outputs, { exitCode: '0', result: 'hello from ww', parameters: [{ name: 'greeting', value: 'world' }] });
    for (const reply of outcome.replies.slice(0, -1) as { node: { phase: string }; requeue: string }[]) {
      assert.equal(reply.node.phase, 'Running');
      assert.ok(parseGoDuration(reply.requeue) > 0, reply.requeue);
    }
    assert.equal(await spawnsOf(node.socketPath, 's-ok.wasm'), 1);
  });

  it('a Running reply always carries a requeue (else Argo would leave the node stuck)', async () => {
    const module = await guests.sleep(1500, 's-requeue');
    const outcome = await new ArgoAgent(url, TOKEN).runTask(executeArgs({ uid: 'uid-requeue', plugin: { ww: { module } } }));
    assert.equal(outcome.stuck, false);
    assert.equal(outcome.node.phase, 'Succeeded');
    assert.equal(outcome.node.outputs?.result, 'done');
    assert.ok(outcome.calls >= 2, `${outcome.calls} calls`);
  });

  it('a module that exits non-zero fails the node with a message and its exit code', async () => {
    const outcome = await new ArgoAgent(url, TOKEN).runTask(executeArgs({ uid: 'uid-fail', plugin: { ww: { module: guests.exit7 } } }));
    assert.equal(outcome.node.phase, 'Failed');
    assert.equal(outcome.node.outputs?.exitCode, '7');
    assert.match(outcome.node.message ?? '', /exit: 7/);
  });

  it('a mapped image runs its Wasm module (alpine: the shell, args after its entrypoint); an unmapped one fails saying so', async () => {
    const agent = new ArgoAgent(url, TOKEN);
    const shell = await agent.runTask(executeArgs({ uid: 'uid-alpine', plugin: { ww: { module: 'alpine:3.19', args: ['-c', 'echo $((6 * 7)) | tr 4 x'] } } }));
    assert.equal(shell.node.phase, 'Succeeded', shell.node.message);
    assert.equal(shell.node.outputs?.result, 'x2');
    const unmapped = await agent.runTask(executeArgs({ uid: 'uid-py', plugin: { ww: { module: 'python:3.12' } } }));
    assert.equal(unmapped.node.phase, 'Failed');
    assert.match(unmapped.node.message ?? '', /python:3\.12' is a container image with no Wasm module mapped/);
  });

  it('a module path that is not a regular file (a device, a FIFO) fails at once, never read', async () => {
    const agent = new ArgoAgent(url, TOKEN);
    const zero = await agent.runTask(executeArgs({ uid: 'uid-zero', plugin: { ww: { module: '/dev/zero' } } }));
    assert.equal(zero.node.phase, 'Failed');
    assert.match(zero.node.message ?? '', /module \/dev\/zero is not a regular file/);
    const fifo = `${dir.path}/fifo.wasm`;
    execFileSync('mkfifo', [fifo]);
    const blocked = await agent.runTask(executeArgs({ uid: 'uid-fifo', plugin: { ww: { module: fifo } } }));
    assert.equal(blocked.node.phase, 'Failed');
    assert.match(blocked.node.message ?? '', /is not a regular file/);
  });

  it('a step that cannot run as written fails with the reason: an unknown field, a missing output file', async () => {
    const agent = new ArgoAgent(url, TOKEN);
    const unknown = await agent.runTask(executeArgs({ uid: 'uid-unk', plugin: { ww: { module: guests.exit7, cmd: 'x' } } }));
    assert.match(unknown.node.message ?? '', /unknown field 'cmd'/);
    const missing = await agent.runTask(
      executeArgs({ uid: 'uid-miss', plugin: { ww: { module: guests.step('s-miss') } }, outputs: { parameters: [{ name: 'p', valueFrom: { path: '/tmp/other.txt' } }] } }),
    );
    assert.equal(missing.node.phase, 'Failed');
    assert.match(missing.node.message ?? '', /output parameter 'p': \/tmp\/other.txt was not written/);
    const fallback = await agent.runTask(
      executeArgs({ uid: 'uid-def', plugin: { ww: { module: guests.step('s-def') } }, outputs: { parameters: [{ name: 'p', valueFrom: { path: '/tmp/other.txt', default: 'none' } }] } }),
    );
    assert.deepEqual(fallback.node.outputs?.parameters, [{ name: 'p', value: 'none' }]);
  });

  it('a retried template (same workflow, same template, after a final phase) runs again', async () => {
    const module = guests.step('s-retry');
    const args = executeArgs({ uid: 'uid-retry', plugin: { ww: { module } }, outputs: HELLO_OUTPUTS });
    const agent = new ArgoAgent(url, TOKEN);
    assert.equal((await agent.runTask(args)).node.phase, 'Succeeded');
    assert.equal((await agent.runTask(args)).node.phase, 'Succeeded');
    assert.equal(await spawnsOf(node.socketPath, 's-retry.wasm'), 2);
    // Another workflow (uid) with the same template is another task.
    assert.equal((await agent.runTask(executeArgs({ uid: 'uid-retry-2', plugin: { ww: { module } }, outputs: HELLO_OUTPUTS }))).node.phase, 'Succeeded');
    assert.equal(await spawnsOf(node.socketPath, 's-retry.wasm'), 3);
  });

  it('a duplicate call while the task runs joins it: nothing new is spawned', async () => {
    const module = await guests.sleep(1500, 's-dup');
    const args = executeArgs({ uid: 'uid-dup', plugin: { ww: { module } } });
    const agent = new ArgoAgent(url, TOKEN);
    // Key order differs: the template is hashed as canonical JSON.
    const reordered = reverseKeys(args);
    const first = await agent.call('template.execute', args);
    const second = await agent.call('template.execute', reordered);
    assert.equal(first.kind === 'reply' && (first.reply as { node: { phase: string } }).node.phase, 'Running');
    assert.equal(second.kind === 'reply' && (second.reply as { node: { phase: string } }).node.phase, 'Running');
    const outcome = await agent.runTask(args);
    assert.equal(outcome.node.phase, 'Succeeded');
    assert.equal(await spawnsOf(node.socketPath, 's-dup.wasm'), 1);
  });

  it('steps run in parallel: 20 tasks of one workflow with different args', async () => {
    const module = guests.step('s-par');
    const agent = new ArgoAgent(url, TOKEN);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => agent.runTask(executeArgs({ uid: 'uid-par', plugin: { ww: { module, args: [String(i)] } }, outputs: HELLO_OUTPUTS }))),
    );
    for (const o of outcomes) assert.deepEqual(o.node.outputs?.parameters, [{ name: 'greeting', value: 'world' }]);
    assert.equal(await spawnsOf(node.socketPath, 's-par.wasm'), 20);
  });

  it('a malformed body is 400 with a reason; an oversized one 413; another path or method 404', async () => {
    const agent = new ArgoAgent(url, TOKEN);
    const bad = await agent.call('template.execute', { workflow: { metadata: { name: 'x' } }, template: {} });
    assert.equal(bad.kind, 'error');
    assert.match(bad.kind === 'error' ? bad.message : '', /^400 Bad Request: .*workflow\.metadata\.uid must be a non-empty string/);
    assertAnswer(await raw(url, 'POST', '/api/v1/template.execute', '{"workflow":', TOKEN), 400, /body is not JSON/);
    const huge = JSON.stringify(executeArgs({ uid: 'uid-huge', plugin: { ww: { module: guests.exit7, args: ['x'.repeat(2 * 1024 * 1024)] } } }));
    assertAnswer(await raw(url, 'POST', '/api/v1/template.execute', huge, TOKEN), 413, /more than the gateway's 1048576/);
    assertAnswer(await raw(url, 'GET', '/api/v1/template.execute', '', TOKEN), 404, /serves only POST/);
    assertAnswer(await raw(url, 'POST', '/api/v1/workflow.preRun', '{}', TOKEN), 404, /serves only POST/);
    // The agent never calls a 404'd method again.
    const unknown = await agent.call('workflow.preRun', {});
    assert.equal(unknown.kind, 'invalid');
    assert.equal((await agent.call('workflow.preRun', {})).kind, 'invalid');
    assert.equal(agent.statuses.filter((s) => s === 404).length, 1);
  });
});

/** One raw HTTP call: its status and body. */
function raw(base: string, method: string, path: string, body: string, token: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function assertAnswer(answer: { status: number; text: string }, status: number, body: RegExp): void {
  assert.equal(answer.status, status, answer.text);
  assert.match(answer.text, body);
}

/** The same value with every object's keys in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]));
}
