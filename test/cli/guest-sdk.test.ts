// The AssemblyScript guest SDK (guest-sdk/): build a guest with it and run it under ww.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lines, repoRoot, runWw, tempDir } from './helpers.js';

describe('guest-sdk', () => {
  const out = tempDir('sdk');
  const probe = join(out.path, 'sdk-probe.wasm');
  before(() => {
    // The same command guest authors use (see guest-sdk/README.md).
    const r = spawnSync(
      join(repoRoot, 'node_modules', '.bin', 'asc'),
      ['guest-sdk/test/sdk-probe.ts', '--config', 'node_modules/@assemblyscript/wasi-shim/asconfig.json', '-O3', '--debug', '-o', probe],
      { cwd: repoRoot, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `asc failed:\n${r.stderr}`);
  });
  after(() => out.cleanup());

  test('args(), environ(), env(), getenv(), print/println, eprintln and exit() work over WASI', async () => {
    const r = await runWw(['run', '--env', 'GREETING=hi there', '--env', 'Z=last=one', probe, '--', '5', 'wörd'], {
      env: { WW_SURELY_UNSET: 'host value must not leak' },
    });
    assert.equal(r.status, 5, r.stderr);
    assert.equal(r.stderr, 'to stderr\n');
    assert.deepEqual(lines(r.stdout), [
      'argc=3',
      'arg sdk-probe.wasm',
      'arg 5',
      'arg wörd',
      'envc=2',
      'environ GREETING=hi there',
      'environ Z=last=one',
      'env[GREETING]=hi there',
      'env[Z]=last=one',
      'GREETING hi there',
      'WW_SURELY_UNSET (unset)',
      'no newline, then unicode: héllo ✓',
    ]);
  });

  test('an empty environment and exit(0)', async () => {
    const r = await runWw(['run', probe, '--', '0']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lines(r.stdout).includes('envc=0'), r.stdout);
    assert.ok(lines(r.stdout).includes('GREETING (unset)'), r.stdout);
  });
});

// guest-sdk/README.md "Your first guest, from zero", step by step in an empty directory: npm init,
// install AssemblyScript, the WASI shim and the SDK (from this checkout, so no registry is needed),
// write assembly/main.ts, build with the README's asc command, run with ww run (no node: ww run's
// own private executor gives the guest its Process handle).
describe('guest-sdk README: the first guest, from zero', () => {
  const project = tempDir('first-guest');
  after(() => project.cleanup());

  test('npm install, asc and ww run give the promised greeting from the guest\'s own pid', async () => {
    const npm = (...args: string[]) => {
      const r = spawnSync('npm', args, { cwd: project.path, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_offline: 'true' } });
      assert.equal(r.status, 0, `npm ${args.join(' ')}:\n${r.stderr}`);
    };
    npm('init', '-y');
    npm('install', '--save-dev', join(repoRoot, 'node_modules', 'assemblyscript'), join(repoRoot, 'node_modules', '@assemblyscript', 'wasi-shim'));
    npm('install', '--save-dev', join(repoRoot, 'guest-sdk'));
    mkdirSync(join(project.path, 'assembly'));
    writeFileSync(
      join(project.path, 'assembly', 'main.ts'),
      [
        'import { args, println, Process } from "ww-guest-sdk/assembly";',
        '',
        'const me = Process.self();',
        'println("hello from pid " + me.pid.toString() + ", my arguments: " + args().join(" "));',
        '',
      ].join('\n'),
    );
    const asc = spawnSync(
      'npx',
      ['asc', 'assembly/main.ts', '--config', 'node_modules/@assemblyscript/wasi-shim/asconfig.json', '-O3', '--debug', '-o', 'main.wasm'],
      { cwd: project.path, encoding: 'utf8' },
    );
    assert.equal(asc.status, 0, asc.stderr);
    const r = await runWw(['run', 'main.wasm', '--', 'a', 'b'], { cwd: project.path, env: { WW_SOCKET: join(project.path, 'no-node.sock') } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hello from pid 2, my arguments: main.wasm a b\n');
  });
});
