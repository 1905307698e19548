// The cluster registry: the state machine the Raft log carries. One namespace of names, each with
// an owner (a peer), a value (where a capability lives, a task's state) and, for a claim, an expiry.
// put, delete and claim are commands in the log; get and ls read the local state once a ReadIndex
// point is applied. Applying depends only on the entries (their data and the leader's timestamp),
// so every replica holds the same registry at the same index.

import { RaftError } from './errors.js';
import type { Entry } from './types.js';

export const MAX_NAME_BYTES = 256;
export const MAX_OWNER_BYTES = 256;
export const MAX_VALUE_BYTES = 64 * 1024;
/** Names the registry holds at most: a put or claim of a new name past it is refused. */
export const MAX_NAMES = 100_000;
/**
 * Bytes of the records as the snapshot writes them (JSON, so a value's escapes count, plus
 * RECORD_OVERHEAD each): the whole registry, and so its snapshot, stays inside one message (a
 * snapshot is sent whole; RaftNode's maxSnapshotBytes is 7 MiB, a frame 8 MiB).
 */
export const MAX_REGISTRY_BYTES = 4 * 1024 * 1024;
/** What a record's other fields (expiry, version, keys) add to it in a snapshot, at most. */
const RECORD_OVERHEAD = 96;
/** Bytes of remembered results (JSON), within the snapshot: a claim's answer carries the holder's value. */
export const MAX_REMEMBERED_BYTES = 1024 * 1024;
/**
 * Request ids remembered with their results: a proposal delivered twice (a duplicated message, a
 * client's retry) is applied once and answered twice. Beyond this many later requests an id is forgotten.
 */
export const MAX_REMEMBERED_REQUESTS = 10_000;
/** Longest claim (a day): a claim is a lease to renew, not a way to hold a name forever. */
export const MAX_TTL_MS = 24 * 3600 * 1000;

export interface RegistryRecord {
  readonly name: string;
  readonly owner: string;
  readonly value: string;
  /** The leader's time when the claim lapses; null for a name put (it stays until deleted). */
  readonly expiresAt: number | null;
  /** The log index of the command that last wrote it. */
  readonly version: number;
}

export type RegistryCommand =
  | { readonly op: 'put'; readonly name: string; readonly owner: string; readonly value: string }
  | { readonly op: 'delete'; readonly name: string }
  /** Set-if-absent (or lapsed, or already the same owner's: then renewed) for ttlMs of leader time. */
  | { readonly op: 'claim'; readonly name: string; readonly owner: string; readonly value: string; readonly ttlMs: number }
  /** Gives a claim up early; only its owner can. */
  | { readonly op: 'release'; readonly name: string; readonly owner: string };

export type RegistryResult =
  | { readonly op: 'put'; readonly ok: true; readonly version: number }
  | { readonly op: 'delete'; readonly ok: true; readonly deleted: boolean }
  | { readonly op: 'claim'; readonly ok: true; readonly won: boolean; readonly holder: RegistryRecord }
  | { readonly op: 'release'; readonly ok: true; readonly released: boolean }
  | { readonly op: RegistryCommand['op'] | 'unknown'; readonly ok: false; readonly error: string };

/** A command with the request id its proposer watches the applied entries for. */
export interface RegistryRequest {
  readonly id: string;
  readonly command: RegistryCommand;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (s: string): number => encoder.encode(s).byteLength;

/** Refuses a command past the registry's bounds (before proposing, and again when applying). */
export function checkCommand(c: RegistryCommand): void {
  const refuse = (why: string): never => {
    throw new RaftError('registry-bound', `registry: ${c.op} ${JSON.stringify(c.name).slice(0, 80)}: ${why}`);
  };
  if (typeof c.name !== 'string' || c.name.length === 0 || bytes(c.name) > MAX_NAME_BYTES) refuse(`a name is 1 to ${MAX_NAME_BYTES} bytes`);
  if ('owner' in c && (typeof c.owner !== 'string' || bytes(c.owner) > MAX_OWNER_BYTES)) refuse(`an owner is at most ${MAX_OWNER_BYTES} bytes`);
  if ('value' in c && (typeof c.value !== 'string' || bytes(c.value) > MAX_VALUE_BYTES)) refuse(`a value is at most ${MAX_VALUE_BYTES} bytes`);
  if (c.op === 'claim' && !(Number.isSafeInteger(c.ttlMs) && c.ttlMs > 0 && c.ttlMs <= MAX_TTL_MS)) refuse(`a claim lasts 1 ms to ${MAX_TTL_MS} ms`);
}

export function encodeRequest(r: RegistryRequest): Uint8Array {
  checkCommand(r.command);
  return encoder.encode(JSON.stringify(r));
}

/** The request in an entry's data, or null for an entry that is not one (the leader's no-op, garbage). */
export function decodeRequest(data: Uint8Array): RegistryRequest | null {
  if (data.byteLength === 0) return null;
  try {
    const r = JSON.parse(decoder.decode(data)) as RegistryRequest;
    if (typeof r?.id !== 'string' || typeof r.command?.op !== 'string') return null;
    return r;
  } catch {
    return null;
  }
}

export class Registry {
  private readonly records = new Map<string, RegistryRecord>();
  /** Request id -> its result, oldest first (bounded by MAX_REMEMBERED_REQUESTS). */
  private readonly done = new Map<string, { result: RegistryResult; size: number }>();
  private doneBytes = 0;
  /** Bytes of names, owners and values held (MAX_REGISTRY_BYTES). */
  private bytes = 0;
  /** The latest leader time applied: time never runs backwards here, even when leaders' clocks differ. */
  private clock = 0;
  private _applied = 0;

  get applied(): number {
    return this._applied;
  }
  get time(): number {
    return this.clock;
  }

  /** Applies one committed entry; returns the request's id and result (null for an entry that carries none). */
  apply(entry: Entry): { id: string; result: RegistryResult } | null {
    // Replicas agree only if each applies every entry once, in order: a driver that breaks this is a bug.
    if (entry.index !== this._applied + 1) throw new Error(`registry: entry ${entry.index} applied after ${this._applied}`);
    this._applied = entry.index;
    this.clock = Math.max(this.clock, entry.time);
    if (entry.type !== 'normal') return null;
    const request = decodeRequest(entry.data);
    if (request === null) return null;
    const earlier = this.done.get(request.id);
    if (earlier !== undefined) return { id: request.id, result: earlier.result };
    const result = this.run(request.command, entry.index);
    this.remember(request.id, result);
    return { id: request.id, result };
  }

  /** Remembers a result; the oldest are forgotten past MAX_REMEMBERED_REQUESTS or MAX_REMEMBERED_BYTES. */
  private remember(id: string, result: RegistryResult): void {
    const size = bytes(JSON.stringify([id, result]));
    this.done.set(id, { result, size });
    this.doneBytes += size;
    while (this.done.size > MAX_REMEMBERED_REQUESTS || this.doneBytes > MAX_REMEMBERED_BYTES) {
      const [oldest, kept] = this.done.entries().next().value!;
      this.done.delete(oldest);
      this.doneBytes -= kept.size;
    }
  }

  /** The record under `name` as of the last applied entry (a lapsed claim reads as absent). */
  get(name: string): RegistryRecord | null {
    const r = this.records.get(name);
    return r && !this.lapsed(r) ? r : null;
  }

  /** Live records whose name starts with `prefix`, by name, at most `limit`. */
  ls(prefix = '', limit = 1000): RegistryRecord[] {
    const out: RegistryRecord[] = [];
    for (const r of this.records.values()) if (r.name.startsWith(prefix) && !this.lapsed(r)) out.push(r);
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out.slice(0, limit);
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify({ clock: this.clock, records: [...this.records.values()], done: [...this.done].map(([id, d]) => [id, d.result]) }));
  }

  restore(data: Uint8Array, index: number): void {
    this.records.clear();
    this.done.clear();
    this.doneBytes = 0;
    this.bytes = 0;
    this.clock = 0;
    this._applied = index;
    if (data.byteLength === 0) return;
    const s = JSON.parse(decoder.decode(data)) as { clock: number; records: RegistryRecord[]; done: [string, RegistryResult][] };
    this.clock = s.clock;
    for (const r of s.records) this.setRecord(r);
    for (const [id, result] of s.done) this.remember(id, result);
  }

  private static size(r: { name: string; owner: string; value: string }): number {
    return bytes(JSON.stringify([r.name, r.owner, r.value])) + RECORD_OVERHEAD;
  }

  private setRecord(r: RegistryRecord): void {
    this.removeRecord(r.name);
    this.records.set(r.name, r);
    this.bytes += Registry.size(r);
  }

  private removeRecord(name: string): void {
    const old = this.records.get(name);
    if (!old) return;
    this.records.delete(name);
    this.bytes -= Registry.size(old);
  }

  /** Whether writing `next` (replacing what `name` holds, lapsed or not) stays within the bounds. */
  private fits(next: { name: string; owner: string; value: string }): boolean {
    const old = this.records.get(next.name);
    if (!old && this.records.size >= MAX_NAMES) return false;
    return this.bytes - (old ? Registry.size(old) : 0) + Registry.size(next) <= MAX_REGISTRY_BYTES;
  }

  private lapsed(r: RegistryRecord): boolean {
    return r.expiresAt !== null && r.expiresAt <= this.clock;
  }

  private run(c: RegistryCommand, index: number): RegistryResult {
    try {
      checkCommand(c);
    } catch (e) {
      return { op: typeof c?.op === 'string' ? c.op : 'unknown', ok: false, error: (e as Error).message };
    }
    const current = this.get(c.name);
    const full = (): RegistryResult => ({ op: c.op, ok: false, error: `registry: full (at most ${MAX_NAMES} names and ${MAX_REGISTRY_BYTES} bytes of names, owners and values)` });
    switch (c.op) {
      case 'put':
        if (!this.fits(c)) return full();
        this.setRecord({ name: c.name, owner: c.owner, value: c.value, expiresAt: null, version: index });
        return { op: 'put', ok: true, version: index };
      case 'delete':
        this.removeRecord(c.name);
        return { op: 'delete', ok: true, deleted: current !== null };
      case 'claim': {
        if (current && current.owner !== c.owner) return { op: 'claim', ok: true, won: false, holder: current };
        if (!this.fits(c)) return full();
        const holder: RegistryRecord = { name: c.name, owner: c.owner, value: c.value, expiresAt: this.clock + c.ttlMs, version: index };
        this.setRecord(holder);
        return { op: 'claim', ok: true, won: true, holder };
      }
      case 'release': {
        const mine = current !== null && current.owner === c.owner && current.expiresAt !== null;
        if (mine) this.removeRecord(c.name);
        return { op: 'release', ok: true, released: mine };
      }
    }
  }
}
