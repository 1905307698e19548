// The heartbeat's wire format: what a peer says of itself on the membership topic, signed by it.
//
//   byte 0      version (1)
//   bytes 1..   the body: strict JSON, UTF-8, exactly the keys of HeartbeatBody
//   last 64     the peer's Ed25519 signature over SIGNING_CONTEXT + body
//
// Why strict JSON and not a Cap'n Proto struct: a heartbeat is a record on a broadcast topic, not an
// RPC message, and ww's Cap'n Proto code is an RPC engine (its codec reads payloads of RPC frames).
// A body of at most MAX_HEARTBEAT_BYTES parsed with JSON.parse costs bounded CPU, and checking it
// field by field (exact keys, types, lengths, safe integers) leaves nothing unvalidated. The same
// words appear in `ww cluster ls --json`.
//
// Why ww signs the heartbeat itself rather than relying on gossipsub's StrictSign: the record then
// proves its author wherever it travels (gossipsub with any signature policy, or passed on by
// another peer later), the signature is domain-separated (a signature made for anything else is
// never a valid heartbeat), and the check is ours to test. Gossipsub's own signature, when present,
// is still used: its author must be the peer the heartbeat names (membership.ts).

import { createPrivateKey, createPublicKey, sign as signWith, verify as verifySignature, type KeyObject } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';

/** A heartbeat's version byte; a peer drops any other. */
export const HEARTBEAT_VERSION = 1;
/** The largest heartbeat a peer reads: larger ones are dropped before they are parsed. */
export const MAX_HEARTBEAT_BYTES = 4096;
/** At most this many addresses a peer may announce, each at most MAX_ADDRESS_CHARS long. */
export const MAX_ADDRESSES = 16;
export const MAX_ADDRESS_CHARS = 256;
const MAX_PEER_ID_CHARS = 128;
const SIGNATURE_BYTES = 64;
/** Prefixed to the body before signing, so no signature made for another purpose verifies. */
const SIGNING_CONTEXT = new TextEncoder().encode('ww cluster heartbeat v1\n');

/** What a peer can take on: its processes and its node's memory budget. */
export interface Load {
  /** Processes running (or paused) now. */
  running: number;
  /** Processes spawned and waiting for a worker. */
  queued: number;
  /** Bytes of the node's memory budget not in use. */
  freeMemoryBytes: number;
}

export interface HeartbeatBody extends Load {
  /** The peer that says this (a libp2p peer ID, Ed25519: its public key is inside). */
  peer: string;
  /** Multiaddrs it listens on. */
  addresses: string[];
  /** For how long, after receipt, it is to be taken as live without another heartbeat. */
  ttlMs: number;
  /**
   * Microseconds since the Unix epoch when it was made, strictly increasing per peer (also across
   * restarts, as the clock is): orders a peer's heartbeats (an older one is a replay) and dates them
   * (a stale one is a replay of a peer that is gone).
   */
  seq: number;
}

const KEYS = ['peer', 'addresses', 'running', 'queued', 'freeMemoryBytes', 'ttlMs', 'seq'] as const;

/** Why a heartbeat was not taken; counted by the membership and shown in its log. */
export type HeartbeatRejection =
  | 'oversized'
  | 'malformed'
  | 'bad-signature'
  | 'forged'
  | 'not-allowed'
  | 'replayed'
  | 'stale'
  | 'rate-limited'
  | 'table-full'
  | 'own-peer-id';

export class HeartbeatError extends Error {
  constructor(
    readonly rejection: HeartbeatRejection,
    message: string,
  ) {
    super(message);
    this.name = 'HeartbeatError';
  }
}

/** The signer: a libp2p PrivateKey fits. */
export interface HeartbeatSigner {
  sign(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** Ed25519: the 32-byte seed first (a libp2p Ed25519PrivateKey's `raw`). */
  readonly type?: string;
  readonly raw?: Uint8Array;
}

/** DER of an Ed25519 PKCS#8 private key, up to its 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/**
 * A signer that makes Node's key once: libp2p's Ed25519 key makes one on every signature, which
 * costs more than the signature itself. Any other signer is used as it is.
 */
export function keptSigner(signer: HeartbeatSigner): HeartbeatSigner {
  if (signer.type !== 'Ed25519' || !(signer.raw instanceof Uint8Array) || signer.raw.length < 32) return signer;
  const key = createPrivateKey({ key: Buffer.from(concat(ED25519_PKCS8_PREFIX, signer.raw.subarray(0, 32))), format: 'der', type: 'pkcs8' });
  return { sign: (data) => signWith(null, data, key) };
}

/** Encodes and signs a heartbeat. Throws a RangeError for a body this module would itself refuse. */
export async function encodeHeartbeat(body: HeartbeatBody, signer: HeartbeatSigner): Promise<Uint8Array> {
  checkBody(body);
  const json = new TextEncoder().encode(JSON.stringify(body, KEYS as unknown as string[]));
  const signature = await signer.sign(concat(SIGNING_CONTEXT, json));
  if (signature.length !== SIGNATURE_BYTES) throw new RangeError(`a heartbeat is signed with Ed25519 (64-byte signatures), not a ${signature.length}-byte one`);
  const out = new Uint8Array(1 + json.length + SIGNATURE_BYTES);
  out[0] = HEARTBEAT_VERSION;
  out.set(json, 1);
  out.set(signature, 1 + json.length);
  if (out.length > MAX_HEARTBEAT_BYTES) throw new RangeError(`a heartbeat of ${out.length} bytes is more than ${MAX_HEARTBEAT_BYTES}: announce fewer addresses`);
  return out;
}

/** A heartbeat read but not yet verified: verify() checks its signature against the peer it names. */
export interface DecodedHeartbeat {
  body: HeartbeatBody;
  /** True when the named peer signed it; `key`: that peer's key, when the caller kept it (peerKey). */
  verify(key?: KeyObject): boolean;
}

/** DER of an Ed25519 SubjectPublicKeyInfo, up to the 32 bytes of the key (RFC 8410). */
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/**
 * The public key inside an Ed25519 peer ID, as a key Node's crypto verifies with; undefined for any
 * other peer ID (an RSA one does not carry its key; ww identities are Ed25519). Making it costs about
 * as much as a verification, so the membership keeps it for each peer it knows.
 */
export function peerKey(peer: string): KeyObject | undefined {
  try {
    const key = peerIdFromString(peer).publicKey;
    if (key?.type !== 'Ed25519') return undefined;
    return createPublicKey({ key: Buffer.from(concat(ED25519_SPKI_PREFIX, key.raw)), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

/** Reads a heartbeat's bytes; throws a HeartbeatError (never anything else) when they are not one. */
export function decodeHeartbeat(bytes: Uint8Array): DecodedHeartbeat {
  if (bytes.length > MAX_HEARTBEAT_BYTES) throw new HeartbeatError('oversized', `a heartbeat of ${bytes.length} bytes (at most ${MAX_HEARTBEAT_BYTES})`);
  if (bytes.length < 1 + 2 + SIGNATURE_BYTES || bytes[0] !== HEARTBEAT_VERSION) throw new HeartbeatError('malformed', 'not a version 1 heartbeat');
  const json = bytes.subarray(1, bytes.length - SIGNATURE_BYTES);
  const signature = bytes.subarray(bytes.length - SIGNATURE_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch {
    throw new HeartbeatError('malformed', 'a heartbeat body that is not UTF-8 JSON');
  }
  const body = bodyOf(value);
  return {
    body,
    verify(key = peerKey(body.peer)) {
      if (!key) return false;
      try {
        return verifySignature(null, concat(SIGNING_CONTEXT, json), key, signature);
      } catch {
        return false;
      }
    },
  };
}

function bodyOf(value: unknown): HeartbeatBody {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HeartbeatError('malformed', 'a heartbeat body that is not an object');
  const keys = Object.keys(value);
  if (keys.length !== KEYS.length || !KEYS.every((k) => Object.hasOwn(value, k))) throw new HeartbeatError('malformed', `a heartbeat body whose keys are not exactly ${KEYS.join(', ')}`);
  const body = value as HeartbeatBody;
  try {
    checkBody(body);
  } catch (e) {
    throw new HeartbeatError('malformed', (e as Error).message);
  }
  return body;
}

function checkBody(b: HeartbeatBody): void {
  if (typeof b.peer !== 'string' || b.peer.length === 0 || b.peer.length > MAX_PEER_ID_CHARS) throw new RangeError('a heartbeat names its peer in 1 to 128 characters');
  if (!Array.isArray(b.addresses) || b.addresses.length > MAX_ADDRESSES) throw new RangeError(`a heartbeat lists at most ${MAX_ADDRESSES} addresses`);
  for (const a of b.addresses) {
    if (typeof a !== 'string' || a.length === 0 || a.length > MAX_ADDRESS_CHARS) throw new RangeError(`a heartbeat's addresses are 1 to ${MAX_ADDRESS_CHARS} characters`);
  }
  for (const k of ['running', 'queued', 'freeMemoryBytes', 'ttlMs', 'seq'] as const) {
    // The value is the sender's: quoted and cut, it cannot forge or garble log lines.
    if (!Number.isSafeInteger(b[k]) || b[k] < 0) throw new RangeError(`a heartbeat's ${k} is a whole number >= 0, not ${JSON.stringify(b[k])?.slice(0, 40)}`);
  }
  if (b.ttlMs === 0) throw new RangeError("a heartbeat's ttlMs is at least 1");
  // Counts travel on as UInt32 (PeerInfo): a larger one would wrap and read as a small load.
  for (const k of ['running', 'queued'] as const) {
    if (b[k] > 0xffffffff) throw new RangeError(`a heartbeat's ${k} is at most ${0xffffffff}, not ${b[k]}`);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
