// The executor's refusals over RPC: an ExecutorError crosses the wire as a Cap'n Proto exception whose
// reason is its message (for people) and whose details carry its code (for programs: see
// capnp/ww.capnp, "Errors"), and comes back as the same ExecutorError. The one mapping both ways.

import type { InterfaceDesc } from '../rpc/codec.js';
import { FailedError, RpcError } from '../rpc/errors.js';
import { ExecutorError, isExecutorErrorCode } from './errors.js';

/** Exception.details id of an executor error; its data is the code as UTF-8 (e.g. `no-such-process`). */
export const EXECUTOR_ERROR_DETAIL = 0xc353051d1ffccaf4n;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export function executorErrorToRpc(e: ExecutorError): RpcError {
  return new FailedError(e.message, [{ id: EXECUTOR_ERROR_DETAIL, data: utf8.encode(e.code) }]);
}

/** The ExecutorError an RPC exception carries, or undefined for any other failure (a lost
 *  connection, an exception from another kind of peer, a code this version does not know). */
export function executorErrorFromRpc(e: unknown): ExecutorError | undefined {
  if (!(e instanceof RpcError)) return undefined;
  const data = e.detail(EXECUTOR_ERROR_DETAIL);
  if (!data) return undefined;
  const code = fromUtf8.decode(data);
  return isExecutorErrorCode(code) ? new ExecutorError(code, e.message, { cause: e }) : undefined;
}

/**
 * Makes the methods of `iface` on a server class's prototype answer an ExecutorError (thrown, or a
 * rejected promise) as the exception that carries its code. Once per server class, where it is
 * defined, so no method body has to remember it.
 */
export function answerExecutorErrors(proto: object, iface: InterfaceDesc): void {
  const methods = proto as Record<string, unknown>;
  for (const { name } of iface.methods) {
    const method = methods[name];
    if (typeof method !== 'function') continue;
    methods[name] = function (this: unknown, ...args: unknown[]): unknown {
      try {
        const result: unknown = method.apply(this, args);
        return result instanceof Promise ? result.catch(rethrow) : result;
      } catch (e) {
        return rethrow(e);
      }
    };
  }
}

function rethrow(e: unknown): never {
  throw e instanceof ExecutorError ? executorErrorToRpc(e) : e;
}
