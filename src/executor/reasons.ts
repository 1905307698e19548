// Exit reasons: the closed set of a process's ends, as the executor sees them: the runtime's (normal,
// exit, killed, trap, limit) plus the ones only the executor produces: link (a linked process ended
// abnormally) and peer-lost (the peer that ran it is gone). Typed everywhere; rendered only here
// (the node's words) and by each audience's own formatter (the CLI's line, the guest's buffer).

import { exitCode } from '../wasm/exit.js';
import type { ExitReason as RuntimeReason } from '../wasm/types.js';

export type Reason = RuntimeReason | { kind: 'link'; pid: number } | { kind: 'peer-lost' };

/** The reason in the node's words, as `ps`, logs and guests (proc_wait's reason text) see it:
 *  normal | exit: N | killed | trap: M [in F] | limit: cpu|memory|wall | link: P | peer-lost. */
export function reasonText(r: Reason): string {
  switch (r.kind) {
    case 'normal':
      return 'normal';
    case 'exit':
      return `exit: ${r.code}`;
    case 'killed':
      return 'killed';
    case 'trap':
      return `trap: ${oneLine(r.message)}${r.func ? ` in ${r.func}` : ''}`;
    case 'limit':
      return `limit: ${r.limit}`;
    case 'link':
      return `link: ${r.pid}`;
    case 'peer-lost':
      return 'peer-lost';
  }
}

/** Exit status as a shell sees it (one rule for every reason: src/wasm/exit.ts). */
export function reasonCode(r: Reason): number {
  return exitCode(r);
}

/** Everything but `normal` (exit code 0) is abnormal and propagates over links, as in Erlang,
 *  where only the reason `normal` does not: a non-zero exit code is a failure too. */
export function isAbnormal(r: Reason): boolean {
  return r.kind !== 'normal';
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
