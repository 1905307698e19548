// A ww node: an executor served as the Node bootstrap capability on a unix socket (mode 0600, in
// a directory only its owner may enter), and the client side helper that connects to one. There is
// no plain TCP face: a connection on the socket proves it is the node's own uid (or root), and the
// network is reached only through the cluster's authenticated channel. See README.md.

import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Node, type Node$Client, type NodeInfo$Init, type Registry$Server } from '../capnp-gen/ww.rpc.js';
import type { Cluster, HostBounds } from '../cluster/index.js';
import type { Membership, MembershipOptions } from '../cluster/membership.js';
import { Executor, ExecutorError, type GuestEvents } from '../executor/index.js';
import { DEFAULT_QUOTAS, Grant, nodeCapOf, Principal, Scope, type ClusterView, type PeerDialer, type Quotas } from '../executor/rpc.js';
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
import { startRegistry, type NodeRegistry, type RaftWiring } from './registry.js';

export { connectNode, defaultSocketPath, NodeError, type NodeConnection, type NodeErrorCode } from './client.js';
export type { NodeRegistry, RaftWiring } from './registry.js';

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
  /** Be a libp2p peer (src/cluster): without it the node has its peer ID but no network face. */
  p2p?: P2pOptions;
  /** The live peers of the node's cluster, this node first (Node.cluster; a Membership's view fits; the
   *  load it announces: executor.load()). Default: this node alone. */
  clusterView?: ClusterView;
}

/** The node as a peer of a cluster: where it listens, whom it joins, whom it admits (src/cluster/admission.ts). */
export interface P2pOptions {
  /** Multiaddrs to listen on. Default: a loopback TCP port chosen by the system. */
  listen?: string[];
  /** Peers to connect to at start, as multiaddrs ending /p2p/<peer id>. */
  join?: string[];
  /** Peer IDs admitted. With neither this nor swarmKey, no peer is. */
  allow?: string[];
  /** The cluster secret: a swarm key file's path (`ww swarm-key` makes one), or its bytes. */
  swarmKey?: string | Uint8Array;
  /** Find peers on the local network by multicast DNS. */
  mdns?: boolean;
  /** What each remote peer may use at once. Default: REMOTE_PEER_QUOTAS. */
  peerQuotas?: Partial<Quotas>;
  /** What hostile peers can make the host hold (src/cluster/host.ts). */
  bounds?: Partial<HostBounds>;
  /** Heartbeat interval, TTL and the view's bounds (src/cluster/membership.ts). Default: the Membership's. */
  membership?: Partial<Pick<MembershipOptions, 'intervalMs' | 'ttlMs' | 'maxPeers' | 'maxNewPeersPerInterval'>>;
  /** Be a replica of the cluster registry (src/node/registry.ts); needs a data directory. Default: none. */
  raft?: RaftWiring;
}

/** A remote peer's quotas: a guest of the node, not its owner, so that several admitted peers together
 *  still leave the owner room. 64 live processes, 8 spawns at once, the few connections one RPC session
 *  needs (a second only while a tie-break settles), 64 MiB of channel messages, 1,024 open channels,
 *  and (set in startCluster) an eighth of the node's memory budget. */
export const REMOTE_PEER_QUOTAS: Readonly<Omit<Quotas, 'memoryBytes'>> = {
  processes: 64,
  spawning: 8,
  connections: 2,
  channelBytes: 64 * 1024 * 1024,
  openChannels: 1024,
};

/**
 * What a remote peer's Executor may hand out, unless the operator grants more: no host directory,
 * no listening socket, the node's default limits.
 */
export const REMOTE_PEER_GRANT = new Grant({}, [], []);

/** Remote principals kept while idle (no session, no process); past it idle ones are forgotten. */
const MAX_IDLE_PEER_PRINCIPALS = 1024;

export interface WwNode {
  readonly socketPath: string;
  /** The libp2p peer ID (persistent with a data directory). */
  readonly peerId: string;
  /** Where other peers reach this one (multiaddrs ending /p2p/<peerId>); empty without p2p. */
  readonly addresses: string[];
  /** The node's peer side: `cluster.dial(peerIdOrMultiaddr)` gives another peer's Node; absent without p2p. */
  readonly cluster: NodeCluster | undefined;
  readonly executor: Executor;
  /** The registry replica, with --raft (p2p.raft); absent otherwise. */
  readonly registry: NodeRegistry | undefined;
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

  // The cluster layer loads libp2p (half a second): only a node that is a peer pays for it.
  const { loadIdentity } = await import('../cluster/identity.js');
  const identity = await loadIdentity(opts.dataDir);
  const peerId = identity.peerId;
  const swarmKey = typeof opts.p2p?.swarmKey === 'string' ? (await import('../cluster/swarm-key.js')).readSwarmKey(opts.p2p.swarmKey) : opts.p2p?.swarmKey;
  if (opts.p2p?.allow) {
    const { checkPeerId } = await import('../cluster/admission.js');
    for (const id of opts.p2p.allow) checkPeerId(id, 'allow');
  }
  if (opts.p2p?.raft && opts.dataDir === undefined) throw new NodeError('bad-raft', 'the registry (raft) keeps its log in the data directory: give one (--data-dir)');
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
  const info: NodeInfo$Init = { peerId, version: wwVersion(), startedAtMs: BigInt(Date.now()), osPid: process.pid, addresses: [] };
  // Whoever opens the socket is the node's uid or root (the socket is 0600 in a 0700 directory): the owner.
  const owner = new Principal('the owner', { ...DEFAULT_QUOTAS, ...opts.quotas }, executor.memory, true);

  // The cluster as this node sees it: the membership's view once the node is a peer (asked at each call,
  // so connections made before the peer side started see it too), else what the caller gave, else alone.
  let membership: Membership | undefined;
  const clusterView: ClusterView | undefined =
    opts.clusterView ??
    (opts.p2p
      ? () => membership?.view() ?? [{ peerId, addresses: info.addresses ?? [], ...executor.load(), lastSeenMs: Date.now(), self: true }]
      : undefined);

  // Node.peer for the owner: another peer's Node over this node's session with it, once the node is a peer.
  let cluster: Cluster | undefined;
  let registry: NodeRegistry | undefined;
  const dialPeer: PeerDialer = async (id) => {
    if (!cluster) throw new ExecutorError('unreachable', `${id}: this node is not a peer of a cluster (start it with --p2p or --join)`);
    try {
      return await cluster.dial(id);
    } catch (e) {
      const { ClusterError } = await import('../cluster/errors.js');
      if (!(e instanceof ClusterError)) throw e;
      throw new ExecutorError(e.code === 'not-admitted' || e.code === 'refused' ? 'not-permitted' : 'unreachable', e.message, { cause: e });
    }
  };

  const connections = new Set<Connection>();
  const accept = (transport: Transport): void => {
    const uncount = owner.admitConnection();
    if (!uncount) {
      log(`refused a connection: ${owner.name} already has ${owner.connections} open (at most ${owner.quotas.connections})`);
      transport.close();
      return;
    }
    // One bootstrap object per connection: its Executor is that connection's scope.
    const bootstrap = serve(Node, nodeCapOf(executor, info, { principal: owner, owner: true, registry: registry?.serve(peerId, 'the owner') }, clusterView, dialPeer));
    const conn = new Connection(transport, { bootstrap });
    connections.add(conn);
    void conn.closed().then(() => {
      connections.delete(conn);
      bootstrap.release();
      uncount();
    });
  };

  let unixListener: { close(): Promise<void> };
  // One budget for every connection's partly received messages, the owner's and the peers' alike: many
  // slow senders hold no more than it together.
  const partialFrameBudget = opts.connectionBounds?.partialFrameBudget ?? new PartialFrameBudget(DEFAULT_PARTIAL_FRAME_BUDGET_BYTES);
  // The socket is created owner-only (no window with wider permissions), then chmod'ed to be sure.
  const umask = process.umask(0o177);
  try {
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

  if (opts.p2p) {
    try {
      // A remote peer reads the registry and writes nothing (capnp/ww.capnp, Node.registry).
      const registryFor = (peer: string) => registry?.serve(null, `peer ${peer}`);
      cluster = await startCluster(opts.p2p, { identity, swarmKey, executor, info, log, clusterView, registryFor, transport: { ...opts.connectionBounds, partialFrameBudget } });
      if (opts.p2p.raft) registry = await startRegistry(cluster, opts.p2p.raft, join(opts.dataDir!, 'raft'), log);
    } catch (e) {
      await cluster?.close();
      await executor.close();
      await unixListener.close();
      rmSync(socketPath, { force: true });
      throw e;
    }
    info.addresses = cluster.addresses();
    const peer = cluster;
    const { Membership } = await import('../cluster/membership.js');
    membership = new Membership({
      pubsub: peer.pubsub,
      peerId,
      privateKey: identity.privateKey,
      status: () => ({ addresses: peer.addresses(), ...executor.load() }),
      // Gossip relays heartbeats of peers this node never met: only those it admits enter its view.
      allows: (id) => peer.admission.admits(id),
      ...opts.p2p.membership,
      log,
    });
    membership.start();
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const live = executor.table.liveCount;
      await executor.close(); // every process ends `killed`; waits are answered
      // Let the answers to pending calls (wait, monitor) reach the connections before closing them.
      await new Promise((r) => setImmediate(r));
      membership?.stop();
      await registry?.close();
      await cluster?.close();
      for (const c of connections) c.close();
      await new Promise((r) => setImmediate(r));
      await unixListener.close();
      rmSync(socketPath, { force: true });
      log(`node stopped; ${live} process${live === 1 ? '' : 'es'} ended killed`);
    })());

  const addresses = cluster ? cluster.addresses() : [];
  return { socketPath, peerId, addresses, cluster: cluster && nodeClusterOf(cluster), registry, executor, close };
}

/** What code in the node (and tests) use of its peer side. */
export interface NodeCluster {
  /** Another peer's Node capability over the RPC session with it: a peer ID (connected or known) or a
   *  multiaddr ending /p2p/<peer id>. Refused with a ClusterError (not-admitted, refused, unreachable, bad-address). */
  dial(target: string): Promise<Node$Client>;
  /** Peers connected now. */
  connectedPeers(): string[];
  /** The admission rule in force, for people (`admits 2 peers on the allow-list`). */
  readonly admits: string;
  /** The libp2p host itself (its `services.pubsub` carries cluster-wide news). */
  readonly host: Cluster['libp2p'];
}

function nodeClusterOf(c: Cluster): NodeCluster {
  return { dial: (t) => c.dial(t), connectedPeers: () => c.connectedPeers(), admits: c.admission.describe(), host: c.libp2p };
}

/** Starts the peer side: each remote peer is a principal of its own, whose Node serves an Executor
 *  within REMOTE_PEER_GRANT and no admin capability. A peer's Executor has one scope for as long as
 *  the node remembers the peer, so a session that drops and reopens still finds (ps, Executor.process)
 *  what the peer spawned before. */
async function startCluster(
  p2p: P2pOptions,
  ctx: {
    identity: import('../cluster/index.js').Identity;
    swarmKey: Uint8Array | undefined;
    executor: Executor;
    info: NodeInfo$Init;
    log: (line: string) => void;
    clusterView: ClusterView | undefined;
    registryFor: (peer: string) => Registry$Server | undefined;
    transport: SocketTransportOptions;
  },
): Promise<Cluster> {
  const { Cluster } = await import('../cluster/index.js');
  const { executor, info, log } = ctx;
  const quotas: Quotas = { ...REMOTE_PEER_QUOTAS, memoryBytes: Math.floor(executor.memory.limitBytes / 8), ...p2p.peerQuotas };
  const principals = new Map<string, { principal: Principal; scope: Scope }>();
  const principalOf = (peer: string): { principal: Principal; scope: Scope } => {
    let p = principals.get(peer);
    if (!p) {
      if (principals.size >= MAX_IDLE_PEER_PRINCIPALS) {
        for (const [id, { principal: q }] of principals) if (q.connections === 0 && q.live === 0 && q.spawning === 0) principals.delete(id);
      }
      const principal = new Principal(`peer ${peer}`, quotas, executor.memory);
      p = { principal, scope: new Scope(principal, REMOTE_PEER_GRANT) };
      principals.set(peer, p);
    }
    return p;
  };
  return Cluster.start({
    identity: ctx.identity,
    listen: p2p.listen,
    join: p2p.join,
    allow: p2p.allow,
    swarmKey: ctx.swarmKey,
    mdns: p2p.mdns,
    bounds: p2p.bounds,
    transport: ctx.transport,
    log,
    serve(peer) {
      const { principal, scope } = principalOf(peer);
      const uncount = principal.admitConnection();
      if (!uncount) {
        log(`refused an RPC session: ${principal.name} already has ${principal.connections} open (at most ${principal.quotas.connections})`);
        return undefined;
      }
      const bootstrap = serve(Node, nodeCapOf(executor, info, { principal, grant: REMOTE_PEER_GRANT, owner: false, scope, registry: ctx.registryFor(peer) }, ctx.clusterView));
      return {
        bootstrap,
        release() {
          bootstrap.release();
          uncount();
        },
      };
    },
  });
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
