// Density: what a live process costs, and how many a node holds, with shared workers (many guests
// per thread, a waiting guest suspended: RuntimeOptions.workers 'shared') next to the baselines
// measured in the same run: dedicated workers (one thread per running process), a bare worker
// thread, a forked OS process (/bin/sleep and a minimal node), a chain of waiting processes through
// the executor, and whether one principal's 4,096 spinning guests delay another principal's hello.
//
//   npx tsc -p . && node dist/bench/density.js [--quick]      (or: npm run bench -- density [--quick])
//
// Every measurement runs in a fresh child process of this node binary (`--child SPEC`, as mn.ts),
// with --expose-gc, so that an RSS delta is that child's own and nothing earlier in the run is in it.
// The child's main thread drives a Runtime or an Executor in-process; guests run on its workers.
// Output: one JSON line per measurement (a child's figures, with the 1-minute load average).
// A child that finds its processes not all alive (or not all suspended) when it measures fails, and
// its line says so with `error`; the run then ends with exit code 1.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { Runtime, type LoadedModule, type WasmProcess } from '../src/wasm/index.js';
import { Executor, reasonText } from '../src/executor/index.js';
import { assemble, guest, repoRoot } from '../fixtures/wat.js';

type Bench = Record<string, unknown>;
const emit = (o: Bench): void => console.log(JSON.stringify(o));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const gc = (): void => (globalThis as unknown as { gc?: () => void }).gc?.();
const rss = (): number => process.memoryUsage.rss();
const heap = (): number => getHeapStatistics().used_heap_size;
const KIB = 1024;
const perProc = (bytes: number, n: number): number => Math.round(bytes / n);
const us = (ms: number): number => Math.round(ms * 10_000) / 10;

/** Full collections of the main thread, with turns of the event loop between them (workers have no gc()). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
}

/** Throws (the child then fails loudly) unless `ok`. */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/** Polls `done` every `everyMs` until it is true; throws after `timeoutMs`, saying what it waited for. */
async function until(what: string, done: () => boolean, timeoutMs: number, everyMs = 10): Promise<void> {
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * The resident bytes of this process's Wasm linear memories, and how many there are, from
 * /proc/self/smaps: with guard regions (V8's default on x64) each memory is a read-write mapping of
 * its current size followed at once by an inaccessible reservation of ~8-10 GiB; nothing else in a
 * Node process looks like that.
 */
function linearMemories(): { count: number; rssBytes: number } {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return { count: -1, rssBytes: -1 };
  }
  const maps: { start: bigint; end: bigint; perms: string; rssKb: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) /.exec(line);
    if (m) {
      maps.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3]!, rssKb: 0 });
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r && maps.length > 0) maps[maps.length - 1]!.rssKb = Number(r[1]);
  }
  let count = 0;
  let rssKb = 0;
  for (let i = 0; i + 1 < maps.length; i++) {
    const a = maps[i]!;
    const b = maps[i + 1]!;
    if (a.perms.startsWith('rw') && b.perms === '---p' && b.start === a.end && b.end - b.start >= 4n << 30n) {
      count++;
      rssKb += a.rssKb;
    }
  }
  return { count, rssBytes: rssKb * KIB };
}

// ---- guests ------------------------------------------------------------------------------------

/** Sleeps in poll_oneoff on a relative monotonic clock: an hour with an argument, 1 ms without
 *  (the warm-up), then exits 0 if the poll succeeded with one event. 1 page (64 KiB) of memory. */
const SLEEPER_WAT = `(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 512) (i32.const 516)))
    (i32.store8 (i32.const 8) (i32.const 0))                              ;; tag: clock
    (i32.store (i32.const 16) (i32.const 1))                              ;; monotonic
    (i64.store (i32.const 24)                                             ;; relative timeout, ns
      (select (i64.const 3600000000000) (i64.const 1000000) (i32.ge_u (i32.load (i32.const 512)) (i32.const 2))))
    (call $exit (i32.or
      (call $poll (i32.const 0) (i32.const 128) (i32.const 1) (i32.const 256))
      (i32.ne (i32.load (i32.const 256)) (i32.const 1))))))`;

/** Codes the chain guest ends with when something of its own failed (a child's is passed on as is). */
const CHAIN_FAIL = { args: 101, depth: 102, initial: 103, spawn: 104, wait: 105 };
/** A chain's ordinary codes are taken modulo this (below every failure code). */
const CHAIN_MOD = 97;

/**
 * argv: [name, depth]. Depth 0 exits 0. Depth d > 0 spawns its own module (SPAWN_SELF) with depth
 * d-1, moving its Executor handle (initial handle 0) to the child, waits for it (proc_wait), and
 * exits (child's code + 1) % 97, or the child's code as is when it is 100 or more (a failure below:
 * one of CHAIN_FAIL, 134 trap, 137 killed or a limit). So the root of a chain of depth D that went
 * all the way down and back exits D % 97. 1 page of memory.
 */
const CHAIN_WAT = `(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "ww" "initial" (func $initial (param i32 i32) (result i32)))
  (import "ww" "spawn" (func $spawn (param i32 i32 i32 i32) (result i32)))
  (import "ww" "proc_wait" (func $proc_wait (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "chain\\00")
  ;; 0 argc, 4 argv bytes, 16 argv pointers, 64.. argv bytes, 128 spawn spec, 200 child's argv,
  ;; 240 handles to move, 248 child process handle, 252 child's code, 256 reason length
  (func (export "_start")
    (local $d i32) (local $p i32) (local $c i32) (local $n i32) (local $len i32) (local $code i32)
    (if (call $args_sizes_get (i32.const 0) (i32.const 4)) (then (call $exit (i32.const ${CHAIN_FAIL.args}))))
    (if (i32.or (i32.lt_u (i32.load (i32.const 0)) (i32.const 2)) (i32.gt_u (i32.load (i32.const 4)) (i32.const 60)))
      (then (call $exit (i32.const ${CHAIN_FAIL.args}))))
    (if (call $args_get (i32.const 16) (i32.const 64)) (then (call $exit (i32.const ${CHAIN_FAIL.args}))))
    (local.set $p (i32.load (i32.const 20)))
    (block $end (loop $digit
      (local.set $c (i32.load8_u (local.get $p)))
      (br_if $end (i32.eqz (local.get $c)))
      (if (i32.gt_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 9)) (then (call $exit (i32.const ${CHAIN_FAIL.depth}))))
      (local.set $d (i32.add (i32.mul (local.get $d) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $digit)))
    (if (i32.eqz (local.get $d)) (then (call $exit (i32.const 0))))
    ;; the child's argv: "chain\\0" then the digits of d-1 and a NUL, at 200
    (local.set $n (i32.sub (local.get $d) (i32.const 1)))
    (local.set $c (local.get $n))
    (local.set $len (i32.const 1))
    (block $counted (loop $count
      (br_if $counted (i32.lt_u (local.get $c) (i32.const 10)))
      (local.set $c (i32.div_u (local.get $c) (i32.const 10)))
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (br $count)))
    (i32.store8 (i32.add (i32.const 206) (local.get $len)) (i32.const 0))
    (local.set $p (i32.add (i32.const 205) (local.get $len)))
    (loop $write
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (br_if $write (i32.ge_u (local.get $p) (i32.const 206))))
    ;; the spawn spec at 128: own module, that argv, the Executor handle moved to the child
    (if (call $initial (i32.const 0) (i32.const 240)) (then (call $exit (i32.const ${CHAIN_FAIL.initial}))))
    (memory.fill (i32.const 128) (i32.const 0) (i32.const 64))
    (i32.store (i32.const 136) (i32.const 2))
    (i32.store (i32.const 140) (i32.const 200))
    (i32.store (i32.const 144) (i32.add (i32.const 7) (local.get $len)))
    (i32.store (i32.const 156) (i32.const 240))
    (i32.store (i32.const 160) (i32.const 1))
    (if (call $spawn (i32.load (i32.const 240)) (i32.const 128) (i32.const 64) (i32.const 248)) (then (call $exit (i32.const ${CHAIN_FAIL.spawn}))))
    (if (call $proc_wait (i32.load (i32.const 248)) (i32.const 0) (i32.const 252) (i32.const 0) (i32.const 0) (i32.const 256))
      (then (call $exit (i32.const ${CHAIN_FAIL.wait}))))
    (local.set $code (i32.load (i32.const 252)))
    (if (i32.ge_u (local.get $code) (i32.const 100)) (then (call $exit (local.get $code))))
    (call $exit (i32.rem_u (i32.add (local.get $code) (i32.const 1)) (i32.const ${CHAIN_MOD})))))`;

// ---- child scenarios ---------------------------------------------------------------------------

interface ChildSpec {
  scenario: 'shared-sleepers' | 'dedicated-sleepers' | 'bare-workers' | 'forked' | 'chain' | 'fairness' | 'cpu';
  n: number;
  cacheDir: string;
  workers?: 'shared' | 'dedicated';
  /** forked: the command (argv) each forked process runs. */
  command?: string[];
  /** chain: give up after this long (then report how far it got). */
  deadlineMs?: number;
}

/** A process is alive and waiting (suspended on a shared worker, blocked on a dedicated one): its
 *  state is running and its blocked-time clock is running (the worker published when the wait began). */
const waiting = (p: WasmProcess): boolean => p.state === 'running' && p.stats().blockedMs > 0;

/** N processes of SLEEPER_WAT, all asleep at once: RSS, heap and linear memory before and after, then killed. */
async function sleepers(spec: ChildSpec): Promise<Bench> {
  const n = spec.n;
  const shared = spec.workers === 'shared';
  const rt = await Runtime.create(shared ? { workers: 'shared', poolSize: 2, cacheDir: spec.cacheDir } : { workers: 'dedicated', poolSize: 2, maxWorkers: n + 100, cacheDir: spec.cacheDir });
  try {
    let t = performance.now();
    const mod = await rt.load(await assemble(SLEEPER_WAT));
    const loadMs = performance.now() - t;
    check(mod.suspendable === shared, `module suspendable = ${mod.suspendable} on ${spec.workers} workers`);
    // Warm-up: one process of the same module through a 1 ms sleep (a suspension and a resume on shared workers).
    const warm = await rt.spawn(mod, { args: ['sleeper'] }).wait();
    check(warm.code === 0, `warm-up exited ${warm.code}`);
    await settle();
    const rss0 = rss();
    const heap0 = heap();
    const lin0 = linearMemories();
    t = performance.now();
    const procs: WasmProcess[] = [];
    for (let i = 0; i < n; i++) procs.push(rt.spawn(mod, { args: ['sleeper', 'long'] }));
    const spawnCallsMs = performance.now() - t;
    const allWaiting = (): boolean => {
      const info = rt.info();
      if (shared ? info.shared?.runnable !== 0 || info.shared?.hosted !== n : info.busy !== n) return false;
      return procs.every(waiting);
    };
    await until(`all ${n} processes waiting`, allWaiting, 600_000);
    const allWaitingMs = performance.now() - t;
    await settle();
    const rss1 = rss();
    const heap1 = heap();
    const lin1 = linearMemories();
    const info = rt.info();
    // Still all alive and waiting after the measurement.
    check(allWaiting(), `all ${n} still waiting when measured: ${JSON.stringify({ shared: info.shared, busy: info.busy, running: procs.filter((p) => p.state === 'running').length, waiting: procs.filter(waiting).length })}`);
    // (a worker keeps up to 2 memories of ended processes per shape for reuse: the warm-up's is one)
    check(lin0.count < 0 || lin1.count - lin0.count >= n - 2 * 2, `${n} more linear memories (smaps: ${lin0.count} -> ${lin1.count})`);
    const threads = threadCount();
    // Kill them all; what stays resident afterwards.
    t = performance.now();
    for (const p of procs) p.kill();
    const ends = await Promise.all(procs.map((p) => p.wait()));
    const killMs = performance.now() - t;
    check(ends.every((s) => s.reason.kind === 'killed'), 'every sleeper ended killed');
    await until('the workers dropped every guest', () => (shared ? rt.info().shared?.hosted === 0 : rt.info().busy === 0), 60_000);
    procs.length = 0;
    await sleep(1000);
    await settle();
    const rss2 = rss();
    const lin2 = linearMemories();
    const rssPer = perProc(rss1 - rss0, n);
    const linPer = lin0.count < 0 ? undefined : perProc(lin1.rssBytes - lin0.rssBytes, n);
    return {
      workers: spec.workers,
      n,
      all_waiting: true,
      ...(shared ? { shared_info_when_measured: info.shared } : { dedicated_workers_when_measured: info.workers }),
      os_threads_when_measured: threads,
      module_load_ms: Math.round(loadMs),
      rss_per_process_bytes: rssPer,
      linear_memory_rss_per_process_bytes: linPer ?? null,
      rss_per_process_beyond_linear_memory_bytes: linPer === undefined ? null : rssPer - linPer,
      ...(shared ? { target_beyond_linear_memory_bytes: 256 * KIB, target_met: linPer === undefined ? null : rssPer - linPer <= 256 * KIB } : {}),
      linear_memory_declared_bytes: 65536,
      main_heap_per_process_bytes: perProc(heap1 - heap0, n),
      spawn_calls_ms: Math.round(spawnCallsMs),
      spawn_to_all_waiting_ms: Math.round(allWaitingMs),
      spawn_to_all_waiting_us_per_process: us(allWaitingMs / n),
      kill_all_to_ended_ms: Math.round(killMs),
      rss_retained_after_kill_per_process_bytes: perProc(rss2 - rss0, n),
      linear_memories_left_after_kill: lin0.count < 0 ? null : lin2.count - lin0.count,
      rss_before_bytes: rss0,
      rss_all_waiting_bytes: rss1,
    };
  } finally {
    await rt.close();
  }
}

/** Threads of this process (/proc/self/status). */
function threadCount(): number {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? -1);
  } catch {
    return -1;
  }
}

/** N idle worker threads (each waits for a message that never comes): RSS per worker. */
async function bareWorkers(spec: ChildSpec): Promise<Bench> {
  const src = `const { parentPort } = require('node:worker_threads'); parentPort.once('message', () => process.exit(0)); parentPort.postMessage('up');`;
  const start = async (): Promise<Worker> => {
    const w = new Worker(src, { eval: true, execArgv: [] });
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    return w;
  };
  await (await start()).terminate(); // warm-up: the worker machinery loaded once
  await settle();
  const rss0 = rss();
  const threads0 = threadCount();
  const t = performance.now();
  const workers = await Promise.all(Array.from({ length: spec.n }, start));
  const startMs = performance.now() - t;
  await sleep(500);
  await settle();
  const rss1 = rss();
  const threads1 = threadCount();
  check(workers.every((w) => w.threadId > 0), 'every worker is alive');
  await Promise.all(workers.map((w) => w.terminate()));
  return {
    n: spec.n,
    rss_per_worker_bytes: perProc(rss1 - rss0, spec.n),
    os_threads_per_worker: +((threads1 - threads0) / spec.n).toFixed(1),
    start_all_ms: Math.round(startMs),
  };
}

/** Memory figures of one OS process from /proc (kB, as the kernel reports them). */
function procMemory(pid: number): { rss: number; pss: number | null; uss: number | null; comm: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (text: string, name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  let pss: number | null = null;
  let uss: number | null = null;
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    pss = field(rollup, 'Pss') ?? null;
    const clean = field(rollup, 'Private_Clean');
    const dirty = field(rollup, 'Private_Dirty');
    uss = clean !== undefined && dirty !== undefined ? clean + dirty : null;
  } catch {
    // not readable here: RSS only
  }
  return { rss: field(status, 'VmRSS') ?? -1, pss, uss, comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() };
}

/** N forked processes running `command`, once each has exec'd and settled: RSS, PSS and USS per process. */
async function forked(spec: ChildSpec): Promise<Bench> {
  const [cmd, ...args] = spec.command!;
  const isNode = cmd === process.execPath;
  const children: ChildProcess[] = [];
  try {
    const t = performance.now();
    for (let i = 0; i < spec.n; i++) {
      const c = spawn(cmd!, args, { stdio: ['ignore', isNode ? 'pipe' : 'ignore', 'ignore'] });
      children.push(c);
    }
    const comm = isNode ? 'node' : cmd!.split('/').pop()!.slice(0, 15);
    if (isNode) {
      // Each node child prints "up" once its script ran (its event loop then only holds a timer).
      await Promise.all(children.map((c) => new Promise((resolve, reject) => {
        c.stdout!.once('data', resolve);
        c.once('exit', (code) => reject(new Error(`a node child exited ${code} before it was up`)));
      })));
    } else {
      await until(`${spec.n} children exec'd into ${comm}`, () => children.every((c) => c.pid !== undefined && procMemory(c.pid).comm === comm), 30_000);
    }
    const upMs = performance.now() - t;
    await sleep(500);
    const figures = children.map((c) => procMemory(c.pid!));
    check(children.every((c) => c.exitCode === null && c.signalCode === null), 'every forked process is alive');
    check(figures.every((f) => f.comm === comm), `every forked process runs ${comm}`);
    const sum = (k: 'rss' | 'pss' | 'uss'): number | null => (figures.some((f) => f[k] === null) ? null : figures.reduce((s, f) => s + f[k]!, 0));
    const per = (k: 'rss' | 'pss' | 'uss'): number | null => {
      const s = sum(k);
      return s === null ? null : perProc(s * KIB, spec.n);
    };
    return {
      command: spec.command!.join(' '),
      n: spec.n,
      rss_per_process_bytes: per('rss'),
      pss_per_process_bytes: per('pss'),
      uss_per_process_bytes: per('uss'),
      start_all_ms: Math.round(upMs),
    };
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

/** A chain of `n` processes through the executor, each waiting for its child: wall time, µs each, peak live processes. */
async function chain(spec: ChildSpec): Promise<Bench> {
  const depth = spec.n;
  const workers = spec.workers!;
  const ex = await Executor.create({
    peerId: 'bench',
    maxGuestSpawned: depth + 16,
    runtimeOptions: workers === 'shared' ? { workers: 'shared', poolSize: 2, cacheDir: spec.cacheDir } : { workers: 'dedicated', poolSize: 2, maxWorkers: depth + 2, cacheDir: spec.cacheDir },
  });
  const rt = ex.runtime;
  let t = performance.now();
  const module = await ex.modules.put(await assemble(CHAIN_WAT));
  const loadMs = performance.now() - t;
  check(module.suspendable === (workers === 'shared'), `module suspendable = ${module.suspendable} on ${workers} workers`);
  // Warm-up: a chain of 3 (the spawn and wait paths, a suspension in each on shared workers).
  const warm = await ex.spawn({ module, argv: ['chain', '3'] }).settled;
  check(warm.code === 3, `warm-up chain of 3 exited ${warm.code} (${reasonText(warm.reason)})`);
  await settle();
  const rss0 = rss();
  let peakLive = 0;
  let peakRss = rss0;
  let peakThreads = threadCount();
  const sample = (): void => {
    peakLive = Math.max(peakLive, rt.info().processes);
    peakRss = Math.max(peakRss, rss());
  };
  const sampler = setInterval(() => {
    sample();
    peakThreads = Math.max(peakThreads, threadCount());
  }, 20);
  t = performance.now();
  const root = ex.spawn({ module, argv: ['chain', String(depth)] });
  const deadline = spec.deadlineMs ?? 600_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([root.settled, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), deadline)))]);
  const ms = performance.now() - t;
  clearTimeout(timer);
  clearInterval(sampler);
  sample();
  const base = { workers, depth, module_load_ms: Math.round(loadMs), peak_live_processes: peakLive, peak_os_threads: peakThreads };
  if (!outcome) {
    // Not finished in time: how far it got. The child exits right after this line (no cleanup of a
    // thousand blocked workers), and the orchestrator kills it if it does not.
    const info = rt.info();
    return {
      ...base,
      completed: false,
      gave_up_after_ms: deadline,
      live_processes_then: info.processes,
      dedicated_workers_then: info.workers,
      queued_then: info.queued,
      peak_rss_delta_per_live_process_bytes: peakLive > 0 ? perProc(peakRss - rss0, peakLive) : null,
      exit: 'process.exit without cleanup',
    };
  }
  const expected = depth % CHAIN_MOD;
  const result = {
    ...base,
    completed: outcome.code === expected,
    exit_code: outcome.code,
    expected_exit_code: expected,
    reason: reasonText(outcome.reason),
    ms: Math.round(ms),
    us_per_process: us(ms / depth),
    peak_rss_delta_per_process_bytes: perProc(peakRss - rss0, depth),
  };
  check(result.completed, `the chain of ${depth} exited ${outcome.code} (${result.reason}), expected ${expected}`);
  check(peakLive >= depth * 0.9, `the chain had at most ${peakLive} processes live at once, expected about ${depth + 1}`);
  await ex.close();
  return result;
}

/** Spawn-to-exit of hello, one after another, `n` times (stdout checked). */
async function helloTimes(rt: Runtime, hello: LoadedModule, group: object, n: number, timeoutMs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const p = rt.spawn(hello, { args: ['hello'], stdout: 'capture', group });
    const timer = setTimeout(() => p.kill(), timeoutMs);
    const s = await p.wait();
    clearTimeout(timer);
    out.push(performance.now() - t);
    check(s.code === 0 && new TextDecoder().decode(s.stdout).includes('hello'), `hello ended ${JSON.stringify(s.reason)} with output ${JSON.stringify(new TextDecoder().decode(s.stdout))}`);
  }
  return out;
}

function quantiles(ms: number[]): { p50_us: number; p99_us: number; max_us: number; n: number } {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50_us: us(q(0.5)), p99_us: us(q(0.99)), max_us: us(s[s.length - 1]!), n: s.length };
}

/** One principal's N spinning guests on the shared workers; another principal's hello, idle and then among them. */
async function fairness(spec: ChildSpec): Promise<Bench[]> {
  const n = spec.n;
  const rt = await Runtime.create({ workers: 'shared', poolSize: 2, cacheDir: spec.cacheDir });
  try {
    const hello = await rt.load(readFileSync(join(repoRoot(), 'examples', 'hello.wasm')));
    const spin = await rt.load(await guest('spin'));
    check(hello.suspendable && spin.suspendable, `hello and spin suspendable (${hello.suspendable}, ${spin.suspendable})`);
    const client = {};
    await helloTimes(rt, hello, client, 10, 10_000); // warm-up
    const idle = quantiles(await helloTimes(rt, hello, client, 20, 10_000));
    const bomb = {};
    let t = performance.now();
    const spinners = Array.from({ length: n }, () => rt.spawn(spin, { args: ['spin'], group: bomb }));
    // Every spinner has run at least one time slice: all of them are in the rotation. (Its fuel is
    // published at a tick that does not end its slice, so a guest whose first tick came after 10 ms
    // shows none yet; its blocked-time clock started when the slice ended and it was suspended.)
    const ran = (p: WasmProcess): boolean => p.stats().fuelUsed > 0 || p.stats().blockedMs > 0;
    await until(`all ${n} spinners ran`, () => spinners.every(ran), 300_000, 50);
    const allRanMs = performance.now() - t;
    const info = rt.info().shared;
    check(info?.hosted === n && spinners.every((p) => p.state === 'running'), `all ${n} spinners alive (${JSON.stringify(info)})`);
    const loaded = quantiles(await helloTimes(rt, hello, client, 20, 60_000));
    check(spinners.every((p) => p.state === 'running'), 'every spinner still running after the hellos');
    const runnable = rt.info().shared?.runnable;
    // One hello of the spinners' own principal: it waits its turn among them.
    t = performance.now();
    const same = await helloTimes(rt, hello, bomb, 1, 120_000);
    const sameMs = performance.now() - t;
    t = performance.now();
    for (const p of spinners) p.kill();
    const ends = await Promise.all(spinners.map((p) => p.wait()));
    const killMs = performance.now() - t;
    check(ends.every((s) => s.reason.kind === 'killed'), 'every spinner ended killed');
    await until('the workers dropped every spinner', () => rt.info().shared?.hosted === 0, 60_000);
    return [
      { case: 'idle shared runtime', ...idle },
      { case: `among ${n} spinners of another principal`, spinners: n, spinners_runnable: runnable, all_spinners_ran_once_ms: Math.round(allRanMs), ...loaded },
      // It waits about one round of its own principal's runnable guests: a round is n slices over 2 workers.
      { case: `among ${n} spinners of the same principal`, spinners: n, ms: Math.round(sameMs), n: same.length, implied_slice_ms: +(sameMs / (n / 2)).toFixed(1), kill_all_spinners_ms: Math.round(killMs) },
    ];
  } finally {
    await rt.close();
  }
}

/** fib(32) with one of its two recursive calls through call_indirect: asyncify's worst case (every
 *  function with a call that may reach a suspending import is instrumented, and an indirect call may). */
const FIB_WAT = `(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (type $ft (func (param i32) (result i32))) (table 1 funcref) (elem (i32.const 0) $fib)
  (memory (export "memory") 1)
  (func $fib (type $ft) (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2)) (then (local.get $n))
      (else (i32.add (call_indirect (type $ft) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0)) (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "_start") (call $exit (i32.and (call $fib (i32.const 32)) (i32.const 127)))))`;

/** What suspendability costs running guest code: the same module spawned to its end, alone, on a
 *  dedicated worker and on a shared one (median of `n` runs each, alternating). */
async function cpu(spec: ChildSpec): Promise<Bench[]> {
  const dedicated = await Runtime.create({ poolSize: 1, workers: 'dedicated', cacheDir: spec.cacheDir });
  const shared = await Runtime.create({ poolSize: 1, workers: 'shared', cacheDir: spec.cacheDir });
  try {
    const cases: [string, Uint8Array, string[], number][] = [
      ['fib(32), half the calls indirect', await assemble(FIB_WAT), ['fib'], 2178309 & 127], // fib(32) = 2,178,309; the exit code keeps its low 7 bits
      ['examples/cpu-loop 200,000,000 rounds', new Uint8Array(readFileSync(join(repoRoot(), 'examples', 'cpu-loop', 'cpu-loop.wasm'))), ['cpu-loop', '200000000'], 0],
    ];
    const out: Bench[] = [];
    for (const [name, bytes, args, code] of cases) {
      const on = { dedicated: await dedicated.load(bytes), shared: await shared.load(bytes) };
      check(on.shared.suspendable && !on.dedicated.suspendable, `${name}: suspendable only on the shared runtime`);
      const times: Record<'dedicated' | 'shared', number[]> = { dedicated: [], shared: [] };
      for (let i = 0; i < spec.n; i++) {
        for (const mode of ['dedicated', 'shared'] as const) {
          const rt = mode === 'shared' ? shared : dedicated;
          const t = performance.now();
          const s = await rt.spawn(on[mode], { args, stdout: 'capture' }).wait();
          times[mode].push(performance.now() - t);
          check(s.code === code, `${name} on ${mode} workers exited ${s.code}, not ${code}`);
        }
      }
      const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
      const d = median(times.dedicated);
      const sh = median(times.shared);
      out.push({ guest: name, runs: spec.n, dedicated_ms: +d.toFixed(1), shared_ms: +sh.toFixed(1), ratio: +(sh / d).toFixed(2) });
    }
    return out;
  } finally {
    await Promise.all([dedicated.close(), shared.close()]);
  }
}

async function childMain(spec: ChildSpec): Promise<void> {
  let out: Bench | Bench[];
  switch (spec.scenario) {
    case 'shared-sleepers':
    case 'dedicated-sleepers':
      out = await sleepers(spec);
      break;
    case 'bare-workers':
      out = await bareWorkers(spec);
      break;
    case 'forked':
      out = await forked(spec);
      break;
    case 'chain':
      out = await chain(spec);
      break;
    case 'fairness':
      out = await fairness(spec);
      break;
    case 'cpu':
      out = await cpu(spec);
      break;
  }
  for (const o of Array.isArray(out) ? out : [out]) emit(o);
  process.exit(0); // (a chain that gave up leaves blocked workers behind: do not wait for them)
}

// ---- the orchestrator ----------------------------------------------------------------------------

/** Runs one scenario in a fresh child; its JSON lines, or one line with `error`. */
function runChild(spec: ChildSpec, hardTimeoutMs: number): Promise<Bench[]> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, hardTimeoutMs);
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Bench);
      if (code !== 0 || lines.length === 0) {
        lines.push({ error: killed ? `child killed after ${hardTimeoutMs} ms` : `child exited ${code ?? signal}`, stderr: err.trim().split('\n').slice(-4).join(' | ') });
      }
      resolve(lines);
    });
  });
}

export async function main(argv: string[] = []): Promise<void> {
  const quick = argv.includes('--quick');
  const started = Date.now();
  const cacheDir = mkdtempSync(join(tmpdir(), 'ww-density-'));
  const node = { node: process.version };
  let failed = false;
  const line = (bench: string, what: string, o: Bench): void => {
    if ('error' in o) failed = true;
    emit({ bench: `density-${bench}`, ...o, what, ...node, load_avg_1m: +loadavg()[0]!.toFixed(1) });
  };
  const run = async (bench: string, what: string, spec: Omit<ChildSpec, 'cacheDir'>, hardTimeoutMs: number): Promise<void> => {
    for (const o of await runChild({ ...spec, cacheDir }, hardTimeoutMs)) line(bench, what, o);
  };
  try {
    const n = quick ? 1000 : 10_000;
    await run(
      'sleepers',
      'ww shared workers (poolSize 2): N processes asleep in poll_oneoff at once, each suspended; in a fresh child, its main thread driving a Runtime, guests on 2 worker threads; warm (module loaded and one process of it run first). rss: (RSS all suspended - RSS before) / N; linear_memory_rss: the same for the resident bytes of Wasm memories (/proc/self/smaps); beyond_linear_memory: the difference; main_heap: the main thread\'s V8 heap only (the workers\' heaps are in rss); retained: (RSS 1 s after kill + main-thread gc - RSS before) / N (a worker\'s isolate frees killed guests\' memories at its next collection, which an idle worker does not make: linear_memories_left_after_kill); module_load_ms: load() in this child (the asyncify transform from the run\'s disk cache when an earlier child made it)',
      { scenario: 'shared-sleepers', workers: 'shared', n },
      900_000,
    );
    await run(
      'sleepers',
      'ww dedicated workers (poolSize 2, maxWorkers N+100): N processes asleep in poll_oneoff, each blocking a worker thread of its own; in a fresh child, warm; figures as for shared',
      { scenario: 'dedicated-sleepers', workers: 'dedicated', n: 100 },
      300_000,
    );
    await run('bare-worker', 'N idle worker threads (eval: wait for a message), execArgv [] as ww\'s; in a fresh child, warm (one started and stopped first); (RSS after - RSS before) / N', { scenario: 'bare-workers', n: 50 }, 120_000);
    await run('forked', 'N forked OS processes asleep, started from a fresh child: VmRSS (/proc/PID/status), Pss and USS = Private_Clean + Private_Dirty (/proc/PID/smaps_rollup) summed / N; RSS counts shared library pages in full in each', { scenario: 'forked', n: 50, command: ['/bin/sleep', '60'] }, 120_000);
    await run('forked', 'the same for a minimal node process (after it printed that its script ran)', { scenario: 'forked', n: 5, command: [process.execPath, '-e', 'setTimeout(() => {}, 60000); console.log("up")'] }, 120_000);
    const chainWhat = 'a chain through the executor (in-process, no RPC): each guest spawns its own module (ww.spawn, SPAWN_SELF) with depth-1 in argv and waits for it (ww.proc_wait), so all are alive at once; the root exits depth % 97 when every level did; in a fresh child, warm (a chain of 3 first); ms: root spawn to root end';
    for (const depth of quick ? [1000] : [1000, 10_000]) {
      await run('chain', `ww shared workers (poolSize 2): ${chainWhat}`, { scenario: 'chain', workers: 'shared', n: depth, deadlineMs: 300_000 }, 420_000);
    }
    await run('chain', `ww dedicated workers (poolSize 2, maxWorkers depth+2): ${chainWhat}; given up after 60 s`, { scenario: 'chain', workers: 'dedicated', n: 1000, deadlineMs: 60_000 }, 120_000);
    await run(
      'fairness',
      'ww shared workers (poolSize 2): spawn-to-exit of examples/hello.wasm (stdout captured and checked), 20 one after another, on an idle runtime, then while another principal (SpawnOptions.group) has N CPU-bound spin guests running (each has run at least one 10 ms slice first), then one hello in the spinners\' own principal; in a fresh child, warm',
      { scenario: 'fairness', n: 4096 },
      600_000,
    );
    await run(
      'cpu',
      'spawn-to-exit of a CPU-bound guest alone (no other guest), on a dedicated worker and on a shared one (the module made suspendable), alternating, median of the runs; in a fresh child, warm (modules loaded first); ratio: shared / dedicated',
      { scenario: 'cpu', n: quick ? 3 : 7 },
      300_000,
    );
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  emit({ bench: 'density-total', seconds: Math.round((Date.now() - started) / 100) / 10, quick, failed });
  if (failed) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) await childMain(JSON.parse(process.argv[i + 1]!) as ChildSpec);
  else await main(process.argv.slice(2));
}
