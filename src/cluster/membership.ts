// Cluster membership: every peer publishes a signed heartbeat (heartbeat.ts) on one pubsub topic
// every interval, and keeps a bounded view of the peers it heard from, each live until the TTL its
// last heartbeat gave. It is given a pubsub (a libp2p node's `services.pubsub` fits), not the host,
// so it can be tested and measured alone.
//
// What a hostile peer can do to it, and what stops it (each check before the costlier ones):
//   - a large message: dropped by its size before it is parsed (MAX_HEARTBEAT_BYTES);
//   - bytes that are not a heartbeat: dropped (decodeHeartbeat throws only HeartbeatError, caught here);
//   - a heartbeat naming another peer: dropped when the pubsub's own signed author differs ('forged'),
//     and always unless the named peer's key signed it ('bad-signature');
//   - a replay: dropped unless its seq is above the last one taken from that peer (remembered for a
//     while after the peer expires, so an old heartbeat cannot bring it back), and unless its date
//     is within maxClockSkewMs + its TTL of ours ('replayed', 'stale');
//   - a peer the operator does not allow (MembershipOptions.allows): dropped ('not-allowed');
//   - a flood: a known peer's heartbeats closer together than minGapMs are dropped before their
//     signature is checked; new peers are checked at most maxNewPeersPerInterval per interval; the
//     table holds at most maxPeers others ('table-full', one log line per interval while it is).
// The stateless checks (size, form, author) also run as gossipsub's topic validator, so what fails them
// is rejected before gossip caches or relays it, and its sender is scored down.
// So a flood costs one parse of at most 4 KiB per message, and signature checks stay bounded. Checks
// are synchronous (Node's crypto), so a heartbeat is taken whole before the next is looked at.

import type { KeyObject } from 'node:crypto';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import {
  decodeHeartbeat,
  type DecodedHeartbeat,
  peerKey,
  encodeHeartbeat,
  HeartbeatError,
  keptSigner,
  MAX_ADDRESS_CHARS,
  MAX_ADDRESSES,
  type HeartbeatRejection,
  type HeartbeatSigner,
  type Load,
} from './heartbeat.js';

/** The topic every ww peer's heartbeats go to. */
export const MEMBERSHIP_TOPIC = '/ww/membership/1';

/** A pubsub message as the membership reads it (gossipsub's Message fits). */
export interface PubsubMessage {
  topic: string;
  data: Uint8Array;
  /** The pubsub's own author, present when its messages are signed (gossipsub's StrictSign). */
  from?: { toString(): string };
}

/** The part of a pubsub the membership uses (a libp2p node's gossipsub fits). */
export interface MembershipPubsub {
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  publish(topic: string, data: Uint8Array): Promise<unknown>;
  addEventListener(type: 'message', listener: (event: CustomEvent<PubsubMessage>) => void): void;
  removeEventListener(type: 'message', listener: (event: CustomEvent<PubsubMessage>) => void): void;
}

/** What this peer says of itself in each heartbeat. */
export interface LocalStatus extends Load {
  addresses: string[];
}

export interface MembershipOptions {
  pubsub: MembershipPubsub;
  /** This peer's ID (libp2p, Ed25519) and the key it signs with (a libp2p PrivateKey fits). */
  peerId: string;
  privateKey: HeartbeatSigner;
  /** This peer's addresses and load, asked at each heartbeat and each view. */
  status: () => LocalStatus;
  /** Between two heartbeats of this peer. Default 2000 ms. */
  intervalMs?: number;
  /** How long others take this peer as live after a heartbeat. Default three intervals. */
  ttlMs?: number;
  /** The longest TTL taken from another peer (a longer one is cut to it). Default 60 s. */
  maxTtlMs?: number;
  /** How far another peer's clock may be from ours. Default 30 s. */
  maxClockSkewMs?: number;
  /** Whether a peer may be in the view (the host's allow-list): gossipsub relays heartbeats of peers
   *  this one never connected to, so without it any key an allowed peer makes up could fill the table.
   *  Default: every peer. */
  allows?: (peerId: string) => boolean;
  /** Other peers the view holds at most (and as many expired peers' last seq). Default 1024. */
  maxPeers?: number;
  /** New peers whose signature is checked per interval at most. Default 64. */
  maxNewPeersPerInterval?: number;
  /** A known peer's heartbeats closer together than this are dropped unread. Default a quarter interval. */
  minGapMs?: number;
  topic?: string;
  /** One line per kind of dropped heartbeat per interval, and the table being full. */
  log?: (line: string) => void;
  /** Told of each heartbeat taken (e.g. to measure how soon one is visible). */
  onUpdate?: (peer: PeerStatus) => void;
  /** Unix ms; for tests. Default Date.now. */
  now?: () => number;
}

/** One live peer in the view. */
export interface PeerStatus extends Load {
  peerId: string;
  addresses: string[];
  /** Unix ms when its last heartbeat arrived (for this peer itself: now). */
  lastSeenMs: number;
  /** This peer itself. */
  self: boolean;
}

interface Entry {
  status: PeerStatus;
  seq: number;
  /** Its public key, made once from its peer ID. */
  key: KeyObject;
  expiresAtMs: number;
  /** When a heartbeat of this peer last had its signature checked. */
  checkedAtMs: number;
}

export class Membership {
  readonly peerId: string;
  readonly topic: string;
  readonly intervalMs: number;
  readonly ttlMs: number;
  /** Heartbeats dropped since start, by why. */
  readonly dropped: Record<HeartbeatRejection, number> = {
    oversized: 0,
    malformed: 0,
    'bad-signature': 0,
    forged: 0,
    'not-allowed': 0,
    replayed: 0,
    stale: 0,
    'rate-limited': 0,
    'table-full': 0,
    'own-peer-id': 0,
  };
  private readonly peers = new Map<string, Entry>();
  /** The last seq of peers that expired (insertion order: oldest first), at most maxPeers. */
  private readonly expiredSeqs = new Map<string, number>();
  /** Drops since the last log flush, by why: a count and one example. */
  private readonly dropLog = new Map<HeartbeatRejection, { count: number; example: string }>();
  private newPeerChecks = 0;
  private lastSeq = 0;
  private timer: NodeJS.Timeout | undefined;
  private publishing = false;
  private readonly maxTtlMs: number;
  private readonly maxClockSkewMs: number;
  private readonly maxPeers: number;
  private readonly maxNewPeersPerInterval: number;
  private readonly minGapMs: number;
  private readonly signer: HeartbeatSigner;
  private readonly now: () => number;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: MembershipOptions) {
    this.peerId = opts.peerId;
    this.topic = opts.topic ?? MEMBERSHIP_TOPIC;
    this.intervalMs = positive('intervalMs', opts.intervalMs ?? 2000);
    this.ttlMs = positive('ttlMs', opts.ttlMs ?? 3 * this.intervalMs);
    this.maxTtlMs = positive('maxTtlMs', opts.maxTtlMs ?? 60_000);
    this.maxClockSkewMs = opts.maxClockSkewMs ?? 30_000;
    this.maxPeers = positive('maxPeers', opts.maxPeers ?? 1024);
    this.maxNewPeersPerInterval = positive('maxNewPeersPerInterval', opts.maxNewPeersPerInterval ?? 64);
    this.minGapMs = opts.minGapMs ?? this.intervalMs / 4;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.newPeerChecks = this.maxNewPeersPerInterval;
    this.signer = keptSigner(opts.privateKey);
  }

  /** Subscribes, sends the first heartbeat and then one every interval. */
  start(): void {
    if (this.timer) return;
    // Gossip relays what it accepts: a validator makes it reject (and score down the sender of) bytes
    // that are no heartbeat, or whose author is not the peer they name, before it caches or forwards
    // them. Signatures and rates are checked when a heartbeat is taken (receive).
    this.validators()?.set(this.topic, (_peer, msg) => (this.worthRelaying(msg) ? TopicValidatorResult.Accept : TopicValidatorResult.Reject));
    this.opts.pubsub.addEventListener('message', this.onMessage);
    this.opts.pubsub.subscribe(this.topic);
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.heartbeat();
  }

  /** Stops sending and listening; others drop this peer when its TTL runs out. */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.validators()?.delete(this.topic);
    this.opts.pubsub.removeEventListener('message', this.onMessage);
    try {
      this.opts.pubsub.unsubscribe(this.topic);
    } catch {
      // the pubsub is already stopped
    }
  }

  /** The live peers: this one first, then the others by peer ID. */
  view(): PeerStatus[] {
    this.expire();
    const { addresses, running, queued, freeMemoryBytes } = this.opts.status();
    const self: PeerStatus = { peerId: this.peerId, addresses, running, queued, freeMemoryBytes, lastSeenMs: this.now(), self: true };
    const others = [...this.peers.values()].map((e) => e.status).sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0));
    return [self, ...others];
  }

  /** Sends a heartbeat now (also what each interval does). Resolves when it is published, or was not
   *  (no peer listens yet; another is being sent); never rejects. */
  async heartbeat(): Promise<void> {
    if (this.publishing) return;
    this.publishing = true;
    try {
      const { addresses, running, queued, freeMemoryBytes } = this.opts.status();
      this.lastSeq = Math.max(this.lastSeq + 1, this.now() * 1000);
      // A host with many interfaces announces its first MAX_ADDRESSES (what every peer reads), not nothing.
      const announced = addresses.filter((a) => a.length > 0 && a.length <= MAX_ADDRESS_CHARS).slice(0, MAX_ADDRESSES);
      const bytes = await encodeHeartbeat(
        { peer: this.peerId, addresses: announced, running, queued, freeMemoryBytes, ttlMs: this.ttlMs, seq: this.lastSeq },
        this.signer,
      );
      await this.opts.pubsub.publish(this.topic, bytes);
    } catch (e) {
      // Alone on the topic is normal (gossipsub refuses to publish to nobody); anything else is worth a line.
      if (!/NoPeersSubscribedToTopic/.test((e as Error).message)) this.log(`membership: a heartbeat was not sent: ${(e as Error).message}`);
    } finally {
      this.publishing = false;
    }
  }

  private tick(): void {
    this.expire();
    this.newPeerChecks = this.maxNewPeersPerInterval;
    this.flushDropLog();
    void this.heartbeat();
  }

  private expire(): void {
    const now = this.now();
    for (const [id, e] of this.peers) {
      if (e.expiresAtMs > now) continue;
      this.peers.delete(id);
      this.rememberExpired(id, e.seq);
    }
  }

  private rememberExpired(id: string, seq: number): void {
    this.expiredSeqs.delete(id);
    this.expiredSeqs.set(id, seq);
    if (this.expiredSeqs.size > this.maxPeers) this.expiredSeqs.delete(this.expiredSeqs.keys().next().value!);
  }

  private readonly onMessage = (event: CustomEvent<PubsubMessage>): void => {
    const msg = event.detail;
    if (msg?.topic !== this.topic) return;
    try {
      this.receive(msg);
    } catch (e) {
      // decodeHeartbeat throws only HeartbeatErrors; anything else is a bug here, still not the pubsub's problem
      if (e instanceof HeartbeatError) this.drop(e.rejection, e.message);
      else this.drop('malformed', `unexpected: ${(e as Error)?.message}`);
    }
  };

  /** The pubsub's topic validators, when it has them (gossipsub does; a test's pubsub may not). */
  private validators(): Map<string, (peer: unknown, msg: PubsubMessage) => TopicValidatorResult> | undefined {
    return (this.opts.pubsub as { topicValidators?: Map<string, (peer: unknown, msg: PubsubMessage) => TopicValidatorResult> }).topicValidators;
  }

  /** Whether gossip should pass a message on: the cheap checks of receive (size, form, author); what fails
   *  them is counted and logged as dropped here, and never reaches receive. */
  private worthRelaying(msg: PubsubMessage): boolean {
    try {
      this.precheck(msg);
      return true;
    } catch (e) {
      if (e instanceof HeartbeatError) this.drop(e.rejection, e.message);
      else this.drop('malformed', `unexpected: ${(e as Error)?.message}`);
      return false;
    }
  }

  /** The checks that need no state and no signature: a heartbeat, not naming this peer, from the peer it names. */
  private precheck(msg: PubsubMessage): DecodedHeartbeat {
    if (!(msg.data instanceof Uint8Array)) throw new HeartbeatError('malformed', 'a message without bytes');
    const hb = decodeHeartbeat(msg.data);
    const { peer } = hb.body;
    if (peer === this.peerId) throw new HeartbeatError('own-peer-id', `a heartbeat naming this peer, from ${String(msg.from ?? 'an unsigned message')}`);
    if (msg.from !== undefined && String(msg.from) !== peer) throw new HeartbeatError('forged', `${String(msg.from)} sent a heartbeat naming ${peer}`);
    return hb;
  }

  /** Takes a heartbeat or throws why not. Synchronous, so no other heartbeat is taken halfway through. */
  private receive(msg: PubsubMessage): void {
    const hb = this.precheck(msg);
    const { peer, seq } = hb.body;
    if (this.opts.allows && !this.opts.allows(peer)) throw new HeartbeatError('not-allowed', `a heartbeat of ${peer}, which this node does not allow`);
    const now = this.now();
    const ttlMs = Math.min(hb.body.ttlMs, this.maxTtlMs);
    const madeAtMs = seq / 1000;
    if (madeAtMs > now + this.maxClockSkewMs || madeAtMs < now - this.maxClockSkewMs - ttlMs) {
      throw new HeartbeatError('stale', `${peer}'s heartbeat dated ${Math.round(now - madeAtMs)} ms ago`);
    }
    this.checkNewer(peer, seq);
    const known = this.peers.get(peer);
    if (known) {
      if (now - known.checkedAtMs < this.minGapMs) throw new HeartbeatError('rate-limited', `${peer} sends heartbeats less than ${this.minGapMs} ms apart`);
      known.checkedAtMs = now;
    } else {
      this.checkRoom(peer);
      if (this.newPeerChecks <= 0) throw new HeartbeatError('rate-limited', `more than ${this.maxNewPeersPerInterval} new peers in one interval; ${peer} waits for the next`);
      this.newPeerChecks--;
    }
    // A known peer's key was made once, when it joined: making one costs about as much as a check.
    const key = known ? known.key : peerKey(peer);
    if (!key || !hb.verify(key)) throw new HeartbeatError('bad-signature', `a heartbeat naming ${peer} that ${peer} did not sign`);
    const { addresses, running, queued, freeMemoryBytes } = hb.body;
    const status: PeerStatus = { peerId: peer, addresses, running, queued, freeMemoryBytes, lastSeenMs: now, self: false };
    this.peers.set(peer, { status, seq, key, expiresAtMs: now + ttlMs, checkedAtMs: now });
    this.expiredSeqs.delete(peer);
    this.opts.onUpdate?.(status);
  }

  private checkNewer(peer: string, seq: number): void {
    const last = this.peers.get(peer)?.seq ?? this.expiredSeqs.get(peer) ?? -1;
    if (seq <= last) throw new HeartbeatError('replayed', `${peer}'s heartbeat ${seq} is not newer than ${last}`);
  }

  private checkRoom(peer: string): void {
    if (this.peers.size < this.maxPeers) return;
    this.expire();
    if (this.peers.size >= this.maxPeers) throw new HeartbeatError('table-full', `the membership table is full (${this.maxPeers} peers): ${peer} is not added`);
  }

  private drop(why: HeartbeatRejection, rawDetail: string): void {
    this.dropped[why]++;
    // The detail quotes the sender's bytes (its peer field, a bad value): control characters escaped and
    // the line cut, so a heartbeat cannot forge log lines or drive the terminal.
    const detail = rawDetail.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 300);
    const seen = this.dropLog.get(why);
    if (seen) seen.count++;
    else {
      this.dropLog.set(why, { count: 1, example: detail });
      // The first of a kind is told at once; repeats wait for the interval's summary.
      this.log(`membership: dropped a heartbeat (${why}): ${detail}`);
    }
  }

  private flushDropLog(): void {
    for (const [why, { count, example }] of this.dropLog) {
      if (count > 1) this.log(`membership: dropped ${count} heartbeats (${why}) in the last ${this.intervalMs} ms, e.g.: ${example}`);
    }
    this.dropLog.clear();
  }
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`Membership ${name} must be a number > 0, not ${value}`);
  return value;
}
