// The AssemblyScript guest SDK's `ww` API, end to end: guest-sdk/test/ww-probe.ts is built with asc
// and each of its roles runs as a process of an in-process Executor (with the `ww` host module).
// Each role prints what it observed; the expected lines are the SDK's documented behaviour.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Executor } from '../../src/executor/index.js';
import { tempDir } from '../cli/helpers.js';
import { buildAs, lines, repoRoot, runGuest, testExecutor } from './helpers.js';
import { runWw } from '../cli/helpers.js';

describe('guest-sdk: the ww API from AssemblyScript', () => {
  const out = tempDir('ww-probe');
  const probe = join(out.path, 'ww-probe.wasm');
  let ex: Executor;
  before(async () => {
    buildAs('guest-sdk/test/ww-probe.ts', probe);
    // A long grace period: the pausable child takes its PAUSE event within it even on a loaded machine.
    ex = await testExecutor({ pauseGraceMs: 5000 });
  });
  after(async () => {
    await ex.close();
    out.cleanup();
  });

  const role = (name: string, ...rest: string[]) => runGuest(ex, probe, ['ww-probe', name, ...rest]);

  test('Process.self(), its pid and kind; a root process starts with an Executor and the Store', async () => {
    const r = await role('self');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), ['pid>0 true', 'self stable true', 'self kind 1', 'executor 2', 'store 5']);
  });

  test('numbers the process does not hold are EBADF: guessed, 0, negative, wrong kind, dropped', async () => {
    const r = await role('forgery');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), [
      'guess EBADF',
      'zero EBADF',
      'negative EBADF',
      'message true',
      'wrong kind EBADF',
      'drop ok',
      'dropped EBADF',
      'drop twice EBADF',
      'receiver after last sender dropped EPIPE',
    ]);
  });

  test('channels: bounded buffer (trySend EAGAIN when full), big and empty messages, handles move, close semantics', async () => {
    const r = await role('channel');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), [
      'send ok',
      'send ok',
      'full trySend EAGAIN',
      'recv one',
      'trySend ok',
      'recv two',
      'recv three',
      'empty tryRecv EAGAIN',
      'send big ok',
      'big intact true',
      'empty message ok 0',
      'send handle ok',
      'moved away true EBADF',
      'got handles 1 same pid true',
      'close sender ok',
      'send after close EPIPE',
      'recv last',
      'recv after close EPIPE',
      'close receiver ok',
      'send to closed EPIPE',
    ]);
  });

  test('spawnSelf with a channel, wait and exit statuses, EDEADLK, ENOEXEC for bad bytes, ENOENT for an unknown cid', async () => {
    const r = await role('spawn');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), [
      'sender moved true',
      'child says its pid is mine true',
      'child 0 normal',
      'after child ended EPIPE',
      'exit child 3 exit: 3 normal false',
      'wait self EDEADLK',
      'bad module ENOEXEC',
      'bad cid ENOENT',
    ]);
  });

  test('spawn from module bytes read from a pre-opened directory, then from its content ID', async () => {
    const hello = readFileSync(join(repoRoot, 'examples', 'hello.wasm'));
    const cid = createHash('sha256').update(hello).digest('hex');
    const r = await runGuest(ex, probe, ['ww-probe', 'spawn-bytes', '/mods/hello.wasm', cid], {
      preopens: [{ hostPath: join(repoRoot, 'examples'), guestPath: '/mods' }],
    });
    assert.equal(r.reason, 'normal', r.stderr);
    // The children's output goes where the parent's goes.
    assert.deepEqual(lines(r.stdout), [
      'hello from C on ww',
      'argv[0] = from-bytes',
      'argv[1] = x',
      'bytes child normal',
      'hello from C on ww',
      'argv[0] = from-cid',
      'argv[1] = y',
      'cid child normal',
    ]);
  });

  test('kill ends a child with `killed` (137); killing it again does nothing', async () => {
    const r = await role('kill');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), ['running EAGAIN', 'kill ok', 'killed 137 killed', 'kill again ok']);
  });

  test('a monitor fires with the exit status and queues one DOWN event for onDown', async () => {
    const r = await role('monitor');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), ['monitor 5 exit: 5', 'DOWN 5', 'down events 1', 'tryWait after exit: 5']);
  });

  test('a linked child that exits abnormally ends its parent with `link: <pid>`', async () => {
    const r = await role('link');
    const printed = lines(r.stdout);
    assert.equal(printed.length, 1, r.stdout);
    const childPid = /^child (\d+)$/.exec(printed[0])?.[1];
    assert.ok(childPid, r.stdout);
    assert.equal(r.reason, `link: ${childPid}`);
    assert.equal(r.code, 137);
  });

  test('after unlink, the child exiting abnormally leaves the parent running', async () => {
    const r = await role('unlink');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), ['link ok', 'unlink ok', 'child exit: 7', 'survived']);
  });

  test('the capability store: set, get typed, missing names, remove, bad names', async () => {
    const r = await role('store');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), [
      'set ok',
      'kind 3',
      'send through stored ok',
      'recv via store',
      'missing ENOENT',
      'remove ok',
      'removed ENOENT',
      'bad name EINVAL',
    ]);
  });

  test('pause and resume reach the child as onPause (with the grace period) and onResume handlers', async () => {
    const r = await role('pause');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), ['child ready', 'pause ok', 'child PAUSE grace 5000', 'resume ok', 'child RESUME', 'child normal']);
  });

  test('limits given to a child (fuel, timeout, memory) end it with their reason; argv and env reach it', async () => {
    const r = await role('limits');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), [
      'fuel limit: cpu',
      'timeout limit: wall',
      'memory limit: memory',
      'child argv print-env|a b env GREETING=hi|EMPTY=',
      'env child normal',
    ]);
  });

  test('under `ww run` without a node, limits given to a child work too (the run is instrumented because the guest imports ww)', async () => {
    const r = await runWw(['run', probe, '--', 'limits']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 3), ['fuel limit: cpu', 'timeout limit: wall', 'memory limit: memory']);
  });

  test('a capability stored by one process is found by another holding the store', async () => {
    const r = await role('store-share');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), ['from child found it', 'child normal']);
  });

  test('waitEvent blocks until an event comes and runs its handler', async () => {
    const r = await role('wait-event');
    assert.equal(r.reason, 'normal', r.stderr);
    assert.deepEqual(lines(r.stdout), ['DOWN 4', 'event kind 3', 'monitor dropped ok']);
  });

  test('a failed .value prints the call, the errno and the host message on stderr and exits 1', async () => {
    const r = await role('value-of-error');
    assert.equal(r.reason, 'exit: 1');
    // The host's own explanation follows the errno (its wording is the host's; it names the number).
    assert.match(r.stderr, /^proc_pid: EBADF \(bad handle or file descriptor\): .*12345.*\n$/);
    assert.equal(r.stdout, '');
  });
});
