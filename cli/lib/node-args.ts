// The arguments the node commands take: --socket and a PID. Light (no RPC, no node), because oclif
// loads every command's module to list them.
import { UsageError } from '../errors.js';
import { SOCKET_OPTION } from '../options.js';
import { oclifFlag } from './oclif-flags.js';

export { resolveSocketPath } from './socket-path.js';

/** The --socket flag every node command takes (WW_SOCKET in the environment sets it too). */
export const socketFlag = oclifFlag(SOCKET_OPTION);

/** The PID argument of kill, pause, resume, wait and info. */
export const PROCESS_ARG_DESCRIPTION = 'the process id, as `ww ps` shows it: PID on this node, PEER/PID on another peer (a unique prefix of its peer ID will do)';

/** Parses a PID argument: a positive whole number, else a usage error (exit 2). */
export function parsePid(text: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0 || value > 0xffff_ffff) {
    throw new UsageError(`PID '${text}' is not a process id; write a positive whole number, as \`ww ps\` shows it (e.g. 42)`);
  }
  return value;
}

/** A process as the node commands name it: PID on this node, or PEER/PID on another peer (PEER a
 *  peer ID or a unique prefix of one, as `ww ps --cluster` writes it). `name`: as the user wrote it. */
export interface ProcessRef {
  peer?: string;
  pid: number;
  name: string;
}

/** Parses PID or PEER/PID; a usage error (exit 2) for anything else. */
export function parseProcessRef(text: string): ProcessRef {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return { pid: parsePid(text), name: text.trim() };
  const peer = text.slice(0, slash).trim();
  if (!/^[1-9A-HJ-NP-Za-km-z]+$/.test(peer)) {
    throw new UsageError(`'${text}' is not PEER/PID: PEER is a peer ID or a prefix of one (as \`ww ps --cluster\` or \`ww cluster ls\` shows it), e.g. 12D3KooWAbc/42`);
  }
  return { peer, pid: parsePid(text.slice(slash + 1)), name: `${peer}/${text.slice(slash + 1).trim()}` };
}
