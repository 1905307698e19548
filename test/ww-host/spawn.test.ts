// Spawning from a guest: from bytes in its memory, from a content ID, its own module; the child's
// PPID is the caller; killing a parent ends its children; wait, monitor (DOWN event) and link.
import { test, after } from 'node:test';
import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import { OutputMode } from '../../src/capnp-gen/ww.rpc.js';
import { said, startTestNode, WAT } from '../executor/helpers.js';
import { reasonText } from '../../src/executor/index.js';
import { assemble, E, eventually, guest, ints, run, start, testExecutor, watBytes } from './helpers.js';

const ex = await testExecutor();
after(() => ex.close());

const exit3 = await assemble(WAT.exit3);

/** A spec at 128 for a module at 1024 (len bytes) with the given flags, argv at 512 (argvLen bytes). */
const specAt128 = (flags: number, len: number, argvLen = 0): string => `
    (memory.fill (i32.const 128) (i32.const 0) (i32.const 64))
    (i32.store (i32.const 128) (i32.const 1024))
    (i32.store (i32.const 132) (i32.const ${len}))
    (i32.store (i32.const 136) (i32.const ${flags}))
    (i32.store (i32.const 140) (i32.const 512))
    (i32.store (i32.const 144) (i32.const ${argvLen}))`;

test('spawn from bytes in memory: the child runs, its PPID is the caller, wait gives its code and reason', async () => {
  const r = await run(
    ex,
    guest(
      `(drop (call $initial (i32.const 0) (i32.const 48)))
      ${specAt128(0, exit3.length, 9)}
      (call $out (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 64) (i32.const 32)))
      (call $out (call $proc_pid (call $o1) (i32.const 36)))
      (call $out (call $o2))
      (drop (call $self (i32.const 52)))
      (drop (call $proc_pid (i32.load (i32.const 52)) (i32.const 56)))
      (call $out (i32.load (i32.const 56)))
      (call $out (call $proc_wait (call $o1) (i32.const 0) (i32.const 40) (i32.const 64) (i32.const 60) (i32.const 44)))
      (call $out (call $o3))
      (call $out (call $o4))
      (call $outBytes (i32.const 64) (call $o4))`,
      `(data (i32.const 1024) ${watBytes(exit3)}) (data (i32.const 512) "child\\00a1\\00")`,
    ),
  );
  const [rc, pidRc, childPid, selfPid, waitRc, code, reasonLen] = r.out;
  deepStrictEqual([rc, pidRc, waitRc, code, reasonLen], [0, 0, 0, 3, 'exit: 3'.length]);
  const child = ex.table.get(childPid)!;
  strictEqual(child.ppid, selfPid);
  deepStrictEqual(child.argv, ['child', 'a1']);
  strictEqual(child.cid.length, 64);
  strictEqual(new TextDecoder().decode(r.stdout.subarray(28)), 'exit: 3');
});

test('spawn errors: unknown content ID ENOENT, garbage bytes ENOEXEC, bad flags EINVAL, not an Executor EBADF', async () => {
  const missing = 'ab'.repeat(32);
  const r = await run(
    ex,
    guest(
      `(drop (call $initial (i32.const 0) (i32.const 48)))
      (drop (call $initial (i32.const 1) (i32.const 52)))
      ${specAt128(1, 64)}
      (call $out (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 64) (i32.const 32)))
      (i32.store (i32.const 136) (i32.const 0))
      (i32.store (i32.const 132) (i32.const 8))
      (call $out (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 64) (i32.const 32)))
      (i32.store (i32.const 136) (i32.const 64))
      (call $out (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 64) (i32.const 32)))
      (i32.store (i32.const 136) (i32.const 2))
      (call $out (call $spawn (i32.load (i32.const 52)) (i32.const 128) (i32.const 64) (i32.const 32)))
      (call $out (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 60) (i32.const 32)))`,
      `(data (i32.const 1024) "${missing}")`,
    ),
  );
  deepStrictEqual(r.out, [E.NOENT, E.NOEXEC, E.INVAL, E.BADF, E.INVAL]);
});

test('spawn by content ID, and a monitor: DOWN event with the exit code, monitor_wait with the reason', async () => {
  const { cid } = await ex.modules.put(exit3);
  const r = await run(
    ex,
    guest(
      `(drop (call $initial (i32.const 0) (i32.const 48)))
      ${specAt128(1, 64)}
      (call $out (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 64) (i32.const 32)))
      (call $out (call $proc_monitor (call $o1) (i32.const 36)))
      (call $out (call $event_poll (i32.const 0) (i32.const 64)))
      (call $out (i32.load (i32.const 64)))
      (call $out (i32.eq (i32.load (i32.const 68)) (call $o2)))
      (call $out (i32.load (i32.const 72)))
      (call $out (call $monitor_wait (call $o2) (i32.const 0) (i32.const 40) (i32.const 64) (i32.const 60) (i32.const 44)))
      (call $out (call $o3))
      (call $out (call $handle_dup (call $o2) (i32.const 40)))`,
      `(data (i32.const 1024) "${cid}")`,
    ),
  );
  deepStrictEqual(r.out, [0, 0, 0, 3, 1, 3, 0, 3, E.INVAL]);
});

test('SPAWN_LINK: a child that traps ends its parent with link: <child pid>', async () => {
  const trap = await assemble(WAT.trap);
  const parent = await start(
    ex,
    guest(
      `(drop (call $initial (i32.const 0) (i32.const 48)))
      ${specAt128(4, trap.length)}
      (drop (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 64) (i32.const 32)))
      (loop $forever (br $forever))`,
      `(data (i32.const 1024) ${watBytes(trap)})`,
    ),
  );
  const s = await parent.settled;
  const child = ex.table.list().find((e) => e.ppid === parent.pid);
  ok(child, 'the child is in the table');
  strictEqual(reasonText(s.reason), `link: ${child.pid}`);
  strictEqual(s.code, 137);
  strictEqual(reasonText(child.status!.reason), 'trap: unreachable in explode');
});

/** Root: spawns two copies of itself (children: no initial handles), prints their pids, then spins. Children spin. */
const treeGuest = guest(`
  (if (i32.eqz (call $initial (i32.const 0) (i32.const 48)))
    (then
      (drop (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64) (i32.const 32)))
      (drop (call $proc_pid (call $o1) (i32.const 40)))
      (call $out (call $o3))
      (drop (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64) (i32.const 32)))
      (drop (call $proc_pid (call $o1) (i32.const 40)))
      (call $out (call $o3))))
  (loop $forever (br $forever))`);

test('over RPC: children spawned by a guest show in ps with the PPID of their parent, and killing the parent ends them', async () => {
  const t = await startTestNode();
  // Awaited, not pipelined: TestNode.executor is pipelined from a result the client may collect
  // (GC) while calls on it are outstanding, which cancels them ("call canceled by the caller").
  const { executor } = await t.client.node.executor();
  const { admin } = await t.client.node.admin();
  try {
    const printed: number[] = [];
    const { ByteSink } = await import('../../src/capnp-gen/ww.rpc.js');
    const { serve } = await import('../../src/rpc/index.js');
    const sink = serve(ByteSink, { write: ({ data }: { data: Uint8Array }) => void printed.push(...ints(data)) });
    const { process: parent, pid } = await executor.spawn({
      spec: { moduleBytes: await assemble(treeGuest), argv: ['tree'], stdout: { mode: OutputMode.sink, sink } },
    });
    await eventually('two children spawned', () => printed.length === 2);
    const { processes } = await executor.ps();
    const byPid = new Map(processes.map((p) => [p.pid, p]));
    for (const c of printed) {
      strictEqual(byPid.get(c)?.ppid, pid);
      deepStrictEqual(byPid.get(c)?.argv, ['tree']);
    }
    await parent.kill();
    for (const c of printed) {
      const { process: child } = await admin.process({ pid: c });
      const { status } = await child.wait();
      strictEqual(said(status.reason), 'killed');
    }
  } finally {
    executor.release();
    admin.release();
    await t.close();
  }
});

test('handles passed at spawn are moved: the child gets them as initial handles, the parent loses them; a child ending drops its handles', async () => {
  // Child (initial handle 0 is a send end): sends 42 and ends. Parent: receives it, then EPIPE
  // once the child has ended, since the child held the only send end.
  const r = await run(
    ex,
    guest(`
    (if (i32.eqz (call $initial (i32.const 0) (i32.const 48)))
      (then
        (drop (call $handle_kind (i32.load (i32.const 48)) (i32.const 52)))
        (if (i32.eq (i32.load (i32.const 52)) (i32.const 3))
          (then
            (i32.store (i32.const 256) (i32.const 42))
            (drop (call $chan_send (i32.load (i32.const 48)) (i32.const 0) (i32.const 256) (i32.const 4) (i32.const 0) (i32.const 0)))
            (return)))))
    (drop (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))
    (i32.store (i32.const 200) (call $o1))
    (call $out (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 200) (i32.const 1)) (i32.const 64) (i32.const 40)))
    (call $out (call $handle_kind (call $o1) (i32.const 52)))
    (call $out (call $chan_recv (call $o2) (i32.const 0) (i32.const 4096) (i32.const 100) (i32.const 56) (i32.const 300) (i32.const 4) (i32.const 60)))
    (call $out (i32.load (i32.const 4096)))
    (drop (call $proc_wait (call $o3) (i32.const 0) (i32.const 56) (i32.const 64) (i32.const 0) (i32.const 60)))
    (call $out (call $chan_recv (call $o2) (i32.const 0) (i32.const 4096) (i32.const 100) (i32.const 56) (i32.const 300) (i32.const 4) (i32.const 60)))`),
  );
  deepStrictEqual(r.out, [0, E.BADF, 0, 42, E.PIPE]);
});

test('a guest paused while blocked on receive is frozen at once; a message sent meanwhile is delivered after resume', async () => {
  const printed: number[] = [];
  const a = await start(
    ex,
    guest(
      `(drop (call $initial (i32.const 1) (i32.const 48)))
      (drop (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))
      (drop (call $store_set (i32.load (i32.const 48)) (i32.const 1024) (i32.const 6) (call $o1)))
      (call $out (i32.const 1))
      (call $out (call $chan_recv (call $o2) (i32.const 0) (i32.const 4096) (i32.const 100) (i32.const 40) (i32.const 300) (i32.const 4) (i32.const 44)))
      (call $out (i32.load (i32.const 4096)))`,
      `(data (i32.const 1024) "paused")`,
    ),
    { stdout: (d) => void printed.push(...ints(d)) },
  );
  await eventually('A waits on its channel', () => printed.length === 1);
  await ex.table.pause(a);
  strictEqual(a.state, 'paused');
  const b = await run(
    ex,
    guest(
      `(drop (call $initial (i32.const 1) (i32.const 48)))
      (drop (call $store_get (i32.load (i32.const 48)) (i32.const 1024) (i32.const 6) (i32.const 32)))
      (i32.store (i32.const 256) (i32.const 99))
      (call $out (call $chan_send (call $o1) (i32.const 0) (i32.const 256) (i32.const 4) (i32.const 0) (i32.const 0)))`,
      `(data (i32.const 1024) "paused")`,
    ),
  );
  deepStrictEqual(b.out, [0]);
  strictEqual(a.state, 'paused');
  deepStrictEqual(printed, [1]);
  ex.table.resume(a);
  await a.settled;
  deepStrictEqual(printed, [1, 0, 99]);
});

test('pause, resume and kill through a Process handle: the child takes PAUSE and RESUME events, then ends killed', async () => {
  // Child (initial handle 0 is a send end): polls events and sends each kind to the parent.
  const r = await run(
    ex,
    guest(`
    (if (i32.eqz (call $initial (i32.const 0) (i32.const 48)))
      (then
        (drop (call $handle_kind (i32.load (i32.const 48)) (i32.const 52)))
        (if (i32.eq (i32.load (i32.const 52)) (i32.const 3))
          (then
            (loop $l
              (if (i32.eqz (call $event_poll (i32.const 1) (i32.const 64)))
                (then (drop (call $chan_send (i32.load (i32.const 48)) (i32.const 0) (i32.const 64) (i32.const 4) (i32.const 0) (i32.const 0)))))
              (call $spin (i32.const 1000))
              (br $l))))))
    (drop (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))
    (i32.store (i32.const 200) (call $o1))
    (call $out (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 200) (i32.const 1)) (i32.const 64) (i32.const 40)))
    (call $out (call $proc_pause (call $o3)))
    (drop (call $chan_recv (call $o2) (i32.const 0) (i32.const 4096) (i32.const 4) (i32.const 56) (i32.const 300) (i32.const 4) (i32.const 60)))
    (call $out (i32.load (i32.const 4096)))
    (call $out (call $proc_resume (call $o3)))
    (drop (call $chan_recv (call $o2) (i32.const 0) (i32.const 4096) (i32.const 4) (i32.const 56) (i32.const 300) (i32.const 4) (i32.const 60)))
    (call $out (i32.load (i32.const 4096)))
    (call $out (call $proc_kill (call $o3)))
    (drop (call $proc_wait (call $o3) (i32.const 0) (i32.const 56) (i32.const 64) (i32.const 0) (i32.const 60)))
    (call $out (i32.load (i32.const 56)))
    (call $out (i32.load (i32.const 60)))`),
  );
  // spawn, pause, PAUSE, resume, RESUME, kill, code 137, reason "killed" (6 bytes)
  deepStrictEqual(r.out, [0, 0, 1, 0, 2, 0, 137, 6]);
});

test('processes spawned by guests are bounded node-wide: past the bound spawn is EAGAIN, and an end makes room', async () => {
  const small = await testExecutor({ maxGuestSpawned: 3 });
  try {
    // Children (no initial handles) wait for an event that never comes.
    const r = await run(
      small,
      guest(`(local $i i32)
      (if (call $initial (i32.const 0) (i32.const 48)) (then (drop (call $event_poll (i32.const 0) (i32.const 64))) (return)))
      (loop $l
        (call $out (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64)
          (i32.add (i32.const 1024) (i32.mul (local.get $i) (i32.const 4)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 4))))
      (call $out (call $proc_kill (i32.load (i32.const 1024))))
      (drop (call $proc_wait (i32.load (i32.const 1024)) (i32.const 0) (i32.const 40) (i32.const 64) (i32.const 0) (i32.const 44)))
      (call $out (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64) (i32.const 32)))`),
    );
    deepStrictEqual(r.out, [0, 0, 0, E.AGAIN, 0, 0]);
  } finally {
    await small.close();
  }
});
