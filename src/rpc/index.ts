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
export { TransportLimitError, type Transport, type ByteStream, type TransportLimit } from './transport/types.js';
export {
  StreamTransport,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_PAUSE_READING_ABOVE,
  DEFAULT_PARTIAL_FRAME_TIMEOUT_MS,
  type StreamTransportOptions,
  type StreamTransportStats,
} from './transport/stream.js';
export {
  FrameDecoder,
  FrameError,
  PartialFrameBudget,
  encodeFrame,
  DEFAULT_FRAME_LIMITS,
  DEFAULT_PARTIAL_FRAME_BUDGET_BYTES,
  PARTIAL_FRAME_ALLOWANCE,
  type FrameLimits,
} from './transport/framing.js';
export type { SocketTransportOptions } from './transport/socket.js';
export { connectTcp, listenTcp, parseHostPort, transportFromSocket, type Listener } from './transport/tcp.js';
export { connectUnix, listenUnix } from './transport/unix.js';
export { memoryPair } from './transport/memory.js';
