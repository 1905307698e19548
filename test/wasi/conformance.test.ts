// Conformance of each group of WASI functions, against the witx spec and
// wasmtime's preview1 behaviour (errno choices noted where wasmtime decides).
// The C guest (guests/conform.c) makes raw wasi_snapshot_preview1 calls and
// prints key=value lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, guest, run, tempDir, type RunOptions } from './harness.js';

const E = { SUCCESS: 0, BADF: 8, EXIST: 20, ILSEQ: 25, INVAL: 28, ISDIR: 31, LOOP: 32, NAMETOOLONG: 37, NOENT: 44, NOTDIR: 54, NOTEMPTY: 55, NOTSOCK: 57, NOTSUP: 58, PERM: 63, SPIPE: 70, NOTCAPABLE: 76 };

/** Runs a conform.c scenario; returns its key=value lines as a map (repeated keys collect into arrays). */
function scenario(name: string, opts: RunOptions = {}, ...extra: string[]): Map<string, string> & { all(key: string): string[] } {
  const r = run(guest('conform.wasm'), { ...opts, args: ['conform', name, ...extra] });
  assert.equal(r.code, 0, `scenario ${name} exited ${r.code}: ${r.stdout}${r.stderr}`);
  const map = new Map<string, string>() as Map<string, string> & { all(key: string): string[] };
  const multi = new Map<string, string[]>();
  for (const line of r.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    map.set(k, v);
    multi.set(k, [...(multi.get(k) ?? []), v]);
  }
  map.all = (k: string) => multi.get(k) ?? [];
  return map;
}

/** A timestamp in nanoseconds that ww keeps to the microsecond (stat.ts setTimes): compared in microseconds,
 *  since below that what the host stores depends on Node's version (20 and 22 truncate, 24 keeps a double's digits). */
class AtMicrosecond {
  constructor(readonly ns: bigint) {}
}
const atMicrosecond = (ns: string): AtMicrosecond => new AtMicrosecond(BigInt(ns));

/** Asserts each listed key has the given value (numbers compare as errno/decimal text). */
function expectValues(got: Map<string, string>, want: Record<string, string | number | AtMicrosecond>): void {
  for (const [k, v] of Object.entries(want)) {
    if (v instanceof AtMicrosecond) assert.equal(BigInt(got.get(k) ?? '-1') / 1000n, v.ns / 1000n, `${k} (to the microsecond)`);
    else assert.equal(got.get(k), String(v), `${k}`);
  }
}

/** witx rights bits by name. */
const R = Object.fromEntries(
  [
    'FD_DATASYNC', 'FD_READ', 'FD_SEEK', 'FD_FDSTAT_SET_FLAGS', 'FD_SYNC', 'FD_TELL', 'FD_WRITE', 'FD_ADVISE', 'FD_ALLOCATE',
    'PATH_CREATE_DIRECTORY', 'PATH_CREATE_FILE', 'PATH_LINK_SOURCE', 'PATH_LINK_TARGET', 'PATH_OPEN', 'FD_READDIR',
    'PATH_READLINK', 'PATH_RENAME_SOURCE', 'PATH_RENAME_TARGET', 'PATH_FILESTAT_GET', 'PATH_FILESTAT_SET_SIZE',
    'PATH_FILESTAT_SET_TIMES', 'FD_FILESTAT_GET', 'FD_FILESTAT_SET_SIZE', 'FD_FILESTAT_SET_TIMES', 'PATH_SYMLINK',
    'PATH_REMOVE_DIRECTORY', 'PATH_UNLINK_FILE', 'POLL_FD_READWRITE', 'SOCK_SHUTDOWN', 'SOCK_ACCEPT',
  ].map((name, bit) => [name, 1n << BigInt(bit)]),
) as Record<string, bigint>;
const rights = (...names: string[]): string => '0x' + names.reduce((acc, n) => acc | R[n]!, 0n).toString(16);
const STDIN_RIGHTS = rights('FD_READ', 'FD_FILESTAT_GET', 'POLL_FD_READWRITE');
const STDOUT_RIGHTS = rights('FD_WRITE', 'FD_FILESTAT_GET', 'POLL_FD_READWRITE');

test('args: sizes and contents, including empty and spaced arguments', () => {
  const r = scenario('args', { env: [['K', 'V'], ['EMPTY', '']] }, 'a b', '');
  expectValues(r, { args_sizes_get: 0, argc: 4, argv_size: 'conform\0args\0a b\0\0'.length, args_get: 0 });
  assert.deepEqual(r.all('arg'), ['[conform]', '[args]', '[a b]', '[]']);
});

test('environ: pairs in order as K=V; libc getenv sees them', () => {
  const r = scenario('args', { env: [['K', 'V'], ['EMPTY', ''], ['UTF', 'ü']] });
  expectValues(r, { environ_sizes_get: 0, envc: 3, env_size: Buffer.byteLength('K=V\0EMPTY=\0UTF=ü\0'), environ_get: 0, getenv_K: 'V' });
  assert.deepEqual(r.all('env'), ['[K=V]', '[EMPTY=]', '[UTF=ü]']);
});

test('environ: an empty environment reports 0, 0 and environ_get succeeds', () => {
  const r = scenario('args', { env: [] });
  expectValues(r, { environ_sizes_get: 0, envc: 0, env_size: 0, environ_get: 0, getenv_K: '(null)' });
  assert.deepEqual(r.all('env'), []);
});

test('clocks: realtime is the epoch in ns, monotonic never goes back, both at ns resolution', () => {
  const before = BigInt(Date.now()) * 1_000_000n;
  const r = scenario('clock');
  const after = BigInt(Date.now() + 1) * 1_000_000n;
  for (const id of [0, 1, 2, 3]) {
    assert.equal(r.get(`time_errno_${id}`), '0', `clock ${id}`);
    assert.equal(r.get(`res_errno_${id}`), '0', `clock ${id}`);
  }
  const realtime = BigInt(r.get('time_0')!);
  assert.ok(realtime >= before - 1_000_000n && realtime <= after, `realtime ${realtime} within [${before}, ${after}]`);
  assert.equal(r.get('res_0'), '1');
  assert.equal(r.get('res_1'), '1');
  assert.ok(BigInt(r.get('time_2')!) > 0n, 'process CPU time is positive');
  assert.equal(r.get('res_2'), '1000');
  // Invalid clock ids are EINVAL (witx enum).
  expectValues(r, { time_errno_bad: E.INVAL, res_errno_bad: E.INVAL, monotonic_backwards: 0 });
  // Nanosecond precision: most samples are not whole microseconds (a µs clock would give 0 of 1000).
  assert.ok(Number(r.get('monotonic_sub_us_samples')) > 500);
  assert.ok(Number(r.get('realtime_sub_us_samples')) > 500);
});

test('random_get fills large buffers (beyond one 64 KiB chunk) with uniform bytes', () => {
  const r = scenario('random');
  expectValues(r, { random_big: 0, random_a: 0, random_b: 0, two_draws_equal: 0, random_zero_len: 0 });
  // 200000 bytes over 256 values: ~781 each; a broken fill (zeros, a repeated chunk) is far outside this band.
  assert.ok(Number(r.get('byte_count_min')) > 550, r.get('byte_count_min'));
  assert.ok(Number(r.get('byte_count_max')) < 1050, r.get('byte_count_max'));
  assert.ok(Number(r.get('tail_zero_bytes')) < 30);
});

test('stdio: rights, filetype and errnos as wasmtime (ESPIPE for seeks, EBADF for the wrong direction)', () => {
  const r = scenario('stdio', { stdin: { kind: 'bytes', data: Buffer.from('stdin-data') } });
  // FD_READ or FD_WRITE as wasmtime, and FD_FILESTAT_GET | POLL_FD_READWRITE (held, so reported); not a tty => unknown.
  assert.equal(r.get('fdstat0'), `0 type=0 flags=0 base=${STDIN_RIGHTS} inh=${STDIN_RIGHTS}`);
  assert.equal(r.get('fdstat1'), `0 type=0 flags=0 base=${STDOUT_RIGHTS} inh=${STDOUT_RIGHTS}`);
  assert.equal(r.get('fdstat2'), `0 type=0 flags=0 base=${STDOUT_RIGHTS} inh=${STDOUT_RIGHTS}`);
  expectValues(r, {
    seek1: E.SPIPE,
    tell0: E.SPIPE,
    pread0: E.SPIPE,
    pread1: E.BADF,
    pwrite1: E.SPIPE,
    pwrite0: E.BADF,
    write0: E.BADF,
    read1: E.BADF,
    filestat1: '0 type=0 size=0',
    set_flags1: E.BADF,
    set_rights1: E.BADF,
    set_times1: E.BADF,
    set_size1: E.BADF,
    sync1: E.BADF,
    readdir1: E.BADF,
    prestat1: E.BADF,
    prestat_dir_name1: E.NOTDIR,
    path_open1: E.BADF,
    stdin: '[stdin-data]',
    read0_errno: 0,
    write_badfd: E.BADF,
    close_badfd: E.BADF,
    fdstat_badfd: E.BADF,
    write_negfd: E.BADF,
    sched_yield: 0,
  });
});

test('stdio endpoints: a source feeds stdin, a host fd receives stdout, null reads as EOF', () => {
  let served = false;
  const fromSource = run(guest('conform.wasm'), {
    args: ['conform', 'stdio'],
    stdin: {
      kind: 'source',
      read: (buf) => {
        if (served) return 0;
        served = true;
        buf.set(Buffer.from('from-source'));
        return 11;
      },
    },
  });
  assert.match(fromSource.stdout, /^stdin=\[from-source\]$/m);

  const dir = tempDir();
  try {
    const outPath = join(dir, 'out.txt');
    const outFd = openSync(outPath, 'w');
    try {
      const r = run(guest('conform.wasm'), { args: ['conform', 'stdio'], stdin: { kind: 'null' }, stdout: { kind: 'fd', fd: outFd } });
      assert.equal(r.code, 0);
      assert.equal(r.stdout, '', 'nothing went to the capture sink');
    } finally {
      closeSync(outFd);
    }
    const text = readFileSync(outPath, 'utf8');
    assert.match(text, /^stdin=\[\]$/m);
    assert.match(text, new RegExp(`^fdstat1=0 type=0 flags=0 base=${STDOUT_RIGHTS} inh=${STDOUT_RIGHTS}$`, 'm'));
  } finally {
    cleanup(dir);
  }
});

test('sock_* on stdio of every kind, pre-opens and files is ENOTSOCK; an unknown fd is EBADF; the host survives', async () => {
  const dir = tempDir();
  const { execFileSync } = await import('node:child_process');
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    writeFileSync(join(dir, 'file'), 'x');
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const fifoFd = openSync(join(dir, 'fifo'), 'r+'); // a pipe (O_RDWR never blocks on a FIFO)
    const devNull = openSync('/dev/null', 'r+');
    // The listening TCP socket's own fd: exactly what crashes node:wasi.
    const socketFd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    assert.ok(socketFd > 2);
    try {
      const endpoints = [
        { kind: 'fd', fd: fifoFd },
        { kind: 'fd', fd: devNull },
        { kind: 'fd', fd: socketFd },
        { kind: 'null' },
        { kind: 'bytes', data: new Uint8Array(0) },
      ] as const;
      for (const ep of endpoints) {
        const r = scenario('sock', { stdin: ep, preopens: [{ hostPath: dir, guestPath: '/sb' }] });
        for (const fd of [0, 1, 2, 3]) {
          for (const call of ['accept', 'recv', 'send', 'shutdown']) assert.equal(r.get(`${call}${fd}`), String(E.NOTSOCK), `${call} on fd ${fd} with stdin ${ep.kind}`);
        }
        for (const call of ['accept', 'recv', 'send', 'shutdown']) assert.equal(r.get(`${call}4`), String(E.BADF), `${call} on a closed fd`);
        expectValues(r, { accept_badfd: E.BADF, after_sock_write: 0 });
      }
    } finally {
      closeSync(fifoFd);
      closeSync(devNull);
    }
  } finally {
    server.close();
    cleanup(dir);
  }
});

// A pre-open's rights: wasmtime's fixed set, plus PATH_FILESTAT_SET_SIZE (path_open with O_TRUNC needs it).
const PREOPEN_BASE_NAMES = [
  'PATH_CREATE_DIRECTORY', 'PATH_CREATE_FILE', 'PATH_LINK_SOURCE', 'PATH_LINK_TARGET', 'PATH_OPEN', 'FD_READDIR',
  'PATH_READLINK', 'PATH_RENAME_SOURCE', 'PATH_RENAME_TARGET', 'PATH_SYMLINK', 'PATH_REMOVE_DIRECTORY',
  'PATH_UNLINK_FILE', 'PATH_FILESTAT_GET', 'PATH_FILESTAT_SET_TIMES', 'FD_FILESTAT_GET', 'FD_FILESTAT_SET_TIMES',
  'PATH_FILESTAT_SET_SIZE',
];
const PREOPEN_BASE = rights(...PREOPEN_BASE_NAMES);
const PREOPEN_INHERITING = rights(
  ...PREOPEN_BASE_NAMES,
  'FD_DATASYNC', 'FD_READ', 'FD_SEEK', 'FD_FDSTAT_SET_FLAGS', 'FD_SYNC', 'FD_TELL', 'FD_WRITE', 'FD_ADVISE',
  'FD_ALLOCATE', 'FD_FILESTAT_SET_SIZE', 'POLL_FD_READWRITE',
);
const FILE_RIGHTS = rights(
  'FD_DATASYNC', 'FD_READ', 'FD_SEEK', 'FD_FDSTAT_SET_FLAGS', 'FD_SYNC', 'FD_TELL', 'FD_WRITE', 'FD_ADVISE',
  'FD_ALLOCATE', 'FD_FILESTAT_GET', 'FD_FILESTAT_SET_SIZE', 'FD_FILESTAT_SET_TIMES', 'POLL_FD_READWRITE',
);

function withSandbox(body: (dir: string) => void): void {
  const dir = tempDir();
  try {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'inner.txt'), 'inner');
    writeFileSync(join(dir, 'target.txt'), 'target');
    body(dir);
  } finally {
    cleanup(dir);
  }
}

test('fd operations on files: positions, iovecs, pread/pwrite, sizes, timestamps, flags, rights, renumber', () => {
  withSandbox((dir) => {
    const r = scenario('fdops', { preopens: [{ hostPath: dir, guestPath: '/sb' }] });
    expectValues(r, {
      open_rw: 0,
      fd: 4, // lowest free fd after stdio and the pre-open
      write_iovs: 0,
      written: 10,
      pos: 10,
      pos_set: 2,
      pos_cur: 5,
      pos_end: 9,
      seek_negative: E.INVAL,
      seek_bad_whence: E.INVAL,
      read: '8 [12345678]',
      pread_data: '4 [6789]',
      pos_after_pread: 9, // pread leaves the position alone
      pwrite: 0,
      pwrite_past_end: 0,
      size: 14, // "0123456789" + "AB" at 12
      filetype: 4,
      nlink: 1,
      size_after_truncate: 5,
      read_at_eof: 0,
      read_at_eof_n: 0,
      // Timestamps are set to the microsecond (Node's utimes; wasmtime keeps nanoseconds).
      atim: atMicrosecond('1111111111123456000'),
      mtim: atMicrosecond('1222222222987654000'),
      atim_kept: atMicrosecond('1111111111123456000'),
      mtim2: atMicrosecond('1333333333000001000'),
      set_times_both_and_now: E.INVAL,
      sync: 0,
      datasync: 0,
      advise: 0,
      advise_bad: E.INVAL,
      allocate: E.NOTSUP, // as wasmtime
      fdstat_type: 4,
      fdstat_flags: 0,
      // Every fd_* right a file can use; no path_* rights (WASI testsuite path_filestat; wasmtime reports all).
      fdstat_base: FILE_RIGHTS,
      fdstat_inh: FILE_RIGHTS,
      fdstat_flags2: 1, // APPEND
      pos_after_append: 6, // append wrote at the end whatever the position was
      set_flags_sync: E.INVAL, // wasmtime: only APPEND/NONBLOCK may change
      set_rights: 0,
      narrowed_base: rights('FD_READ', 'FD_WRITE'),
      narrowed_inh: '0x0',
      set_rights_widen: 76, // ENOTCAPABLE: rights can only be removed (witx)
      ro_has_write: 0,
      ro_has_read: 1,
      ro_content: '[01234Z]',
      ro_write: E.BADF,
      // No rights asked for: open for reading, as wasmtime (raw-ABI programs rely on it).
      open_no_rights: 0,
      no_rights_has_read: 1,
      no_rights_has_write: 0,
      no_rights_read: 0,
      no_rights_content: '[01234Z]',
      no_rights_write: E.BADF,
      no_rights_filestat: 0,
      append_flags: 1,
      pwrite_on_append: 0,
      size_after_appends: 8, // both the write and the pwrite appended (Linux O_APPEND semantics, as wasmtime)
      renumber: 0,
      fdstat_old_fd2: E.BADF,
      renumbered_flags: 1,
      renumber_bad: E.BADF,
      renumber_to_closed: E.BADF,
      fdstat_after_renumber_to_closed: 0,
      fdstat_60: E.BADF,
      close: 0,
      close_again: E.BADF,
    });
  });
});

test('fd operations on directories and pre-opens: EBADF for file-only calls, rights as wasmtime, prestat', () => {
  withSandbox((dir) => {
    const r = scenario('fdops', { preopens: [{ hostPath: dir, guestPath: '/sb' }] });
    expectValues(r, {
      open_dir_for_writing: E.ISDIR, // O_DIRECTORY with FD_WRITE (WASI testsuite path_open_preopen)
      open_dir: 0,
      dir_read: E.BADF,
      dir_write: E.BADF,
      dir_seek: E.BADF,
      dir_set_size: E.BADF,
      dir_sync: E.BADF,
      dir_filestat: 0,
      dir_filetype: 3,
      dir_fdstat: 0,
      // wasmtime: all rights minus FD_SEEK, FD_FILESTAT_SET_SIZE, and FD_WRITE (a directory is not opened for
      // writing); bounded by what the pre-open passes on (its inheriting rights).
      dir_base: '0x' + (BigInt(PREOPEN_INHERITING) & ~(R.FD_SEEK! | R.FD_FILESTAT_SET_SIZE! | R.FD_WRITE!)).toString(16),
      dir_prestat: E.BADF,
      dir_prestat_dir_name: E.NOTDIR,
      path_open_on_file: E.NOTDIR,
      mkdir_on_file: E.BADF,
      readdir_on_file: E.BADF,
      prestat3: 0,
      prestat3_tag: 0,
      prestat3_len: 3,
      prestat_dir_name3: 0,
      prestat3_name: '[/sb]',
      prestat_dir_name3_short: E.NAMETOOLONG,
      preopen_type: 3,
      prestat_next: E.BADF,
    });
    assert.equal(r.get('preopen_base'), PREOPEN_BASE);
    assert.equal(r.get('preopen_inh'), PREOPEN_INHERITING);
  });
});

test('path operations: create, open flags, remove, link, rename and their errnos', () => {
  withSandbox((dir) => {
    const r = scenario('paths', { preopens: [{ hostPath: dir, guestPath: '/sb' }] });
    expectValues(r, {
      mkdir: 0,
      mkdir_exists: E.EXIST,
      mkdir_trailing_slash: 0,
      mkdir_missing_parent: E.NOENT,
      create_file: 0,
      creat_excl_exists: E.EXIST,
      open_missing: E.NOENT,
      open_file_as_dir: E.NOTDIR,
      open_through_file: E.NOTDIR,
      open_file_trailing_slash: E.NOTDIR,
      open_empty_path: E.NOENT,
      open_dir_for_write: E.ISDIR,
      open_dot: 0,
      open_dir_no_flag: 0,
      dir_no_flag_type: 3,
      rmdir_not_empty: E.NOTEMPTY,
      rmdir_file: E.NOTDIR,
      unlink_dir: E.ISDIR,
      unlink_missing: E.NOENT,
      unlink_trailing_slash: E.NOTDIR,
      // The trailing-slash rules of the WASI testsuite (unlink_file_trailing_slashes, path_link,
      // path_symlink_trailing_slashes), and path_link's refusal to follow (wasmtime).
      unlink_dir_trailing_slash: E.ISDIR,
      link_new_trailing_slash: E.NOENT,
      link_follow: E.INVAL,
      symlink_onto_dir_slash: E.EXIST,
      symlink_onto_file_slash: E.NOTDIR,
      link: 0,
      link_exists: E.EXIST,
      link_dir: E.PERM,
      hard_nlink: 2,
      rename_file: 0,
      rename_missing: E.NOENT,
      rename_dir: 0,
      renamed_type: 4,
      rename_dir_into_itself: E.INVAL,
      rename_file_onto_dir: E.ISDIR,
      rename_dir_onto_file: E.NOTDIR,
      rename_dir_onto_empty_dir: 0,
      unlink_moved: 0,
      unlink_f: 0,
      rmdir: 0,
      rmdir_again: E.NOENT,
      rmdir_dot: E.INVAL,
      dot_type: 3,
      stat_bad_fd: E.BADF,
      set_times_path: 0,
      dot_atim: atMicrosecond('1000000000123456000'),
      dot_mtim: atMicrosecond('1000000000987654000'),
    });
  });
});

test('symlinks: create, readlink (truncating like wasmtime), follow vs nofollow, dangling links', () => {
  withSandbox((dir) => {
    const r = scenario('symlinks', { preopens: [{ hostPath: dir, guestPath: '/sb' }] });
    expectValues(r, {
      symlink: 0,
      symlink_exists: E.EXIST,
      symlink_dangling: 0,
      readlink: 0,
      readlink_text: '10 [target.txt]',
      readlink_short: 0,
      readlink_short_text: '4 [targ] next=#', // truncated to the buffer, nothing written past it
      readlink_zero: 0,
      readlink_zero_used: 0,
      readlink_not_link: E.INVAL,
      readlink_missing: E.NOENT,
      stat_follow_type: '4 size=6',
      stat_nofollow_type: '7 size=10',
      open_follow: 0,
      open_nofollow: E.LOOP,
      open_dangling: E.NOENT,
      create_through_dangling: 0, // O_CREAT through a dangling link creates its target (inside)
      stat_nowhere: 0,
      excl_through_link: E.EXIST,
      symlink_dir: 0,
      open_via_dirlink: 0,
      symlink_trailing_slash: E.NOENT,
      unlink_link: 0,
      stat_target_after_unlink: 0,
      rmdir_dirlink: E.NOTDIR,
      unlink_dirlink: 0,
      sub_type: 3,
      lset_times_link: 0,
      dangling_mtim: atMicrosecond('3000000000000000000'), // a link's own time, set without following (to the microsecond)
    });
  });
});

test('a FIFO opened inside the sandbox is a stream: reads and writes work, seeking is ESPIPE', async () => {
  const { execFileSync } = await import('node:child_process');
  const { wat } = await import('./harness.js');
  const dir = tempDir();
  try {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const mod = await wat(`(module
      (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 100) "fifo")
      (data (i32.const 200) "abc")
      (global $fd (mut i32) (i32.const -1))
      (func (export "open") (result i32)
        (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 4) (i32.const 0)
          (i64.const ${R.FD_READ! | R.FD_WRITE! | R.FD_SEEK! | R.FD_FILESTAT_GET!}) (i64.const 0) (i32.const 0) (i32.const 0)))
      (func (export "write") (result i32)
        (i32.store (i32.const 16) (i32.const 200)) (i32.store (i32.const 20) (i32.const 3))
        (call $fd_write (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 24)))
      (func (export "read") (result i32)
        (i32.store (i32.const 16) (i32.const 300)) (i32.store (i32.const 20) (i32.const 10))
        (call $fd_read (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 24)))
      (func (export "seek") (result i32) (call $fd_seek (i32.load (i32.const 0)) (i64.const 0) (i32.const 0) (i32.const 32)))
      (func (export "stat") (result i32) (call $fd_filestat_get (i32.load (i32.const 0)) (i32.const 400)))
      (func (export "_start")))`);
    const { WasiHost } = await import('../../src/wasm/wasi/index.js');
    const { Wasm } = await import('./harness.js');
    const host = new WasiHost({ args: [], env: [], preopens: [{ hostPath: dir, guestPath: '/d' }], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
    const instance = new Wasm.Instance(mod, host.imports);
    const memory = instance.exports.memory as { buffer: ArrayBuffer };
    host.setMemory(memory);
    const ex = instance.exports as Record<string, () => number>;
    assert.equal(ex.open!(), 0); // FD_READ | FD_WRITE: O_RDWR never blocks on a FIFO
    assert.equal(ex.write!(), 0);
    assert.equal(ex.read!(), 0);
    const v = new DataView(memory.buffer);
    assert.equal(v.getUint32(24, true), 3);
    assert.equal(Buffer.from(new Uint8Array(memory.buffer, 300, 3)).toString(), 'abc');
    assert.equal(ex.seek!(), E.SPIPE);
    assert.equal(ex.stat!(), 0);
    assert.equal(new Uint8Array(memory.buffer)[400 + 16], 0, 'a FIFO has no preview1 filetype: unknown (as wasmtime)');
    host.close();
  } finally {
    cleanup(dir);
  }
});

test('an AssemblyScript guest reads argv and an empty or full environment (node:wasi aborts it on an empty one)', () => {
  const empty = run(guest('as-env.wasm'), { args: ['as-env', 'x y'], env: [] });
  assert.equal(empty.code, 3);
  assert.equal(empty.stdout, 'arg as-env\narg x y\nenv count 0\n');
  assert.equal(empty.stderr, '');
  const full = run(guest('as-env.wasm'), { args: ['as-env'], env: [['A', '1'], ['B', 'two=2']] });
  assert.equal(full.code, 3);
  assert.equal(full.stdout, 'arg as-env\nenv count 2\nenv A=1\nenv B=two=2\n');
});

test('rights are enforced: dropped by fd_fdstat_set_rights or not passed on by a directory, a call is refused', () => {
  withSandbox((dir) => {
    const r = scenario('rights', { preopens: [{ hostPath: dir, guestPath: '/sb' }] });
    expectValues(r, {
      open: 0,
      write: 0,
      // Without FD_READ / FD_WRITE: EBADF, as POSIX for an fd not open for it (and wasi-common).
      drop_rw: 0,
      read_dropped: E.BADF,
      write_dropped: E.BADF,
      pread_dropped: E.BADF,
      pwrite_dropped: E.BADF,
      regain: E.NOTCAPABLE, // a dropped right cannot be taken back (witx)
      // Any other missing right: EPERM (wasi-common); a seek by 0 from the current position needs only FD_TELL.
      drop_seek: 0,
      seek_dropped: E.PERM,
      seek_cur_0: 0,
      pos: 5,
      tell: 0,
      drop_all: 0,
      filestat_dropped: E.PERM,
      set_size_dropped: E.PERM,
      set_flags_dropped: E.PERM,
      sync_dropped: E.PERM,
      tell_dropped: E.PERM,
      fdstat_dropped: 0,
      base_dropped: '0x0',
      close: 0,
      // The directory no longer passes on FD_READ (WASI testsuite path_open_read_without_rights).
      open_dir: 0,
      dir_drop_read: 0,
      open_no_rights: 0,
      no_rights_has_read: 0,
      no_rights_read: E.BADF,
      open_asking_read: 0,
      asking_read_has_read: 0,
      asking_read_has_write: 1,
      asking_read_read: E.BADF,
      // Each path_* call needs its own right on the directory; fd_readdir's is ENOTDIR (wasi-common).
      dir_drop_path_rights: 0,
      mkdir_dropped: E.PERM,
      stat_dropped: E.PERM,
      unlink_dropped: E.PERM,
      readdir_dropped: E.NOTDIR,
      creat_dropped: E.PERM,
      open_kept: 0,
      drop_open: 0,
      open_dropped: E.PERM,
      // O_TRUNC needs PATH_FILESTAT_SET_SIZE on the directory (witx); the file keeps its contents.
      preopen_drop_trunc: 0,
      trunc_dropped: E.PERM,
      open_without_trunc: 0,
      read_untruncated: 0,
      content: '[hello]',
    });
    assert.equal(readFileSync(join(dir, 'sub', 'inner.txt'), 'utf8'), 'inner', 'nothing was removed or truncated');
    assert.deepEqual(readdirSync(join(dir, 'sub')).sort(), ['inner.txt']);
  });
});

test('APPEND set at open appends whatever the position; cleared with fd_fdstat_set_flags, writes land in place again', () => {
  withSandbox((dir) => {
    const r = scenario('flags', { preopens: [{ hostPath: dir, guestPath: '/sb' }] });
    expectValues(r, {
      open_append: 0,
      write0: 0,
      write1_appends: 0,
      read1: 0,
      read1_is_ones: 1,
      clear_flags: 0,
      flags_after_clear: 0,
      write2_overwrites: 0,
      read2_is_twos: 1,
      set_append_again: 0,
      write3_appends: 0,
      close: 0,
      stat: 0,
      size: 300,
    });
    const bytes = readFileSync(join(dir, 'flags.bin'));
    assert.deepEqual([bytes[0], bytes[99], bytes[100], bytes[199], bytes[200], bytes[299]], [2, 2, 1, 1, 2, 2]);
  });
});
