// The Argo gateway's overhead, JSON lines, side by side in one run on one node (in this process):
// - per step: examples/hello-c/hello.wasm through the plugin path (an HTTP call in Argo's shape, then
//   calls again after each `requeue` until the final phase, as Argo's agent does) next to the same
//   module spawned and waited for through the node's Executor directly (what `ww run` on a node does);
// - 100 steps in parallel: wall time through the plugin path next to 100 direct spawns at once.
// Rounds alternate the two so a machine whose load changes slows both alike.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutputMode } from '../src/capnp-gen/ww.rpc.js';
import { startGateway } from '../src/gateway/index.js';
import { connectNode, startNode } from '../src/node/index.js';

const HELLO = fileURLToPath(new URL('../../examples/hello-c/hello.wasm', import.meta.url));
const TOKEN = 'bench-token';

export async function main(argv: string[] = []): Promise<void> {
  const quick = argv.includes('--quick');
  const rounds = quick ? 10 : 40;
  const parallelRounds = quick ? 2 : 5;
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-gateway-'));
  const node = await startNode({ socketPath: join(dir, 'node.sock') });
  const gateway = await startGateway({ host: '127.0.0.1', port: 0, token: TOKEN, dataDir: join(dir, 'gw'), connect: () => connectNode(node.socketPath), maxInFlight: 256 });
  const direct = await connectNode(node.socketPath);
  const executor = direct.node.executor().executor;
  const url = `http://${gateway.address}/api/v1/template.execute`;
  let uid = 0;

  /** One step as Argo's agent runs it; resolves with the number of calls it took. */
  async function viaPlugin(): Promise<number> {
    const body = JSON.stringify({
      workflow: { metadata: { name: 'bench', namespace: 'argo', uid: `bench-${uid++}` } },
      template: { name: 'hello', inputs: {}, outputs: {}, metadata: {}, plugin: { ww: { module: HELLO } } },
    });
    for (let calls = 1; ; calls++) {
      // A reset connection is retried, as Argo's agent retries transient errors.
      const res = await post(url, body).catch((e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? post(url, body) : Promise.reject(e)));
      const reply = JSON.parse(res.text) as { node?: { phase: string; message?: string }; requeue?: string };
      if (res.status !== 200 || !reply.node) throw new Error(`gateway answered ${res.status}: ${res.text}`);
      if (reply.node.phase === 'Succeeded') return calls;
      if (reply.node.phase !== 'Running' || !reply.requeue) throw new Error(`step ended ${reply.node.phase}: ${reply.node.message}`);
      await new Promise((r) => setTimeout(r, goMs(reply.requeue!)));
    }
  }

  /** The same module through the node's Executor: spawn, wait, stdout captured. */
  async function viaExecutor(): Promise<void> {
    const { process: proc } = await executor.spawn({
      spec: { moduleCid: helloCid, argv: ['hello.wasm'], attached: false, stdout: { mode: OutputMode.capture }, stderr: { mode: OutputMode.capture } },
    });
    const { status } = await proc.wait();
    proc.release();
    if (status.code !== 0) throw new Error(`hello exited ${status.code}`);
  }

  const cache = executor.modules().cache;
  const helloCid = (await cache.put({ bytes: readFileSync(HELLO) })).cid;
  cache.release();
  try {
    for (let i = 0; i < 5; i++) {
      await viaPlugin();
      await viaExecutor();
    }
    const plugin: number[] = [];
    const executorMs: number[] = [];
    const calls: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? ['plugin', 'executor'] : ['executor', 'plugin'];
      for (const which of order) {
        const t0 = performance.now();
        if (which === 'plugin') calls.push(await viaPlugin());
        else await viaExecutor();
        (which === 'plugin' ? plugin : executorMs).push(performance.now() - t0);
      }
    }
    const p = stats(plugin);
    const e = stats(executorMs);
    console.log(JSON.stringify({ bench: 'gateway-step', module: 'examples/hello-c/hello.wasm', plugin_ms: p, executor_ms: e, added_p50_ms: round1(p.p50 - e.p50), calls_per_step: stats(calls), n: rounds }));

    const parallelPlugin: number[] = [];
    const parallelExecutor: number[] = [];
    for (let round = 0; round < parallelRounds; round++) {
      for (const which of round % 2 === 0 ? ['plugin', 'executor'] : ['executor', 'plugin']) {
        const t0 = performance.now();
        await Promise.all(Array.from({ length: 100 }, () => (which === 'plugin' ? viaPlugin() : viaExecutor())));
        (which === 'plugin' ? parallelPlugin : parallelExecutor).push(performance.now() - t0);
      }
    }
    console.log(JSON.stringify({ bench: 'gateway-parallel-100', plugin_wall_ms: stats(parallelPlugin), executor_wall_ms: stats(parallelExecutor), n: parallelRounds }));
  } finally {
    executor.release();
    direct.close();
    keepAlive.destroy();
    await gateway.close();
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A POST over kept-alive connections (as Go's http.Client does): the client's own cost stays small
 *  next to the gateway's, in this one process. */
const keepAlive = new Agent({ keepAlive: true, maxSockets: 128 });
function post(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: keepAlive, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function goMs(text: string): number {
  const m = /^(\d+)(ms|s)$/.exec(text);
  if (!m) throw new Error(`unexpected requeue ${text}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

function stats(samples: number[]): { min: number; p50: number; p90: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => round1(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  return { min: at(0), p50: at(0.5), p90: at(0.9) };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
