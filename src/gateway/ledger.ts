// The gateway's ledger: one file in its data directory, JSON lines appended and fsync'd, so that a
// task answered Running is never lost to a gateway restart. Appends are grouped (one fdatasync for
// every record queued while the previous one ran). When the file holds many more records than live
// tasks, it is rewritten (to a temporary file, fsync'd, renamed over it): bounded on disk.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExecuteRequest, NodeResult } from './contract.js';
import type { Placement } from './runner.js';

/** What the ledger keeps of one task attempt. */
export interface TaskRecord {
  id: string;
  key: string;
  attempt: number;
  acceptedAtMs: number;
  /** Kept while the task runs (to run it again after a restart); dropped once it has ended. */
  request?: ExecuteRequest;
  placement?: Placement;
  result?: NodeResult;
  finishedAtMs?: number;
  /** The final phase was answered: the next call with this key starts attempt + 1. */
  returnedAtMs?: number;
}

type Line =
  | { t: 'accept'; id: string; key: string; attempt: number; at: number; request: ExecuteRequest }
  | { t: 'spawn'; id: string; placement: Placement }
  | { t: 'done'; id: string; at: number; result: NodeResult }
  | { t: 'returned'; id: string; at: number }
  | { t: 'forget'; id: string };

export const LEDGER_FILE = 'ledger.jsonl';

export class Ledger {
  private handle: fs.FileHandle | undefined;
  private queued: { line: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private lines = 0;
  /** A compaction asked for: run by the writer loop when nothing is queued, so no append ever goes to the file being replaced. */
  private compaction: { live: () => Iterable<TaskRecord>; done: { resolve: () => void; reject: (e: unknown) => void }[] } | undefined;

  private constructor(
    readonly path: string,
    /** Rewrite when the file holds more than this many records and four times the live ones. */
    private readonly compactAfter: number,
  ) {}

  /** Opens (creating) the ledger in `dir` and returns the tasks it holds, by id. A torn last line
   *  (a crash mid-append) is ignored: its task was never answered Running. */
  static async open(dir: string, compactAfter = 10_000): Promise<{ ledger: Ledger; tasks: Map<string, TaskRecord> }> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ledger = new Ledger(join(dir, LEDGER_FILE), compactAfter);
    const tasks = new Map<string, TaskRecord>();
    if (existsSync(ledger.path)) {
      const content = readFileSync(ledger.path, 'utf8');
      // A torn last line is cut off, so that the next append starts a line of its own.
      const whole = content.lastIndexOf('\n') + 1;
      if (whole < content.length) truncateSync(ledger.path, Buffer.byteLength(content.slice(0, whole)));
      for (const text of content.slice(0, whole).split('\n')) {
        if (text === '') continue;
        let line: Line;
        try {
          line = JSON.parse(text) as Line;
        } catch {
          continue;
        }
        ledger.lines++;
        apply(tasks, line);
      }
    }
    ledger.handle = await fs.open(ledger.path, 'a', 0o600);
    return { ledger, tasks };
  }

  accepted(t: TaskRecord): Promise<void> {
    return this.append({ t: 'accept', id: t.id, key: t.key, attempt: t.attempt, at: t.acceptedAtMs, request: t.request! });
  }
  spawned(id: string, placement: Placement): Promise<void> {
    return this.append({ t: 'spawn', id, placement });
  }
  finished(id: string, at: number, result: NodeResult): Promise<void> {
    return this.append({ t: 'done', id, at, result });
  }
  returned(id: string, at: number): Promise<void> {
    return this.append({ t: 'returned', id, at });
  }
  forgotten(id: string): Promise<void> {
    return this.append({ t: 'forget', id });
  }

  /**
   * Rewrites the file with only the tasks `live()` gives when it has grown well past them. It runs in
   * the writer loop between appends: `live()` is read there, after every earlier record is on disk,
   * and records appended meanwhile wait and go to the new file after it (a record repeated that way
   * is harmless: see apply()).
   */
  maybeCompact(live: () => Iterable<TaskRecord>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.compaction ??= { live, done: [] };
      this.compaction.live = live;
      this.compaction.done.push({ resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async compact(tasks: TaskRecord[]): Promise<void> {
    if (this.lines <= this.compactAfter || this.lines <= 4 * tasks.length) return;
    const out: string[] = [];
    for (const t of tasks) for (const line of linesOf(t)) out.push(JSON.stringify(line));
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, out.length > 0 ? `${out.join('\n')}\n` : '');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await this.handle?.close();
    this.handle = undefined;
    renameSync(tmp, this.path);
    syncDir(dirname(this.path));
    this.handle = await fs.open(this.path, 'a', 0o600);
    this.lines = out.length;
  }

  async close(): Promise<void> {
    await this.flushing;
    await this.handle?.close();
    this.handle = undefined;
  }

  private append(line: Line): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ line: `${JSON.stringify(line)}\n`, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Writes everything queued, one fdatasync for the group, until the queue is empty. */
  private async flush(): Promise<void> {
    while (this.queued.length > 0 || this.compaction) {
      if (this.queued.length === 0) {
        const { live, done } = this.compaction!;
        this.compaction = undefined;
        try {
          await this.compact([...live()]);
          for (const d of done) d.resolve();
        } catch (e) {
          for (const d of done) d.reject(e);
        }
        continue;
      }
      const group = this.queued;
      this.queued = [];
      try {
        if (!this.handle) throw new Error('the gateway ledger is closed');
        await this.handle.appendFile(group.map((g) => g.line).join(''));
        await this.handle.datasync();
        this.lines += group.length;
        for (const g of group) g.resolve();
      } catch (e) {
        for (const g of group) g.reject(e);
      }
    }
    this.flushing = undefined;
  }
}

function apply(tasks: Map<string, TaskRecord>, line: Line): void {
  if (line.t === 'accept') {
    // Already known: this record was appended again after a compaction that wrote the task's state.
    if (tasks.has(line.id)) return;
    tasks.set(line.id, { id: line.id, key: line.key, attempt: line.attempt, acceptedAtMs: line.at, request: line.request });
    return;
  }
  const task = tasks.get(line.id);
  if (!task) return;
  if (line.t === 'spawn') task.placement = line.placement;
  else if (line.t === 'done') {
    task.result = line.result;
    task.finishedAtMs = line.at;
    delete task.request;
  } else if (line.t === 'returned') task.returnedAtMs = line.at;
  else tasks.delete(line.id);
}

/** The records that rebuild `t` as it stands. */
function linesOf(t: TaskRecord): Line[] {
  const out: Line[] = [{ t: 'accept', id: t.id, key: t.key, attempt: t.attempt, at: t.acceptedAtMs, request: t.request ?? placeholderRequest() }];
  if (t.placement) out.push({ t: 'spawn', id: t.id, placement: t.placement });
  if (t.result) out.push({ t: 'done', id: t.id, at: t.finishedAtMs ?? t.acceptedAtMs, result: t.result });
  if (t.returnedAtMs !== undefined) out.push({ t: 'returned', id: t.id, at: t.returnedAtMs });
  return out;
}

/** An ended task needs no request to be rebuilt: its result stands in. */
function placeholderRequest(): ExecuteRequest {
  return { workflow: { metadata: { name: '', namespace: '', uid: '' } }, template: {} };
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
