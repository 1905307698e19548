// The gateway's shapes against Argo's own OpenAPI spec of the executor-plugin API
// (src/gateway/executor-plugin-swagger.yml): every reply it gives is an ExecuteTemplateReply, and the
// tests' requests are ExecuteTemplateArgs. Also the step syntax, the key's canonical JSON and the ledger.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { repoRoot, tempDir } from '../cli/helpers.js';
import { connectNode, type WwNode } from '../../src/node/index.js';
import { canonicalJson, goDuration, parseStep, StepError, TaskTable, type ArgoTemplate, type ExecuteRequest } from '../../src/gateway/index.js';
import { Ledger, LEDGER_FILE } from '../../src/gateway/ledger.js';
import { executeArgs, parseGoDuration } from './argo-agent.js';
import { startTestNode, writeGuests } from './helpers.js';

type Validate = ((value: unknown) => boolean) & { errors?: unknown };

/** A validator for one of the spec's definitions. Duration is `type: object` in the spec, but Go's
 *  metav1.Duration marshals to a string ("1s"), which is what Argo's agent reads: checked as one. */
function specValidator(definition: string): Validate {
  const spec = parse(readFileSync(join(repoRoot, 'src/gateway/executor-plugin-swagger.yml'), 'utf8')) as { definitions: Record<string, unknown> };
  const definitions = { ...spec.definitions, Duration: { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$' } };
  const ajv = new Ajv.default({ strict: false, validateFormats: false, allErrors: true });
  return ajv.compile({ definitions, $ref: `#/definitions/${definition}` }) as Validate;
}

describe('gateway replies and requests against the executor-plugin spec', () => {
  const dir = tempDir('gateway-contract');
  let node: WwNode;
  let table: TaskTable;
  const reply = specValidator('ExecuteTemplateReply');
  const args = specValidator('ExecuteTemplateArgs');

  before(async () => {
    node = await startTestNode(dir.path);
    table = await TaskTable.open({ dataDir: join(dir.path, 'gw'), connect: () => connectNode(node.socketPath), answerWithinMs: 0 });
  });
  after(async () => {
    await table?.close();
    await node?.close();
    dir.cleanup();
  });

  it('every phase the gateway answers is an ExecuteTemplateReply', async () => {
    const guests = await writeGuests(dir.path);
    const requests = [
      executeArgs({ uid: 'c1', plugin: { ww: { module: guests.step('c-ok') } }, outputs: { parameters: [{ name: 'g', valueFrom: { path: '/tmp/hello.txt' } }] } }),
      executeArgs({ uid: 'c2', plugin: { ww: { module: guests.exit7 } } }),
      executeArgs({ uid: 'c3', plugin: { ww: { module: 'busybox' } } }),
      executeArgs({ uid: 'c4', plugin: { other: {} } }),
    ] as ExecuteRequest[];
    const seen = new Set<string>();
    for (const req of requests) {
      assert.ok(args(req), JSON.stringify(args.errors));
      for (let i = 0; i < 200; i++) {
        const answer = await table.execute(req);
        assert.ok(reply(answer), `${JSON.stringify(answer)}: ${JSON.stringify(reply.errors)}`);
        seen.add(answer.node?.phase ?? '{}');
        if (!answer.requeue) break;
        await new Promise((r) => setTimeout(r, parseGoDuration(answer.requeue!)));
      }
    }
    assert.deepEqual([...seen].sort(), ['Failed', 'Running', 'Succeeded', '{}']);
  });

  it('a reply that breaks the spec is caught (the check can fail)', () => {
    assert.equal(reply({ node: { phase: 'Succeeded', outputs: { exitCode: 0 } } }), false); // exitCode is a string
    assert.equal(reply({ node: { phase: 'Running' }, requeue: 1 }), false);
  });
});

describe('the step syntax', () => {
  const template = (outputs?: unknown): ArgoTemplate => ({ name: 't', ...(outputs ? { outputs } : {}) }) as ArgoTemplate;

  it('reads module, args, env, limits and peer', () => {
    const step = parseStep({ module: 'cid:' + 'a'.repeat(64), args: ['x', 2, true], env: { A: '1', B: 2 }, limits: { maxMemory: '64Mi', fuel: 1000, timeout: '1m30s' }, peer: 'auto' }, template());
    assert.deepEqual(step.module, { kind: 'cid', cid: 'a'.repeat(64) });
    assert.deepEqual(step.args, ['x', '2', 'true']);
    assert.deepEqual(step.env, { A: '1', B: '2' });
    assert.deepEqual(step.limits, { maxMemoryBytes: 64 * 1024 * 1024, fuel: 1000, timeoutMs: 90_000 });
    assert.equal(step.peer, 'auto');
  });

  it('pre-opens one directory per distinct directory of the output parameters', () => {
    const step = parseStep({ module: './m.wasm' }, template({ parameters: [{ name: 'a', valueFrom: { path: '/tmp/a' } }, { name: 'b', valueFrom: { path: '/tmp/b' } }, { name: 'c', valueFrom: { path: '/out/c' } }] }));
    assert.deepEqual(step.outputDirs, ['/tmp', '/out']);
  });

  it('refuses what it cannot run, saying why', () => {
    const cases: [unknown, ArgoTemplate, RegExp][] = [
      [{ module: 'python:3.12' }, template(), /python:3\.12' is a container image with no Wasm module mapped/],
      [{ module: 'cid:xyz' }, template(), /64 lowercase hex/],
      [{}, template(), /module is required/],
      [{ module: 'm.wasm', limits: { maxMemory: 'lots' } }, template(), /is not a size/],
      [{ module: 'm.wasm', limits: { timeout: '5 minutes' } }, template(), /is not a duration/],
      [{ module: 'm.wasm', limits: { cpu: 1 } }, template(), /unknown field 'cpu'/],
      [{ module: 'm.wasm', env: { 'A=B': 'x' } }, template(), /not a variable name/],
      [{ module: 'm.wasm', args: [{}] }, template(), /args\[0\] must be a string/],
      [{ module: 'm.wasm' }, template({ parameters: [{ name: 'p', valueFrom: { path: 'rel.txt' } }] }), /absolute, normalised/],
      [{ module: 'm.wasm' }, template({ parameters: [{ name: 'p', valueFrom: { path: '/tmp/../etc/x' } }] }), /absolute, normalised/],
      [{ module: 'm.wasm' }, template({ parameters: [{ name: 'p', valueFrom: { jsonPath: '{.x}' } }] }), /from files only/],
    ];
    for (const [body, t, message] of cases) assert.throws(() => parseStep(body, t), (e: unknown) => e instanceof StepError && message.test(e.message), JSON.stringify(body));
  });
});

describe('the task key and durations', () => {
  it('canonical JSON ignores key order, not values', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } }), canonicalJson({ a: { c: null, d: [1, { e: 3, f: 2 }] }, b: 1 }));
    assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
  });

  it('requeues are Go durations', () => {
    for (const ms of [100, 250, 1000, 1500, 10_000]) assert.equal(parseGoDuration(goDuration(ms)), ms);
  });
});

describe('the ledger', () => {
  it('compacts to the live tasks and ignores a torn last line', async () => {
    const dir = tempDir('gateway-ledger');
    try {
      const req = executeArgs({ uid: 'l', plugin: { ww: { module: 'm.wasm' } } }) as ExecuteRequest;
      const { ledger } = await Ledger.open(dir.path, 50);
      for (let i = 0; i < 200; i++) {
        await ledger.accepted({ id: `t${i}`, key: `k${i}`, attempt: 1, acceptedAtMs: i, request: req });
        await ledger.finished(`t${i}`, i, { phase: 'Succeeded' });
        if (i < 198) await ledger.forgotten(`t${i}`);
      }
      await ledger.accepted({ id: 'running', key: 'kr', attempt: 2, acceptedAtMs: 1, request: req });
      const big = statSync(join(dir.path, LEDGER_FILE)).size;
      const reopened = await Ledger.open(dir.path, 50);
      await ledger.close();
      assert.deepEqual([...reopened.tasks.keys()].sort(), ['running', 't198', 't199']);
      await reopened.ledger.maybeCompact(() => reopened.tasks.values());
      await reopened.ledger.close();
      assert.ok(statSync(join(dir.path, LEDGER_FILE)).size < big / 20, 'compacted');
      appendFileSync(join(dir.path, LEDGER_FILE), '{"t":"accept","id":"torn"');
      const again = await Ledger.open(dir.path, 50);
      assert.deepEqual([...again.tasks.keys()].sort(), ['running', 't198', 't199']);
      await again.ledger.accepted({ id: 'after-torn', key: 'ka', attempt: 1, acceptedAtMs: 2, request: req });
      await again.ledger.close();
      const last = await Ledger.open(dir.path, 50);
      await last.ledger.close();
      assert.ok(last.tasks.has('after-torn'), 'an append after a torn line is read back');
      assert.equal(again.tasks.get('running')?.attempt, 2);
      assert.equal(again.tasks.get('t199')?.result?.phase, 'Succeeded');
    } finally {
      dir.cleanup();
    }
  });
});
