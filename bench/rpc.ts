// RPC benchmark: TS<->TS next to C++<->C++ (the reference peer), measured in the same run over TCP
// loopback, each server in its own process. Prints JSON lines:
//   rpc-roundtrip   p50/p99 of one small call (Counter.increment) awaited before the next
//   rpc-calls-per-s sequential (one at a time) and pipelined (N in flight on one connection)
//   rpc-blob        throughput of Store.blob(4 MiB), server -> client, per round and impl:
//                   ts (TS client <-> TS server), c++ (C++ client <-> C++ server), and the two mixes;
//   rpc-blob-summary min/median/max per impl, and ts/c++ (medians, and the range of per-round ratios)
// Targets: round trip <= 3x C++; >= 50,000 pipelined calls/s; blob ts/c++ >= 0.8.
// `npm run bench -- rpc --blob [--rounds=N]` runs only the blob comparison.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '../src/rpc/conn.js';
import { connectTcp } from '../src/rpc/transport/tcp.js';
import { Store } from '../src/capnp-gen/interop.rpc.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CALLS = 20000;
const BLOB = 4 * 1024 * 1024;
/** Blobs per measurement, after two to warm up (the same on both sides). */
const BLOBS = 16;

function startServer(cmd: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    // Never leave a server behind, even if this process dies mid-run.
    const reap = (): void => void child.kill('SIGKILL');
    process.once('exit', reap);
    child.once('exit', () => process.off('exit', reap));
    let out = '';
    child.once('error', reject);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on [^:\s]+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited with ${code} before listening`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function emit(o: Record<string, unknown>): void {
  console.log(JSON.stringify(o));
}

async function benchTs(port: number, impl: string): Promise<void> {
  const conn = new Connection(await connectTcp('127.0.0.1', port));
  const store = conn.bootstrap(Store);
  const counter = (await store.counter({ start: 0n })).counter;
  for (let i = 0; i < 1000; i++) await counter.increment({ by: 1n });

  const lat: number[] = [];
  const seqStart = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) {
    const t = process.hrtime.bigint();
    await counter.increment({ by: 1n });
    lat.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  const seqUs = Number(process.hrtime.bigint() - seqStart) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  emit({ bench: 'rpc-roundtrip', impl, p50_us: +pct(0.5).toFixed(1), p99_us: +pct(0.99).toFixed(1), calls: CALLS });
  emit({ bench: 'rpc-calls-per-s', impl, mode: 'sequential', calls_per_s: Math.round(CALLS / (seqUs / 1e6)), calls: CALLS });

  const pipelined = async (): Promise<void> => {
    const all: PromiseLike<unknown>[] = [];
    for (let i = 0; i < CALLS; i++) all.push(counter.increment({ by: 1n }));
    await Promise.all(all);
  };
  await pipelined();
  const pStart = process.hrtime.bigint();
  await pipelined();
  const pUs = Number(process.hrtime.bigint() - pStart) / 1000;
  emit({ bench: 'rpc-calls-per-s', impl, mode: 'pipelined', calls_per_s: Math.round(CALLS / (pUs / 1e6)), calls: CALLS });

  counter.release();
  store.release();
  conn.close();
}

function runCppBench(peer: string, port: number, mode = 'bench', calls = CALLS): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(peer, [mode, '--connect', `127.0.0.1:${port}`, '--calls', String(calls)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out.split('\n').filter((l) => l.startsWith('{'))) : reject(new Error(`peer bench exited ${code}`))));
  });
}

/** A TS client that fetches blobs on one warm connection. */
async function tsBlobClient(port: number): Promise<{ measure(): Promise<number>; close(): void }> {
  const conn = new Connection(await connectTcp('127.0.0.1', port));
  const store = conn.bootstrap(Store);
  const fetchBlob = async (): Promise<void> => {
    const r = await store.blob({ size: BLOB });
    if (r.data.byteLength !== BLOB) throw new Error('server returned a blob of the wrong size');
  };
  await fetchBlob();
  await fetchBlob();
  return {
    async measure() {
      const start = process.hrtime.bigint();
      for (let i = 0; i < BLOBS; i++) await fetchBlob();
      const us = Number(process.hrtime.bigint() - start) / 1000;
      return (BLOB * BLOBS) / 1e6 / (us / 1e6);
    },
    close() {
      store.release();
      conn.close();
    },
  };
}

async function cppBlobClient(peer: string, port: number): Promise<number> {
  const [line] = await runCppBench(peer, port, 'bench-blob', BLOBS);
  return (JSON.parse(line) as { mb_per_s: number }).mb_per_s;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * 4 MiB blobs server -> client over TCP loopback, each server in its own process: TS<->TS next to
 * C++<->C++ (and the two mixes, to tell client cost from server cost), in alternating rounds. The
 * TS client runs in this process on a connection kept across rounds; the C++ client is a fresh
 * process per round. Both sides warm up with two blobs before timing BLOBS more.
 */
async function benchBlob(peer: string, rounds: number): Promise<void> {
  const tsServer = join(root, 'dist/tools/interop/server.js');
  const ts = await startServer(process.execPath, [tsServer, '--listen', '127.0.0.1:0']);
  const cpp = await startServer(peer, ['server', '--listen', '127.0.0.1:0']);
  const clients = [await tsBlobClient(ts.port), await tsBlobClient(cpp.port)];
  try {
    const runs: [string, () => Promise<number>][] = [
      ['ts', () => clients[0].measure()],
      ['c++', () => cppBlobClient(peer, cpp.port)],
      ['ts-client/c++-server', () => clients[1].measure()],
      ['c++-client/ts-server', () => cppBlobClient(peer, ts.port)],
    ];
    const got = new Map<string, number[]>(runs.map(([impl]) => [impl, []]));
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? runs : [...runs].reverse();
      const here = new Map<string, number>();
      for (const [impl, run] of order) {
        const mbPerS = await run();
        here.set(impl, mbPerS);
        got.get(impl)!.push(mbPerS);
        emit({ bench: 'rpc-blob', impl, round, mb_per_s: +mbPerS.toFixed(1), bytes: BLOB, blobs: BLOBS });
      }
      ratios.push(here.get('ts')! / here.get('c++')!);
    }
    for (const [impl, xs] of got) {
      emit({ bench: 'rpc-blob-summary', impl, min: +Math.min(...xs).toFixed(1), median: +median(xs).toFixed(1), max: +Math.max(...xs).toFixed(1), rounds });
    }
    emit({
      bench: 'rpc-blob-summary',
      impl: 'ts/c++',
      ratio_of_medians: +(median(got.get('ts')!) / median(got.get('c++')!)).toFixed(2),
      round_ratio_min: +Math.min(...ratios).toFixed(2),
      round_ratio_max: +Math.max(...ratios).toFixed(2),
      target: 0.8,
    });
  } finally {
    for (const c of clients) c.close();
    await stop(ts.child);
    await stop(cpp.child);
  }
}

function buildPeer(): string | null {
  const peer = join(root, 'test/interop/cpp/build/peer');
  // The baseline is built here (a no-op when up to date) so `npm run bench` compares side by side.
  const build = spawnSync('bash', [join(root, 'scripts/build-cpp-peer.sh')], { encoding: 'utf8' });
  if (build.status !== 0 || !existsSync(peer)) {
    const why = (build.stderr || '').trim().split('\n')[0] || `${peer} not built`;
    emit({ bench: 'rpc-baseline-missing', impl: 'c++', why: `${why} (run bash scripts/setup.sh, then bash scripts/build-cpp-peer.sh)` });
    return null;
  }
  return peer;
}

export async function main(argv: string[] = []): Promise<void> {
  const roundsFlag = argv.find((a) => a.startsWith('--rounds='));
  const rounds = roundsFlag ? Number(roundsFlag.slice('--rounds='.length)) : 5;
  if (!(rounds >= 1)) throw new Error(`--rounds=N wants a number of rounds, not ${roundsFlag}`);
  if (argv.includes('--blob')) {
    const peer = buildPeer();
    if (peer) await benchBlob(peer, rounds);
    return;
  }
  const tsServer = join(root, 'dist/tools/interop/server.js');
  const ts = await startServer(process.execPath, [tsServer, '--listen', '127.0.0.1:0']);
  try {
    await benchTs(ts.port, 'ts');
  } finally {
    await stop(ts.child);
  }

  const peer = buildPeer();
  if (!peer) return;
  const cpp = await startServer(peer, ['server', '--listen', '127.0.0.1:0']);
  try {
    for (const line of await runCppBench(peer, cpp.port)) console.log(line);
    // The TS client against the C++ server: isolates client-side cost.
    await benchTs(cpp.port, 'ts-client/c++-server');
  } finally {
    await stop(cpp.child);
  }
  await benchBlob(peer, rounds);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main(process.argv.slice(2));
