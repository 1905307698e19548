// node:net sockets (TCP and unix) as ByteStreams, and the connecting and listening both share.
import net from 'node:net';
import { DEFAULT_PARTIAL_FRAME_BUDGET_BYTES, PartialFrameBudget } from './framing.js';
import { StreamTransport, type StreamTransportOptions } from './stream.js';
import type { ByteStream, Transport } from './types.js';

/** Bytes of one read into a buffer of our own (what Node reads at most into its own). */
const READ_BYTES = 64 * 1024;

/**
 * The hooks of a socket made with node:net's `onread` (reads into buffers we choose): what reads
 * go to, and who gets what was read. Only sockets we create can have them (not accepted ones).
 */
interface DirectReads {
  target: (() => Uint8Array | null) | null;
  onChunk: ((chunk: Uint8Array) => void) | null;
}

/**
 * A plain Uint8Array, not a Buffer: what is read is handed on as views of it, and a Buffer's
 * slice() is a view, not the copy the engine makes of what it keeps.
 */
function freshReadBuffer(): Uint8Array {
  const raw = Buffer.allocUnsafeSlow(READ_BYTES);
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

function directReads(): { reads: DirectReads; onread: net.OnReadOpts } {
  const reads: DirectReads = { target: null, onChunk: null };
  const onread: net.OnReadOpts = {
    buffer: () => reads.target?.() ?? freshReadBuffer(),
    callback: (n, buf) => {
      reads.onChunk?.(buf.subarray(0, n));
      return true;
    },
  };
  return { reads, onread };
}

export function socketByteStream(socket: net.Socket, reads?: DirectReads): ByteStream {
  socket.setNoDelay?.(true);
  let ended = false;
  const endHandlers: ((err?: Error) => void)[] = [];
  const writtenHandlers: (() => void)[] = [];
  let failure: Error | undefined;
  const fireEnd = (err?: Error): void => {
    if (ended) return;
    ended = true;
    for (const h of endHandlers) h(err ?? failure);
  };
  const fireWritten = (): void => {
    for (const h of writtenHandlers) h();
  };
  socket.on('error', (err) => {
    failure = err;
    fireEnd(err);
  });
  socket.on('close', () => fireEnd());
  socket.on('end', () => {
    fireEnd();
    socket.end();
  });
  return {
    write(chunk, done) {
      if (socket.destroyed) return done?.();
      socket.write(
        chunk,
        done
          ? () => {
              fireWritten();
              done();
            }
          : fireWritten,
      );
    },
    onData(handler) {
      if (reads) reads.onChunk = handler;
      else socket.on('data', (b: Buffer) => handler(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
    },
    readInto: reads
      ? (target) => {
          reads.target = target;
        }
      : undefined,
    onEnd(handler) {
      endHandlers.push(handler);
    },
    end() {
      socket.end();
      // A peer that never reads must not keep us waiting forever.
      setTimeout(() => socket.destroy(), 2000).unref();
    },
    // Bytes the kernel has not taken yet: what a peer that does not read makes us hold.
    queuedBytes: () => socket.writableLength,
    onWritten(handler) {
      writtenHandlers.push(handler);
    },
    cork: () => socket.cork(),
    uncork: () => socket.uncork(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
}

/** The bounds of a socket's transport; a listener's connections share one partial frame budget. */
export type SocketTransportOptions = StreamTransportOptions;

export function transportFromSocket(socket: net.Socket, options: SocketTransportOptions = {}, reads?: DirectReads): Transport {
  return new StreamTransport(socketByteStream(socket, reads), options);
}

/** Connects to a TCP address or a unix socket path. */
export function connectSocket(to: net.NetConnectOpts, options: SocketTransportOptions = {}): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const { reads, onread } = directReads();
    const socket = net.connect({ ...to, onread });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(transportFromSocket(socket, options, reads));
    });
  });
}

/** A listening server; close() also ends the connections it accepted. */
export interface SocketListener {
  readonly server: net.Server;
  /** What its connections' partly received frames hold together. */
  readonly partialFrameBudget: PartialFrameBudget | null;
  close(): Promise<void>;
}

/**
 * Listens on a TCP address or a unix socket path and hands each accepted connection's transport to
 * onTransport. Unless options say otherwise, the connections share one PartialFrameBudget of
 * DEFAULT_PARTIAL_FRAME_BUDGET_BYTES: many senders of partial frames hold no more than that together.
 */
export function listenSocket(on: net.ListenOptions, onTransport: (t: Transport) => void, options: SocketTransportOptions = {}): Promise<SocketListener> {
  const partialFrameBudget = options.partialFrameBudget === undefined ? new PartialFrameBudget(DEFAULT_PARTIAL_FRAME_BUDGET_BYTES) : options.partialFrameBudget;
  const transportOptions = { ...options, partialFrameBudget };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onTransport(transportFromSocket(socket, transportOptions));
  });
  const close = (): Promise<void> =>
    new Promise<void>((done) => {
      for (const s of sockets) s.destroy();
      server.close(() => done());
    });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(on, () => resolve({ server, partialFrameBudget, close }));
  });
}
