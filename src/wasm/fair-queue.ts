// The pool's queue of processes waiting for a worker, fair between groups (principals): each group
// has its own FIFO and a free worker goes to the groups in turn, so one group's thousand queued
// spawns do not stand in front of another group's one.

/** Jobs without a group share this one. */
const UNGROUPED = {};

export class FairQueue<T extends { readonly group?: unknown }> {
  /** Groups with waiting jobs, in the order they get their next turn. */
  private readonly groups = new Map<unknown, T[]>();
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** Adds `job` at the back of its group's line. */
  push(job: T): void {
    const key = job.group ?? UNGROUPED;
    const line = this.groups.get(key);
    if (line) line.push(job);
    else this.groups.set(key, [job]);
    this.count++;
  }

  /** Puts `job` back at the front (it was taken back from a worker): its group goes next. */
  unshift(job: T): void {
    const key = job.group ?? UNGROUPED;
    const line = this.groups.get(key) ?? [];
    line.unshift(job);
    const others = [...this.groups].filter(([k]) => k !== key);
    this.groups.clear();
    this.groups.set(key, line);
    for (const [k, v] of others) this.groups.set(k, v);
    this.count++;
  }

  /** The next job: the first of the group whose turn it is, which then goes to the back. */
  shift(): T | undefined {
    for (const [key, line] of this.groups) {
      this.groups.delete(key);
      const job = line.shift();
      if (line.length > 0) this.groups.set(key, line); // re-inserted: now last in turn
      if (job) {
        this.count--;
        return job;
      }
    }
    return undefined;
  }

  /** Removes `job` if it is waiting; whether it was. */
  remove(job: T): boolean {
    const key = job.group ?? UNGROUPED;
    const line = this.groups.get(key);
    const i = line ? line.indexOf(job) : -1;
    if (!line || i < 0) return false;
    line.splice(i, 1);
    if (line.length === 0) this.groups.delete(key);
    this.count--;
    return true;
  }

  /** Takes the waiting jobs that `match` out, in their order. */
  take(match: (job: T) => boolean): T[] {
    const taken: T[] = [];
    for (const [key, line] of [...this.groups]) {
      const stay = line.filter((job) => !match(job) || (taken.push(job), false));
      if (stay.length === line.length) continue;
      if (stay.length > 0) this.groups.set(key, stay);
      else this.groups.delete(key);
    }
    this.count -= taken.length;
    return taken;
  }

  /** Takes every waiting job out. */
  drain(): T[] {
    const all = [...this.groups.values()].flat();
    this.groups.clear();
    this.count = 0;
    return all;
  }
}
