// How ww tells the user that a guest ended: one line for an end they should hear about, and the status
// ww exits with. One formatter for every command and both ways of running (here or on a node), so the
// same end reads the same and exits the same.
import { constants } from 'node:os';
import { reasonText, type Reason } from '../../src/executor/reasons.js';
import { formatDuration, formatSize } from '../units.js';
import { printable } from '../text.js';

export interface EndContext {
  /** The limits the guest ran with, to name the one it hit (`limit exceeded: cpu (fuel 1000000)`). */
  limits?: { maxMemoryBytes?: number; fuel?: number; timeoutMs?: number };
  /** The signal on which ww killed the guest. */
  signal?: NodeJS.Signals;
  /** Who ended, for commands about another process (`process 7`); omitted for `ww run`'s own guest. */
  subject?: string;
}

/** The stderr line (without `ww: `) for an end the user should hear about; undefined when the guest
 *  exited by itself (its code says the rest). */
export function endLine(reason: Reason, ctx: EndContext = {}): string | undefined {
  let what: string;
  switch (reason.kind) {
    case 'normal':
    case 'exit':
      return undefined;
    case 'killed':
      what = ctx.signal ? `killed the guest on ${ctx.signal}` : 'killed';
      break;
    case 'limit':
      what = `limit exceeded: ${reason.limit}${limitDetail(reason.limit, ctx.limits)}`;
      break;
    case 'link':
      what = `link: ${reason.pid} (a linked process ended abnormally)`;
      break;
    case 'peer-lost':
      what = 'peer-lost (the peer that ran it is gone)';
      break;
    case 'trap':
      what = reasonText(reason);
      break;
  }
  return ctx.subject ? `${ctx.subject} ended: ${what}` : what;
}

/** The status ww exits with for a guest's end: 128 + N when ww killed it on signal N, else the
 *  guest's own status, which a shell sees only if it fits 0-255 (`note` says why ww exits 1). */
export function exitStatus(code: number, signal?: NodeJS.Signals, subject = 'the guest'): { status: number; note?: string } {
  if (signal) return { status: 128 + (constants.signals[signal] ?? 0) };
  if (code < 0 || code > 255) {
    return { status: 1, note: `${subject} exited with status ${code}, which does not fit in 0-255; exiting 1` };
  }
  return { status: code };
}

function limitDetail(limit: 'cpu' | 'memory' | 'wall', limits: EndContext['limits'] = {}): string {
  if (limit === 'cpu' && limits.fuel !== undefined) return ` (fuel ${limits.fuel})`;
  if (limit === 'memory' && limits.maxMemoryBytes !== undefined) return ` (max-memory ${formatSize(limits.maxMemoryBytes)})`;
  if (limit === 'wall' && limits.timeoutMs !== undefined) return ` (timeout ${formatDuration(limits.timeoutMs)})`;
  return '';
}

/** Tells of a guest's end on stderr (`write` takes a line without its newline) and returns the
 *  status ww exits with: what `ww run` does after its guest ends, here or on a node. */
export async function reportEnd(end: { code: number; reason: Reason }, ctx: EndContext, write: (line: string) => unknown): Promise<number> {
  const line = endLine(end.reason, ctx);
  if (line) await write(`ww: ${printable(line)}`);
  const { status, note } = exitStatus(end.code, ctx.signal, ctx.subject);
  if (note) await write(`ww: ${note}`);
  return status;
}
