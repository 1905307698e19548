// Typed RPC exceptions: the four kinds of rpc.capnp's Exception.Type, as Error subclasses.
import { Exception_Type } from '../capnp-gen/rpc.layout.js';

export type RpcErrorType = 'failed' | 'overloaded' | 'disconnected' | 'unimplemented';

/**
 * Extra information an application attaches to an exception (rpc.capnp Exception.details, Cap'n
 * Proto 1.0): a 64-bit id naming what `data` is (made with `capnp id`), so a client can act on a
 * typed error instead of parsing the reason text. Peers that predate details ignore them.
 */
export interface ExceptionDetail {
  readonly id: bigint;
  readonly data: Uint8Array;
}

/** Details one exception may carry, and the bytes of each: more are dropped, on send and receive. */
export const MAX_EXCEPTION_DETAILS = 8;
export const MAX_EXCEPTION_DETAIL_BYTES = 4096;

/** An exception that crossed (or would cross) an RPC boundary. `type` says how a caller may react. */
export class RpcError extends Error {
  readonly type: RpcErrorType;
  readonly details: readonly ExceptionDetail[];
  constructor(type: RpcErrorType, message: string, details: readonly ExceptionDetail[] = []) {
    super(message);
    this.type = type;
    this.details = details;
    this.name = new.target.name;
  }

  /** The data of the detail with this id, if the exception carries one. */
  detail(id: bigint): Uint8Array | undefined {
    return this.details.find((d) => d.id === id)?.data;
  }
}

/** The RpcError subclass of one kind. */
const ofType = (type: RpcErrorType) =>
  class extends RpcError {
    constructor(message: string, details?: readonly ExceptionDetail[]) {
      super(type, message, details);
    }
  };

/** A generic failure; retrying the same call would fail again. */
export class FailedError extends ofType('failed') {}
/** The callee lacked resources (CPU, memory, a limit); retry later, not immediately. */
export class OverloadedError extends ofType('overloaded') {}
/** The connection to the capability's host was lost; reconnect and retry. */
export class DisconnectedError extends ofType('disconnected') {}
/** The callee does not implement the method or message. */
export class UnimplementedError extends ofType('unimplemented') {}

const WIRE_TYPE: Record<RpcErrorType, Exception_Type> = {
  failed: Exception_Type.failed,
  overloaded: Exception_Type.overloaded,
  disconnected: Exception_Type.disconnected,
  unimplemented: Exception_Type.unimplemented,
};

/** rpc.capnp's Exception.Type for an error's kind. */
export function exceptionTypeCode(type: RpcErrorType): Exception_Type {
  return WIRE_TYPE[type];
}

/** The RpcError for an Exception received from a peer (a type this engine does not know is `failed`). */
export function rpcErrorFromWire(code: number, reason: string, details: readonly ExceptionDetail[] = []): RpcError {
  switch (code) {
    case Exception_Type.overloaded:
      return new OverloadedError(reason, details);
    case Exception_Type.disconnected:
      return new DisconnectedError(reason, details);
    case Exception_Type.unimplemented:
      return new UnimplementedError(reason, details);
    default:
      return new FailedError(reason, details);
  }
}

/** Any thrown value as an RpcError (a plain Error becomes `failed` with its message). */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof Error) return new FailedError(err.message);
  return new FailedError(String(err));
}
