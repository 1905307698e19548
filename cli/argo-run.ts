// `ww argo run`'s work once its command line is read (commands/argo/run.ts): read and check the
// workflow, build the image map, pick where steps run (the node on --socket, else this process), run
// the engine and print the result.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ArgoError } from '../src/argo/errors.js';
import { parseWorkflow } from '../src/argo/parse.js';
import { runWorkflow, DEFAULT_LIMITS } from '../src/argo/engine.js';
import { ImageMap } from '../src/argo/images.js';
import { wasmStepRunner, type Spawner } from '../src/argo/runner.js';
import { formatTree } from '../src/argo/format.js';
import { InputError, UsageError } from './errors.js';
import { resolveSocketPath } from './lib/socket-path.js';
import { outputWidth } from './lib/format.js';
import { cacheDir } from './run-command.js';

export interface ArgoRunOptions {
  parameters: Record<string, string>;
  images: string[];
  imageMaps: string[];
  runDir?: string;
  json?: boolean;
  socket?: string;
}

/** Runs the workflow file and returns the exit status: 0 succeeded, 1 failed. Throws UsageError or
 *  InputError for what main() reports as one line. */
export async function argoRun(file: string, opts: ArgoRunOptions): Promise<number> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read workflow '${file}': ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  });
  const images = ImageMap.defaults();
  try {
    for (const mapFile of opts.imageMaps) images.addFile(mapFile);
    for (const spec of opts.images) images.add(spec);
  } catch (err) {
    throw err instanceof ArgoError ? new UsageError(err.message) : err;
  }
  const workflow = (() => {
    try {
      return parseWorkflow(text, file, cacheDir());
    } catch (err) {
      throw err instanceof ArgoError ? new InputError(err.message) : err;
    }
  })();

  const runDir = opts.runDir !== undefined ? resolve(opts.runDir) : await mkdtemp(join(tmpdir(), 'ww-argo-'));
  await mkdir(runDir, { recursive: true });
  const { spawn, close } = await spawner(opts.socket);
  try {
    const runStep = wasmStepRunner({
      images,
      spawn,
      runDir,
      maxOutputBytes: DEFAULT_LIMITS.maxOutputBytes,
      onStderr: (node, out) => process.stderr.write(out.replace(/\n$/, '').split('\n').map((l) => `${node}: ${l}\n`).join('')),
    });
    const result = await runWorkflow(workflow, { runStep, parameters: opts.parameters }).catch((err: unknown) => {
      throw err instanceof ArgoError ? new InputError(`${file}: ${err.message}`) : err;
    });
    process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatTree(result.metadata.name, result.status, outputWidth() ?? 1000));
    return result.status.phase === 'Succeeded' ? 0 : 1;
  } finally {
    await close();
    if (opts.runDir === undefined) await rm(runDir, { recursive: true, force: true });
  }
}

/** Steps run on the node answering on the socket, else in a private executor in this process. */
async function spawner(socketOption: string | undefined): Promise<{ spawn: Spawner; close: () => Promise<void> }> {
  const socketPath = await resolveSocketPath(socketOption);
  const { nodeIsListening, runOnNode } = await import('./lib/run-on-node.js');
  if (await nodeIsListening(socketPath)) {
    const modules = new Map<string, Promise<Uint8Array>>();
    const spawn: Spawner = async (req) => {
      if (req.module.startsWith('cid:')) throw new ArgoError('image', `module '${req.module}': content IDs are not yet passed to a node by ww argo; map the image to a .wasm file`);
      let bytes = modules.get(req.module);
      if (!bytes) {
        bytes = readFile(req.module).then(
          (b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
          (err: NodeJS.ErrnoException) => {
            throw new ArgoError('image', `module '${req.module}': ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
          },
        );
        modules.set(req.module, bytes);
      }
      const writer = (fn: (c: Uint8Array) => void) => ({
        write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean {
          fn(chunk);
          callback?.();
          return true;
        },
      });
      const code = await runOnNode({
        module: await bytes,
        moduleName: `module '${req.module}'`,
        argv: req.argv,
        env: req.env,
        dirs: req.preopens,
        socketPath,
        stdout: writer(req.stdout),
        stderr: writer(req.stderr),
        signals: [], // ww argo's own signals end the run; the node kills attached guests as it goes
      });
      return { code };
    };
    return { spawn, close: async () => {} };
  }
  const { localSpawner } = await import('../src/argo/local.js');
  return localSpawner({ cacheDir: cacheDir() });
}

