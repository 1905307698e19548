// Public surface of the RPC engine.
export { Connection, DEFAULT_LIMITS, type ConnectionLimits, type ConnectionOptions } from './conn.js';
export { Client, RemotePromise, serve, makeClient, defineInterface, type Interface, type ClientOf, type ServerOf, type Awaitable } from './client.js';
export type { CallContext } from './client.js';
export type { InterfaceDesc, MethodDesc, StructDesc, FieldDesc, TypeDesc } from './codec.js';
export {
  RpcError,
  FailedError,
  OverloadedError,
  DisconnectedError,
  UnimplementedError,
  type RpcErrorType,
  type ExceptionDetail,
} from './errors.js';
export type { Transport, ByteStream } from './transport/types.js';
export { StreamTransport } from './transport/stream.js';
export { FrameDecoder, FrameError, encodeFrame, DEFAULT_FRAME_LIMITS, type FrameLimits } from './transport/framing.js';
export { connectTcp, listenTcp, parseHostPort, transportFromSocket, type Listener } from './transport/tcp.js';
export { connectUnix, listenUnix } from './transport/unix.js';
export { memoryPair } from './transport/memory.js';
