// Where a node's durable state lives. The core never touches storage itself: the driver persists
// each Ready before sending its messages, and hands load() to a restarted node.

import type { Entry, HardState, PersistedState, Ready, Snapshot } from './types.js';
import { EMPTY_HARD_STATE, initialSnapshot } from './types.js';

/** What one Ready asks to persist. */
export type ReadyToPersist = Pick<Ready, 'hardState' | 'entries' | 'snapshot' | 'compaction'>;

export interface RaftStorage {
  /** Everything persisted so far (a fresh store: the founding snapshot it was created with). */
  load(): PersistedState;
  /**
   * Makes `rd` durable before returning, in the order: a received snapshot (replacing the log), the
   * entries (replacing the log from entries[0].index on), the hard state, a compaction (dropping
   * entries it covers). A crash part way leaves a state some earlier call could have left.
   */
  persist(rd: ReadyToPersist): void;
}

/** Applies `rd` to an in-memory picture of the log: shared by MemoryStorage and FileStorage. */
export function applyToState(state: PersistedState, rd: ReadyToPersist): PersistedState {
  let { hardState, snapshot, entries } = state;
  if (rd.snapshot) {
    snapshot = rd.snapshot;
    entries = [];
  }
  if (rd.entries.length > 0) entries = spliceEntries(entries, snapshot, rd.entries);
  if (rd.hardState) hardState = rd.hardState;
  if (rd.compaction && rd.compaction.index > snapshot.index) {
    entries = entries.filter((e) => e.index > rd.compaction!.index);
    snapshot = rd.compaction;
  }
  return { hardState, snapshot, entries };
}

/** `entries` with `more` written from more[0].index on (the log after it cut). */
export function spliceEntries(entries: readonly Entry[], snapshot: Snapshot, more: readonly Entry[]): Entry[] {
  const first = more[0]!.index;
  const keep = Math.max(0, first - snapshot.index - 1);
  if (keep > entries.length) throw new Error(`raft storage: entries from ${first} leave a gap after ${snapshot.index + entries.length}`);
  return [...entries.slice(0, keep), ...more];
}

/** Storage in memory: for simulation and tests (a "crash" keeps exactly what persist() was given). */
export class MemoryStorage implements RaftStorage {
  private state: PersistedState;
  constructor(voters: readonly string[], hardState: HardState = EMPTY_HARD_STATE) {
    this.state = { hardState, snapshot: initialSnapshot(voters), entries: [] };
  }
  load(): PersistedState {
    return { ...this.state, entries: [...this.state.entries] };
  }
  persist(rd: ReadyToPersist): void {
    this.state = applyToState(this.state, rd);
  }
}
