// The Executor's spawn option for pre-opened listening sockets (SpawnSpec.listen), over RPC.
import { test, after } from 'node:test';
import { match, rejects, strictEqual } from 'node:assert/strict';
import { connect } from 'node:net';
import { said, startTestNode } from '../executor/helpers.js';
import { assemble } from './helpers.js';

const t = await startTestNode();
// Awaited, not pipelined (see spawn.test.ts): calls on it must not be canceled by a collected result.
const { executor } = await t.client.node.executor();
after(async () => {
  executor.release();
  await t.close();
});

/** Accepts one connection on fd 3, reads up to 64 bytes, writes them back, exits. */
const echoOnce = `(module
  (import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $fd i32)
    (loop $a (if (call $accept (i32.const 3) (i32.const 0) (i32.const 16)) (then (drop (call $yield)) (br $a))))
    (local.set $fd (i32.load (i32.const 16)))
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 64))
    (loop $r
      (if (call $read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)) (then (drop (call $yield)) (br $r)))
      (br_if $r (i32.eqz (i32.load (i32.const 8)))))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

test('spawn with listen: the guest accepts on fd 3 at the address spawn reports', async () => {
  const { process, listening } = await executor.spawn({ spec: { moduleBytes: await assemble(echoOnce), argv: ['echo-once'], listen: ['127.0.0.1:0'] } });
  strictEqual(listening.length, 1);
  match(listening[0], /^127\.0\.0\.1:\d+$/);
  const port = Number(listening[0].split(':')[1]);
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('ping'));
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
  strictEqual(answer, 'ping');
  const { status } = await process.wait();
  strictEqual(said(status.reason), 'normal');
});

test('spawn with a bad listen address fails with a message saying what to write', async () => {
  await rejects(async () => await executor.spawn({ spec: { moduleBytes: await assemble(echoOnce), listen: ['nonsense'] } }), /must be HOST:PORT/);
});
