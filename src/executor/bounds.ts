// What one spawn may carry and how much of it a listing shows: sizes a client chooses, bounded so
// that one spawn cannot make the node's memory, its log or another client's `ps` reply unbounded.

import { ExecutorError } from './errors.js';

/** argv and env of one spawn together, in UTF-8 bytes (Linux allows 2 MiB for both). */
export const MAX_SPAWN_ARG_BYTES = 1024 * 1024;
/** argv and env entries of one spawn together. */
export const MAX_SPAWN_ARGS = 16 * 1024;
/** argv bytes one process shows in a listing (`ps`, the node's log); Process.info has all of it. */
export const LISTED_ARGV_BYTES = 4096;

/** Refuses argv and env past the bounds, naming the size and the bound. */
export function checkSpawnArgs(argv: readonly string[], env: Readonly<Record<string, string>> | undefined): void {
  const pairs = env ? Object.entries(env) : [];
  const count = argv.length + pairs.length;
  if (count > MAX_SPAWN_ARGS) {
    throw new ExecutorError('bad-request', `spawn: argv and env have ${count} entries, more than the ${MAX_SPAWN_ARGS} a spawn may pass`);
  }
  let bytes = 0;
  for (const a of argv) bytes += Buffer.byteLength(a) + 1;
  for (const [k, v] of pairs) bytes += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
  if (bytes > MAX_SPAWN_ARG_BYTES) {
    throw new ExecutorError('bad-request', `spawn: argv and env take ${bytes} bytes, more than the ${MAX_SPAWN_ARG_BYTES} a spawn may pass`);
  }
}

/** argv as a listing shows it: whole while it fits LISTED_ARGV_BYTES, else cut, the cut marked. */
export function listedArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let left = LISTED_ARGV_BYTES;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const size = Buffer.byteLength(a);
    if (size <= left) {
      out.push(a);
      left -= size;
      continue;
    }
    out.push(cutUtf8(a, left) + '…');
    if (i + 1 < argv.length) out.push(`(${argv.length - i - 1} more)`);
    break;
  }
  return out;
}

function cutUtf8(s: string, bytes: number): string {
  const buf = Buffer.from(s);
  let end = Math.min(bytes, buf.length);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // not inside a character
  return buf.subarray(0, end).toString();
}
