// The libp2p host of a node: TCP, Noise, yamux, identify, ping, gossipsub (`services.pubsub`),
// pnet when there is a swarm key, mDNS when asked. The admission rule (admission.ts) gates every
// connection right after the handshake, before any protocol runs on it; the bounds below are what
// a hostile peer can make the host hold.
import './polyfill.js';
import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@libp2p/noise';
import { yamux } from '@libp2p/yamux';
import { identify, type Identify } from '@libp2p/identify';
import { ping, type Ping } from '@libp2p/ping';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { preSharedKey } from '@libp2p/pnet';
import { mdns } from '@libp2p/mdns';
import type { Connection, PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { Admission } from './admission.js';
import { ClusterError } from './errors.js';
import type { Identity } from './identity.js';

export type Libp2pHost = Libp2p<{ identify: Identify; ping: Ping; pubsub: GossipSub }>;

/** What a hostile peer (or many) can make the host hold. */
export interface HostBounds {
  /** Connections open at once, all peers together. Default 256. */
  maxConnections: number;
  /** Inbound connections still in their handshake. Default 32. */
  maxPendingConnections: number;
  /** New inbound connections per second from one host (IP address). Default 50: many peers may share an address. */
  inboundConnectionsPerSecond: number;
  /** Streams a peer may open at once on one connection (all protocols). Default 64. */
  maxInboundStreams: number;
  /** Bytes buffered for one stream that is not read; yamux's window is kept within it, so a paused reader is never reset. Default 4 MiB. */
  streamReadBufferBytes: number;
  /** How long a connected peer may answer nothing (pinged every 500 ms, liveness.ts) before its
   *  connection is closed as lost. Default 1500: loss is noticed within 2 s, but a peer whose event
   *  loop stalls longer (a machine far past its cores) is dropped too. */
  peerTimeoutMs: number;
}

export const DEFAULT_HOST_BOUNDS: Readonly<HostBounds> = {
  maxConnections: 256,
  maxPendingConnections: 32,
  inboundConnectionsPerSecond: 50,
  maxInboundStreams: 64,
  streamReadBufferBytes: 4 * 1024 * 1024,
  peerTimeoutMs: 1500,
};

/** A loopback TCP address on a port the system chooses: every node is a peer, reachable from this machine only. */
export const DEFAULT_LISTEN = '/ip4/127.0.0.1/tcp/0';

export interface HostOptions {
  identity: Identity;
  /** Multiaddrs to listen on. Default [DEFAULT_LISTEN]. */
  listen?: readonly string[];
  admission: Admission;
  /** The swarm key (pnet) in the file format, when the network has one. */
  swarmKey?: Uint8Array;
  /** Find peers on the local network by multicast DNS. */
  mdns?: boolean;
  bounds?: Partial<HostBounds>;
  log: (line: string) => void;
}

export async function createHost(opts: HostOptions): Promise<Libp2pHost> {
  const bounds = { ...DEFAULT_HOST_BOUNDS, ...opts.bounds };
  const { admission, log } = opts;
  const listen = [...(opts.listen ?? [DEFAULT_LISTEN])];
  for (const a of listen) checkMultiaddr(a, 'listen');
  const refusals = new RefusalLog(log);
  const deny = (peer: PeerId, direction: 'inbound' | 'outbound'): boolean => {
    const id = peer.toString();
    if (admission.admits(id)) return false;
    // The connection is closed before any protocol (identify, gossip, RPC) runs.
    refusals.refused(id, `refused ${direction === 'inbound' ? 'a connection from' : 'to connect to'} ${id}: ${admission.whyNot(id)}`);
    return true;
  };
  let host: Libp2pHost;
  try {
    host = await createLibp2p({
      privateKey: opts.identity.privateKey,
      addresses: { listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [
        yamux({
          maxInboundStreams: bounds.maxInboundStreams,
          // A stream whose reader pauses is reset once its buffer passes maxReadBufferLength; the window
          // (what the sender may send unacknowledged) within it makes the sender wait instead.
          streamOptions: {
            maxReadBufferLength: bounds.streamReadBufferBytes,
            maxStreamWindowSize: Math.max(256 * 1024, Math.min(bounds.streamReadBufferBytes, 16 * 1024 * 1024)),
          },
        }),
      ],
      ...(opts.swarmKey ? { connectionProtector: preSharedKey({ psk: opts.swarmKey }) } : {}),
      connectionGater: {
        // Loopback and private addresses are where a small cluster lives (libp2p refuses them by default).
        denyDialMultiaddr: () => false,
        denyInboundEncryptedConnection: (peer) => deny(peer, 'inbound'),
        denyOutboundEncryptedConnection: (peer) => deny(peer, 'outbound'),
      },
      connectionManager: {
        maxConnections: bounds.maxConnections,
        maxIncomingPendingConnections: bounds.maxPendingConnections,
        inboundConnectionThreshold: bounds.inboundConnectionsPerSecond,
      },
      // Lost peers are noticed by liveness.ts, which forgives our own stalls; this monitor would not.
      connectionMonitor: { enabled: false },
      peerDiscovery: opts.mdns ? [mdns()] : [],
      services: {
        identify: identify(),
        // Liveness pings are streams too: more than the default 1 out / 2 in.
        ping: ping({ maxInboundStreams: 4, maxOutboundStreams: 4 }),
        // Messages bigger than any heartbeat are not even decoded (membership.ts, MAX_HEARTBEAT_BYTES).
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, maxInboundDataLength: 64 * 1024 }),
      },
    });
  } catch (e) {
    throw new ClusterError('cannot-listen', `cannot start the libp2p host on ${listen.join(', ')}: ${(e as Error).message}`, { cause: e });
  }
  keepOneConnectionPerPeer(host);
  if (opts.mdns) {
    host.addEventListener('peer:discovery', (evt) => {
      const id = evt.detail.id.toString();
      // Both sides discover each other: only the smaller peer ID dials, so there is one connection.
      if (!admission.admits(id) || id < opts.identity.peerId) return;
      if (host.getConnections(evt.detail.id).length > 0) return;
      host.dial(evt.detail.id).catch((e: Error) => log(`cannot connect to ${id} found by mDNS: ${e.message}`));
    });
  }
  return host;
}

/**
 * The log of refused peers: one line for a peer's first refusal, then at most one a minute saying how
 * many more there were, so a peer that keeps dialing cannot flood the node's log. Remembers at most
 * MAX_REMEMBERED peers (the oldest forgotten first).
 */
export class RefusalLog {
  static readonly INTERVAL_MS = 60_000;
  static readonly MAX_REMEMBERED = 1024;
  /** Lines in one interval over all peers: new peer IDs cost nothing to make, the log must not grow with them. */
  static readonly MAX_LINES_PER_INTERVAL = 32;
  private readonly peers = new Map<string, { loggedAtMs: number; since: number }>();
  private windowStartMs = -Infinity;
  private linesInWindow = 0;
  private heldBack = 0;

  constructor(
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  refused(peerId: string, line: string): void {
    const t = this.now();
    const known = this.peers.get(peerId);
    if (known && t - known.loggedAtMs < RefusalLog.INTERVAL_MS) {
      known.since++;
      return;
    }
    if (t - this.windowStartMs >= RefusalLog.INTERVAL_MS) {
      if (this.heldBack > 0) this.log(`refused ${this.heldBack} more connection${this.heldBack === 1 ? '' : 's'} in the minute from ${new Date(this.windowStartMs).toISOString()} without a line each (at most ${RefusalLog.MAX_LINES_PER_INTERVAL} lines a minute)`);
      this.windowStartMs = t;
      this.linesInWindow = 0;
      this.heldBack = 0;
    }
    if (this.linesInWindow >= RefusalLog.MAX_LINES_PER_INTERVAL) {
      this.heldBack++;
      return;
    }
    this.linesInWindow++;
    this.peers.delete(peerId);
    if (this.peers.size >= RefusalLog.MAX_REMEMBERED) this.peers.delete(this.peers.keys().next().value!);
    this.peers.set(peerId, { loggedAtMs: t, since: 0 });
    this.log(known && known.since > 0 ? `${line} (and ${known.since} more time${known.since === 1 ? '' : 's'} since the last line)` : line);
  }
}

/**
 * When both peers dial at once there are two connections: each side keeps the one dialed by the
 * smaller peer ID and closes the other, so both keep the same one.
 */
function keepOneConnectionPerPeer(host: Libp2pHost): void {
  const self = host.peerId.toString();
  host.addEventListener('connection:open', (evt) => {
    const remote = evt.detail.remotePeer;
    const conns = host.getConnections(remote).filter((c) => c.status === 'open');
    if (conns.length < 2) return;
    const dialerOf = (c: Connection): string => (c.direction === 'outbound' ? self : remote.toString());
    const smaller = self < remote.toString() ? self : remote.toString();
    const keep = conns.find((c) => dialerOf(c) === smaller) ?? conns[0];
    for (const c of conns) if (c !== keep) void c.close().catch(() => {});
  });
}

/** Refuses what is not a multiaddr, naming the flag it came from. */
export function checkMultiaddr(a: string, what: string): void {
  try {
    multiaddr(a);
  } catch (e) {
    throw new ClusterError('bad-address', `${what}: ${JSON.stringify(a)} is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001): ${(e as Error).message}`);
  }
}
