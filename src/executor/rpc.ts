// The executor's RPC surface: the servers of capnp/ww.capnp over the core (./index.ts), and the one
// mapping of reasons and errors to and from the wire. See README.md.
export { ExecutorContext, ExecutorCap, ModuleCacheCap, MonitorCap, NodeCap, ProcessCap, nodeCapOf, toProcessInfo } from './caps.js';
export { reasonFromWire, reasonToWire } from './reason-wire.js';
// The vocabulary a client of these servers needs: exit reasons and refusals, typed.
export { reasonText, type Reason } from './reasons.js';
export { ExecutorError, type ExecutorErrorCode } from './errors.js';
export { executorErrorFromRpc, executorErrorToRpc, EXECUTOR_ERROR_DETAIL } from './error-wire.js';
