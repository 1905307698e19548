// A deterministic simulation of a Raft cluster: N nodes over a network the seed controls (partitions,
// drops, duplicates, delays that reorder), crashes that lose what was not persisted, restarts, and
// nodes ticking at different rates. After every step it checks Raft's safety properties; after the
// chaos it heals the network and requires a write to commit within a bound. Clients run registry
// operations throughout and their history is recorded for the linearizability checker.

import { RaftNode, type RaftFaults } from '../../src/cluster/raft/node.js';
import { RaftError } from '../../src/cluster/raft/errors.js';
import { MemoryStorage } from '../../src/cluster/raft/storage.js';
import { Registry, encodeRequest, MAX_TTL_MS, type RegistryCommand, type RegistryResult } from '../../src/cluster/raft/registry.js';
import type { Entry, Message, NodeId, Ready } from '../../src/cluster/raft/types.js';
import { Recorder, type History, type Input, type Output, type Pending } from '../../fixtures/linearizability/history.js';

import { rng as prng } from '../../fixtures/linearizability/generate.js';

/** The seeded PRNG of the checker's generator: one seed gives one sequence everywhere. */
export { prng };

export interface SimConfig {
  readonly seed: number;
  readonly size: number;
  /** Steps of chaos (one step is about one tick of a node at the nominal rate). */
  readonly chaosSteps?: number;
  /** After healing, a write must commit within this many steps. */
  readonly livenessSteps?: number;
  readonly faults?: RaftFaults;
  /** Add and remove voters during the chaos (a spare node starts outside the cluster). */
  readonly membership?: boolean;
  readonly electionTicks?: number;
  /** Clients read a node's local state at once, without ReadIndex (a bug the linearizability check must catch). */
  readonly staleReads?: boolean;
  /** Entry bytes in one append message (default 2048; 1 sends one entry a message). */
  readonly maxMessageBytes?: number;
}

export interface SimOutcome {
  readonly history: History;
  readonly leaders: number;
  readonly commits: number;
  readonly restarts: number;
  readonly snapshotsSent: number;
  readonly confChanges: number;
}

/** A broken invariant (or a crash of the core), with the seed that replays it. */
export class SimViolation extends Error {
  constructor(
    readonly seed: number,
    readonly step: number,
    readonly what: string,
  ) {
    super(`seed ${seed}, step ${step}: ${what} (replay: RAFT_SEED=${seed})`);
    this.name = 'SimViolation';
  }
}

interface SimNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  raft: RaftNode | null;
  registry: Registry;
  /** Ticks per step: nodes' clocks run at different rates. */
  readonly rate: number;
  phase: number;
  /** This node's wall clock is off by this much (the time it stamps on entries as leader). */
  readonly skew: number;
  lastCommitSeen: number;
  lastRole: string;
}

interface InFlight {
  readonly at: number;
  readonly m: Message;
}

interface ClientOp {
  readonly client: string;
  readonly node: NodeId;
  readonly pending: Pending;
  readonly input: Input;
  readonly requestId: string;
  readonly started: number;
  /** For a read: the read point once the leader confirmed it. */
  readIndex: number | null;
}

const KEYS = ['a', 'b', 'c'];
const CLIENT_TIMEOUT = 150;

export function runSim(config: SimConfig): SimOutcome {
  return new Sim(config).run();
}

class Sim {
  private readonly rand: () => number;
  private readonly seed: number;
  private readonly electionTicks: number;
  private readonly nodes = new Map<NodeId, SimNode>();
  private step = 0;
  private network: InFlight[] = [];
  /** Partition: each node's side; messages cross only between nodes on the same side. */
  private side = new Map<NodeId, number>();
  private dropRate = 0;
  private dupRate = 0;
  private maxDelay = 1;
  private healed = false;

  // What the invariants remember.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** The (index, term) of each entry ever written anywhere -> the term of the entry before it. */
  private readonly prevTermOf = new Map<string, number>();
  /** The data of each (index, term) ever written: one entry per index and term. */
  private readonly entryKey = new Map<string, string>();
  /** What was applied at each index, by any node. */
  private readonly appliedKey = new Map<number, string>();
  /** The highest index known committed while some node was in term T (term -> index). */
  private readonly committedInTerm = new Map<number, number>();
  /** The term of the entry committed at each index. */
  private readonly committedTerm = new Map<number, number>();

  // Clients.
  private readonly recorder: Recorder;
  private readonly clients = ['c0', 'c1', 'c2'];
  private readonly running = new Map<string, ClientOp>();
  private opSeq = 0;

  private stats = { leaders: 0, commits: 0, restarts: 0, snapshotsSent: 0, confChanges: 0 };

  constructor(private readonly config: SimConfig) {
    this.seed = config.seed;
    this.rand = prng(config.seed);
    this.electionTicks = config.electionTicks ?? 10;
    this.recorder = new Recorder(() => this.step);
    const ids = Array.from({ length: config.size }, (_, i) => `n${i}`);
    const all = config.membership ? [...ids, `n${config.size}`] : ids;
    for (const id of all) {
      const founding = ids.includes(id);
      const node: SimNode = {
        id,
        storage: new MemoryStorage(founding ? ids : []),
        raft: null,
        registry: new Registry(),
        rate: 0.5 + this.rand(), // 0.5 to 1.5 ticks a step
        phase: this.rand(),
        skew: Math.floor(this.rand() * 5000) - 2500,
        lastCommitSeen: 0,
        lastRole: 'follower',
      };
      this.nodes.set(id, node);
      this.start(node);
      this.side.set(id, 0);
    }
  }

  run(): SimOutcome {
    const chaos = this.config.chaosSteps ?? 300;
    try {
      for (; this.step < chaos; this.step++) {
        this.chaos();
        this.clientsAct();
        this.advanceStep();
      }
      this.heal();
      this.liveness();
      // Settle: let what is in flight land so outstanding operations resolve where they can.
      for (let i = 0; i < 3 * this.electionTicks; i++, this.step++) this.advanceStep();
    } catch (e) {
      if (e instanceof SimViolation) throw e;
      throw new SimViolation(this.seed, this.step, `the core threw: ${(e as Error).stack ?? e}`);
    }
    for (const op of this.running.values()) this.recorder.unknown(op.pending);
    this.running.clear();
    return { history: this.recorder.history(), ...this.stats };
  }

  private fail(what: string): never {
    throw new SimViolation(this.seed, this.step, what);
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rand() * list.length)]!;
  }

  // ---- Nodes ----

  private start(node: SimNode): void {
    const state = node.storage.load();
    node.registry = new Registry();
    node.registry.restore(state.snapshot.data, state.snapshot.index);
    node.raft = new RaftNode(
      {
        id: node.id,
        electionTicks: this.electionTicks,
        heartbeatTicks: 1,
        random: this.rand,
        now: () => this.step * 10 + node.skew,
        faults: this.config.faults,
        maxInflightAppends: 4,
        maxMessageBytes: this.config.maxMessageBytes ?? 2048,
      },
      state,
    );
    node.lastCommitSeen = node.raft.commitIndex;
    node.lastRole = 'follower';
  }

  private crash(node: SimNode): void {
    node.raft = null;
    for (const op of [...this.running.values()]) {
      if (op.node !== node.id) continue;
      this.running.delete(op.client);
      // A write may still commit; a read that never answered shows nothing and leaves the history.
      if (op.input.kind === 'get') this.recorder.failed(op.pending);
      else this.recorder.unknown(op.pending);
    }
  }

  private up(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft !== null);
  }

  // ---- One step ----

  private advanceStep(): void {
    for (const node of this.nodes.values()) {
      if (!node.raft) continue;
      node.phase += node.rate;
      while (node.phase >= 1) {
        node.phase -= 1;
        node.raft.tick();
      }
    }
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.network) (f.at <= this.step ? due : later).push(f);
    this.network = later;
    for (const { m } of due) {
      const node = this.nodes.get(m.to);
      if (!node?.raft || !this.connected(m.from, m.to)) continue;
      node.raft.step(m);
    }
    for (const node of this.nodes.values()) this.drain(node);
    this.timeouts();
    this.checkInvariants();
  }

  private drain(node: SimNode): void {
    while (node.raft?.hasReady()) {
      const raft = node.raft;
      const rd = raft.ready();
      if (!this.healed && this.rand() < 0.002) {
        // Crash after Ready was handed out, before it was persisted: all of it is lost.
        this.crash(node);
        return;
      }
      this.checkReadyEntries(raft, rd);
      node.storage.persist(rd);
      for (const m of rd.messages) this.send(m);
      if (rd.snapshot) node.registry.restore(rd.snapshot.data, rd.snapshot.index);
      for (const e of rd.committedEntries) this.apply(node, e);
      raft.advance(rd);
      for (const r of rd.readStates) this.readPoint(node, r.ctx, r.index);
      this.answerReads(node);
      if (raft.applied - raft.snapshot.index >= 12 && this.rand() < 0.3) raft.compact(raft.applied, node.registry.snapshot());
    }
  }

  private send(m: Message): void {
    if (m.type === 'snapshot') this.stats.snapshotsSent++;
    if (!this.connected(m.from, m.to) || this.rand() < this.dropRate) return;
    this.network.push({ at: this.step + 1 + Math.floor(this.rand() * this.maxDelay), m });
    if (this.rand() < this.dupRate) this.network.push({ at: this.step + 1 + Math.floor(this.rand() * this.maxDelay * 2), m });
  }

  private connected(a: NodeId, b: NodeId): boolean {
    return this.side.get(a) === this.side.get(b);
  }

  // ---- Chaos ----

  private chaos(): void {
    const r = this.rand();
    if (r < 0.02) {
      // A new partition: each node on a random side of two (or all together again).
      const heal = this.rand() < 0.4;
      for (const id of this.nodes.keys()) this.side.set(id, heal ? 0 : Math.floor(this.rand() * 2));
    } else if (r < 0.03) {
      this.dropRate = this.pick([0, 0, 0.05, 0.2, 0.5]);
      this.dupRate = this.pick([0, 0, 0.05, 0.2]);
      this.maxDelay = this.pick([1, 2, 4, 8]);
    } else if (r < 0.037) {
      const up = this.up();
      if (up.length > 0) this.crash(this.pick(up));
    } else if (r < 0.05) {
      const down = [...this.nodes.values()].filter((n) => !n.raft);
      if (down.length > 0) {
        this.start(this.pick(down));
        this.stats.restarts++;
      }
    } else if (r < 0.056 && this.config.membership) {
      this.changeMembership();
    }
  }

  private changeMembership(): void {
    const leader = this.up().find((n) => n.raft!.role === 'leader');
    if (!leader) return;
    const raft = leader.raft!;
    const voters = raft.voters;
    const outside = [...this.nodes.keys()].filter((id) => !voters.includes(id));
    try {
      if (outside.length > 0 && (voters.length < 3 || this.rand() < 0.5)) raft.proposeConfChange({ add: this.pick(outside) });
      else if (voters.length > 3) raft.proposeConfChange({ remove: this.pick(voters) });
      else return;
      this.stats.confChanges++;
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  private heal(): void {
    this.healed = true;
    for (const id of this.nodes.keys()) this.side.set(id, 0);
    this.dropRate = 0;
    this.dupRate = 0;
    this.maxDelay = 2;
    for (const node of this.nodes.values()) {
      if (!node.raft) {
        this.start(node);
        this.stats.restarts++;
      }
    }
  }

  /** With the network whole and every node up, a write proposed to the leader commits within the bound. */
  private liveness(): void {
    const bound = this.config.livenessSteps ?? 12 * this.electionTicks;
    const deadline = this.step + bound;
    const id = `liveness-${this.seed}`;
    let proposedAt: NodeId | null = null;
    let done = false;
    const command: RegistryCommand = { op: 'put', name: 'liveness', owner: 'sim', value: id };
    this.onApplied = (node, requestId) => {
      if (requestId === id && node.id === proposedAt) done = true;
    };
    for (; this.step < deadline && !done; this.step++) {
      const leader = this.up().find((n) => n.raft!.role === 'leader' && n.raft!.voters.includes(n.id));
      if (leader && proposedAt !== leader.id) {
        try {
          leader.raft!.propose(encodeRequest({ id, command }));
          proposedAt = leader.id;
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
      this.advanceStep();
    }
    this.onApplied = null;
    if (!done) this.fail(`liveness: no write committed within ${bound} steps after the network healed (proposed at ${proposedAt ?? 'no leader'})`);
  }

  private onApplied: ((node: SimNode, requestId: string) => void) | null = null;

  // ---- Clients ----

  private clientsAct(): void {
    for (const client of this.clients) {
      if (this.running.has(client) || this.rand() >= 0.15) continue;
      const up = this.up();
      if (up.length === 0) continue;
      const node = this.pick(up);
      const key = this.pick(KEYS);
      const n = ++this.opSeq;
      const requestId = `${client}.${n}`;
      const kind = this.pick(['get', 'get', 'put', 'put', 'delete', 'claim'] as const);
      const input: Input =
        kind === 'get' ? { kind, key } : kind === 'put' ? { kind, key, value: `v${n}` } : kind === 'delete' ? { kind, key } : { kind, key, owner: `o${n}` };
      const pending = this.recorder.call(client, input);
      const op: ClientOp = { client, node: node.id, pending, input, requestId, started: this.step, readIndex: null };
      try {
        if (input.kind === 'get' && this.config.staleReads) {
          this.recorder.ok(pending as Pending<'get'>, { kind: 'get', value: node.registry.get(key)?.value ?? null });
          continue;
        }
        if (input.kind === 'get') node.raft!.readIndex(requestId);
        else node.raft!.propose(encodeRequest({ id: requestId, command: toCommand(input, client) }));
        this.running.set(client, op);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
        this.recorder.failed(pending); // refused before anything was sent: it never happened
      }
    }
  }

  private apply(node: SimNode, e: Entry): void {
    const key = entryKey(e);
    const seen = this.appliedKey.get(e.index);
    if (seen === undefined) this.appliedKey.set(e.index, key);
    else if (seen !== key) this.fail(`state machine safety: ${node.id} applied ${key} at ${e.index}, another node applied ${seen}`);
    if (e.index !== node.registry.applied + 1) this.fail(`${node.id} applied ${e.index} after ${node.registry.applied}`);
    const out = node.registry.apply(e);
    if (!out) return;
    this.onApplied?.(node, out.id);
    const op = [...this.running.values()].find((o) => o.requestId === out.id && o.node === node.id);
    if (!op) return;
    this.running.delete(op.client);
    const output = toOutput(op.input, out.result);
    if (output === null) this.recorder.unknown(op.pending);
    else this.recorder.ok(op.pending, output as never);
  }

  private readPoint(node: SimNode, ctx: string, index: number): void {
    const op = this.running.get(ctx.split('.')[0]!);
    if (op && op.requestId === ctx && op.node === node.id && op.readIndex === null) op.readIndex = index;
  }

  private answerReads(node: SimNode): void {
    for (const op of [...this.running.values()]) {
      if (op.node !== node.id || op.readIndex === null || node.registry.applied < op.readIndex) continue;
      this.running.delete(op.client);
      const value = node.registry.get(op.input.key)?.value ?? null;
      this.recorder.ok(op.pending as Pending<'get'>, { kind: 'get', value });
    }
  }

  private timeouts(): void {
    for (const op of [...this.running.values()]) {
      if (this.step - op.started < CLIENT_TIMEOUT) continue;
      this.running.delete(op.client);
      if (op.input.kind === 'get') this.recorder.failed(op.pending);
      else this.recorder.unknown(op.pending);
    }
  }

  // ---- Invariants ----

  /** Log matching, checked as entries are written: one entry per (index, term), always after the same entry. */
  private checkReadyEntries(raft: RaftNode, rd: Ready): void {
    for (const e of rd.entries) {
      const at = `${e.index}/${e.term}`;
      const prevTerm = raft.termAt(e.index - 1);
      if (prevTerm === undefined) this.fail(`${raft.id} wrote ${at} after a hole`);
      const seenPrev = this.prevTermOf.get(at);
      if (seenPrev === undefined) this.prevTermOf.set(at, prevTerm);
      else if (seenPrev !== prevTerm) this.fail(`log matching: ${raft.id} has ${at} after term ${prevTerm}, another log after term ${seenPrev}`);
      const key = entryKey(e);
      const seenKey = this.entryKey.get(at);
      if (seenKey === undefined) this.entryKey.set(at, key);
      else if (seenKey !== key) this.fail(`log matching: two different entries at ${at}: ${key} and ${seenKey}`);
    }
  }

  private checkInvariants(): void {
    for (const node of this.nodes.values()) {
      const raft = node.raft;
      if (!raft) continue;
      if (raft.role === 'leader') {
        const other = this.leaderOfTerm.get(raft.term);
        if (other === undefined) this.leaderOfTerm.set(raft.term, raft.id);
        else if (other !== raft.id) this.fail(`election safety: ${other} and ${raft.id} both lead term ${raft.term}`);
        if (node.lastRole !== 'leader') {
          this.stats.leaders++;
          this.checkLeaderCompleteness(raft);
        }
      }
      node.lastRole = raft.role;
      if (raft.commitIndex > node.lastCommitSeen) {
        const c = raft.commitIndex;
        const t = raft.termAt(c)!;
        const known = this.committedTerm.get(c);
        if (known !== undefined && known !== t) this.fail(`state machine safety: ${raft.id} committed term ${t} at ${c}, another node term ${known}`);
        this.committedTerm.set(c, t);
        this.committedInTerm.set(raft.term, Math.max(this.committedInTerm.get(raft.term) ?? 0, c));
        node.lastCommitSeen = c;
        this.stats.commits++;
      }
    }
  }

  /** Every entry committed in an earlier term is in a new leader's log. */
  private checkLeaderCompleteness(leader: RaftNode): void {
    for (const [term, index] of this.committedInTerm) {
      if (term >= leader.term || index <= leader.snapshot.index) continue;
      const want = this.committedTerm.get(index);
      if (leader.termAt(index) !== want) {
        this.fail(`leader completeness: ${leader.id} leads term ${leader.term} without entry ${index}/${want} committed in term ${term}`);
      }
    }
  }
}

function entryKey(e: Entry): string {
  return `${e.term}:${e.type}:${e.type === 'config' ? e.voters.join(',') : Buffer.from(e.data).toString('latin1')}`;
}

function toCommand(input: Input, client: string): RegistryCommand {
  switch (input.kind) {
    case 'put':
      return { op: 'put', name: input.key, owner: client, value: input.value };
    case 'delete':
      return { op: 'delete', name: input.key };
    case 'claim':
      // A claim that never lapses in the simulation's time, so the checker's model (no TTL) applies.
      return { op: 'claim', name: input.key, owner: input.owner, value: input.owner, ttlMs: MAX_TTL_MS };
    default:
      throw new Error(`not a write: ${input.kind}`);
  }
}

function toOutput(input: Input, result: RegistryResult): Output | null {
  if (!result.ok) return null;
  switch (result.op) {
    case 'put':
      return { kind: 'put' };
    case 'delete':
      return { kind: 'delete', deleted: result.deleted };
    case 'claim':
      return { kind: 'claim', won: result.won, owner: result.holder.value };
    default:
      throw new Error(`unexpected result for ${input.kind}: ${result.op}`);
  }
}
