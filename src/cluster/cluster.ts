// A node's place in the cluster: its libp2p host (host.ts) and one Cap'n Proto RPC session per
// peer, on one long-lived stream (`/ww/rpc/1.0.0`). A session is symmetric: whichever peer opened
// it, each side serves its own Node to the other (as the node decides: `serve`) and may bootstrap
// the other's. When both open one at once, the stream opened by the smaller peer ID is kept.
import './polyfill.js';
import type { Connection as Libp2pConnection, PeerId, Stream } from '@libp2p/interface';
import { KEEP_ALIVE } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { Node, type Node$Client } from '../capnp-gen/ww.rpc.js';
import { Connection, StreamTransport, type Client, type StreamTransportOptions } from '../rpc/index.js';
import { Admission, checkPeerId } from './admission.js';
import { ClusterError } from './errors.js';
import { checkMultiaddr, createHost, DEFAULT_HOST_BOUNDS, type HostBounds, type Libp2pHost } from './host.js';
import type { Identity } from './identity.js';
import { Liveness } from './liveness.js';
import { libp2pByteStream } from './stream.js';

export const RPC_PROTOCOL = '/ww/rpc/1.0.0';

/** A --join that fails is tried again after this, then twice as long each time, up to JOIN_RETRY_MAX_MS. */
const JOIN_RETRY_FIRST_MS = 2_000;
const JOIN_RETRY_MAX_MS = 5 * 60_000;

/** What the node serves one peer for the life of a session: its bootstrap Node, and what to do when the session ends. */
export interface Served {
  bootstrap: Client;
  /** Called once when the session ends. */
  release(): void;
}

export interface ClusterOptions {
  identity: Identity;
  /** Multiaddrs to listen on. Default: a loopback TCP port (DEFAULT_LISTEN). */
  listen?: readonly string[];
  /** Peers to connect to at start (and reconnect to), as multiaddrs ending /p2p/<peer id>. */
  join?: readonly string[];
  /** Peer IDs admitted (see admission.ts for the rule). */
  allow?: readonly string[];
  /** The swarm key file's bytes (readSwarmKey). */
  swarmKey?: Uint8Array;
  mdns?: boolean;
  bounds?: Partial<HostBounds>;
  /** The RPC engine's bounds for each peer's session. */
  transport?: StreamTransportOptions;
  /** What a peer gets as our bootstrap on a new session; undefined: nothing (the session is refused). */
  serve(peerId: string): Served | undefined;
  log?: (line: string) => void;
}

interface Session {
  readonly remote: string;
  /** The peer ID that opened the stream. */
  readonly opener: string;
  readonly stream: Stream;
  readonly conn: Connection;
}

export class Cluster {
  private readonly sessions = new Map<string, Session>();
  private readonly opening = new Map<string, Promise<Session>>();
  private readonly joinRetries = new Set<NodeJS.Timeout>();
  private closed = false;
  private readonly liveness: Liveness;

  private constructor(
    readonly libp2p: Libp2pHost,
    readonly admission: Admission,
    private readonly opts: ClusterOptions,
    private readonly log: (line: string) => void,
  ) {
    this.liveness = new Liveness(libp2p, log, opts.bounds?.peerTimeoutMs ?? DEFAULT_HOST_BOUNDS.peerTimeoutMs);
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const log = opts.log ?? (() => {});
    const admission = new Admission(opts.allow, opts.swarmKey !== undefined);
    for (const a of opts.join ?? []) peerOfAddress(a, '--join');
    const host = await createHost({ identity: opts.identity, listen: opts.listen, admission, swarmKey: opts.swarmKey, mdns: opts.mdns, bounds: opts.bounds, log });
    const cluster = new Cluster(host, admission, opts, log);
    await host.handle(RPC_PROTOCOL, (stream, connection) => cluster.accept(stream, connection), {
      // One session per peer; a second while both open at once (the tie-break closes one).
      maxInboundStreams: 2,
      maxOutboundStreams: 2,
    });
    for (const a of opts.join ?? []) void cluster.join(a);
    return cluster;
  }

  get peerId(): string {
    return this.opts.identity.peerId;
  }

  /** The gossipsub service, for membership and other cluster-wide news. */
  get pubsub(): Libp2pHost['services']['pubsub'] {
    return this.libp2p.services.pubsub;
  }

  /** Where other peers reach this one: each multiaddr ends /p2p/<our peer ID>. */
  addresses(): string[] {
    return this.libp2p.getMultiaddrs().map((m) => m.toString());
  }

  /** Peers with an open connection now. */
  connectedPeers(): string[] {
    return [...new Set(this.libp2p.getConnections().map((c) => c.remotePeer.toString()))];
  }

  /**
   * The Node capability of another peer, over this node's RPC session with it (opened if needed):
   * `target` is its peer ID (it must be connected or known, e.g. by --join or mDNS) or a multiaddr
   * ending /p2p/<peer ID>. What the peer serves us is what its operator grants this node's peer ID.
   * Refused with a ClusterError: `not-admitted` (our own rule forbids the peer), `refused` (it does not
   * admit us), `unreachable`, `bad-address`.
   */
  async dial(target: string): Promise<Node$Client> {
    const session = await this.session(target);
    return session.conn.bootstrap(Node);
  }

  private async session(target: string): Promise<Session> {
    if (this.closed) throw new ClusterError('unreachable', 'this node is stopping');
    const { peer, address } = parseTarget(target);
    const id = peer.toString();
    if (id === this.peerId) throw new ClusterError('bad-address', `${target} is this node itself`);
    if (!this.admission.admits(id)) throw new ClusterError('not-admitted', `this node does not connect to ${id}: ${this.admission.whyNot(id)}`);
    const existing = this.sessions.get(id);
    if (existing) return existing;
    let pending = this.opening.get(id);
    if (!pending) {
      pending = this.open(peer, address).finally(() => this.opening.delete(id));
      this.opening.set(id, pending);
    }
    return pending;
  }

  private async open(peer: PeerId, address: Multiaddr | undefined): Promise<Session> {
    const id = peer.toString();
    // A connection that was already up has passed the other side's gate once: losing it now is not a refusal.
    const wasConnected = this.libp2p.getConnections(peer).some((c) => c.status === 'open');
    let connection: Libp2pConnection;
    try {
      connection = await this.libp2p.dial(address ?? peer);
    } catch (e) {
      throw dialError(id, e as Error, this.admission.swarmKey);
    }
    let stream: Stream;
    try {
      stream = await connection.newStream(RPC_PROTOCOL);
    } catch (e) {
      throw streamError(id, this.peerId, e as Error, wasConnected);
    }
    // The peer may have opened one to us meanwhile: the tie-break decides which stays.
    return this.adopt(stream, id, this.peerId) ?? (this.sessions.get(id) as Session);
  }

  /** An inbound RPC stream: admitted peers only reach here (the gate runs before any protocol). */
  private accept(stream: Stream, connection: Libp2pConnection): void {
    const remote = connection.remotePeer.toString();
    if (this.closed || !this.admission.admits(remote)) return stream.abort(new Error('not admitted'));
    this.adopt(stream, remote, remote);
  }

  /** Makes `stream` the session with `remote` unless the one there wins the tie-break; returns it if it was made. */
  private adopt(stream: Stream, remote: string, opener: string): Session | undefined {
    const existing = this.sessions.get(remote);
    if (existing) {
      // Both opened one: keep the stream opened by the smaller peer ID (both sides decide alike).
      // A peer that opens another one while its first is up replaces it (it lost it).
      const keepExisting = existing.opener !== opener && existing.opener < opener;
      if (keepExisting) {
        stream.abort(new Error('a session with this peer exists'));
        return undefined;
      }
      existing.conn.close();
      this.sessions.delete(remote);
    }
    const served = this.opts.serve(remote);
    if (!served && opener === remote) {
      stream.abort(new Error('refused'));
      return undefined;
    }
    const transport = new StreamTransport(libp2pByteStream(stream), this.opts.transport);
    const conn = new Connection(transport, served ? { bootstrap: served.bootstrap } : {});
    const session: Session = { remote, opener, stream, conn };
    this.sessions.set(remote, session);
    void conn.closed().then(() => {
      if (this.sessions.get(remote) === session) this.sessions.delete(remote);
      served?.release();
    });
    return session;
  }

  /**
   * Connects to a --join address and opens the RPC session with it: a peer whose gate refuses us
   * closes the connection right after the handshake, so only a session proves we were admitted.
   * While connected, libp2p reconnects on loss (KEEP_ALIVE). A refused or unreachable join is tried
   * again after a pause that doubles up to JOIN_RETRY_MAX_MS (the operator there may admit us
   * later), never in a tight loop; only a change of reason is logged again.
   */
  private async join(address: string, attempt = 0, lastReason = ''): Promise<void> {
    if (this.closed) return;
    const { peer, address: ma } = parseTarget(address);
    const id = peer.toString();
    let reason: string;
    try {
      if (!this.admission.admits(id)) throw new ClusterError('not-admitted', `this node does not connect to ${id}: ${this.admission.whyNot(id)}`);
      await this.libp2p.peerStore.merge(peer, { multiaddrs: ma ? [ma] : [] });
      await this.session(ma ? address : id);
      await this.libp2p.peerStore.merge(peer, { tags: { [KEEP_ALIVE]: { value: 1 } } });
      this.log(`joined ${id}`);
      return;
    } catch (e) {
      const err = e instanceof ClusterError ? e : dialError(id, e as Error, this.admission.swarmKey);
      if (err.code === 'not-admitted' || err.code === 'bad-address') return this.log(`cannot join ${address}: ${err.message}`);
      reason = err.message;
    }
    if (this.closed) return;
    const delay = Math.min(JOIN_RETRY_FIRST_MS * 2 ** attempt, JOIN_RETRY_MAX_MS);
    if (reason !== lastReason) this.log(`cannot join ${address}: ${reason}; trying again in ${Math.round(delay / 1000)} s, then less often`);
    const timer = setTimeout(() => void this.join(address, attempt + 1, reason), delay);
    timer.unref();
    this.joinRetries.add(timer);
  }

  /** Ends every session and stops the host. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.liveness.stop();
    for (const s of this.sessions.values()) s.conn.close();
    this.sessions.clear();
    await this.libp2p.stop();
  }
}

/** A peer ID, or a multiaddr ending /p2p/<peer ID>. */
function parseTarget(target: string): { peer: PeerId; address?: Multiaddr } {
  if (target.startsWith('/')) {
    const peer = peerOfAddress(target, 'address');
    return { peer, address: multiaddr(target) };
  }
  checkPeerId(target, 'peer');
  return { peer: peerIdFromString(target) };
}

function peerOfAddress(a: string, what: string): PeerId {
  checkMultiaddr(a, what);
  const id = multiaddr(a).getComponents().findLast((c) => c.name === 'p2p')?.value;
  if (!id) throw new ClusterError('bad-address', `${what}: ${a} does not end with /p2p/<peer id> (\`ww id\` on that peer prints its full addresses)`);
  checkPeerId(id, what);
  return peerIdFromString(id);
}

/**
 * A failed RPC stream on a connection that is up, said for people. A gate that refuses us closes a
 * fresh connection right after the handshake, before any stream; a connection that was already up
 * (we were admitted) and then fails was lost (the peer stopped, the network, or our liveness check
 * dropped it), which is `unreachable`, never a refusal.
 */
function streamError(id: string, self: string, e: Error, wasConnected: boolean): ClusterError {
  if (e.name === 'UnsupportedProtocolError') return new ClusterError('unreachable', `${id} is not a ww peer (it does not speak ${RPC_PROTOCOL})`, { cause: e });
  if (wasConnected) return new ClusterError('unreachable', `lost the connection to ${id} while opening an RPC session: ${e.message}`, { cause: e });
  return new ClusterError('refused', `${id} refused the connection right after the handshake: this node (${self}) is probably not on its allow-list`, { cause: e });
}

/** A failed dial, said for people: a handshake that fails is a refusal (the swarm key), the rest is unreachable. */
function dialError(id: string, e: Error, haveSwarmKey: boolean): ClusterError {
  const all = [e, ...((e as AggregateError).errors ?? [])] as Error[];
  if (all.some((x) => x.name === 'EncryptionFailedError')) {
    const why = haveSwarmKey ? 'it does not hold the same swarm key' : 'it requires a swarm key (--swarm-key) this node lacks';
    return new ClusterError('refused', `${id} refused the connection: the handshake failed (${why})`, { cause: e });
  }
  if (all.some((x) => x.name === 'DialDeniedError')) return new ClusterError('not-admitted', `this node does not connect to ${id}`, { cause: e });
  return new ClusterError('unreachable', `cannot connect to ${id}: ${all.map((x) => x.message).filter(Boolean).join('; ')}`, { cause: e });
}
