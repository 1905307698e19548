// What the engine needs from a transport: whole messages in, whole messages out. A transport knows
// nothing of the engine; any duplex of byte chunks (TCP, unix socket, libp2p stream, a guest's
// socket) becomes one through StreamTransport.

export interface Transport {
  /** Sends one message, given as its segments (each a multiple of 8 bytes). */
  send(segments: Uint8Array[]): void;
  /** Installs the receiver of whole messages (one ArrayBuffer per segment). Call once. */
  onMessage(handler: (segments: ArrayBuffer[]) => void): void;
  /** Installs the receiver of the end of the stream: err is set on a transport failure or bad framing. */
  onClose(handler: (err?: Error) => void): void;
  /** Closes the stream after flushing what was sent. */
  close(): void;
}

/** The smallest duplex byte stream a StreamTransport needs. */
export interface ByteStream {
  write(chunk: Uint8Array): void;
  onData(handler: (chunk: Uint8Array) => void): void;
  onEnd(handler: (err?: Error) => void): void;
  end(): void;
}
