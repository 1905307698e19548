// What a command loads: a local `ww run` no RPC, the node commands no runtime. Start-up time is the
// benchmarks' (bench/cli.ts); this pins down the layering that keeps it low, by watching every module
// Node resolves while the command runs.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { examplePath, repoRoot, tempDir, wwBin } from './helpers.js';

const dir = tempDir('loads');
after(() => dir.cleanup());
const hook = join(dir.path, 'report-loads.mjs');
writeFileSync(
  hook,
  `import { register } from 'node:module';\n` +
    // writeSync: the hook runs on its own thread, whose asynchronous stderr may not be flushed before
    // a fast command exits (seen on Node 24 with ww ps).
    `register('data:text/javascript,' + encodeURIComponent(\`import { writeSync } from 'node:fs';\nexport async function resolve(s, c, next) {\n` +
    `  const r = await next(s, c);\n` +
    `  if (r.url.includes('/dist/')) writeSync(2, 'LOADED ' + r.url.slice(r.url.indexOf('/dist/') + 6) + '\\\\n');\n` +
    `  return r;\n` +
    `}\`));\n`,
);

/** The repository modules a ww command loads, as paths under dist/. */
function loadedBy(args: string[]): string[] {
  const r = spawnSync(process.execPath, ['--import', hook, wwBin, ...args], { cwd: repoRoot, encoding: 'utf8', input: '' });
  const loaded = r.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice('LOADED '.length));
  assert.ok(loaded.includes('cli/main.js'), `the hook saw the command start:\n${r.stderr}`);
  return loaded;
}

test('a local ww run loads no RPC: not the engine, not the generated schema, not the executor\'s servers', () => {
  const loaded = loadedBy(['run', '--socket', join(dir.path, 'no-node.sock'), examplePath('hello.wasm')]);
  assert.ok(loaded.includes('src/executor/local.js'), 'it ran the guest here');
  const rpc = loaded.filter((f) => f.startsWith('src/rpc/') || f.startsWith('src/capnp-gen/') || f === 'src/executor/caps.js' || f === 'src/node/index.js');
  assert.deepEqual(rpc, []);
});

test('the node commands load no runtime (src/wasm) and no executor core, only the words of its wire', () => {
  for (const args of [['ps'], ['kill', '7'], ['wait', '7']]) {
    const loaded = loadedBy([...args, '--socket', join(dir.path, 'no-node.sock')]);
    const runtime = loaded.filter((f) => (f.startsWith('src/wasm/') && f !== 'src/wasm/exit.js') || ['src/executor/index.js', 'src/executor/table.js', 'src/executor/caps.js', 'src/node/index.js'].includes(f));
    assert.deepEqual(runtime, [], args.join(' '));
  }
});

test('ww ps loads none of ww run\'s work, and a local ww run none of ww ps\'s', () => {
  const ps = loadedBy(['ps', '--socket', join(dir.path, 'no-node.sock')]);
  assert.ok(ps.includes('cli/lib/ps-command.js'), 'it ran ww ps');
  assert.deepEqual(ps.filter((f) => f === 'cli/run-command.js' || f.startsWith('cli/commands/')), []);
  const run = loadedBy(['run', '--socket', join(dir.path, 'no-node.sock'), examplePath('hello.wasm')]);
  assert.deepEqual(run.filter((f) => f === 'cli/lib/ps-command.js' || f === 'cli/lib/format.js' || f.startsWith('cli/commands/')), []);
});

test('help and version load no command\'s work: no RPC, no node, no runtime', () => {
  const loaded = loadedBy(['--version']);
  assert.deepEqual(loaded.filter((f) => /^src\/(rpc|capnp-gen|node|wasm\/(runtime|pool))/.test(f)), []);
});
