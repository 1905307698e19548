// One guest process as the runtime's caller sees it (WasmProcess), and as the pool runs it (Job).

import { answerHostCall, type HostReply } from './host-call.js';
import { blockedMsNow } from './blocked.js';
import type { CompiledModule } from './module.js';
import type { Job, Place, Scheduler } from './pool.js';
import type { ProcessCharge } from './memory-budget.js';
import type { ProcessSockets } from './sockets/owner.js';
import { CONTROL_BYTES, CONTROL_WORDS, CTL_CALL, CTL_INFLIGHT, CTL_KILL, CTL_PAUSE, STAT_BLOCKED_MS, STAT_BLOCKED_SINCE, STAT_FROZEN_AT, STAT_FUEL, STAT_MEMORY, type FromWorker, type InputSource, type OutputTarget, type RunMessage } from './protocol.js';
import { exitCode } from './exit.js';
import type { ExitReason, ExitStatus, OutputMode, ProcessState, ProcessStats, SpawnOptions, WasmProcess } from './types.js';

/** A CPU-bound guest reaches a tick within about a millisecond of its deadline; a guest blocked
 *  in a host call never does, so the runtime terminates its worker this long after the deadline. */
const WALL_GRACE_MS = 25;

/** setTimeout's largest delay (a signed 32-bit count of ms); past it Node fires after 1 ms instead. */
const MAX_TIMER_MS = 0x7fff_ffff;

let pauseSeq = 0;

export class Process implements WasmProcess, Job {
  state: ProcessState = 'starting';
  readonly cid: string;
  /** Where it runs once started (its worker); undefined before and after. */
  private place: Place | undefined;
  /** Its control block, shared with the worker that runs it (protocol.ts). */
  private readonly control = new SharedArrayBuffer(CONTROL_BYTES);
  private readonly ctl = new Int32Array(this.control, 0, CONTROL_WORDS);
  private readonly statsBlock = new Float64Array(this.control);
  private status: ExitStatus | undefined;
  private readonly done: Promise<ExitStatus>;
  private resolveDone!: (s: ExitStatus) => void;
  private pauseRequest = 0;
  private pauseWaiters: (() => void)[] = [];
  private startedAt = 0;
  private pausedAt = 0;
  private pausedMs = 0;
  private wallTimer: NodeJS.Timeout | undefined;
  private callbackFailed = false;
  private endedRunningMs = 0;
  private endedBlockedMs = 0;
  /** Set while the worker is blocked in a host call: a pause then takes effect at once. */
  private inHostCall = false;
  /** An answer that arrived while paused in a host call, delivered on resume. */
  private heldReply: { place: Place; reply: HostReply } | undefined;

  constructor(
    readonly pid: number,
    private compiled: CompiledModule,
    private readonly options: SpawnOptions,
    private pool: Scheduler,
    private readonly onEnd: (p: Process) => void,
    private readonly maxCaptureBytes: number,
    /** Its pre-opened sockets (SpawnOptions.listen), closed when it ends. */
    private readonly sockets?: ProcessSockets,
    /** Its pages in a shared memory budget (SpawnOptions.memoryBudget), given back when it ends. */
    private readonly charge?: ProcessCharge,
  ) {
    this.cid = compiled.cid;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get group(): object | undefined {
    return this.options.group;
  }

  get module(): CompiledModule['module'] {
    return this.compiled.module;
  }

  /** Runs `compiled` (the same module, made suspendable) on `pool` instead: only before it has a
   *  place (the caller took it out of its queue). */
  moveTo(compiled: CompiledModule, pool: Scheduler): void {
    if (this.place || compiled.cid !== this.cid) throw new Error(`process ${this.pid} cannot move: it has started or the module differs`);
    this.compiled = compiled;
    this.pool = pool;
    pool.submit(this);
  }

  // ---- WasmProcess ----

  wait(): Promise<ExitStatus> {
    return this.done;
  }

  kill(): void {
    if (this.state === 'exited') return;
    this.finish({ kind: 'killed' });
    this.stopWorker();
  }

  pause(): Promise<void> {
    if (this.state === 'exited' || this.state === 'paused') return Promise.resolve();
    if (!this.compiled.instrumented) {
      return Promise.reject(new Error('pause needs an instrumented module: create the Runtime with instrument: true'));
    }
    if (this.pauseRequest === 0) {
      this.pauseRequest = ++pauseSeq;
      Atomics.store(this.ctl, CTL_PAUSE, this.pauseRequest);
      Atomics.notify(this.ctl, CTL_PAUSE); // a guest asleep in a WASI call freezes at once
    }
    // Blocked in a host call, the guest runs no code until we answer: it is frozen already.
    if (this.inHostCall && this.state === 'running') {
      this.enterPaused();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.pauseWaiters.push(resolve));
  }

  resume(): void {
    if (this.state === 'exited' || this.pauseRequest === 0) return;
    this.pauseRequest = 0;
    Atomics.store(this.ctl, CTL_PAUSE, 0);
    Atomics.notify(this.ctl, CTL_PAUSE);
    if (this.state === 'paused') {
      this.state = 'running';
      this.pausedMs += performance.now() - this.pausedAt;
      this.armWallTimer();
    }
    this.settlePauseWaiters(); // a pause not yet in effect is cancelled by the resume
    const held = this.heldReply;
    this.heldReply = undefined;
    if (held && held.place === this.place) this.answer(held.place, held.reply);
  }

  stats(): ProcessStats {
    if (this.status) {
      return { fuelUsed: this.status.fuelUsed, memoryBytes: this.status.memoryBytes, runningMs: this.endedRunningMs, blockedMs: this.endedBlockedMs };
    }
    const s = this.place ? this.statsBlock : undefined;
    return {
      fuelUsed: s ? s[STAT_FUEL] : 0,
      memoryBytes: s ? s[STAT_MEMORY] : 0,
      // Our own clock, not the figure the meter publishes at ticks: a blocked guest reaches none.
      runningMs: this.runningMs(),
      blockedMs: s ? blockedMsNow(s, STAT_BLOCKED_MS, STAT_BLOCKED_SINCE) : 0,
    };
  }

  /** Epoch milliseconds at which the guest last froze (0 if never): for measuring pause latency. */
  frozenAt(): number {
    return this.place ? this.statsBlock[STAT_FROZEN_AT]! : 0;
  }

  // ---- Job ----

  runMessage(): Omit<RunMessage, 'module' | 'drop' | 'prefetchToken' | 'group'> {
    const o = this.options;
    return {
      type: 'run',
      pid: this.pid,
      cid: this.cid,
      control: this.control,
      instrumented: this.compiled.instrumented,
      memory: this.compiled.importedMemory,
      args: o.args,
      env: Object.entries(o.env ?? {}),
      preopens: o.preopens ?? [],
      stdin: inputSource(o.stdin),
      stdout: outputTarget(o.stdout),
      stderr: outputTarget(o.stderr),
      limits: o.limits ?? {},
      maxCaptureBytes: this.maxCaptureBytes,
      hostNamespaces: Object.keys(o.hostCalls ?? {}),
      ...(this.sockets ? { sockets: this.sockets.init() } : {}),
      tableEntries: this.compiled.initialTableEntries,
      ...(this.charge ? { memoryCharge: { budgets: this.charge.budgets, cell: this.charge.cell } } : {}),
    };
  }

  onStart(place: Place): void {
    this.place = place;
    this.state = 'running';
    this.startedAt = performance.now();
    this.armWallTimer();
  }

  onMessage(msg: FromWorker): void {
    switch (msg.type) {
      case 'out': {
        const sink = msg.fd === 1 ? this.options.stdout : this.options.stderr;
        if (typeof sink === 'function') this.deliver(sink, msg.data);
        Atomics.sub(this.ctl, CTL_INFLIGHT, msg.data.length);
        Atomics.notify(this.ctl, CTL_INFLIGHT);
        return;
      }
      case 'frozen':
        if (msg.seq !== this.pauseRequest || this.state !== 'running') return;
        this.enterPaused();
        return;
      case 'call':
        void this.hostCall(msg.op, msg.args);
        return;
      case 'cast':
        void answerHostCall(this.options.hostCalls, msg.op, msg.args);
        return;
      case 'exit':
        this.finish(msg.reason, msg);
        this.place = undefined;
        return;
    }
  }

  onWorkerLost(reason: ExitReason): void {
    this.finish(reason);
    this.place = undefined;
  }

  // ---- internals ----

  private enterPaused(): void {
    this.state = 'paused';
    this.pausedAt = performance.now();
    clearTimeout(this.wallTimer);
    this.settlePauseWaiters();
  }

  private async hostCall(op: string, args: unknown): Promise<void> {
    const place = this.place;
    if (!place) return;
    this.inHostCall = true;
    if (this.pauseRequest !== 0 && this.state === 'running') this.enterPaused(); // asked before it got here
    const reply = await answerHostCall(this.options.hostCalls, op, args);
    this.inHostCall = false;
    if (this.state === 'exited' || this.place !== place) return; // killed or ended meanwhile
    if (this.state === 'paused') {
      this.heldReply = { place, reply };
      return;
    }
    this.answer(place, reply);
  }

  /** Hands a host call's answer to the worker and wakes the guest waiting for it. */
  private answer(place: Place, reply: HostReply): void {
    place.answer({ pid: this.pid, reply }); // queued on the call port before the word is set
    Atomics.store(this.ctl, CTL_CALL, 1);
    Atomics.notify(this.ctl, CTL_CALL);
  }

  /** Ends its run on the worker (killed, or past its deadline while blocked). */
  private stopWorker(): void {
    Atomics.store(this.ctl, CTL_KILL, 1);
    // Waits of a shared worker's guest end on these words (a paused one, one held by output).
    Atomics.notify(this.ctl, CTL_PAUSE);
    Atomics.notify(this.ctl, CTL_INFLIGHT);
    if (this.place) this.pool.stop(this);
    else this.pool.cancel(this);
  }

  private runningMs(): number {
    if (this.startedAt === 0) return 0;
    const end = this.state === 'paused' ? this.pausedAt : performance.now();
    return end - this.startedAt - this.pausedMs;
  }

  private armWallTimer(): void {
    const timeoutMs = this.options.limits?.timeoutMs;
    if (timeoutMs === undefined || this.state !== 'running') return;
    clearTimeout(this.wallTimer);
    const left = timeoutMs + WALL_GRACE_MS - this.runningMs();
    this.wallTimer = setTimeout(() => {
      if (this.state !== 'running') return;
      if (this.runningMs() < timeoutMs + WALL_GRACE_MS) return this.armWallTimer();
      // The guest never reached a tick after its deadline (blocked in a host call, or not instrumented).
      this.finish({ kind: 'limit', limit: 'wall' });
      this.stopWorker();
    }, Math.min(Math.max(0, left), MAX_TIMER_MS)); // a longer deadline is re-armed when this fires
  }

  private deliver(sink: (data: Uint8Array) => void, data: Uint8Array): void {
    try {
      sink(data);
    } catch (e) {
      if (!this.callbackFailed) {
        this.callbackFailed = true;
        process.emitWarning(`ww: output callback of process ${this.pid} threw: ${(e as Error).message}`);
      }
    }
  }

  private settlePauseWaiters(): void {
    const waiters = this.pauseWaiters;
    this.pauseWaiters = [];
    for (const w of waiters) w();
  }

  private finish(reason: ExitReason, exit?: Extract<FromWorker, { type: 'exit' }>): void {
    if (this.state === 'exited') return;
    const stats = this.stats();
    // The worker's own figure when it reported one: the main thread learns of a start sent ahead late.
    this.endedRunningMs = exit ? exit.runningMs : this.runningMs();
    this.endedBlockedMs = exit ? exit.blockedMs : stats.blockedMs;
    this.state = 'exited';
    this.charge?.release();
    clearTimeout(this.wallTimer);
    this.status = {
      code: exitCode(reason),
      reason,
      ...(exit?.stdout ? { stdout: exit.stdout } : this.options.stdout === 'capture' ? { stdout: new Uint8Array(0) } : {}),
      ...(exit?.stderr ? { stderr: exit.stderr } : this.options.stderr === 'capture' ? { stderr: new Uint8Array(0) } : {}),
      fuelUsed: exit ? exit.fuelUsed : stats.fuelUsed,
      memoryBytes: exit ? exit.memoryBytes : stats.memoryBytes,
    };
    this.settlePauseWaiters();
    this.sockets?.closeAll();
    this.onEnd(this);
    this.resolveDone(this.status);
  }
}

function inputSource(mode: SpawnOptions['stdin']): InputSource {
  if (mode === 'inherit') return { kind: 'inherit' };
  if (mode instanceof Uint8Array) return { kind: 'bytes', data: mode };
  if (mode !== undefined && mode !== 'ignore') return { kind: 'stream' }; // an InputStream: read through the 'stdin' host calls (stdin.ts)
  return { kind: 'ignore' };
}

function outputTarget(mode: OutputMode | undefined): OutputTarget {
  if (typeof mode === 'function') return 'stream';
  return mode ?? 'ignore';
}
