// Sandbox escapes: every way out of a pre-opened directory must fail, the host
// file outside must stay unread and unchanged, and nothing may be created
// outside. Each test also proves the legitimate, in-sandbox counterpart works,
// so no test can pass by everything failing.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fsModule, { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { cleanup, probe, probe1, tempDir } from './harness.js';

const EPERM = 63;
const ELOOP = 32;

let base: string; // holds root/ (pre-opened) and outside/
let root: string;
let outside: string;
let secret: string;

beforeEach(() => {
  base = tempDir('ww-sandbox-');
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(outside);
  secret = join(outside, 'secret.txt');
  writeFileSync(secret, 'SECRET');
  writeFileSync(join(root, 'inside.txt'), 'INSIDE');
});
afterEach(() => cleanup(base));

/** The outside world is exactly as the test set it up: secret unchanged, nothing added. */
function assertOutsideUntouched(): void {
  assert.equal(readFileSync(secret, 'utf8'), 'SECRET');
  assert.deepEqual(readdirSync(outside), ['secret.txt']);
  assert.deepEqual(readdirSync(base).sort(), ['outside', 'root']);
}

test('`..` cannot leave the pre-open, but works inside it', () => {
  assert.deepEqual(probe(root, 'read:../outside/secret.txt', 'read:sub/../../outside/secret.txt', 'read:..', 'write:../outside/new:x', 'mkdir:../made', 'read:sub/../inside.txt'), [
    `read err ${EPERM}`,
    `read err ${EPERM}`,
    `read err ${EPERM}`,
    `write err ${EPERM}`,
    `mkdir err ${EPERM}`,
    'read ok INSIDE',
  ]);
  assertOutsideUntouched();
});

test('absolute paths are refused; the same file by a relative path is readable', () => {
  assert.deepEqual(probe(root, `read:${secret}`, `read:${join(root, 'inside.txt')}`, '/inside.txt'.replace(/^/, 'read:'), 'read:inside.txt'), [
    `read err ${EPERM}`,
    `read err ${EPERM}`,
    `read err ${EPERM}`,
    'read ok INSIDE',
  ]);
  assert.deepEqual(probe(root, `write:${join(outside, 'abs')}:x`, `mkdir:${join(outside, 'd')}`), [`write err ${EPERM}`, `mkdir err ${EPERM}`]);
  assertOutsideUntouched();
});

test('host-made absolute symlinks out are refused (final and mid-path), an in-sandbox relative one works', () => {
  symlinkSync(secret, join(root, 'abs-file'));
  symlinkSync(outside, join(root, 'abs-dir'));
  symlinkSync('inside.txt', join(root, 'good'));
  assert.deepEqual(probe(root, 'read:abs-file', 'read:abs-dir/secret.txt', 'write:abs-file:pwned', 'write:abs-dir/new:x', 'read:good'), [
    `read err ${EPERM}`,
    `read err ${EPERM}`,
    `write err ${EPERM}`,
    `write err ${EPERM}`,
    'read ok INSIDE',
  ]);
  assertOutsideUntouched();
});

test('host-made relative symlinks that climb out are refused; one that climbs and comes back in works', () => {
  symlinkSync('../outside/secret.txt', join(root, 'up-file'));
  symlinkSync('../outside', join(root, 'up-dir'));
  symlinkSync('../../outside', join(root, 'sub', 'deep-up'));
  symlinkSync('../inside.txt', join(root, 'sub', 'back-in'));
  assert.deepEqual(
    probe(root, 'read:up-file', 'read:up-dir/secret.txt', 'read:sub/deep-up/secret.txt', 'write:up-dir/new:x', 'unlink:up-dir/secret.txt', 'read:sub/back-in'),
    [`read err ${EPERM}`, `read err ${EPERM}`, `read err ${EPERM}`, `write err ${EPERM}`, `unlink err ${EPERM}`, 'read ok INSIDE'],
  );
  assertOutsideUntouched();
});

test('a mid-path directory symlink is followed while it stays inside', () => {
  symlinkSync('sub', join(root, 'alias'));
  writeFileSync(join(root, 'sub', 'f'), 'F');
  assert.deepEqual(probe(root, 'read:alias/f', 'write:alias/g:G', 'read:sub/g', 'read:alias/../inside.txt'), [
    'read ok F',
    'write ok 1',
    'read ok G',
    'read ok INSIDE',
  ]);
});

test('the guest-made chain symlink(".", "r"); symlink("r/..", "esc") cannot read, write or create outside', () => {
  // This chain escapes node:wasi's pre-opened directory (docs/ARCHITECTURE.md, "Our own WASI host").
  const out = probe(
    root,
    'symlink:.:r',
    'symlink:r/..:esc',
    'read:esc/outside/secret.txt',
    'write:esc/outside/secret.txt:pwned',
    'write:esc/outside/created:x',
    'mkdir:esc/outside/dir',
    'unlink:esc/outside/secret.txt',
    'rename:inside.txt:esc/outside/moved',
    'link:inside.txt:esc/outside/hard',
    'stat:esc',
    'read:r/inside.txt',
    'read:r/r/r/inside.txt',
  );
  assert.deepEqual(out, [
    'symlink ok',
    'symlink ok',
    `read err ${EPERM}`,
    `write err ${EPERM}`,
    `write err ${EPERM}`,
    `mkdir err ${EPERM}`,
    `unlink err ${EPERM}`,
    `rename err ${EPERM}`,
    `link err ${EPERM}`,
    `stat err ${EPERM}`,
    'read ok INSIDE',
    'read ok INSIDE',
  ]);
  assert.ok(existsSync(join(root, 'inside.txt')), 'the failed rename must leave the source in place');
  assertOutsideUntouched();
});

test('guest-made relative symlinks pointing out can be created and read back as text, but never followed', () => {
  assert.deepEqual(probe(root, 'symlink:../outside/secret.txt:s', 'readlink:s', 'read:s', 'write:s:pwned', 'symlink:inside.txt:t', 'read:t'), [
    'symlink ok',
    'readlink ok 21 ../outside/secret.txt',
    `read err ${EPERM}`,
    `write err ${EPERM}`,
    'symlink ok',
    'read ok INSIDE',
  ]);
  assertOutsideUntouched();
});

test('guest symlinks with an absolute target are refused at creation', () => {
  assert.deepEqual(probe(root, `symlink:${secret}:abs`, `symlink:${outside}:absdir`, 'symlink:inside.txt:rel'), [
    `symlink err ${EPERM}`,
    `symlink err ${EPERM}`,
    'symlink ok',
  ]);
  assert.ok(!existsSync(join(root, 'abs')));
  assertOutsideUntouched();
});

test('creating a file through a dangling symlink that points outside does not create it', () => {
  symlinkSync('../outside/created', join(root, 'dangling-rel'));
  symlinkSync(join(outside, 'created'), join(root, 'dangling-abs'));
  symlinkSync('new-inside', join(root, 'dangling-in'));
  assert.deepEqual(probe(root, 'write:dangling-rel:x', 'write:dangling-abs:x', 'append:dangling-rel:x', 'write:dangling-in:ok', 'read:new-inside'), [
    `write err ${EPERM}`,
    `write err ${EPERM}`,
    `append err ${EPERM}`,
    'write ok 2',
    'read ok ok',
  ]);
  assertOutsideUntouched();
});

test('a final symlink is not followed without SYMLINK_FOLLOW (ELOOP), even when it points inside', () => {
  symlinkSync('../outside/secret.txt', join(root, 'up'));
  symlinkSync('inside.txt', join(root, 'good'));
  assert.deepEqual(probe(root, 'readnf:up', 'writenf:up:pwned', 'readnf:good', 'lstat:up'), [
    `readnf err ${ELOOP}`,
    `writenf err ${ELOOP}`,
    `readnf err ${ELOOP}`,
    'lstat ok ' + probe1(root, 'lstat:up').slice('lstat ok '.length),
  ]);
  assert.match(probe1(root, 'lstat:up'), /^lstat ok type=7 /);
  assertOutsideUntouched();
});

test('hard links cannot reach outside files or be created outside; inside they work', () => {
  symlinkSync('../outside/secret.txt', join(root, 'up'));
  symlinkSync(outside, join(root, 'abs-dir'));
  const out = probe(
    root,
    'link:../outside/secret.txt:stolen',
    'linkf:up:stolen',
    'link:abs-dir/secret.txt:stolen',
    'link:inside.txt:../outside/planted',
    'link:inside.txt:abs-dir/planted',
    'link:inside.txt:hard',
    'stat:hard',
  );
  // linkf (SYMLINK_FOLLOW) is EINVAL whatever the target, as wasmtime: path_link never follows.
  assert.deepEqual(out.slice(0, 6), [`link err ${EPERM}`, 'linkf err 28', `link err ${EPERM}`, `link err ${EPERM}`, `link err ${EPERM}`, 'link ok']);
  assert.match(out[6]!, /^stat ok type=4 size=6 nlink=2 /);
  assert.ok(!existsSync(join(root, 'stolen')));
  assert.equal(statSync(secret).nlink, 1, 'no new hard link to the secret exists anywhere');
  assertOutsideUntouched();
});

test('a hard link made by the host to an outside file is the host granting it (readable), not an escape', () => {
  // Documents the boundary: the sandbox confines names, and this name is inside.
  linkSync(secret, join(root, 'granted'));
  assert.equal(probe1(root, 'read:granted'), 'read ok SECRET');
});

test('renames cannot move files out of or into the sandbox; inside they work', () => {
  symlinkSync(outside, join(root, 'abs-dir'));
  symlinkSync('../outside', join(root, 'up-dir'));
  assert.deepEqual(
    probe(
      root,
      'rename:inside.txt:../outside/moved',
      'rename:inside.txt:abs-dir/moved',
      'rename:inside.txt:up-dir/moved',
      'rename:../outside/secret.txt:stolen',
      'rename:up-dir/secret.txt:stolen',
      'rename:inside.txt:sub/moved',
      'read:sub/moved',
    ),
    [`rename err ${EPERM}`, `rename err ${EPERM}`, `rename err ${EPERM}`, `rename err ${EPERM}`, `rename err ${EPERM}`, 'rename ok', 'read ok INSIDE'],
  );
  assert.ok(!existsSync(join(root, 'stolen')));
  assertOutsideUntouched();
});

test('renaming a symlink that points out only moves the link; its text is then resolved from its new place', () => {
  symlinkSync('../outside', join(root, 'up-dir'));
  mkdirSync(join(root, 'sub', 'deeper'));
  assert.deepEqual(probe(root, 'rename:up-dir:sub/deeper/up-dir', 'readlink:sub/deeper/up-dir', 'read:sub/deeper/up-dir/secret.txt', 'rename:sub/deeper/up-dir:sub/up-dir', 'read:sub/up-dir/secret.txt'), [
    'rename ok',
    'readlink ok 10 ../outside',
    'read err 44', // now names root/sub/outside: inside, and missing (ENOENT)
    'rename ok',
    'read err 44', // root/outside: inside, missing
  ]);
  symlinkSync('../../outside', join(root, 'sub', 'two-up'));
  assert.equal(probe1(root, 'read:sub/two-up/secret.txt'), `read err ${EPERM}`);
  assertOutsideUntouched();
});

test('unlink and rmdir through escapes fail; unlinking a link that points out removes only the link', () => {
  mkdirSync(join(outside, 'emptydir'));
  symlinkSync('../outside/secret.txt', join(root, 'up'));
  symlinkSync(outside, join(root, 'abs-dir'));
  assert.deepEqual(probe(root, 'unlink:../outside/secret.txt', 'unlink:abs-dir/secret.txt', 'rmdir:../outside/emptydir', 'rmdir:abs-dir/emptydir', 'unlink:up'), [
    `unlink err ${EPERM}`,
    `unlink err ${EPERM}`,
    `rmdir err ${EPERM}`,
    `rmdir err ${EPERM}`,
    'unlink ok',
  ]);
  assert.ok(existsSync(join(outside, 'emptydir')));
  assert.ok(!existsSync(join(root, 'up')));
  assert.equal(readFileSync(secret, 'utf8'), 'SECRET');
});

test('stat and set_times through escapes fail and leave the outside file untouched', () => {
  symlinkSync('../outside/secret.txt', join(root, 'up'));
  const before = statSync(secret, { bigint: true });
  assert.deepEqual(probe(root, 'stat:up', 'stat:../outside/secret.txt', 'settimes:up:1:2', 'settimes:../outside/secret.txt:1:2'), [
    `stat err ${EPERM}`,
    `stat err ${EPERM}`,
    `settimes err ${EPERM}`,
    `settimes err ${EPERM}`,
  ]);
  assert.equal(statSync(secret, { bigint: true }).mtimeNs, before.mtimeNs);
});

test('symlink loops end with ELOOP; a 40-link chain inside resolves, a 41-link one does not', () => {
  symlinkSync('b', join(root, 'a'));
  symlinkSync('a', join(root, 'b'));
  symlinkSync('self', join(root, 'self'));
  // l0 -> l1 -> ... -> l39 -> inside.txt: 40 links; m0 .. m40: 41 links.
  for (let i = 0; i < 40; i++) symlinkSync(i === 39 ? 'inside.txt' : `l${i + 1}`, join(root, `l${i}`));
  for (let i = 0; i < 41; i++) symlinkSync(i === 40 ? 'inside.txt' : `m${i + 1}`, join(root, `m${i}`));
  assert.deepEqual(probe(root, 'read:a', 'read:self', 'read:l0', 'read:m0'), [`read err ${ELOOP}`, `read err ${ELOOP}`, 'read ok INSIDE', `read err ${ELOOP}`]);
});

test('a directory opened from the pre-open is itself a sandbox root for paths relative to it', () => {
  // path_open on "sub" gives a new dir fd; resolving "../inside.txt" from the pre-open works because
  // the walk starts at the pre-open; the guest cannot use a sub-directory fd to reach above the pre-open.
  writeFileSync(join(root, 'sub', 'x'), 'X');
  assert.deepEqual(probe(root, 'read:sub/x', 'read:sub/../sub/x', 'read:sub/../../root/inside.txt'), ['read ok X', 'read ok X', `read err ${EPERM}`]);
});

/**
 * Runs `body` while fs.lstatSync is wrapped so that, right after the resolver
 * checks a path ending in `/<name>`, `swap()` runs once: a deterministic
 * check-then-use race.
 */
function withSwapAfterCheck(name: string, swap: () => void, body: () => void): void {
  const mutableFs = fsModule as { lstatSync: typeof fsModule.lstatSync };
  const original = fsModule.lstatSync;
  let fired = false;
  mutableFs.lstatSync = ((p: fsModule.PathLike, opts?: object) => {
    const st = original(p, opts as fsModule.StatSyncOptions);
    if (!fired && String(p).endsWith(`/${name}`)) {
      fired = true;
      swap();
    }
    return st;
  }) as typeof fsModule.lstatSync;
  syncBuiltinESMExports();
  try {
    body();
  } finally {
    mutableFs.lstatSync = original;
    syncBuiltinESMExports();
  }
  assert.ok(fired, 'the race was injected');
}

test('a directory swapped for an outside symlink between check and use is not entered (TOCTOU)', () => {
  writeFileSync(join(root, 'sub', 'f'), 'INNER');
  writeFileSync(join(outside, 'f'), 'SECRET');
  withSwapAfterCheck(
    'sub',
    () => {
      renameSync(join(root, 'sub'), join(root, 'sub-old'));
      symlinkSync(outside, join(root, 'sub'));
    },
    () => {
      const out = probe1(root, 'read:sub/f');
      assert.notEqual(out, 'read ok SECRET');
      assert.match(out, /^read err /);
    },
  );
  // Without a race the same path is fine (the link is now refused as an escape).
  assert.equal(probe1(root, 'read:sub-old/f'), 'read ok INNER');
});

test('a final file swapped for an outside symlink between check and open is not followed (TOCTOU)', () => {
  withSwapAfterCheck(
    'inside.txt',
    () => {
      renameSync(join(root, 'inside.txt'), join(root, 'moved.txt'));
      symlinkSync(secret, join(root, 'inside.txt'));
    },
    () => {
      assert.deepEqual(probe(root, 'read:inside.txt', 'read:moved.txt'), [`read err ${ELOOP}`, 'read ok INSIDE']);
    },
  );
  assertOutsideUntouched();
});

test('one call cannot pin unbounded host fds or pass unbounded paths: deep walks and long paths are ENAMETOOLONG', () => {
  let deep = root;
  for (let i = 0; i < 130; i++) {
    deep = join(deep, 'd');
    mkdirSync(deep);
  }
  writeFileSync(join(deep, 'f'), 'DEEP');
  const path128 = Array(128).fill('d').join('/');
  // 128 directories deep is still fine; 130 is refused.
  assert.equal(probe1(root, `stat:${path128}`).slice(0, 'stat ok type=3'.length), 'stat ok type=3');
  assert.equal(probe1(root, `read:${Array(130).fill('d').join('/')}/f`), 'read err 37');
  assert.equal(probe1(root, `read:${'x/'.repeat(2100)}f`), 'read err 37');
});
