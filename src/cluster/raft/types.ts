// The nouns of the Raft core: entries, hard state, snapshots, messages, the Ready batch. All plain
// data, so a driver can encode them (codec.ts), store them (storage.ts) and send them as it likes.

/** A node's name in the cluster (a peer ID in ww). */
export type NodeId = string;

/**
 * The largest term, index or timestamp a message or file may carry (2^48). Terms grow by one an
 * election and indexes by one an entry, so a real cluster never gets near it; a hostile peer that
 * sent Number.MAX_SAFE_INTEGER would leave no term above it that a float can count to.
 */
export const MAX_COUNTER = 2 ** 48;

export type EntryType = 'normal' | 'config';

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** The application's command (empty for the leader's no-op at the start of its term). */
  readonly data: Uint8Array;
  /** For a `config` entry: the whole voter set from this entry on (effective as soon as appended). */
  readonly voters: readonly NodeId[];
  /** The leader's clock when it appended the entry: applying uses it for time, so applying is deterministic. */
  readonly time: number;
}

/** What must be on disk before a message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

export interface Snapshot {
  /** The last entry the snapshot includes, and its term. */
  readonly index: number;
  readonly term: number;
  /** The voter set in effect at `index`. */
  readonly voters: readonly NodeId[];
  /** The application's state at `index` (opaque to Raft). */
  readonly data: Uint8Array;
}

export type MessageType =
  | 'append'
  | 'append-resp'
  | 'vote'
  | 'vote-resp'
  | 'pre-vote'
  | 'pre-vote-resp'
  | 'heartbeat'
  | 'heartbeat-resp'
  | 'snapshot'
  | 'propose'
  | 'read-index'
  | 'read-index-resp';

/**
 * One message between nodes. Flat (every field always present) so that the codec is one shape; each
 * type reads the fields it needs:
 * - append: index/logTerm = the entry before `entries`, commit = the leader's commit
 * - append-resp: index = last matching index (or the rejected one), reject, rejectHint/logTerm = where to retry
 * - vote, pre-vote: index/logTerm = the candidate's last entry; term = the term it asks for
 * - heartbeat: commit (at most the follower's match), ctx = the latest read it confirms
 * - snapshot: snapshot
 * - propose, read-index: forwarded to the leader; term 0 (they carry no term)
 * - read-index-resp: index = the commit index the read must wait for, ctx
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly index: number;
  readonly logTerm: number;
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly ctx: string;
}

/** A linearizable read's point: once `index` is applied, the local state answers the read named `ctx`. */
export interface ReadState {
  readonly index: number;
  readonly ctx: string;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/**
 * What the node asks its driver to do, in this order: persist `snapshot` (a received one), `entries`
 * (replacing the stored log from entries[0].index on) and `hardState`, and `compaction`; then send
 * `messages`; then restore the state machine from `snapshot` if any and apply `committedEntries`;
 * then answer `readStates` once their index is applied; then call advance(ready).
 */
export interface Ready {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly compaction: Snapshot | null;
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/** What storage hands back at start: everything persisted. */
export interface PersistedState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot;
  readonly entries: readonly Entry[];
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };

/** The snapshot a cluster starts from: nothing applied, `voters` the founding members. */
export function initialSnapshot(voters: readonly NodeId[]): Snapshot {
  return { index: 0, term: 0, voters: [...voters].sort(), data: new Uint8Array(0) };
}
