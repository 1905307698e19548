// Executor benchmark, side by side in one run, JSON lines:
// - spawn-to-exit of a tiny module: through RPC over the node's unix socket, vs. the process
//   table in-process (no RPC), vs. the runtime alone; and what RPC adds (target: <= 300 us at p50);
// - pause-to-frozen: RPC pause() with no grace period vs. the runtime's pause() in-process;
//   and with the default 100 ms grace (cooperative notice first);
// - kill-to-ended: RPC kill() then wait() vs. the runtime's kill() then wait() in-process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wabtInit from 'wabt';
import { connectNode, startNode } from '../src/node/index.js';
import { Runtime, type WasmProcess } from '../src/wasm/index.js';
import type { Executor$Client, Process$Client } from '../src/capnp-gen/ww.rpc.js';

const HELLO = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;
const SPIN = `(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))`;

async function assemble(source: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const mod = wabt.parseWat('bench.wat', source);
  try {
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

function quantiles(samplesMs: number[]): { p50_us: number; p99_us: number; n: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50_us: Math.round(q(0.5) * 1000), p99_us: Math.round(q(0.99) * 1000), n: s.length };
}

function emit(o: Record<string, unknown>): void {
  console.log(JSON.stringify(o));
}

async function time(f: () => PromiseLike<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-exec-'));
  const hello = await assemble(HELLO);
  const spin = await assemble(SPIN);
  const rt = await Runtime.create({ poolSize: 2 });
  const node = await startNode({ socketPath: join(dir, 'node.sock'), poolSize: 2, pauseGraceMs: 0 });
  const client = await connectNode(node.socketPath);
  const executor: Executor$Client = client.node.executor().executor;
  try {
    const helloLocal = await rt.load(hello);
    const spinLocal = await rt.load(spin);
    const cache = executor.modules().cache;
    const helloCid = (await cache.put({ bytes: hello })).cid;
    const spinCid = (await cache.put({ bytes: spin })).cid;
    const helloTable = (await node.executor.modules.module(helloCid))!;
    const table = node.executor.table;

    // ---- spawn-to-exit ----
    // One round trip: spawn, with wait pipelined on the process it returns; then let go of the process.
    const viaRpc = async (): Promise<unknown> => {
      const spawned = executor.spawn({ spec: { moduleCid: helloCid, argv: ['hello'] } });
      const status = await spawned.process.wait();
      spawned.release();
      return status;
    };
    const viaTable = (): Promise<unknown> => table.spawn({ module: helloTable, argv: ['hello'] }).settled;
    const viaRuntime = (): Promise<unknown> => rt.spawn(helloLocal, { args: ['hello'] }).wait();
    const samples = { rpc: [] as number[], table: [] as number[], runtime: [] as number[] };
    for (let i = 0; i < 200; i++) {
      await viaRpc(); // warm-up: pools, JIT, caches
      await viaTable();
      await viaRuntime();
    }
    // Interleaved rounds so drift (GC, CPU frequency) hits all three alike.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 150; i++) samples.rpc.push(await time(viaRpc));
      for (let i = 0; i < 150; i++) samples.table.push(await time(viaTable));
      for (let i = 0; i < 150; i++) samples.runtime.push(await time(viaRuntime));
    }
    const rpc = quantiles(samples.rpc);
    const inProc = quantiles(samples.table);
    const runtime = quantiles(samples.runtime);
    emit({ bench: 'spawn-to-exit', impl: 'ww-rpc-unix-socket', ...rpc });
    emit({ bench: 'spawn-to-exit', impl: 'ww-executor-in-process', ...inProc });
    emit({ bench: 'spawn-to-exit', impl: 'runtime-in-process', ...runtime });
    const added = rpc.p50_us - inProc.p50_us;
    emit({ bench: 'spawn-to-exit-rpc-overhead', impl: 'ww-rpc-unix-socket', p50_added_us: added, vs_runtime_p50_added_us: rpc.p50_us - runtime.p50_us, target_us: 300, ok: added <= 300 });

    // ---- pause-to-frozen ----
    const rpcPause: number[] = [];
    const localPause: number[] = [];
    {
      const { process } = await executor.spawn({ spec: { moduleCid: spinCid, argv: ['spin'] } });
      const local = rt.spawn(spinLocal, { args: ['spin'] });
      await sleep(20);
      for (let i = 0; i < 100; i++) {
        rpcPause.push(await time(() => process.pause()));
        await process.resume();
        localPause.push(await time(() => local.pause()));
        local.resume();
        await sleep(2);
      }
      await process.kill();
      local.kill();
    }
    emit({ bench: 'pause-to-frozen', impl: 'ww-rpc-unix-socket-no-grace', ...quantiles(rpcPause) });
    emit({ bench: 'pause-to-frozen', impl: 'runtime-in-process', ...quantiles(localPause) });
    {
      const graced = await startNode({ socketPath: join(dir, 'graced.sock'), poolSize: 1 });
      const c = await connectNode(graced.socketPath);
      const ex = c.node.executor().executor;
      const { process } = await ex.spawn({ spec: { moduleBytes: spin, argv: ['spin'] } });
      const withGrace: number[] = [];
      for (let i = 0; i < 10; i++) {
        withGrace.push(await time(() => process.pause()));
        await process.resume();
      }
      emit({ bench: 'pause-to-frozen', impl: 'ww-rpc-unix-socket-default-grace-100ms', ...quantiles(withGrace) });
      ex.release();
      c.close();
      await graced.close();
    }

    // ---- kill-to-ended ----
    const rpcKill: number[] = [];
    const localKill: number[] = [];
    for (let i = 0; i < 40; i++) {
      const { process }: { process: Process$Client } = await executor.spawn({ spec: { moduleCid: spinCid, argv: ['spin'] } });
      await runningRpc(process);
      rpcKill.push(await time(async () => {
        await process.kill();
        await process.wait();
      }));
      process.release();
      const local = rt.spawn(spinLocal, { args: ['spin'] });
      await runningLocal(local);
      localKill.push(await time(async () => {
        local.kill();
        await local.wait();
      }));
    }
    emit({ bench: 'kill-to-ended', impl: 'ww-rpc-unix-socket', ...quantiles(rpcKill) });
    emit({ bench: 'kill-to-ended', impl: 'runtime-in-process', ...quantiles(localKill) });
  } finally {
    executor.release();
    client.close();
    await node.close();
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runningRpc(p: Process$Client): Promise<void> {
  while ((await p.info()).info.fuelUsed === 0n) await sleep(1);
}

async function runningLocal(p: WasmProcess): Promise<void> {
  while (p.stats().fuelUsed === 0) await sleep(1);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
