// RPC benchmark: TS<->TS next to C++<->C++ (the reference peer), measured in the same run over TCP
// loopback, each server in its own process. Prints JSON lines:
//   rpc-roundtrip   p50/p99 of one small call (Counter.increment) awaited before the next
//   rpc-calls-per-s sequential (one at a time) and pipelined (N in flight on one connection)
//   rpc-blob-4mib   throughput of Store.blob(4 MiB)
// Targets: round trip <= 3x C++; >= 50,000 pipelined calls/s.
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
const BLOB_ROUNDS = 16;

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

  const fetchBlob = async (): Promise<void> => {
    const r = await store.blob({ size: BLOB });
    if (r.data.byteLength !== BLOB) throw new Error('server returned a blob of the wrong size');
  };
  await fetchBlob();
  const bStart = process.hrtime.bigint();
  for (let i = 0; i < BLOB_ROUNDS; i++) await fetchBlob();
  const bUs = Number(process.hrtime.bigint() - bStart) / 1000;
  emit({ bench: 'rpc-blob-4mib', impl, mb_per_s: +((BLOB * BLOB_ROUNDS) / 1e6 / (bUs / 1e6)).toFixed(1), blobs: BLOB_ROUNDS });

  counter.release();
  store.release();
  conn.close();
}

function runCppBench(peer: string, port: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(peer, ['bench', '--connect', `127.0.0.1:${port}`, '--calls', String(CALLS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out.split('\n').filter((l) => l.startsWith('{'))) : reject(new Error(`peer bench exited ${code}`))));
  });
}

export async function main(): Promise<void> {
  const tsServer = join(root, 'dist/tools/interop/server.js');
  const ts = await startServer(process.execPath, [tsServer, '--listen', '127.0.0.1:0']);
  try {
    await benchTs(ts.port, 'ts');
  } finally {
    await stop(ts.child);
  }

  const peer = join(root, 'test/interop/cpp/build/peer');
  // The baseline is built here (a no-op when up to date) so `npm run bench` compares side by side.
  const build = spawnSync('bash', [join(root, 'scripts/build-cpp-peer.sh')], { encoding: 'utf8' });
  if (build.status !== 0 || !existsSync(peer)) {
    const why = (build.stderr || '').trim().split('\n')[0] || `${peer} not built`;
    emit({ bench: 'rpc-baseline-missing', impl: 'c++', why: `${why} (run bash scripts/setup.sh, then bash scripts/build-cpp-peer.sh)` });
    return;
  }
  const cpp = await startServer(peer, ['server', '--listen', '127.0.0.1:0']);
  try {
    for (const line of await runCppBench(peer, cpp.port)) console.log(line);
    // The TS client against the C++ server: isolates client-side cost.
    await benchTs(cpp.port, 'ts-client/c++-server');
  } finally {
    await stop(cpp.child);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
