// Storage in a data directory: the log is an append-only file of records (u32 length, u32 CRC-32 of
// the payload, the encoded entry), fsync'd before persist() returns; an entry at an index already in
// the file replaces it and everything after it (a follower's truncation), so nothing is rewritten in
// place. The hard state and the snapshot are whole files replaced atomically (write a temporary,
// fsync, rename, fsync the directory). Compaction rewrites the log file the same way.
//
// On open: a record cut short at the end of the log (a crash mid-write) is a torn tail and is
// truncated away (it was never acknowledged, since persist() had not returned); a record that fails
// its checksum with more records after it is corruption, and opening fails with `storage-corrupt`.

import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RaftError } from './errors.js';
import { decodeEntry, decodeHardState, decodeSnapshot, encodeEntry, encodeHardState, encodeSnapshot } from './codec.js';
import { applyToState, type RaftStorage, type ReadyToPersist } from './storage.js';
import type { Entry, PersistedState } from './types.js';
import { EMPTY_HARD_STATE, initialSnapshot } from './types.js';

const LOG = 'raft-log';
const HARD_STATE = 'raft-hardstate';
const SNAPSHOT = 'raft-snapshot';
const HEADER = 8;

export interface FileStorageOptions {
  /** The founding voters, for a directory that holds no state yet. */
  readonly voters: readonly string[];
  /** A record larger than this is corruption, not an entry (default 8 MiB: above maxEntryBytes). */
  readonly maxRecordBytes?: number;
}

export class FileStorage implements RaftStorage {
  private state: PersistedState;
  private logFd: number;
  private readonly maxRecordBytes: number;

  /** Opens (creating if need be) the store in `dir`; throws `storage-corrupt` for a damaged log. */
  constructor(
    private readonly dir: string,
    options: FileStorageOptions,
  ) {
    this.maxRecordBytes = options.maxRecordBytes ?? 8 * 1024 * 1024;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let snapshot = this.readWhole(SNAPSHOT, decodeSnapshot);
    if (snapshot === null) {
      // A new directory: the founding voters are written down, so a restart never asks again.
      snapshot = initialSnapshot(options.voters);
      this.writeWhole(SNAPSHOT, encodeSnapshot(snapshot));
    }
    const hardState = this.readWhole(HARD_STATE, decodeHardState) ?? EMPTY_HARD_STATE;
    const { entries, goodBytes } = this.readLog();
    this.logFd = openSync(join(dir, LOG), 'a+');
    ftruncateSync(this.logFd, goodBytes); // drops a torn tail
    fsyncSync(this.logFd);
    this.state = { hardState, snapshot, entries: fitToSnapshot(replay(entries), snapshot) };
  }

  load(): PersistedState {
    return { ...this.state, entries: [...this.state.entries] };
  }

  persist(rd: ReadyToPersist): void {
    const next = applyToState(this.state, rd);
    if (rd.snapshot) {
      this.writeWhole(SNAPSHOT, encodeSnapshot(rd.snapshot));
      this.rewriteLog(next.entries);
    } else if (rd.entries.length > 0) {
      this.appendRecords(rd.entries);
    }
    // Term and vote must be durable before a message depends on them; the commit index need not be
    // (Raft keeps it volatile: a restarted node learns it again from the leader), so a change of the
    // commit index alone costs no fsync and is written with the next term or vote.
    const prev = this.state.hardState;
    if (rd.hardState && (rd.hardState.term !== prev.term || rd.hardState.vote !== prev.vote)) {
      this.writeWhole(HARD_STATE, encodeHardState(rd.hardState));
    }
    if (rd.compaction && next.snapshot === rd.compaction) {
      this.writeWhole(SNAPSHOT, encodeSnapshot(rd.compaction));
      this.rewriteLog(next.entries);
    }
    this.state = next;
  }

  close(): void {
    closeSync(this.logFd);
  }

  private appendRecords(entries: readonly Entry[]): void {
    const parts = entries.map((e) => record(encodeEntry(e)));
    writeAll(this.logFd, Buffer.concat(parts));
    fsyncSync(this.logFd);
  }

  private rewriteLog(entries: readonly Entry[]): void {
    this.writeWhole(LOG, Buffer.concat(entries.map((e) => record(encodeEntry(e)))));
    closeSync(this.logFd);
    this.logFd = openSync(join(this.dir, LOG), 'a+');
  }

  private readLog(): { entries: Entry[]; goodBytes: number } {
    const path = join(this.dir, LOG);
    if (!existsSync(path)) return { entries: [], goodBytes: 0 };
    const buf = readFileSync(path);
    const entries: Entry[] = [];
    let at = 0;
    while (at < buf.length) {
      if (buf.length - at < HEADER) break; // torn header
      const length = buf.readUInt32LE(at);
      const crc = buf.readUInt32LE(at + 4);
      if (length > this.maxRecordBytes) throw this.corrupt(at, `a record of ${length} bytes (at most ${this.maxRecordBytes})`);
      const end = at + HEADER + length;
      if (end > buf.length) break; // torn payload
      const payload = buf.subarray(at + HEADER, end);
      if (crc32(payload) !== crc) {
        if (end === buf.length) break; // the last record, half written
        throw this.corrupt(at, 'a record fails its checksum and records follow it');
      }
      try {
        entries.push(decodeEntry(payload));
      } catch {
        throw this.corrupt(at, 'a record with a good checksum does not decode');
      }
      at = end;
    }
    return { entries, goodBytes: at };
  }

  private corrupt(offset: number, why: string): RaftError {
    return new RaftError('storage-corrupt', `raft storage: ${join(this.dir, LOG)} at byte ${offset}: ${why}; the log cannot be trusted (restore this node from a peer: remove its data directory and re-add it)`);
  }

  private readWhole<T>(name: string, decode: (b: Uint8Array) => T): T | null {
    const path = join(this.dir, name);
    if (!existsSync(path)) return null;
    const buf = readFileSync(path);
    if (buf.length < HEADER || buf.readUInt32LE(0) !== buf.length - HEADER || crc32(buf.subarray(HEADER)) !== buf.readUInt32LE(4)) {
      throw new RaftError('storage-corrupt', `raft storage: ${path} fails its checksum (it is replaced whole, so this is damage, not a crash)`);
    }
    try {
      return decode(buf.subarray(HEADER));
    } catch {
      throw new RaftError('storage-corrupt', `raft storage: ${path} does not decode`);
    }
  }

  /** Replaces `name` with `bytes` (as one record) so that a crash leaves the old file or the new one. */
  private writeWhole(name: string, bytes: Uint8Array): void {
    const path = join(this.dir, name);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeAll(fd, name === LOG ? bytes : record(bytes));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}

/** The log the records describe: an entry replaces its index and everything after it. */
function replay(records: readonly Entry[]): Entry[] {
  const log: Entry[] = [];
  for (const e of records) {
    const first = log[0]?.index ?? e.index;
    if (e.index < first || e.index > first + log.length) {
      log.length = 0; // cannot follow what is there: only a rewrite starts a log anew
    } else {
      log.length = e.index - first;
    }
    log.push(e);
  }
  return log;
}

/**
 * The entries that follow `snapshot`: those after it when the log was written after it (it starts
 * right after) or holds its last entry; none when the log is from before a snapshot received in its
 * place (a crash between writing the snapshot and rewriting the log).
 */
function fitToSnapshot(log: readonly Entry[], snapshot: { index: number; term: number }): Entry[] {
  if (log.length === 0) return [];
  const first = log[0]!.index;
  if (first === snapshot.index + 1) return [...log];
  if (first > snapshot.index + 1) return [];
  const at = log[snapshot.index - first];
  if (at === undefined || at.term !== snapshot.term) return [];
  return log.slice(snapshot.index - first + 1);
}

function record(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.byteLength);
  out.writeUInt32LE(payload.byteLength, 0);
  out.writeUInt32LE(crc32(payload), 4);
  out.set(payload, HEADER);
  return out;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE), as zip and ethernet compute it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
