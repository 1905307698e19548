// CLI start-up benchmark, side by side in one run, JSON lines: wall time of whole commands (each a
// fresh process, cold: nothing of ww is cached between them but the page cache), `ww run
// examples/hello.wasm` locally (its guest on a worker thread of its own) and on a running node (in
// this process), `ww ps` on that node, next to `node -e 0` (the floor of any Node CLI) and
// `ww --version` (oclif's own start-up), in alternating rounds.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNode } from '../src/node/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WW = join(ROOT, 'bin/ww.js');
const RUNS = 15;

/** One fresh `node ARGS` from the repository root: its wall time in ms; rejects with its stderr when it fails. */
export function runOnce(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))));
  });
}

interface Case {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  samples: number[];
}

/**
 * Runs every case once per round, in an order that alternates between rounds, so that a machine
 * whose load changes during the run slows every command alike and the ratios to `node -e 0` (the
 * first case) stay comparable. Each line says how many times `node -e 0`'s p50 a command's p50 is
 * (target: 1.5x for `ww run` local and `ww ps`, cli/README.md "Start-up").
 */
async function measure(cases: Case[]): Promise<void> {
  for (const c of cases) await runOnce(c.args, c.env); // warm the page cache
  for (let round = 0; round < RUNS; round++) {
    for (const c of round % 2 === 0 ? cases : [...cases].reverse()) c.samples.push(await runOnce(c.args, c.env));
  }
  const quantile = (samples: number[], p: number): number => {
    const sorted = [...samples].sort((a, b) => a - b);
    return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
  };
  const nodeP50 = quantile(cases[0]!.samples, 0.5);
  for (const c of cases) {
    const p50 = quantile(c.samples, 0.5);
    const ratio = Math.round((p50 / nodeP50) * 100) / 100;
    console.log(JSON.stringify({ bench: 'cli-wall', command: c.name, p50_ms: p50, p90_ms: quantile(c.samples, 0.9), min_ms: quantile(c.samples, 0), x_node_e_0: ratio, n: c.samples.length }));
  }
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-cli-'));
  const socketPath = join(dir, 'node.sock');
  const env = { ...process.env, WW_SOCKET: socketPath, WW_CACHE_DIR: join(dir, 'cache') };
  // The local run asks a socket where no node listens: it runs the guest in its own process.
  const local = { ...env, WW_SOCKET: join(dir, 'no-node.sock') };
  const node = await startNode({ socketPath });
  try {
    const cases: Omit<Case, 'samples'>[] = [
      { name: 'node -e 0', args: ['-e', '0'], env },
      { name: 'ww --version', args: [WW, '--version'], env },
      { name: 'ww run examples/hello.wasm (local)', args: [WW, 'run', 'examples/hello.wasm'], env: local },
      { name: 'ww run examples/hello.wasm (on a node)', args: [WW, 'run', '--node', 'examples/hello.wasm'], env },
      { name: 'ww ps', args: [WW, 'ps'], env },
    ];
    await measure(cases.map((c) => ({ ...c, samples: [] })));
  } finally {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
