// The cluster's refusals, each with a code for programs and a message that says what to do.

export type ClusterErrorCode =
  /** The identity key file cannot be read as an Ed25519 key. */
  | 'bad-key-file'
  /** The swarm key file is not a /key/swarm/psk/1.0.0/ key. */
  | 'bad-swarm-key'
  /** The allow-list (a flag or its file) names something that is not a peer ID. */
  | 'bad-allow-list'
  /** A listen or dial address that is not a usable multiaddr. */
  | 'bad-address'
  /** Our own admission rule forbids the peer (we never dial a peer we would not admit). */
  | 'not-admitted'
  /** The peer closed the connection during the handshake: it does not admit us. */
  | 'refused'
  /** No connection could be made (nobody there, network down). */
  | 'unreachable'
  /** The libp2p host cannot start (an address cannot be listened on). */
  | 'cannot-listen';

export class ClusterError extends Error {
  constructor(
    readonly code: ClusterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ClusterError';
  }
}
