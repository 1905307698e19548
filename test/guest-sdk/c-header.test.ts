// guest-sdk/include/ww.h: a C guest (guest-sdk/test/ww-probe.c) built with clang + wasi-libc calls
// every kind of `ww` import through the header, its struct layouts (spawn spec, event) included,
// and runs through an in-process Executor. The C toolchain is required (scripts/setup.sh).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Executor } from '../../src/executor/index.js';
import { tempDir } from '../cli/helpers.js';
import { lines, repoRoot, runGuest, testExecutor } from './helpers.js';

/** Compiles and links a C guest the way scripts/build-examples.sh does. */
function buildC(source: string, out: string, dir: string): void {
  const clang = process.env.CLANG ?? 'clang';
  const object = join(dir, 'probe.o');
  for (const args of [
    ['--target=wasm32-wasi', '--sysroot=/usr', '-I', 'guest-sdk/include', '-Wall', '-Werror', '-O2', '-c', '-o', object, source],
    ['--target=wasm32-wasi', '--sysroot=/usr', '-Wl,--strip-debug', '-o', out, object],
  ]) {
    const r = spawnSync(clang, args, { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.error, undefined, `${clang} did not run (${r.error?.message}); run scripts/setup.sh (apt: clang lld wasi-libc)`);
    assert.equal(r.status, 0, `${clang} ${args.join(' ')}:\n${r.stderr}`);
  }
}

describe('guest-sdk: ww.h from C', () => {
  const out = tempDir('ww-probe-c');
  const probe = join(out.path, 'ww-probe-c.wasm');
  let ex: Executor;
  before(async () => {
    buildC('guest-sdk/test/ww-probe.c', probe, out.path);
    // A long grace period: the pausable child polls its PAUSE event within it even under load.
    ex = await testExecutor({ pauseGraceMs: 5000 });
  });
  after(async () => {
    await ex.close();
    out.cleanup();
  });

  test('handles, channels, store, spawn spec (argv, env, limits), monitors and events, kill, pause work through ww.h', async () => {
    const r = await runGuest(ex, probe, ['ww-probe-c']);
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), [
      'pid>0 1 executor 1 store 1',
      'self kind 1',
      'dup ok',
      'drop ok then EBADF',
      'forged EBADF',
      'last_error says something 1',
      'chan_create ok',
      'send ok',
      'full EAGAIN',
      'peek EMSGSIZE len 5',
      'recv ok hello',
      'empty EAGAIN',
      'send handle ok',
      'recv handle ok count 1 same pid 1',
      'store_set ok',
      'store_get ok missing ENOENT',
      'child env GREETING=hi from C argv[2]=two words',
      'spawn spec ok, env child normal',
      'fuel child 137 limit: cpu',
      'timeout child 137 limit: wall',
      'bad spec size EINVAL',
      'bad module ENOEXEC',
      'monitor ok',
      'monitor_wait ok 5 exit: 5',
      'event ok kind 3 same monitor 1 value 5',
      'running EAGAIN',
      'kill ok',
      'killed 137 killed',
      'wait self EDEADLK',
      'child ready',
      'pause ok',
      'child PAUSE grace 5000',
      'resume ok',
      'child RESUME',
      'pausable child normal',
    ]);
  });
});
