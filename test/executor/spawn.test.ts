// Spawning through the Executor capability: from bytes and from a content ID (the module cache),
// argv, stdin, pre-opened dirs, output discarded / captured / streamed to a sink, and info.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { serve } from '../../src/rpc/index.js';
import { ByteSink, ExitKind, OutputMode, ProcessState } from '../../src/capnp-gen/ww.rpc.js';
import { executorErrorFromRpc } from '../../src/executor/rpc.js';
import { WAT, said, assemble, capture, cpuLoopWasm, FOREVER, eventually, helloWasm, repoRoot, sleeperWat, startTestNode, text, type TestNode } from './helpers.js';

let t: TestNode;
before(async () => {
  t = await startTestNode();
});
after(() => t.close());

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('spawn from module bytes runs the module, and puts it in the module cache under its content ID', async () => {
  const bytes = await assemble(WAT.exit3); // a module no other test puts first
  const { process, pid } = await t.spawn({ moduleBytes: bytes, argv: ['exit3'] });
  assert.equal(said((await process.wait()).status.reason), 'exit: 3');
  assert.equal((await process.info()).info.cid, sha256(bytes));
  assert.ok(pid > 1);
  const cache = t.executor.modules().cache;
  assert.equal((await cache.has({ cid: sha256(bytes) })).present, true);
});

test('module cache: put returns the sha256 content ID; has and get find it; spawn by that ID runs it', async () => {
  const cache = t.executor.modules().cache;
  const bytes = helloWasm();
  const cid = sha256(bytes);
  assert.equal((await cache.has({ cid })).present, false, 'not there before put');
  assert.equal((await cache.put({ bytes })).cid, cid);
  assert.equal((await cache.has({ cid })).present, true);
  assert.deepEqual((await cache.get({ cid })).bytes, bytes);
  const { process } = await t.spawn({ moduleCid: cid, argv: ['hello', 'x'], stdout: capture });
  const st = (await process.wait()).status;
  assert.equal(said(st.reason), 'normal');
  assert.equal(text(st.stdout), 'hello from C on ww\nargv[0] = hello\nargv[1] = x\n');
});

test('module cache: an unknown content ID is absent, and get/spawn of it fail with "module not found"', async () => {
  const cache = t.executor.modules().cache;
  const cid = 'ab'.repeat(32);
  assert.equal((await cache.has({ cid })).present, false);
  assert.equal((await cache.has({ cid: '../../etc/passwd' })).present, false);
  await assert.rejects(cache.get({ cid }).then(), /module not found: abab/);
  await assert.rejects(t.spawn({ moduleCid: cid }), /module not found: abab/);
});

test('module cache: bytes that are not a runnable WASI module are refused with the reason', async () => {
  const cache = t.executor.modules().cache;
  await assert.rejects(cache.put({ bytes: new TextEncoder().encode('not wasm') }).then(), /WebAssembly|magic|module/i);
  const noStart = await assemble('(module (memory (export "memory") 1))');
  await assert.rejects(t.spawn({ moduleBytes: noStart }), /_start/);
  await assert.rejects(t.spawn({}), /module bytes or a module content ID/);
});

test('refusals arrive with their code (in the exception\'s details), the message for people beside it', async () => {
  const refused = async (p: PromiseLike<unknown>): Promise<[string | undefined, string]> => {
    try {
      await p;
    } catch (e) {
      return [executorErrorFromRpc(e)?.code, (e as Error).message];
    }
    throw new Error('not refused');
  };
  const cache = t.executor.modules().cache;
  assert.deepEqual(await refused(t.admin.process({ pid: 999_999 }).process.info()), ['no-such-process', 'no such process: 999999']);
  assert.equal((await refused(cache.get({ cid: 'ab'.repeat(32) })))[0], 'module-not-found');
  assert.equal((await refused(t.spawn({ moduleBytes: new TextEncoder().encode('not wasm') })))[0], 'invalid-module');
  assert.equal((await refused(t.spawn({ moduleBytes: helloWasm(), limits: { maxMemoryBytes: 1n } })))[0], 'limits');
  assert.equal((await refused(t.spawn({ moduleBytes: helloWasm(), listen: ['not-an-address'] })))[0], 'cannot-listen');
  assert.equal((await refused(t.spawn({ moduleBytes: helloWasm(), obsoletePpid: 999_999 })))[0], 'bad-request');
  assert.equal((await refused(t.executor.obsoleteProcess({ pid: 1 }).process.info()))[0], 'not-permitted');
  assert.equal((await refused(t.spawn({})))[0], 'bad-request');
  assert.equal((await refused(t.admin.process({ pid: 1 }).process.kill()))[0], 'not-permitted');
});

test('stdin bytes reach the guest, then end of input', async () => {
  const input = new TextEncoder().encode('one two three\n'.repeat(100));
  const { process } = await t.spawn({ moduleBytes: await assemble(WAT.cat), stdin: input, stdout: capture });
  const st = (await process.wait()).status;
  assert.equal(said(st.reason), 'normal');
  assert.equal(text(st.stdout), text(input));
});

test('pre-opened dirs are visible to the guest at their guest path', async () => {
  const { process } = await t.spawn({
    moduleBytes: new Uint8Array((await import('node:fs')).readFileSync(join(repoRoot(), 'examples', 'wordcount', 'wordcount.wasm'))),
    argv: ['wordcount', '/data'],
    dirs: [{ hostPath: join(repoRoot(), 'examples', 'wordcount', 'data'), guestPath: '/data' }],
    stdout: capture,
    stderr: capture,
  });
  const st = (await process.wait()).status;
  assert.equal(said(st.reason), 'normal', text(st.stderr));
  assert.match(text(st.stdout), /total/);
});

test('output discarded: wait returns no bytes', async () => {
  const { process } = await t.spawn({ moduleBytes: helloWasm(), stdout: { mode: OutputMode.discard } });
  const st = (await process.wait()).status;
  assert.equal(said(st.reason), 'normal');
  assert.equal(st.stdout.length, 0);
});

test('output captured: wait returns stdout and stderr separately', async () => {
  const { process } = await t.spawn({ moduleBytes: await assemble(WAT.chunks), stdout: capture, stderr: capture });
  const st = (await process.wait()).status;
  assert.deepEqual([...st.stdout], Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual([...st.stderr], Array.from({ length: 100 }, (_, i) => 100 + i));
});

test('output streamed to a sink: every write arrives, in order, before wait returns', async () => {
  const out: number[] = [];
  const err: number[] = [];
  const stdoutSink = serve(ByteSink, { write: ({ data }) => void out.push(...data) });
  const stderrSink = serve(ByteSink, {
    // a slow sink: wait must still not return before its writes are done
    write: async ({ data }) => {
      await new Promise((r) => setTimeout(r, 1));
      err.push(...data);
    },
  });
  const { process } = await t.spawn({
    moduleBytes: await assemble(WAT.chunks),
    stdout: { mode: OutputMode.sink, sink: stdoutSink },
    stderr: { mode: OutputMode.sink, sink: stderrSink },
  });
  const st = (await process.wait()).status;
  assert.equal(said(st.reason), 'normal');
  assert.deepEqual(out, Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(err, Array.from({ length: 100 }, (_, i) => 100 + i));
});

test('a sink that fails does not end the process: its output is dropped and the process runs to its end', async () => {
  const failing = serve(ByteSink, {
    write: () => {
      throw new Error('sink broken');
    },
  });
  const { process } = await t.spawn({ moduleBytes: await assemble(WAT.chunks), stdout: { mode: OutputMode.sink, sink: failing }, stderr: capture });
  const st = (await process.wait()).status;
  assert.equal(said(st.reason), 'normal');
  assert.equal(st.stderr.length, 100);
});

test('a sink that falls behind holds the guest back (not shown as paused) until it catches up, a pause outlasts it; nothing is lost', async () => {
  // Writes 400 chunks of 64 KiB, each starting with its index: 25 MiB, far more than the node buffers (4 MiB).
  const writer = await assemble(`(module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 2)
    (func (export "_start") (local $i i32) (local $j i32)
      (i32.store (i32.const 65536) (i32.const 0)) (i32.store (i32.const 65540) (i32.const 65536))
      (loop $l
        ;; some work between writes: the node holds a guest back at its instrumentation ticks
        (local.set $j (i32.const 0))
        (loop $work (local.set $j (i32.add (local.get $j) (i32.const 1))) (br_if $work (i32.lt_u (local.get $j) (i32.const 100000))))
        (i32.store (i32.const 0) (local.get $i))
        (drop (call $w (i32.const 1) (i32.const 65536) (i32.const 1) (i32.const 65544)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 400))))))`);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const chunks: Uint8Array[] = [];
  const sink = serve(ByteSink, {
    write: async ({ data }) => {
      chunks.push(data);
      await gate; // nothing is acknowledged until the gate opens
    },
  });
  const { process } = await t.spawn({ moduleBytes: writer, stdout: { mode: OutputMode.sink, sink } });
  let last = -1n;
  await eventually('the guest is held back', async () => {
    const f = (await process.info()).info.fuelUsed;
    const still = f === last && f > 0n;
    last = f;
    if (!still) await new Promise((r) => setTimeout(r, 100));
    return still;
  });
  const held = (await process.info()).info;
  assert.equal(held.state, ProcessState.running, 'held back for output is not paused');
  assert.ok(chunks.length < 400, 'the guest did not get to write everything while the sink was behind');
  // A pause while held back outlasts the hold: the sink catching up does not resume it.
  await process.pause();
  open();
  await new Promise((r) => setTimeout(r, 300));
  const paused = (await process.info()).info;
  assert.equal(paused.state, ProcessState.paused);
  assert.equal(paused.fuelUsed, held.fuelUsed);
  await process.resume();
  assert.equal(said((await process.wait()).status.reason), 'normal');
  const all = Buffer.concat(chunks);
  assert.equal(all.length, 400 * 65536);
  for (let i = 0; i < 400; i++) assert.equal(all.readUInt32LE(i * 65536), i);
});

test('info: pid, ppid, cid, argv, creation time, state, fuel, cpu time, memory, peer ID', async () => {
  const before = Date.now();
  const bytes = cpuLoopWasm();
  const { process, pid } = await t.spawn({ moduleBytes: bytes, argv: ['cpu-loop', FOREVER] });
  await eventually('the guest uses fuel', async () => (await process.info()).info.fuelUsed > 0n);
  const i = (await process.info()).info;
  const id = (await t.client.node.identity()).info;
  assert.equal(i.pid, pid);
  assert.equal(i.ppid, 1);
  assert.equal(i.cid, sha256(bytes));
  assert.deepEqual(i.argv, ['cpu-loop', FOREVER]);
  assert.ok(Number(i.createdAtMs) >= before - 1000 && Number(i.createdAtMs) <= Date.now() + 1000);
  assert.equal(i.state, ProcessState.running);
  assert.ok(i.cpuMs > 0);
  assert.ok(i.memoryBytes >= 65536n);
  assert.equal(i.peerId, id.peerId);
  assert.equal(i.reason.kind, ExitKind.normal, 'a live process has no reason yet');
  await process.kill();
  const ended = (await process.info()).info;
  assert.equal(ended.state, ProcessState.exited);
  assert.equal(said(ended.reason), 'killed');
  assert.equal(ended.exitCode, 137);
});

test('admin.process(pid) gives the same process; an unknown pid fails "no such process"', async () => {
  const { process, pid } = await t.spawn({ moduleBytes: helloWasm() });
  await process.wait();
  const again = t.admin.process({ pid }).process;
  assert.equal(said((await again.wait()).status.reason), 'normal', 'an ended process can still be waited on');
  await assert.rejects(t.admin.process({ pid: 987654 }).process.info().then(), /no such process: 987654/);
});

test('admin ps lists init, live and ended processes; an executor lists only what it spawned', async () => {
  const { process, pid } = await t.spawn({ moduleBytes: cpuLoopWasm(), argv: ['cpu-loop', FOREVER] });
  const done = await t.spawn({ moduleBytes: helloWasm() });
  await done.process.wait();
  const own = (await t.executor.ps()).processes.map((p) => p.pid);
  assert.ok(own.includes(pid) && own.includes(done.pid) && !own.includes(1), `executor ps: ${own}`);
  const { processes } = await t.admin.ps();
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  assert.equal(byPid.get(1)?.state, ProcessState.running);
  assert.equal(byPid.get(pid)?.state, ProcessState.running);
  assert.equal(byPid.get(done.pid)?.state, ProcessState.exited);
  assert.equal(said(byPid.get(done.pid)!.reason), 'normal');
  await process.kill();
});

test('cpu time leaves out time spent blocked: a guest sleeping 400 ms in poll_oneoff uses little cpu', async () => {
  const sleeper = await assemble(sleeperWat(400_000_000n));
  const started = performance.now();
  const { process } = await t.spawn({ moduleBytes: sleeper, argv: ['sleeper'] });
  await new Promise((r) => setTimeout(r, 250));
  const live = (await process.info()).info;
  assert.equal(live.state, ProcessState.running);
  assert.ok(live.cpuMs < 150, `cpu ${live.cpuMs} ms while the guest sleeps (a wait in progress counts as blocked)`);
  assert.equal(said((await process.wait()).status.reason), 'normal');
  assert.ok(performance.now() - started >= 400);
  const i = (await process.info()).info;
  assert.ok(i.cpuMs < 200, `cpu ${i.cpuMs} ms for a guest that slept 400 ms`);
});
