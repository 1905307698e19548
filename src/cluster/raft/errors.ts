// What the Raft core, its storage and the registry refuse, as a code and a message for people. A
// caller acts on the code (retry elsewhere, back off, give up); the message says what and why once.

export const RAFT_ERROR_CODES = [
  /** This node is not the leader and knows none: retry later (a leader is being elected). */
  'no-leader',
  /** An operation only a leader may do (a membership change); `leader` names the one this node knows. */
  'not-leader',
  /** A proposal's entry is larger than maxEntryBytes. */
  'entry-too-large',
  /** Proposals queued while no leader is known reached maxPendingProposals. */
  'proposal-queue-full',
  /** Reads waiting for a leader's confirmation reached maxPendingReads. */
  'read-queue-full',
  /** The leader's uncommitted entries reached maxUncommittedBytes: followers lag, back off. */
  'uncommitted-log-full',
  /** A membership change while another is not yet committed, or before the leader committed its term. */
  'conf-change-pending',
  /** A membership change that changes nothing or leaves no voter. */
  'bad-conf-change',
  /** A message that is malformed, out of bounds or larger than maxMessageBytes: dropped, never applied. */
  'bad-message',
  /** A snapshot larger than maxSnapshotBytes: it could not be sent whole, so the log is not compacted to it. */
  'snapshot-too-large',
  /** The data directory holds a record that fails its checksum or cannot be decoded, not at the tail. */
  'storage-corrupt',
  /** No answer in time: the operation may or may not have taken effect. */
  'timeout',
  /** A request the registry refuses (too long a name, too large a value, too many names). */
  'registry-bound',
] as const;

export type RaftErrorCode = (typeof RAFT_ERROR_CODES)[number];

export class RaftError extends Error {
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    /** The leader this node knows, for `not-leader`. */
    readonly leader: string | null = null,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}
