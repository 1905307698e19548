// Bytes for the Raft nouns: what FileStorage writes and what a transport carries. Little-endian,
// lengths before contents; every read is checked against the buffer, so a hostile or torn input
// throws a RaftError and never reads past its end.

import { RaftError } from './errors.js';
import { MAX_COUNTER, type Entry, type EntryType, type HardState, type Message, type MessageType, type NodeId, type Snapshot } from './types.js';

const MESSAGE_TYPES: readonly MessageType[] = [
  'append',
  'append-resp',
  'vote',
  'vote-resp',
  'pre-vote',
  'pre-vote-resp',
  'heartbeat',
  'heartbeat-resp',
  'snapshot',
  'propose',
  'read-index',
  'read-index-resp',
];
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'config'];
/** Voters in one configuration, entries in one message: far above any real cluster, far below harm. */
const MAX_VOTERS = 1024;
const MAX_ENTRIES = 1 << 20;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private at = 0;
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.at++] = v;
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
  }
  /** A non-negative integer up to 2^53 (indexes, terms, times). */
  num(v: number): void {
    this.room(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.byteLength);
    this.room(b.byteLength);
    this.buf.set(b, this.at);
    this.at += b.byteLength;
  }
  str(s: string): void {
    this.bytes(encoder.encode(s));
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

export class Reader {
  private readonly view: DataView;
  private at = 0;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.at + n > this.buf.byteLength) throw new RaftError('bad-message', 'raft codec: the bytes end inside a value');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  num(): number {
    this.need(8);
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    if (!Number.isSafeInteger(v) || v < 0 || v > MAX_COUNTER) throw new RaftError('bad-message', `raft codec: a counter is not an integer from 0 to ${MAX_COUNTER}`);
    return v;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const b = this.buf.slice(this.at, this.at + n);
    this.at += n;
    return b;
  }
  str(): string {
    try {
      return decoder.decode(this.bytes());
    } catch (e) {
      if (e instanceof RaftError) throw e;
      throw new RaftError('bad-message', 'raft codec: a string is not UTF-8');
    }
  }
  end(): void {
    if (this.at !== this.buf.byteLength) throw new RaftError('bad-message', `raft codec: ${this.buf.byteLength - this.at} bytes after the value`);
  }
}

function writeVoters(w: Writer, voters: readonly NodeId[]): void {
  w.u32(voters.length);
  for (const v of voters) w.str(v);
}

function readVoters(r: Reader): NodeId[] {
  const n = r.u32();
  if (n > MAX_VOTERS) throw new RaftError('bad-message', `raft codec: ${n} voters (at most ${MAX_VOTERS})`);
  return Array.from({ length: n }, () => r.str());
}

export function writeEntry(w: Writer, e: Entry): void {
  w.num(e.index);
  w.num(e.term);
  w.u8(ENTRY_TYPES.indexOf(e.type));
  w.num(e.time);
  w.bytes(e.data);
  writeVoters(w, e.voters);
}

export function readEntry(r: Reader): Entry {
  const index = r.num();
  const term = r.num();
  const type = ENTRY_TYPES[r.u8()];
  if (type === undefined) throw new RaftError('bad-message', 'raft codec: an unknown entry type');
  const time = r.num();
  const data = r.bytes();
  const voters = readVoters(r);
  return { index, term, type, time, data, voters };
}

export function writeSnapshot(w: Writer, s: Snapshot): void {
  w.num(s.index);
  w.num(s.term);
  writeVoters(w, s.voters);
  w.bytes(s.data);
}

export function readSnapshot(r: Reader): Snapshot {
  const index = r.num();
  const term = r.num();
  const voters = readVoters(r);
  const data = r.bytes();
  return { index, term, voters, data };
}

export function encodeHardState(h: HardState): Uint8Array {
  const w = new Writer();
  w.num(h.term);
  w.u8(h.vote === null ? 0 : 1);
  w.str(h.vote ?? '');
  w.num(h.commit);
  return w.done();
}

export function decodeHardState(b: Uint8Array): HardState {
  const r = new Reader(b);
  const term = r.num();
  const hasVote = r.u8() === 1;
  const vote = r.str();
  const commit = r.num();
  r.end();
  return { term, vote: hasVote ? vote : null, commit };
}

export function encodeEntry(e: Entry): Uint8Array {
  const w = new Writer();
  writeEntry(w, e);
  return w.done();
}

export function decodeEntry(b: Uint8Array): Entry {
  const r = new Reader(b);
  const e = readEntry(r);
  r.end();
  return e;
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  const w = new Writer();
  writeSnapshot(w, s);
  return w.done();
}

export function decodeSnapshot(b: Uint8Array): Snapshot {
  const r = new Reader(b);
  const s = readSnapshot(r);
  r.end();
  return s;
}

/** A message as one frame for a transport (decodeMessage is its inverse; RaftNode.step validates the rest). */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer();
  w.u8(MESSAGE_TYPES.indexOf(m.type));
  w.str(m.from);
  w.str(m.to);
  w.num(m.term);
  w.num(m.index);
  w.num(m.logTerm);
  w.num(m.commit);
  w.u8(m.reject ? 1 : 0);
  w.num(m.rejectHint);
  w.u32(m.entries.length);
  for (const e of m.entries) writeEntry(w, e);
  w.u8(m.snapshot ? 1 : 0);
  if (m.snapshot) writeSnapshot(w, m.snapshot);
  w.str(m.ctx);
  return w.done();
}

/** The message in `frame`; a frame larger than `maxBytes` is refused before it is read. */
export function decodeMessage(frame: Uint8Array, maxBytes: number): Message {
  if (frame.byteLength > maxBytes) throw new RaftError('bad-message', `raft: a message of ${frame.byteLength} bytes (at most ${maxBytes})`);
  const r = new Reader(frame);
  const type = MESSAGE_TYPES[r.u8()];
  if (type === undefined) throw new RaftError('bad-message', 'raft codec: an unknown message type');
  const from = r.str();
  const to = r.str();
  const term = r.num();
  const index = r.num();
  const logTerm = r.num();
  const commit = r.num();
  const reject = r.u8() === 1;
  const rejectHint = r.num();
  const count = r.u32();
  if (count > MAX_ENTRIES) throw new RaftError('bad-message', `raft codec: ${count} entries in one message`);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) entries.push(readEntry(r));
  const snapshot = r.u8() === 1 ? readSnapshot(r) : null;
  const ctx = r.str();
  r.end();
  return { type, from, to, term, index, logTerm, commit, reject, rejectHint, entries, snapshot, ctx };
}
