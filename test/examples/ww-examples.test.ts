// The examples that use the `ww` host module (examples/tree, examples/pipeline, examples/ww-c):
// their build is reproducible, they print what examples/README.md promises through an in-process
// Executor, and they run on a node through `ww run` (the tree showing in `ww ps` with its PPIDs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Executor } from '../../src/executor/index.js';
import { examplePath, tempDir } from '../cli/helpers.js';
import { eventually, psJson, runWw, startNodeProcess, type NodeUnderTest } from '../cli-node/helpers.js';
import { lines, repoRoot, runGuest, testExecutor } from '../guest-sdk/helpers.js';

/** What examples/wordcount prints for examples/wordcount/data under /data (examples/README.md). */
const WORDCOUNT_OF_DATA = [
  '      2       9      44 /data/fox.txt',
  '      5      39     198 /data/hamlet.txt',
  '      0       8      37 /data/no-newline.txt',
  '      7      56     279 total',
];

const TREE = examplePath('tree', 'tree.wasm');
const PIPELINE = examplePath('pipeline', 'pipeline.wasm');
const SQUARES = examplePath('ww-c', 'squares.wasm');
const WORDCOUNT = examplePath('wordcount', 'wordcount.wasm');
const DATA = [{ hostPath: examplePath('wordcount', 'data'), guestPath: '/data' }];

describe('npm run build:examples -- tree pipeline ww-c', () => {
  const out = tempDir('ww-examples-build');
  after(() => out.cleanup());

  test('rebuilds the committed modules byte for byte', () => {
    const r = spawnSync('bash', ['scripts/build-examples.sh', 'tree', 'pipeline', 'ww-c'], {
      cwd: repoRoot,
      env: { ...process.env, OUT_DIR: out.path },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    for (const file of ['examples/tree/tree.wasm', 'examples/pipeline/pipeline.wasm', 'examples/ww-c/squares.wasm']) {
      const rebuilt = readFileSync(join(out.path, file));
      assert.ok(rebuilt.equals(readFileSync(join(repoRoot, file))), `${file}: rebuilt module differs from the committed one; run npm run build:examples and commit`);
    }
  });

  test('an unknown example name is refused', () => {
    const r = spawnSync('bash', ['scripts/build-examples.sh', 'no-such-example'], { cwd: repoRoot, env: { ...process.env, OUT_DIR: out.path }, encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no example named no-such-example/);
  });
});

describe('the ww examples through an Executor', () => {
  let ex: Executor;
  const scratch = tempDir('ww-examples-data');
  before(async () => {
    ex = await testExecutor();
  });
  after(async () => {
    await ex.close();
    scratch.cleanup();
  });

  test('tree: N linked children each send their result over the channel; the parent prints them in order', async () => {
    const r = await runGuest(ex, TREE, ['tree', '4']);
    assert.equal(r.reason, 'normal', r.stderr);
    const out = lines(r.stdout);
    assert.equal(out.length, 6, r.stdout);
    const parent = /^parent (\d+): spawned 4 children, linked to each$/.exec(out[0]);
    assert.ok(parent, out[0]);
    const fib = [55, 89, 144, 233];
    const pids = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const m = new RegExp(`^child ${i} \\(pid (\\d+)\\): fib\\(${10 + i}\\) = ${fib[i]}$`).exec(out[1 + i]);
      assert.ok(m, out[1 + i]);
      pids.add(Number(m[1]));
    }
    assert.equal(pids.size, 4, 'each child is its own process');
    assert.ok(!pids.has(Number(parent[1])));
    assert.equal(out[5], '4 results; 4 of 4 children ended normally');
    // The children were children of the tree process.
    for (const pid of pids) assert.equal(ex.table.get(pid)?.ppid, Number(parent[1]));
  });

  test('tree: a bad N gives its usage and exit 2', async () => {
    const r = await runGuest(ex, TREE, ['tree', '0']);
    assert.equal(r.reason, 'exit: 2');
    assert.equal(r.stderr, 'usage: tree [N (1-100) [LINGER_MS]]\n');
  });

  test('pipeline prints exactly what wordcount prints for the example data', async () => {
    const wordcount = await runGuest(ex, WORDCOUNT, ['wordcount.wasm', '/data'], { preopens: DATA });
    assert.equal(wordcount.reason, 'normal', wordcount.stderr);
    const pipeline = await runGuest(ex, PIPELINE, ['pipeline.wasm', '/data'], { preopens: DATA });
    assert.equal(pipeline.reason, 'normal', pipeline.stderr);
    assert.equal(pipeline.stdout, wordcount.stdout);
    assert.equal(lines(pipeline.stdout).at(-1), '      7      56     279 total');
  });

  test('pipeline: words cut by chunk borders count once, for any chunk size and number of mappers', async () => {
    const wordcount = await runGuest(ex, WORDCOUNT, ['wordcount.wasm', '/data'], { preopens: DATA });
    for (const [mappers, chunk] of [['1', '1'], ['3', '2'], ['2', '5'], ['4', '7'], ['8', '64']]) {
      const r = await runGuest(ex, PIPELINE, ['pipeline.wasm', '/data', mappers, chunk], { preopens: DATA });
      assert.equal(r.reason, 'normal', r.stderr);
      assert.equal(r.stdout, wordcount.stdout, `${mappers} mappers, ${chunk}-byte chunks`);
    }
  });

  test('pipeline: a larger directory (several 64 KiB chunks per file, empty and hidden files) matches wordcount', async () => {
    const dir = join(scratch.path, 'text');
    mkdirSync(dir);
    let seed = 7;
    const word = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return ['alpha', 'be', 'c', 'délta', 'epsilon\t', 'ζ', ' ', '\n', 'x\r\n', 'y\f'][seed % 10];
    };
    for (const [name, words] of [['big.txt', 60_000], ['medium.txt', 9_000], ['small.txt', 3]] as const) {
      writeFileSync(join(dir, name), Array.from({ length: words }, word).join(' '));
    }
    writeFileSync(join(dir, 'empty.txt'), '');
    writeFileSync(join(dir, '.hidden'), 'not counted');
    mkdirSync(join(dir, 'subdir'));
    const preopens = [{ hostPath: dir, guestPath: '/text' }];
    const wordcount = await runGuest(ex, WORDCOUNT, ['wordcount.wasm', '/text'], { preopens });
    assert.equal(wordcount.reason, 'normal', wordcount.stderr);
    assert.equal(lines(wordcount.stdout).length, 5, wordcount.stdout); // 4 files and the total
    for (const chunk of ['65536', '1000000']) {
      const r = await runGuest(ex, PIPELINE, ['pipeline.wasm', '/text', '3', chunk], { preopens });
      assert.equal(r.reason, 'normal', r.stderr);
      assert.equal(r.stdout, wordcount.stdout, `${chunk}-byte chunks`);
    }
    const tooBig = await runGuest(ex, PIPELINE, ['pipeline.wasm', '/text', '3', '1000001'], { preopens });
    assert.equal(tooBig.reason, 'exit: 2');
    assert.equal(tooBig.stderr, 'pipeline: MAPPERS must be 1-64 and CHUNK_BYTES 1-1000000\n');
  });

  test('pipeline without its directory pre-opened says so and exits 1', async () => {
    const r = await runGuest(ex, PIPELINE, ['pipeline.wasm', '/data']);
    assert.equal(r.reason, 'exit: 1');
    assert.match(r.stderr, /^pipeline: cannot list \/data: .*is it pre-opened with --dir\?/);
  });

  test('ww-c (C, ww.h): a child squares numbers sent over one channel and answers over another', async () => {
    const r = await runGuest(ex, SQUARES, ['squares.wasm', '1', '2', '3', '99999']);
    assert.equal(r.reason, 'normal', r.stderr);
    const out = lines(r.stdout);
    const m = /^parent (\d+): spawned child (\d+)$/.exec(out[0]);
    assert.ok(m, out[0]);
    assert.deepEqual(out.slice(1), [
      '1 squared is 1',
      '2 squared is 4',
      '3 squared is 9',
      '99999 squared is 9999800001',
      `child ${m[2]} ended: normal (exit code 0)`,
    ]);
  });
});

describe('the ww examples under ww run without a node (a private executor)', () => {
  // A socket where no node answers: ww run must not find the user's own node.
  const nowhere = tempDir('no-node');
  after(() => nowhere.cleanup());
  const ww = (...args: string[]) => runWw(args, { env: { WW_SOCKET: join(nowhere.path, 'node.sock') } });

  test('tree, pipeline and ww-c print what examples/README.md shows', async () => {
    const tree = await ww('run', 'examples/tree/tree.wasm', '--', '3');
    assert.equal(tree.status, 0, tree.stderr);
    assert.deepEqual(lines(tree.stdout), [
      'parent 2: spawned 3 children, linked to each',
      'child 0 (pid 3): fib(10) = 55',
      'child 1 (pid 4): fib(11) = 89',
      'child 2 (pid 5): fib(12) = 144',
      '3 results; 3 of 3 children ended normally',
    ]);
    const pipeline = await ww('run', '--dir', 'examples/wordcount/data::/data', 'examples/pipeline/pipeline.wasm', '--', '/data', '3');
    assert.equal(pipeline.status, 0, pipeline.stderr);
    assert.deepEqual(lines(pipeline.stdout), WORDCOUNT_OF_DATA);
    const squares = await ww('run', 'examples/ww-c/squares.wasm', '--', '3', '12');
    assert.equal(squares.status, 0, squares.stderr);
    assert.deepEqual(lines(squares.stdout), ['parent 2: spawned child 3', '3 squared is 9', '12 squared is 144', 'child 3 ended: normal (exit code 0)']);
  });

  test('pipeline without --dir says what is missing and exits 1', async () => {
    const r = await ww('run', 'examples/pipeline/pipeline.wasm', '--', '/data');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^pipeline: cannot list \/data: .*is it pre-opened with --dir\?\)\n$/);
  });
});

describe('the ww examples on a node (ww start, then ww run)', () => {
  let node: NodeUnderTest;
  before(async () => {
    node = await startNodeProcess();
  });
  after(async () => {
    await node?.dispose();
  });
  const ww = (...args: string[]) => runWw(args, { env: { WW_SOCKET: node.socketPath } });

  test('ww run --node runs tree, pipeline and ww-c as on the README', async () => {
    const tree = await ww('run', '--node', 'examples/tree/tree.wasm', '--', '3');
    assert.equal(tree.status, 0, tree.stderr);
    assert.equal(lines(tree.stdout).at(-1), '3 results; 3 of 3 children ended normally');
    const pipeline = await ww('run', '--node', '--dir', 'examples/wordcount/data::/data', 'examples/pipeline/pipeline.wasm', '--', '/data');
    assert.equal(pipeline.status, 0, pipeline.stderr);
    assert.deepEqual(lines(pipeline.stdout), WORDCOUNT_OF_DATA);
    const squares = await ww('run', '--node', 'examples/ww-c/squares.wasm', '--', '12');
    assert.equal(squares.status, 0, squares.stderr);
    assert.ok(lines(squares.stdout).includes('12 squared is 144'), squares.stdout);
  });

  test('a lingering tree shows in ww ps with the children under the parent; killing the parent ends them all', async () => {
    const started = await ww('run', '--detach', 'examples/tree/tree.wasm', '--', '3', '600000');
    assert.equal(started.status, 0, started.stderr);
    const parent = Number(started.stdout.trim());
    assert.ok(parent > 1, started.stdout);
    const children = await eventually('three running children of the tree', async () => {
      const ps = psJson(await ww('ps', '--json'));
      const kids = ps.filter((p) => p.ppid === parent && p.state === 'running');
      return kids.length === 3 ? kids : undefined;
    });
    assert.deepEqual(children.map((c) => c.argv.slice(0, 3)).sort(), [['tree', 'child', '0'], ['tree', 'child', '1'], ['tree', 'child', '2']]);
    const tree = await ww('ps', '--tree');
    assert.equal(tree.status, 0, tree.stderr);
    for (const c of children) assert.match(tree.stdout, new RegExp(`^\\s*${c.pid}\\s+${parent}\\s+running .*\\\\_ tree child`, 'm'));

    const killed = await ww('kill', String(parent));
    assert.equal(killed.status, 0, killed.stderr);
    const ended = await eventually('the tree ended', async () => {
      const ps = psJson(await ww('ps', '--json'));
      const all = ps.filter((p) => p.pid === parent || p.ppid === parent);
      return all.every((p) => p.state !== 'running') ? all : undefined;
    });
    assert.equal(ended.length, 4);
    for (const p of ended) assert.deepEqual(p.reason, { kind: 'killed' }, JSON.stringify(p));
  });
});
