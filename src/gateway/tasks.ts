// The gateway's task table: Argo calls for a template, this decides whether the call starts an
// attempt, joins one in flight, or collects its final result, and answers within a few milliseconds.
// Argo sends no node ID, so a task is named by its key (workflow uid + sha256 of the template as
// canonical JSON) and an attempt number: a call for a key in flight joins it; once a final phase was
// answered for a key, the next call starts a new attempt (Argo's retryStrategy re-sends the same
// template). Every task is in the ledger before it is answered Running.
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RpcError } from '../rpc/index.js';
import { canonicalJson, goDuration, wwPluginBody, type ExecuteReply, type ExecuteRequest, type NodeResult } from './contract.js';
import { Ledger, type TaskRecord } from './ledger.js';
import { RunError, StepRunner, type ConnectNode } from './runner.js';
import { parseStep, StepError, type StepSpec } from './step.js';

export interface TaskTableOptions {
  /** Holds the ledger and each running task's output directories. */
  dataDir: string;
  connect: ConnectNode;
  /** Tasks running at once; past it a new task is answered 503 (Argo retries with backoff). Default 256. */
  maxInFlight?: number;
  /** Tasks remembered at all (running, results not yet read, attempts answered). Default 10,000. */
  maxTasks?: number;
  /** How long a result waits to be read, and an answered attempt is remembered. Default 1 hour. */
  resultTtlMs?: number;
  /** How long a call may wait for a task that is about to end before answering Running. Default 10 ms. */
  answerWithinMs?: number;
  /** Relative module paths are read from here. Default: the working directory. */
  modulesDir?: string;
  log?: (line: string) => void;
}

/** Too much in flight or remembered: answered 503 with this message, which Argo retries. */
export class GatewayBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GatewayBusyError';
  }
}

interface Task extends TaskRecord {
  step?: StepSpec;
  /** Settles when the task has a result. */
  ended: Promise<void>;
}

/** Attempts to reach the node again when the connection to it is lost mid-task. */
const RECONNECTS = 3;

export class TaskTable {
  private readonly byKey = new Map<string, Task>();
  private readonly byId = new Map<string, Task>();
  private running = 0;
  private lastSweep = 0;
  private closed = false;
  private readonly runner: StepRunner;
  private readonly maxInFlight: number;
  private readonly maxTasks: number;
  private readonly ttl: number;
  private readonly answerWithin: number;
  private readonly log: (line: string) => void;

  private constructor(
    private readonly opts: TaskTableOptions,
    private readonly ledger: Ledger,
  ) {
    this.maxInFlight = opts.maxInFlight ?? 256;
    this.maxTasks = opts.maxTasks ?? 10_000;
    this.ttl = opts.resultTtlMs ?? 3_600_000;
    this.answerWithin = opts.answerWithinMs ?? 10;
    this.log = opts.log ?? (() => {});
    const root = opts.modulesDir ?? process.cwd();
    this.runner = new StepRunner(opts.connect, (p) => (p.startsWith('/') ? p : join(root, p)));
  }

  /** Opens the ledger and takes up what it holds: running tasks are found again on the node (or run
   *  again if their process is gone), results not yet read wait to be read. */
  static async open(opts: TaskTableOptions): Promise<TaskTable> {
    const { ledger, tasks } = await Ledger.open(opts.dataDir);
    const table = new TaskTable(opts, ledger);
    let resumed = 0;
    for (const record of [...tasks.values()].sort((a, b) => a.acceptedAtMs - b.acceptedAtMs)) {
      const task: Task = { ...record, ended: Promise.resolve() };
      table.remember(task);
      if (!task.result) {
        resumed++;
        table.start(task);
      }
    }
    if (resumed > 0) table.log(`resumed ${resumed} task(s) from the ledger`);
    await ledger.maybeCompact(() => table.byId.values());
    return table;
  }

  /** Answers one call of Argo's agent. Throws GatewayBusyError (503). */
  async execute(req: ExecuteRequest): Promise<ExecuteReply> {
    const body = wwPluginBody(req.template);
    if (body === undefined) return {}; // not ours: Argo asks the next plugin
    const now = Date.now();
    this.sweep(now);
    // The uid is the caller's word: namespace and name go into the hash too, so one workflow's
    // results are not another's for the asking (one token is still one trust domain).
    const { uid, namespace, name } = req.workflow.metadata;
    const key = `${uid}/${createHash('sha256').update(canonicalJson({ namespace, name, template: req.template })).digest('hex').slice(0, 32)}`;
    const current = this.byKey.get(key);
    if (current && !current.result) return this.runningReply(current, now);
    if (current?.result && current.returnedAtMs === undefined) return this.finalReply(current, now);

    let step: StepSpec;
    try {
      step = parseStep(body, req.template);
    } catch (e) {
      if (e instanceof StepError) return { node: { phase: 'Failed', message: e.message } };
      throw e;
    }
    if (this.running >= this.maxInFlight) throw new GatewayBusyError(`the gateway runs ${this.running} tasks, its most (--max-in-flight): try again later`);
    this.makeRoom();
    const attempt = (current?.attempt ?? 0) + 1;
    const task: Task = {
      id: createHash('sha256').update(`${key}#${attempt}`).digest('hex').slice(0, 24),
      key,
      attempt,
      acceptedAtMs: now,
      request: req,
      step,
      ended: Promise.resolve(),
    };
    this.remember(task);
    // The guest starts while its record is fsync'd (the ledger keeps records in order, so the
    // spawn record never precedes it); Running is answered only once the record is on disk.
    const accepted = this.ledger.accepted(task);
    this.start(task);
    try {
      await accepted;
    } catch (e) {
      // The task runs and stays in the table: Argo retries the 503 and joins it.
      throw new GatewayBusyError(`the gateway cannot write its ledger: ${(e as Error).message}`);
    }
    return this.runningReplyOrFinal(task, now);
  }

  /** Counts for logs and tests. */
  stats(): { running: number; tasks: number } {
    return { running: this.running, tasks: this.byId.size };
  }

  /** Stops taking results; running processes stay on the node (detached) and are found again by the
   *  next gateway on this data directory. */
  async close(): Promise<void> {
    this.closed = true;
    this.runner.close();
    await this.ledger.close();
  }

  private async runningReplyOrFinal(task: Task, now: number): Promise<ExecuteReply> {
    if (this.answerWithin > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([task.ended, new Promise((r) => (timer = setTimeout(r, this.answerWithin)))]);
      clearTimeout(timer);
    }
    return task.result ? this.finalReply(task, Date.now()) : this.runningReply(task, now);
  }

  private runningReply(task: Task, now: number): ExecuteReply {
    const elapsed = now - task.acceptedAtMs;
    const where = task.placement ? `${task.placement.peerId ? `${task.placement.peerId}/` : ''}${task.placement.pid}` : undefined;
    return {
      node: { phase: 'Running', message: where ? `running as ww process ${where} (attempt ${task.attempt})` : `starting (attempt ${task.attempt})` },
      // Half the task's age, from 20 ms to 10 s: a short step is seen soon after it ends, a long one
      // is asked about a few times (log1.5 of its length), and none is answered later than 50% after its end.
      requeue: goDuration(requeueMs(elapsed)),
    };
  }

  private finalReply(task: Task, now: number): ExecuteReply {
    task.returnedAtMs = now;
    this.ledger.returned(task.id, now).catch((e: unknown) => this.log(`ledger: ${(e as Error).message}`));
    return { node: task.result! };
  }

  private start(task: Task): void {
    this.running++;
    task.ended = this.run(task)
      .catch((e: unknown): NodeResult => ({ phase: 'Error', message: `ww gateway: ${e instanceof Error ? e.message : String(e)}` }))
      .then((result) => {
        this.running--;
        if (this.closed) return;
        task.result = result;
        task.finishedAtMs = Date.now();
        delete task.request;
        delete task.step;
        // Not awaited: a result lost to a crash before this fsync is found again from the process.
        this.ledger.finished(task.id, task.finishedAtMs, result).catch((e: unknown) => this.log(`ledger: ${(e as Error).message}`));
      });
  }

  /** Spawns the task's process (or finds the one a previous gateway spawned) and waits for its end. */
  private async run(task: Task): Promise<NodeResult> {
    let step: StepSpec;
    try {
      step = task.step ?? parseStep(wwPluginBody(task.request!.template), task.request!.template);
    } catch (e) {
      if (e instanceof StepError) return { phase: 'Failed', message: e.message };
      throw e;
    }
    const workDir = join(this.opts.dataDir, 'work', task.id);
    const dirs = step.outputDirs.map((_, i) => join(workDir, `out${i}`));
    try {
      for (let tries = 0; ; tries++) {
        try {
          const attached = task.placement ? await this.runner.attach(task.placement) : undefined;
          if (attached) return await this.runner.finish(attached, step, dirs);
          rmSync(workDir, { recursive: true, force: true }); // a fresh run starts with empty directories
          for (const d of dirs) mkdirSync(d, { recursive: true, mode: 0o700 });
          const spawned = await this.runner.spawn(step, dirs);
          // Recorded while the guest runs (not before waiting for it): the fsync is off the step's path.
          const recorded = this.ledger.spawned(task.id, spawned.placement).then(() => {
            task.placement = spawned.placement; // shown in Running replies once it is in the ledger
          });
          const result = await this.runner.finish(spawned.process, step, dirs);
          await recorded;
          return result;
        } catch (e) {
          if (this.closed) throw e;
          if (e instanceof RunError && !/no ww node|cannot connect/.test(e.message)) return { phase: 'Failed', message: e.message };
          if (!isConnectionLost(e) || tries >= RECONNECTS) return { phase: 'Failed', message: `ww gateway: ${e instanceof Error ? e.message : String(e)}` };
          this.runner.reset();
          this.log(`lost the node during task ${task.id}; trying again (${tries + 1}/${RECONNECTS})`);
          await new Promise((r) => setTimeout(r, 1000 * 2 ** tries));
        }
      }
    } finally {
      if (!this.closed) rmSync(workDir, { recursive: true, force: true });
    }
  }

  private remember(task: Task): void {
    const previous = this.byKey.get(task.key);
    if (previous && previous !== task && previous.result) this.forget(previous);
    this.byKey.set(task.key, task);
    this.byId.set(task.id, task);
  }

  private drop(task: Task): void {
    this.byId.delete(task.id);
    if (this.byKey.get(task.key) === task) this.byKey.delete(task.key);
  }

  private forget(task: Task): void {
    this.drop(task);
    this.ledger.forgotten(task.id).catch((e: unknown) => this.log(`ledger: ${(e as Error).message}`));
  }

  /** Forgets results nobody read within the TTL and answered attempts older than it (at most once a second). */
  private sweep(now: number): void {
    if (now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const task of this.byId.values()) {
      const since = task.returnedAtMs ?? task.finishedAtMs;
      if (task.result && since !== undefined && now - since > this.ttl) this.forget(task);
    }
    this.ledger.maybeCompact(() => this.byId.values()).catch((e: unknown) => this.log(`ledger: ${(e as Error).message}`));
  }

  /** Keeps the table within maxTasks: answered attempts go first (oldest first); results not yet
   *  read and running tasks are never dropped, so a full table of those is 503. */
  private makeRoom(): void {
    if (this.byId.size < this.maxTasks) return;
    const answered = [...this.byId.values()].filter((t) => t.returnedAtMs !== undefined).sort((a, b) => a.returnedAtMs! - b.returnedAtMs!);
    for (const t of answered.slice(0, this.byId.size - this.maxTasks + 1)) this.forget(t);
    if (this.byId.size >= this.maxTasks) throw new GatewayBusyError(`the gateway holds ${this.byId.size} tasks running or with results not yet read, its most: try again later`);
  }
}

function isConnectionLost(e: unknown): boolean {
  if (e instanceof RpcError) return e.type === 'disconnected';
  return e instanceof RunError; // connecting failed (the node is restarting)
}

/** The requeue for a task running for `elapsedMs`. */
export function requeueMs(elapsedMs: number): number {
  return Math.min(10_000, Math.max(20, Math.round(elapsedMs / 2)));
}
