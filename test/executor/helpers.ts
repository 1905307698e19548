// Shared setup for executor and node tests: a node on a unix socket in a temp dir, a client
// connected to it over that socket, and the test guests (examples and small WAT modules).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectNode, startNode, type NodeConnection, type StartNodeOptions, type WwNode } from '../../src/node/index.js';
import { OutputMode, type ExitReason, type Admin$Client, type Executor$Client, type Process$Client, type SpawnSpec$Init } from '../../src/capnp-gen/ww.rpc.js';
import { reasonFromWire } from '../../src/executor/rpc.js';
import { reasonText } from '../../src/executor/index.js';

/** A reason from the wire in the node's words (`killed`, `exit: 3`, `link: 7`), to compare in asserts. */
export const said = (wire: ExitReason): string => reasonText(reasonFromWire(wire));

export { assemble, repoRoot } from '../../fixtures/wat.js';
import { assemble, repoRoot } from '../../fixtures/wat.js';

export const helloWasm = (): Uint8Array => new Uint8Array(readFileSync(join(repoRoot(), 'examples', 'hello.wasm')));
export const cpuLoopWasm = (): Uint8Array => new Uint8Array(readFileSync(join(repoRoot(), 'examples', 'cpu-loop', 'cpu-loop.wasm')));
/** cpu-loop rounds that take far longer than any test: the process runs until it is ended. */
export const FOREVER = '1000000000000000';


/** Small WAT guests, each a WASI command. */
/** A guest that sleeps `ns` nanoseconds in poll_oneoff on a relative monotonic clock, then returns
 *  (blocked: it uses no fuel while it sleeps). It starts with `pages` of memory and first grows it
 *  by `grow` pages, trapping if that fails. */
export function sleeperWat(ns: bigint, { pages = 1, grow = 0 }: { pages?: number; grow?: number } = {}): string {
  return `(module
    (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") ${pages})
    (func (export "_start")
      ${grow > 0 ? `(if (i32.eq (memory.grow (i32.const ${grow})) (i32.const -1)) (then unreachable))` : ''}
      (i32.store8 (i32.const 8) (i32.const 0))
      (i32.store (i32.const 16) (i32.const 1))
      (i64.store (i32.const 24) (i64.const ${ns}))
      (drop (call $poll (i32.const 0) (i32.const 128) (i32.const 1) (i32.const 256)))))`;
}

/** A guest that creates `name` in its pre-opened directory (fd 3) for writing and exits with the errno. */
export const writer = (name: string): Promise<Uint8Array> =>
  assemble(`(module
    (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 64) "${name}")
    (func (export "_start")
      (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const ${name.length}) (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))))`);

export const WAT = {
  /** Loops forever (until killed, paused, or a limit). */
  spin: `(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))`,
  /** proc_exit(3). */
  exit3: `(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1) (func (export "_start") (call $exit (i32.const 3))))`,
  /** Traps in function $explode. */
  trap: `(module (memory (export "memory") 1) (func $explode unreachable) (func (export "_start") (call $explode)))`,
  /** Copies stdin to stdout. */
  cat: `(module
    (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start")
      (loop $l
        (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 4096))
        (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (i32.eqz (i32.load (i32.const 8))) (then return))
        (i32.store (i32.const 16) (i32.const 1024)) (i32.store (i32.const 20) (i32.load (i32.const 8)))
        (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
        (br $l))))`,
  /** Grows memory by 100 pages and traps if that fails (limit: memory under a small maxMemoryBytes). */
  grow: `(module (memory (export "memory") 1)
    (func (export "_start") (if (i32.eq (memory.grow (i32.const 100)) (i32.const -1)) (then unreachable))))`,
  /** Writes bytes 0..99 to stdout and 100..199 to stderr, one byte per fd_write, alternating. */
  chunks: `(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start") (local $i i32)
      (i32.store (i32.const 8) (i32.const 0)) (i32.store (i32.const 12) (i32.const 1))
      (loop $l
        (i32.store8 (i32.const 0) (local.get $i))
        (drop (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))
        (i32.store8 (i32.const 0) (i32.add (local.get $i) (i32.const 100)))
        (drop (call $w (i32.const 2) (i32.const 8) (i32.const 1) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))))`,
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true; fails after `ms` with `what`. For states, not for speed. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

export const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

export interface TestNode {
  node: WwNode;
  client: NodeConnection;
  executor: Executor$Client;
  /** The node's Admin capability (this client is the node's owner). */
  admin: Admin$Client;
  dir: string;
  socketPath: string;
  /** Spawns and returns the process capability and pid. */
  spawn(spec: SpawnSpec$Init): Promise<{ process: Process$Client; pid: number }>;
  /** Another client connection to the same node. */
  connect(): Promise<NodeConnection>;
  close(): Promise<void>;
}

// Instrumenting a module costs seconds; the nodes of one test file share the results.
let sharedCacheDir: string | undefined;
function instrumentCache(): string {
  if (!sharedCacheDir) {
    const dir = mkdtempSync(join(tmpdir(), 'ww-instrumented-'));
    sharedCacheDir = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return sharedCacheDir;
}

/** Starts a node on a fresh socket and connects a client to it. */
export async function startTestNode(opts: Omit<StartNodeOptions, 'socketPath'> = {}): Promise<TestNode> {
  const dir = mkdtempSync(join(tmpdir(), 'ww-exec-'));
  const socketPath = join(dir, 'run', 'node.sock');
  // (WW_TEST_WORKERS=shared: a `*-shared.test.ts` file re-runs a file's tests on shared workers.)
  const workers = process.env.WW_TEST_WORKERS === 'shared' ? 'shared' : 'dedicated';
  const node = await startNode({ poolSize: 2, pauseGraceMs: 0, cacheDir: opts.dataDir ? undefined : instrumentCache(), workers, ...opts, socketPath });
  const client = await connectNode(socketPath);
  const executor = client.node.executor().executor;
  const admin = client.node.admin().admin;
  const extra: NodeConnection[] = [];
  return {
    node,
    client,
    executor,
    admin,
    dir,
    socketPath,
    async spawn(spec) {
      const r = await executor.spawn({ spec });
      return { process: r.process, pid: r.pid };
    },
    async connect() {
      const c = await connectNode(socketPath);
      extra.push(c);
      return c;
    },
    async close() {
      for (const c of extra) c.close();
      executor.release();
      admin.release();
      client.close();
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const capture = { mode: OutputMode.capture };

/** The state of a pid as ps shows it ('running' | 'paused' | 'exited' | 'queued'), or undefined when not listed. */
export async function psState(lister: Pick<Executor$Client, 'ps'> | Pick<Admin$Client, 'ps'>, pid: number): Promise<string | undefined> {
  const { processes } = await lister.ps();
  const p = processes.find((x) => x.pid === pid);
  return p ? (['running', 'paused', 'exited', 'queued'] as const)[p.state] : undefined;
}
