// Exit reasons on the wire (capnp/ww.capnp ExitReason) and back: the one mapping between the typed
// Reason and the schema's struct. Apart from reasons.ts so that code without RPC never loads the
// generated schema.

import { ExitKind, LimitKind, type ExitReason as WireReason, type ExitReason$Init } from '../capnp-gen/ww.rpc.js';
import { RpcError } from '../rpc/errors.js';
import { reasonCode, type Reason } from './reasons.js';

const LIMITS = ['cpu', 'memory', 'wall'] as const;

export function reasonToWire(r: Reason): ExitReason$Init {
  switch (r.kind) {
    case 'normal':
      return { kind: ExitKind.normal };
    case 'exit':
      return { kind: ExitKind.exit, code: r.code };
    case 'killed':
      return { kind: ExitKind.killed };
    case 'trap':
      return { kind: ExitKind.trap, message: r.message, function: r.func ?? '' };
    case 'limit':
      return { kind: ExitKind.limit, limit: LimitKind[r.limit] };
    case 'link':
      return { kind: ExitKind.link, pid: r.pid };
    case 'peer-lost':
      return { kind: ExitKind.peerLost };
  }
}

/** The typed reason of a wire struct. A kind or limit this version does not know (a newer peer) is
 *  reported as a trap that says so: abnormal, and never mistaken for a known reason. */
export function reasonFromWire(w: WireReason): Reason {
  switch (w.kind) {
    case ExitKind.normal:
      return { kind: 'normal' };
    case ExitKind.exit:
      return { kind: 'exit', code: w.code };
    case ExitKind.killed:
      return { kind: 'killed' };
    case ExitKind.trap:
      return w.function ? { kind: 'trap', message: w.message, func: w.function } : { kind: 'trap', message: w.message };
    case ExitKind.limit: {
      const limit = LIMITS[w.limit];
      return limit ? { kind: 'limit', limit } : unknown(`limit ${w.limit}`);
    }
    case ExitKind.link:
      return { kind: 'link', pid: w.pid };
    case ExitKind.peerLost:
      return { kind: 'peer-lost' };
    default:
      return unknown(`kind ${w.kind as number}`);
  }
}

/**
 * An end as seen through a monitor's reason() or a wait() on another peer's process: the reason it
 * gives, or `peer-lost` (code 137) when the call failed because the session to that peer ended
 * (`disconnected`: the peer crashed, or was cut off past the liveness timeout). The node that relays
 * the call cannot tell the two apart from a real answer, so callers get a reason, not an exception;
 * any other failure is thrown.
 */
export async function endOrPeerLost(ended: PromiseLike<{ reason: WireReason; code: number }>): Promise<{ reason: Reason; code: number }> {
  try {
    const { reason, code } = await ended;
    return { reason: reasonFromWire(reason), code };
  } catch (e) {
    if (!(e instanceof RpcError) || e.type !== 'disconnected') throw e;
    const lost: Reason = { kind: 'peer-lost' };
    return { reason: lost, code: reasonCode(lost) };
  }
}

function unknown(what: string): Reason {
  return { kind: 'trap', message: `an exit reason this version of ww does not know (${what})` };
}
