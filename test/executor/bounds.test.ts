// What one spawn may carry and what a listing shows of it: a client cannot make the node hold,
// log or hand another client an unbounded argv or env.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { executorErrorFromRpc } from '../../src/executor/rpc.js';
import { LISTED_ARGV_BYTES, MAX_SPAWN_ARG_BYTES, MAX_SPAWN_ARGS } from '../../src/executor/bounds.js';
import { assemble, eventually, sleeperWat, startTestNode, type TestNode } from './helpers.js';

let t: TestNode;
let sleeper: Uint8Array;
const logged: string[] = [];
before(async () => {
  t = await startTestNode({ log: (line) => logged.push(line) });
  sleeper = await assemble(sleeperWat(60_000_000_000n));
});
after(() => t.close());

async function refusal(p: PromiseLike<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const err = executorErrorFromRpc(e);
    return err ? `${err.code}: ${err.message}` : `not an executor refusal: ${(e as Error).message}`;
  }
  throw new Error('not refused');
}

test('argv and env past their bounds are refused, saying the size and the bound', async () => {
  const huge = 'x'.repeat(MAX_SPAWN_ARG_BYTES);
  assert.match(await refusal(t.executor.spawn({ spec: { moduleBytes: sleeper, argv: ['s', huge] } })), /^bad-request: spawn: argv and env take \d+ bytes, more than the 1048576/);
  assert.match(await refusal(t.executor.spawn({ spec: { moduleBytes: sleeper, env: [{ key: 'BIG', value: huge }] } })), /^bad-request: .*more than the 1048576/);
  const many = Array.from({ length: MAX_SPAWN_ARGS + 1 }, () => 'a');
  assert.match(await refusal(t.executor.spawn({ spec: { moduleBytes: sleeper, argv: many } })), /^bad-request: spawn: argv and env have 16385 entries/);
  assert.equal(t.node.executor.table.liveCount, 0, 'nothing was started');
});

test('ps shows a cut argv (so its reply stays bounded); info has all of it; the log line is cut too', async () => {
  const long = 'é'.repeat(MAX_SPAWN_ARG_BYTES / 2 - 16); // two bytes each: near the bound
  const procs = await Promise.all([0, 1, 2].map(async (i) => await t.executor.spawn({ spec: { moduleBytes: sleeper, argv: [`s${i}`, long, 'after'] } })));
  try {
    const listed = (await t.executor.ps()).processes;
    for (const p of procs) {
      const argv = listed.find((l) => l.pid === p.pid)?.argv ?? [];
      assert.match(argv[0] ?? '', /^s\d$/);
      assert.ok(Buffer.byteLength(argv.join('')) <= LISTED_ARGV_BYTES + 32, `listed argv of ${Buffer.byteLength(argv.join(''))} bytes`);
      assert.ok(argv[1]!.endsWith('…') && !argv[1]!.includes('\uFFFD'), 'cut on a character boundary and marked');
      assert.equal(argv[2], '(1 more)');
      assert.deepEqual((await p.process.info()).info.argv, [argv[0], long, 'after'], 'info: the whole argv');
    }
    const adminListed = (await t.admin.ps()).processes.find((l) => l.pid === procs[0]!.pid);
    assert.ok(Buffer.byteLength((adminListed?.argv ?? []).join('')) <= LISTED_ARGV_BYTES + 32);
    const startLine = logged.find((l) => l.startsWith(`start pid=${procs[0]!.pid} `)) ?? '';
    assert.ok(startLine.length > 0 && startLine.length < LISTED_ARGV_BYTES * 2, `log line of ${startLine.length} characters`);
  } finally {
    for (const p of procs) await p.process.kill();
  }
});

test('the node\'s memory budget holds every principal\'s processes together: past it a spawn is refused, saying so', async () => {
  const PAGE = 65536;
  const small = await startTestNode({ memoryBytes: 150 * PAGE });
  try {
    const big = await small.executor.spawn({ spec: { moduleBytes: await assemble(sleeperWat(60_000_000_000n, { grow: 100 })) } });
    await eventually('grown', () => small.node.executor.memory.usedBytes === 101 * PAGE);
    // The owner's own budget (half the machine) has room; the node's has not.
    const wide = await assemble(sleeperWat(0n, { pages: 60 }));
    assert.match(await refusal(small.executor.spawn({ spec: { moduleBytes: wide } })), /^quota: the node's memory budget exhausted: the module needs 3932160 bytes at start and 6619136 of 9830400 bytes are in use/);
    await big.process.kill();
    await eventually('given back', () => small.node.executor.memory.usedBytes === 0);
    assert.equal((await (await small.executor.spawn({ spec: { moduleBytes: wide } })).process.wait()).status.code, 0);
  } finally {
    await small.close();
  }
});
