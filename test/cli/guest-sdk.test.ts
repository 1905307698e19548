// The AssemblyScript guest SDK (guest-sdk/): build a guest with it and run it under ww.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
