// Who may connect: the operator's rule, in one place.
//   - with a swarm key, only peers holding it connect at all (pnet: the handshake fails without it);
//   - with an allow-list, only the peers it names are admitted;
//   - with both, a peer must hold the key and be listed;
//   - with neither, no remote peer is admitted.
// The same rule holds both ways: we never dial a peer we would not admit.

import { readFileSync } from 'node:fs';
import { peerIdFromString } from '@libp2p/peer-id';
import { ClusterError } from './errors.js';

export class Admission {
  private readonly allowed: ReadonlySet<string> | undefined;

  constructor(
    /** Peer IDs admitted; undefined: no allow-list. */
    allow: readonly string[] | undefined,
    /** A swarm key guards the network (checked by the handshake itself). */
    readonly swarmKey: boolean,
  ) {
    if (allow !== undefined) for (const id of allow) checkPeerId(id, 'the allow-list');
    // Kept in the one form connections report (base58btc): an ID given as a CID (bafz...) still matches.
    this.allowed = allow === undefined ? undefined : new Set(allow.map((id) => peerIdFromString(id).toString()));
  }

  /** Whether the peer, already past the handshake (so holding the swarm key if there is one), is admitted. */
  admits(peerId: string): boolean {
    if (this.allowed) return this.allowed.has(peerId);
    return this.swarmKey;
  }

  /** Why a peer is not admitted, for the log line and errors. */
  whyNot(peerId: string): string {
    if (this.allowed) return `${peerId} is not on the allow-list`;
    return `no peer is admitted: this node has neither an allow-list nor a swarm key`;
  }

  /** One line for people: the rule in force. */
  describe(): string {
    const list = this.allowed ? `${this.allowed.size} peer${this.allowed.size === 1 ? '' : 's'} on the allow-list` : undefined;
    if (list && this.swarmKey) return `admits ${list} holding the swarm key`;
    if (list) return `admits ${list}`;
    if (this.swarmKey) return 'admits peers holding the swarm key';
    return 'admits no peer (give --allow or --swarm-key)';
  }
}

/** Refuses what is not a libp2p peer ID. */
export function checkPeerId(id: string, where: string): void {
  try {
    peerIdFromString(id);
  } catch {
    throw new ClusterError('bad-allow-list', `${where}: ${JSON.stringify(id)} is not a peer ID (ask the peer's operator for the output of \`ww id\`)`);
  }
}

/** The peer IDs of an allow-list file: one a line, `#` starts a comment, blank lines ignored. */
export function readAllowFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ClusterError('bad-allow-list', `cannot read the allow-list ${file}: ${(e as Error).message}`, { cause: e });
  }
  const ids: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    checkPeerId(line, `${file}:${i + 1}`);
    ids.push(line);
  });
  return ids;
}
