// Memory budgets shared by several processes (a principal's inside the node's): the linear memory
// pages their processes hold, counted where they change. The main thread charges a process's
// initial pages when it is spawned (refusing the spawn past a budget); the process's worker charges
// each memory.grow through the meter (refusing the grow past one); the main thread gives the pages
// back once when the process ends. Both sides use SharedArrayBuffers, so no message is on the grow
// path. A budget may sit inside another: a charge counts in both, all or nothing.

import { PAGE_BYTES } from './module.js';

// Int32 words of a budget: pages in use, most pages allowed.
const USED = 0;
const LIMIT = 1;
/** A process's charge once the main thread has taken it back: its worker may charge no more. */
const CLOSED = -1;

/** The most pages one budget can count: Int32 words, so just under 128 TiB. */
const MAX_PAGES = 0x7fff_ffff;

export class MemoryBudget {
  /** [USED, LIMIT] in pages. */
  readonly cells: Int32Array;

  constructor(
    /** For messages: "the node's memory budget", "the owner's memory budget". */
    readonly name: string,
    maxBytes: number,
    /** The budget this one counts inside (a charge here is a charge there too). */
    readonly parent?: MemoryBudget,
  ) {
    if (!(maxBytes >= 0)) throw new RangeError(`a memory budget must be a number of bytes >= 0, not ${maxBytes}`);
    this.cells = new Int32Array(new SharedArrayBuffer(8));
    this.cells[LIMIT] = Math.min(MAX_PAGES, Math.floor(maxBytes / PAGE_BYTES));
  }

  get usedBytes(): number {
    return Atomics.load(this.cells, USED) * PAGE_BYTES;
  }

  get limitBytes(): number {
    return this.cells[LIMIT]! * PAGE_BYTES;
  }

  /** This budget and those it sits inside, innermost first. */
  chain(): MemoryBudget[] {
    const out: MemoryBudget[] = [];
    for (let b: MemoryBudget | undefined = this; b; b = b.parent) out.push(b);
    return out;
  }

  /**
   * A charge for one process, holding `pages` at once, or the budget that has no room for them.
   * The worker adds to the charge with chargeGrow; release() gives all of it back, once.
   */
  open(pages: number): ProcessCharge | { full: MemoryBudget } {
    const chain = this.chain();
    const cells = chain.map((b) => b.cells);
    const failed = reserveAll(cells, pages);
    if (failed >= 0) return { full: chain[failed]! };
    return new ProcessCharge(cells, pages);
  }
}

/** One process's pages in a chain of budgets. */
export class ProcessCharge {
  /** [pages charged] or CLOSED; handed to the process's worker with the budgets' cells. */
  readonly cell: Int32Array;

  constructor(
    readonly budgets: Int32Array[],
    pages: number,
  ) {
    this.cell = new Int32Array(new SharedArrayBuffer(4));
    this.cell[0] = pages;
  }

  /** Gives the process's pages back; later grows of its worker are refused. */
  release(): void {
    const pages = Atomics.exchange(this.cell, 0, CLOSED);
    if (pages > 0) for (const b of this.budgets) Atomics.sub(b, USED, pages);
  }
}

/** Worker side: charges `delta` more pages to a process's charge; false when a budget has no room
 *  (or the process has ended). Charges the budgets first, so a release racing it never gives back
 *  pages that were not counted; a grow that loses that race is refused and uncharged. */
export function chargeGrow(budgets: readonly Int32Array[], cell: Int32Array, delta: number): boolean {
  if (delta === 0) return Atomics.load(cell, 0) !== CLOSED;
  if (reserveAll(budgets, delta) >= 0) return false;
  for (;;) {
    const had = Atomics.load(cell, 0);
    if (had === CLOSED) {
      for (const b of budgets) Atomics.sub(b, USED, delta);
      return false;
    }
    if (Atomics.compareExchange(cell, 0, had, had + delta) === had) return true;
  }
}

/** Reserves `pages` in every budget or none; the index of the one without room, else -1. */
function reserveAll(budgets: readonly Int32Array[], pages: number): number {
  for (let i = 0; i < budgets.length; i++) {
    if (reserve(budgets[i]!, pages)) continue;
    for (let j = 0; j < i; j++) Atomics.sub(budgets[j]!, USED, pages);
    return i;
  }
  return -1;
}

function reserve(cells: Int32Array, pages: number): boolean {
  if (!(pages >= 0) || pages > MAX_PAGES) return false;
  for (;;) {
    const used = Atomics.load(cells, USED);
    if (used + pages > cells[LIMIT]!) return false;
    if (Atomics.compareExchange(cells, USED, used, used + pages) === used) return true;
  }
}
