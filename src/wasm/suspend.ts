// A guest that can be suspended in its imports and resumed later on the same thread, so that one
// worker hosts many guests (docs/ARCHITECTURE.md, "Many guests per worker"). The module was
// transformed at load by binaryen's asyncify pass (suspendable.ts): an import that must wait throws
// SUSPEND (blocked.ts); its wrapper here starts an unwind, the guest's frames are saved as it
// returns to us, and when the wait settles they are put back and the guest is rewound into the
// same import, which runs again from its start and replays what it did before it waited.
//
// Asyncify writes the frames into the guest's own memory: ww borrows its first bytes for the
// unwind (saving what the guest had there and putting it back as soon as the unwind has ended;
// no guest code runs in between) and keeps only the frames while the guest is suspended.

import { SUSPEND, SuspendError, type Suspender } from './blocked.js';
import type { WasmInstance, WasmMemory } from './webassembly.js';

/** Bytes of guest memory lent to an unwind in a wait: the most frames a guest can have on its stack
 *  when it waits (more traps, SuspendError). Each unwind copies this much aside and back. */
export const SUSPEND_REGION_BYTES = 64 * 1024;

/** Bytes lent when a guest is preempted or paused at a tick (rare, and wherever it happens to be,
 *  perhaps deep in recursion). A smaller memory that may not hold its frames is grown toward this
 *  first, where its limits allow (framesMayNotFit). */
export const PREEMPT_REGION_BYTES = 4 * 1024 * 1024;

/** What one frame is assumed to take at most in an unwind (a call index and the locals live across
 *  the call: 255 i32s): a memory holding fewer frames than the stack has is grown before a preemption. */
const FRAME_BYTES_BOUND = 1024;

/** Waits at ticks (suspend.ts lends them PREEMPT_REGION_BYTES): a time slice's end, a pause. */
const PREEMPTIONS = new Set(['turn', 'pause']);

/** Where asyncify's data header sits in the region: [0, 4) next free byte, [4, 8) end of region. */
const HEADER = 8;

const enum State {
  Normal = 0,
  Unwinding = 1,
  Rewinding = 2,
}

interface AsyncifyExports {
  asyncify_start_unwind(data: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(data: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
}

/** The exports asyncify adds: a module without them cannot be suspended. */
export const ASYNCIFY_EXPORTS = ['asyncify_start_unwind', 'asyncify_stop_unwind', 'asyncify_start_rewind', 'asyncify_stop_rewind', 'asyncify_get_state'];

export { SuspendError };

/** What the log keeps: where it was recorded (a replay that reaches another place has diverged) and its outcome. */
type Outcome = { site: string } & ({ value: unknown } | { error: unknown });

/** The outcome of one step of a guest: it ended (with `_start`'s exit code) or waits for `until`
 *  (at `site`: 'turn' for a time slice's end, 'pause', 'sleep', a host call's name, ...). */
export type Step = { done: true; code: number } | { done: false; until: Promise<unknown>; site: string };

export class SuspendableGuest implements Suspender {
  /** What the import being replayed recorded and waited for, in order. */
  private readonly log: Outcome[] = [];
  private cursor = 0;
  /** Inside a wrapped import (only there can the guest unwind). */
  private depth = 0;
  private pending: Promise<unknown> | undefined;
  private pendingSite = '';
  /** The guest's frames while it is suspended. */
  private frames: Uint8Array | undefined;
  private lent: Uint8Array | undefined;
  /** Bytes lent to the unwind in progress. */
  private lentBytes = 0;
  private ex: AsyncifyExports | undefined;
  private started = false;

  constructor(
    private readonly memory: () => WasmMemory | undefined,
    /** Called after each import the guest called returns to it (a host call may have taken long). */
    private readonly afterCall: () => void = () => {},
    /** Grows the guest's memory toward a number of bytes, where its limits allow. */
    private readonly growTo: (bytes: number) => void = () => {},
  ) {}

  /** Bytes held for the guest while it is suspended, beyond its instance and memory. */
  get savedBytes(): number {
    return this.frames?.byteLength ?? 0;
  }

  /** `fn` as an import that may suspend the guest. */
  wrap<F extends (...args: never[]) => unknown>(fn: F): F {
    return ((...args: never[]) => {
      const ex = this.ex;
      if (ex && ex.asyncify_get_state() === State.Rewinding) {
        // Back where the guest waited: the import runs again, replaying its log.
        ex.asyncify_stop_rewind();
        this.giveBack();
        this.cursor = 0;
      }
      this.depth++;
      try {
        const result = fn(...args);
        this.forget();
        this.afterCall();
        return result;
      } catch (e) {
        if (e !== SUSPEND) {
          this.forget();
          throw e;
        }
        this.startUnwind();
        return 0; // ignored: the guest unwinds
      } finally {
        this.depth--;
      }
    }) as F;
  }

  /** Once the instance exists (its imports were wrapped before). */
  attach(instance: WasmInstance): void {
    this.ex = instance.exports as unknown as AsyncifyExports;
  }

  record<T>(site: string, run: () => T): T {
    if (this.cursor < this.log.length) return this.replay(site) as T;
    const value = run();
    this.log.push({ site, value });
    this.cursor++;
    return value;
  }

  suspend<T>(site: string, start: () => Promise<T>): T {
    if (this.cursor < this.log.length) return this.replay(site) as T;
    if (this.depth === 0 || !this.ex) throw new SuspendError('the guest waited where it cannot be suspended (outside an import, or while it is instantiated)');
    this.pending = start();
    this.pendingSite = site;
    throw SUSPEND;
  }

  /**
   * Runs the guest until it ends or suspends: `start()` the first time (it calls `_start` and gives
   * its exit code), a rewind into the import it waited in afterwards. Throws what the guest threw.
   */
  step(start: () => number): Step {
    const ex = this.ex!;
    if (this.started) this.startRewind();
    this.started = true;
    let code: number;
    try {
      code = start();
    } catch (e) {
      if (ex.asyncify_get_state() === State.Unwinding) {
        throw new SuspendError(`its stack was too deep to suspend (more than ${this.lentBytes / 1024} KiB of frames)`);
      }
      throw e;
    }
    if (ex.asyncify_get_state() !== State.Unwinding) return { done: true, code };
    ex.asyncify_stop_unwind();
    this.keepFrames();
    const until = this.pending!;
    const site = this.pendingSite;
    this.pending = undefined;
    // Its outcome is replayed when the import runs again.
    return {
      done: false,
      site,
      until: until.then(
        (value) => void this.log.push({ site, value }),
        (error: unknown) => void this.log.push({ site, error }),
      ),
    };
  }

  private replay(site: string): unknown {
    const entry = this.log[this.cursor++]!;
    // A bug in ww, not the guest's doing: an import read something it did not record before it waited.
    if (entry.site !== site) throw new SuspendError(`its resumed call went another way (${site} where it had ${entry.site})`);
    if ('error' in entry) throw entry.error;
    return entry.value;
  }

  private forget(): void {
    this.log.length = 0;
    this.cursor = 0;
  }

  /** The first `bytes` of the guest's memory (at most all of it, at least SUSPEND_REGION_BYTES). */
  private region(bytes = this.lentBytes): Uint8Array {
    const memory = this.memory();
    if (!memory || memory.buffer.byteLength < SUSPEND_REGION_BYTES) {
      throw new SuspendError('it has less than 64 KiB of memory, which suspending it needs');
    }
    return new Uint8Array(memory.buffer, 0, Math.min(bytes, memory.buffer.byteLength));
  }

  private startUnwind(): void {
    const preempted = PREEMPTIONS.has(this.pendingSite);
    // A guest with a small memory preempted deep in recursion would overflow what it has.
    const has = this.memory()?.buffer.byteLength ?? 0;
    if (preempted && has < PREEMPT_REGION_BYTES && framesMayNotFit(has - HEADER)) this.growTo(PREEMPT_REGION_BYTES);
    const region = this.region(preempted ? PREEMPT_REGION_BYTES : SUSPEND_REGION_BYTES);
    this.lentBytes = region.length;
    this.lent = region.slice(); // what the guest has there, put back once the unwind is over
    setHeader(region, HEADER, region.length);
    this.ex!.asyncify_start_unwind(0);
  }

  private keepFrames(): void {
    const region = this.region();
    const used = new DataView(region.buffer, 0, 4).getUint32(0, true);
    this.frames = region.slice(HEADER, used);
    region.set(this.lent!.subarray(0, used));
    this.lent = undefined;
  }

  private startRewind(): void {
    const frames = this.frames!;
    const end = HEADER + frames.length;
    this.lentBytes = end;
    const region = this.region();
    this.lent = region.slice(); // a rewind only reads the frames back
    region.set(frames, HEADER);
    setHeader(region, end, end);
    this.frames = undefined;
    this.ex!.asyncify_start_rewind(0);
  }

  private giveBack(): void {
    if (!this.lent) return;
    this.region().set(this.lent);
    this.lent = undefined;
  }
}

/** Whether the wasm frames on the stack may need more than `bytes` in an unwind, at FRAME_BYTES_BOUND
 *  each (counting them costs ~1 us a frame, so at most as many as `bytes` holds are counted). */
function framesMayNotFit(bytes: number): boolean {
  const fit = Math.floor(bytes / FRAME_BYTES_BOUND);
  const { stackTraceLimit, prepareStackTrace } = Error;
  try {
    Error.stackTraceLimit = fit + 64; // (and the host's own frames above them)
    Error.prepareStackTrace = (_e, frames) => frames.filter((f) => String(f.getFileName()).startsWith('wasm')).length;
    const probe: { stack?: unknown } = {};
    Error.captureStackTrace(probe);
    return (probe.stack as number) > fit;
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    Error.prepareStackTrace = prepareStackTrace;
  }
}

function setHeader(region: Uint8Array, next: number, end: number): void {
  const view = new DataView(region.buffer, region.byteOffset, HEADER);
  view.setUint32(0, next, true);
  view.setUint32(4, end, true);
}
