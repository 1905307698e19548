// A Spawner that runs steps in this process, in one private executor for the whole workflow (as
// `ww run` runs a guest when no node answers): modules are loaded once, steps share its workers.
import { readFile } from 'node:fs/promises';
import { Runtime, type RuntimeOptions } from '../wasm/index.js';
import { Executor, ExecutorError, reasonText } from '../executor/index.js';
import { ArgoError } from './errors.js';
import type { SpawnEnd, SpawnRequest, Spawner } from './runner.js';

export interface LocalSpawner {
  spawn: Spawner;
  /** Ends whatever still runs and stops the private runtime. */
  close(): Promise<void>;
}

export function localSpawner(runtimeOptions: RuntimeOptions = {}): LocalSpawner {
  let executor: Promise<Executor> | undefined;
  const modules = new Map<string, Promise<Awaited<ReturnType<Executor['modules']['put']>>>>();
  const start = (): Promise<Executor> =>
    (executor ??= (async () => {
      const runtime = await Runtime.create({ instrument: false, ...runtimeOptions });
      return Executor.create({ runtime, peerId: 'local' });
    })());
  const load = (ex: Executor, path: string) => {
    let loaded = modules.get(path);
    if (!loaded) {
      loaded = (async () => {
        if (path.startsWith('cid:')) throw new ArgoError('image', `module '${path}': a content ID names a module in a node's cache; start a node (ww start) or map the image to a .wasm file`);
        const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
          throw new ArgoError('image', `module '${path}': ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
        });
        return ex.modules.put(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      })();
      modules.set(path, loaded);
    }
    return loaded;
  };
  const spawn = async (req: SpawnRequest): Promise<SpawnEnd> => {
    const ex = await start();
    try {
      const module = await load(ex, req.module);
      const entry = ex.spawn({ module, argv: req.argv, env: req.env, preopens: req.preopens.map((p) => ({ ...p, readOnly: p.readOnly ?? false })), stdout: req.stdout, stderr: req.stderr });
      const end = await entry.settled;
      // An exit code is the step's own answer; a trap, a limit or a kill is said in words.
      return end.reason.kind === 'normal' || end.reason.kind === 'exit' ? { code: end.code } : { code: end.code, message: reasonText(end.reason) };
    } catch (err) {
      if (err instanceof ExecutorError) throw new ArgoError('image', `module '${req.module}': ${err.message}`);
      throw err;
    }
  };
  return {
    spawn,
    close: async () => {
      if (executor) await (await executor).close();
    },
  };
}
