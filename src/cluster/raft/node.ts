// The Raft core: a pure, deterministic state machine in the etcd/raft style. It does no I/O and
// reads no clock of its own: the driver calls tick() at its own pace, step() for every message
// received, propose() and readIndex() for clients, and drains ready() (what to persist, send and
// apply) then calls advance(). Randomness (election timeouts) and the timestamp stamped on entries
// come from injected functions, so one seed replays one run exactly (test/cluster/raft-sim.test.ts).

import { RaftError } from './errors.js';
import type { Entry, HardState, Message, MessageType, NodeId, PersistedState, ReadState, Ready, Role, Snapshot } from './types.js';
import { EMPTY_HARD_STATE, MAX_COUNTER } from './types.js';

export interface RaftOptions {
  readonly id: NodeId;
  /** Ticks without hearing a leader before a follower campaigns (randomized in [n, 2n)). */
  readonly electionTicks?: number;
  /** Ticks between a leader's heartbeats. */
  readonly heartbeatTicks?: number;
  /** A source of numbers in [0, 1): seeded in simulation. */
  readonly random: () => number;
  /** The time stamped on entries this node appends as leader (ms, any epoch; need not be monotonic). */
  readonly now: () => number;
  /** Ask for votes only after a pre-vote round shows the node could win (default true). */
  readonly preVote?: boolean;
  /** A leader that has not heard from a quorum within an election timeout steps down (default true). */
  readonly checkQuorum?: boolean;
  /** Proposals held while no leader is known (default 256). */
  readonly maxPendingProposals?: number;
  /** Reads waiting for the leader's heartbeat round (default 1024). */
  readonly maxPendingReads?: number;
  /** Append messages in flight to one follower before the leader waits for acknowledgements (default 64). */
  readonly maxInflightAppends?: number;
  /** One entry's data (default 1 MiB). */
  readonly maxEntryBytes?: number;
  /** Entry data in one append message (default 4 MiB): more entries go in the next message. */
  readonly maxMessageBytes?: number;
  /** Entry data a leader holds uncommitted before refusing proposals (default 16 MiB). */
  readonly maxUncommittedBytes?: number;
  /** A snapshot's data (default 7 MiB): it is sent whole, so it must fit one frame. */
  readonly maxSnapshotBytes?: number;
  /** Test-only: break one rule of Raft so the simulation can show it notices (never set in a real node). */
  readonly faults?: RaftFaults;
}

/** Rules the simulation's mutation check breaks on purpose. */
export interface RaftFaults {
  /** Count replicas of an entry of an earlier term to commit it (Raft commits only current-term entries so). */
  readonly commitPreviousTerm?: boolean;
  /** Grant every vote request, even after voting for another candidate in the same term. */
  readonly doubleVote?: boolean;
  /** Grant a vote without checking that the candidate's log is at least as up to date as this one. */
  readonly voteForStaleLog?: boolean;
}

type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** What a leader knows of one follower's log. */
class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: an append is out and unanswered, so wait (a heartbeat response clears it). */
  probeSent = false;
  /** In replicate: the last index of each append in flight, oldest first. */
  inflight: number[] = [];
  /** In snapshot: the snapshot's index, and ticks since it was sent (retry after an election timeout). */
  pendingSnapshot = 0;
  snapshotElapsed = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  constructor(next: number) {
    this.next = next;
  }
}

interface PendingRead {
  readonly key: string;
  readonly index: number;
  /** Who asked: this node (answered as a ReadState) or a follower (answered with read-index-resp). */
  readonly from: NodeId;
  readonly ctx: string;
  readonly acks: Set<NodeId>;
}

/** A fresh message with every field at its zero. */
function msg(fields: Partial<Message> & { type: MessageType; from: NodeId; to: NodeId }): Message {
  return {
    term: 0,
    index: 0,
    logTerm: 0,
    commit: 0,
    reject: false,
    rejectHint: 0,
    entries: [],
    snapshot: null,
    ctx: '',
    ...fields,
  };
}

const EMPTY = new Uint8Array(0);

export class RaftNode {
  readonly id: NodeId;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxPendingProposals: number;
  private readonly maxPendingReads: number;
  private readonly maxInflight: number;
  private readonly maxEntryBytes: number;
  private readonly maxMessageBytes: number;
  private readonly maxUncommittedBytes: number;
  private readonly maxSnapshotBytes: number;
  private readonly faults: RaftFaults;

  // Persistent state (HardState) and the log: the snapshot, then entries[k] at index snapshot.index + 1 + k.
  private _term = 0;
  private _ignored = 0;
  private _vote: NodeId | null = null;
  private _commit = 0;
  private snap: Snapshot;
  private log: Entry[] = [];
  /** Indexes of config entries in `log`, ascending: the last one is the voter set in effect. */
  private confIndexes: number[] = [];
  private _voters: readonly NodeId[];

  // Volatile state.
  private _role: Role = 'follower';
  private _leader: NodeId | null = null;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedTimeout = 0;
  private votes = new Map<NodeId, boolean>();
  private progress = new Map<NodeId, Progress>();
  private uncommittedBytes = 0;
  private pendingProposals: Array<{ type: 'normal'; data: Uint8Array }> = [];
  private pendingReads: PendingRead[] = [];
  /** Reads asked of a leader before it committed an entry of its term: confirmed once it has. */
  private readsAwaitingTermCommit: Array<{ from: NodeId; ctx: string }> = [];
  private readSeq = 0;

  // What the driver has been handed.
  private outbox: Message[] = [];
  private readStates: ReadState[] = [];
  private unstableFrom: number;
  private persisted: HardState;
  private receivedSnapshot: Snapshot | null = null;
  private compaction: Snapshot | null = null;
  private _applied: number;
  private handedOut: number;

  constructor(options: RaftOptions, state: PersistedState) {
    this.id = options.id;
    this.electionTicks = options.electionTicks ?? 10;
    this.heartbeatTicks = options.heartbeatTicks ?? 1;
    if (this.heartbeatTicks >= this.electionTicks) throw new RangeError('raft: heartbeatTicks must be below electionTicks');
    this.random = options.random;
    this.now = options.now;
    this.preVote = options.preVote ?? true;
    this.checkQuorum = options.checkQuorum ?? true;
    this.maxPendingProposals = options.maxPendingProposals ?? 256;
    this.maxPendingReads = options.maxPendingReads ?? 1024;
    this.maxInflight = options.maxInflightAppends ?? 64;
    this.maxEntryBytes = options.maxEntryBytes ?? 1024 * 1024;
    this.maxMessageBytes = options.maxMessageBytes ?? 4 * 1024 * 1024;
    this.maxUncommittedBytes = options.maxUncommittedBytes ?? 16 * 1024 * 1024;
    this.maxSnapshotBytes = options.maxSnapshotBytes ?? 7 * 1024 * 1024;
    this.faults = options.faults ?? {};

    this.snap = state.snapshot;
    this.log = [...state.entries];
    this.recomputeConfig();
    this._voters = this.votersNow();
    const hs = state.hardState ?? EMPTY_HARD_STATE;
    this._term = hs.term;
    this._vote = hs.vote;
    this._commit = Math.min(Math.max(hs.commit, this.snap.index), this.lastIndex());
    this.persisted = { term: this._term, vote: this._vote, commit: this._commit };
    this.unstableFrom = this.lastIndex() + 1;
    this._applied = this.snap.index;
    this.handedOut = this.snap.index;
    this.becomeFollower(this._term, null);
  }

  // ---- What the driver and tests may read ----

  get term(): number {
    return this._term;
  }
  get vote(): NodeId | null {
    return this._vote;
  }
  get role(): Role {
    return this._role;
  }
  get leader(): NodeId | null {
    return this._leader;
  }
  get commitIndex(): number {
    return this._commit;
  }
  get applied(): number {
    return this._applied;
  }
  /** Messages ignored because their sender is not a voter of this node's configuration. */
  get ignored(): number {
    return this._ignored;
  }
  get voters(): readonly NodeId[] {
    return this._voters;
  }
  /** The latest snapshot (received, compacted or the one the node started from). */
  get snapshot(): Snapshot {
    return this.snap;
  }
  firstIndex(): number {
    return this.snap.index + 1;
  }
  lastIndex(): number {
    return this.snap.index + this.log.length;
  }
  /** The term of the entry at `index`, or undefined when it is compacted away or beyond the log. */
  termAt(index: number): number | undefined {
    if (index === this.snap.index) return this.snap.term;
    if (index < this.snap.index || index > this.lastIndex()) return undefined;
    return this.log[index - this.snap.index - 1]!.term;
  }
  /** The entry at `index` if the log still holds it. */
  entryAt(index: number): Entry | undefined {
    if (index <= this.snap.index || index > this.lastIndex()) return undefined;
    return this.log[index - this.snap.index - 1];
  }

  // ---- Inputs ----

  /** One unit of logical time. Drivers call it at a steady rate; nodes may tick at different rates. */
  tick(): void {
    if (this._role === 'leader') {
      this.heartbeatElapsed++;
      this.electionElapsed++;
      for (const [id, pr] of this.progress) {
        if (id !== this.id && pr.state === 'snapshot' && ++pr.snapshotElapsed >= this.electionTicks) this.becomeProbe(pr);
      }
      if (this.electionElapsed >= this.electionTicks) {
        this.electionElapsed = 0;
        if (this.checkQuorum && !this.quorumActive()) {
          this.becomeFollower(this._term, null);
          return;
        }
        for (const [id, pr] of this.progress) pr.recentActive = id === this.id;
      }
      if (this._role === 'leader' && this.heartbeatElapsed >= this.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat(this.pendingReads.at(-1)?.key ?? '');
      }
      return;
    }
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.preVote ? 'pre-vote' : 'vote');
    }
  }

  /**
   * Proposes `data` for the log. On the leader it is appended now; on a follower it is forwarded to
   * the leader it knows; with no leader known it waits (bounded) until one is. The outcome is known
   * only by applying: put an id in `data` and watch the committed entries for it.
   */
  propose(data: Uint8Array): void {
    if (data.byteLength > this.maxEntryBytes) {
      throw new RaftError('entry-too-large', `raft: an entry of ${data.byteLength} bytes is larger than the ${this.maxEntryBytes} allowed`);
    }
    if (this._role === 'leader') {
      this.appendAsLeader([{ type: 'normal', data, voters: [] }]);
      this.broadcastAppend();
    } else if (this._leader !== null) {
      this.send(msg({ type: 'propose', from: this.id, to: this._leader, entries: [this.forwardedEntry(data)] }));
    } else {
      if (this.pendingProposals.length >= this.maxPendingProposals) {
        throw new RaftError('proposal-queue-full', `raft: ${this.maxPendingProposals} proposals already wait for a leader`);
      }
      this.pendingProposals.push({ type: 'normal', data });
    }
  }

  /**
   * Adds or removes one voter (single-server changes, one at a time, effective when appended). Only
   * on the leader, and only once the previous change and an entry of the leader's term are committed.
   */
  proposeConfChange(change: { readonly add?: NodeId; readonly remove?: NodeId }): void {
    if (this._role !== 'leader') {
      throw new RaftError('not-leader', `raft: membership changes go to the leader (${this._leader ?? 'none known'})`, this._leader);
    }
    const lastConf = this.confIndexes.at(-1) ?? 0;
    if (lastConf > this._commit || this.termAt(this._commit) !== this._term) {
      throw new RaftError('conf-change-pending', 'raft: a membership change is not yet committed (or this leader has committed nothing of its term)');
    }
    const voters = new Set(this._voters);
    if (change.add !== undefined && change.remove !== undefined) {
      throw new RaftError('bad-conf-change', 'raft: one membership change at a time: add or remove, not both');
    }
    if (change.add !== undefined) {
      if (voters.has(change.add)) throw new RaftError('bad-conf-change', `raft: ${change.add} is already a voter`);
      voters.add(change.add);
    } else if (change.remove !== undefined) {
      if (!voters.has(change.remove)) throw new RaftError('bad-conf-change', `raft: ${change.remove} is not a voter`);
      if (voters.size === 1) throw new RaftError('bad-conf-change', 'raft: the last voter cannot be removed');
      voters.delete(change.remove);
    } else {
      throw new RaftError('bad-conf-change', 'raft: a membership change names a node to add or remove');
    }
    this.appendAsLeader([{ type: 'config', data: EMPTY, voters: [...voters].sort() }]);
    this.broadcastAppend();
  }

  /**
   * Asks for a linearizable read point: a ReadState with `ctx` comes out of ready() once the leader
   * has confirmed with a quorum that it still leads; the read is answered when that index is applied.
   * Forwarded to the leader from a follower; refused when no leader is known.
   */
  readIndex(ctx: string): void {
    if (this._role === 'leader') {
      this.leaderRead(this.id, ctx);
    } else if (this._leader !== null) {
      this.send(msg({ type: 'read-index', from: this.id, to: this._leader, ctx }));
    } else {
      throw new RaftError('no-leader', 'raft: no leader is known to confirm a read; retry');
    }
  }

  /** Takes one message from a peer. A malformed one throws `bad-message` and changes nothing. */
  step(m: Message): void {
    validateMessage(m, this.maxMessageBytes, this.maxEntryBytes, this.maxSnapshotBytes);
    if (m.to !== this.id) throw new RaftError('bad-message', `raft: a message for ${m.to} reached ${this.id}`);
    if (!this.mayHear(m)) {
      // Not malformed (a removed voter's late answer is normal while membership changes): ignored, counted.
      this._ignored++;
      return;
    }

    if (m.type === 'propose' || m.type === 'read-index') {
      this.stepForwarded(m);
      return;
    }
    if (m.term > this._term) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        // Within a lease (a leader heard from recently) a node ignores candidates: with check-quorum,
        // this keeps a node that was partitioned away from deposing a healthy leader.
        const inLease = this.checkQuorum && this._leader !== null && this.electionElapsed < this.electionTicks;
        if (inLease) return;
      }
      if (m.type === 'pre-vote' || (m.type === 'pre-vote-resp' && !m.reject)) {
        // A pre-vote asks about a term nobody has entered yet: it changes no term.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this._term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'append')) {
        // A stale leader hears our term and steps down, instead of being ignored forever.
        this.send(msg({ type: 'append-resp', from: this.id, to: m.from, term: this._term }));
      } else if (m.type === 'pre-vote') {
        this.send(msg({ type: 'pre-vote-resp', from: this.id, to: m.from, term: this._term, reject: true }));
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'pre-vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this._role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  /**
   * Whether a message's sender counts here: a voter of the configuration this node holds, or the
   * leader that a node which is not a voter (a new one, learning the configuration from the log, or
   * one removed) follows, or the leader this node already follows in this term (a leader that
   * removed itself leads until that change commits). Anyone else could only raise terms, win
   * votes or write entries it has no right to.
   */
  private mayHear(m: Message): boolean {
    if (this._voters.includes(m.from)) return true;
    const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' || m.type === 'read-index-resp';
    if (!fromLeader) return false;
    if (m.term === this._term && this._leader === m.from) return true;
    return !this._voters.includes(this.id) && m.term >= this._term;
  }

  /**
   * Compacts the log up to `index` (at most what is applied), with `data` the state machine's state
   * there. The snapshot comes out of the next ready() as `compaction`, to persist.
   */
  compact(index: number, data: Uint8Array): void {
    if (index <= this.snap.index) return;
    if (index > this._applied) throw new RangeError(`raft: cannot compact to ${index}, beyond what is applied (${this._applied})`);
    if (data.byteLength > this.maxSnapshotBytes) {
      throw new RaftError('snapshot-too-large', `raft: a snapshot of ${data.byteLength} bytes (at most ${this.maxSnapshotBytes}: it is sent whole); the log is not compacted`);
    }
    const voters = this.votersAt(index);
    const term = this.termAt(index)!;
    this.log = this.log.slice(index - this.snap.index);
    this.snap = { index, term, voters, data };
    this.confIndexes = this.confIndexes.filter((i) => i > index);
    this.compaction = this.snap;
  }

  // ---- Output ----

  hasReady(): boolean {
    return (
      this.outbox.length > 0 ||
      this.readStates.length > 0 ||
      this.unstableFrom <= this.lastIndex() ||
      this.receivedSnapshot !== null ||
      this.compaction !== null ||
      this._commit > this.handedOut ||
      !sameHardState(this.persisted, this.hardState())
    );
  }

  /** Hands out everything pending (see Ready for the order); call advance(ready) when done. */
  ready(): Ready {
    const hs = this.hardState();
    const changed = !sameHardState(this.persisted, hs);
    const entries = this.unstableFrom <= this.lastIndex() ? this.log.slice(this.unstableFrom - this.snap.index - 1) : [];
    const committed: Entry[] = [];
    const from = Math.max(this.handedOut, this.snap.index) + 1;
    for (let i = from; i <= this._commit; i++) committed.push(this.entryAt(i)!);
    const rd: Ready = {
      hardState: changed ? hs : null,
      entries,
      snapshot: this.receivedSnapshot,
      compaction: this.compaction,
      messages: this.outbox,
      committedEntries: committed,
      readStates: this.readStates,
    };
    this.persisted = hs;
    this.unstableFrom = this.lastIndex() + 1;
    this.receivedSnapshot = null;
    this.compaction = null;
    this.outbox = [];
    this.readStates = [];
    if (committed.length > 0) this.handedOut = committed.at(-1)!.index;
    if (rd.snapshot) this.handedOut = Math.max(this.handedOut, rd.snapshot.index);
    return rd;
  }

  /** The driver persisted, sent and applied `rd`. */
  advance(rd: Ready): void {
    if (rd.snapshot) this._applied = Math.max(this._applied, rd.snapshot.index);
    const last = rd.committedEntries.at(-1);
    if (last) this._applied = Math.max(this._applied, last.index);
  }

  // ---- Roles ----

  private hardState(): HardState {
    return { term: this._term, vote: this._vote, commit: this._commit };
  }

  private reset(term: number): void {
    if (term !== this._term) {
      this._term = term;
      this._vote = null;
    }
    this._leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedTimeout = this.electionTicks + Math.floor(this.random() * this.electionTicks);
    this.votes.clear();
    this.progress.clear();
    this.uncommittedBytes = 0;
    this.pendingReads = [];
    this.readsAwaitingTermCommit = [];
  }

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this._role = 'follower';
    this._leader = leader;
    if (leader !== null) this.flushPendingProposals();
  }

  private becomePreCandidate(): void {
    // Term and vote stay: a pre-vote round changes nothing a real election would see.
    this._role = 'pre-candidate';
    this._leader = null;
    this.votes.clear();
  }

  private becomeCandidate(): void {
    this.reset(this._term + 1);
    this._role = 'candidate';
    this._vote = this.id;
  }

  private becomeLeader(): void {
    this.reset(this._term);
    this._role = 'leader';
    this._leader = this.id;
    for (const v of this._voters) this.progress.set(v, new Progress(this.lastIndex() + 1));
    const self = this.progress.get(this.id);
    if (self) {
      self.match = this.lastIndex();
      self.recentActive = true;
    }
    // An empty entry of the new term: committing it commits everything before it (and lets reads through).
    this.appendAsLeader([{ type: 'normal', data: EMPTY, voters: [] }]);
    this.flushPendingProposals();
  }

  private promotable(): boolean {
    return this._voters.includes(this.id);
  }

  private campaign(kind: 'pre-vote' | 'vote'): void {
    if (kind === 'pre-vote') this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = kind === 'pre-vote' ? this._term + 1 : this._term;
    this.votes.set(this.id, true);
    if (this.tally().granted >= this.quorum()) {
      // A cluster of one wins at once.
      if (kind === 'pre-vote') this.campaign('vote');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.lastIndex();
    const logTerm = this.termAt(lastIndex)!;
    for (const v of this._voters) {
      if (v === this.id) continue;
      this.send(msg({ type: kind, from: this.id, to: v, term: voteTerm, index: lastIndex, logTerm }));
    }
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this._vote === m.from ||
      (this._vote === null && this._leader === null) ||
      (m.type === 'pre-vote' && m.term > this._term) ||
      (m.type === 'vote' && this.faults.doubleVote === true);
    const respType = m.type === 'vote' ? 'vote-resp' : 'pre-vote-resp';
    if (canVote && (this.isUpToDate(m.index, m.logTerm) || this.faults.voteForStaleLog === true)) {
      this.send(msg({ type: respType, from: this.id, to: m.from, term: m.term }));
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this._vote = m.from;
      }
    } else {
      this.send(msg({ type: respType, from: this.id, to: m.from, term: this._term, reject: true }));
    }
  }

  private isUpToDate(index: number, term: number): boolean {
    const lastTerm = this.termAt(this.lastIndex())!;
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex());
  }

  private tally(): { granted: number; rejected: number } {
    let granted = 0;
    let rejected = 0;
    for (const v of this._voters) {
      const g = this.votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    return { granted, rejected };
  }

  private quorum(): number {
    return Math.floor(this._voters.length / 2) + 1;
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this._voters) {
      if (v === this.id || this.progress.get(v)?.recentActive) active++;
    }
    return active >= this.quorum();
  }

  // ---- Steps by role ----

  private stepCandidate(m: Message): void {
    const myResp = this._role === 'pre-candidate' ? 'pre-vote-resp' : 'vote-resp';
    switch (m.type) {
      case 'append':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'vote-resp':
      case 'pre-vote-resp': {
        if (m.type !== myResp) return;
        if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
        const { granted, rejected } = this.tally();
        if (granted >= this.quorum()) {
          if (this._role === 'pre-candidate') this.campaign('vote');
          else {
            this.becomeLeader();
            this.broadcastAppend();
          }
        } else if (rejected >= this.quorum()) {
          this.becomeFollower(this._term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.setLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.setLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.setLeader(m.from);
        this.handleSnapshot(m);
        return;
      case 'read-index-resp':
        this.readStates.push({ index: m.index, ctx: m.ctx });
        return;
      default:
        return;
    }
  }

  private setLeader(leader: NodeId): void {
    if (this._leader === leader) return;
    this._leader = leader;
    this.flushPendingProposals();
  }

  /** Proposals and reads forwarded by followers: handled by a leader, passed on by a follower that knows one. */
  private stepForwarded(m: Message): void {
    if (this._role === 'leader') {
      if (m.type === 'propose') {
        const entries = m.entries.filter((e) => e.type === 'normal');
        if (entries.length === 0) return;
        try {
          this.appendAsLeader(entries.map((e) => ({ type: 'normal' as const, data: e.data, voters: [] })));
        } catch (e) {
          if (e instanceof RaftError) return; // the proposer learns nothing: its client times out, as for a lost message
          throw e;
        }
        this.broadcastAppend();
      } else {
        try {
          this.leaderRead(m.from, m.ctx);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
      return;
    }
    // A proposal passes on to the leader; a read does not (its answer would come back to this node).
    if (m.type === 'propose' && this._leader !== null && this._leader !== m.from) this.send({ ...m, to: this._leader, from: this.id });
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr || m.from === this.id) return;
    switch (m.type) {
      case 'append-resp':
        pr.recentActive = true;
        this.handleAppendResp(m, pr);
        return;
      case 'heartbeat-resp':
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.inflight.length >= this.maxInflight) pr.inflight.shift();
        if (pr.match < this.lastIndex()) this.sendAppend(m.from, true);
        if (m.ctx !== '') this.ackRead(m.from, m.ctx);
        return;
      default:
        return;
    }
  }

  // ---- Replication, leader side ----

  private handleAppendResp(m: Message, pr: Progress): void {
    if (m.reject) {
      // Conflict backtracking: jump to the follower's hint, then past every entry of a term the
      // follower's log at the hint does not have, instead of one index per round trip.
      let next = m.rejectHint;
      if (m.logTerm > 0) next = this.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (this.maybeDecrTo(pr, m.index, next)) {
        if (pr.state === 'replicate') this.becomeProbe(pr);
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = this.paused(pr);
    if (!this.maybeUpdate(pr, m.index)) return;
    if (pr.state === 'probe') this.becomeReplicate(pr);
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) this.becomeReplicate(pr);
    else if (pr.state === 'replicate') {
      while (pr.inflight.length > 0 && pr.inflight[0]! <= m.index) pr.inflight.shift();
    }
    if (this.maybeCommit()) this.broadcastAppend();
    else if (wasPaused) this.sendAppend(m.from, false);
    // Keep sending while there is more and the window allows.
    while (this._role === 'leader' && pr.next <= this.lastIndex() && !this.paused(pr)) {
      if (!this.sendAppend(m.from, false)) break;
    }
  }

  private maybeUpdate(pr: Progress, claimed: number): boolean {
    const index = Math.min(claimed, this.lastIndex()); // a follower cannot hold more than was sent
    let updated = false;
    if (pr.match < index) {
      pr.match = index;
      updated = true;
      pr.probeSent = false;
    }
    pr.next = Math.max(pr.next, index + 1);
    return updated;
  }

  /** A rejection of the append after `rejected`: true if it was not stale and `next` moved back. */
  private maybeDecrTo(pr: Progress, rejected: number, hint: number): boolean {
    if (pr.state === 'replicate') {
      if (rejected <= pr.match) return false;
      pr.next = pr.match + 1;
      return true;
    }
    if (pr.next - 1 !== rejected) return false;
    pr.next = Math.max(Math.min(rejected, hint + 1), pr.match + 1, 1);
    pr.probeSent = false;
    return true;
  }

  private becomeProbe(pr: Progress): void {
    pr.next = pr.state === 'snapshot' ? Math.max(pr.match + 1, pr.pendingSnapshot + 1) : pr.match + 1;
    pr.state = 'probe';
    pr.probeSent = false;
    pr.inflight = [];
    pr.pendingSnapshot = 0;
  }

  private becomeReplicate(pr: Progress): void {
    pr.state = 'replicate';
    pr.next = pr.match + 1;
    pr.inflight = [];
    pr.pendingSnapshot = 0;
  }

  private paused(pr: Progress): boolean {
    switch (pr.state) {
      case 'probe':
        return pr.probeSent;
      case 'replicate':
        return pr.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  /** Sends `to` what it lacks (or a snapshot when that is compacted away). False if nothing was sent. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || to === this.id || this.paused(pr)) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.termAt(prevIndex);
    if (prevTerm === undefined) {
      // What the follower needs is compacted away: send the snapshot.
      pr.state = 'snapshot';
      pr.pendingSnapshot = this.snap.index;
      pr.snapshotElapsed = 0;
      pr.inflight = [];
      this.send(msg({ type: 'snapshot', from: this.id, to, term: this._term, snapshot: this.snap }));
      return true;
    }
    const entries: Entry[] = [];
    let bytes = 0;
    for (let i = pr.next; i <= this.lastIndex(); i++) {
      const e = this.entryAt(i)!;
      if (entries.length > 0 && bytes + entrySize(e) > this.maxMessageBytes) break;
      entries.push(e);
      bytes += entrySize(e);
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send(msg({ type: 'append', from: this.id, to, term: this._term, index: prevIndex, logTerm: prevTerm, entries, commit: this._commit }));
    if (entries.length > 0) {
      const last = entries.at(-1)!.index;
      if (pr.state === 'replicate') {
        pr.next = last + 1;
        pr.inflight.push(last);
      } else {
        pr.probeSent = true;
      }
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private broadcastHeartbeat(ctx: string): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this._commit);
      this.send(msg({ type: 'heartbeat', from: this.id, to: id, term: this._term, commit, ctx }));
    }
  }

  private appendAsLeader(entries: ReadonlyArray<{ type: Entry['type']; data: Uint8Array; voters: readonly NodeId[] }>): void {
    let bytes = 0;
    for (const e of entries) bytes += e.data.byteLength;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.maxUncommittedBytes) {
      throw new RaftError(
        'uncommitted-log-full',
        `raft: the leader holds ${this.uncommittedBytes} bytes not yet committed (at most ${this.maxUncommittedBytes}): followers lag, retry later`,
      );
    }
    const time = this.now();
    let index = this.lastIndex();
    const appended: Entry[] = entries.map((e) => ({ index: ++index, term: this._term, type: e.type, data: e.data, voters: e.voters, time }));
    this.uncommittedBytes += bytes;
    this.appendToLog(appended);
    const self = this.progress.get(this.id);
    if (self) self.match = this.lastIndex();
    this.maybeCommit();
  }

  /** Moves the commit index to what a quorum holds, only for an entry of this term. */
  private maybeCommit(): boolean {
    const matches = this._voters.map((v) => (v === this.id ? this.lastIndex() : this.progress.get(v)?.match ?? 0)).sort((a, b) => b - a);
    const candidate = matches[this.quorum() - 1] ?? 0;
    if (candidate <= this._commit) return false;
    // Counting replicas commits only an entry of the current term (Raft §5.4.2); earlier ones come with it.
    if (this.termAt(candidate) !== this._term && !this.faults.commitPreviousTerm) return false;
    this.commitTo(candidate);
    return true;
  }

  private commitTo(index: number): void {
    const target = Math.min(index, this.lastIndex());
    if (target <= this._commit) return;
    if (this._role === 'leader') {
      for (let i = this._commit + 1; i <= target; i++) this.uncommittedBytes -= this.entryAt(i)?.data.byteLength ?? 0;
      if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
    }
    const hadTermCommit = this.termAt(this._commit) === this._term;
    this._commit = target;
    if (this._role !== 'leader') return;
    if (!hadTermCommit && this.termAt(this._commit) === this._term) {
      const waiting = this.readsAwaitingTermCommit;
      this.readsAwaitingTermCommit = [];
      for (const r of waiting) this.leaderRead(r.from, r.ctx);
    }
    // A leader the committed configuration leaves out steps down once followers hear of the commit.
    const lastConf = this.confIndexes.at(-1) ?? 0;
    if (!this._voters.includes(this.id) && lastConf <= this._commit) {
      this.broadcastAppend();
      this.becomeFollower(this._term, null);
    }
  }

  // ---- Replication, follower side ----

  private handleAppend(m: Message): void {
    if (m.index < this._commit) {
      this.send(msg({ type: 'append-resp', from: this.id, to: m.from, term: this._term, index: this._commit }));
      return;
    }
    if (this.termAt(m.index) === m.logTerm) {
      const lastNew = m.index + m.entries.length;
      let conflictAt = -1;
      for (const e of m.entries) {
        if (this.termAt(e.index) !== e.term) {
          conflictAt = e.index;
          break;
        }
      }
      if (conflictAt !== -1) {
        if (conflictAt <= this._commit) {
          throw new Error(`raft: ${this.id}: an append would overwrite committed entry ${conflictAt} (commit ${this._commit})`);
        }
        this.appendToLog(m.entries.slice(conflictAt - m.index - 1));
      }
      this.commitTo(Math.min(m.commit, lastNew));
      this.send(msg({ type: 'append-resp', from: this.id, to: m.from, term: this._term, index: lastNew }));
      return;
    }
    const hint = this.findConflictByTerm(Math.min(m.index, this.lastIndex()), m.logTerm);
    this.send(
      msg({ type: 'append-resp', from: this.id, to: m.from, term: this._term, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }),
    );
  }

  /** The last index at or below `index` whose term is at most `term` (where a log could next agree). */
  private findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snap.index) {
      const t = this.termAt(i)!;
      if (t <= term) return { index: i, term: t };
      i--;
    }
    return { index: i, term: this.termAt(i) ?? 0 };
  }

  private handleHeartbeat(m: Message): void {
    this.commitTo(m.commit);
    this.send(msg({ type: 'heartbeat-resp', from: this.id, to: m.from, term: this._term, ctx: m.ctx }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot!;
    if (this.restore(s)) {
      this.send(msg({ type: 'append-resp', from: this.id, to: m.from, term: this._term, index: this.lastIndex() }));
    } else {
      this.send(msg({ type: 'append-resp', from: this.id, to: m.from, term: this._term, index: this._commit }));
    }
  }

  private restore(s: Snapshot): boolean {
    if (s.index <= this._commit) return false;
    if (this.termAt(s.index) === s.term) {
      // The log already has it: only the commit index moves.
      this.commitTo(s.index);
      return false;
    }
    this.snap = s;
    this.log = [];
    this.confIndexes = [];
    this._voters = [...s.voters];
    this._commit = s.index;
    this.unstableFrom = s.index + 1;
    this.receivedSnapshot = s;
    return true;
  }

  // ---- The log ----

  /** Appends entries, first truncating the log from entries[0].index (a follower's conflict). */
  private appendToLog(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const keep = first - this.snap.index - 1;
    if (keep < this.log.length) {
      this.log.length = keep;
      this.unstableFrom = Math.min(this.unstableFrom, first);
      while (this.confIndexes.length > 0 && this.confIndexes.at(-1)! >= first) this.confIndexes.pop();
    }
    for (const e of entries) {
      this.log.push(e);
      if (e.type === 'config') this.confIndexes.push(e.index);
    }
    this.applyConfig(this.votersNow());
  }

  private recomputeConfig(): void {
    this.confIndexes = this.log.filter((e) => e.type === 'config').map((e) => e.index);
  }

  private votersNow(): readonly NodeId[] {
    const last = this.confIndexes.at(-1);
    return last === undefined ? [...this.snap.voters] : [...this.entryAt(last)!.voters];
  }

  private votersAt(index: number): readonly NodeId[] {
    let found: number | undefined;
    for (const i of this.confIndexes) if (i <= index) found = i;
    return found === undefined ? [...this.snap.voters] : [...this.entryAt(found)!.voters];
  }

  /** A new voter set, effective now: the leader tracks new voters and forgets removed ones. */
  private applyConfig(voters: readonly NodeId[]): void {
    if (sameList(voters, this._voters)) return;
    this._voters = voters;
    if (this._role !== 'leader') return;
    for (const v of voters) {
      if (!this.progress.has(v)) {
        const pr = new Progress(this.lastIndex() + 1);
        pr.recentActive = true; // a newcomer gets an election timeout before it counts as silent
        this.progress.set(v, pr);
      }
    }
    for (const id of [...this.progress.keys()]) if (!voters.includes(id)) this.progress.delete(id);
    if (!this.progress.has(this.id)) {
      // A leader that removes itself still tracks its own log until the change commits.
      const self = new Progress(this.lastIndex() + 1);
      self.match = this.lastIndex();
      this.progress.set(this.id, self);
    }
  }

  // ---- Reads ----

  private leaderRead(from: NodeId, ctx: string): void {
    if (this.pendingReads.length + this.readsAwaitingTermCommit.length >= this.maxPendingReads) {
      throw new RaftError('read-queue-full', `raft: ${this.maxPendingReads} reads already wait for the leader's confirmation`);
    }
    if (this.termAt(this._commit) !== this._term) {
      // Until an entry of its term commits, the leader's commit index may be behind what an earlier
      // leader committed: a read point must wait for that.
      this.readsAwaitingTermCommit.push({ from, ctx });
      return;
    }
    if (this._voters.length === 1 && this._voters[0] === this.id) {
      this.answerRead({ key: '', index: this._commit, from, ctx, acks: new Set() });
      return;
    }
    const key = `${this._term}.${++this.readSeq}`;
    this.pendingReads.push({ key, index: this._commit, from, ctx, acks: new Set([this.id]) });
    this.broadcastHeartbeat(key);
  }

  /** A follower answered a heartbeat sent after read `key` was asked: that confirms it and every earlier read. */
  private ackRead(from: NodeId, key: string): void {
    const at = this.pendingReads.findIndex((r) => r.key === key);
    if (at === -1) return;
    for (let i = 0; i <= at; i++) this.pendingReads[i]!.acks.add(from);
    while (this.pendingReads.length > 0) {
      const r = this.pendingReads[0]!;
      let acks = 0;
      for (const v of this._voters) if (r.acks.has(v)) acks++;
      if (acks < this.quorum()) break;
      this.pendingReads.shift();
      this.answerRead(r);
    }
  }

  private answerRead(r: PendingRead): void {
    if (r.from === this.id) this.readStates.push({ index: r.index, ctx: r.ctx });
    else this.send(msg({ type: 'read-index-resp', from: this.id, to: r.from, term: this._term, index: r.index, ctx: r.ctx }));
  }

  // ---- Plumbing ----

  private flushPendingProposals(): void {
    if (this.pendingProposals.length === 0 || this._leader === null) return;
    const pending = this.pendingProposals;
    this.pendingProposals = [];
    if (this._role === 'leader') {
      try {
        this.appendAsLeader(pending.map((p) => ({ type: p.type, data: p.data, voters: [] })));
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
      }
      return;
    }
    // As many messages as maxMessageBytes asks for (a single entry always fits: maxEntryBytes bounds it).
    let batch: Entry[] = [];
    let bytes = 0;
    for (const p of pending) {
      if (batch.length > 0 && bytes + ENTRY_OVERHEAD + p.data.byteLength > this.maxMessageBytes) {
        this.send(msg({ type: 'propose', from: this.id, to: this._leader, entries: batch }));
        batch = [];
        bytes = 0;
      }
      batch.push(this.forwardedEntry(p.data));
      bytes += ENTRY_OVERHEAD + p.data.byteLength;
    }
    this.send(msg({ type: 'propose', from: this.id, to: this._leader, entries: batch }));
  }

  private forwardedEntry(data: Uint8Array): Entry {
    return { index: 0, term: 0, type: 'normal', data, voters: [], time: 0 };
  }

  private send(m: Message): void {
    this.outbox.push(m);
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** What an entry counts for in maxMessageBytes: its data and its encoded fields, so empty entries count too. */
const ENTRY_OVERHEAD = 32;
function entrySize(e: Entry): number {
  return ENTRY_OVERHEAD + e.data.byteLength + e.voters.length * 64;
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= MAX_COUNTER;

/** Refuses a message a correct peer never sends: a hostile one must not corrupt the log or the node. */
export function validateMessage(m: Message, maxMessageBytes: number, maxEntryBytes: number, maxSnapshotBytes: number): void {
  const bad = (why: string): never => {
    throw new RaftError('bad-message', `raft: ${m.type ?? 'a'} message from ${String(m.from)}: ${why}`);
  };
  if (!isCount(m.term) || !isCount(m.index) || !isCount(m.logTerm) || !isCount(m.commit) || !isCount(m.rejectHint)) bad(`a counter is not an integer from 0 to ${MAX_COUNTER}`);
  let bytes = 0;
  let expect = m.index + 1;
  for (const e of m.entries) {
    if (!(e.data instanceof Uint8Array)) bad('an entry has no data');
    if (e.data.byteLength > maxEntryBytes) bad(`an entry of ${e.data.byteLength} bytes (at most ${maxEntryBytes})`);
    bytes += entrySize(e);
    if (m.type === 'append') {
      if (e.index !== expect++) bad('entries are not consecutive after index');
      if (!isCount(e.term) || e.term > m.term || e.term < m.logTerm) bad('an entry has a term outside what its leader could write');
      if (e.type === 'config' && e.voters.length === 0) bad('a configuration with no voter');
    }
  }
  // One entry always fits (maxEntryBytes bounds it); several must fit together.
  if (m.entries.length > 1 && bytes > maxMessageBytes) bad(`${bytes} bytes of entries (at most ${maxMessageBytes})`);
  if (m.type === 'snapshot') {
    const s = m.snapshot;
    if (!s || !isCount(s.index) || !isCount(s.term) || s.term > m.term || s.voters.length === 0) bad('a snapshot that cannot be right');
    if (s!.data.byteLength > maxSnapshotBytes) bad(`a snapshot of ${s!.data.byteLength} bytes (at most ${maxSnapshotBytes})`);
  }
}
