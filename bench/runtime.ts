// Benchmarks of the process runtime (src/wasm), each next to its baseline, measured in the same run.
// Prints JSON lines. Run alone: `npm run bench -- runtime` (`--spawn`: the spawn-to-exit lines only).

import { readFileSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { WASI } from 'node:wasi';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { Runtime, type LoadedModule } from '../src/wasm/index.js';
import type { GuestCompiler } from '../src/wasm/guest-compiler.js';
import type { Process } from '../src/wasm/process.js';
import { Wasm } from '../src/wasm/webassembly.js';
import { assemble, guest, repoRoot } from '../fixtures/wat.js';

const emit = (o: Record<string, unknown>): void => console.log(JSON.stringify(o));
const us = (ms: number): number => Math.round(ms * 1000 * 10) / 10;

function quantiles(samples: number[]): { p50_us: number; p99_us: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50_us: us(q(0.5)), p99_us: us(q(0.99)), n: s.length };
}

async function timeEach(n: number, run: () => Promise<unknown> | unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await run();
    out.push(performance.now() - t);
  }
  return out;
}

function helloBytes(): Uint8Array {
  return readFileSync(join(repoRoot(), 'examples', 'hello-c', 'hello.wasm'));
}

/** A worker thread running node:wasi: it is sent the compiled module once, then for each message
 *  instantiates it with a fresh WASI (stdout to /dev/null) and a fresh memory, runs _start and answers. */
const NODE_WASI_WORKER = `
  const { parentPort } = require('node:worker_threads');
  const { WASI } = require('node:wasi');
  const devnull = require('node:fs').openSync('/dev/null', 'w');
  let mod;
  parentPort.on('message', (m) => {
    if (m.module) mod = m.module;
    const wasi = new WASI({ version: 'preview1', args: m.args, env: {}, returnOnExit: true, stdout: devnull });
    parentPort.postMessage(wasi.start(new WebAssembly.Instance(mod, wasi.getImportObject())));
  });`;

/**
 * Spawn-to-exit of hello, warm, each from the call to the exit seen by this thread: ww instrumented
 * and uninstrumented (warm pool of dedicated workers, module cached in the worker, linear memory
 * reused), next to node:wasi in this thread and node:wasi in a warm worker thread (module posted
 * once; a fresh instance and memory each). Rounds alternate the four; ratios are of medians: over all
 * samples, and the lowest and highest of the rounds'. Then fork/exec baselines.
 */
async function spawnToExit(rt: Runtime, hello: LoadedModule): Promise<void> {
  // node:wasi's imports are V8 fast-API functions, which crash Node 20 intermittently once the
  // guest's calls tier up (nodejs/node#46777; reproduced here after ~500 instances). The flag
  // avoids the crash and the per-instance wrapper compiles, so the baseline is at its fastest.
  // Set before any of the four runs: V8 flags are process-wide.
  setFlagsFromString('--no-turbo-fast-api-calls');
  const plainRt = await Runtime.create({ instrument: false });
  const plainHello = await plainRt.load(helloBytes());
  const compiled = await Wasm.compile(helloBytes());
  const devnull = openSync('/dev/null', 'w');
  const worker = new Worker(NODE_WASI_WORKER, { eval: true });
  let first = true;
  const impls: Record<string, () => Promise<unknown> | unknown> = {
    'ww instrumented': () => rt.spawn(hello, { args: ['hello'], stdout: 'capture' }).wait(),
    'ww uninstrumented': () => plainRt.spawn(plainHello, { args: ['hello'], stdout: 'capture' }).wait(),
    'node:wasi in-thread': () => {
      const wasi = new WASI({ version: 'preview1', args: ['hello'], env: {}, returnOnExit: true, stdout: devnull });
      const instance = new Wasm.Instance(compiled, wasi.getImportObject() as Record<string, Record<string, unknown>>);
      wasi.start(instance as unknown as object);
    },
    'node:wasi in a worker': () =>
      new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage(first ? { module: compiled, args: ['hello'] } : { args: ['hello'] });
        first = false;
      }),
  };
  const what: Record<string, string> = {
    'ww instrumented': 'warm dedicated worker, module cached there, memory reused, stdout captured',
    'ww uninstrumented': 'the same, instrument: false (memory made an import at load, reused)',
    'node:wasi in-thread': 'this thread: new WASI + Instance (fresh memory) + _start, stdout to /dev/null',
    'node:wasi in a worker': 'a warm worker thread, module sent once: new WASI + Instance (fresh memory) + _start per message, stdout to /dev/null',
  };
  const names = Object.keys(impls);
  const all: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const perRound: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) await timeEach(300, impls[n]);
  const rounds = 5;
  for (let round = 0; round < rounds; round++) {
    // Rotate the order, so that none always runs right after another's garbage.
    for (const n of [...names.slice(round % names.length), ...names.slice(0, round % names.length)]) {
      await timeEach(50, impls[n]);
      const samples = await timeEach(500, impls[n]);
      all[n].push(...samples);
      perRound[n].push(quantiles(samples).p50_us);
    }
  }
  const ratios = (n: string, base: string): { min: number; max: number } => {
    const r = perRound[n].map((v, i) => v / perRound[base][i]).sort((a, b) => a - b);
    return { min: Math.round(r[0] * 100) / 100, max: Math.round(r[r.length - 1] * 100) / 100 };
  };
  const inThread = quantiles(all['node:wasi in-thread']).p50_us;
  const inWorker = quantiles(all['node:wasi in a worker']).p50_us;
  for (const n of names) {
    const q = quantiles(all[n]);
    emit({
      bench: 'spawn-to-exit',
      impl: n,
      module: 'hello-c',
      what: what[n],
      ...q,
      rounds,
      x_node_wasi_in_thread: Math.round((q.p50_us / inThread) * 100) / 100,
      // (numbers, not an object: bench:ab tells measurements apart by their non-numeric fields)
      x_node_wasi_in_thread_round_min: ratios(n, 'node:wasi in-thread').min,
      x_node_wasi_in_thread_round_max: ratios(n, 'node:wasi in-thread').max,
      x_node_wasi_in_worker: Math.round((q.p50_us / inWorker) * 100) / 100,
      v8_flags: '--no-turbo-fast-api-calls',
    });
  }
  closeSync(devnull);
  await worker.terminate();
  await plainRt.close();

  const exec = (cmd: string, args: string[]) => (): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout.resume();
      child.on('error', reject);
      child.on('close', () => resolve());
    });
  await timeEach(20, exec('/bin/echo', ['hello']));
  emit({ bench: 'spawn-to-exit', impl: 'fork/exec /bin/echo', ...quantiles(await timeEach(200, exec('/bin/echo', ['hello']))) });
  const unshareArgs = ['--fork', '--pid', '--net', '--mount', '--uts', '--ipc', '/bin/echo', 'hello'];
  const probe = spawnSync('unshare', unshareArgs);
  if (probe.status === 0) {
    emit({ bench: 'spawn-to-exit', impl: 'unshare (pid,net,mount,uts,ipc) /bin/echo', ...quantiles(await timeEach(200, exec('unshare', unshareArgs))) });
  } else {
    emit({ bench: 'spawn-to-exit', impl: 'unshare', skipped: `unshare failed here: ${String(probe.stderr).trim()}` });
  }
}

/** Worker module cache: a module already in the worker vs one posted with every spawn. */
async function moduleResend(hello: Uint8Array): Promise<void> {
  const rt = await Runtime.create({ poolSize: 1, maxWorkers: 1, modulesPerWorker: 1 });
  const a = await rt.load(hello);
  // The same code with an extra custom section: a second content ID.
  const other = new Uint8Array([...hello, 0x00, 0x03, 0x01, 0x78, 0x31]);
  const b = await rt.load(other);
  const run = (m: LoadedModule) => (): Promise<unknown> => rt.spawn(m, { args: ['hello'], stdout: 'capture' }).wait();
  await timeEach(200, run(a));
  emit({ bench: 'spawn-to-exit', impl: 'ww, module cached in worker', ...quantiles(await timeEach(1000, run(a))) });
  let flip = false;
  const alternate = (): Promise<unknown> => run((flip = !flip) ? a : b)();
  await timeEach(200, alternate);
  emit({ bench: 'spawn-to-exit', impl: 'ww, module posted every spawn', ...quantiles(await timeEach(1000, alternate)) });
  await rt.close();
}

/** load(): first time (binaryen started, instrument, compile), from the disk cache, and a cache hit. */
async function loadTimes(bytes: Uint8Array): Promise<void> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-cache-'));
  try {
    const first = await Runtime.create({ poolSize: 1, cacheDir: dir });
    let t = performance.now();
    await first.load(bytes);
    const coldMs = performance.now() - t;
    t = performance.now();
    await first.load(bytes);
    const hitUs = (performance.now() - t) * 1000;
    await first.close();
    const second = await Runtime.create({ poolSize: 1, cacheDir: dir });
    t = performance.now();
    await second.load(bytes);
    const diskMs = performance.now() - t;
    await second.close();
    emit({ bench: 'load', module: 'hello-c', size: bytes.length, first_ms: Math.round(coldMs), from_disk_cache_ms: Math.round(diskMs * 10) / 10, cache_hit_us: Math.round(hitUs) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Hello processes per second with many in flight across the pool. */
async function throughput(rt: Runtime, hello: LoadedModule): Promise<void> {
  for (const inFlight of [8, 64]) {
    let done = 0;
    const until = performance.now() + 2000;
    const started = performance.now();
    const lane = async (): Promise<void> => {
      while (performance.now() < until) {
        await rt.spawn(hello, { args: ['hello'], stdout: 'capture' }).wait();
        done++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
    const seconds = (performance.now() - started) / 1000;
    emit({ bench: 'throughput', impl: 'ww', module: 'hello-c', in_flight: inFlight, workers: rt.info().workers, processes_per_s: Math.round(done / seconds) });
  }
}

/** The CPU-bound example, instrumented vs plain (same module, same rounds), compiled as `compiler` says. */
async function instrumentationOverhead(compiler: GuestCompiler = 'tiered'): Promise<void> {
  const bytes = readFileSync(join(repoRoot(), 'examples', 'cpu-loop', 'cpu-loop.wasm'));
  const instrumented = await Runtime.create({ poolSize: 1, guestCompiler: compiler });
  const plain = await Runtime.create({ poolSize: 1, instrument: false, guestCompiler: compiler });
  const mi = await instrumented.load(bytes);
  const mp = await plain.load(bytes);
  const times: Record<string, number[]> = { instrumented: [], plain: [] };
  const args = ['cpu-loop', '150000000'];
  let checksum = '';
  for (let round = 0; round < 6; round++) {
    for (const [name, rt, m] of [['plain', plain, mp], ['instrumented', instrumented, mi]] as const) {
      const t = performance.now();
      const s = await rt.spawn(m, { args, stdout: 'capture' }).wait();
      if (round > 0) times[name].push(performance.now() - t); // round 0 warms up
      const out = new TextDecoder().decode(s.stdout);
      if (checksum && out !== checksum) throw new Error('instrumented and plain runs disagree');
      checksum = out;
    }
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const mi50 = median(times.instrumented);
  const mp50 = median(times.plain);
  emit({ bench: 'instrumentation-overhead', module: 'examples/cpu-loop', guest_compiler: compiler, rounds: 150e6, plain_ms: Math.round(mp50), instrumented_ms: Math.round(mi50), overhead_pct: Math.round(((mi50 - mp50) / mp50) * 1000) / 10 });
  await instrumented.close();
  await plain.close();
}

/**
 * `--overhead`: the instrumentation overhead under each guest compiler (a node's default,
 * 'optimizing', and `ww run`'s, 'tiered'), each run in a fresh process because V8's tier flag
 * belongs to the whole process; `rounds` runs of each, alternating, then the median per compiler.
 */
async function overheadByCompiler(rounds: number): Promise<void> {
  const self = join(repoRoot(), 'dist', 'bench', 'run.js');
  const seen: Record<string, number[]> = { tiered: [], optimizing: [] };
  for (let round = 0; round < rounds; round++) {
    const order: GuestCompiler[] = round % 2 ? ['optimizing', 'tiered'] : ['tiered', 'optimizing'];
    for (const compiler of order) {
      const r = spawnSync(process.execPath, [self, 'runtime', `--guest-compiler=${compiler}`], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`the ${compiler} run failed: ${r.stderr}`);
      const line = r.stdout.split('\n').find((l) => l.includes('instrumentation-overhead'));
      if (!line) throw new Error(`the ${compiler} run printed no overhead line: ${r.stdout}`);
      process.stdout.write(line + '\n');
      seen[compiler].push(JSON.parse(line).overhead_pct);
    }
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const compiler of ['tiered', 'optimizing'] as const) {
    emit({ bench: 'instrumentation-overhead-summary', guest_compiler: compiler, runs: rounds, overhead_pct_median: median(seen[compiler]), overhead_pct_min: Math.min(...seen[compiler]), overhead_pct_max: Math.max(...seen[compiler]), target_pct: 15 });
  }
}

/** From pause() to the guest frozen (measured by the worker) and to pause() resolving. */
async function pauseLatency(rt: Runtime, spin: LoadedModule): Promise<void> {
  const p = rt.spawn(spin, { args: ['spin'] }) as Process;
  await new Promise((r) => setTimeout(r, 100));
  const frozen: number[] = [];
  const resolved: number[] = [];
  for (let i = 0; i < 100; i++) {
    const requested = performance.timeOrigin + performance.now();
    const t = performance.now();
    await p.pause();
    resolved.push(performance.now() - t);
    frozen.push(p.frozenAt() - requested);
    p.resume();
    await new Promise((r) => setTimeout(r, 5));
  }
  p.kill();
  emit({ bench: 'pause-latency', what: 'request to guest frozen', ...quantiles(frozen), max_us: us(Math.max(...frozen)) });
  emit({ bench: 'pause-latency', what: 'request to pause() resolved', ...quantiles(resolved), max_us: us(Math.max(...resolved)) });
}

/** RSS per live (paused) process, and what one instance costs without its worker. */
async function memoryPerProcess(spin: Uint8Array): Promise<void> {
  const n = 40;
  const rt = await Runtime.create({ poolSize: 1, maxWorkers: n + 1 });
  const m = await rt.load(spin);
  global.gc?.();
  const before = process.memoryUsage().rss;
  const procs = Array.from({ length: n }, () => rt.spawn(m, { args: ['spin'] }));
  await Promise.all(procs.map((p) => p.pause()));
  const after = process.memoryUsage().rss;
  emit({ bench: 'memory-per-process', impl: 'ww (one worker thread per live process)', live: n, rss_per_process_kb: Math.round((after - before) / n / 1024) });
  for (const p of procs) p.kill();
  await rt.close();
}

/** Guard regions (default) vs bounds checks (--disable-wasm-trap-handler): density and speed. */
function trapHandler(): void {
  const script = `
    const bytes = new Uint8Array(${JSON.stringify([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 109, 101, 109, 111, 114, 121, 2, 0])});
    const mod = new WebAssembly.Module(bytes); const keep = []; let error = '';
    const rss0 = process.memoryUsage().rss; const t0 = performance.now();
    try { for (let i = 0; i < 30000; i++) keep.push(new WebAssembly.Instance(mod, {})); } catch (e) { error = e.message; }
    const live = keep.length; const us_per_instance = (performance.now() - t0) * 1000 / live;
    const rss_kb = (process.memoryUsage().rss - rss0) / live / 1024; keep.length = 0;
    // sieve of Eratosthenes over 8 MiB of linear memory, 4 times, best of 5: memory-access bound
    const sieve = new Uint8Array(${JSON.stringify([...SIEVE])});
    const inst = new WebAssembly.Instance(new WebAssembly.Module(sieve), {});
    inst.exports.run(1); let best = Infinity, primes = 0;
    for (let k = 0; k < 5; k++) { const t = performance.now(); primes = inst.exports.run(4); best = Math.min(best, performance.now() - t); }
    console.log(JSON.stringify({ live, error, us_per_instance, rss_kb, sieve_ms: Math.round(best), primes }));`;
  for (const flags of [[], ['--disable-wasm-trap-handler']]) {
    const r = spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' });
    const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
    emit({ bench: 'wasm-memory-mode', impl: flags.length ? 'bounds checks (--disable-wasm-trap-handler)' : 'guard regions (default)', live_instances_max: res.live, limit_hit: res.error || 'none up to 30000', instantiate_us: Math.round(res.us_per_instance * 10) / 10, rss_per_instance_kb: Math.round(res.rss_kb * 10) / 10, sieve_ms: res.sieve_ms });
  }
}

/** Sieve of Eratosthenes over 8 MiB of linear memory (memory-access bound): run(reps) -> prime count. */
let SIEVE: Uint8Array;

/** `--spawn`: only the spawn-to-exit lines (`npm run bench -- runtime --spawn`). */
export async function main(argv: string[] = []): Promise<void> {
  const compiler = argv.find((a) => a.startsWith('--guest-compiler='))?.slice('--guest-compiler='.length);
  if (compiler === 'tiered' || compiler === 'optimizing') return instrumentationOverhead(compiler);
  if (argv.includes('--overhead')) return overheadByCompiler(Number(argv.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 3));
  if (argv.includes('--spawn')) {
    const rt = await Runtime.create();
    emit({ bench: 'runtime-setup', pool_workers: rt.info().workers, load_avg_1m: (await import('node:os')).loadavg()[0] });
    await spawnToExit(rt, await rt.load(helloBytes()));
    return rt.close();
  }
  SIEVE = await assemble(`(module (memory 128) (func (export "run") (param $r i32) (result i32) (local $i i32) (local $j i32) (local $c i32)
    (loop $rep (memory.fill (i32.const 0) (i32.const 0) (i32.const 8388608)) (local.set $c (i32.const 0)) (local.set $i (i32.const 2))
     (loop $outer (if (i32.eqz (i32.load8_u (local.get $i))) (then (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (local.set $j (i32.add (local.get $i) (local.get $i)))
        (block $b (loop $inner (br_if $b (i32.ge_u (local.get $j) (i32.const 8388608))) (i32.store8 (local.get $j) (i32.const 1))
          (local.set $j (i32.add (local.get $j) (local.get $i))) (br $inner)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $outer (i32.lt_u (local.get $i) (i32.const 8388608))))
     (local.set $r (i32.sub (local.get $r) (i32.const 1))) (br_if $rep (local.get $r))) (local.get $c)))`);
  const helloC = helloBytes();
  const spinBytes = await guest('spin');
  const rt = await Runtime.create();
  const hello = await rt.load(helloC);
  const spin = await rt.load(spinBytes);
  emit({ bench: 'runtime-setup', pool_workers: rt.info().workers, load_avg_1m: (await import('node:os')).loadavg()[0] });
  await loadTimes(helloC);
  await spawnToExit(rt, hello);
  await moduleResend(helloC);
  await throughput(rt, hello);
  await pauseLatency(rt, spin);
  await rt.close();
  await instrumentationOverhead();
  await memoryPerProcess(spinBytes);
  trapHandler();
}
