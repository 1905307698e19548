// What one spawn may carry and what a listing shows of it: a client cannot make the node hold,
// log or hand another client an unbounded argv or env.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { executorErrorFromRpc } from '../../src/executor/rpc.js';
import { reasonFromWire, reasonText } from '../../src/executor/wire.js';
import { OutputMode, StdStream } from '../../src/capnp-gen/ww.rpc.js';
import { LISTED_ARGV_BYTES, MAX_SPAWN_ARG_BYTES, MAX_SPAWN_ARGS } from '../../src/executor/bounds.js';
import { assemble, eventually, helloWasm, psState, sleeperWat, startTestNode, type TestNode } from './helpers.js';

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

test('ps answers a page at a time, in pid order, within a count and a byte bound; the pages together are every process', async () => {
  const own = await startTestNode({ keepEnded: 2000 }); // (ended processes are listed too: keep them all)
  try {
    const wide = 'w'.repeat(LISTED_ARGV_BYTES); // listed at about the cut: ~4 KiB an entry
    const hello = (await own.executor.modules().cache.put({ bytes: helloWasm() })).cid;
    const runs = await Promise.all(Array.from({ length: 1100 }, (_, i) => own.executor.spawn({ spec: { moduleCid: hello, argv: [`h${i}`, wide] } })));
    await Promise.all(runs.map((r) => r.process.wait()));
    // By count: pages of 300 the client asked for.
    const seen: number[] = [];
    let pages = 0;
    for (let after = 0; ; pages++) {
      const page = await own.executor.ps({ after, max: 300 });
      assert.ok(page.processes.length <= 300);
      seen.push(...page.processes.map((p) => p.pid));
      if (!page.more) break;
      after = page.processes[page.processes.length - 1]!.pid;
    }
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'in pid order');
    assert.ok(runs.every((r) => seen.includes(r.pid)), 'every process is on some page');
    assert.equal(pages, Math.floor((seen.length - 1) / 300));
    // By bytes: 1,100 entries of ~4 KiB do not fit one 4 MiB page, whatever the client asks.
    const first = await own.admin.ps({ after: 0, max: 0 });
    assert.ok(first.more && first.processes.length < 1100 && first.processes.length > 500, `first page: ${first.processes.length} entries`);
  } finally {
    await own.close();
  }
});

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
    assert.match(await refusal(small.executor.spawn({ spec: { moduleBytes: wide } })), /^quota: the node's memory budget exhausted: the module needs 3932160 bytes at start: wait for processes to end$/);
    await big.process.kill();
    await eventually('given back', () => small.node.executor.memory.usedBytes === 0);
    assert.equal((await (await small.executor.spawn({ spec: { moduleBytes: wide } })).process.wait()).status.code, 0);
  } finally {
    await small.close();
  }
});

/** A guest that writes `chunks` x 64 KiB to stdout, byte 0 of chunk i being i % 256. */
const chunkWriter = (chunks: number): Promise<Uint8Array> =>
  assemble(`(module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 2)
    (func (export "_start") (local $i i32)
      (i32.store (i32.const 0) (i32.const 65536)) (i32.store (i32.const 4) (i32.const 65536))
      (block $done (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.const ${chunks})))
        (i32.store8 (i32.const 65536) (local.get $i))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))))`);

test('a maximal capture (64 MiB) comes back in pieces that each fit a frame: wait() has the first 4 MiB and the total, output() the rest', async () => {
  const CHUNK = 65536;
  const { process } = await t.executor.spawn({ spec: { moduleBytes: await chunkWriter(1024), stdout: { mode: OutputMode.capture } } });
  const { status } = await process.wait();
  assert.equal(status.code, 0);
  assert.equal(status.stdoutBytes, 64n * 1024n * 1024n);
  assert.equal(status.stdout.length, 4 * 1024 * 1024);
  const pieces = [status.stdout];
  for (let offset = status.stdout.length; offset < Number(status.stdoutBytes); ) {
    const { data } = await process.output({ stream: StdStream.stdout, offset: BigInt(offset), max: 0xffffffff });
    assert.ok(data.length > 0 && data.length <= 4 * 1024 * 1024, `a piece of ${data.length} bytes`);
    pieces.push(data);
    offset += data.length;
  }
  const all = Buffer.concat(pieces);
  assert.equal(all.length, 64 * 1024 * 1024);
  for (let i = 0; i < 1024; i++) assert.equal(all[i * CHUNK], i % 256, `chunk ${i} in place`);
  assert.equal((await process.output({ stream: StdStream.stdout, offset: 1n << 40n, max: 10 })).data.length, 0, 'past the end: empty');
  assert.equal((await process.output({ stream: StdStream.stderr, offset: 0n, max: 10 })).data.length, 0, 'not captured: empty');
});

test('output() before the end is refused; ended processes\' output is kept within a byte bound, oldest dropped first and said so', async () => {
  const small = await startTestNode({ keepOutputBytes: 5 * 1024 * 1024 });
  try {
    const sleeping = await small.executor.spawn({ spec: { moduleBytes: sleeper, stdout: { mode: OutputMode.capture } } });
    assert.match(await refusal(sleeping.process.output({ stream: StdStream.stdout, offset: 0n, max: 10 })), /^bad-request: output: process \d+ is still running/);
    await sleeping.process.kill();
    const three = await chunkWriter(48); // 3 MiB each: two do not fit in 5 MiB
    const first = await small.executor.spawn({ spec: { moduleBytes: three, stdout: { mode: OutputMode.capture } } });
    assert.equal((await first.process.wait()).status.stdoutBytes, 3n * 1024n * 1024n);
    const second = await small.executor.spawn({ spec: { moduleBytes: three, stdout: { mode: OutputMode.capture } } });
    const kept = (await second.process.wait()).status;
    assert.equal(kept.stdoutBytes, 3n * 1024n * 1024n);
    assert.equal(kept.outputDropped, false);
    const dropped = (await first.process.wait()).status;
    assert.equal(dropped.outputDropped, true, 'the older one gave way');
    assert.equal(dropped.stdout.length, 0);
    assert.equal(dropped.code, 0, 'its status stands');
  } finally {
    await small.close();
  }
});

test('captured output counts against the process\'s memory limit (it is memory the guest makes the node hold)', async () => {
  const writer = await chunkWriter(48); // 3 MiB of output, 2 pages of linear memory
  const { process } = await t.executor.spawn({ spec: { moduleBytes: writer, stdout: { mode: OutputMode.capture }, limits: { maxMemoryBytes: 1n << 20n } } });
  const { status } = await process.wait();
  assert.equal(reasonText(reasonFromWire(status.reason)), 'limit: memory');
  assert.ok(status.stdoutBytes < 1n << 20n, `kept ${status.stdoutBytes} bytes`);
  // Discarded output is not held: the same guest within the same limit runs to the end.
  const discarded = await t.executor.spawn({ spec: { moduleBytes: writer, limits: { maxMemoryBytes: 1n << 20n } } });
  assert.equal((await discarded.process.wait()).status.code, 0);
  await eventually('the budget is whole again', () => t.node.executor.memory.usedBytes === 0);
});

test('a process waiting for a worker shows as queued in ps, then runs when one is free', async () => {
  const one = await startTestNode({ poolSize: 1, maxWorkers: 1 });
  try {
    const first = await one.executor.spawn({ spec: { moduleBytes: sleeper } });
    await eventually('the first runs', async () => (await psState(one.executor, first.pid)) === 'running');
    const second = await one.executor.spawn({ spec: { moduleBytes: await assemble(sleeperWat(0n)) } });
    assert.equal(await psState(one.executor, second.pid), 'queued');
    await first.process.kill();
    assert.equal((await second.process.wait()).status.code, 0);
  } finally {
    await one.close();
  }
});
