// Hostile pointers: every import that takes a pointer is called with one at or
// past the end of memory. Each call must return EFAULT (21), change nothing,
// and leave the host working. wasmtime traps here; ww returns EFAULT so a
// guest cannot crash the host by any argument.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WasiHost } from '../../src/wasm/wasi/index.js';
import { PREVIEW1_FUNCTIONS } from '../../src/wasm/wasi/abi/functions.js';
import { Wasm, cleanup, tempDir, wat } from './harness.js';
import { SIGNATURES, allImportsModule } from './signatures.js';

const EFAULT = 21;
const END = 65536; // one page
const PATH = 0x100; // "f.txt"
const LINK = 0x120; // "lnk"
const OTHER = 0x140; // "new"
const IOV_OK = 0x200; // {buf 0x400, len 16}
const IOV_BAD_BUF = 0x210; // {buf END-2, len 16}
const SUB = 0x300; // one clock subscription, relative 0
const OUT = 0x800; // scratch for results
const BUF = 0x900; // scratch buffer

/** One call: the function and its arguments as WAT constant expressions; `$fd` is an open file. */
type Case = [name: string, args: (string | number | bigint)[]];

const FD = '$fd';
const cases: Case[] = [
  ['args_get', [END - 2, BUF]],
  ['args_get', [OUT, END - 1]],
  ['args_sizes_get', [END - 2, OUT]],
  ['args_sizes_get', [OUT, END - 2]],
  ['environ_get', [END - 2, BUF]],
  ['environ_get', [OUT, END - 1]],
  ['environ_sizes_get', [END - 2, OUT]],
  ['environ_sizes_get', [OUT, END - 2]],
  ['clock_res_get', [1, END - 4]],
  ['clock_time_get', [1, 0n, END - 4]],
  ['clock_time_get', [0, 0n, -4]], // 0xFFFFFFFC: wraps past 2^32
  ['fd_fdstat_get', [1, END - 8]],
  ['fd_filestat_get', [FD, END - 32]],
  ['fd_prestat_get', [3, END - 4]],
  ['fd_prestat_dir_name', [3, END - 1, 100]],
  ['fd_pread', [FD, IOV_BAD_BUF, 1, 0n, OUT]],
  ['fd_pread', [FD, END - 4, 1, 0n, OUT]],
  ['fd_pread', [FD, IOV_OK, 1, 0n, END - 2]],
  ['fd_pwrite', [FD, IOV_BAD_BUF, 1, 0n, OUT]],
  ['fd_pwrite', [FD, END - 4, 1, 0n, OUT]],
  ['fd_pwrite', [FD, IOV_OK, 1, 0n, END - 2]],
  ['fd_read', [FD, IOV_BAD_BUF, 1, OUT]],
  ['fd_read', [FD, END - 4, 1, OUT]],
  ['fd_read', [FD, IOV_OK, 1, END - 2]],
  ['fd_write', [1, IOV_BAD_BUF, 1, OUT]],
  ['fd_write', [1, END - 4, 1, OUT]],
  ['fd_write', [1, IOV_OK, 1, END - 2]],
  ['fd_write', [1, IOV_OK, 0x20000000, OUT]], // iovec count * 8 overflows memory
  ['fd_readdir', [3, END - 10, 100, 0n, OUT]],
  ['fd_readdir', [3, BUF, 100, 0n, END - 2]],
  ['fd_seek', [FD, 0n, 0, END - 4]],
  ['fd_tell', [FD, END - 4]],
  ['path_create_directory', [3, END - 2, 5]],
  ['path_create_directory', [3, PATH, -1]], // length 0xFFFFFFFF
  ['path_filestat_get', [3, 0, PATH, 5, END - 32]],
  ['path_filestat_get', [3, 0, END - 2, 5, BUF]],
  ['path_filestat_set_times', [3, 0, END - 2, 5, 0n, 0n, 0]],
  ['path_link', [3, 0, END - 2, 5, 3, OTHER, 3]],
  ['path_link', [3, 0, PATH, 5, 3, END - 2, 5]],
  ['path_open', [3, 0, END - 2, 5, 1, -1n, -1n, 0, OUT]],
  ['path_open', [3, 0, OTHER, 3, 1, -1n, -1n, 0, END - 2]], // would create "new"
  ['path_readlink', [3, END - 1, 3, BUF, 10, OUT]],
  ['path_readlink', [3, LINK, 3, END - 2, 10, OUT]],
  ['path_readlink', [3, LINK, 3, BUF, 10, END - 2]],
  ['path_remove_directory', [3, END - 2, 5]],
  ['path_rename', [3, END - 2, 5, 3, OTHER, 3]],
  ['path_rename', [3, PATH, 5, 3, END - 2, 5]],
  ['path_symlink', [END - 2, 5, 3, OTHER, 3]],
  ['path_symlink', [PATH, 5, 3, END - 2, 5]],
  ['path_unlink_file', [3, END - 2, 5]],
  ['poll_oneoff', [END - 10, BUF, 1, OUT]],
  ['poll_oneoff', [SUB, END - 10, 1, OUT]],
  ['poll_oneoff', [SUB, BUF, 1, END - 2]],
  ['poll_oneoff', [SUB, BUF, 0x10000000, OUT]], // subscriptions run past the end
  ['random_get', [END - 10, 20]],
  ['random_get', [-16, 32]],
  ['sock_accept', [3, 0, END - 2]],
  ['sock_accept', [0, 0, END - 2]],
  ['sock_recv', [0, IOV_BAD_BUF, 1, 0, OUT, OUT + 8]],
  ['sock_recv', [0, IOV_OK, 1, 0, END - 2, OUT + 8]],
  ['sock_recv', [0, IOV_OK, 1, 0, OUT, END - 1]],
  ['sock_send', [1, IOV_BAD_BUF, 1, 0, OUT]],
  ['sock_send', [1, END - 4, 1, 0, OUT]],
  ['sock_send', [1, IOV_OK, 1, 0, END - 2]],
];

/** Functions that take no pointer at all (so no out-of-bounds case applies). */
const NO_POINTERS = new Set([
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_renumber',
  'fd_sync',
  'proc_exit',
  'proc_raise',
  'sched_yield',
  'sock_shutdown',
]);

function expr(arg: string | number | bigint, type: string): string {
  if (arg === FD) return '(local.get $fd)';
  return `(${type}.const ${arg})`;
}

function caseFunction([name, args]: Case, i: number): string {
  const types = SIGNATURES[name]!;
  assert.equal(args.length, types.length, `case ${i} (${name}) has ${args.length} args, the import takes ${types.length}`);
  const call = `(call $${name} ${args.map((a, j) => expr(a, types[j]!)).join(' ')})`;
  return `(func (export "case${i}") (param $fd i32) (result i32) ${call})`;
}

const module = allImportsModule(`
  (data (i32.const ${PATH}) "f.txt")
  (data (i32.const ${LINK}) "lnk")
  (data (i32.const ${OTHER}) "new")
  (data (i32.const ${IOV_OK}) "\\00\\04\\00\\00\\10\\00\\00\\00")
  (data (i32.const ${IOV_BAD_BUF}) "\\fe\\ff\\00\\00\\10\\00\\00\\00")
  (data (i32.const ${SUB + 8}) "\\00")
  (data (i32.const ${SUB + 16}) "\\01\\00\\00\\00")
  (func (export "open_file") (result i32)
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const ${PATH}) (i32.const 5) (i32.const 0)
      (i64.const -1) (i64.const -1) (i32.const 0) (i32.const ${OUT})))
    (i32.load (i32.const ${OUT})))
  (func (export "hello") (result i32)
    (i32.store (i32.const ${IOV_OK}) (i32.const ${PATH}))
    (i32.store (i32.const ${IOV_OK + 4}) (i32.const 5))
    (call $fd_write (i32.const 1) (i32.const ${IOV_OK}) (i32.const 1) (i32.const ${OUT})))
  (func (export "grow") (result i32) (memory.grow (i32.const 1)))
  (func (export "time_at") (param $p i32) (result i32) (call $clock_time_get (i32.const 1) (i64.const 0) (local.get $p)))
  ${cases.map(caseFunction).join('\n  ')}
`);

test('the host imports exactly the 46 functions of wasi_snapshot_preview1', () => {
  const host = new WasiHost({ args: [], env: [], preopens: [], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
  assert.deepEqual(Object.keys(host.imports.wasi_snapshot_preview1).sort(), [...PREVIEW1_FUNCTIONS].sort());
  assert.deepEqual(Object.keys(SIGNATURES).sort(), [...PREVIEW1_FUNCTIONS].sort());
  assert.equal(PREVIEW1_FUNCTIONS.length, 46);
  for (const f of Object.values(host.imports.wasi_snapshot_preview1)) assert.equal(typeof f, 'function');
  host.close();
});

test('every import taking a pointer has an out-of-bounds case', () => {
  const covered = new Set(cases.map(([name]) => name));
  for (const name of PREVIEW1_FUNCTIONS) {
    if (NO_POINTERS.has(name)) continue;
    assert.ok(covered.has(name), `${name} takes a pointer but has no out-of-bounds case`);
  }
});

test('out-of-bounds pointers to every WASI call return EFAULT, change nothing, and the host keeps working', async () => {
  const dir = tempDir('ww-oob-');
  try {
    writeFileSync(join(dir, 'f.txt'), 'file contents');
    symlinkSync('f.txt', join(dir, 'lnk'));
    const out: Uint8Array[] = [];
    const host = new WasiHost({
      args: ['oob', 'arg'],
      env: [['K', 'V']],
      preopens: [{ hostPath: dir, guestPath: '/sb' }],
      stdin: { kind: 'bytes', data: new Uint8Array([1, 2, 3]) },
      stdout: { kind: 'sink', write: (d) => out.push(d) },
      stderr: { kind: 'null' },
    });
    const instance = new Wasm.Instance(await wat(module), host.imports);
    const ex = instance.exports as Record<string, (...a: number[]) => number> & { memory: { buffer: ArrayBuffer } };
    host.setMemory(instance.exports.memory as { buffer: ArrayBuffer });
    const fd = ex.open_file!();
    assert.equal(fd, 4);

    const results = cases.map((c, i) => [`case${i} ${c[0]}(${c[1].join(', ')})`, ex[`case${i}`]!(fd)] as const);
    for (const [label, errno] of results) assert.equal(errno, EFAULT, `${label} returned ${errno}, expected EFAULT`);

    // Nothing was created, removed or changed by any of the refused calls.
    assert.deepEqual(readdirSync(dir).sort(), ['f.txt', 'lnk']);
    assert.equal(out.length, 0, 'no failed fd_write wrote anything');
    // The host still works, and still checks against the *current* memory size.
    assert.equal(ex.hello!(), 0);
    assert.equal(Buffer.concat(out).toString(), 'f.txt');
    assert.equal(ex.time_at!(END - 4), EFAULT);
    assert.equal(ex.grow!(), 1);
    assert.equal(ex.time_at!(END - 4), 0, 'after memory.grow the same pointer is in bounds');
    assert.equal(ex.time_at!(2 * END - 4), EFAULT);
    host.close();
  } finally {
    cleanup(dir);
  }
});

/** Every import that takes an fd, with valid pointers and `$bad` in the fd position(s). */
const BAD = '$bad';
const badFdCases: Case[] = [
  ['fd_advise', [BAD, 0n, 0n, 0]],
  ['fd_allocate', [BAD, 0n, 0n]],
  ['fd_close', [BAD]],
  ['fd_datasync', [BAD]],
  ['fd_fdstat_get', [BAD, OUT]],
  ['fd_fdstat_set_flags', [BAD, 0]],
  ['fd_fdstat_set_rights', [BAD, 0n, 0n]],
  ['fd_filestat_get', [BAD, BUF]],
  ['fd_filestat_set_size', [BAD, 0n]],
  ['fd_filestat_set_times', [BAD, 0n, 0n, 0]],
  ['fd_pread', [BAD, IOV_OK, 1, 0n, OUT]],
  ['fd_prestat_get', [BAD, OUT]],
  ['fd_prestat_dir_name', [BAD, BUF, 100]],
  ['fd_pwrite', [BAD, IOV_OK, 1, 0n, OUT]],
  ['fd_read', [BAD, IOV_OK, 1, OUT]],
  ['fd_readdir', [BAD, BUF, 100, 0n, OUT]],
  ['fd_renumber', [BAD, 1]],
  ['fd_seek', [BAD, 0n, 0, OUT]],
  ['fd_sync', [BAD]],
  ['fd_tell', [BAD, OUT]],
  ['fd_write', [BAD, IOV_OK, 1, OUT]],
  ['path_create_directory', [BAD, OTHER, 3]],
  ['path_filestat_get', [BAD, 0, PATH, 5, BUF]],
  ['path_filestat_set_times', [BAD, 0, PATH, 5, 0n, 0n, 0]],
  ['path_link', [BAD, 0, PATH, 5, 3, OTHER, 3]],
  ['path_link', [3, 0, PATH, 5, BAD, OTHER, 3]],
  ['path_open', [BAD, 0, PATH, 5, 0, 0n, 0n, 0, OUT]],
  ['path_readlink', [BAD, LINK, 3, BUF, 10, OUT]],
  ['path_remove_directory', [BAD, OTHER, 3]],
  ['path_rename', [BAD, PATH, 5, 3, OTHER, 3]],
  ['path_rename', [3, PATH, 5, BAD, OTHER, 3]],
  ['path_symlink', [PATH, 5, BAD, OTHER, 3]],
  ['path_unlink_file', [BAD, PATH, 5]],
  ['sock_accept', [BAD, 0, OUT]],
  ['sock_recv', [BAD, IOV_OK, 1, 0, OUT, OUT + 8]],
  ['sock_send', [BAD, IOV_OK, 1, 0, OUT]],
  ['sock_shutdown', [BAD, 3]],
];

test('every call taking an fd returns EBADF for fds the guest does not hold (unused, negative, huge)', async () => {
  const dir = tempDir('ww-badfd-');
  try {
    writeFileSync(join(dir, 'f.txt'), 'file contents');
    symlinkSync('f.txt', join(dir, 'lnk'));
    const fns = badFdCases.map(([name, args], i) => {
      const types = SIGNATURES[name]!;
      const call = `(call $${name} ${args.map((a, j) => (a === BAD ? '(local.get $bad)' : expr(a, types[j]!))).join(' ')})`;
      return `(func (export "bad${i}") (param $bad i32) (result i32) ${call})`;
    });
    const mod = await wat(
      allImportsModule(`
      (data (i32.const ${PATH}) "f.txt")
      (data (i32.const ${LINK}) "lnk")
      (data (i32.const ${OTHER}) "new")
      (data (i32.const ${IOV_OK}) "\\00\\04\\00\\00\\10\\00\\00\\00")
      ${fns.join('\n      ')}
      (func (export "bad${badFdCases.length}") (param $to i32) (result i32) (call $fd_renumber (i32.const 1) (local.get $to)))`),
    );
    const host = new WasiHost({ args: [], env: [], preopens: [{ hostPath: dir, guestPath: '/sb' }], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
    const instance = new Wasm.Instance(mod, host.imports);
    host.setMemory(instance.exports.memory as { buffer: ArrayBuffer });
    const covered = new Set(badFdCases.map(([n]) => n));
    for (const name of PREVIEW1_FUNCTIONS) {
      if (SIGNATURES[name]!.length > 0 && /^(fd_|path_|sock_)/.test(name)) assert.ok(covered.has(name), `${name} has no bad-fd case`);
    }
    for (const bad of [4, 1000, 4096, 0x7fffffff, -1, -2147483648]) {
      badFdCases.forEach(([name, args], i) => {
        const errno = (instance.exports[`bad${i}`] as (b: number) => number)(bad);
        assert.equal(errno, 8, `${name}(${args.map((a) => (a === BAD ? bad : a)).join(', ')}) returned ${errno}`);
      });
    }
    // fd_renumber's target must be open too (as wasmtime).
    const renumberTo = (instance.exports[`bad${badFdCases.length}`] as (b: number) => number);
    for (const bad of [4, 1000, 4096, 0x7fffffff, -1]) assert.equal(renumberTo(bad), 8, `fd_renumber(1, ${bad})`);
    assert.deepEqual(readdirSync(dir).sort(), ['f.txt', 'lnk']);
    host.close();
  } finally {
    cleanup(dir);
  }
});

/** Calls that need no right on their fd (witx): everything else that takes an fd must ask for one. */
const NEEDS_NO_RIGHT = new Set(['fd_close', 'fd_fdstat_get', 'fd_fdstat_set_rights', 'fd_prestat_get', 'fd_prestat_dir_name', 'fd_renumber']);

test('an fd holding no rights is refused by every call that needs one, before the call acts', async () => {
  const dir = tempDir('ww-norights-');
  try {
    writeFileSync(join(dir, 'f.txt'), 'file contents');
    symlinkSync('f.txt', join(dir, 'lnk'));
    const fns = badFdCases.map(([name, args], i) => {
      const types = SIGNATURES[name]!;
      const call = `(call $${name} ${args.map((a, j) => (a === BAD ? '(local.get $bad)' : expr(a, types[j]!))).join(' ')})`;
      return `(func (export "call${i}") (param $bad i32) (result i32) ${call})`;
    });
    const mod = await wat(
      allImportsModule(`
      (data (i32.const ${PATH}) "f.txt")
      (data (i32.const ${LINK}) "lnk")
      (data (i32.const ${OTHER}) "new")
      (data (i32.const ${IOV_OK}) "\\00\\04\\00\\00\\10\\00\\00\\00")
      (data (i32.const ${BUF}) ".")
      ;; the file and the directory ("." of the pre-open), each with every right, then with none
      (func (export "open_rightless") (param $dir i32) (result i32)
        (drop (call $path_open (i32.const 3) (i32.const 0)
          (select (i32.const ${BUF}) (i32.const ${PATH}) (local.get $dir)) (select (i32.const 1) (i32.const 5) (local.get $dir))
          (select (i32.const 2) (i32.const 0) (local.get $dir)) (i64.const 0x3fffffbf) (i64.const 0x3fffffff) (i32.const 0) (i32.const ${OUT})))
        (drop (call $fd_fdstat_set_rights (i32.load (i32.const ${OUT})) (i64.const 0) (i64.const 0)))
        (i32.load (i32.const ${OUT})))
      ${fns.join('\n      ')}
      (func (export "poll") (param $fd i32) (result i32)
        (i64.store (i32.const ${BUF + 64}) (i64.const 7))
        (i32.store8 (i32.const ${BUF + 72}) (i32.const 1)) ;; FD_READ
        (i32.store (i32.const ${BUF + 80}) (local.get $fd))
        (call $poll_oneoff (i32.const ${BUF + 64}) (i32.const ${BUF + 128}) (i32.const 1) (i32.const ${OUT})))`),
    );
    const host = new WasiHost({ args: [], env: [], preopens: [{ hostPath: dir, guestPath: '/sb' }], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
    const instance = new Wasm.Instance(mod, host.imports);
    host.setMemory(instance.exports.memory as { buffer: ArrayBuffer });
    const ex = instance.exports as Record<string, (a: number) => number>;
    const file = ex.open_rightless!(0);
    const directory = ex.open_rightless!(1);
    assert.deepEqual([file, directory], [4, 5]);
    const EBADF = 8;
    const ENOTDIR = 54;
    const EPERM = 63;
    const covered = new Set<string>();
    badFdCases.forEach(([name], i) => {
      if (NEEDS_NO_RIGHT.has(name) || name.startsWith('sock_')) return; // sockets: test/wasi/errno.test.ts, sock.test.ts
      covered.add(name);
      const onDirectory = name.startsWith('path_') || name === 'fd_readdir';
      const errno = ex[`call${i}`]!(onDirectory ? directory : file);
      // wasi-common's errnos: EBADF without FD_READ / FD_WRITE, ENOTDIR without FD_READDIR, EPERM otherwise.
      const want = /^fd_p?(read|write)$/.test(name) ? EBADF : name === 'fd_readdir' ? ENOTDIR : EPERM;
      assert.equal(errno, want, `${name} on an fd without rights returned ${errno}`);
    });
    assert.equal(ex.poll!(file), EPERM, 'poll_oneoff on an fd without POLL_FD_READWRITE');
    for (const name of PREVIEW1_FUNCTIONS) {
      if (/^(fd_|path_)/.test(name) && !NEEDS_NO_RIGHT.has(name)) assert.ok(covered.has(name), `${name} is not checked here`);
    }
    // Refused before acting: nothing was created, linked, renamed, removed or changed.
    assert.deepEqual(readdirSync(dir).sort(), ['f.txt', 'lnk']);
    assert.equal(readFileSync(join(dir, 'f.txt'), 'utf8'), 'file contents');
    host.close();
  } finally {
    cleanup(dir);
  }
});
