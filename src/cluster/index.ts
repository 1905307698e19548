// The cluster layer: a node's libp2p peer (identity, admission, host) and RPC with other peers. See README.md.
import './polyfill.js';

export { Cluster, RPC_PROTOCOL, type ClusterOptions, type Served } from './cluster.js';
export { Admission, readAllowFile, checkPeerId } from './admission.js';
export { ClusterError, type ClusterErrorCode } from './errors.js';
export { DEFAULT_HOST_BOUNDS, DEFAULT_LISTEN, type HostBounds, type Libp2pHost } from './host.js';
export { IDENTITY_FILE, loadIdentity, type Identity } from './identity.js';
export { newSwarmKey, parseSwarmKey, readSwarmKey } from './swarm-key.js';
export { libp2pByteStream } from './stream.js';
export { Membership, MEMBERSHIP_TOPIC, type MembershipOptions, type PeerStatus } from './membership.js';
