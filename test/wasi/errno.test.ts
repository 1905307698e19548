// The one conversion of host failures to errnos (src/wasm/wasi/abi/errno.ts):
// every POSIX error the host OS can give maps to an errno, an endpoint's failure
// is EIO, and a bug in the host traps the guest instead of passing as an errno.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Errno, POSIX_TO_WASI, WasiError, errnoOf } from '../../src/wasm/wasi/abi/errno.js';
import { WasiHostError } from '../../src/wasm/wasi/abi/preview1.js';
import { WasiHost } from '../../src/wasm/wasi/index.js';
import type { SocketBackend } from '../../src/wasm/wasi/sock.js';
import type { StdioEndpoint } from '../../src/wasm/wasi/types.js';
import { Wasm, cleanup, tempDir, wat } from './harness.js';
import { allImportsModule } from './signatures.js';

const withCode = (code: string): Error => Object.assign(new Error(code), { code });

test('every POSIX error name of this OS maps to an errno; each of WASI has its own number', () => {
  const names = Object.keys(constants.errno);
  assert.ok(names.length > 70, `${names.length} names`);
  for (const name of names) assert.notEqual(errnoOf(withCode(name)), undefined, name);
  assert.equal(errnoOf(withCode('ENOENT')), Errno.NOENT);
  assert.equal(errnoOf(withCode('E2BIG')), Errno.TOOBIG);
  assert.equal(errnoOf(withCode('ESTALE')), Errno.STALE);
  assert.equal(errnoOf(withCode('EWOULDBLOCK')), Errno.AGAIN);
  assert.equal(errnoOf(withCode('EOPNOTSUPP')), Errno.NOTSUP);
  // Linux errors WASI has no number for are host I/O failures.
  assert.equal(errnoOf(withCode('EUCLEAN')), Errno.IO);
  assert.equal(errnoOf(withCode('ENOMEDIUM')), Errno.IO);
  // Every errno but SUCCESS and NOTCAPABLE (WASI's own) is what some POSIX name gives.
  const reached = new Set([...POSIX_TO_WASI.keys()].map((n) => errnoOf(withCode(n))));
  for (let e = 1; e < Errno.NOTCAPABLE; e++) assert.ok(reached.has(e), `errno ${e} has no POSIX name`);
});

test('a WasiError keeps its errno; bugs (no code, Node ERR_* codes, non-errors) have none', () => {
  assert.equal(errnoOf(new WasiError(Errno.NOTCAPABLE)), Errno.NOTCAPABLE);
  assert.equal(errnoOf(new TypeError('Cannot convert a BigInt value to a number')), undefined);
  assert.equal(errnoOf(withCode('ERR_OUT_OF_RANGE')), undefined);
  assert.equal(errnoOf(withCode('EOF')), Errno.IO); // a libuv name shaped like POSIX: still an I/O failure
  assert.equal(errnoOf(new Error('plain')), undefined);
  assert.equal(errnoOf('a string'), undefined);
  assert.equal(errnoOf(null), undefined);
});

/** A listening socket whose accept throws `err`. */
function throwingListener(err: unknown): SocketBackend {
  const fail = (): never => {
    throw err;
  };
  return { accept: fail, recv: fail, send: fail, shutdown: fail, pollRead: fail, pollWrite: fail, close() {} };
}

const guestSource = allImportsModule(`
  (data (i32.const 100) "f.txt")
  (func (export "accept") (result i32) (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 0)))
  (func (export "read_stdin") (result i32)
    (i32.store (i32.const 16) (i32.const 300)) (i32.store (i32.const 20) (i32.const 10))
    (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
  (func (export "write_stdout") (result i32)
    (i32.store (i32.const 16) (i32.const 100)) (i32.store (i32.const 20) (i32.const 5))
    (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
  (func (export "pread_at") (param $fd i32) (param $offset i64) (result i32)
    (i32.store (i32.const 16) (i32.const 300)) (i32.store (i32.const 20) (i32.const 10))
    (call $fd_pread (local.get $fd) (i32.const 16) (i32.const 1) (local.get $offset) (i32.const 24)))
  (func (export "open") (result i32)
    (drop (call $path_open (i32.const 4) (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 0)
      (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))
    (i32.load (i32.const 0)))
  (func (export "_start"))
`);

interface Guest {
  accept(): number;
  read_stdin(): number;
  write_stdout(): number;
  pread_at(fd: number, offset: bigint): number;
  open(): number;
}

async function withGuest(opts: { listener: unknown; stdin?: StdioEndpoint; stdout?: StdioEndpoint }, body: (g: Guest) => void): Promise<void> {
  const dir = tempDir();
  writeFileSync(join(dir, 'f.txt'), 'contents');
  const host = new WasiHost({
    args: [],
    env: [],
    preopens: [{ hostPath: dir, guestPath: '/d' }],
    sockets: { listeners: [throwingListener(opts.listener)] },
    stdin: opts.stdin ?? { kind: 'null' },
    stdout: opts.stdout ?? { kind: 'null' },
    stderr: { kind: 'null' },
  });
  try {
    const instance = new Wasm.Instance(await wat(guestSource), host.imports);
    host.setMemory(instance.exports.memory as { buffer: ArrayBuffer });
    body(instance.exports as unknown as Guest);
  } finally {
    host.close();
    cleanup(dir);
  }
}

test('a host bug traps the guest with its message instead of returning EIO; an OS error gives its errno', async () => {
  await withGuest({ listener: new TypeError('undefined is not a function') }, (g) => {
    assert.throws(() => g.accept(), (e: unknown) => e instanceof WasiHostError && /undefined is not a function/.test(e.message));
  });
  await withGuest({ listener: withCode('ECONNABORTED') }, (g) => assert.equal(g.accept(), Errno.CONNABORTED));
  await withGuest({ listener: new WasiError(Errno.AGAIN) }, (g) => assert.equal(g.accept(), Errno.AGAIN));
});

test("a stdio endpoint's failure is EIO, or the errno its POSIX code names", async () => {
  const source = (err: Error): StdioEndpoint => ({ kind: 'source', read: () => { throw err; } });
  const sink = (err: Error): StdioEndpoint => ({ kind: 'sink', write: () => { throw err; } });
  await withGuest({ listener: null, stdin: source(new Error('pipe broke')), stdout: sink(new TypeError('bad sink')) }, (g) => {
    assert.equal(g.read_stdin(), Errno.IO);
    assert.equal(g.write_stdout(), Errno.IO);
  });
  await withGuest({ listener: null, stdin: source(withCode('ECONNRESET')), stdout: sink(withCode('ENOSPC')) }, (g) => {
    assert.equal(g.read_stdin(), Errno.CONNRESET);
    assert.equal(g.write_stdout(), Errno.NOSPC);
  });
});

test('a read past the largest file offset is EINVAL (as Linux), not a host error', async () => {
  await withGuest({ listener: null }, (g) => {
    const fd = g.open();
    assert.ok(fd > 4, `fd ${fd}`);
    assert.equal(g.pread_at(fd, 0n), Errno.SUCCESS);
    assert.equal(g.pread_at(fd, (1n << 63n) - 5n), Errno.INVAL); // 10 bytes from there pass 2^63 - 1
    assert.equal(g.pread_at(fd, -1n), Errno.INVAL); // 2^64 - 1 as u64
    assert.equal(g.pread_at(fd, (1n << 63n) - 11n), Errno.SUCCESS); // the last 10 bytes that exist as offsets: EOF
  });
});
