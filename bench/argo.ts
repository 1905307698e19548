// `ww argo run` overhead, side by side in one run, JSON lines:
// - per step, in-process: N sequential steps through the engine and the Wasm step runner (scratch
//   directories, output capture, node bookkeeping) next to the same module spawned N times directly
//   on the same private executor; the difference is what the engine adds per step;
// - 100 parallel steps (one withSequence loop) next to 100 direct parallel spawns;
// - whole commands: `ww argo run` of a one-step workflow next to `ww run` of the same module.
// Rounds alternate their order so a machine whose load changes slows both alike.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWorkflow } from '../src/argo/parse.js';
import { runWorkflow, DEFAULT_LIMITS } from '../src/argo/engine.js';
import { ImageMap } from '../src/argo/images.js';
import { wasmStepRunner } from '../src/argo/runner.js';
import { localSpawner } from '../src/argo/local.js';
import { runOnce } from './cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WW = join(ROOT, 'bin/ww.js');
const HELLO = join(ROOT, 'examples/hello.wasm');

function sequential(n: number): string {
  const groups = Array.from({ length: n }, (_, i) => `    - - {name: s${i}, template: hello}\n`).join('');
  return `apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: seq}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n${groups}  - name: hello\n    container: {image: hello}\n`;
}

function parallel(n: number): string {
  return `apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: par}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n    - - {name: p, template: hello, withSequence: {count: "${n}"}}\n  - name: hello\n    container: {image: hello}\n`;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round2 = (x: number): number => Math.round(x * 100) / 100;

export async function main(argv: string[] = []): Promise<void> {
  const quick = argv.includes('--quick');
  const rounds = quick ? 3 : 7;
  const steps = quick ? 20 : 50;
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-argo-'));
  const local = localSpawner({ cacheDir: join(dir, 'cache') });
  try {
    const images = ImageMap.defaults().add(`hello=${HELLO}`);
    const runStep = wasmStepRunner({ images, spawn: local.spawn, runDir: join(dir, 'run'), maxOutputBytes: DEFAULT_LIMITS.maxOutputBytes });
    const seq = parseWorkflow(sequential(steps), 'seq.yaml');
    const par = parseWorkflow(parallel(100), 'par.yaml');
    const direct = () => local.spawn({ module: HELLO, argv: ['hello'], env: {}, preopens: [], stdout: () => {}, stderr: () => {} });

    const time = async (fn: () => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const cases = {
      engineSeq: () => runWorkflow(seq, { runStep }).then((r) => {
        if (r.status.phase !== 'Succeeded') throw new Error(`sequential workflow ${r.status.phase}`);
      }),
      directSeq: async () => {
        for (let i = 0; i < steps; i++) await direct();
      },
      enginePar: () => runWorkflow(par, { runStep }).then((r) => {
        if (r.status.phase !== 'Succeeded') throw new Error(`parallel workflow ${r.status.phase}`);
      }),
      directPar: () => Promise.all(Array.from({ length: 100 }, direct)),
    };
    const samples: Record<keyof typeof cases, number[]> = { engineSeq: [], directSeq: [], enginePar: [], directPar: [] };
    await cases.engineSeq(); // warm: the module compiled, workers started
    await cases.enginePar();
    for (let r = 0; r < rounds; r++) {
      const order = (Object.keys(cases) as (keyof typeof cases)[]);
      for (const name of r % 2 === 0 ? order : [...order].reverse()) samples[name].push(await time(cases[name]));
    }
    const perStep = (xs: number[]) => xs.map((x) => x / steps);
    const engineStep = perStep(samples.engineSeq);
    const directStep = perStep(samples.directSeq);
    console.log(JSON.stringify({
      bench: 'argo-step', where: 'in-process', steps, rounds,
      engine_ms_per_step_median: round2(median(engineStep)), engine_ms_per_step_min: round2(Math.min(...engineStep)), engine_ms_per_step_max: round2(Math.max(...engineStep)),
      direct_spawn_ms_median: round2(median(directStep)), direct_spawn_ms_min: round2(Math.min(...directStep)), direct_spawn_ms_max: round2(Math.max(...directStep)),
      added_ms_per_step_median: round2(median(engineStep) - median(directStep)),
    }));
    console.log(JSON.stringify({
      bench: 'argo-parallel-100', where: 'in-process', rounds,
      engine_wall_ms_median: Math.round(median(samples.enginePar)), engine_wall_ms_min: Math.round(Math.min(...samples.enginePar)), engine_wall_ms_max: Math.round(Math.max(...samples.enginePar)),
      direct_wall_ms_median: Math.round(median(samples.directPar)), direct_wall_ms_min: Math.round(Math.min(...samples.directPar)), direct_wall_ms_max: Math.round(Math.max(...samples.directPar)),
    }));

    // Whole commands, each a fresh process, with no node: the guest runs in that process.
    const wf = join(dir, 'one.yaml');
    writeFileSync(wf, sequential(1));
    const env = { ...process.env, WW_SOCKET: join(dir, 'no-node.sock'), WW_CACHE_DIR: join(dir, 'cache') };
    const cli = { run: [WW, 'run', HELLO], argo: [WW, 'argo', 'run', '--image', `hello=${HELLO}`, wf] };
    const cliSamples = { run: [] as number[], argo: [] as number[] };
    await runOnce(cli.run, env);
    await runOnce(cli.argo, env);
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? (['run', 'argo'] as const) : (['argo', 'run'] as const)) cliSamples[name].push(await runOnce(cli[name], env));
    }
    console.log(JSON.stringify({
      bench: 'argo-cli', rounds,
      ww_argo_run_1_step_ms_median: Math.round(median(cliSamples.argo)), ww_argo_run_min: Math.round(Math.min(...cliSamples.argo)), ww_argo_run_max: Math.round(Math.max(...cliSamples.argo)),
      ww_run_ms_median: Math.round(median(cliSamples.run)), ww_run_min: Math.round(Math.min(...cliSamples.run)), ww_run_max: Math.round(Math.max(...cliSamples.run)),
    }));
  } finally {
    await local.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
