// Helpers for the node CLI tests: a real `ww start` subprocess on a socket in a temp directory, an RPC
// session to it for spawning test processes, and small waits. Running ww commands reuses test/cli's runWw.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectNode } from '../../src/node/index.js';
import { OutputMode, ProcessState, type Admin$Client, type Executor$Client, type ExitStatus, type Process$Client, type ProcessInfo, type SpawnSpec$Init } from '../../src/capnp-gen/ww.rpc.js';
import type { Reason } from '../../src/executor/index.js';
import { examplePath, repoRoot, runWw, tempDir, wwBin, type WwResult } from '../cli/helpers.js';

export { examplePath, runWw, tempDir, type WwResult };
export { assembleFixture, lines, oneErrorLine } from '../cli/helpers.js';

export const cpuLoop = examplePath('cpu-loop', 'cpu-loop.wasm');
export const hello = examplePath('hello.wasm');
/** Rounds of cpu-loop that take far longer than any test: the process runs until it is killed. */
export const FOREVER = '1000000000000000';

export interface NodeUnderTest {
  socketPath: string;
  child: ChildProcessWithoutNullStreams;
  /** Everything `ww start` wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the first stderr line matching `pattern` (already written or still to come). */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Sends `signal` and resolves with the exit status once `ww start` has exited. */
  stop(signal?: NodeJS.Signals): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** SIGKILLs the node if it is still running and removes its directory (for finally blocks). */
  dispose(): Promise<void>;
}

/**
 * Starts `node bin/ww.js start --socket <tmp>/node.sock` and waits for its ready line. With
 * `defaultSocket`, passes no --socket and sets XDG_RUNTIME_DIR=<tmp> instead (socket <tmp>/ww/node.sock).
 */
export async function startNodeProcess(extraArgs: string[] = [], options: { defaultSocket?: boolean } = {}): Promise<NodeUnderTest> {
  const dir = tempDir('node');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.WW_DEBUG;
  delete env.WW_SOCKET;
  let socketPath = join(dir.path, 'node.sock');
  let args = ['start', '--socket', socketPath, ...extraArgs];
  if (options.defaultSocket) {
    env.XDG_RUNTIME_DIR = dir.path;
    socketPath = join(dir.path, 'ww', 'node.sock');
    args = ['start', ...extraArgs];
  }
  const child = spawn(process.execPath, [wwBin, ...args], { cwd: repoRoot, env, stdio: 'pipe' });
  child.stdin.end();
  let stderr = '';
  child.stdout.on('data', () => {});
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (status, signal) => resolve({ status, signal })),
  );
  let done = false;
  void exited.then(() => (done = true));
  const listeners = new Set<() => void>();
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    for (const listener of listeners) listener();
  });
  const node: NodeUnderTest = {
    socketPath,
    child,
    stderr: () => stderr,
    waitForLine: (pattern) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const line = stderr.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) {
            listeners.delete(onData);
            resolve(line);
            return true;
          }
          return false;
        };
        const onData = (): void => void check();
        if (check()) return;
        listeners.add(onData);
        void exited.then(() => {
          if (!check()) reject(new Error(`ww start exited before printing ${pattern}; stderr:\n${stderr}`));
        });
      }),
    stop: async (signal = 'SIGTERM') => {
      if (!done) child.kill(signal);
      const result = await exited;
      return { ...result, stderr };
    },
    dispose: async () => {
      if (!done) child.kill('SIGKILL');
      await exited;
      dir.cleanup();
    },
  };
  try {
    await node.waitForLine(/listening on/);
  } catch (err) {
    await node.dispose();
    throw err;
  }
  return node;
}

/** An RPC session to the node, for spawning and inspecting test processes directly. */
export interface RpcSession {
  executor: Executor$Client;
  /** The node's Admin capability (the test runs as the node's owner). */
  admin: Admin$Client;
  spawn(module: string | Uint8Array, args: string[], options?: Partial<SpawnSpec$Init>): Promise<{ pid: number; process: Process$Client }>;
  info(pid: number): Promise<ProcessInfo>;
  ps(): Promise<ProcessInfo[]>;
  close(): void;
}

export async function rpcSession(socketPath: string): Promise<RpcSession> {
  const session = await connectNode(socketPath);
  const executor = session.node.executor().executor;
  const admin = session.node.admin().admin;
  const held: Process$Client[] = [];
  return {
    executor,
    admin,
    spawn: async (module, args, options = {}) => {
      const bytes = typeof module === 'string' ? readFileSync(module) : module;
      const { pid, process } = await executor.spawn({
        spec: {
          moduleBytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          argv: args,
          stdout: { mode: OutputMode.discard },
          stderr: { mode: OutputMode.discard },
          ...options,
        },
      });
      held.push(process);
      // A spawn answers once the process is placed; it shows `queued` until a worker takes it (after a
      // kill the pool starts a fresh worker). The tests want it started: wait for that (bounded).
      for (let i = 0; i < 400 && (await process.info()).info.state === ProcessState.queued; i++) await new Promise((r) => setTimeout(r, 25));
      return { pid, process };
    },
    info: async (pid) => {
      const proc = admin.process({ pid }).process;
      try {
        return (await proc.info()).info;
      } finally {
        proc.release();
      }
    },
    ps: async () => (await admin.ps()).processes,
    close: () => {
      for (const p of held) p.release();
      executor.release();
      admin.release();
      session.close();
    },
  };
}

/** Polls `probe` every 20 ms until it returns a value other than undefined (at most `limitMs`). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, limitMs = 20_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Parses `ww ps --json` output, failing with its stderr when it did not succeed. */
export function psJson(result: WwResult): { pid: number; ppid: number; state: string; reason: Reason | null; argv: string[]; exitCode: number | null; cid: string }[] {
  if (result.status !== 0) throw new Error(`ww ps --json failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** `pid` as `ww ps --json` lists it once a worker has taken it (a spawn answers while it may still be
 *  `queued`: a worker starting, or a shared one finishing another guest's turn), within 5 s. */
export async function listedOnceTaken(socketPath: string, pid: number): Promise<ReturnType<typeof psJson>[number] | undefined> {
  let listed = psJson(await runWw(['ps', '--json', '--socket', socketPath])).find((p) => p.pid === pid);
  for (let i = 0; i < 100 && listed?.state === 'queued'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    listed = psJson(await runWw(['ps', '--json', '--socket', socketPath])).find((p) => p.pid === pid);
  }
  return listed;
}

export type { ExitStatus };
