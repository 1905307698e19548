// The arguments the node commands take: --socket and a PID. Light (no RPC, no node), because oclif
// loads every command's module to list them.
import { UsageError } from '../errors.js';
import { SOCKET_OPTION } from '../options.js';
import { oclifFlag } from './oclif-flags.js';

export { resolveSocketPath } from './socket-path.js';

/** The --socket flag every node command takes (WW_SOCKET in the environment sets it too). */
export const socketFlag = oclifFlag(SOCKET_OPTION);

/** Parses a PID argument: a positive whole number, else a usage error (exit 2). */
export function parsePid(text: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0 || value > 0xffff_ffff) {
    throw new UsageError(`PID '${text}' is not a process id; write a positive whole number, as \`ww ps\` shows it (e.g. 42)`);
  }
  return value;
}
