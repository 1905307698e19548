// The executor's RPC surface: the servers of capnp/ww.capnp over the core (./index.ts), and the one
// mapping of reasons and errors to and from the wire. See README.md.
export { AdminCap, ExecutorContext, ExecutorCap, ModuleCacheCap, MonitorCap, NodeCap, ProcessCap, nodeCapOf, toProcessInfo, type Bootstrap, type ClusterPeer, type ClusterView, type PeerDialer } from './caps.js';

export { DEFAULT_QUOTAS, Grant, Principal, Scope, type DirGrant, type Quotas } from './authority.js';
// What their clients need to read reasons and refusals (also alone, without the servers: wire.ts).
export * from './wire.js';
