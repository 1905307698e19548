// Typed RPC exceptions: the four kinds of rpc.capnp's Exception.Type, as Error subclasses.
import { Exception_Type } from '../capnp-gen/rpc.layout.js';

export type RpcErrorType = 'failed' | 'overloaded' | 'disconnected' | 'unimplemented';

/** An exception that crossed (or would cross) an RPC boundary. `type` says how a caller may react. */
export class RpcError extends Error {
  readonly type: RpcErrorType;
  constructor(type: RpcErrorType, message: string) {
    super(message);
    this.type = type;
    this.name = new.target.name;
  }
}

/** The RpcError subclass of one kind. */
const ofType = (type: RpcErrorType) =>
  class extends RpcError {
    constructor(message: string) {
      super(type, message);
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
export function rpcErrorFromWire(code: number, reason: string): RpcError {
  switch (code) {
    case Exception_Type.overloaded:
      return new OverloadedError(reason);
    case Exception_Type.disconnected:
      return new DisconnectedError(reason);
    case Exception_Type.unimplemented:
      return new UnimplementedError(reason);
    default:
      return new FailedError(reason);
  }
}

/** Any thrown value as an RpcError (a plain Error becomes `failed` with its message). */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof Error) return new FailedError(err.message);
  return new FailedError(String(err));
}
