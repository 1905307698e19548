// Typed RPC exceptions: the four kinds of rpc.capnp's Exception.Type, as Error subclasses.

export type RpcErrorType = 'failed' | 'overloaded' | 'disconnected' | 'unimplemented';

/** An exception that crossed (or would cross) an RPC boundary. `type` says how a caller may react. */
export class RpcError extends Error {
  readonly type: RpcErrorType;
  constructor(type: RpcErrorType, message: string) {
    super(message);
    this.type = type;
    this.name = 'RpcError';
  }
}

/** A generic failure; retrying the same call would fail again. */
export class FailedError extends RpcError {
  constructor(message: string) {
    super('failed', message);
    this.name = 'FailedError';
  }
}

/** The callee lacked resources (CPU, memory, a limit); retry later, not immediately. */
export class OverloadedError extends RpcError {
  constructor(message: string) {
    super('overloaded', message);
    this.name = 'OverloadedError';
  }
}

/** The connection to the capability's host was lost; reconnect and retry. */
export class DisconnectedError extends RpcError {
  constructor(message: string) {
    super('disconnected', message);
    this.name = 'DisconnectedError';
  }
}

/** The callee does not implement the method or message. */
export class UnimplementedError extends RpcError {
  constructor(message: string) {
    super('unimplemented', message);
    this.name = 'UnimplementedError';
  }
}

const TYPE_BY_CODE: RpcErrorType[] = ['failed', 'overloaded', 'disconnected', 'unimplemented'];

export function exceptionTypeCode(type: RpcErrorType): number {
  return TYPE_BY_CODE.indexOf(type);
}

export function rpcErrorFromWire(code: number, reason: string): RpcError {
  return makeRpcError(TYPE_BY_CODE[code] ?? 'failed', reason);
}

export function makeRpcError(type: RpcErrorType, message: string): RpcError {
  switch (type) {
    case 'overloaded':
      return new OverloadedError(message);
    case 'disconnected':
      return new DisconnectedError(message);
    case 'unimplemented':
      return new UnimplementedError(message);
    default:
      return new FailedError(message);
  }
}

/** Any thrown value as an RpcError (a plain Error becomes `failed` with its message). */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof Error) return new FailedError(err.message);
  return new FailedError(String(err));
}
