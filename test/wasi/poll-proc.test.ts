// poll_oneoff on clocks (relative, absolute) and fds; proc_exit, proc_raise,
// sched_yield; WasiHost.start/close semantics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WasiHost } from '../../src/wasm/wasi/index.js';
import type { StdioEndpoint } from '../../src/wasm/wasi/types.js';
import { Wasm, cleanup, run, tempDir, wat } from './harness.js';
import { allImportsModule } from './signatures.js';
import { MAX_POLL_SUBSCRIPTIONS } from '../../src/wasm/wasi/abi/preview1.js';
import { Errno } from '../../src/wasm/wasi/abi/errno.js';

const SUBS = 1024;
const EVENTS = 4096;

interface Sub {
  userdata: bigint;
  clock?: { id: number; timeout: bigint; abstime?: boolean };
  fdRead?: number;
  fdWrite?: number;
}
interface Ev {
  userdata: bigint;
  error: number;
  type: number;
  nbytes: bigint;
  flags: number;
}

/** A guest whose exports call poll_oneoff and clock_time_get, so the test can drive them. */
async function pollGuest(opts: { stdin?: StdioEndpoint; preopen?: string; pages?: number } = {}) {
  const host = new WasiHost({
    args: [],
    env: [],
    preopens: opts.preopen ? [{ hostPath: opts.preopen, guestPath: '/p' }] : [],
    stdin: opts.stdin ?? { kind: 'null' },
    stdout: { kind: 'null' },
    stderr: { kind: 'null' },
  });
  const mod = await wat(
    allImportsModule(
      `
    (data (i32.const 200) "f.txt")
    (func (export "poll") (param $n i32) (result i32)
      (call $poll_oneoff (i32.const ${SUBS}) (i32.const ${EVENTS}) (local.get $n) (i32.const 16)))
    (func (export "now") (param $id i32) (result i64)
      (drop (call $clock_time_get (local.get $id) (i64.const 1) (i32.const 24)))
      (i64.load (i32.const 24)))
    (func (export "open_file") (result i32)
      ;; no rights asked for: open for reading (FD_READ, POLL_FD_READWRITE, ...), as wasmtime
      (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 5) (i32.const 0)
        (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 32)))
      (i32.load (i32.const 32)))`,
      opts.pages ?? 2,
    ),
  );
  const instance = new Wasm.Instance(mod, host.imports);
  const memory = instance.exports.memory as { buffer: ArrayBuffer };
  host.setMemory(memory);
  const ex = instance.exports as unknown as { poll(n: number): number; now(id: number): bigint; open_file(): number };
  const poll = (subs: Sub[]): { errno: number; events: Ev[] } => {
    const v = new DataView(memory.buffer);
    subs.forEach((s, i) => {
      const p = SUBS + i * 48;
      new Uint8Array(memory.buffer, p, 48).fill(0);
      v.setBigUint64(p, s.userdata, true);
      if (s.clock) {
        v.setUint8(p + 8, 0);
        v.setUint32(p + 16, s.clock.id, true);
        v.setBigUint64(p + 24, BigInt.asUintN(64, s.clock.timeout), true);
        v.setUint16(p + 40, s.clock.abstime ? 1 : 0, true);
      } else {
        v.setUint8(p + 8, s.fdRead !== undefined ? 1 : 2);
        v.setUint32(p + 16, s.fdRead ?? s.fdWrite!, true);
      }
    });
    const errno = ex.poll(subs.length);
    const n = v.getUint32(16, true);
    const events: Ev[] = [];
    for (let i = 0; errno === 0 && i < n; i++) {
      const p = EVENTS + i * 32;
      events.push({ userdata: v.getBigUint64(p, true), error: v.getUint16(p + 8, true), type: v.getUint8(p + 10), nbytes: v.getBigUint64(p + 16, true), flags: v.getUint16(p + 24, true) });
    }
    return { errno, events };
  };
  /** poll_oneoff on `n` subscriptions, whatever the memory holds. */
  const pollCount = (n: number): { errno: number } => ({ errno: ex.poll(n) });
  return { host, poll, pollCount, now: ex.now, openFile: ex.open_file };
}

test('poll_oneoff: a relative monotonic clock sleeps at least its timeout and reports a clock event', async () => {
  const g = await pollGuest();
  const t0 = g.now(1);
  const r = g.poll([{ userdata: 0x1234n, clock: { id: 1, timeout: 20_000_000n } }]);
  const elapsed = g.now(1) - t0;
  assert.equal(r.errno, 0);
  assert.deepEqual(r.events, [{ userdata: 0x1234n, error: 0, type: 0, nbytes: 0n, flags: 0 }]);
  assert.ok(elapsed >= 20_000_000n, `slept ${elapsed} ns, asked for 20 ms`);
  g.host.close();
});

test('poll_oneoff: absolute deadlines on the monotonic and realtime clocks', async () => {
  const g = await pollGuest();
  const deadline = g.now(1) + 15_000_000n;
  const r = g.poll([{ userdata: 1n, clock: { id: 1, timeout: deadline, abstime: true } }]);
  assert.equal(r.errno, 0);
  assert.equal(r.events.length, 1);
  assert.ok(g.now(1) >= deadline);
  // A realtime deadline already in the past fires at once (no wait to assert; it must simply return).
  const past = g.poll([{ userdata: 2n, clock: { id: 0, timeout: g.now(0) - 1_000_000_000n, abstime: true } }]);
  assert.deepEqual(past.events.map((e) => e.userdata), [2n]);
  const rtDeadline = g.now(0) + 10_000_000n;
  const rt = g.poll([{ userdata: 3n, clock: { id: 0, timeout: rtDeadline, abstime: true } }]);
  assert.equal(rt.errno, 0);
  assert.ok(g.now(0) >= rtDeadline - 1_000_000n, 'realtime deadline reached (1 ms tolerance for the realtime anchor)');
  g.host.close();
});

test('poll_oneoff: only expired clocks are reported; the earliest wakes the poll', async () => {
  const g = await pollGuest();
  const r = g.poll([
    { userdata: 10n, clock: { id: 1, timeout: 60_000_000_000n } },
    { userdata: 11n, clock: { id: 1, timeout: 5_000_000n } },
  ]);
  assert.deepEqual(r.events.map((e) => e.userdata), [11n]);
  g.host.close();
});

test('poll_oneoff: ready fds are reported without waiting for clocks; files report bytes left and hangup at the end', async () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, 'f.txt'), 'hello');
    const g = await pollGuest({ stdin: { kind: 'bytes', data: Buffer.from('abc') }, preopen: dir });
    const fd = g.openFile();
    assert.equal(fd, 4);
    const r = g.poll([
      { userdata: 1n, clock: { id: 1, timeout: 60_000_000_000n } },
      { userdata: 2n, fdRead: 0 },
      { userdata: 3n, fdWrite: 1 },
      { userdata: 4n, fdRead: fd },
    ]);
    assert.equal(r.errno, 0);
    assert.deepEqual(
      r.events.map((e) => [e.userdata, e.type, e.nbytes, e.flags]),
      [
        [2n, 1, 3n, 0],
        [3n, 2, 1n, 0],
        [4n, 1, 5n, 0],
      ],
    );
    // stdin from an empty 'null' endpoint and a file at its end: ready with hangup.
    const g2 = await pollGuest({ preopen: dir });
    const r2 = g2.poll([{ userdata: 5n, fdRead: 0 }]);
    assert.deepEqual(r2.events.map((e) => [e.userdata, e.flags]), [[5n, 1]]);
    g.host.close();
    g2.host.close();
  } finally {
    cleanup(dir);
  }
});

test('poll_oneoff errors: no subscriptions EINVAL, unknown fd or a directory EBADF, a CPU clock EINVAL', async () => {
  const dir = tempDir();
  try {
    const g = await pollGuest({ preopen: dir });
    assert.equal(g.poll([]).errno, 28);
    assert.equal(g.poll([{ userdata: 1n, fdRead: 42 }]).errno, 8);
    assert.equal(g.poll([{ userdata: 1n, fdRead: 3 }]).errno, 8);
    assert.equal(g.poll([{ userdata: 1n, clock: { id: 2, timeout: 1n } }]).errno, 28);
    g.host.close();
  } finally {
    cleanup(dir);
  }
});

const procModule = (body: string) =>
  wat(
    allImportsModule(`
  (data (i32.const 100) "out\\n")
  (func $say (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208))))
  (func (export "_start")
    (i32.store (i32.const 200) (i32.const 100))
    (i32.store (i32.const 204) (i32.const 4))
    ${body})`),
  );

test('proc_exit ends the guest at once with its code; output before it is kept', async () => {
  const r = run(await procModule('(call $say) (call $proc_exit (i32.const 42)) (call $say)'));
  assert.equal(r.code, 42);
  assert.equal(r.stdout, 'out\n');
  assert.equal(run(await procModule('(call $proc_exit (i32.const 0))')).code, 0);
});

test('start() returns 0 when _start returns, and lets a trap propagate', async () => {
  assert.equal(run(await procModule('(call $say)')).code, 0);
  const trapping = await procModule('(call $say) (unreachable)');
  assert.throws(() => run(trapping), (err: Error) => err.name === 'RuntimeError' && /unreachable/.test(err.message));
});

test('proc_raise is ENOTSUP and sched_yield succeeds (as wasmtime)', async () => {
  const r = run(
    await procModule(`
    (if (i32.ne (call $proc_raise (i32.const 15)) (i32.const 58)) (then (unreachable)))
    (if (i32.ne (call $sched_yield) (i32.const 0)) (then (unreachable)))
    (call $say)`),
  );
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'out\n');
});

test('start() refuses a module without _start with a clear error, and runs one without memory', async () => {
  const host = new WasiHost({ args: [], env: [], preopens: [], stdin: { kind: 'null' }, stdout: { kind: 'null' }, stderr: { kind: 'null' } });
  const noStart = new Wasm.Instance(await wat('(module (memory (export "memory") 1))'), host.imports);
  assert.throws(() => host.start(noStart), /no _start/);
  const noMemory = new Wasm.Instance(await wat('(module (func (export "_start")))'), host.imports);
  assert.equal(host.start(noMemory), 0);
  host.close();
});

test('close() closes every host fd the host opened (pre-opens and files the guest left open)', async () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, 'f.txt'), 'x');
    const openFds = () => readdirSync('/proc/self/fd').length;
    const before = openFds();
    const g = await pollGuest({ preopen: dir });
    for (let i = 0; i < 5; i++) assert.ok(g.openFile() > 3);
    assert.equal(openFds(), before + 6, 'the pre-open and five files');
    g.host.close();
    assert.equal(openFds(), before);
    g.host.close(); // idempotent
  } finally {
    cleanup(dir);
  }
});

test('a pre-open that does not exist or is a file fails construction with a clear error and leaks no fd', () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, 'file'), '');
    const before = readdirSync('/proc/self/fd').length;
    const make = (hostPath: string) =>
      new WasiHost({
        args: [],
        env: [],
        preopens: [
          { hostPath: dir, guestPath: '/ok' },
          { hostPath, guestPath: '/bad' },
        ],
        stdin: { kind: 'null' },
        stdout: { kind: 'null' },
        stderr: { kind: 'null' },
      });
    assert.throws(() => make(join(dir, 'missing')), /cannot pre-open .*missing as \/bad: it does not exist/);
    assert.throws(() => make(join(dir, 'file')), /cannot pre-open .*file as \/bad: it is not a directory/);
    assert.equal(readdirSync('/proc/self/fd').length, before, 'the first pre-open was closed again');
  } finally {
    cleanup(dir);
  }
});

test('poll_oneoff: more subscriptions than one call may wait on is EINVAL, before any is read', async () => {
  // Memory enough for them and their events (80 bytes each): past memory it would be EFAULT first, as wasmtime.
  const g = await pollGuest({ pages: Math.ceil((EVENTS + (MAX_POLL_SUBSCRIPTIONS + 1) * 80) / 65536) + 1 });
  assert.equal(g.pollCount(MAX_POLL_SUBSCRIPTIONS + 1).errno, Errno.INVAL);
  g.host.close();
  const small = await pollGuest();
  assert.equal(small.pollCount(MAX_POLL_SUBSCRIPTIONS + 1).errno, Errno.FAULT, 'past memory: EFAULT');
  small.host.close();
});
