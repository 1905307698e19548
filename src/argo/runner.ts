// The StepRunner on ww: each container or script step runs as a Wasm process with scratch
// directories pre-opened where Argo's steps expect them (/tmp, /argo/staging for scripts, the
// directories of output files), input artifacts placed in them from the run's local artifact store,
// and output parameters and artifacts read back after it ends. How the process is spawned (in this
// process, or on a node) is the injected Spawner's business.
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { ArgoError } from './errors.js';
import type { StepRequest, StepResult, StepRunner } from './engine.js';
import { mountOf, SCRIPT_PATH, stepSpawn, type ImageMap } from './images.js';

export interface SpawnRequest {
  /** A .wasm path, or `cid:...`. */
  module: string;
  argv: string[];
  env: Record<string, string>;
  preopens: { hostPath: string; guestPath: string; readOnly?: boolean }[];
  stdout: (chunk: Uint8Array) => void;
  stderr: (chunk: Uint8Array) => void;
}

/** How a process ended: its exit code, and for an abnormal end (trap, limit, killed) what happened. */
export interface SpawnEnd {
  code: number;
  message?: string;
}

export type Spawner = (req: SpawnRequest) => Promise<SpawnEnd>;

export interface WasmRunnerOptions {
  images: ImageMap;
  spawn: Spawner;
  /** The run's directory: steps/ (scratch, removed after each step) and artifacts/ (the store). */
  runDir: string;
  /** Bound on a step's stdout kept (outputs.result) and on an output parameter file. */
  maxOutputBytes: number;
  /** A step's stderr lines go here (the CLI prints them prefixed with the step's name). */
  onStderr?: (nodeName: string, text: string) => void;
}

/** The local artifact store's directory inside a run's directory. */
export function artifactStore(runDir: string): string {
  return join(runDir, 'artifacts');
}

export function wasmStepRunner(opts: WasmRunnerOptions): StepRunner {
  const store = artifactStore(opts.runDir);
  const inStore = (key: string): string => {
    const path = resolve(store, key);
    if (!path.startsWith(store + sep)) throw new ArgoError('invalid', `artifact key '${key}' leaves the artifact store`);
    return path;
  };
  return async (req: StepRequest): Promise<StepResult> => {
    let plan;
    try {
      plan = stepSpawn(req.template, opts.images);
    } catch (err) {
      if (err instanceof ArgoError) return { phase: 'Error', message: err.message };
      throw err;
    }
    const scratch = join(opts.runDir, 'steps', req.nodeId);
    const hostOf = (guestPath: string): string => {
      const at = mountOf(plan.mounts, guestPath)!;
      return join(scratch, `m${plan.mounts.indexOf(at.mount)}`, at.rel);
    };
    try {
      await Promise.all(plan.mounts.map((_, i) => mkdir(join(scratch, `m${i}`), { recursive: true })));
      if (plan.script !== undefined) await writeFile(hostOf(SCRIPT_PATH), plan.script);
      for (const a of req.inputArtifacts) {
        const target = hostOf(a.path);
        await mkdir(join(target, '..'), { recursive: true });
        if (a.raw !== undefined) await writeFile(target, a.raw);
        else {
          const from = inStore(a.key!);
          if (!(await exists(from))) return { phase: 'Error', message: `input artifact '${a.name}': no artifact '${a.key}' in the local store` };
          await cp(from, target, { recursive: true });
        }
      }
      const stdout = new Bounded(opts.maxOutputBytes);
      const stderr = new Bounded(64 * 1024);
      const end = await opts.spawn({
        module: plan.entry.module,
        argv: plan.argv,
        env: plan.env,
        preopens: plan.mounts.map((m, i) => ({ hostPath: join(scratch, `m${i}`), guestPath: m })),
        stdout: (c) => stdout.push(c),
        stderr: (c) => stderr.push(c),
      });
      if (stderr.size > 0) opts.onStderr?.(req.nodeName, stderr.text());
      const result: StepResult = { exitCode: end.code };
      if (stdout.over) return { ...result, phase: 'Error', message: `its output (outputs.result) is over ${opts.maxOutputBytes} bytes` };
      result.stdout = stdout.text();
      if (end.message !== undefined) {
        result.phase = 'Failed';
        result.message = end.message;
      }
      const parameters: Record<string, string> = {};
      for (const p of req.template.outputs?.parameters ?? []) {
        if (!p.valueFrom?.path) continue;
        const file = hostOf(p.valueFrom.path);
        const info = await stat(file).catch(() => undefined);
        if (!info?.isFile()) continue;
        if (info.size > opts.maxOutputBytes) return { ...result, phase: 'Error', message: `outputs.parameters.${p.name}: ${p.valueFrom.path} is over ${opts.maxOutputBytes} bytes` };
        parameters[p.name] = await readFile(file, 'utf8');
      }
      result.parameters = parameters;
      const artifacts: { name: string; key: string }[] = [];
      for (const a of req.template.outputs?.artifacts ?? []) {
        if (!a.path) continue;
        const from = hostOf(a.path);
        if (!(await exists(from))) {
          if (a.optional) continue;
          if (result.phase === undefined && end.code === 0) return { ...result, phase: 'Error', message: `output artifact '${a.name}': the step wrote nothing at ${a.path}` };
          continue;
        }
        const key = a.s3?.key ?? `${req.workflowName}/${req.nodeId}/${a.name}`;
        await cp(from, inStore(key), { recursive: true });
        artifacts.push({ name: a.name, key });
      }
      if (artifacts.length > 0) result.artifacts = artifacts;
      return result;
    } catch (err) {
      if (err instanceof ArgoError) return { phase: 'Error', message: err.message };
      return { phase: 'Error', message: `the step could not run: ${(err as Error).message.split('\n')[0]}` };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  };
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/** Output kept up to a bound; past it, `over` is set and the rest is dropped. */
class Bounded {
  private readonly chunks: Uint8Array[] = [];
  size = 0;
  over = false;
  constructor(private readonly limit: number) {}
  push(chunk: Uint8Array): void {
    if (this.over) return;
    if (this.size + chunk.length > this.limit) {
      this.over = true;
      return;
    }
    this.chunks.push(chunk.slice());
    this.size += chunk.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
