// The fast path (cli/README.md, "Start-up"): `ww run` and `ww ps` read their ordinary command lines
// without oclif. Each command line here runs twice, through bin/ww.js and through main() with the fast
// path off (oclif reads it), and both must answer the same: exit status, stdout, stderr. A hook that
// watches what Node resolves says which path bin/ww.js took, so a command line that should be fast
// and silently fell back to oclif (or the reverse) fails too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot, wwBin } from '../cli/helpers.js';
import { assembleFixture, examplePath, startNodeProcess, tempDir, type NodeUnderTest, type WwResult } from './helpers.js';

const dir = tempDir('fast-path');
const noNode = join(dir.path, 'no-node.sock');
const hello = examplePath('hello.wasm');
let node: NodeUnderTest;
let trap: string;

before(async () => {
  node = await startNodeProcess();
  trap = await assembleFixture('trap', dir.path);
});
after(async () => {
  await node.dispose();
  dir.cleanup();
});

// Says on stderr whether @oclif/core was loaded (writeSync: the hook runs on its own thread).
const hook = join(dir.path, 'report-oclif.mjs');
writeFileSync(
  hook,
  `import { register } from 'node:module';\n` +
    `register('data:text/javascript,' + encodeURIComponent(\`import { writeSync } from 'node:fs';\nlet told = false;\n` +
    `export async function resolve(s, c, next) {\n` +
    `  const r = await next(s, c);\n` +
    `  if (!told && r.url.includes('/@oclif/core/')) { told = true; writeSync(2, 'LOADED-OCLIF\\\\n'); }\n` +
    `  return r;\n` +
    `}\`));\n`,
);
// bin/ww.js with the fast path off.
const oclifOnly = join(dir.path, 'oclif-only.mjs');
writeFileSync(
  oclifOnly,
  `const { main } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'cli', 'main.js')).href)});\n` +
    `process.exit(await main(process.argv.slice(2), { fastPath: false }));\n`,
);

function run(args: string[], env: Record<string, string>, script: string[]): Promise<WwResult> {
  return new Promise((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, WW_CACHE_DIR: join(dir.path, 'cache'), ...env };
    delete childEnv.WW_DEBUG;
    if (!('WW_SOCKET' in env)) delete childEnv.WW_SOCKET;
    const child = spawn(process.execPath, [...script, ...args], { cwd: repoRoot, env: childEnv, stdio: 'pipe' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (status, signal) =>
      resolve({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
    child.stdin.end();
  });
}

/** What differs between two runs of one command line: a `ps` table's ages, a port 0 pick. */
const steady = (text: string): string => text.replace(/\d+(ms|s|m|h|d) ago/g, 'N ago').replace(/(listening on \S+:)\d+ /g, '$1PORT ');

/** Runs `args` both ways; asserts the same answer, and that bin/ww.js took the fast path iff `fast`. */
async function samePath(args: string[], fast: boolean, env: Record<string, string> = {}): Promise<WwResult> {
  const [viaBin, viaOclif] = await Promise.all([run(args, env, ['--import', hook, wwBin]), run(args, env, [oclifOnly])]);
  const loadedOclif = viaBin.stderr.includes('LOADED-OCLIF\n');
  const stderr = viaBin.stderr.replace('LOADED-OCLIF\n', '');
  const label = `ww ${args.join(' ')}`;
  assert.equal(loadedOclif, !fast, `${label}: ${fast ? 'should not load' : 'should fall back to'} oclif`);
  assert.deepEqual(
    { status: viaBin.status, stdout: steady(viaBin.stdout), stderr: steady(stderr) },
    { status: viaOclif.status, stdout: steady(viaOclif.stdout), stderr: steady(viaOclif.stderr) },
    label,
  );
  return { ...viaBin, stderr };
}

test('ww run: ordinary command lines take the fast path and answer as oclif does', async () => {
  const local = { WW_SOCKET: noNode };
  assert.equal((await samePath(['run', hello], true, local)).status, 0);
  assert.equal((await samePath(['run', hello, '--', '--help', 'one'], true, local)).status, 0);
  await samePath(['run', '--env', 'A=1', '--env=B=2', '--dir', `${examplePath()}::/ex::ro`, hello], true, local);
  await samePath(['run', '--fuel', '1_000_000', '--max-memory=16M', '--timeout', '5s', hello], true, local);
  await samePath(['run', '--socket', noNode, '--tcplisten=127.0.0.1:0', '--listen', '127.0.0.1:0', hello], true, { WW_SOCKET: '' });
  assert.equal((await samePath(['run', trap], true, local)).status, 134);
  assert.equal((await samePath(['run', join(dir.path, 'missing.wasm')], true, local)).status, 2);
  assert.equal((await samePath(['run', '--node', hello], true, local)).status, 1);
  // On the node: by --socket and by $WW_SOCKET.
  assert.equal((await samePath(['run', '--node', '--socket', node.socketPath, hello], true)).status, 0);
  assert.equal((await samePath(['run', hello], true, { WW_SOCKET: node.socketPath })).status, 0);
});

test('ww run: help and every bad command line fall back to oclif, with the same lines and statuses', async () => {
  const local = { WW_SOCKET: noNode };
  for (const args of [
    ['run', '--bogus', hello],
    ['run', '-x', hello],
    ['run', '--fuel', '0', hello],
    ['run', '--timeout', '1s', '--timeout', '2s', hello],
    ['run', '--env', 'X', hello],
    ['run', '--env=', hello],
    ['run', '--dir', join(dir.path, 'none'), hello],
    ['run', '--dir', `${dir.path}::/d::rx`, hello],
    ['run', '--listen', 'nowhere', hello],
    ['run', '--max-memory', 'lots', hello],
    ['run', '--node=yes', hello],
    ['run', '--socket'],
    ['run', '--socket', 'x.wasm'],
    ['run'],
  ]) {
    const result = await samePath(args, false, local);
    assert.equal(result.status, 2, args.join(' '));
    assert.match(result.stderr, /^ww: /, args.join(' '));
  }
  for (const args of [['run', '--help'], ['run', '-h'], ['run', '--help', hello]]) {
    const result = await samePath(args, false, local);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /USAGE/);
  }
});

test('ww ps: ordinary command lines take the fast path and answer as oclif does', async () => {
  const table = await samePath(['ps', '--socket', node.socketPath], true);
  assert.match(table.stdout, /^PID\s+PPID\s+STATE/);
  await samePath(['ps', '--tree'], true, { WW_SOCKET: node.socketPath });
  const json = await samePath(['ps', `--socket=${node.socketPath}`, '--json'], true);
  assert.equal((JSON.parse(json.stdout) as { pid: number }[])[0]!.pid, 1);
  assert.equal((await samePath(['ps'], true, { WW_SOCKET: noNode })).status, 1);
  // Both switches read fine; their clash is the command's to refuse, on either path.
  assert.equal((await samePath(['ps', '--json', '--tree'], true, { WW_SOCKET: node.socketPath })).status, 2);
});

test('ww ps: help and every bad command line fall back to oclif, with the same lines and statuses', async () => {
  const env = { WW_SOCKET: node.socketPath };
  for (const args of [['ps', '--bogus'], ['ps', '--json=1'], ['ps', '--socket'], ['ps', 'extra'], ['ps', '-j']]) {
    const result = await samePath(args, false, env);
    assert.equal(result.status, 2, args.join(' '));
  }
  // oclif takes a repeated switch; the fast path leaves it to oclif rather than guess.
  assert.equal((await samePath(['ps', '--json', '--json'], false, env)).status, 0);
  for (const args of [['ps', '--help'], ['ps', '-h']]) assert.match((await samePath(args, false, env)).stdout, /USAGE/);
});
