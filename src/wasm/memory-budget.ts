// A memory budget shared by several processes (a principal's, later the node's): the linear memory
// pages its processes hold, counted where they change. The main thread charges a process's initial
// pages when it is spawned (refusing the spawn past the budget); the process's worker charges each
// memory.grow through the meter (refusing the grow past it); the main thread gives the pages back once
// when the process ends. Both sides use one SharedArrayBuffer, so no message is on the grow path.

import { PAGE_BYTES } from './module.js';

// Int32 words of a budget: pages in use, most pages allowed.
const USED = 0;
const LIMIT = 1;
/** A process's charge once the main thread has taken it back: its worker may charge no more. */
const CLOSED = -1;

/** The most pages one budget can count: Int32 words, so just under 128 TiB. */
const MAX_PAGES = 0x7fff_ffff;

export class MemoryBudget {
  /** [USED, LIMIT] in pages; handed to workers. */
  readonly cells: Int32Array;

  constructor(maxBytes: number) {
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

  /**
   * A charge for one process, holding `pages` at once; undefined when they do not fit. The worker
   * adds to it with chargeGrow; release() gives all of it back, once.
   */
  open(pages: number): ProcessCharge | undefined {
    if (!reserve(this.cells, pages)) return undefined;
    return new ProcessCharge(this.cells, pages);
  }
}

/** One process's pages in a budget. */
export class ProcessCharge {
  /** [pages charged] or CLOSED; handed to the process's worker with the budget's cells. */
  readonly cell: Int32Array;

  constructor(
    readonly budget: Int32Array,
    pages: number,
  ) {
    this.cell = new Int32Array(new SharedArrayBuffer(4));
    this.cell[0] = pages;
  }

  /** Gives the process's pages back to the budget; later grows of its worker are refused. */
  release(): void {
    const pages = Atomics.exchange(this.cell, 0, CLOSED);
    if (pages > 0) Atomics.sub(this.budget, USED, pages);
  }
}

/** Worker side: charges `delta` more pages to a process's charge; false when the budget has no room
 *  (or the process has ended). Charges the budget first, so a release racing it never gives back
 *  pages that were not counted; a grow that loses that race is refused and uncharged. */
export function chargeGrow(budget: Int32Array, cell: Int32Array, delta: number): boolean {
  if (delta === 0) return Atomics.load(cell, 0) !== CLOSED;
  if (!reserve(budget, delta)) return false;
  for (;;) {
    const had = Atomics.load(cell, 0);
    if (had === CLOSED) {
      Atomics.sub(budget, USED, delta);
      return false;
    }
    if (Atomics.compareExchange(cell, 0, had, had + delta) === had) return true;
  }
}

function reserve(cells: Int32Array, pages: number): boolean {
  if (!(pages >= 0) || pages > MAX_PAGES) return false;
  for (;;) {
    const used = Atomics.load(cells, USED);
    if (used + pages > cells[LIMIT]!) return false;
    if (Atomics.compareExchange(cells, USED, used, used + pages) === used) return true;
  }
}
