// Guest-side figures of the ww host module, JSON lines:
// - spawn-from-guest: a guest spawns a tiny child (its own module) and waits for it, timed inside
//   the guest; next to the same spawn-to-exit driven from JavaScript through the executor;
// - ww host call round trip (handle_kind in a loop): what every ww call costs at least;
// - channel throughput between two processes: messages/s and bytes/s for 16-byte and 64 KiB messages,
//   next to the substrate's own figure: a MessageChannel between two worker threads (no Wasm, no
//   backpressure) carrying the same messages.
import { MessageChannel, Worker } from 'node:worker_threads';
import { Executor } from '../src/executor/index.js';
import { assemble } from '../fixtures/wat.js';
import { guest, ints } from '../fixtures/ww-guest.js';

function emit(o: Record<string, unknown>): void {
  console.log(JSON.stringify(o));
}

function quantiles(samplesUs: number[]): { p50_us: number; p99_us: number; n: number } {
  const s = [...samplesUs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50_us: Math.round(q(0.5)), p99_us: Math.round(q(0.99)), n: s.length };
}

/**
 * One module, three roles. Root (initial(0) is the Executor) reads [mode, n, size] from stdin:
 * mode 1: n times spawn itself (no handles: the child exits at once) and wait; prints the spawn
 *   call's and the spawn-to-exit time in us. mode 2: n calls of handle_kind; prints the total us.
 * mode 3: a channel (capacity 64), a child given its receive end, n messages of `size` bytes, close,
 *   wait; prints the total us and the number of failed sends. A child with a receive end receives until EPIPE; any other exits.
 */
const BENCH_GUEST = guest(`(local $i i32) (local $n i32) (local $t0 i32) (local $t1 i32) (local $kind i32)
  (if (call $initial (i32.const 0) (i32.const 48)) (then (return)))
  (drop (call $handle_kind (i32.load (i32.const 48)) (i32.const 52)))
  (local.set $kind (i32.load (i32.const 52)))
  (if (i32.eq (local.get $kind) (i32.const 4))
    (then
      (loop $r
        (br_if $r (i32.eqz (call $chan_recv (i32.load (i32.const 48)) (i32.const 0) (i32.const 4096) (i32.const 65536)
          (i32.const 40) (i32.const 300) (i32.const 4) (i32.const 44)))))
      (return)))
  (if (i32.ne (local.get $kind) (i32.const 2)) (then (return)))
  (drop (call $readStdin (i32.const 256) (i32.const 12)))
  (local.set $n (i32.load (i32.const 260)))
  (if (i32.eq (i32.load (i32.const 256)) (i32.const 1))
    (then
      (loop $l
        (local.set $t0 (call $nowUs))
        (drop (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64) (i32.const 32)))
        (local.set $t1 (call $nowUs))
        (drop (call $proc_wait (call $o1) (i32.const 0) (i32.const 40) (i32.const 64) (i32.const 0) (i32.const 44)))
        (call $out (i32.sub (local.get $t1) (local.get $t0)))
        (call $out (i32.sub (call $nowUs) (local.get $t0)))
        (drop (call $handle_drop (call $o1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))))
  (if (i32.eq (i32.load (i32.const 256)) (i32.const 2))
    (then
      (local.set $t0 (call $nowUs))
      (loop $l
        (drop (call $handle_kind (i32.load (i32.const 48)) (i32.const 52)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (call $out (i32.sub (call $nowUs) (local.get $t0)))))
  (if (i32.eq (i32.load (i32.const 256)) (i32.const 3))
    (then
      (drop (call $chan_create (i32.const 64) (i32.const 32) (i32.const 36)))
      (i32.store (i32.const 200) (call $o2))
      (local.set $t0 (call $nowUs))
      (drop (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 200) (i32.const 1)) (i32.const 64) (i32.const 40)))
      (loop $l
        (if (call $chan_send (call $o1) (i32.const 0) (i32.const 4096) (i32.load (i32.const 264)) (i32.const 0) (i32.const 0))
          (then (local.set $t1 (i32.add (local.get $t1) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (drop (call $chan_close (call $o1)))
      (drop (call $proc_wait (call $o3) (i32.const 0) (i32.const 44) (i32.const 64) (i32.const 0) (i32.const 44)))
      (call $out (i32.sub (call $nowUs) (local.get $t0)))
      (call $out (local.get $t1))))`);

/** Messages/s of a plain MessageChannel between two worker threads: a sender posts n copies, the receiver counts. */
async function messageChannelBaseline(size: number, n: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const receiver = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     let got = 0; workerData.port.on('message', () => { if (++got === workerData.n) { parentPort.postMessage('done'); workerData.port.close(); } });
     parentPort.postMessage('ready');`,
    { eval: true, workerData: { port: port2, n }, transferList: [port2] },
  );
  const sender = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     parentPort.once('message', () => { const data = new Uint8Array(workerData.size); const t0 = performance.now();
       for (let i = 0; i < workerData.n; i++) workerData.port.postMessage(data); parentPort.postMessage(t0 + performance.timeOrigin); });`,
    { eval: true, workerData: { port: port1, size, n }, transferList: [port1] },
  );
  await new Promise((r) => receiver.once('message', r));
  const done = new Promise<number>((r) => receiver.once('message', () => r(performance.now() + performance.timeOrigin)));
  const started = new Promise<number>((r) => sender.once('message', r));
  sender.postMessage('go');
  const [t0, t1] = await Promise.all([started, done]);
  await Promise.all([sender.terminate(), receiver.terminate()]);
  return n / ((t1 - t0) / 1000);
}

export async function main(): Promise<void> {
  const ex = await Executor.create({ peerId: 'bench', runtimeOptions: { poolSize: 2 } });
  try {
    const module = await ex.modules.put(await assemble(BENCH_GUEST));
    const run = async (mode: number, n: number, size = 0): Promise<number[]> => {
      const stdin = new Uint8Array(new Int32Array([mode, n, size]).buffer);
      const e = ex.spawn({ module, argv: ['bench'], stdin, stdout: 'capture' });
      const s = await e.settled;
      if (s.code !== 0) throw new Error(`bench guest ended with code ${s.code}`);
      return ints(s.stdout);
    };

    // ---- spawn from a guest vs. from JavaScript ----
    await run(1, 200); // warm-up: workers, JIT
    const fromGuest = await run(1, 1000);
    const spawnCall = fromGuest.filter((_, i) => i % 2 === 0);
    const spawnToExit = fromGuest.filter((_, i) => i % 2 === 1);
    const fromJs: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t0 = performance.now();
      await ex.spawn({ module, argv: ['child'] }).settled; // no stdin: the root reads mode 0 and returns
      fromJs.push((performance.now() - t0) * 1000);
    }
    emit({ bench: 'spawn-from-guest', impl: 'spawn-call', ...quantiles(spawnCall) });
    emit({ bench: 'spawn-from-guest', impl: 'spawn-to-exit', ...quantiles(spawnToExit) });
    emit({ bench: 'spawn-from-guest', impl: 'executor-in-process-from-js', ...quantiles(fromJs) });

    // ---- host call round trip ----
    const calls = 20_000;
    const [total] = await run(2, calls);
    emit({ bench: 'ww-host-call', impl: 'handle_kind-round-trip', mean_us: Number((total / calls).toFixed(2)), calls_per_s: Math.round(calls / (total / 1e6)) });

    // ---- channel throughput ----
    for (const [size, n] of [
      [16, 20_000],
      [65536, 3000],
    ] as const) {
      await run(3, Math.min(n, 1000), size); // warm-up
      const [us, failed] = await run(3, n, size);
      if (failed !== 0) throw new Error(`${failed} sends failed`);
      const s = us / 1e6;
      emit({
        bench: 'channel-throughput',
        impl: 'two-processes',
        message_bytes: size,
        messages: n,
        messages_per_s: Math.round(n / s),
        mib_per_s: Number(((n * size) / s / (1024 * 1024)).toFixed(1)),
      });
      const base = await messageChannelBaseline(size, n);
      emit({
        bench: 'channel-throughput',
        impl: 'node-messagechannel-two-workers',
        message_bytes: size,
        messages: n,
        messages_per_s: Math.round(base),
        mib_per_s: Number(((base * size) / (1024 * 1024)).toFixed(1)),
      });
    }
  } finally {
    await ex.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
