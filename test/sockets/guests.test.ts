// The committed socket-test guests are what test/sockets/build.sh makes of their sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../fixtures/wat.js';

test('test/sockets/build.sh rebuilds guests/sockprobe.wasm byte for byte', () => {
  const out = mkdtempSync(join(tmpdir(), 'ww-sock-guests-'));
  try {
    const r = spawnSync('bash', ['test/sockets/build.sh'], { cwd: repoRoot(), env: { ...process.env, OUT_DIR: out }, encoding: 'utf8' });
    assert.equal(r.status, 0, `build.sh failed (needs clang + wasi-libc, scripts/setup.sh): ${r.stderr}`);
    const committed = readFileSync(join(repoRoot(), 'test', 'sockets', 'guests', 'sockprobe.wasm'));
    assert.ok(readFileSync(join(out, 'sockprobe.wasm')).equals(committed), 'rebuilt sockprobe.wasm differs: run test/sockets/build.sh and commit it');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
