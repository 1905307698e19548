// What the engine needs from a transport: whole messages in, whole messages out. A transport knows
// nothing of the engine; any duplex of byte chunks (TCP, unix socket, libp2p stream, a guest's
// socket) becomes one through StreamTransport.

export interface Transport {
  /**
   * Sends one message, given as its segments (each a multiple of 8 bytes). The transport copies
   * segments smaller than BIG_SEGMENT before returning (the caller may reuse them); bigger ones it
   * may keep until written (the caller hands them over).
   *
   * `reply` marks a message that answers one of the peer's (a Return, an echoed Disembargo or
   * Unimplemented): the peer's own calls made it, so a transport that bounds what waits for the
   * peer counts those. A peer that does not read its replies is cut off; one that reads slowly is
   * made to wait (StreamTransport). Our own calls and bookkeeping (Finish, Release) are not counted:
   * they are the program's doing, and a client that only calls never stops reading because of them.
   */
  send(segments: Uint8Array[], reply?: boolean): void;
  /**
   * Installs the receiver of whole messages, one view per segment. The views are valid during the
   * call only if the receiver copies what it keeps (the engine decodes at once).
   */
  onMessage(handler: (segments: Uint8Array[]) => void): void;
  /**
   * Installs the receiver of the end of the stream: err is set on a transport failure, on bad
   * framing (FrameError) and on a peer past a bound (TransportLimitError). On those two the handler
   * may still send one last message (Abort).
   */
  onClose(handler: (err?: Error) => void): void;
  /** Closes the stream after flushing what was sent. */
  close(): void;
}

/** Segments at least this big are handed over to the transport instead of copied. */
export const BIG_SEGMENT = 64 * 1024;

/** The smallest duplex byte stream a StreamTransport needs; the optional members give it backpressure. */
export interface ByteStream {
  /** Writes chunk; `done`, when the stream calls it, says it no longer reads chunk (written or dropped). */
  write(chunk: Uint8Array, done?: () => void): void;
  onData(handler: (chunk: Uint8Array) => void): void;
  onEnd(handler: (err?: Error) => void): void;
  end(): void;
  /**
   * Bytes written but not yet taken by the OS or the peer. Without it the transport cannot tell a
   * peer that does not read from one that does, and bounds only its own buffer.
   */
  queuedBytes?(): number;
  /** Registers a callback for when written bytes leave the stream's queue (queuedBytes() went down). */
  onWritten?(handler: () => void): void;
  /**
   * For a stream that can read into a buffer of the reader's choosing: `target` is asked before
   * each read; a buffer it returns is read into (the chunk then handed to onData is a view of its
   * start), null leaves the choice to the stream.
   */
  readInto?(target: () => Uint8Array | null): void;
  /** Gathers the writes until uncork() into one (a writev): a frame's header and its big segments. */
  cork?(): void;
  uncork?(): void;
  /** Stops delivering data until resume(): the peer's next messages wait in its own socket buffers. */
  pause?(): void;
  resume?(): void;
}

/** Which bound a peer went past. */
export type TransportLimit = 'queued-bytes' | 'partial-frame-budget' | 'partial-frame-timeout';

/**
 * A peer went past a bound of the transport: it did not read what was queued for it, or held a
 * partly sent message too long or too large for the budget. The engine answers with Abort (type
 * `overloaded`) and closes; the message says which bound and how far.
 */
export class TransportLimitError extends Error {
  constructor(
    readonly limit: TransportLimit,
    message: string,
  ) {
    super(message);
    this.name = 'TransportLimitError';
  }
}
