// The capabilities of capnp/ww.capnp served from the process table: Node, Executor,
// ModuleCache, Process, Monitor. Each method is thin: the semantics live in table.ts.

import {
  Admin,
  Executor as ExecutorInterface,
  ModuleCache,
  Monitor,
  Node,
  OutputMode,
  Process,
  ProcessState,
  StdStream,
  type Admin$Server,
  type ByteSink$Client,
  type Executor$Server,
  type ExitReason$Init,
  type ExitStatus$Init,
  type ModuleCache$Server,
  type Monitor$Server,
  type Node$Client,
  type Node$Server,
  type NodeInfo$Init,
  type Output,
  type PeerInfo$Init,
  type Process$Client,
  type Process$Server,
  type ProcessInfo$Init,
  type Limits as WireLimits,
  type Restriction,
  type SpawnSpec,
} from '../capnp-gen/ww.rpc.js';
import type { Registry$Server } from '../capnp-gen/ww.rpc.js';
import { FailedError } from '../rpc/index.js';
import { LocalHook } from '../rpc/client.js';
import { shorten } from '../rpc/hooks.js';
import type { Limits as RuntimeLimits, LoadedModule } from '../wasm/index.js';
import { parseListenAddress, type Listener, type ListenAddress } from '../wasm/sockets/listen.js';
import { ExecutorError } from './errors.js';
import { fromRuntime } from './runtime-errors.js';
import { listedArgv } from './bounds.js';
import { answerExecutorErrors, executorErrorFromRpc } from './error-wire.js';
import { isContentId, type ModuleStore } from './modules.js';
import { isAbnormal } from './reasons.js';
import { reasonFromWire, reasonToWire } from './reason-wire.js';
import { INIT_PID, type EndStatus, type ProcessEntry, type ProcessSnapshot, type ProcessTable, type SpawnRequest } from './table.js';
import { DEFAULT_LINKS } from './quotas.js';
import type { WwHost } from './guest.js';
import type { Executor } from './executor.js';
import { Grant, Scope, type KnownModules, type Principal } from './authority.js';
import { AttachedProcesses } from './attached.js';
import { stdinFrom } from './stdin-source.js';
import { resolvePeer } from './peer-prefix.js';

type Spawned = { process: ProcessCap; pid: number; listening: string[] };

const STATE_CODE = { queued: ProcessState.queued, running: ProcessState.running, paused: ProcessState.paused, exited: ProcessState.exited } as const;

/** A process as the wire shows it; in a listing (`ps`) its argv is cut to LISTED_ARGV_BYTES so that
 *  the reply stays bounded whatever the processes were given. */
export function toProcessInfo(s: ProcessSnapshot, peerId: string, listing = false): ProcessInfo$Init {
  return {
    pid: s.pid,
    ppid: s.ppid,
    cid: s.cid,
    argv: listing ? listedArgv(s.argv) : s.argv,
    createdAtMs: BigInt(s.createdAtMs),
    state: STATE_CODE[s.state],
    fuelUsed: BigInt(Math.max(0, Math.round(s.fuelUsed))),
    cpuMs: s.cpuMs,
    memoryBytes: BigInt(Math.max(0, Math.round(s.memoryBytes))),
    ...(s.reason ? { reason: reasonToWire(s.reason) } : {}),
    exitCode: s.exitCode,
    peerId,
    links: s.links,
    monitors: s.monitors,
  };
}

/** Processes in one page of `ps` at most, and about the bytes of its reply (a listing's argv is cut
 *  to 4 KiB each): a listing always fits a message, whatever the number of processes. */
export const PS_PAGE_ENTRIES = 4096;
export const PS_PAGE_BYTES = 4 * 1024 * 1024;

/** One page of a listing: the entries after pid `after`, in pid order, within `max` and PS_PAGE_BYTES. */
export function psPage(entries: Iterable<ProcessEntry>, ctx: ExecutorContext, after: number, max: number): { processes: ProcessInfo$Init[]; more: boolean } {
  const limit = max > 0 ? Math.min(max, PS_PAGE_ENTRIES) : PS_PAGE_ENTRIES;
  const processes: ProcessInfo$Init[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (e.pid <= after) continue;
    const info = toProcessInfo(ctx.table.snapshot(e), ctx.peerId, true);
    const size = 256 + info.cid!.length + info.argv!.reduce((n, a) => n + a.length + 8, 0) + 8 * info.links!.length;
    if (processes.length >= limit || (processes.length > 0 && bytes + size > PS_PAGE_BYTES)) return { processes, more: true };
    processes.push(info);
    bytes += size;
  }
  return { processes, more: false };
}

/** Captured output in one reply: wait() returns this much of each stream, Process.output pieces of
 *  at most this; two of them fit a frame with room to spare whatever the capture bound. */
export const OUTPUT_PIECE_BYTES = 4 * 1024 * 1024;

function toExitStatus(s: EndStatus): ExitStatus$Init {
  return {
    code: s.code,
    reason: reasonToWire(s.reason),
    ...(s.stdout ? { stdout: s.stdout.subarray(0, OUTPUT_PIECE_BYTES), stdoutBytes: BigInt(s.stdout.length) } : {}),
    ...(s.stderr ? { stderr: s.stderr.subarray(0, OUTPUT_PIECE_BYTES), stderrBytes: BigInt(s.stderr.length) } : {}),
    ...(s.outputDropped ? { outputDropped: true } : {}),
  };
}

/** The executor's shared state, handed to every capability it serves. */
export class ExecutorContext {
  private readonly processCaps = new WeakMap<ProcessEntry, ProcessCap>();
  /** The one Admin capability object of the node. */
  readonly admin: AdminCap = new AdminCap(this);
  /** Remote links and RPC monitors held, per process and per principal. */
  readonly links = new LinkHoldings();
  constructor(
    readonly table: ProcessTable,
    readonly modules: ModuleStore,
    readonly peerId: string,
    /** Spawns with the `ww` host module. */
    readonly ww: WwHost,
  ) {}

  private readonly facets = new WeakMap<ProcessEntry, LinkFacet>();

  /** The one LinkFacet of an entry: what the other side of a remote link gets of it. */
  linkFacet(e: ProcessEntry): LinkFacet {
    let f = this.facets.get(e);
    if (!f) {
      f = new LinkFacet(this.processCap(e));
      this.facets.set(e, f);
    }
    return f;
  }

  /** The one Process capability object of an entry (one object, so capability identity holds). */
  processCap(e: ProcessEntry): ProcessCap {
    let cap = this.processCaps.get(e);
    if (!cap) {
      cap = new ProcessCap(this, e);
      this.processCaps.set(e, cap);
    }
    return cap;
  }

  entry(pid: number): ProcessEntry {
    const e = this.table.get(pid);
    if (!e) throw new ExecutorError('no-such-process', `no such process: ${pid}`);
    return e;
  }
}

/**
 * What a connection bootstraps: the node, as its principal may see it. The owner (`admin` set) gets
 * the Admin capability; everyone gets one Executor per connection, scoped to it and bounded by the
 * principal's grant.
 */
export class NodeCap implements Node$Server {
  private executorCap: ExecutorCap | undefined;
  /** This connection's attached processes (SpawnSpec.attached). */
  private readonly attached = new AttachedProcesses();
  constructor(
    private readonly ctx: ExecutorContext,
    private readonly info: NodeInfo$Init,
    private readonly principal: Principal,
    private readonly grant: Grant,
    private readonly isOwner: boolean,
    private readonly clusterView: ClusterView,
    /** The scope its Executor serves; default a new one for this connection. */
    private readonly scope: Scope | undefined,
    private readonly dialPeer: PeerDialer | undefined,
    private readonly registryCap?: Registry$Server,
  ) {}
  identity(): { info: NodeInfo$Init } {
    return { info: this.info };
  }
  executor(): { executor: ExecutorCap } {
    return { executor: (this.executorCap ??= new ExecutorCap(this.ctx, this.scope ?? new Scope(this.principal, this.grant), this.attached)) };
  }
  admin(): { admin: AdminCap } {
    if (!this.isOwner) throw new ExecutorError('not-permitted', `${this.principal.name} is not this node's owner: the admin capability is the owner's only`);
    return { admin: this.ctx.admin };
  }
  cluster(): { peers: PeerInfo$Init[] } {
    return { peers: this.clusterView().map((p) => ({ ...p, freeMemoryBytes: BigInt(Math.trunc(p.freeMemoryBytes)), lastSeenMs: BigInt(Math.trunc(p.lastSeenMs)) })) };
  }
  async peer({ peerId: prefix }: { peerId: string }): Promise<{ node: Node$Client | NodeCap }> {
    // Acting through this node's peer identity is the node's own authority: its owner's only.
    if (!this.isOwner) throw new ExecutorError('not-permitted', `${this.principal.name} is not this node's owner: reaching other peers through it is the owner's only`);
    const peer = resolvePeer(prefix, this.clusterView());
    if (peer.self) return { node: this };
    if (!this.dialPeer) throw new ExecutorError('unreachable', `${peer.peerId}: this node is not a peer of a cluster`);
    return { node: await this.dialPeer(peer.peerId) };
  }
  /** The cluster registry, as src/node serves it to this principal (Bootstrap.registry). */
  registry(): { registry: Registry$Server } {
    if (!this.registryCap) throw new ExecutorError('bad-request', 'this node runs no cluster registry: start it with `ww start --raft`');
    return { registry: this.registryCap };
  }
  /** The last reference is gone: the node holds one until the connection closes (src/node), so the
   *  connection has closed. Its attached processes end. */
  [Symbol.dispose](): void {
    this.attached.close();
  }
}

/** The owner's view of the whole node: every process, by PID. */
export class AdminCap implements Admin$Server {
  constructor(private readonly ctx: ExecutorContext) {}
  ps({ after, max }: { after: number; max: number }): { processes: ProcessInfo$Init[]; more: boolean } {
    return psPage(this.ctx.table.list(), this.ctx, after, max);
  }
  process({ pid }: { pid: number }): { process: ProcessCap } {
    return { process: this.ctx.processCap(this.ctx.entry(pid)) };
  }
}

export class ExecutorCap implements Executor$Server {
  private readonly cacheCap: ModuleCacheCap;
  constructor(
    private readonly ctx: ExecutorContext,
    readonly scope: Scope,
    /** The connection's attached processes; none: SpawnSpec.attached has no connection to follow. */
    private readonly attached?: AttachedProcesses,
  ) {
    this.cacheCap = new ModuleCacheCap(ctx.modules, scope.principal.modules);
  }

  spawn({ spec }: { spec: SpawnSpec | null }): Spawned | Promise<Spawned> {
    if (!spec) throw new ExecutorError('bad-request', 'spawn needs a spec: module bytes or a module content ID');
    if (spec.obsoletePpid !== 0) {
      releaseSpecCaps(spec);
      throw new ExecutorError('bad-request', `spawn: a parent is named by its Process capability (spec.parent), not by its pid (${spec.obsoletePpid})`);
    }
    if (spec.stdinSource && spec.stdin.length > 0) {
      releaseSpecCaps(spec);
      throw new ExecutorError('bad-request', 'spawn: stdin is given twice (bytes in stdin and a stdinSource): give one');
    }
    // The common case, a module already compiled, answers in the same turn (no promise hops).
    const ready =
      spec.moduleBytes.length === 0 && isContentId(spec.moduleCid) && this.scope.principal.modules.has(spec.moduleCid) ? this.ctx.modules.compiled(spec.moduleCid) : undefined;
    if (ready && spec.listen.length === 0 && !spec.parent) return this.start(spec, ready, [], undefined);
    return this.prepare(spec).catch((err: unknown) => {
      releaseSpecCaps(spec); // the call owns the sinks and the source it was given
      throw err;
    });
  }

  private async prepare(spec: SpawnSpec): Promise<Spawned> {
    const done = this.scope.principal.admitSpawning();
    try {
      const parent = spec.parent ? await this.parentOf(spec.parent) : undefined;
      const module = await this.module(spec);
      const listeners = await this.listen(spec.listen);
      try {
        return this.start(spec, module, listeners, parent);
      } catch (err) {
        for (const l of listeners) l.close(); // not given to a process: ours to close
        throw err;
      }
    } finally {
      done();
    }
  }

  /** The entry behind a parent capability: one of this node's own processes, still running. */
  private async parentOf(parent: Process$Client): Promise<ProcessEntry> {
    const own = await ownProcess(this.ctx, parent);
    if (!own) throw new ExecutorError('no-such-process', 'spawn: the parent is not one of this node\'s processes');
    if (own.entry.status) throw new ExecutorError('no-such-process', `spawn: the parent, process ${own.entry.pid}, has ended`);
    return own.entry;
  }

  /** Opens the listening sockets of spec.listen (all or none), each within the grant; errors name the address and what to do. */
  private async listen(addresses: readonly string[]): Promise<Listener[]> {
    if (addresses.length === 0) return [];
    try {
      const parsed = addresses.map(parseListenAddress);
      for (const a of parsed) this.scope.grant.checkListen(a);
      return await this.ctx.table.runtime.listen(parsed);
    } catch (e) {
      throw fromRuntime(e);
    }
  }

  private start(spec: SpawnSpec, module: LoadedModule, listeners: Listener[], parent: ProcessEntry | undefined): Spawned {
    const sinks = new OutputSinks();
    try {
      const grant = this.scope.grant;
      const req: SpawnRequest = {
        module,
        argv: spec.argv.length > 0 ? spec.argv : [module.cid.slice(0, 12)],
        env: Object.fromEntries(spec.env.map((v) => [v.key, v.value])),
        preopens: spec.dirs.map((d) => grant.preopenFor({ hostPath: d.hostPath, guestPath: d.guestPath, readOnly: d.readOnly })),
        stdin: spec.stdinSource ? stdinFrom(spec.stdinSource) : spec.stdin,
        stdout: sinks.target(spec.stdout),
        stderr: sinks.target(spec.stderr),
        limits: grant.limitsFor(limitsFromWire(spec.limits)),
        ...(parent ? { ppid: parent.pid } : {}),
        scope: this.scope,
        ...(sinks.streaming ? { drained: () => sinks.drained() } : {}),
        ...(listeners.length > 0 ? { listen: listeners } : {}),
      };
      const e = this.ctx.ww.spawn(req);
      sinks.onPressure = (on) => this.ctx.table.throttle(e, on);
      if (spec.attached) this.attached?.add(e, () => this.ctx.table.kill(e));
      return { process: this.ctx.processCap(e), pid: e.pid, listening: listeners.map((l) => l.address) };
    } catch (err) {
      sinks.release();
      releaseSpecCaps(spec); // also those not yet taken (release is idempotent)
      throw err;
    }
  }

  ps({ after, max }: { after: number; max: number }): { processes: ProcessInfo$Init[]; more: boolean } {
    return psPage(this.ctx.table.listIn(this.scope), this.ctx, after, max);
  }

  process({ pid }: { pid: number }): { process: ProcessCap } {
    const e = this.ctx.table.get(pid);
    // Others' processes read as absent: whether a pid is in use is not this scope's to learn.
    if (!e || !this.scope.contains(e.scope)) throw new ExecutorError('no-such-process', `no such process: ${pid}`);
    return { process: this.ctx.processCap(e) };
  }

  obsoleteProcess({ pid }: { pid: number }): never {
    throw new ExecutorError('not-permitted', `a pid is not authority: act on process ${pid} through the Process capability spawn returned, or the node's admin capability`);
  }

  modules(): { cache: ModuleCacheCap } {
    return { cache: this.cacheCap };
  }

  restrict({ restriction: r }: { restriction: Restriction | null }): { executor: ExecutorCap } {
    const grant = this.scope.grant.restrict({
      limits: limitsFromWire(r?.limits ?? null),
      ...(r?.limitDirs ? { dirs: r.dirs.map((d) => ({ hostPath: d.hostPath, readOnly: d.readOnly })) } : {}),
      ...(r?.limitListen ? { listen: r.listen.map((a) => listenGrant(a)) } : {}),
    });
    return { executor: new ExecutorCap(this.ctx, this.scope.restricted(grant), this.attached) };
  }

  private async module(spec: SpawnSpec): Promise<LoadedModule> {
    const known = this.scope.principal.modules;
    if (spec.moduleBytes.length > 0) {
      const put = await this.ctx.modules.put(spec.moduleBytes);
      known.add(put.cid);
      return put;
    }
    if (!spec.moduleCid) throw new ExecutorError('bad-request', 'spawn needs module bytes or a module content ID (moduleCid)');
    // Another principal's module is not found either: whether it is here is not this one's to learn.
    const m = known.has(spec.moduleCid) ? await this.ctx.modules.module(spec.moduleCid) : undefined;
    if (!m) throw new ExecutorError('module-not-found', `module not found: ${spec.moduleCid} (put it in the module cache first)`);
    return m;
  }
}

/** Releases the capabilities a spawn was given for its stdio (release is idempotent). */
function releaseSpecCaps(spec: SpawnSpec): void {
  spec.stdout?.sink?.release();
  spec.stderr?.sink?.release();
  spec.stdinSource?.release();
}

/** Output written to sinks and not yet acknowledged above which the guest is frozen, and below which it continues. */
const SINK_HIGH_WATER = 4 * 1024 * 1024;
const SINK_LOW_WATER = 1024 * 1024;

/** Where a process's output goes: runtime output modes, with sink capabilities fed in order. */
class OutputSinks {
  private readonly held: ByteSink$Client[] = [];
  private readonly last: Promise<unknown>[] = [];
  private inflight = 0;
  private pressed = false;
  /** Told when the sinks fall behind (true) and when they have caught up (false). */
  onPressure: ((on: boolean) => void) | undefined;

  get streaming(): boolean {
    return this.held.length > 0;
  }

  target(out: Output | null): SpawnRequest['stdout'] {
    if (!out || out.mode === OutputMode.discard) {
      out?.sink?.release();
      return 'ignore';
    }
    if (out.mode === OutputMode.capture) {
      out.sink?.release();
      return 'capture';
    }
    const sink = out.sink;
    if (!sink) throw new ExecutorError('bad-request', 'output mode sink needs a sink capability');
    this.held.push(sink);
    const slot = this.last.length;
    this.last.push(Promise.resolve());
    let broken = false;
    return (data: Uint8Array): void => {
      if (broken) return;
      const n = data.length;
      this.inflight += n;
      if (!this.pressed && this.inflight > SINK_HIGH_WATER) {
        this.pressed = true;
        this.onPressure?.(true);
      }
      const acknowledged = (): void => {
        this.inflight -= n;
        if (this.pressed && this.inflight < SINK_LOW_WATER) {
          this.pressed = false;
          this.onPressure?.(false);
        }
      };
      // Calls on one capability arrive in order, so the last write's return means all arrived.
      // A sink that fails (its client went away) gets no more output; the process runs on.
      this.last[slot] = sink.write({ data }).then(acknowledged, () => {
        broken = true;
        acknowledged();
      });
    };
  }

  async drained(): Promise<void> {
    try {
      await Promise.all(this.last);
    } finally {
      this.release();
    }
  }

  release(): void {
    for (const s of this.held.splice(0)) s.release();
  }
}

/** A principal's view of the node's module store: what it put, and nothing of others' (KnownModules). */
export class ModuleCacheCap implements ModuleCache$Server {
  constructor(
    private readonly modules: ModuleStore,
    private readonly known: KnownModules,
  ) {}
  async put({ bytes }: { bytes: Uint8Array }): Promise<{ cid: string }> {
    if (bytes.length === 0) throw new ExecutorError('bad-request', 'put needs the bytes of a WebAssembly module, got none');
    const { cid } = await this.modules.put(bytes);
    this.known.add(cid);
    return { cid };
  }
  get({ cid }: { cid: string }): { bytes: Uint8Array } {
    const bytes = this.known.has(cid) ? this.modules.get(cid) : undefined;
    if (!bytes) throw new ExecutorError('module-not-found', `module not found: ${cid}${isContentId(cid) ? '' : ' (a content ID is 64 lowercase hex digits)'}`);
    return { bytes };
  }
  has({ cid }: { cid: string }): { present: boolean } {
    return { present: this.known.has(cid) && this.modules.has(cid) };
  }
}

/**
 * The ProcessCap behind a capability when it is one of this node's own, found by unwrapping its
 * hook, never by asking it (a fake Process claiming pid 5 must not be taken for pid 5).
 */
async function ownProcess(ctx: ExecutorContext, other: Process$Client): Promise<ProcessCap | undefined> {
  try {
    await other.whenResolved();
  } catch (e) {
    throw new ExecutorError('unreachable', `the other process is not reachable: ${(e as Error).message}`);
  }
  const h = shorten(other.hook);
  if (h instanceof LocalHook && h.impl instanceof ProcessCap && h.impl.ctx === ctx) return h.impl;
  return undefined;
}

/** Limits as the wire has them (0: none) as the runtime takes them (absent: none). */
function limitsFromWire(l: WireLimits | null): RuntimeLimits {
  if (!l) return {};
  return {
    ...(l.maxMemoryBytes > 0n ? { maxMemoryBytes: Number(l.maxMemoryBytes) } : {}),
    ...(l.fuel > 0n ? { fuel: Number(l.fuel) } : {}),
    ...(l.timeoutMs > 0n ? { timeoutMs: Number(l.timeoutMs) } : {}),
  };
}

/** A listening address a restriction allows, HOST:PORT as spawn takes it (port 0: any). */
function listenGrant(text: string): ListenAddress {
  try {
    return parseListenAddress(text);
  } catch (e) {
    throw fromRuntime(e);
  }
}

/** Remote links (each half), one-way links and monitors served over RPC that one process may hold at
 *  once; its principal's processes together hold at most `Quotas.links` (DEFAULT_LINKS). */
export const LINKS_PER_PROCESS = 1024;

/**
 * Counts what processes hold outside the table's own bounded structures (links to other peers'
 * processes, one-way links, monitors served over RPC), per process and per principal, so that a peer
 * linking or monitoring millions of times meets a `quota` refusal, not the node's memory.
 */
export class LinkHoldings {
  private readonly byEntry = new WeakMap<ProcessEntry, number>();
  private readonly byPrincipal = new WeakMap<Principal, number>();

  /** Counts one more on `e` and its principal; returns its release (idempotent). Throws `quota` past a bound. */
  take(e: ProcessEntry): () => void {
    const n = this.byEntry.get(e) ?? 0;
    if (n >= LINKS_PER_PROCESS) {
      throw new ExecutorError('quota', `process ${e.pid} already holds ${n} remote links and monitors (at most ${LINKS_PER_PROCESS}): unlink or drop some first`);
    }
    const p = e.scope?.principal;
    const m = p ? (this.byPrincipal.get(p) ?? 0) : 0;
    const max = p?.quotas.links ?? DEFAULT_LINKS;
    if (p && m >= max) {
      throw new ExecutorError('quota', `${p.name}'s processes already hold ${m} remote links and monitors (at most ${max}): unlink or drop some first`);
    }
    this.byEntry.set(e, n + 1);
    if (p) this.byPrincipal.set(p, m + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.byEntry.set(e, (this.byEntry.get(e) ?? 1) - 1);
      if (p) this.byPrincipal.set(p, (this.byPrincipal.get(p) ?? 1) - 1);
    };
  }

  /** What `e` holds now (for tests and info). */
  of(e: ProcessEntry): number {
    return this.byEntry.get(e) ?? 0;
  }
}

export class ProcessCap implements Process$Server {
  /** The processes this one follows outside the table (its half of each link to another peer's process,
   *  its one-way links), by `PEER/PID` as their capability reports it (watchKey); each value cancels
   *  its watch. A capability that lies about who it is can only confuse this process's own watches. */
  private readonly watches = new Map<string, () => void>();

  constructor(
    readonly ctx: ExecutorContext,
    readonly entry: ProcessEntry,
  ) {}

  async wait(): Promise<{ status: ExitStatus$Init }> {
    return { status: toExitStatus(await this.entry.settled) };
  }

  kill(): void {
    this.ctx.table.kill(this.entry);
  }

  output({ stream, offset, max }: { stream: StdStream; offset: bigint; max: number }): { data: Uint8Array } {
    const status = this.entry.status;
    if (!status) throw new ExecutorError('bad-request', `output: process ${this.entry.pid} is still running: wait() for it first`);
    const all = (stream === StdStream.stderr ? status.stderr : status.stdout) ?? new Uint8Array(0);
    const from = offset > BigInt(all.length) ? all.length : Number(offset);
    return { data: all.subarray(from, from + Math.min(max, OUTPUT_PIECE_BYTES)) };
  }

  async pause(): Promise<void> {
    await this.ctx.table.pause(this.entry);
  }

  resume(): void {
    this.ctx.table.resume(this.entry);
  }

  monitor(): { monitor: MonitorCap } {
    return { monitor: new MonitorCap(this.ctx, this.entry) };
  }

  /**
   * With one of this node's own processes: the table's link. With any other Process (another peer's,
   * or one this node cannot vouch for) each side watches the other: this one watches `other`, then
   * asks it to watch this one with `oneWay` set, so that it does not ask back. A link holds both ways
   * or not at all: when the other side refuses (its bound), this side's half is undone.
   */
  async link({ other, oneWay }: { other: Process$Client | null; oneWay?: boolean }): Promise<void> {
    if (!other) throw new ExecutorError('bad-request', 'link needs a Process capability');
    if (this.entry.pid === INIT_PID) {
      other.release();
      throw new ExecutorError('not-permitted', 'pid 1 is the node\'s init: it cannot be linked');
    }
    const local = await this.ownProcess(other).catch((e: unknown) => {
      other.release();
      throw e;
    });
    if (oneWay) return this.watch(other);
    if (local) {
      other.release();
      this.ctx.table.link(this.entry, local.entry);
      return;
    }
    // Both halves at once; a link holds both ways or not at all, so a refusal undoes the other half.
    // The other side gets this process's LinkFacet (its monitor and pid), not this capability.
    const facet = this.ctx.linkFacet(this.entry);
    const back = other.dup();
    try {
      const [ours, theirs] = await Promise.allSettled([this.watch(other.dup()), back.link({ other: facet, oneWay: true })]);
      if (ours.status === 'fulfilled' && theirs.status === 'fulfilled') return;
      if (ours.status === 'fulfilled') await this.unwatch(other);
      if (theirs.status === 'fulfilled') await back.unlink({ other: facet, oneWay: true }).catch(() => {});
      const e: unknown = ours.status === 'rejected' ? ours.reason : (theirs as PromiseRejectedResult).reason;
      throw e instanceof ExecutorError ? e : (executorErrorFromRpc(e) ?? new ExecutorError('unreachable', `link: the other process did not link back: ${(e as Error).message}`));
    } finally {
      other.release();
      back.release();
    }
  }

  /** Removes the link both ways (with another peer's process, asks it to unlink too; if it cannot be
   *  reached its side ends anyway, with peer-lost). `oneWay`: this side only. Idempotent. */
  async unlink({ other, oneWay }: { other: Process$Client | null; oneWay?: boolean }): Promise<void> {
    if (!other) throw new ExecutorError('bad-request', 'unlink needs a Process capability');
    try {
      const local = await this.ownProcess(other);
      await this.unwatch(other);
      if (oneWay) return;
      if (local) return this.ctx.table.unlink(this.entry, local.entry);
      await other.unlink({ other: this.ctx.linkFacet(this.entry), oneWay: true }).catch(() => {});
    } finally {
      other.release();
    }
  }

  /** Cancels the watch of the process `other` says it is (nothing when it cannot say). */
  private async unwatch(other: Process$Client): Promise<void> {
    const key = await watchKey(other).catch(() => undefined);
    if (key) this.watches.get(key)?.();
  }

  info(): { info: ProcessInfo$Init } {
    return { info: toProcessInfo(this.ctx.table.snapshot(this.entry), this.ctx.peerId) };
  }

  private ownProcess(other: Process$Client): Promise<ProcessCap | undefined> {
    return ownProcess(this.ctx, other);
  }

  /**
   * Follows `other` one way, through its monitor (takes the reference): if it ends abnormally this
   * process ends with `link: <its pid>`; if it cannot be reached any more (its peer is lost: the
   * pending call fails with the session), with `peer-lost`. Returns once the other side holds the
   * monitor; its refusal (`quota`) is thrown, and ends nothing. Idempotent per capability; ends with
   * this process. Counts in LinkHoldings.
   */
  private async watch(other: Process$Client): Promise<void> {
    if (this.entry.status) return other.release();
    let releaseHolding: () => void;
    try {
      releaseHolding = this.ctx.links.take(this.entry);
    } catch (e) {
      other.release();
      throw e;
    }
    const asked = other.monitor();
    let key: string;
    try {
      // Who it is, asked now while its peer is surely there: a reason names it even if the peer goes right after.
      [key] = await Promise.all([watchKey(other), asked.monitor.whenResolved()]);
    } catch (e) {
      releaseHolding();
      asked.release();
      other.release();
      throw executorErrorFromRpc(e) ?? new ExecutorError('unreachable', `link: the other process cannot be watched: ${(e as Error).message}`);
    }
    if (this.watches.has(key) || this.entry.status) {
      releaseHolding();
      asked.release();
      other.release();
      return;
    }
    const pid = Number(key.slice(key.lastIndexOf('/') + 1));
    let active = true;
    const cancel = (): void => {
      if (!active) return;
      active = false;
      this.watches.delete(key);
      this.entry.onEnd.delete(cancel);
      releaseHolding();
      asked.release(); // releases the pipelined Monitor too: the other side drops the monitor
      other.release();
    };
    this.watches.set(key, cancel);
    this.entry.onEnd.add(cancel);
    asked.monitor.reason().then(
      ({ reason }) => {
        if (!active) return;
        cancel();
        if (isAbnormal(reasonFromWire(reason))) this.ctx.table.endWith(this.entry, { kind: 'link', pid });
      },
      (e: unknown) => {
        if (!active) return;
        cancel();
        // A refusal (an executor error code) is not the loss of the other side; anything else (the
        // session ended, the capability broke) is.
        if (!executorErrorFromRpc(e)) this.ctx.table.endWith(this.entry, { kind: 'peer-lost' });
      },
    );
  }
}

/** `PEER/PID` of a Process capability, as it reports itself (info()). */
async function watchKey(p: Process$Client): Promise<string> {
  const { info } = await p.info();
  return `${info.peerId}/${info.pid}`;
}

/**
 * What the other side of a link across peers gets of a process: enough to watch it (its monitor, and
 * its pid and peer in info()), not the Process capability itself, so linking to another peer's
 * process does not hand that peer the power to pause it, read its output, or link it elsewhere.
 */
export class LinkFacet implements Process$Server {
  constructor(private readonly cap: ProcessCap) {}
  monitor(): { monitor: MonitorCap } {
    return this.cap.monitor();
  }
  info(): { info: ProcessInfo$Init } {
    const e = this.cap.entry;
    return { info: { pid: e.pid, peerId: this.cap.ctx.peerId, state: STATE_CODE[this.cap.ctx.table.snapshot(e).state] } };
  }
  private refuse(what: string): never {
    throw new ExecutorError('not-permitted', `${what}: this is the link side of process ${this.cap.entry.pid}, given to watch it only`);
  }
  wait(): never {
    return this.refuse('wait');
  }
  kill(): never {
    return this.refuse('kill');
  }
  pause(): never {
    return this.refuse('pause');
  }
  resume(): never {
    return this.refuse('resume');
  }
  link(): never {
    return this.refuse('link');
  }
  unlink(): never {
    return this.refuse('unlink');
  }
  output(): never {
    return this.refuse('output');
  }
}

export class MonitorCap implements Monitor$Server {
  private readonly fired: Promise<EndStatus>;
  private readonly cancel: () => void;
  private rejectPending: (e: Error) => void = () => {};

  constructor(ctx: ExecutorContext, entry: ProcessEntry) {
    const releaseHolding = ctx.links.take(entry); // a monitor served over RPC is held for a client: bounded
    let cancel: () => void = () => {};
    this.fired = new Promise<EndStatus>((resolve, reject) => {
      this.rejectPending = reject;
      cancel = ctx.table.monitor(entry, resolve);
    });
    this.fired.catch(() => {});
    this.cancel = () => {
      cancel();
      releaseHolding();
    };
  }

  async reason(): Promise<{ reason: ExitReason$Init; code: number }> {
    const s = await this.fired;
    return { reason: reasonToWire(s.reason), code: s.code };
  }

  /** Dropping the last reference cancels the monitor (the RPC engine calls this). */
  [Symbol.dispose](): void {
    this.cancel();
    this.rejectPending(new FailedError('the monitor was released'));
  }
}

const contexts = new WeakMap<Executor, ExecutorContext>();

/** Who a connection is and what it was granted: the node decides (src/node), never the client. */
export interface Bootstrap {
  principal: Principal;
  /** What its Executor may hand out; default: everything the node can. */
  grant?: Grant;
  /** The node's owner: also gets the Admin capability (and Node.peer). */
  owner: boolean;
  /** The scope its Executor serves, when it outlives one connection (a remote peer's, across its
   *  sessions); default a new one per connection. */
  scope?: Scope;
  /** The cluster registry this principal may use (src/node decides what it may do); absent: refused. */
  registry?: Registry$Server;
}

/** Another peer's Node, by its full peer ID, over the node's session with it; refuses with an
 *  ExecutorError (unreachable, not-permitted) when it cannot. The node injects it. */
export type PeerDialer = (peerId: string) => Promise<Node$Client>;


/** One live peer as a cluster's view gives it (src/cluster's PeerStatus fits); Node.cluster serves these. */
export interface ClusterPeer {
  peerId: string;
  addresses: string[];
  running: number;
  queued: number;
  freeMemoryBytes: number;
  /** Unix ms its last heartbeat arrived (this node: now). */
  lastSeenMs: number;
  self: boolean;
}
/** The live peers, this node first. The node injects it, so the executor knows nothing of the cluster. */
export type ClusterView = () => ClusterPeer[];

/** The bootstrap capability object for one connection to a node serving `executor` (one context per
 *  executor, so every connection sees the same Process capability objects). `cluster`: the node's
 *  view of its cluster; default this node alone. `dialPeer`: how Node.peer reaches another peer;
 *  default none (only this node itself is found). */
export function nodeCapOf(executor: Executor, info: NodeInfo$Init, who: Bootstrap, cluster?: ClusterView, dialPeer?: PeerDialer): NodeCap {
  let context = contexts.get(executor);
  if (!context) {
    context = new ExecutorContext(executor.table, executor.modules, executor.peerId, executor.ww);
    contexts.set(executor, context);
  }
  const alone: ClusterView = () => [{ peerId: info.peerId ?? executor.peerId, addresses: [], ...executor.load(), lastSeenMs: Date.now(), self: true }];
  return new NodeCap(context, info, who.principal, who.grant ?? Grant.all, who.owner, cluster ?? alone, who.scope, dialPeer, who.registry);
}

// What the servers refuse reaches clients with its code (error-wire.ts).
answerExecutorErrors(NodeCap.prototype, Node);
answerExecutorErrors(AdminCap.prototype, Admin);
answerExecutorErrors(ExecutorCap.prototype, ExecutorInterface);
answerExecutorErrors(ModuleCacheCap.prototype, ModuleCache);
answerExecutorErrors(ProcessCap.prototype, Process);
answerExecutorErrors(MonitorCap.prototype, Monitor);
answerExecutorErrors(LinkFacet.prototype, Process);
