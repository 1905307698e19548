// The worker pool (docs/ARCHITECTURE.md, "Worker threads"): warm process workers, reused between processes,
// sized by cores, grown when processes queue because every worker is busy (processes may
// block), shrunk back when extra workers sit idle. Kill = terminate + a fresh worker.

import { MessageChannel, Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';
import { FairQueue } from './fair-queue.js';
import { threadGone } from './ring.js';
import { WCTL_PREFETCH, WORKER_CONTROL_BYTES, type CallAnswer, type FromWorker, type RunMessage, type WorkerInit } from './protocol.js';
import type { ExitReason } from './types.js';
import type { WasmModule } from './webassembly.js';

/** Where a started job runs, as the job sees it: the way its host-call answers go. */
export interface Place {
  answer(answer: CallAnswer): void;
}

/** What runs jobs: a pool of dedicated workers (this file) or of shared ones (shared-pool.ts). */
export interface Scheduler {
  submit(job: Job): void;
  /** Withdraws a job that has not started; a started one is stopped. */
  cancel(job: Job): void;
  /** Stops a started job now (kill, deadline passed while blocked): its worker drops or ends it. */
  stop(job: Job): void;
}

/** What the pool runs: implemented by the process object. */
export interface Job {
  readonly pid: number;
  /** 'exited' once the job has ended (e.g. killed before it started). */
  readonly state: string;
  readonly cid: string;
  readonly module: WasmModule;
  /** Whose it is (a principal): queued jobs get free workers in turn between groups. */
  readonly group?: object;
  /** The run message without the module-cache fields the pool fills in. */
  runMessage(): Omit<RunMessage, 'module' | 'drop' | 'prefetchToken' | 'group'>;
  onStart(place: Place): void;
  onMessage(msg: FromWorker): void;
  /** The worker died under the job (crash, out of memory): the job ends with this reason. */
  onWorkerLost(reason: ExitReason): void;
}

export interface PoolOptions {
  /** Workers kept warm even when idle. */
  minWorkers: number;
  /** Upper bound on workers; further processes queue. */
  maxWorkers: number;
  /** Extra workers (above minWorkers) idle this long are stopped. */
  idleMs: number;
  /** Modules each worker keeps compiled-and-received, by content ID. */
  modulesPerWorker: number;
  /** Send a process ahead to a busy worker whose current process began less than this long ago
   *  (it will likely end soon), so the worker starts it without a round trip. 0 = never. */
  prefetchMs: number;
  /** Processes queued this long, while workers have been busy with one process as long, start more workers. */
  growAfterMs: number;
  resourceLimits?: ResourceLimits;
}

/** One worker thread and its control block. */
export class Slot implements Place {
  readonly ctl: Int32Array;
  ready = false;
  job: Job | undefined;
  /** A job sent ahead, to start when `job` ends (see WCTL_PREFETCH). */
  prefetched: Job | undefined;
  prefetchToken = 0;
  /** Content IDs this worker holds, least recently used first. */
  readonly modules = new Set<string>();
  idleSince = 0;
  /** When the current job was dispatched (performance.now()). */
  jobStartedAt = 0;
  /** Set when we terminate it ourselves, so its exit is not taken for a crash. */
  retired = false;
  lastError: Error | undefined;
  readonly worker: Worker;
  /** Our end of the worker's call port: answers to synchronous host calls (host-call.ts). */
  private readonly callPort: MessagePort;
  constructor(url: URL, resourceLimits: ResourceLimits | undefined, shared = false) {
    const control = new SharedArrayBuffer(WORKER_CONTROL_BYTES);
    this.ctl = new Int32Array(control);
    const { port1, port2 } = new MessageChannel();
    this.callPort = port1;
    this.worker = newWorker(url, { control, callPort: port2, shared }, resourceLimits);
  }

  /** Sends a host call's answer to the worker (the job wakes its guest: Process.answer). */
  answer(answer: CallAnswer): void {
    this.callPort.postMessage(answer);
  }
}

export function newWorker(url: URL, init: WorkerInit, resourceLimits: ResourceLimits | undefined): Worker {
  // execArgv: [] — the workers need none of the node's own flags, and some (--input-type, --eval)
  // would make them fail to start. Process-wide V8 settings (the trap handler) apply regardless.
  return new Worker(url, { workerData: init, transferList: [init.callPort as unknown as MessagePort], resourceLimits, execArgv: [] });
}

const MAX_START_FAILURES = 3;

/**
 * What a run message carries of the job's module for a worker holding `held` (content IDs, least
 * recently used first, at most `max`): the module unless the worker has it, and the ones it must drop.
 */
export function deliverModule(held: Set<string>, job: Job, max: number): { module?: WasmModule; drop: string[] } {
  const drop: string[] = [];
  let module: WasmModule | undefined;
  if (held.has(job.cid)) {
    held.delete(job.cid); // refresh its place in the LRU order
  } else {
    module = job.module;
    while (held.size >= max) {
      const oldest = held.values().next().value as string;
      held.delete(oldest);
      drop.push(oldest);
    }
  }
  held.add(job.cid);
  return { module, drop };
}

/** A worker started before any pool wanted it (prestartWorker), with the events it emitted meanwhile. */
interface Prestarted {
  slot: Slot;
  events: Array<['message', FromWorker] | ['error', Error] | ['exit', number]>;
  /** Removes the listeners that record events. */
  detach(): void;
}
const prestarted: Prestarted[] = [];
const WORKER_URL = new URL('./process-worker.js', import.meta.url);

/**
 * Starts a dedicated process worker now, for the next pool that starts one (without resourceLimits)
 * to take. A worker thread takes longer to start than anything else in a short run (`ww run`
 * without a node: cli/README.md, "Start-up"); started before the runtime's own modules are imported,
 * it boots on another core meanwhile. Until a pool takes it, it keeps nothing alive (unref'd).
 */
export function prestartWorker(): void {
  const slot = new Slot(WORKER_URL, undefined);
  const entry: Prestarted = { slot, events: [], detach: () => {} };
  const onMessage = (msg: FromWorker) => entry.events.push(['message', msg]);
  const onError = (err: Error) => entry.events.push(['error', err]);
  const onExit = (code: number) => entry.events.push(['exit', code]);
  slot.worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  slot.worker.unref();
  entry.detach = () => {
    slot.worker.off('message', onMessage).off('error', onError).off('exit', onExit);
  };
  prestarted.push(entry);
}

let lastToken = 0;
function nextToken(): number {
  lastToken = lastToken >= 0x7fffffff ? 1 : lastToken + 1;
  return lastToken;
}

/** Takes a job sent ahead back from its worker; false if the worker already claimed it. */
function takeBack(slot: Slot): boolean {
  return slot.prefetchToken !== 0 && Atomics.compareExchange(slot.ctl, WCTL_PREFETCH, slot.prefetchToken, 0) === slot.prefetchToken;
}

export class WorkerPool implements Scheduler {
  private readonly slots = new Set<Slot>();
  private readonly idle: Slot[] = [];
  private readonly queue = new FairQueue<Job>();
  private starting = 0;
  private startFailures = 0;
  private growTimer: NodeJS.Timeout | undefined;
  private reclaimTimer: NodeJS.Timeout | undefined;
  private readonly shrinkTimer: NodeJS.Timeout;
  private closed = false;
  private readonly workerUrl = WORKER_URL;

  constructor(private readonly opts: PoolOptions) {
    this.shrinkTimer = setInterval(() => this.shrink(), Math.max(100, opts.idleMs / 2)).unref();
  }

  /** Starts the minimum number of workers and resolves when they are ready. */
  async warm(): Promise<void> {
    const ready: Promise<void>[] = [];
    while (this.slots.size + this.starting < this.opts.minWorkers) ready.push(this.startWorker());
    await Promise.all(ready);
  }

  submit(job: Job): void {
    if (this.closed) throw new Error('the runtime is closed');
    const slot = this.idle.pop();
    if (slot) return this.dispatch(slot, job);
    const ahead = this.prefetchTarget();
    if (ahead) return this.prefetch(ahead, job);
    this.queue.push(job);
    if (this.slots.size + this.starting === 0) void this.startWorker(); // (a pool kept at no warm workers)
    this.armGrowth();
  }

  stop(job: Job): void {
    for (const s of this.slots) if (s.job === job) return this.retire(s);
    this.cancel(job);
  }

  /** Takes the jobs that `match` and have not started out: queued, or sent ahead to a worker that
   *  has not claimed them. */
  withdrawQueued(match: (job: Job) => boolean): Job[] {
    const taken = this.queue.take(match);
    for (const s of this.slots) {
      const job = s.prefetched;
      if (job && match(job) && takeBack(s)) {
        s.prefetched = undefined;
        taken.push(job);
      }
    }
    return taken;
  }

  /** Withdraws a job that has not started (queued or sent ahead). A job sent ahead that its
   *  worker has already claimed is stopped with the worker once the runtime learns it started. */
  cancel(job: Job): void {
    if (this.queue.remove(job)) return;
    for (const s of this.slots) {
      if (s.prefetched === job && takeBack(s)) s.prefetched = undefined;
    }
  }

  /** Terminates the worker running a job (kill); a fresh worker takes its place if needed. */
  retire(slot: Slot): void {
    if (slot.retired) return;
    slot.retired = true;
    slot.job = undefined;
    this.slots.delete(slot);
    void slot.worker.terminate();
    this.requeuePrefetched(slot);
    this.replenish();
  }

  info(): { workers: number; idle: number; busy: number; starting: number; queued: number } {
    return {
      workers: this.slots.size,
      idle: this.idle.length,
      busy: this.slots.size - this.idle.length,
      starting: this.starting,
      queued: this.queue.length,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.shrinkTimer);
    clearTimeout(this.growTimer);
    clearTimeout(this.reclaimTimer);
    const all = [...this.slots];
    this.slots.clear();
    this.idle.length = 0;
    for (const s of all) s.retired = true;
    await Promise.all(all.map((s) => s.worker.terminate()));
  }

  private dispatch(slot: Slot, job: Job): void {
    slot.job = job;
    slot.jobStartedAt = performance.now();
    slot.worker.ref();
    job.onStart(slot);
    this.send(slot, job, 0);
  }

  /** The busy worker whose current process started most recently within prefetchMs, without a job sent ahead. */
  private prefetchTarget(): Slot | undefined {
    if (this.opts.prefetchMs <= 0) return undefined;
    const now = performance.now();
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (!s.job || s.prefetched || s.retired || now - s.jobStartedAt > this.opts.prefetchMs) continue;
      if (!best || s.jobStartedAt < best.jobStartedAt) best = s;
    }
    return best;
  }

  /** Keeps a queued job waiting inside a busy worker, so it starts the moment the current one ends. */
  private topUp(slot: Slot): void {
    if (this.opts.prefetchMs <= 0 || slot.prefetched || slot.retired) return;
    const next = this.queue.shift();
    if (next) this.prefetch(slot, next);
  }

  private prefetch(slot: Slot, job: Job): void {
    slot.prefetched = job;
    slot.prefetchToken = nextToken();
    Atomics.store(slot.ctl, WCTL_PREFETCH, slot.prefetchToken);
    this.send(slot, job, slot.prefetchToken);
    this.armReclaim();
  }

  /** Takes back jobs sent ahead to workers whose current process turned out to be long. */
  private armReclaim(): void {
    if (this.reclaimTimer || this.closed) return;
    this.reclaimTimer = setTimeout(() => {
      this.reclaimTimer = undefined;
      const now = performance.now();
      let waiting = false;
      for (const s of [...this.slots]) {
        const job = s.prefetched;
        if (!job) continue;
        if (now - s.jobStartedAt < 2 * this.opts.prefetchMs) {
          waiting = true;
          continue;
        }
        if (!takeBack(s)) continue; // already claimed by the worker
        s.prefetched = undefined;
        if (job.state !== 'exited') this.submitFirst(job);
      }
      if (waiting) this.armReclaim();
    }, 2 * this.opts.prefetchMs + 1);
  }

  private submitFirst(job: Job): void {
    const slot = this.idle.pop();
    if (slot) return this.dispatch(slot, job);
    this.queue.unshift(job);
    this.armGrowth();
  }

  private requeuePrefetched(slot: Slot): void {
    const job = slot.prefetched;
    slot.prefetched = undefined;
    if (job && job.state !== 'exited' && !this.closed) this.submitFirst(job);
  }

  private send(slot: Slot, job: Job, prefetchToken: number): void {
    const { module, drop } = deliverModule(slot.modules, job, this.opts.modulesPerWorker);
    const msg: RunMessage = { ...job.runMessage(), group: 0, module, drop, prefetchToken };
    slot.worker.postMessage(msg);
  }

  private release(slot: Slot): void {
    slot.job = undefined;
    if (slot.retired) return;
    const ahead = slot.prefetched;
    if (ahead) {
      slot.prefetched = undefined;
      if (takeBack(slot)) {
        // Not claimed yet (the worker will skip that message): run it here the ordinary way.
        if (ahead.state !== 'exited') return this.dispatch(slot, ahead);
      } else {
        // The worker has started it already.
        if (ahead.state === 'exited') return this.retire(slot); // killed meanwhile
        slot.job = ahead;
        slot.jobStartedAt = performance.now();
        ahead.onStart(slot);
        return this.topUp(slot);
      }
    }
    const next = this.queue.shift();
    if (next) {
      this.dispatch(slot, next);
      return this.topUp(slot);
    }
    slot.idleSince = performance.now();
    slot.worker.unref();
    this.idle.push(slot);
  }

  private armGrowth(): void {
    if (this.growTimer || this.closed) return;
    this.growTimer = setTimeout(() => {
      this.growTimer = undefined;
      // Processes are still queued. Add a worker for each one that has been busy with the same
      // process all this time (blocked, or long-running): a queue of short processes that the
      // workers are getting through is no reason to grow (more threads than cores only slows them).
      const now = performance.now();
      let stuck = 0;
      for (const s of this.slots) if (s.job && now - s.jobStartedAt >= this.opts.growAfterMs) stuck++;
      let wanted = Math.min(this.queue.length, stuck) - this.starting;
      while (wanted-- > 0 && this.slots.size + this.starting < this.opts.maxWorkers) void this.startWorker();
      if (this.queue.length > 0 && this.slots.size + this.starting < this.opts.maxWorkers) this.armGrowth();
    }, this.opts.growAfterMs);
  }

  private replenish(): void {
    if (this.closed) return;
    if (this.slots.size + this.starting < this.opts.minWorkers) void this.startWorker();
    if (this.queue.length > 0) this.armGrowth();
  }

  private shrink(): void {
    const now = performance.now();
    for (let i = 0; i < this.idle.length && this.slots.size > this.opts.minWorkers; ) {
      const slot = this.idle[i];
      if (now - slot.idleSince > this.opts.idleMs) {
        this.idle.splice(i, 1);
        this.retire(slot);
      } else i++;
    }
  }

  private startWorker(): Promise<void> {
    this.starting++;
    const early = this.opts.resourceLimits === undefined ? prestarted.shift() : undefined;
    const slot = early?.slot ?? new Slot(this.workerUrl, this.opts.resourceLimits);
    const worker = slot.worker;
    const started = new Promise<void>((resolve) => {
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          this.starting--;
          this.startFailures = 0;
          slot.ready = true;
          if (this.closed) return void worker.terminate().then(() => resolve());
          this.slots.add(slot);
          this.release(slot);
          return resolve();
        }
        const job = slot.job;
        if (!job || msg.pid !== job.pid) return; // a late message from a process already ended
        job.onMessage(msg);
        if (msg.type === 'exit') this.release(slot);
      });
      worker.on('error', (err) => {
        slot.lastError = err;
      });
      const threadId = worker.threadId;
      worker.on('exit', (code) => {
        threadGone(threadId); // frees ring locks it held if it was terminated while copying (ring.ts)
        if (!slot.ready) {
          this.starting--;
          resolve();
          if (slot.retired || this.closed) return;
          this.startFailures++;
          if (this.startFailures >= MAX_START_FAILURES) return this.failQueue(slot.lastError, code);
          return this.replenish();
        }
        if (slot.retired) return;
        slot.retired = true;
        this.slots.delete(slot);
        const i = this.idle.indexOf(slot);
        if (i >= 0) this.idle.splice(i, 1);
        const job = slot.job;
        slot.job = undefined;
        job?.onWorkerLost(lostReason(slot.lastError, code));
        this.requeuePrefetched(slot);
        this.replenish();
      });
    });
    if (early) {
      // A prestarted worker: what it said before this pool listened, in order, then as usual.
      early.detach();
      worker.ref();
      for (const [name, arg] of early.events) worker.emit(name, arg);
    }
    return started;
  }

  private failQueue(err: Error | undefined, code: number): void {
    const reason: ExitReason = {
      kind: 'trap',
      message: `cannot start a process worker: ${err?.message ?? `exit code ${code}`}`,
    };
    for (const job of this.queue.drain()) job.onWorkerLost(reason);
  }
}

function lostReason(err: Error | undefined, code: number): ExitReason {
  if ((err as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return { kind: 'limit', limit: 'memory' };
  return { kind: 'trap', message: `worker crashed: ${err?.message ?? `exit code ${code}`}` };
}
