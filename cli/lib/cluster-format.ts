// How `ww cluster ls` shows the node's view of its cluster: a table that fits the terminal, or JSON.
// Pure functions of their inputs (the clock and width are parameters).
import type { PeerInfo } from '../../src/capnp-gen/ww.rpc.js';
import { printable } from '../text.js';
import { humanSize, relativeTime, truncate } from './format.js';

/** A PeerInfo as plain JSON: every field, numbers instead of bigints. */
export interface PeerJson {
  peerId: string;
  addresses: string[];
  running: number;
  queued: number;
  freeMemoryBytes: number;
  lastSeenMs: number;
  lastSeen: string;
  self: boolean;
}

export function peerJson(p: PeerInfo): PeerJson {
  const lastSeenMs = Number(p.lastSeenMs);
  return {
    peerId: p.peerId,
    addresses: [...p.addresses],
    running: p.running,
    queued: p.queued,
    freeMemoryBytes: Number(p.freeMemoryBytes),
    lastSeenMs,
    lastSeen: new Date(lastSeenMs).toISOString(),
    self: p.self,
  };
}

/** Ed25519 peer IDs all begin `12D3KooW`: a shown prefix keeps at least this many characters. */
const LEAST_PEER_PREFIX = 12;

/** The shortest prefix length, at least LEAST_PEER_PREFIX, that tells every ID in `ids` apart. */
export function uniquePrefixLength(ids: readonly string[]): number {
  const longest = Math.max(0, ...ids.map((id) => id.length));
  for (let n = LEAST_PEER_PREFIX; n < longest; n++) {
    if (new Set(ids.map((id) => id.slice(0, n))).size === new Set(ids).size) return n;
  }
  return longest;
}

const COLUMNS = ['PEER', 'ADDRESSES', 'RUNNING', 'QUEUED', 'FREE MEM', 'SEEN'] as const;
const RIGHT_ALIGNED = new Set<string>(['RUNNING', 'QUEUED', 'FREE MEM']);
const ADDRESSES = COLUMNS.indexOf('ADDRESSES');
const LEAST_ADDRESSES = 16;
const GAP = '  ';

/**
 * The `ww cluster ls` table: one row per live peer, this node first (SEEN `self`). PEER is the shortest
 * prefix that tells the listed peers apart; ADDRESSES shows the first address and how many more. With a
 * width, ADDRESSES is cut with … until each line fits.
 */
export function peerTable(peers: readonly PeerInfo[], options: { nowMs: number; width?: number }): string {
  const prefix = uniquePrefixLength(peers.map((p) => p.peerId));
  const rows = peers.map((p) => [
    printable(p.peerId.slice(0, prefix)),
    addressesText(p.addresses),
    String(p.running),
    String(p.queued),
    humanSize(Number(p.freeMemoryBytes)),
    p.self ? 'self' : relativeTime(Number(p.lastSeenMs), options.nowMs),
  ]);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  if (options.width !== undefined) {
    const excess = widths.reduce((sum, w) => sum + w, 0) + GAP.length * (widths.length - 1) - options.width;
    if (excess > 0) widths[ADDRESSES] = Math.max(LEAST_ADDRESSES, widths[ADDRESSES]! - excess);
  }
  const render = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => {
        const text = i === ADDRESSES ? truncate(cell, widths[i]!) : cell;
        return RIGHT_ALIGNED.has(COLUMNS[i]!) ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
      })
      .join(GAP)
      .trimEnd();
  return [render(COLUMNS), ...rows.map(render)].join('\n') + '\n';
}

function addressesText(addresses: readonly string[]): string {
  if (addresses.length === 0) return '-';
  const first = printable(addresses[0]!);
  return addresses.length === 1 ? first : `${first} +${addresses.length - 1}`;
}
