// The host side of instrumentation (instrument.ts), run inside the process worker:
// fuel accounting, the fuel and wall-clock limits, pause (freeze on Atomics.wait until
// resumed, or suspend on a shared worker), kill and time slices on a shared worker, and the
// memory.grow limit.

import { CTL_KILL, CTL_PAUSE, STAT_FROZEN_AT, STAT_FUEL, STAT_MEMORY, STAT_RUNNING_MS } from './protocol.js';
import { waitAsync, type Suspender } from './blocked.js';
import type { Limits } from './types.js';
import type { WasmGlobal, WasmMemory } from './webassembly.js';
import { MAX_TABLE_ENTRIES, PAGE_BYTES, tablePages } from './module.js';
import { chargeGrow } from './memory-budget.js';
import { TICK_BUDGET } from './instrument.js';

/** The most pages a 32-bit memory can have (4 GiB). */
const MAX_PAGES_32 = 65536;

// Fuel between two host calls: the instrumentation's, which caps the countdown at it.
export { TICK_BUDGET };

/** Thrown from a tick to end a guest of a shared worker that was killed (its worker goes on). */
export class GuestKilled extends Error {
  constructor() {
    super('killed');
  }
}

/** How a guest of a shared worker gives its thread to others: at a tick, once its time slice is over. */
export interface Turns {
  suspender: Suspender;
  /** Whether the guest has run its time slice (and others, or the worker's messages, are waiting). */
  sliceOver(): boolean;
  /** Resolves when it is the guest's turn again. */
  nextTurn(): Promise<void>;
}

/** Thrown from a host import to unwind the guest when a limit is reached. */
export class LimitExceeded extends Error {
  constructor(readonly limit: 'cpu' | 'wall' | 'memory') {
    super(`limit: ${limit}`);
  }
}

export class Meter {
  /** Fuel consumed up to the last tick. */
  private consumed = 0;
  /** Budget handed to the guest at the last tick (the countdown started from it). */
  private granted = 0;
  private readonly fuelLimit: number;
  private readonly timeoutMs: number;
  private readonly maxPages: number;
  private readonly startedAt = performance.now();
  private pausedMs = 0;
  private countdown: WasmGlobal | undefined;
  private memory: WasmMemory | undefined;
  /** Pages of host memory counted: its tables' entries and what chargeHost added. */
  private hostPages: number;
  /** Entries of all its tables (as charged: grows the engine then refused included). */
  private tableEntries: number;
  private readonly declaredMaxPages: number;
  /** Set when memory.grow was refused because of the limit: a trap after it is reported as limit: memory. */
  memoryLimitHit = false;
  /** A limit found outside a tick (e.g. in a host call): the next tick ends the process with it. */
  pendingLimit: LimitExceeded['limit'] | undefined;

  constructor(
    private readonly ctl: Int32Array,
    private readonly stats: Float64Array,
    limits: Limits,
    private readonly onFrozen: (seq: number) => void,
    /** Shared memory budgets each grow is charged to (memory-budget.ts). */
    private readonly memoryCharge?: { budgets: Int32Array[]; cell: Int32Array },
    /** The module's tables at start (already charged at spawn) and its memory's declared maximum. */
    shape: { tableEntries: number; maximumPages?: number } = { tableEntries: 0 },
    /** Set on a shared worker: the guest suspends to pause and to give up its turn. */
    private readonly turns?: Turns,
  ) {
    this.tableEntries = shape.tableEntries;
    this.hostPages = tablePages(shape.tableEntries);
    this.declaredMaxPages = shape.maximumPages ?? MAX_PAGES_32;
    this.fuelLimit = limits.fuel ?? Infinity;
    this.timeoutMs = limits.timeoutMs ?? Infinity;
    this.maxPages = limits.maxMemoryBytes === undefined ? Infinity : Math.floor(limits.maxMemoryBytes / PAGE_BYTES);
  }

  /** Ends the process with `limit` at the guest's next function entry or loop header. */
  endSoon(limit: LimitExceeded['limit']): void {
    this.pendingLimit = limit;
    if (!this.countdown) return;
    // Settle the fuel account, then zero the countdown so the very next check calls tick().
    this.consumed = this.fuelUsed();
    this.granted = 0;
    this.countdown.value = 0;
  }

  /** Makes the guest's next function entry or loop header call tick (its fuel account unchanged):
   *  on a shared worker, after a host call that ran past the guest's time slice. */
  checkSoon(): void {
    if (!this.countdown) return;
    this.consumed = this.fuelUsed();
    this.granted = 0;
    this.countdown.value = 0;
  }

  attach(countdown: WasmGlobal | undefined, memory: WasmMemory | undefined): void {
    this.countdown = countdown;
    this.memory = memory;
  }

  readonly imports = {
    tick: (): number => this.tick(),
    grow: (delta: number): number => this.grow(delta),
    grow_table: (delta: number): number => this.growTable(delta),
  };

  fuelUsed(): number {
    const left = this.countdown ? this.countdown.value : 0;
    return this.consumed + this.granted - left;
  }

  /** Milliseconds spent paused so far. */
  pausedTotalMs(): number {
    return this.pausedMs;
  }

  runningMs(): number {
    return performance.now() - this.startedAt - this.pausedMs;
  }

  memoryBytes(): number {
    return this.memory ? this.memory.buffer.byteLength : 0;
  }

  private tick(): number {
    const left = this.countdown ? this.countdown.value : 0;
    this.consumed += this.granted - left;
    // Work is charged before it runs (a region at its check, a loop's allowance ahead): what a tick
    // finds past the limit never ran, so the fuel used stops at the limit (this tick then ends it).
    if (this.consumed > this.fuelLimit) this.consumed = this.fuelLimit;
    this.granted = left; // until we return a new budget, fuelUsed() must equal consumed
    const turns = this.turns;
    if (turns) {
      this.publish(); // (before it may give up the thread: readers see the slice it ran)
      // Run again after a resumption (blocked.ts), with what it saw recorded: the accounting above then adds nothing.
      if (Atomics.load(this.ctl, CTL_KILL) !== 0) throw new GuestKilled();
      if (turns.suspender.record('slice over', () => turns.sliceOver())) turns.suspender.suspend('turn', () => turns.nextTurn());
      if (turns.suspender.record('pause asked', () => Atomics.load(this.ctl, CTL_PAUSE) !== 0)) this.freeze();
    } else if (Atomics.load(this.ctl, CTL_PAUSE) !== 0) this.freeze();
    this.publish();
    if (this.pendingLimit) throw new LimitExceeded(this.pendingLimit);
    if (this.consumed >= this.fuelLimit) throw new LimitExceeded('cpu');
    if (this.runningMs() > this.timeoutMs) throw new LimitExceeded('wall');
    this.granted = Math.min(TICK_BUDGET, this.fuelLimit - this.consumed);
    return this.granted;
  }

  /** Freezes until resumed if a pause was asked for (from a blocking host function: a sleep). */
  holdIfPaused(): void {
    if (Atomics.load(this.ctl, CTL_PAUSE) !== 0) this.freeze();
  }

  /** Whether the process was killed (a shared worker's guest; its waits stop). */
  killed(): boolean {
    return Atomics.load(this.ctl, CTL_KILL) !== 0;
  }

  /** Resolves once no pause is asked for; announces the freeze and counts its time (a shared worker's guest). */
  async whilePaused(): Promise<void> {
    if (Atomics.load(this.ctl, CTL_PAUSE) === 0) return;
    const frozenAt = performance.now();
    this.publish();
    this.stats[STAT_FROZEN_AT] = performance.timeOrigin + frozenAt;
    let announced = 0;
    for (;;) {
      const seq = Atomics.load(this.ctl, CTL_PAUSE);
      if (seq === 0 || this.killed()) break;
      if (seq !== announced) {
        this.onFrozen(seq);
        announced = seq;
      }
      await waitAsync(this.ctl, CTL_PAUSE, seq);
    }
    this.pausedMs += performance.now() - frozenAt;
  }

  private freeze(): void {
    if (this.turns) {
      this.turns.suspender.suspend('pause', () => this.whilePaused());
      return;
    }
    const frozenAt = performance.now();
    this.publish();
    this.stats[STAT_FROZEN_AT] = performance.timeOrigin + frozenAt;
    let announced = 0;
    for (;;) {
      const seq = Atomics.load(this.ctl, CTL_PAUSE);
      if (seq === 0) break;
      if (seq !== announced) {
        this.onFrozen(seq);
        announced = seq;
      }
      Atomics.wait(this.ctl, CTL_PAUSE, seq);
    }
    this.pausedMs += performance.now() - frozenAt;
  }

  private grow(delta: number): number {
    const current = this.memory ? this.memory.buffer.byteLength / PAGE_BYTES : 0;
    const pages = delta >>> 0;
    // Past the module's own maximum the engine refuses it anyway: nothing to charge (or keep charged).
    if (current + pages > this.declaredMaxPages) return -1;
    if (!this.charge(current, pages)) {
      this.memoryLimitHit = true;
      return -1; // as an unsigned page count this can never succeed: memory.grow returns -1
    }
    return delta;
  }

  /**
   * Grows linear memory toward `bytes` where its declared maximum, its limit and the budgets allow,
   * charged as the guest's own growth: room for its frames when it is preempted deep in recursion
   * (suspend.ts). The guest sees a larger memory.size, as if it had grown the memory itself.
   */
  growTo(bytes: number): void {
    if (!this.memory) return;
    const current = this.memory.buffer.byteLength / PAGE_BYTES;
    // As much as fits, not all or nothing: under a 2 MiB limit 2 MiB may well hold the frames.
    let pages = Math.min(Math.ceil(bytes / PAGE_BYTES), this.declaredMaxPages, this.maxPages - this.hostPages) - current;
    while (pages > 0 && !this.charge(current, pages)) pages >>= 1; // (a budget nearly full)
    if (pages <= 0) return;
    try {
      this.memory.grow(pages);
    } catch {
      return; // V8 could not map it (the guest's own grow would get -1): the unwind has what there is
    }
    this.publish();
  }

  /** table.grow(delta), all tables together: refused (-1: the guest sees -1) past MAX_TABLE_ENTRIES
   *  or when its entries do not fit the memory limit and budgets. */
  private growTable(delta: number): number {
    const after = this.tableEntries + (delta >>> 0);
    if (after > MAX_TABLE_ENTRIES) return -1;
    const more = tablePages(after) - tablePages(this.tableEntries);
    if (more > 0 && !this.chargeHost(more)) {
      this.memoryLimitHit = true;
      return -1;
    }
    this.tableEntries = after;
    return delta;
  }

  /**
   * Counts `pages` of host memory the guest made the host hold (its captured output) against its
   * memory limit and budgets, as if its linear memory had grown; false (nothing counted) past them.
   */
  chargeHost(pages: number): boolean {
    if (!this.charge(this.memory ? this.memory.buffer.byteLength / PAGE_BYTES : 0, pages)) return false;
    this.hostPages += pages;
    return true;
  }

  private charge(linearPages: number, pages: number): boolean {
    if (linearPages + this.hostPages + pages > this.maxPages) return false;
    return !this.memoryCharge || chargeGrow(this.memoryCharge.budgets, this.memoryCharge.cell, pages);
  }

  publish(): void {
    this.stats[STAT_FUEL] = this.consumed;
    this.stats[STAT_MEMORY] = this.memoryBytes();
    this.stats[STAT_RUNNING_MS] = this.runningMs();
  }
}
