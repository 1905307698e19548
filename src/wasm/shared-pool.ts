// Shared workers (docs/ARCHITECTURE.md, "Worker threads"): as many threads as cores, each hosting
// any number of guests of suspendable modules (suspend.ts). A guest that waits is suspended and
// costs memory only; the runnable ones share the thread in time slices, in turn between
// principals. A process is placed once, on the worker with the fewest runnable guests (an
// instance cannot move between threads), and starts there at once: there is no queue here.

import { MessageChannel, type ResourceLimits, type Worker } from 'node:worker_threads';
import { deliverModule, newWorker, type Job, type Scheduler } from './pool.js';
import { WCTL_MAIL, WCTL_RUNNABLE, WORKER_CONTROL_BYTES, type CallAnswer, type FromWorker, type RunMessage, type StopMessage } from './protocol.js';
import type { ExitReason } from './types.js';
import { threadGone } from './ring.js';

export interface SharedPoolOptions {
  workers: number;
  /** Modules each worker keeps compiled-and-received, by content ID. */
  modulesPerWorker: number;
  resourceLimits?: ResourceLimits;
}

/** Principals as the numbers the workers know them by (run messages carry no objects). */
const groupNumbers = new WeakMap<object, number>();
let lastGroup = 0;
function groupNumber(group: object | undefined): number {
  if (!group) return 0;
  let n = groupNumbers.get(group);
  if (n === undefined) groupNumbers.set(group, (n = ++lastGroup));
  return n;
}

class SharedWorker {
  readonly ctl: Int32Array;
  readonly worker: Worker;
  readonly jobs = new Map<number, Job>();
  /** Content IDs this worker holds, least recently used first. */
  readonly modules = new Set<string>();
  private readonly callPort;
  ready: Promise<void>;
  lastError: Error | undefined;
  retired = false;

  constructor(url: URL, resourceLimits: ResourceLimits | undefined) {
    const control = new SharedArrayBuffer(WORKER_CONTROL_BYTES);
    this.ctl = new Int32Array(control);
    const { port1, port2 } = new MessageChannel();
    this.callPort = port1;
    this.worker = newWorker(url, { control, callPort: port2, shared: true }, resourceLimits);
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (msg: FromWorker): void => {
        if (msg.type !== 'ready') return;
        this.worker.off('message', onMessage);
        resolve();
      };
      this.worker.on('message', onMessage);
      this.worker.once('exit', (code) => reject(new Error(`a shared process worker exited at start (code ${code})`)));
    });
    this.ready.catch(() => {});
  }

  /** Runnable guests as the worker last published them. */
  get runnable(): number {
    return Atomics.load(this.ctl, WCTL_RUNNABLE);
  }

  answer(answer: CallAnswer): void {
    this.callPort.postMessage(answer);
    this.mail();
  }

  post(msg: RunMessage | StopMessage): void {
    this.worker.postMessage(msg);
    this.mail();
  }

  /** Tells a guest running on the worker that the worker has messages to read (see WCTL_MAIL). */
  private mail(): void {
    Atomics.add(this.ctl, WCTL_MAIL, 1);
  }
}

export class SharedPool implements Scheduler {
  private readonly workers: SharedWorker[] = [];
  private readonly placed = new Map<Job, SharedWorker>();
  private readonly workerUrl = new URL('./process-worker.js', import.meta.url);
  private closed = false;

  constructor(private readonly opts: SharedPoolOptions) {
    for (let i = 0; i < opts.workers; i++) this.workers.push(this.startWorker());
  }

  async warm(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.ready));
  }

  submit(job: Job): void {
    if (this.closed) throw new Error('the runtime is closed');
    const w = this.leastLoaded();
    this.placed.set(job, w);
    w.jobs.set(job.pid, job);
    job.onStart(w);
    const { module, drop } = deliverModule(w.modules, job, this.opts.modulesPerWorker);
    const msg: RunMessage = { ...job.runMessage(), group: groupNumber(job.group), module, drop, prefetchToken: 0 };
    w.post(msg);
  }

  cancel(job: Job): void {
    this.stop(job);
  }

  stop(job: Job): void {
    const w = this.placed.get(job);
    if (!w) return;
    this.placed.delete(job);
    w.jobs.delete(job.pid);
    w.post({ type: 'stop', pid: job.pid });
  }

  info(): { workers: number; runnable: number; hosted: number } {
    let runnable = 0;
    let hosted = 0;
    for (const w of this.workers) {
      runnable += w.runnable;
      hosted += w.jobs.size;
    }
    return { workers: this.workers.length, runnable, hosted };
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = this.workers.splice(0);
    for (const w of all) w.retired = true;
    await Promise.all(all.map((w) => w.worker.terminate()));
  }

  /** Fewest runnable guests first, then fewest guests (a burst of spawns is spread before any runs). */
  private leastLoaded(): SharedWorker {
    let best = this.workers[0]!;
    for (const w of this.workers) {
      if (w.runnable < best.runnable || (w.runnable === best.runnable && w.jobs.size < best.jobs.size)) best = w;
    }
    return best;
  }

  private startWorker(): SharedWorker {
    const w = new SharedWorker(this.workerUrl, this.opts.resourceLimits);
    w.worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') return;
      const job = w.jobs.get(msg.pid);
      if (!job) return; // a process already stopped
      if (msg.type === 'exit') {
        w.jobs.delete(msg.pid);
        this.placed.delete(job);
      }
      job.onMessage(msg);
    });
    w.worker.on('error', (err) => {
      w.lastError = err;
    });
    const threadId = w.worker.threadId;
    w.worker.on('exit', (code) => {
      threadGone(threadId); // frees ring locks it held (ring.ts)
      if (w.retired || this.closed) return;
      // Every guest of the worker ends with it (one guest exhausting the worker's heap, an engine bug).
      w.retired = true;
      const i = this.workers.indexOf(w);
      if (i >= 0) this.workers.splice(i, 1, this.startWorker());
      const reason = lostReason(w.lastError, code);
      for (const job of w.jobs.values()) {
        this.placed.delete(job);
        job.onWorkerLost(reason);
      }
      w.jobs.clear();
    });
    return w;
  }
}

function lostReason(err: Error | undefined, code: number): ExitReason {
  if ((err as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return { kind: 'limit', limit: 'memory' };
  return { kind: 'trap', message: `shared worker crashed: ${err?.message ?? `exit code ${code}`}` };
}
