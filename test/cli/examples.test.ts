// The committed examples: the build script reproduces them byte for byte, and each runs under ww
// with the output examples/README.md promises.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { examplePath, lines, repoRoot, runWw, tempDir } from './helpers.js';

const BUILT = [
  'examples/hello.wasm',
  'examples/hello-c/hello.wasm',
  'examples/hello-as/hello.wasm',
  'examples/wordcount/wordcount.wasm',
  'examples/cpu-loop/cpu-loop.wasm',
  'examples/echo-go/echo.wasm',
];

describe('npm run build:examples', () => {
  const out = tempDir('build');
  after(() => out.cleanup());

  test('rebuilds every committed example byte for byte (the build is deterministic)', () => {
    const r = spawnSync('bash', ['scripts/build-examples.sh'], { cwd: repoRoot, env: { ...process.env, OUT_DIR: out.path }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const file of BUILT) {
      const rebuilt = readFileSync(join(out.path, file));
      const committed = readFileSync(join(repoRoot, file));
      assert.ok(rebuilt.equals(committed), `${file}: rebuilt module differs from the committed one; run npm run build:examples and commit`);
    }
  });
});

/** The checksum examples/cpu-loop/cpu-loop.c computes, in BigInt arithmetic. */
function cpuLoopChecksum(rounds: number): string {
  const mask = (1n << 64n) - 1n;
  let x = 0x9e3779b97f4a7c15n;
  let sum = 0n;
  for (let i = 0; i < rounds; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & mask;
    sum = (sum ^ (x >> 29n) ^ ((sum << 7n) & mask) ^ (sum >> 3n)) & mask;
  }
  return sum.toString(16).padStart(16, '0');
}

describe('the examples run under ww run', () => {
  test('hello-c greets and prints its arguments', async () => {
    const r = await runWw(['run', examplePath('hello-c', 'hello.wasm'), '--', 'one', 'two']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['hello from C on ww', 'argv[0] = hello.wasm', 'argv[1] = one', 'argv[2] = two']);
  });

  test('hello-as (guest SDK) greets and prints its arguments and the given environment', async () => {
    const r = await runWw(['run', '--env', 'NAME=ww', examplePath('hello-as', 'hello.wasm'), '--', 'one']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['hello from AssemblyScript on ww', 'argv[0] = hello.wasm', 'argv[1] = one', 'env NAME=ww']);
  });

  test('wordcount counts the files of the pre-opened example data like wc', async () => {
    const r = await runWw(['run', '--dir', 'examples/wordcount/data::/data', 'examples/wordcount/wordcount.wasm', '--', '/data']);
    assert.equal(r.status, 0, r.stderr);
    // Counts of the committed data files (each checked with `wc`).
    assert.deepEqual(lines(r.stdout), [
      '      2       9      44 /data/fox.txt',
      '      5      39     198 /data/hamlet.txt',
      '      0       8      37 /data/no-newline.txt',
      '      7      56     279 total',
    ]);
  });

  test('wordcount without an argument prints its usage and exits 2', async () => {
    const r = await runWw(['run', 'examples/wordcount/wordcount.wasm']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'usage: wordcount.wasm DIR\n');
  });

  test('cpu-loop prints the checksum of every round', async () => {
    for (const rounds of [1, 1000, 54321]) {
      const r = await runWw(['run', 'examples/cpu-loop/cpu-loop.wasm', '--', String(rounds)]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `rounds ${rounds} checksum ${cpuLoopChecksum(rounds)}\n`);
    }
  });
});
