// Exit reasons and refusals as they cross the wire (capnp/ww.capnp): what a client of a node needs
// to read them, without the servers (rpc.ts) or the executor's core (index.ts).
export { endOrPeerLost, reasonFromWire, reasonToWire } from './reason-wire.js';
export { executorErrorFromRpc, executorErrorToRpc, EXECUTOR_ERROR_DETAIL } from './error-wire.js';
export { reasonText, type Reason } from './reasons.js';
export { ExecutorError, type ExecutorErrorCode } from './errors.js';
// Which live peer a PEER names (a peer ID prefix, or auto): clients resolve PEER/PID by the node's rule.
export { leastLoaded, resolvePeer } from './peer-prefix.js';
