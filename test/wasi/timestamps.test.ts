// Timestamp changes (fd_filestat_set_times, path_filestat_set_times) are made
// with Node's fs calls, to the microsecond: the host never starts a process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { WasiHost } from '../../src/wasm/wasi/index.js';
import { Wasm, cleanup, repoRoot, tempDir, wat } from './harness.js';
import { allImportsModule } from './signatures.js';

const FST = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 };
const LOOKUP_SYMLINK_FOLLOW = 1;

const guestSource = allImportsModule(`
  (data (i32.const 100) "file")
  (data (i32.const 120) "link")
  (func (export "open") (result i32)
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 4) (i32.const 0)
      (i64.const 0x3fffffff) (i64.const 0) (i32.const 0) (i32.const 0)))
    (i32.load (i32.const 0)))
  (func (export "fd_times") (param $fd i32) (param $a i64) (param $m i64) (param $flags i32) (result i32)
    (call $fd_filestat_set_times (local.get $fd) (local.get $a) (local.get $m) (local.get $flags)))
  (func (export "path_times") (param $follow i32) (param $a i64) (param $m i64) (param $flags i32) (result i32)
    (call $path_filestat_set_times (i32.const 3) (local.get $follow) (i32.const 120) (i32.const 4)
      (local.get $a) (local.get $m) (local.get $flags)))
  (func (export "_start"))
`);

interface Guest {
  open(): number;
  fd_times(fd: number, a: bigint, m: bigint, flags: number): number;
  path_times(follow: number, a: bigint, m: bigint, flags: number): number;
}

async function withGuest(body: (g: Guest, dir: string) => void): Promise<void> {
  const dir = tempDir();
  const host = new WasiHost({ args: [], env: [], preopens: [{ hostPath: dir, guestPath: '/d' }], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
  try {
    writeFileSync(join(dir, 'file'), 'x');
    symlinkSync('file', join(dir, 'link'));
    const instance = new Wasm.Instance(await wat(guestSource), host.imports);
    host.setMemory(instance.exports.memory as { buffer: ArrayBuffer });
    body(instance.exports as unknown as Guest, dir);
  } finally {
    host.close();
    cleanup(dir);
  }
}

test('set_times keeps the microsecond asked for, and a time not asked for is kept', async () => {
  await withGuest((g, dir) => {
    const fd = g.open();
    assert.ok(fd > 3);
    assert.equal(g.fd_times(fd, 1_111_111_111_123_456_789n, 1_222_222_222_987_654_321n, FST.ATIM | FST.MTIM), 0);
    let st = statSync(join(dir, 'file'), { bigint: true });
    assert.equal(st.atimeNs / 1000n, 1_111_111_111_123_456_000n / 1000n);
    assert.equal(st.mtimeNs / 1000n, 1_222_222_222_987_654_000n / 1000n);
    // Only mtime: atime stays what it was.
    assert.equal(g.fd_times(fd, 0n, 1_333_333_333_000_001_999n, FST.MTIM), 0);
    st = statSync(join(dir, 'file'), { bigint: true });
    assert.equal(st.atimeNs / 1000n, 1_111_111_111_123_456_000n / 1000n);
    assert.equal(st.mtimeNs / 1000n, 1_333_333_333_000_001_000n / 1000n);
    // "now" is the host's realtime clock, within this test's own span.
    const before = BigInt(Date.now()) * 1_000_000n;
    assert.equal(g.fd_times(fd, 0n, 0n, FST.ATIM_NOW), 0);
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    st = statSync(join(dir, 'file'), { bigint: true });
    assert.ok(st.atimeNs >= before - 1_000_000n && st.atimeNs <= after, `atime ${st.atimeNs} is now`);
    assert.equal(st.mtimeNs / 1000n, 1_333_333_333_000_001_000n / 1000n);
  });
});

test('path_filestat_set_times sets a symlink itself without following, or its target when asked', async () => {
  await withGuest((g, dir) => {
    const target = statSync(join(dir, 'file'), { bigint: true });
    assert.equal(g.path_times(0, 2_000_000_000_000_000_001n, 2_000_000_000_000_000_002n, FST.ATIM | FST.MTIM), 0);
    assert.equal(lstatSync(join(dir, 'link'), { bigint: true }).mtimeNs / 1000n, 2_000_000_000_000_000_000n / 1000n);
    assert.equal(statSync(join(dir, 'file'), { bigint: true }).mtimeNs, target.mtimeNs, 'the target is untouched');
    assert.equal(g.path_times(LOOKUP_SYMLINK_FOLLOW, 0n, 2_100_000_000_000_000_123n, FST.MTIM), 0);
    assert.equal(statSync(join(dir, 'file'), { bigint: true }).mtimeNs / 1000n, 2_100_000_000_000_000_000n / 1000n);
    assert.equal(lstatSync(join(dir, 'link'), { bigint: true }).mtimeNs / 1000n, 2_000_000_000_000_000_000n / 1000n);
  });
});

test('setting times does not depend on PATH or on programs of the host', async () => {
  const savedPath = process.env.PATH;
  const empty = mkdtempSync(join(tmpdir(), 'ww-empty-path-'));
  process.env.PATH = empty; // nothing to run: a host that spawned `touch` would fail here
  try {
    await withGuest((g, dir) => {
      const fd = g.open();
      assert.equal(g.fd_times(fd, 1_500_000_000_000_000_999n, 1_500_000_000_000_001_999n, FST.ATIM | FST.MTIM), 0);
      assert.equal(g.path_times(0, 1_600_000_000_000_000_999n, 0n, FST.ATIM), 0);
      assert.equal(statSync(join(dir, 'file'), { bigint: true }).mtimeNs / 1000n, 1_500_000_000_000_001_000n / 1000n);
      assert.equal(lstatSync(join(dir, 'link'), { bigint: true }).atimeNs / 1000n, 1_600_000_000_000_000_000n / 1000n);
    });
  } finally {
    process.env.PATH = savedPath;
    cleanup(empty);
  }
});

test('the WASI host never starts a process: no module under src/wasm/wasi imports child_process', () => {
  const root = join(repoRoot, 'src', 'wasm', 'wasi');
  const sources = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  assert.ok(sources.length > 10, `found the host's sources (${sources.length})`);
  for (const f of sources) {
    if (f.endsWith('.test.ts')) continue;
    assert.doesNotMatch(readFileSync(join(root, f), 'utf8'), /child_process/, `${f} imports child_process`);
  }
});
