// Which live peer a peer ID or a unique prefix of one names: one rule for Node.peer and for the CLI
// (which resolves PEER/PID itself to act as owner on this node). Light: imports only errors.ts.
import { ExecutorError } from './errors.js';

/** The peer of `peers` named by `prefix` (a whole peer ID or a unique prefix of one); bad-request
 *  naming the candidates (at most 8) when none or several match. */
export function resolvePeer<P extends { peerId: string }>(prefix: string, peers: readonly P[]): P {
  if (prefix.length === 0) throw new ExecutorError('bad-request', 'a peer ID is needed (`ww cluster ls` lists the live peers)');
  const exact = peers.find((p) => p.peerId === prefix);
  if (exact) return exact;
  const matches = peers.filter((p) => p.peerId.startsWith(prefix));
  if (matches.length === 1) return matches[0]!;
  const shown = JSON.stringify(prefix.length > 60 ? `${prefix.slice(0, 60)}…` : prefix);
  if (matches.length === 0) throw new ExecutorError('bad-request', `no live peer's ID starts with ${shown} (\`ww cluster ls\` lists the live peers)`);
  const listed = matches.slice(0, 8).map((p) => p.peerId);
  const more = matches.length > listed.length ? ` and ${matches.length - listed.length} more` : '';
  throw new ExecutorError('bad-request', `peer ${shown} is ambiguous: it starts ${listed.join(', ')}${more}; write more of it`);
}

/** The peer `auto` placement picks: fewest processes running and queued, then the most free
 *  memory, then this node (no hop), then the smallest peer ID, so every caller decides alike. */
export function leastLoaded<P extends { peerId: string; running: number; queued: number; freeMemoryBytes: number | bigint; self: boolean }>(peers: readonly P[]): P | undefined {
  let best: P | undefined;
  for (const p of peers) {
    if (!best) {
      best = p;
      continue;
    }
    const load = p.running + p.queued - (best.running + best.queued);
    const free = BigInt(p.freeMemoryBytes) - BigInt(best.freeMemoryBytes);
    if (load < 0 || (load === 0 && (free > 0n || (free === 0n && ((p.self && !best.self) || (p.self === best.self && p.peerId < best.peerId)))))) best = p;
  }
  return best;
}
