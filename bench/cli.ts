// CLI start-up benchmark, side by side in one run, JSON lines: wall time of whole commands,
// `ww run examples/hello.wasm` locally and on a running node, next to `node -e 0` (the floor of any
// Node CLI) and `ww --version` (oclif's own start-up).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNode } from '../src/node/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WW = join(ROOT, 'bin/ww.js');
const RUNS = 15;

function runOnce(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** `node -e 0`'s p50 in this run: each later line says how many times it a command takes (target: 1.5x
 *  for `ww run` local and `ww ps`, cli/README.md "Start-up"). */
let nodeP50: number | undefined;

async function measure(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  await runOnce(args, env); // warm the page cache
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await runOnce(args, env));
  samples.sort((a, b) => a - b);
  const q = (p: number): number => Math.round(samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]);
  const p50 = q(0.5);
  nodeP50 ??= p50;
  const ratio = Math.round((p50 / nodeP50) * 100) / 100;
  console.log(JSON.stringify({ bench: 'cli-wall', command: name, p50_ms: p50, p90_ms: q(0.9), x_node_e_0: ratio, n: samples.length }));
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-cli-'));
  const socketPath = join(dir, 'node.sock');
  const env = { ...process.env, WW_SOCKET: socketPath, WW_CACHE_DIR: join(dir, 'cache') };
  try {
    await measure('node -e 0', ['-e', '0'], env);
    await measure('ww --version', [WW, '--version'], env);
    await measure('ww run examples/hello.wasm (local)', [WW, 'run', 'examples/hello.wasm'], env);
    const node = await startNode({ socketPath });
    try {
      await measure('ww run examples/hello.wasm (on a node)', [WW, 'run', '--node', 'examples/hello.wasm'], env);
      await measure('ww ps', [WW, 'ps'], env);
    } finally {
      await node.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
