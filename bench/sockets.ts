// Socket echo round trip through a guest: the Go echo server (examples/echo-go) on a
// pre-opened listener under the runtime, next to a plain Node net echo server in the same process
// and run: round trips of a small message on one connection (sequential), and a 32 MiB stream
// echoed on one connection (MB/s each way). Prints JSON lines.
// Run alone: `npx tsc -p . && node -e "import('./dist/bench/sockets.js').then(m => m.main())"`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { Runtime } from '../src/wasm/index.js';
import { repoRoot } from '../fixtures/wat.js';

const emit = (o: Record<string, unknown>): void => console.log(JSON.stringify(o));
const us = (ms: number): number => Math.round(ms * 1000 * 10) / 10;

function quantiles(samples: number[]): { p50_us: number; p99_us: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50_us: us(q(0.5)), p99_us: us(q(0.99)), n: s.length };
}

const MESSAGE = Buffer.alloc(32, 'x');

/** Sequential round trips of MESSAGE on one connection; returns milliseconds per round trip. */
async function roundTrips(port: number, n: number): Promise<number[]> {
  const sock: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
  await once(sock, 'connect');
  const times: number[] = [];
  let got = 0;
  let done: (() => void) | undefined;
  sock.on('data', (d: Buffer) => {
    got += d.length;
    if (got >= MESSAGE.length) {
      got -= MESSAGE.length;
      done?.();
    }
  });
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((resolve) => {
      done = resolve;
      sock.write(MESSAGE);
    });
    times.push(performance.now() - t);
  }
  sock.end();
  await once(sock, 'close');
  return times;
}

/** Streams `total` bytes through an echo server on one connection (writing and reading at once); MB/s. */
async function throughput(port: number, total: number): Promise<number> {
  const sock: Socket = connect({ host: '127.0.0.1', port });
  await once(sock, 'connect');
  const chunk = Buffer.alloc(64 * 1024, 'y');
  const t = performance.now();
  let got = 0;
  const done = new Promise<void>((resolve) =>
    sock.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= total) resolve();
    }),
  );
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (!sock.write(chunk)) await once(sock, 'drain');
  }
  await done;
  const seconds = (performance.now() - t) / 1000;
  sock.end();
  await once(sock, 'close');
  return Math.round((total / 1e6 / seconds) * 10) / 10;
}

const STREAM_BYTES = 32 * 1024 * 1024;

async function nodeEcho(n: number): Promise<void> {
  const server = createServer({ noDelay: true }, (s) => s.pipe(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await roundTrips(port, 200);
  emit({ bench: 'socket-echo-rtt', impl: 'node net echo server', message_bytes: MESSAGE.length, ...quantiles(await roundTrips(port, n)) });
  emit({ bench: 'socket-echo-stream', impl: 'node net echo server', bytes: STREAM_BYTES, mb_per_s: await throughput(port, STREAM_BYTES) });
  server.close();
}

async function guestEcho(n: number, instrument: boolean): Promise<void> {
  const rt = await Runtime.create({ poolSize: 1, instrument });
  try {
    const module = await rt.load(readFileSync(join(repoRoot(), 'examples', 'echo-go', 'echo.wasm')));
    const listeners = await rt.listen([{ host: '127.0.0.1', port: 0 }]);
    const port = listeners[0]!.port;
    const proc = rt.spawn(module, { args: ['echo.wasm', '3'], listen: listeners, stderr: 'ignore' });
    await roundTrips(port, 1000); // (V8 tiers the Go runtime's hot functions up meanwhile)
    const times = await roundTrips(port, n);
    emit({
      bench: 'socket-echo-rtt',
      impl: `ww Go guest (examples/echo-go)${instrument ? ', instrumented' : ''}`,
      message_bytes: MESSAGE.length,
      ...quantiles(times),
    });
    emit({
      bench: 'socket-echo-stream',
      impl: `ww Go guest (examples/echo-go)${instrument ? ', instrumented' : ''}`,
      bytes: STREAM_BYTES,
      mb_per_s: await throughput(port, STREAM_BYTES),
    });
    await proc.wait();
  } finally {
    await rt.close();
  }
}

export async function main(): Promise<void> {
  const n = Number(process.env.WW_BENCH_SOCKET_N ?? 3000);
  await nodeEcho(n);
  await guestEcho(n, false);
  await guestEcho(n, true);
  await nodeEcho(n);
}

