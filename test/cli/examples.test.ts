// The committed examples: the build script reproduces them byte for byte, and each runs under ww
// with the output examples/README.md promises.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { examplePath, lines, repoRoot, runWw, tempDir, wwBin } from './helpers.js';

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

/** Each `$ npx ww run ...` line in examples/README.md's code blocks, with the lines shown after it. */
function readmeRuns(): { command: string; shown: string[] }[] {
  const text = readFileSync(join(repoRoot, 'examples', 'README.md'), 'utf8');
  const runs: { command: string; shown: string[] }[] = [];
  for (const block of text.matchAll(/^```\n([\s\S]*?)^```$/gm)) {
    let current: { command: string; shown: string[] } | undefined;
    for (const line of lines(block[1])) {
      if (line.startsWith('$ ')) {
        current = { command: line.slice(2).replace(/\s+#.*$/, ''), shown: [] };
        if (current.command.startsWith('npx ww run ')) runs.push(current);
      } else {
        current?.shown.push(line);
      }
    }
  }
  return runs;
}

describe('examples/README.md shows what ww prints', () => {
  const home = tempDir('readme');
  after(() => home.cleanup());

  // Runs in the foreground, without a node: each gives exactly the lines shown (stdout and stderr, as
  // a terminal shows them). The node and socket examples are checked below and in test/examples/.
  const foreground = readmeRuns().filter(({ command }) => !/&\s*$|--detach|--listen/.test(command));
  test('the README has foreground examples to check', () => assert.ok(foreground.length >= 8, String(foreground.length)));
  for (const { command, shown } of foreground) {
    test(command, () => {
      const script = `{ ${command.replace(/^npx ww /, 'node "$WW" ')}; } 2>&1`;
      const env: NodeJS.ProcessEnv = { ...process.env, WW: wwBin, WW_CACHE_DIR: join(home.path, 'cache'), WW_SOCKET: join(home.path, 'no-node.sock') };
      delete env.WW_DEBUG;
      const r = spawnSync('bash', ['-c', script], { cwd: repoRoot, env, encoding: 'utf8' });
      const expected = [...shown];
      while (expected.at(-1) === '') expected.pop(); // the blank line before the next command
      assert.deepEqual(lines(r.stdout), expected);
    });
  }

  test('echo-go: --listen with a port prints no ww line; port 0 prints one naming the port; the README shows the same', async () => {
    // What the README shows ww printing for each of its --listen examples.
    const shownWwLines = new Map(
      readmeRuns()
        .filter(({ command }) => command.includes('--listen'))
        .map(({ command, shown }) => [/--listen (\S+)/.exec(command)![1], shown.filter((line) => line.startsWith('ww: '))]),
    );
    assert.deepEqual(shownWwLines.get('127.0.0.1:7000'), []);
    assert.match(shownWwLines.get('127.0.0.1:0')?.join('\n') ?? '', /^ww: listening on 127\.0\.0\.1:\d+ \(fd 3\)$/);

    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as { port: number }).port;
    await new Promise((resolve) => free.close(resolve));
    for (const listen of [`127.0.0.1:${port}`, '127.0.0.1:0']) {
      // echo.wasm's argument: serve one connection, then exit.
      const child = spawn(process.execPath, [wwBin, 'run', '--listen', listen, examplePath('echo-go', 'echo.wasm'), '--', '1'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      const ready = new Promise<void>((resolve) =>
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes('echo: listening on fd 3')) resolve();
        }),
      );
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      await ready;
      const got = /^ww: listening on 127\.0\.0\.1:(\d+) \(fd 3\)$/m.exec(stderr);
      const target = listen.endsWith(':0') ? Number(got?.[1]) : port;
      const echoed = await new Promise<string>((resolve, reject) => {
        let text = '';
        const s = connect({ host: '127.0.0.1', port: target });
        s.on('data', (d: Buffer) => (text += d.toString()));
        s.on('end', () => resolve(text));
        s.on('error', reject);
        s.end('hello\n');
      });
      assert.equal(await closed, 0, stderr);
      assert.equal(echoed, 'hello\n');
      const wwLines = lines(stderr).filter((line) => line.startsWith('ww: '));
      if (listen.endsWith(':0')) assert.deepEqual(wwLines, [`ww: listening on 127.0.0.1:${target} (fd 3)`]);
      else assert.deepEqual(wwLines, [], stderr);
      assert.match(stderr, /^echo: listening on fd 3$/m);
    }
  });
});
