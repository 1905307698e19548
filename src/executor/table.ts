// The process table: PIDs, the PID tree under init (pid 1), links, monitors, pause with a grace
// period, and exit reasons. The semantics listed in README.md live here, without RPC: caps.ts
// serves this over Cap'n Proto, and tests can drive either.

import type { ExitStatus as RuntimeStatus, HostCallHandler, InputMode, InputStream, Limits, LoadedModule, OutputMode, Preopen, Runtime, WasmProcess } from '../wasm/index.js';
import type { Listener } from '../wasm/sockets/listen.js';
import { ExecutorError } from './errors.js';
import { fromRuntime } from './runtime-errors.js';
import { checkSpawnArgs, listedArgv } from './bounds.js';
import { isAbnormal, reasonCode, reasonText, type Reason } from './reasons.js';
import type { Scope } from './authority.js';

export const INIT_PID = 1;

/** Running time less the time spent blocked (sleeping, waiting on input or a host call). */
function cpuMs(stats: { runningMs: number; blockedMs: number }): number {
  return Math.max(0, stats.runningMs - stats.blockedMs);
}

/** queued: spawned but not yet given a worker (it has run no code). */
export type State = 'queued' | 'running' | 'paused' | 'exited';

/** How a process ended, kept until the process is reaped from the table. */
export interface EndStatus {
  code: number;
  reason: Reason;
  stdout?: Uint8Array;
  stderr?: Uint8Array;
  /** Its captured output was dropped to keep the ended processes' output within keepOutputBytes. */
  outputDropped?: boolean;
  fuelUsed: number;
  memoryBytes: number;
  cpuMs: number;
  endedAtMs: number;
}

export interface SpawnRequest {
  module: LoadedModule;
  /** argv[0] is the program name. */
  argv: string[];
  env?: Record<string, string>;
  preopens?: Preopen[];
  /** Bytes to read, then EOF; a stream read as the guest reads (an RPC client's ByteSource:
   *  stdin-source.ts); 'inherit' (this Node process's stdin: in-process runs only). Default: none. */
  stdin?: Uint8Array | InputStream | 'inherit';
  /** 'ignore' | 'capture' | a function called with each chunk as the guest writes it | 'inherit'
   *  (this Node process's own fd: in-process runs only, never on a node). */
  stdout?: OutputMode;
  stderr?: OutputMode;
  limits?: Limits;
  /** Parent pid; 0 or absent: a child of init. Must name a live process. */
  ppid?: number;
  /** Resolves once all streamed output has been delivered; wait() waits for it (bounded). */
  drained?: () => Promise<void>;
  /** Synchronous host calls of the guest, by namespace (the executor adds `ww`: guest.ts). */
  hostCalls?: Record<string, HostCallHandler>;
  /** Listening sockets (Runtime.listen) pre-opened at fds 3, 4, ...; the process owns them once spawned. */
  listen?: Listener[];
  /** A process whose output sinks this one writes to (a guest's child writes to its parent's). */
  sinksOf?: ProcessEntry;
  /** The Executor capability's share it is spawned in (its principal's quota counts it); none: the node's own. */
  scope?: Scope;
}

/** Told of each pause request and resume: the executor passes its ww host (guest.ts), which queues them
 *  as PAUSE and RESUME events for the guest. */
export interface GuestEvents {
  /** Sent first when a pause is asked for; the guest is frozen preemptively after the grace period. */
  pauseRequested(pid: number): void;
  /** The runtime was just asked to freeze it (after the grace period, or to hold it back for its sinks):
   *  a guest waiting where only the host can wake it (a channel's ring) is woken to freeze. */
  freezing?(pid: number): void;
  resumed(pid: number): void;
}

export interface TableOptions {
  runtime: Runtime;
  /** Time between the cooperative pause notice and the preemptive freeze. Default 100 ms. */
  pauseGraceMs?: number;
  /** Ended processes kept for ps/wait/info, oldest reaped first. Default 1000. */
  keepEnded?: number;
  /** Captured output of ended processes kept, in bytes, oldest dropped first. Default 256 MiB. */
  keepOutputBytes?: number;
  /** Longest wait() waits for streamed output to be delivered after the end. Default 10 s. */
  drainTimeoutMs?: number;
  guestEvents?: GuestEvents;
  /** One line per process start and end. */
  log?: (line: string) => void;
}

export interface ProcessSnapshot {
  pid: number;
  ppid: number;
  cid: string;
  argv: string[];
  createdAtMs: number;
  state: State;
  fuelUsed: number;
  cpuMs: number;
  memoryBytes: number;
  /** Why it ended and its exit code, once exited. */
  reason: Reason | undefined;
  exitCode: number;
  links: number[];
  monitors: number;
}

interface Pausing {
  done: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** One process of the table (init included, which has no guest). */
export class ProcessEntry {
  readonly children = new Set<ProcessEntry>();
  readonly links = new Set<ProcessEntry>();
  /** Monitors: each is called once with the status when the process ends. */
  readonly monitors = new Set<(s: EndStatus) => void>();
  /** Other things to run once at the end (remote-link watches to cancel). */
  readonly onEnd = new Set<(s: EndStatus) => void>();
  status: EndStatus | undefined;
  /** The process whose output sinks it writes to (its guest's parent's, up to the one spawned with
   *  them): held back with it when they are behind. Undefined: its own. */
  sinksOf: ProcessEntry | undefined;
  /** Live processes writing to this one's sinks (see sinksOf). */
  readonly sinkSharers = new Set<ProcessEntry>();
  /** Its sinks are behind: it and its sink sharers are held back (throttle()). */
  sinksBehind = false;
  /** The scope it was spawned in (children spawned by its guest inherit it). */
  scope: Scope | undefined;
  /** Gives its place back to its principal's quota (once). */
  uncount: () => void = () => {};
  /** Set while a subtree kill is ending it, so links do not give it a `link:` reason first. */
  dying = false;
  pausing: Pausing | undefined;
  /** Paused by pause() (until resume()), whether or not frozen yet. */
  userPaused = false;
  /** Frozen by the node because its output sinks are behind (see throttle()). */
  throttled = false;
  /** Resolves with the status once the process ended and its streamed output was delivered. */
  readonly settled: Promise<EndStatus>;
  resolveSettled!: (s: EndStatus) => void;

  constructor(
    readonly pid: number,
    public ppid: number,
    readonly cid: string,
    readonly argv: string[],
    readonly createdAtMs: number,
    readonly wasm: WasmProcess | undefined,
    readonly drained: (() => Promise<void>) | undefined,
    readonly captures: { stdout: boolean; stderr: boolean },
  ) {
    this.settled = new Promise((resolve) => (this.resolveSettled = resolve));
  }

  get state(): State {
    if (this.status) return 'exited';
    if (this.userPaused && this.wasm?.state === 'paused') return 'paused';
    return this.wasm?.state === 'starting' ? 'queued' : 'running';
  }
}

function stdinMode(stdin: SpawnRequest['stdin']): InputMode {
  if (stdin === 'inherit') return 'inherit';
  if (stdin instanceof Uint8Array) return stdin.length > 0 ? stdin : 'ignore';
  return stdin ?? 'ignore';
}

const noGuestEvents: GuestEvents = { pauseRequested() {}, resumed() {} };

export class ProcessTable {
  private readonly entries = new Map<number, ProcessEntry>();
  private readonly ended: ProcessEntry[] = [];
  private nextPid = INIT_PID + 1;
  private closed = false;
  private readonly pendingEnds: [ProcessEntry, Reason][] = [];
  private propagating = false;
  readonly init: ProcessEntry;
  private readonly graceMs: number;
  private readonly keepEnded: number;
  private readonly keepOutputBytes: number;
  /** Captured bytes held by the ended processes in `ended`. */
  private endedOutputBytes = 0;
  private readonly drainTimeoutMs: number;
  private readonly guestEvents: GuestEvents;
  private readonly log: ((line: string) => void) | undefined;

  constructor(private readonly opts: TableOptions) {
    this.graceMs = opts.pauseGraceMs ?? 100;
    this.keepEnded = opts.keepEnded ?? 1000;
    this.keepOutputBytes = opts.keepOutputBytes ?? 256 * 1024 * 1024;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
    this.guestEvents = opts.guestEvents ?? noGuestEvents;
    this.log = opts.log;
    this.init = new ProcessEntry(INIT_PID, 0, '', ['init'], Date.now(), undefined, undefined, { stdout: false, stderr: false });
    this.entries.set(INIT_PID, this.init);
  }

  get runtime(): Runtime {
    return this.opts.runtime;
  }

  /** Starts a process. Throws ExecutorError: shutting-down, no-such-process (the ppid), or what the
   *  runtime refuses (limits, invalid-module). */
  spawn(req: SpawnRequest): ProcessEntry {
    if (this.closed) throw new ExecutorError('shutting-down', 'the node is shutting down: no new processes');
    const parent = req.ppid ? this.entries.get(req.ppid) : this.init;
    if (!parent || parent.status) throw new ExecutorError('no-such-process', `no such process: ${req.ppid} (the parent must be a live process)`);
    checkSpawnArgs(req.argv, req.env);
    const uncount = req.scope?.principal.admitProcess() ?? (() => {});
    let wasm: WasmProcess;
    try {
      wasm = this.runtimeSpawn(req);
    } catch (err) {
      uncount();
      throw err;
    }
    const e = new ProcessEntry(this.nextPid++, parent.pid, req.module.cid, req.argv, Date.now(), wasm, req.drained, {
      stdout: req.stdout === 'capture',
      stderr: req.stderr === 'capture',
    });
    e.scope = req.scope;
    e.uncount = uncount;
    const sinkRoot = req.sinksOf ? (req.sinksOf.sinksOf ?? req.sinksOf) : undefined;
    if (sinkRoot) {
      e.sinksOf = sinkRoot;
      sinkRoot.sinkSharers.add(e);
      if (sinkRoot.sinksBehind) this.throttleOne(e, true); // born into a backlog: held back with the rest
    }
    parent.children.add(e);
    this.entries.set(e.pid, e);
    this.log?.(`start pid=${e.pid} ppid=${e.ppid} cid=${e.cid.slice(0, 12)} argv=${JSON.stringify(listedArgv(e.argv))}`);
    void wasm.wait().then((st) => this.finish(e, st.reason, st));
    return e;
  }

  /** The runtime's process for a request; its refusals as ExecutorErrors. */
  private runtimeSpawn(req: SpawnRequest): WasmProcess {
    try {
      return this.opts.runtime.spawn(req.module, {
        args: req.argv,
        env: req.env,
        preopens: req.preopens,
        stdin: stdinMode(req.stdin),
        stdout: req.stdout ?? 'ignore',
        stderr: req.stderr ?? 'ignore',
        limits: req.limits,
        ...(req.hostCalls ? { hostCalls: req.hostCalls } : {}),
        ...(req.listen && req.listen.length > 0 ? { listen: req.listen } : {}),
        ...(req.scope ? { memoryBudget: req.scope.principal.memory, group: req.scope.principal } : {}),
      });
    } catch (e) {
      throw fromRuntime(e);
    }
  }

  /** Frees an ended process's captured output; wait() then says it was dropped. */
  private dropOutput(e: ProcessEntry): void {
    const s = e.status;
    if (!s || (!s.stdout?.length && !s.stderr?.length)) return;
    this.endedOutputBytes -= outputBytes(s);
    if (s.stdout) s.stdout = new Uint8Array(0);
    if (s.stderr) s.stderr = new Uint8Array(0);
    s.outputDropped = true;
  }

  /** A live or recently ended process. */
  get(pid: number): ProcessEntry | undefined {
    return this.entries.get(pid);
  }

  /** Every process in the table, by pid: init, the live ones, and the ended ones not yet reaped. */
  list(): ProcessEntry[] {
    return [...this.entries.values()];
  }

  /** The processes spawned in `scope` or a scope inside it (descendants inherit their parent's), by pid. */
  listIn(scope: Scope): ProcessEntry[] {
    const out: ProcessEntry[] = [];
    for (const e of this.entries.values()) if (scope.contains(e.scope)) out.push(e);
    return out;
  }

  /** Ends a process and its whole live subtree with reason `killed`. Nothing for an ended process. */
  kill(e: ProcessEntry): void {
    if (e === this.init) throw new ExecutorError('not-permitted', 'pid 1 is the node\'s init: stop the node to end it (Ctrl-C on `ww start`)');
    if (e.status) return;
    const doomed = this.subtree(e);
    for (const d of doomed) d.dying = true;
    for (const d of doomed) this.endWith(d, { kind: 'killed' });
  }

  /** Ends a live process with a reason of the executor's (killed, link, peer-lost). */
  endWith(e: ProcessEntry, reason: Reason): void {
    if (e.status || e === this.init) return;
    // Ended by itself a moment ago: its own reason is on its way from the runtime and stands.
    if (e.wasm && e.wasm.state === 'exited') return;
    e.wasm?.kill();
    this.finish(e, reason, undefined);
  }

  /** Tells the guest, waits the grace period, then freezes it. Resolves once frozen (or ended, or resumed). */
  pause(e: ProcessEntry): Promise<void> {
    if (e === this.init) throw new ExecutorError('not-permitted', 'pid 1 is the node\'s init: it cannot be paused');
    if (e.status || !e.wasm) return Promise.resolve();
    if (e.pausing) return e.pausing.done;
    if (e.userPaused) return Promise.resolve();
    e.userPaused = true;
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    const p: Pausing = { done, resolve, reject, timer: undefined };
    e.pausing = p;
    const wasm = e.wasm;
    const freeze = (): void => {
      p.timer = undefined;
      if (e.pausing !== p) return;
      const frozen = wasm.pause();
      this.guestEvents.freezing?.(e.pid);
      frozen.then(
        () => {
          if (e.pausing === p) e.pausing = undefined;
          p.resolve();
        },
        (err: Error) => {
          if (e.pausing === p) e.pausing = undefined;
          e.userPaused = false;
          p.reject(err);
        },
      );
    };
    try {
      this.guestEvents.pauseRequested(e.pid);
    } catch {
      // a failing notice must not keep the process from being paused
    }
    if (this.graceMs > 0) p.timer = setTimeout(freeze, this.graceMs);
    else freeze();
    return done;
  }

  /** Continues a paused process where it stopped; cancels a pause still in its grace period. */
  resume(e: ProcessEntry): void {
    if (e === this.init) throw new ExecutorError('not-permitted', 'pid 1 is the node\'s init: it cannot be paused or resumed');
    if (e.status || !e.wasm || !e.userPaused) return;
    e.userPaused = false;
    this.cancelPausing(e);
    if (!e.throttled) e.wasm.resume();
    try {
      this.guestEvents.resumed(e.pid);
    } catch {
      // as above
    }
  }

  /**
   * Flow control for streamed output: freezes the guest while its sinks are behind (`on`) and lets
   * it continue once they caught up, unless it is paused by pause(). Not visible as `paused`.
   */
  throttle(e: ProcessEntry, on: boolean): void {
    if (e.sinksBehind === on) return;
    e.sinksBehind = on; // (it may have ended while its children still write to its sinks)
    this.throttleOne(e, on);
    for (const sharer of e.sinkSharers) this.throttleOne(sharer, on);
  }

  private throttleOne(e: ProcessEntry, on: boolean): void {
    if (e.status || !e.wasm || e.throttled === on) return;
    e.throttled = on;
    if (on) {
      if (!e.userPaused) {
        e.wasm.pause().catch(() => {});
        this.guestEvents.freezing?.(e.pid);
      }
    } else if (!e.userPaused) {
      e.wasm.resume();
    }
  }

  /** Links two processes (bidirectional, idempotent). If one has already ended abnormally, the other ends now. */
  link(a: ProcessEntry, b: ProcessEntry): void {
    if (a === this.init || b === this.init) throw new ExecutorError('not-permitted', 'pid 1 is the node\'s init: it cannot be linked');
    if (a === b) return;
    if (a.status && b.status) return;
    if (b.status) {
      if (isAbnormal(b.status.reason)) this.endWith(a, { kind: 'link', pid: b.pid });
      return;
    }
    if (a.status) {
      if (isAbnormal(a.status.reason)) this.endWith(b, { kind: 'link', pid: a.pid });
      return;
    }
    a.links.add(b);
    b.links.add(a);
  }

  unlink(a: ProcessEntry, b: ProcessEntry): void {
    a.links.delete(b);
    b.links.delete(a);
  }

  /** Calls `fire` once with the end status (at once if already ended); returns a function that cancels it. */
  monitor(e: ProcessEntry, fire: (s: EndStatus) => void): () => void {
    if (e.status) {
      fire(e.status);
      return () => {};
    }
    let fired = false;
    const once = (s: EndStatus): void => {
      if (fired) return;
      fired = true;
      fire(s);
    };
    e.monitors.add(once);
    return () => {
      e.monitors.delete(once);
    };
  }

  snapshot(e: ProcessEntry): ProcessSnapshot {
    const st = e.status;
    const stats = st ? undefined : e.wasm?.stats();
    return {
      pid: e.pid,
      ppid: e.ppid,
      cid: e.cid,
      argv: e.argv,
      createdAtMs: e.createdAtMs,
      state: e.state,
      fuelUsed: st ? st.fuelUsed : (stats?.fuelUsed ?? 0),
      cpuMs: st ? st.cpuMs : stats ? cpuMs(stats) : 0,
      memoryBytes: st ? st.memoryBytes : (stats?.memoryBytes ?? 0),
      reason: st?.reason,
      exitCode: st ? st.code : 0,
      links: [...e.links].map((l) => l.pid).sort((x, y) => x - y),
      monitors: e.monitors.size,
    };
  }

  /** Live processes, init excluded. */
  get liveCount(): number {
    return this.entries.size - this.ended.length - (this.init.status ? 0 : 1);
  }

  /** Ends every process with reason `killed` (init last) and waits until their output is delivered. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const live = this.list().filter((e) => !e.status && e !== this.init);
    for (const e of live) e.dying = true;
    for (const e of live) this.endWith(e, { kind: 'killed' });
    this.finish(this.init, { kind: 'killed' }, undefined);
    // Waits for their output to reach the sinks, but a sink that does not answer must not hold up shutdown.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(live.map((e) => e.settled)), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
  }

  // ---- internals ----

  /** The live processes of e's subtree, children before parents. */
  private subtree(e: ProcessEntry): ProcessEntry[] {
    const out: ProcessEntry[] = [];
    const visit = (x: ProcessEntry): void => {
      for (const c of x.children) if (!c.status) visit(c);
      out.push(x);
    };
    visit(e);
    return out;
  }

  private cancelPausing(e: ProcessEntry): void {
    const p = e.pausing;
    if (!p) return;
    e.pausing = undefined;
    clearTimeout(p.timer);
    p.resolve();
  }

  private finish(e: ProcessEntry, reason: Reason, rt: RuntimeStatus | undefined): void {
    if (e.status) return;
    const stats = e.wasm?.stats();
    const status: EndStatus = {
      code: reasonCode(reason),
      reason,
      ...(rt?.stdout ? { stdout: rt.stdout } : e.captures.stdout ? { stdout: new Uint8Array(0) } : {}),
      ...(rt?.stderr ? { stderr: rt.stderr } : e.captures.stderr ? { stderr: new Uint8Array(0) } : {}),
      fuelUsed: rt ? rt.fuelUsed : (stats?.fuelUsed ?? 0),
      memoryBytes: rt ? rt.memoryBytes : (stats?.memoryBytes ?? 0),
      cpuMs: stats ? cpuMs(stats) : 0,
      endedAtMs: Date.now(),
    };
    e.status = status;
    e.dying = false;
    e.sinksOf?.sinkSharers.delete(e);
    e.uncount();
    this.cancelPausing(e);

    // The tree: live children outlive their parent as children of init (as orphans do in Unix).
    this.entries.get(e.ppid)?.children.delete(e);
    if (e !== this.init) {
      for (const c of e.children) {
        c.ppid = INIT_PID;
        this.init.children.add(c);
      }
      e.children.clear();
    }
    this.ended.push(e);
    this.endedOutputBytes += outputBytes(status);
    while (this.ended.length > this.keepEnded) {
      const old = this.ended.shift()!;
      if (this.entries.get(old.pid) === old) this.entries.delete(old.pid);
      this.dropOutput(old); // a Process capability may keep the entry: not its output
    }
    for (let i = 0; i < this.ended.length && this.endedOutputBytes > this.keepOutputBytes; i++) this.dropOutput(this.ended[i]!);
    if (e !== this.init) {
      this.log?.(`end pid=${e.pid} reason=${JSON.stringify(reasonText(reason))} code=${status.code} cpu_ms=${status.cpuMs.toFixed(1)}`);
    }

    for (const fire of [...e.monitors]) fire(status);
    e.monitors.clear();
    for (const f of [...e.onEnd]) f(status);
    e.onEnd.clear();

    const linked = [...e.links];
    e.links.clear();
    for (const l of linked) {
      l.links.delete(e);
      if (isAbnormal(reason) && !l.status && !l.dying) this.pendingEnds.push([l, { kind: 'link', pid: e.pid }]);
    }

    const settle = (): void => e.resolveSettled(status);
    if (e.drained) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((r) => (timer = setTimeout(r, this.drainTimeoutMs)));
      void Promise.race([e.drained().catch(() => {}), timeout]).then(() => {
        clearTimeout(timer);
        settle();
      });
    } else settle();

    // Links propagate through a queue, not recursion: a long chain must not exhaust the stack.
    if (this.propagating) return;
    this.propagating = true;
    try {
      for (let next = this.pendingEnds.shift(); next; next = this.pendingEnds.shift()) this.endWith(next[0], next[1]);
    } finally {
      this.propagating = false;
    }
  }
}

function outputBytes(s: EndStatus): number {
  return (s.stdout?.length ?? 0) + (s.stderr?.length ?? 0);
}
