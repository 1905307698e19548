// A registry replica: the Raft core driven by real time, with storage, a transport and the registry
// state machine plugged in, and the registry's operations as promises. This is the one place that
// runs the Ready loop for real; wiring it into a node is a transport adapter (frames to and from a
// peer over RPC) plus `deliver()`, and nothing else.

import { RaftError } from './errors.js';
import { RaftNode, type RaftOptions } from './node.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { Registry, encodeRequest, type RegistryCommand, type RegistryRecord, type RegistryResult } from './registry.js';
import type { RaftStorage } from './storage.js';
import type { NodeId, Role } from './types.js';

/** How frames reach other replicas. Best effort: Raft retries what is lost, so send never waits or throws. */
export interface RaftTransport {
  send(to: NodeId, frame: Uint8Array): void;
}

export interface RegistryPeerOptions {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  readonly transport: RaftTransport;
  /** Milliseconds a tick lasts (default 100: an election after 1-2 s without a leader). */
  readonly tickMs?: number;
  readonly electionTicks?: number;
  /** A frame larger than this is dropped unread (default 8 MiB: room for a snapshot). */
  readonly maxFrameBytes?: number;
  /** Bytes of frames held while the Ready loop runs (default twice maxFrameBytes); past it they are dropped. */
  readonly maxInboxBytes?: number;
  /** Operations waiting for their entry to apply or their read to be confirmed (default 4096). */
  readonly maxWaiting?: number;
  /** An operation not answered in this long fails with `timeout`: its outcome is unknown (default 5000). */
  readonly timeoutMs?: number;
  /** Compact the log when this many entries are applied past the snapshot (default 10,000). */
  readonly compactEvery?: number;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly raft?: Partial<Omit<RaftOptions, 'id' | 'random' | 'now'>>;
}

interface Waiter {
  readonly resolve: (value: never) => void;
  readonly reject: (e: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export interface PeerStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly voters: readonly NodeId[];
  /** Frames from peers dropped as malformed or too large. */
  readonly badFrames: number;
  /** Frames dropped because the inbox held maxWaiting frames or maxInboxBytes (Raft resends what matters). */
  readonly droppedFrames: number;
  /** Compactions refused because the snapshot would not fit a frame (the log keeps growing meanwhile). */
  readonly snapshotsTooLarge: number;
}

export class RegistryPeer {
  readonly id: NodeId;
  private readonly raft: RaftNode;
  private readonly registry = new Registry();
  private readonly storage: RaftStorage;
  private readonly transport: RaftTransport;
  private readonly tickMs: number;
  private readonly maxFrameBytes: number;
  private readonly maxWaiting: number;
  private readonly timeoutMs: number;
  private readonly compactEvery: number;
  private readonly prefix: string;
  private seq = 0;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private badFrames = 0;
  private droppedFrames = 0;
  private snapshotsTooLarge = 0;
  private readonly maxInboxBytes: number;
  private inboxBytes = 0;
  /** Set while a Ready is being handled: the Ready loop never runs inside itself. */
  private draining = false;
  private stopped = false;
  private readonly inbox: Array<{ from: NodeId; frame: Uint8Array }> = [];
  /** Writes by request id; reads by their ctx, then by the index they wait for. */
  private readonly writes = new Map<string, Waiter>();
  private readonly reads = new Map<string, Waiter & { run: () => unknown; index: number | null }>();

  constructor(options: RegistryPeerOptions) {
    this.id = options.id;
    this.storage = options.storage;
    this.transport = options.transport;
    this.tickMs = options.tickMs ?? 100;
    this.maxFrameBytes = options.maxFrameBytes ?? 8 * 1024 * 1024;
    this.maxInboxBytes = options.maxInboxBytes ?? 2 * this.maxFrameBytes;
    this.maxWaiting = options.maxWaiting ?? 4096;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.compactEvery = options.compactEvery ?? 10_000;
    const random = options.random ?? Math.random;
    // Request ids must not repeat across restarts: the registry answers a repeated id from memory.
    this.prefix = `${this.id}.${Math.floor(random() * 2 ** 48).toString(36)}`;
    const state = this.storage.load();
    this.registry.restore(state.snapshot.data, state.snapshot.index);
    this.raft = new RaftNode({ ...options.raft, electionTicks: options.electionTicks ?? options.raft?.electionTicks, id: this.id, random, now: options.now ?? Date.now }, state);
  }

  start(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => {
      this.raft.tick();
      this.drain();
    }, this.tickMs);
  }

  /** Stops for good: no ticks, frames ignored; operations still waiting fail with `timeout` (their outcome is unknown). */
  stop(): void {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    const unknown = new RaftError('timeout', 'registry: the replica stopped before the answer came; the outcome is unknown');
    for (const w of [...this.writes.values(), ...this.reads.values()]) {
      clearTimeout(w.timer);
      w.reject(unknown);
    }
    this.writes.clear();
    this.reads.clear();
  }

  /** A frame from peer `from` (the transport adapter calls this). A bad frame is counted and dropped. */
  deliver(from: NodeId, frame: Uint8Array): void {
    if (this.stopped) return; // its storage may be closed already
    if (this.draining) {
      // A transport that delivers synchronously re-enters here from our own send: take it after this Ready.
      if (this.inbox.length < this.maxWaiting && this.inboxBytes + frame.byteLength <= this.maxInboxBytes) {
        this.inbox.push({ from, frame });
        this.inboxBytes += frame.byteLength;
      } else this.droppedFrames++;
      return;
    }
    this.stepFrame(from, frame);
    this.drain();
  }

  private stepFrame(from: NodeId, frame: Uint8Array): void {
    try {
      const m = decodeMessage(frame, this.maxFrameBytes);
      if (m.from !== from) throw new RaftError('bad-message', `raft: a frame from ${from} claims to be from ${m.from}`);
      this.raft.step(m);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      this.badFrames++;
    }
  }

  status(): PeerStatus {
    const r = this.raft;
    return { id: this.id, role: r.role, leader: r.leader, term: r.term, commit: r.commitIndex, applied: r.applied, voters: r.voters, badFrames: this.badFrames, droppedFrames: this.droppedFrames, snapshotsTooLarge: this.snapshotsTooLarge };
  }

  put(name: string, owner: string, value: string): Promise<RegistryResult> {
    return this.write({ op: 'put', name, owner, value });
  }
  delete(name: string): Promise<RegistryResult> {
    return this.write({ op: 'delete', name });
  }
  claim(name: string, owner: string, value: string, ttlMs: number): Promise<RegistryResult> {
    return this.write({ op: 'claim', name, owner, value, ttlMs });
  }
  release(name: string, owner: string): Promise<RegistryResult> {
    return this.write({ op: 'release', name, owner });
  }

  /** A linearizable read of one name (ReadIndex: the leader confirms it still leads first). */
  get(name: string): Promise<RegistryRecord | null> {
    return this.read(() => this.registry.get(name));
  }
  ls(prefix = '', limit = 1000): Promise<RegistryRecord[]> {
    return this.read(() => this.registry.ls(prefix, limit));
  }

  addVoter(id: NodeId): void {
    this.raft.proposeConfChange({ add: id });
    this.drain();
  }
  removeVoter(id: NodeId): void {
    this.raft.proposeConfChange({ remove: id });
    this.drain();
  }

  private write(command: RegistryCommand): Promise<RegistryResult> {
    const id = `${this.prefix}.${++this.seq}`;
    return this.wait(this.writes, id, () => this.raft.propose(encodeRequest({ id, command })));
  }

  private read<T>(run: () => T): Promise<T> {
    const ctx = `${this.prefix}.${++this.seq}`;
    return this.wait(this.reads as Map<string, Waiter>, ctx, () => this.raft.readIndex(ctx), { run, index: null });
  }

  private wait<T>(table: Map<string, Waiter>, key: string, submit: () => void, extra: object = {}): Promise<T> {
    if (this.stopped) return Promise.reject(new RaftError('timeout', 'registry: this replica is stopped'));
    if (this.writes.size + this.reads.size >= this.maxWaiting) {
      return Promise.reject(new RaftError('proposal-queue-full', `registry: ${this.maxWaiting} operations already wait on this replica`));
    }
    return new Promise<T>((resolve, reject) => {
      try {
        submit();
      } catch (e) {
        reject(e as Error);
        return;
      }
      const timer = setTimeout(() => {
        table.delete(key);
        reject(new RaftError('timeout', `registry: no answer within ${this.timeoutMs} ms; the outcome is unknown`));
      }, this.timeoutMs);
      table.set(key, { resolve: resolve as (v: never) => void, reject, timer, ...extra });
      this.drain();
    });
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      this.drainReady();
      for (let next = this.inbox.shift(); next; next = this.inbox.shift()) {
        this.inboxBytes -= next.frame.byteLength;
        this.stepFrame(next.from, next.frame);
        this.drainReady();
      }
    } finally {
      this.draining = false;
    }
  }

  private compact(): void {
    try {
      this.raft.compact(this.raft.applied, this.registry.snapshot());
    } catch (e) {
      // The registry's bounds keep its snapshot inside maxSnapshotBytes; if that ever fails, keep the log rather than stop.
      if (!(e instanceof RaftError) || e.code !== 'snapshot-too-large') throw e;
      this.snapshotsTooLarge++;
    }
  }

  private drainReady(): void {
    while (this.raft.hasReady()) {
      const rd = this.raft.ready();
      this.storage.persist(rd);
      for (const m of rd.messages) this.transport.send(m.to, encodeMessage(m));
      if (rd.snapshot) this.registry.restore(rd.snapshot.data, rd.snapshot.index);
      for (const e of rd.committedEntries) {
        const out = this.registry.apply(e);
        const w = out && this.writes.get(out.id);
        if (w) {
          this.writes.delete(out.id);
          clearTimeout(w.timer);
          w.resolve(out.result as never);
        }
      }
      this.raft.advance(rd);
      for (const r of rd.readStates) {
        const w = this.reads.get(r.ctx);
        if (w) w.index = r.index;
      }
      for (const [ctx, w] of this.reads) {
        if (w.index === null || this.registry.applied < w.index) continue;
        this.reads.delete(ctx);
        clearTimeout(w.timer);
        w.resolve(w.run() as never);
      }
      if (this.raft.applied - this.raft.snapshot.index >= this.compactEvery) this.compact();
    }
  }
}
