// Read-only pre-opens (Preopen.readOnly): a guest reads through one as through any other and
// changes nothing. Every call that would change the file system is refused with the errno
// src/wasm/wasi/README.md gives ("Read-only pre-opens"), whatever rights the guest asks for, and
// the host tree is afterwards as it was, inode for inode. A read-write pre-open beside it keeps
// working, and nothing moves or links between the two. The guest passes raw preview1 calls through
// (one export per import), so each call is made exactly as a guest makes it.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WasiHost } from '../../src/wasm/wasi/index.js';
import { PREVIEW1, PREVIEW1_FUNCTIONS } from '../../src/wasm/wasi/abi/functions.js';
import { WasiError } from '../../src/wasm/wasi/abi/errno.js';
import { DirHandle, Oflags, type OpenRequest } from '../../src/wasm/wasi/fs/dir.js';
import { FileHandle } from '../../src/wasm/wasi/fs/file.js';
import { Wasm, cleanup, tempDir, wat } from './harness.js';
import { allImportsModule } from './signatures.js';

const E = { SUCCESS: 0, BADF: 8, PERM: 63, NOTCAPABLE: 76 };

/** witx rights by name (the witx order), kept here so the test does not read the host's own table. */
const RIGHT_NAMES = [
  'FD_DATASYNC', 'FD_READ', 'FD_SEEK', 'FD_FDSTAT_SET_FLAGS', 'FD_SYNC', 'FD_TELL', 'FD_WRITE', 'FD_ADVISE', 'FD_ALLOCATE',
  'PATH_CREATE_DIRECTORY', 'PATH_CREATE_FILE', 'PATH_LINK_SOURCE', 'PATH_LINK_TARGET', 'PATH_OPEN', 'FD_READDIR',
  'PATH_READLINK', 'PATH_RENAME_SOURCE', 'PATH_RENAME_TARGET', 'PATH_FILESTAT_GET', 'PATH_FILESTAT_SET_SIZE',
  'PATH_FILESTAT_SET_TIMES', 'FD_FILESTAT_GET', 'FD_FILESTAT_SET_SIZE', 'FD_FILESTAT_SET_TIMES', 'PATH_SYMLINK',
  'PATH_REMOVE_DIRECTORY', 'PATH_UNLINK_FILE', 'POLL_FD_READWRITE', 'SOCK_SHUTDOWN', 'SOCK_ACCEPT',
] as const;
type RightName = (typeof RIGHT_NAMES)[number];
const R = Object.fromEntries(RIGHT_NAMES.map((n, bit) => [n, 1n << BigInt(bit)])) as Record<RightName, bigint>;
const rights = (...names: RightName[]): bigint => names.reduce((acc, n) => acc | R[n], 0n);
const ALL = (1n << 30n) - 1n;
const namesIn = (set: bigint): RightName[] => RIGHT_NAMES.filter((n) => (set & R[n]) !== 0n);

/** The rights a read-only fd must never hold (the task's list, written out independently of rights.ts). */
const MUTATING = rights(
  'FD_WRITE', 'FD_ALLOCATE', 'FD_FILESTAT_SET_SIZE', 'FD_FILESTAT_SET_TIMES', 'PATH_CREATE_DIRECTORY', 'PATH_CREATE_FILE',
  'PATH_LINK_SOURCE', 'PATH_LINK_TARGET', 'PATH_RENAME_SOURCE', 'PATH_RENAME_TARGET', 'PATH_SYMLINK',
  'PATH_REMOVE_DIRECTORY', 'PATH_UNLINK_FILE', 'PATH_FILESTAT_SET_SIZE', 'PATH_FILESTAT_SET_TIMES',
);
/** What a reader asks for: everything but FD_WRITE (Rust's std asks for the path_* rights too, and is given fewer). */
const READ_ALL = ALL & ~R.FD_WRITE;
const READ = rights('FD_READ', 'FD_SEEK', 'FD_TELL', 'FD_FILESTAT_GET');
const WRITE = rights('FD_READ', 'FD_WRITE', 'FD_SEEK', 'FD_TELL', 'FD_FILESTAT_GET', 'FD_FILESTAT_SET_SIZE');
const FDFLAGS_APPEND = 1;
const FDFLAGS_NONBLOCK = 4;
const FST_ATIM_NOW = 2;
const FST_MTIM_NOW = 8;
const FOLLOW = 1;

// Every function but proc_exit, exported as is: the test makes each call as a guest would.
const passThrough = allImportsModule(
  PREVIEW1_FUNCTIONS.filter((name) => name !== 'proc_exit')
    .map((name) => {
      const params = PREVIEW1[name].params;
      const args = params.map((_, i) => `(local.get ${i})`).join(' ');
      return `(func (export "${name}") ${params.length ? `(param ${params.join(' ')})` : ''} (result i32) (call $${name} ${args}))`;
    })
    .join('\n  ') + '\n  (func (export "_start"))',
);

const RO = 3; // the read-only pre-open, /ro
const RW = 4; // the read-write one, /rw
const OUT = 0x100; // results
const IOV = 0x200; // one iovec
const DATA = 0x400; // read and write buffers
const STRINGS = 0x1000; // paths, bump-allocated per call

type Call = (...args: (number | bigint)[]) => number;

/** A guest with the two pre-opens, driven call by call. */
class Guest {
  private readonly calls: Record<string, Call>;
  private readonly memory: { buffer: ArrayBuffer };
  private next = STRINGS;

  constructor(readonly host: WasiHost, instance: { exports: Record<string, unknown> }) {
    this.calls = instance.exports as Record<string, Call>;
    this.memory = instance.exports.memory as { buffer: ArrayBuffer };
  }

  private get view(): DataView {
    return new DataView(this.memory.buffer);
  }

  /** Makes one preview1 call; returns its errno. */
  call(name: string, ...args: (number | bigint)[]): number {
    this.next = STRINGS;
    return this.calls[name]!(...args);
  }

  /** Puts `text` in guest memory for the next call: [pointer, length]. */
  str(text: string): [number, number] {
    const bytes = Buffer.from(text);
    const at = this.next;
    new Uint8Array(this.memory.buffer, at, bytes.length).set(bytes);
    this.next += bytes.length + 16;
    return [at, bytes.length];
  }

  u32(at: number): number {
    return this.view.getUint32(at, true);
  }

  text(at: number, length: number): string {
    return Buffer.from(new Uint8Array(this.memory.buffer, at, length)).toString();
  }

  /** path_open; returns [errno, new fd]. */
  open(dir: number, path: string, o: { oflags?: number; base?: bigint; inheriting?: bigint; fdflags?: number; lookup?: number } = {}): [number, number] {
    this.next = STRINGS;
    const [p, n] = this.str(path);
    const errno = this.calls.path_open!(dir, o.lookup ?? FOLLOW, p, n, o.oflags ?? 0, o.base ?? READ, o.inheriting ?? 0n, o.fdflags ?? 0, OUT);
    return [errno, errno === 0 ? this.u32(OUT) : -1];
  }

  /** path_open that must succeed; returns the fd. */
  mustOpen(dir: number, path: string, o: Parameters<Guest['open']>[2] = {}): number {
    const [errno, fd] = this.open(dir, path, o);
    assert.equal(errno, E.SUCCESS, `open ${path}`);
    return fd;
  }

  /** A call whose arguments include paths: each string in `args` is placed in memory as (pointer, length). */
  pathCall(name: string, ...args: (number | bigint | string)[]): number {
    this.next = STRINGS;
    const flat: (number | bigint)[] = [];
    for (const a of args) {
      if (typeof a === 'string') flat.push(...this.str(a));
      else flat.push(a);
    }
    return this.calls[name]!(...flat);
  }

  /** fd_prestat_dir_name: the pre-open's guest path. */
  prestatName(fd: number): string {
    assert.equal(this.call('fd_prestat_get', fd, OUT), E.SUCCESS);
    const length = this.u32(OUT + 4);
    assert.equal(this.call('fd_prestat_dir_name', fd, DATA, length), E.SUCCESS);
    return this.text(DATA, length);
  }

  /** fd_fdstat_get: [errno, base rights, inheriting rights, fdflags]. */
  fdstat(fd: number): [number, bigint, bigint, number] {
    const errno = this.call('fd_fdstat_get', fd, OUT);
    return [errno, this.view.getBigUint64(OUT + 8, true), this.view.getBigUint64(OUT + 16, true), this.view.getUint16(OUT + 2, true)];
  }

  /** Sets up one iovec over `text` (or an empty 64-byte buffer) at DATA. */
  iovec(text?: string): void {
    const bytes = Buffer.from(text ?? '');
    new Uint8Array(this.memory.buffer, DATA, bytes.length).set(bytes);
    this.view.setUint32(IOV, DATA, true);
    this.view.setUint32(IOV + 4, text === undefined ? 64 : bytes.length, true);
  }

  write(fd: number, text: string): number {
    this.iovec(text);
    return this.call('fd_write', fd, IOV, 1, OUT);
  }

  pwrite(fd: number, text: string, offset: bigint): number {
    this.iovec(text);
    return this.call('fd_pwrite', fd, IOV, 1, offset, OUT);
  }

  /** fd_read of up to 64 bytes: [errno, text]. */
  read(fd: number): [number, string] {
    this.iovec();
    const errno = this.call('fd_read', fd, IOV, 1, OUT);
    return [errno, errno === 0 ? this.text(DATA, this.u32(OUT)) : ''];
  }

  /** fd_readdir from cookie 0 into a 4 KiB buffer: the names, in order. */
  readdir(fd: number): string[] {
    const buf = 0x2000;
    assert.equal(this.call('fd_readdir', fd, buf, 4096, 0n, OUT), E.SUCCESS);
    const used = this.u32(OUT);
    const names: string[] = [];
    for (let at = buf; at + 24 <= buf + used; ) {
      const len = this.view.getUint32(at + 16, true);
      names.push(this.text(at + 24, len));
      at += 24 + len;
    }
    return names;
  }
}

let base: string;
let ro: string;
let rw: string;
let guest: Guest;

beforeEach(async () => {
  base = tempDir('ww-readonly-');
  ro = join(base, 'ro');
  rw = join(base, 'rw');
  mkdirSync(join(ro, 'sub'), { recursive: true });
  mkdirSync(join(ro, 'empty'));
  mkdirSync(rw);
  writeFileSync(join(ro, 'f.txt'), 'hello');
  writeFileSync(join(ro, 'sub', 'inner.txt'), 'inner');
  symlinkSync('f.txt', join(ro, 'lnk'));
  writeFileSync(join(rw, 'w.txt'), 'writable');
  const host = new WasiHost({
    args: ['guest'],
    env: [],
    preopens: [
      { hostPath: ro, guestPath: '/ro', readOnly: true },
      { hostPath: rw, guestPath: '/rw' },
    ],
    stdin: { kind: 'null' },
    stdout: { kind: 'null' },
    stderr: { kind: 'null' },
  });
  const instance = new Wasm.Instance(await wat(passThrough), host.imports);
  host.setMemory(instance.exports.memory as { buffer: ArrayBuffer });
  guest = new Guest(host, instance);
});
afterEach(() => {
  guest.host.close();
  cleanup(base);
});

/**
 * Everything about a tree that a change would show: each entry's type, mode, size, link count, inode,
 * modification and change times, and its contents or link text (not atime: reading may set it).
 */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path, { bigint: true });
      const what = st.isSymbolicLink() ? `-> ${readlinkSync(path)}` : st.isFile() ? readFileSync(path, 'utf8') : 'dir';
      out.push(`${rel}${name} mode=${st.mode} size=${st.size} nlink=${st.nlink} ino=${st.ino} mtime=${st.mtimeNs} ctime=${st.ctimeNs} ${what}`);
      if (st.isDirectory()) walk(path, `${rel}${name}/`);
    }
  };
  walk(root, '');
  return out;
}

/** Runs `body`, then checks the read-only tree is exactly as before (and the read-write one too, unless it may change). */
function unchanged(body: () => void, opts: { rwMayChange?: boolean } = {}): void {
  const roBefore = snapshot(ro);
  const rwBefore = snapshot(rw);
  body();
  assert.deepEqual(snapshot(ro), roBefore, 'the read-only tree changed');
  if (!opts.rwMayChange) assert.deepEqual(snapshot(rw), rwBefore, 'the read-write tree changed');
}

/** Asserts each [label, errno got, errno expected]. */
function expectErrnos(cases: [string, number, number][]): void {
  for (const [label, got, want] of cases) assert.equal(got, want, label);
}

test('reading through a read-only pre-open works as through any: files, links, listings, stat, subdirectories', () => {
  unchanged(() => {
    const f = guest.mustOpen(RO, 'f.txt');
    assert.deepEqual(guest.read(f), [E.SUCCESS, 'hello']);
    guest.iovec();
    assert.equal(guest.call('fd_pread', f, IOV, 1, 1n, OUT), E.SUCCESS);
    assert.equal(guest.u32(OUT), 4);
    assert.equal(guest.call('fd_seek', f, 0n, 0, OUT), E.SUCCESS);
    assert.equal(guest.call('fd_tell', f, OUT), E.SUCCESS);
    // Flushing and advice change nothing, and NONBLOCK is no write: allowed, as wasmtime.
    assert.equal(guest.call('fd_sync', guest.mustOpen(RO, 'f.txt', { base: rights('FD_SYNC') })), E.SUCCESS);
    assert.equal(guest.call('fd_datasync', guest.mustOpen(RO, 'f.txt', { base: rights('FD_DATASYNC') })), E.SUCCESS);
    assert.equal(guest.call('fd_fdstat_set_flags', guest.mustOpen(RO, 'f.txt', { base: rights('FD_FDSTAT_SET_FLAGS') }), FDFLAGS_NONBLOCK), E.SUCCESS);

    assert.deepEqual(guest.read(guest.mustOpen(RO, 'lnk')), [E.SUCCESS, 'hello']);
    assert.equal(guest.pathCall('path_readlink', RO, 'lnk', DATA, 64, OUT), E.SUCCESS);
    assert.equal(guest.text(DATA, guest.u32(OUT)), 'f.txt');
    assert.equal(guest.pathCall('path_filestat_get', RO, FOLLOW, 'f.txt', OUT), E.SUCCESS);
    assert.equal(guest.call('fd_filestat_get', RO, OUT), E.SUCCESS);
    assert.deepEqual(guest.readdir(RO).sort(), ['.', '..', 'empty', 'f.txt', 'lnk', 'sub']);

    const sub = guest.mustOpen(RO, 'sub', { oflags: Oflags.DIRECTORY, base: READ_ALL, inheriting: ALL });
    assert.deepEqual(guest.read(guest.mustOpen(sub, 'inner.txt')), [E.SUCCESS, 'inner']);
    assert.deepEqual(guest.readdir(sub).sort(), ['.', '..', 'inner.txt']);
    assert.equal(guest.prestatName(RO), '/ro');
  });
});

test('the pre-open and all it opens hold and pass on no right that changes anything; a read-write one does', () => {
  const [, roBase, roInheriting] = guest.fdstat(RO);
  assert.deepEqual(namesIn(roBase & MUTATING), [], 'pre-open base');
  assert.deepEqual(namesIn(roInheriting & MUTATING), [], 'pre-open inheriting');
  assert.deepEqual(namesIn(roBase), ['PATH_OPEN', 'FD_READDIR', 'PATH_READLINK', 'PATH_FILESTAT_GET', 'FD_FILESTAT_GET']);
  assert.ok(roInheriting & R.FD_READ, 'files opened through it can be read');

  // Asked for every right but FD_WRITE, or for none: given only what reads.
  for (const asked of [READ_ALL, 0n]) {
    const [errno, base, inheriting] = guest.fdstat(guest.mustOpen(RO, 'f.txt', { base: asked, inheriting: ALL }));
    assert.equal(errno, E.SUCCESS);
    assert.deepEqual(namesIn(base & MUTATING), [], `file asked for ${asked}`);
    assert.deepEqual(namesIn(inheriting & MUTATING), []);
    assert.ok(base & R.FD_READ);
  }
  const sub = guest.mustOpen(RO, 'sub', { oflags: Oflags.DIRECTORY, base: READ_ALL, inheriting: ALL });
  const [, subBase, subInheriting] = guest.fdstat(sub);
  assert.deepEqual(namesIn((subBase | subInheriting) & MUTATING), [], 'a subdirectory');
  const inner = guest.mustOpen(sub, 'inner.txt', { base: READ_ALL, inheriting: ALL });
  assert.deepEqual(namesIn(guest.fdstat(inner)[1] & MUTATING), [], 'a file in a subdirectory');

  // The same requests through the read-write pre-open get the rights that change things.
  const [, rwBase, rwInheriting] = guest.fdstat(RW);
  assert.ok(rwBase & R.PATH_CREATE_FILE && rwBase & R.PATH_UNLINK_FILE && rwBase & R.PATH_RENAME_TARGET);
  assert.deepEqual(namesIn(MUTATING & ~rwInheriting), [], 'a read-write pre-open passes on every right that changes things');
  const w = guest.mustOpen(RW, 'w.txt', { base: ALL, inheriting: ALL });
  assert.ok(guest.fdstat(w)[1] & R.FD_WRITE);
});

test('path_open refuses to write, create, truncate, create exclusively or append (EPERM), in the pre-open and below it', () => {
  unchanged(() => {
    const sub = guest.mustOpen(RO, 'sub', { oflags: Oflags.DIRECTORY, base: READ_ALL, inheriting: ALL });
    for (const [dir, where, existing] of [[RO, 'pre-open', 'f.txt'], [sub, 'subdirectory', 'inner.txt']] as const) {
      expectErrnos([
        [`${where}: FD_WRITE`, guest.open(dir, existing, { base: WRITE })[0], E.PERM],
        [`${where}: FD_WRITE alone`, guest.open(dir, existing, { base: R.FD_WRITE })[0], E.PERM],
        [`${where}: every right`, guest.open(dir, existing, { base: ALL, inheriting: ALL })[0], E.PERM],
        [`${where}: O_CREAT, new`, guest.open(dir, 'new.txt', { oflags: Oflags.CREAT })[0], E.PERM],
        [`${where}: O_CREAT, existing`, guest.open(dir, existing, { oflags: Oflags.CREAT })[0], E.PERM],
        [`${where}: O_CREAT|O_EXCL`, guest.open(dir, 'new.txt', { oflags: Oflags.CREAT | Oflags.EXCL })[0], E.PERM],
        [`${where}: O_EXCL`, guest.open(dir, existing, { oflags: Oflags.EXCL })[0], E.PERM],
        [`${where}: O_TRUNC`, guest.open(dir, existing, { oflags: Oflags.TRUNC })[0], E.PERM],
        [`${where}: O_TRUNC, no rights`, guest.open(dir, existing, { oflags: Oflags.TRUNC, base: 0n })[0], E.PERM],
        [`${where}: APPEND`, guest.open(dir, existing, { fdflags: FDFLAGS_APPEND })[0], E.PERM],
        [`${where}: APPEND, no rights`, guest.open(dir, existing, { fdflags: FDFLAGS_APPEND, base: 0n })[0], E.PERM],
        [`${where}: the directory itself, for writing`, guest.open(dir, '.', { base: R.FD_WRITE })[0], E.PERM],
      ]);
    }
    expectErrnos([
      ['through a symlink, O_TRUNC', guest.open(RO, 'lnk', { oflags: Oflags.TRUNC })[0], E.PERM],
      ['through ..', guest.open(RO, 'sub/../f.txt', { base: WRITE })[0], E.PERM],
    ]);
  });
  assert.deepEqual(readdirSync(ro).sort(), ['empty', 'f.txt', 'lnk', 'sub']);
});

test('fd calls that would change a file or directory are refused: writes EBADF, the rest EPERM', () => {
  unchanged(() => {
    const f = guest.mustOpen(RO, 'f.txt', { base: READ_ALL });
    const sub = guest.mustOpen(RO, 'sub', { oflags: Oflags.DIRECTORY, base: READ_ALL, inheriting: ALL });
    expectErrnos([
      ['fd_write', guest.write(f, 'XX'), E.BADF],
      ['fd_pwrite', guest.pwrite(f, 'XX', 0n), E.BADF],
      ['fd_allocate', guest.call('fd_allocate', f, 0n, 100n), E.PERM],
      ['fd_filestat_set_size (truncate)', guest.call('fd_filestat_set_size', f, 0n), E.PERM],
      ['fd_filestat_set_size (grow)', guest.call('fd_filestat_set_size', f, 100n), E.PERM],
      ['fd_filestat_set_times, file', guest.call('fd_filestat_set_times', f, 0n, 0n, FST_ATIM_NOW | FST_MTIM_NOW), E.PERM],
      ['fd_filestat_set_times, pre-open', guest.call('fd_filestat_set_times', RO, 0n, 0n, FST_ATIM_NOW | FST_MTIM_NOW), E.PERM],
      ['fd_filestat_set_times, subdirectory', guest.call('fd_filestat_set_times', sub, 0n, 0n, FST_ATIM_NOW | FST_MTIM_NOW), E.PERM],
      ['fd_fdstat_set_flags APPEND', guest.call('fd_fdstat_set_flags', f, FDFLAGS_APPEND), E.BADF],
      ['fd_write after APPEND was refused', guest.write(f, 'XX'), E.BADF],
      ['fd_write on the pre-open', guest.write(RO, 'XX'), E.BADF],
    ]);
    assert.equal(guest.fdstat(f)[3] & FDFLAGS_APPEND, 0, 'APPEND was not set');
    assert.deepEqual(guest.read(f), [E.SUCCESS, 'hello']);
  });
});

test('path calls that would change the tree are refused with EPERM, in the pre-open and below it', () => {
  unchanged(() => {
    const sub = guest.mustOpen(RO, 'sub', { oflags: Oflags.DIRECTORY, base: READ_ALL, inheriting: ALL });
    expectErrnos([
      ['path_create_directory', guest.pathCall('path_create_directory', RO, 'made'), E.PERM],
      ['path_create_directory, existing', guest.pathCall('path_create_directory', RO, 'empty'), E.PERM],
      ['path_create_directory, below', guest.pathCall('path_create_directory', sub, 'made'), E.PERM],
      ['path_remove_directory', guest.pathCall('path_remove_directory', RO, 'empty'), E.PERM],
      ['path_unlink_file', guest.pathCall('path_unlink_file', RO, 'f.txt'), E.PERM],
      ['path_unlink_file, a symlink', guest.pathCall('path_unlink_file', RO, 'lnk'), E.PERM],
      ['path_unlink_file, below', guest.pathCall('path_unlink_file', sub, 'inner.txt'), E.PERM],
      ['path_symlink', guest.pathCall('path_symlink', 'f.txt', RO, 'made'), E.PERM],
      ['path_symlink, below', guest.pathCall('path_symlink', 'inner.txt', sub, 'made'), E.PERM],
      ['path_filestat_set_times', guest.pathCall('path_filestat_set_times', RO, FOLLOW, 'f.txt', 0n, 0n, FST_ATIM_NOW | FST_MTIM_NOW), E.PERM],
      ['path_filestat_set_times, a symlink itself', guest.pathCall('path_filestat_set_times', RO, 0, 'lnk', 0n, 0n, FST_MTIM_NOW), E.PERM],
      ['path_filestat_set_times, below', guest.pathCall('path_filestat_set_times', sub, 0, 'inner.txt', 0n, 0n, FST_MTIM_NOW), E.PERM],
      ['path_link inside', guest.pathCall('path_link', RO, 0, 'f.txt', RO, 'hard'), E.PERM],
      ['path_link into a subdirectory', guest.pathCall('path_link', RO, 0, 'f.txt', sub, 'hard'), E.PERM],
      ['path_rename inside', guest.pathCall('path_rename', RO, 'f.txt', RO, 'moved'), E.PERM],
      ['path_rename a directory', guest.pathCall('path_rename', RO, 'empty', RO, 'moved'), E.PERM],
      ['path_rename onto an existing file', guest.pathCall('path_rename', RO, 'lnk', RO, 'f.txt'), E.PERM],
      ['path_rename out of a subdirectory', guest.pathCall('path_rename', sub, 'inner.txt', RO, 'moved'), E.PERM],
    ]);
  });
});

test('rename and link between the read-write and the read-only pre-open are refused both ways (EPERM)', () => {
  unchanged(() => {
    const rwSub = guest.mustOpen(RW, '.', { oflags: Oflags.DIRECTORY, base: ALL & ~R.FD_WRITE, inheriting: ALL });
    const roSub = guest.mustOpen(RO, 'sub', { oflags: Oflags.DIRECTORY, base: READ_ALL, inheriting: ALL });
    expectErrnos([
      ['rename ro -> rw', guest.pathCall('path_rename', RO, 'f.txt', RW, 'moved'), E.PERM],
      ['rename rw -> ro', guest.pathCall('path_rename', RW, 'w.txt', RO, 'moved'), E.PERM],
      ['rename rw -> ro, onto a file', guest.pathCall('path_rename', RW, 'w.txt', RO, 'f.txt'), E.PERM],
      ['link ro -> rw (the file would be writable there)', guest.pathCall('path_link', RO, 0, 'f.txt', RW, 'hard'), E.PERM],
      ['link rw -> ro', guest.pathCall('path_link', RW, 0, 'w.txt', RO, 'hard'), E.PERM],
      ['rename ro subdirectory -> rw subdirectory', guest.pathCall('path_rename', roSub, 'inner.txt', rwSub, 'moved'), E.PERM],
      ['rename rw subdirectory -> ro subdirectory', guest.pathCall('path_rename', rwSub, 'w.txt', roSub, 'moved'), E.PERM],
      ['link ro subdirectory -> rw subdirectory', guest.pathCall('path_link', roSub, 0, 'inner.txt', rwSub, 'hard'), E.PERM],
      ['link rw subdirectory -> ro subdirectory', guest.pathCall('path_link', rwSub, 0, 'w.txt', roSub, 'hard'), E.PERM],
    ]);
  });
  assert.deepEqual(readdirSync(rw), ['w.txt']);
});

test('fd_fdstat_set_rights cannot give a right back (ENOTCAPABLE), and what it would allow stays refused', () => {
  unchanged(() => {
    const [, base, inheriting] = guest.fdstat(RO);
    expectErrnos([
      ['pre-open: add PATH_CREATE_FILE', guest.call('fd_fdstat_set_rights', RO, base | R.PATH_CREATE_FILE, inheriting), E.NOTCAPABLE],
      ['pre-open: pass on FD_WRITE', guest.call('fd_fdstat_set_rights', RO, base, inheriting | R.FD_WRITE), E.NOTCAPABLE],
      ['pre-open: every right', guest.call('fd_fdstat_set_rights', RO, ALL, ALL), E.NOTCAPABLE],
      ['pre-open: u64 all ones', guest.call('fd_fdstat_set_rights', RO, -1n, -1n), E.NOTCAPABLE],
    ]);
    assert.deepEqual(guest.fdstat(RO).slice(1, 3), [base, inheriting], 'a refused call changes nothing');
    expectErrnos([
      ['create after', guest.open(RO, 'new.txt', { oflags: Oflags.CREAT })[0], E.PERM],
      ['write-open after', guest.open(RO, 'f.txt', { base: WRITE })[0], E.PERM],
    ]);

    const f = guest.mustOpen(RO, 'f.txt', { base: READ_ALL });
    const [, fileBase] = guest.fdstat(f);
    expectErrnos([
      ['file: add FD_WRITE', guest.call('fd_fdstat_set_rights', f, fileBase | R.FD_WRITE, 0n), E.NOTCAPABLE],
      ['file: add FD_FILESTAT_SET_SIZE', guest.call('fd_fdstat_set_rights', f, fileBase | R.FD_FILESTAT_SET_SIZE, 0n), E.NOTCAPABLE],
      ['file: write after', guest.write(f, 'XX'), E.BADF],
      ['file: truncate after', guest.call('fd_filestat_set_size', f, 0n), E.PERM],
      // Removing works as ever.
      ['file: drop FD_SEEK', guest.call('fd_fdstat_set_rights', f, fileBase & ~R.FD_SEEK, 0n), E.SUCCESS],
    ]);
    assert.equal(guest.fdstat(f)[1], fileBase & ~R.FD_SEEK);
  });
});

test('fd_renumber of a read-only fd over a writable one brings no write rights with it', () => {
  unchanged(() => {
    const writable = guest.mustOpen(RW, 'w.txt', { base: WRITE });
    const readOnly = guest.mustOpen(RO, 'f.txt', { base: READ_ALL });
    assert.equal(guest.call('fd_renumber', readOnly, writable), E.SUCCESS);
    assert.deepEqual(guest.read(writable), [E.SUCCESS, 'hello'], 'the number now names the read-only file');
    assert.deepEqual(namesIn(guest.fdstat(writable)[1] & MUTATING), []);
    expectErrnos([
      ['fd_write', guest.write(writable, 'XX'), E.BADF],
      ['fd_pwrite', guest.pwrite(writable, 'XX', 0n), E.BADF],
      ['fd_filestat_set_size', guest.call('fd_filestat_set_size', writable, 0n), E.PERM],
    ]);

    // The read-only pre-open renumbered over the read-write one: fd 4 is now read-only.
    assert.equal(guest.call('fd_renumber', RO, RW), E.SUCCESS);
    expectErrnos([
      ['mkdir through fd 4', guest.pathCall('path_create_directory', RW, 'made'), E.PERM],
      ['create through fd 4', guest.open(RW, 'new.txt', { oflags: Oflags.CREAT, base: WRITE })[0], E.PERM],
      ['unlink through fd 4', guest.pathCall('path_unlink_file', RW, 'f.txt'), E.PERM],
    ]);
    assert.equal(guest.prestatName(RW), '/ro');
  });
  assert.equal(readFileSync(join(rw, 'w.txt'), 'utf8'), 'writable');
});

test('a read-write pre-open beside it changes as usual', () => {
  unchanged(
    () => {
      const f = guest.mustOpen(RW, 'new.txt', { oflags: Oflags.CREAT | Oflags.EXCL, base: WRITE });
      assert.equal(guest.write(f, 'written'), E.SUCCESS);
      expectErrnos([
        ['mkdir', guest.pathCall('path_create_directory', RW, 'd'), E.SUCCESS],
        ['rename', guest.pathCall('path_rename', RW, 'new.txt', RW, 'd/moved.txt'), E.SUCCESS],
        ['link', guest.pathCall('path_link', RW, 0, 'd/moved.txt', RW, 'hard.txt'), E.SUCCESS],
        ['symlink', guest.pathCall('path_symlink', 'hard.txt', RW, 'sym'), E.SUCCESS],
        ['unlink', guest.pathCall('path_unlink_file', RW, 'w.txt'), E.SUCCESS],
        ['set times', guest.pathCall('path_filestat_set_times', RW, FOLLOW, 'hard.txt', 0n, 0n, FST_MTIM_NOW), E.SUCCESS],
        ['append', guest.open(RW, 'hard.txt', { base: WRITE, fdflags: FDFLAGS_APPEND })[0], E.SUCCESS],
      ]);
    },
    { rwMayChange: true },
  );
  assert.deepEqual(readdirSync(rw).sort(), ['d', 'hard.txt', 'sym']);
  assert.equal(readFileSync(join(rw, 'd', 'moved.txt'), 'utf8'), 'written');
  assert.equal(readlinkSync(join(rw, 'sym')), 'hard.txt');
});

test('the fs layer refuses on its own: a read-only handle changes nothing even when called without the rights check', () => {
  const roDir = DirHandle.preopen(ro, '/ro', true);
  const rwDir = DirHandle.preopen(rw, '/rw');
  const open = (dir: DirHandle, path: string, req: Partial<OpenRequest>) =>
    dir.open({ lookupFlags: 0, path, oflags: 0, read: true, write: false, askedToWrite: false, fdflags: 0, ...req });
  const errnoOf = (body: () => unknown): number | 'no error' => {
    try {
      body();
      return 'no error';
    } catch (err) {
      assert.ok(err instanceof WasiError, String(err));
      return err.errno;
    }
  };
  try {
    unchanged(() => {
      const file = open(roDir, 'f.txt', {}) as FileHandle;
      const sub = open(roDir, 'sub', { oflags: Oflags.DIRECTORY }) as DirHandle;
      const bytes = [Buffer.from('XX')];
      const cases: [string, () => unknown, number][] = [
        ['open for writing', () => open(roDir, 'f.txt', { write: true }), E.PERM],
        ['open O_CREAT', () => open(roDir, 'new.txt', { oflags: Oflags.CREAT }), E.PERM],
        ['open O_TRUNC', () => open(roDir, 'f.txt', { oflags: Oflags.TRUNC }), E.PERM],
        ['open APPEND', () => open(roDir, 'f.txt', { fdflags: FDFLAGS_APPEND }), E.PERM],
        ['mkdir', () => roDir.createDirectory('made'), E.PERM],
        ['rmdir', () => roDir.removeDirectory('empty'), E.PERM],
        ['unlink', () => roDir.unlinkFile('f.txt'), E.PERM],
        ['symlink', () => roDir.symlink('f.txt', 'made'), E.PERM],
        ['set times at a path', () => roDir.setTimesAt(0, 'f.txt', 'now', 'now'), E.PERM],
        ['set times of the directory', () => roDir.setTimes('now', 'now'), E.PERM],
        ['link out', () => roDir.link(0, 'f.txt', rwDir, 'hard'), E.PERM],
        ['link in', () => rwDir.link(0, 'w.txt', roDir, 'hard'), E.PERM],
        ['rename out', () => roDir.rename('f.txt', rwDir, 'moved'), E.PERM],
        ['rename in', () => rwDir.rename('w.txt', roDir, 'moved'), E.PERM],
        ['write', () => file.write(bytes), E.BADF],
        ['pwrite', () => file.pwrite(bytes, 0n), E.BADF],
        ['set size', () => file.setSize(0n), E.PERM],
        ['set times of a file', () => file.setTimes('now', 'now'), E.PERM],
        ['APPEND', () => file.setFdflags(FDFLAGS_APPEND), E.BADF],
        ['a subdirectory inherits it: mkdir', () => sub.createDirectory('made'), E.PERM],
        ['a subdirectory inherits it: unlink', () => sub.unlinkFile('inner.txt'), E.PERM],
      ];
      for (const [label, body, want] of cases) assert.equal(errnoOf(body), want, label);
      file.close();
      sub.close();
    });
    // The same calls on the read-write handle work: the refusals above come from readOnly alone.
    rwDir.createDirectory('made');
    rwDir.rename('made', rwDir, 'moved');
    assert.deepEqual(readdirSync(rw).sort(), ['moved', 'w.txt']);
  } finally {
    roDir.close();
    rwDir.close();
  }
});
