// fd_readdir: `.` and `..` first, cookies that resume where the last call
// stopped, entries cut at the buffer's end (as wasmtime), inodes and types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WasiHost } from '../../src/wasm/wasi/index.js';
import { Wasm, cleanup, probe1, tempDir, wat } from './harness.js';
import { allImportsModule } from './signatures.js';

/** Parses probe's "ls ok name/type/ino ..." line. */
function listing(line: string): { name: string; type: number; ino: bigint }[] {
  assert.match(line, /^ls ok/);
  return line
    .slice('ls ok'.length)
    .trim()
    .split(' ')
    .filter((s) => s !== '')
    .map((e) => {
      const [name, type, ino] = e.split('/');
      return { name: name!, type: Number(type), ino: BigInt(ino!) };
    });
}

function sandbox(): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'file.txt'), 'x');
  symlinkSync('file.txt', join(dir, 'link'));
  return dir;
}

test('readdir lists . and .. first, then every entry with its type and inode', () => {
  const dir = sandbox();
  try {
    const entries = listing(probe1(dir, 'ls:.'));
    assert.deepEqual(entries.slice(0, 2).map((e) => e.name), ['.', '..']);
    const dirIno = lstatSync(dir, { bigint: true }).ino;
    assert.equal(entries[0]!.ino, dirIno);
    assert.equal(entries[0]!.type, 3);
    assert.equal(entries[1]!.type, 3);
    const rest = entries.slice(2).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(rest.map((e) => [e.name, e.type]), [
      ['file.txt', 4],
      ['link', 7],
      ['sub', 3],
    ]);
    for (const e of rest) assert.equal(e.ino, lstatSync(join(dir, e.name), { bigint: true }).ino, e.name);
  } finally {
    cleanup(dir);
  }
});

test('readdir with every buffer size from one dirent to 300 bytes yields the same complete listing via cookies', () => {
  const dir = sandbox();
  try {
    for (let i = 0; i < 20; i++) writeFileSync(join(dir, `f${i}-${'n'.repeat(i)}`), '');
    const full = probe1(dir, 'ls:.:4096');
    assert.equal(listing(full).length, 2 + 3 + 20);
    const sizes = [];
    for (let size = 24 + 'f19-nnnnnnnnnnnnnnnnnnn'.length; size <= 300; size += 7) sizes.push(size);
    for (const size of sizes) assert.equal(probe1(dir, `ls:.:${size}`), full, `buffer of ${size} bytes`);
  } finally {
    cleanup(dir);
  }
});

test('readdir of a large directory through a small buffer returns every entry once', () => {
  const dir = tempDir();
  try {
    const names = Array.from({ length: 300 }, (_, i) => `entry-${i}`);
    for (const n of names) writeFileSync(join(dir, n), '');
    const got = listing(probe1(dir, 'ls:.:64')).map((e) => e.name);
    assert.deepEqual(got.slice(0, 2), ['.', '..']);
    assert.deepEqual(got.slice(2).sort(), names.sort());
  } finally {
    cleanup(dir);
  }
});

test('a buffer smaller than one entry is filled completely (bufused = buf_len) so the guest knows to grow it', () => {
  const dir = sandbox();
  try {
    assert.equal(probe1(dir, 'ls:.:10'), 'ls ok SMALLBUF');
  } finally {
    cleanup(dir);
  }
});

test('dirent layout, cookies and truncation byte for byte', async () => {
  const dir = sandbox();
  try {
    const host = new WasiHost({ args: [], env: [], preopens: [{ hostPath: dir, guestPath: '/d' }], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
    const mod = await wat(
      allImportsModule(`
      (func (export "readdir") (param $len i32) (param $cookie i64) (result i32)
        (call $fd_readdir (i32.const 3) (i32.const 1024) (local.get $len) (local.get $cookie) (i32.const 16)))`),
    );
    const instance = new Wasm.Instance(mod, host.imports);
    const memory = instance.exports.memory as { buffer: ArrayBuffer };
    host.setMemory(memory);
    const readdir = instance.exports.readdir as (len: number, cookie: bigint) => number;
    const view = () => new DataView(memory.buffer);
    const bytes = () => new Uint8Array(memory.buffer);

    // 30 bytes: the "." dirent (24 + 1) and the first 5 bytes of ".."'s header.
    new Uint8Array(memory.buffer, 1024, 64).fill(0xee);
    assert.equal(readdir(30, 0n), 0);
    assert.equal(view().getUint32(16, true), 30, 'bufused = buf_len when truncated');
    assert.equal(view().getBigUint64(1024, true), 1n, "d_next of '.'");
    assert.equal(view().getBigUint64(1024 + 8, true), lstatSync(dir, { bigint: true }).ino);
    assert.equal(view().getUint32(1024 + 16, true), 1, 'd_namlen');
    assert.equal(bytes()[1024 + 20], 3, 'd_type directory');
    assert.equal(bytes()[1024 + 24], '.'.charCodeAt(0));
    assert.equal(view().getBigUint64(1024 + 25, true) & 0xffffffffffn, 2n, "the cut header of '..' starts with d_next = 2");
    assert.equal(bytes()[1024 + 30], 0xee, 'nothing written past buf_len');

    // Resuming from cookie 2 skips '.' and '..'.
    assert.equal(readdir(512, 2n), 0);
    const used = view().getUint32(16, true);
    const names: string[] = [];
    for (let off = 0; off < used; ) {
      const namlen = view().getUint32(1024 + off + 16, true);
      names.push(Buffer.from(bytes().subarray(1024 + off + 24, 1024 + off + 24 + namlen)).toString());
      off += 24 + namlen;
    }
    assert.deepEqual(names.sort(), ['file.txt', 'link', 'sub']);
    // A cookie past the end gives an empty read.
    assert.equal(readdir(512, 99n), 0);
    assert.equal(view().getUint32(16, true), 0);
    host.close();
  } finally {
    cleanup(dir);
  }
});
