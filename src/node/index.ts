// A ww node: an executor served as the Node bootstrap capability on a unix socket (mode 0600, in
// a directory only its owner may enter), and the client side helper that connects to one. There is
// no plain TCP face: a connection on the socket proves it is the node's own uid (or root), and the
// network is reached only through the cluster's authenticated channel. See README.md.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Node, type NodeInfo$Init } from '../capnp-gen/ww.rpc.js';
import { Executor, type GuestEvents } from '../executor/index.js';
import { DEFAULT_QUOTAS, nodeCapOf, Principal, type ClusterView, type Quotas } from '../executor/rpc.js';
import {
  Connection,
  connectUnix,
  DEFAULT_PARTIAL_FRAME_BUDGET_BYTES,
  listenUnix,
  PartialFrameBudget,
  serve,
  type SocketTransportOptions,
  type Transport,
} from '../rpc/index.js';
import type { GuestCompiler } from '../wasm/index.js';
import { defaultSocketPath, NodeError } from './client.js';

export { connectNode, defaultSocketPath, NodeError, type NodeConnection, type NodeErrorCode } from './client.js';

export interface StartNodeOptions {
  /** The unix socket to serve on. Default: defaultSocketPath(). */
  socketPath?: string;
  /** What the owner's principal may use at once (live processes, spawns in progress, connections). Default DEFAULT_QUOTAS. */
  quotas?: Partial<Quotas>;
  /** Linear memory of all processes together (every principal's budget is inside it). Default DEFAULT_NODE_MEMORY_BYTES. */
  memoryBytes?: number;
  /** Where the node keeps state: its peer ID and the module cache. Default: memory only. */
  dataDir?: string;
  /** One line per process start and end, and the node's own events. */
  log?: (line: string) => void;
  /** Cooperative pause notice to preemptive freeze, in ms. Default 100. */
  pauseGraceMs?: number;
  /** Warm process workers. Default: one per core. */
  poolSize?: number;
  /** Most process workers at once (processes beyond it are queued). Default: the runtime's. */
  maxWorkers?: number;
  /** Shared workers (the default: one thread per core hosts any number of processes; a module is made
   *  suspendable in the background and runs on dedicated workers until then) or dedicated ones (a
   *  thread per running process). RuntimeOptions.workers and .suspend. */
  workers?: 'dedicated' | 'shared';
  /** How V8 compiles guest code, for this whole Node process (RuntimeOptions.guestCompiler). Default 'tiered'. */
  guestCompiler?: GuestCompiler;
  /** Ended processes kept for ps/wait/info. Default 1000. */
  keepEnded?: number;
  /** Captured output of ended processes kept, in bytes (oldest dropped first). Default 256 MiB. */
  keepOutputBytes?: number;
  /** Also told of each pause request and resume (guests get them as events regardless). Default: none. */
  guestEvents?: GuestEvents;
  /** Where instrumented modules are kept across runs. Default: <dataDir>/instrumented, else none. */
  cacheDir?: string;
  /** What a client connection may make the node hold (src/rpc/README.md, "Bounds"): replies it does not read,
   *  partly sent messages. Default: the RPC engine's, with one partial frame budget for the whole node. */
  connectionBounds?: SocketTransportOptions;
  /** The live peers of the node's cluster, this node first (Node.cluster; a Membership's view fits; the
   *  load it announces: executor.load()). Default: this node alone. */
  clusterView?: ClusterView;
}

export interface WwNode {
  readonly socketPath: string;
  readonly peerId: string;
  readonly executor: Executor;
  /** Ends every process with reason `killed`, closes every connection and removes the socket. */
  close(): Promise<void>;
}

/** Starts a node. Refuses with a NodeError (saying what to do) when another node answers on the
 *  socket path, or a socket cannot be listened on. */
export async function startNode(opts: StartNodeOptions = {}): Promise<WwNode> {
  const socketPath = opts.socketPath ?? defaultSocketPath();
  const log = opts.log ?? (() => {});
  // sockaddr_un holds 108 bytes with the terminating NUL; a longer path fails with an obscure EINVAL.
  const length = Buffer.byteLength(socketPath);
  if (length > 107) throw new NodeError('bad-socket-path', `socket path ${socketPath} is too long (${length} bytes; unix sockets allow 107): choose a shorter one`);
  ownerOnlyDirectory(dirname(socketPath));
  await claimSocketPath(socketPath);

  const peerId = loadPeerId(opts.dataDir);
  const executor = await Executor.create({
    peerId,
    dataDir: opts.dataDir,
    pauseGraceMs: opts.pauseGraceMs,
    keepEnded: opts.keepEnded,
    keepOutputBytes: opts.keepOutputBytes,
    ...(opts.memoryBytes !== undefined ? { memoryBytes: opts.memoryBytes } : {}),
    guestEvents: opts.guestEvents,
    log,
    runtimeOptions: {
      ...(opts.poolSize !== undefined ? { poolSize: opts.poolSize } : {}),
      ...(opts.maxWorkers !== undefined ? { maxWorkers: opts.maxWorkers } : {}),
      workers: opts.workers ?? 'shared',
      suspend: 'background',
      ...(opts.guestCompiler !== undefined ? { guestCompiler: opts.guestCompiler } : {}),
      // Instrumenting a module (binaryen) costs up to seconds; keep the result across restarts.
      ...(opts.cacheDir !== undefined
        ? { cacheDir: opts.cacheDir }
        : opts.dataDir !== undefined
          ? { cacheDir: join(opts.dataDir, 'instrumented') }
          : {}),
    },
  });
  const info: NodeInfo$Init = { peerId, version: wwVersion(), startedAtMs: BigInt(Date.now()), osPid: process.pid };
  // Whoever opens the socket is the node's uid or root (the socket is 0600 in a 0700 directory): the owner.
  const owner = new Principal('the owner', { ...DEFAULT_QUOTAS, ...opts.quotas }, executor.memory, true);

  const connections = new Set<Connection>();
  const accept = (transport: Transport): void => {
    const uncount = owner.admitConnection();
    if (!uncount) {
      log(`refused a connection: ${owner.name} already has ${owner.connections} open (at most ${owner.quotas.connections})`);
      transport.close();
      return;
    }
    // One bootstrap object per connection: its Executor is that connection's scope.
    const bootstrap = serve(Node, nodeCapOf(executor, info, { principal: owner, owner: true }, opts.clusterView));
    const conn = new Connection(transport, { bootstrap });
    connections.add(conn);
    void conn.closed().then(() => {
      connections.delete(conn);
      bootstrap.release();
      uncount();
    });
  };

  let unixListener: { close(): Promise<void> };
  // The socket is created owner-only (no window with wider permissions), then chmod'ed to be sure.
  const umask = process.umask(0o177);
  try {
    // One budget for every connection's partly received messages: many slow senders hold no more than it together.
    const partialFrameBudget = opts.connectionBounds?.partialFrameBudget ?? new PartialFrameBudget(DEFAULT_PARTIAL_FRAME_BUDGET_BYTES);
    unixListener = await listenUnix(socketPath, accept, { ...opts.connectionBounds, partialFrameBudget });
  } catch (e) {
    await executor.close();
    // Another node started at the same time and bound the path after claimSocketPath found it free.
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' && (await nodeAnswers(socketPath))) throw alreadyListening(socketPath);
    throw new NodeError('cannot-listen', `cannot listen on ${socketPath}: ${(e as Error).message}`, { cause: e });
  } finally {
    process.umask(umask);
  }
  chmodSync(socketPath, 0o600);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const live = executor.table.liveCount;
      await executor.close(); // every process ends `killed`; waits are answered
      // Let the answers to pending calls (wait, monitor) reach the connections before closing them.
      await new Promise((r) => setImmediate(r));
      for (const c of connections) c.close();
      await new Promise((r) => setImmediate(r));
      await unixListener.close();
      rmSync(socketPath, { force: true });
      log(`node stopped; ${live} process${live === 1 ? '' : 'es'} ended killed`);
    })());

  return { socketPath, peerId, executor, close };
}

/** Makes the socket path ours: refuses when a node answers there, removes a stale socket file. */
async function claimSocketPath(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new NodeError('bad-socket-path', `${path} exists and is not a socket: remove it or choose another socket path`);
  if (await nodeAnswers(path)) throw alreadyListening(path);
  // nobody listens: a stale socket file left by a node that did not stop cleanly
  rmSync(path, { force: true });
}

/** Whether something accepts connections on the unix socket at `path`. */
async function nodeAnswers(path: string): Promise<boolean> {
  try {
    (await connectUnix(path)).close();
    return true;
  } catch {
    return false;
  }
}

function alreadyListening(path: string): NodeError {
  return new NodeError('already-listening', `a ww node is already listening on ${path}: stop it first, or start this one with another socket path`);
}

/** The node's peer ID: kept in <dataDir>/peer-id across restarts, else new for each start. */
function loadPeerId(dataDir: string | undefined): string {
  if (!dataDir) return randomBytes(16).toString('hex');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'peer-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{32}$/.test(id)) return id;
  }
  const id = randomBytes(16).toString('hex');
  writeFileSync(file, id + '\n', { mode: 0o600 });
  return id;
}

/**
 * The socket's directory, made (0700) or checked so that only the node's uid may enter it: the
 * socket's own 0600 is the lock, this is the second one, and in a directory others may write they
 * could replace the socket. ww's own default directory is put right; any other is refused.
 */
function ownerOnlyDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new NodeError('bad-socket-path', `${dir} belongs to another user (uid ${st.uid}): put the node's socket in a directory of your own`);
  }
  if ((st.mode & 0o077) === 0) return;
  if (dir === dirname(defaultSocketPath())) return chmodSync(dir, 0o700);
  const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
  throw new NodeError('bad-socket-path', `${dir} is open to other users (mode ${mode}): put the node's socket in a directory only you can enter (mode 700), e.g. one made by mkdir -m 700`);
}

let version: string | undefined;
function wwVersion(): string {
  if (version === undefined) {
    version = '0.0.0';
    for (let dir = dirname(new URL(import.meta.url).pathname); dir !== dirname(dir); dir = dirname(dir)) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        try {
          version = String((JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? version);
        } catch {
          // keep the fallback
        }
        break;
      }
    }
  }
  return version;
}
