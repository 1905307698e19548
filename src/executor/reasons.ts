// Exit reasons: the closed set of README.md ("Exit reasons"), as the executor sees them.
// The runtime's reasons (normal, exit, killed, trap, limit) plus the ones only the executor
// produces: link (a linked process ended abnormally) and peer-lost (a remote process's peer
// could not be reached).

import type { ExitReason as RuntimeReason } from '../wasm/index.js';

export type Reason = RuntimeReason | { kind: 'link'; pid: number } | { kind: 'peer-lost' };

/** The reason as the schema and the CLI spell it: normal | exit: N | killed | trap: M | limit: L | link: P | peer-lost. */
export function reasonText(r: Reason): string {
  switch (r.kind) {
    case 'normal':
      return 'normal';
    case 'exit':
      return `exit: ${r.code}`;
    case 'killed':
      return 'killed';
    case 'trap':
      return `trap: ${r.message}${r.func ? ` in ${r.func}` : ''}`;
    case 'limit':
      return `limit: ${r.limit}`;
    case 'link':
      return `link: ${r.pid}`;
    case 'peer-lost':
      return 'peer-lost';
  }
}

/** Exit status as a shell sees it: the guest's code, 134 for a trap, 137 for every forced end. */
export function reasonCode(r: Reason): number {
  switch (r.kind) {
    case 'normal':
      return 0;
    case 'exit':
      return r.code;
    case 'trap':
      return 134;
    default:
      return 137;
  }
}

/** Everything but `normal` (exit code 0) is abnormal and propagates over links, as in Erlang,
 *  where only the reason `normal` does not: a non-zero exit code is a failure too. */
export function isAbnormal(r: Reason): boolean {
  return r.kind !== 'normal';
}

/** Abnormal-ness of a reason known only as text (a remote process's monitor). */
export function isAbnormalText(text: string): boolean {
  return text !== 'normal';
}
