// Raft frames between admitted peers over libp2p (`/ww/raft/1.0.0`): one outbound stream per
// peer, each frame a u32 length then the bytes. Raft tolerates loss and resends what matters, so
// this transport never waits and never grows: a frame for a peer whose queue is full drops the
// oldest queued one (newer frames carry newer state), a peer that cannot be dialed is tried again
// at most once a second with its frames dropped meanwhile, and a frame larger than the bound ends
// the stream it came on. send() returns at once: the Raft loop never waits on a slow reader.
import './polyfill.js';
import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Admission } from './admission.js';
import type { Libp2pHost } from './host.js';

export const RAFT_PROTOCOL = '/ww/raft/1.0.0';

const HEADER_BYTES = 4;
/** A peer that could not be dialed is not dialed again sooner than this. */
const REDIAL_MS = 1000;

export interface RaftStreamsOptions {
  readonly libp2p: Libp2pHost;
  /** The cluster's rule: frames go to and come from admitted peers only. */
  readonly admission: Admission;
  /** A frame's payload, at most (RegistryPeer's maxFrameBytes). */
  readonly maxFrameBytes: number;
  /** Frames queued for one peer before the oldest is dropped (default 256). */
  readonly maxQueuedFrames?: number;
  /** Bytes queued for one peer, in our queue and the stream's write buffer together (default 2 frames). */
  readonly maxQueuedBytes?: number;
  /** Called with each whole frame and the authenticated peer ID it came from. */
  readonly deliver: (from: string, frame: Uint8Array) => void;
}

export interface RaftStreamsStats {
  readonly sent: number;
  readonly received: number;
  /** Frames dropped on the way out: queue full, peer not admitted or not reachable. */
  readonly dropped: number;
  /** Inbound streams ended for a frame over the bound or an unadmitted peer. */
  readonly refused: number;
}

interface Outbound {
  stream: Stream | null;
  opening: boolean;
  /** When the last dial failed (0: never); no dial before REDIAL_MS after it. */
  failedAt: number;
  readonly queue: Uint8Array[];
  queuedBytes: number;
}

export class RaftStreams {
  private readonly out = new Map<string, Outbound>();
  private readonly inbound = new Set<Stream>();
  private readonly maxQueuedFrames: number;
  private readonly maxQueuedBytes: number;
  private closed = false;
  private sent = 0;
  private received = 0;
  private dropped = 0;
  private refused = 0;

  private constructor(private readonly opts: RaftStreamsOptions) {
    this.maxQueuedFrames = opts.maxQueuedFrames ?? 256;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 2 * (opts.maxFrameBytes + HEADER_BYTES);
  }

  static async start(opts: RaftStreamsOptions): Promise<RaftStreams> {
    const t = new RaftStreams(opts);
    await opts.libp2p.handle(RAFT_PROTOCOL, (stream, connection) => t.accept(stream, connection), {
      // One stream each way per peer; a second while a lost one is being replaced.
      maxInboundStreams: 2,
      maxOutboundStreams: 2,
    });
    return t;
  }

  stats(): RaftStreamsStats {
    return { sent: this.sent, received: this.received, dropped: this.dropped, refused: this.refused };
  }

  /** Queues a frame for `to` (a peer ID); never waits, never throws. */
  send(to: string, frame: Uint8Array): void {
    if (this.closed || frame.byteLength > this.opts.maxFrameBytes || !this.opts.admission.admits(to)) {
      this.dropped++;
      return;
    }
    let o = this.out.get(to);
    if (!o) {
      o = { stream: null, opening: false, failedAt: 0, queue: [], queuedBytes: 0 };
      this.out.set(to, o);
    }
    const framed = encodeFrame(frame);
    o.queue.push(framed);
    o.queuedBytes += framed.byteLength;
    const buffered = (): number => o.queuedBytes + (o.stream?.writeBufferLength ?? 0);
    while (o.queue.length > 1 && (o.queue.length > this.maxQueuedFrames || buffered() > this.maxQueuedBytes)) {
      o.queuedBytes -= o.queue.shift()!.byteLength;
      this.dropped++;
    }
    this.pump(to, o);
  }

  private pump(to: string, o: Outbound): void {
    const s = o.stream;
    if (!s) {
      this.open(to, o);
      return;
    }
    while (o.queue.length > 0 && s.writeStatus === 'writable' && !s.writableNeedsDrain) {
      const next = o.queue.shift()!;
      o.queuedBytes -= next.byteLength;
      s.send(next);
      this.sent++;
    }
  }

  private open(to: string, o: Outbound): void {
    if (o.opening) return;
    if (o.failedAt !== 0 && Date.now() - o.failedAt < REDIAL_MS) {
      this.dropQueue(o);
      return;
    }
    o.opening = true;
    void this.opts.libp2p
      .dialProtocol(peerIdFromString(to), RAFT_PROTOCOL, { signal: AbortSignal.timeout(5000) })
      .then(
        (stream) => {
          o.opening = false;
          if (this.closed) return stream.abort(new Error('stopping'));
          o.stream = stream;
          o.failedAt = 0;
          stream.addEventListener('drain', () => this.pump(to, o));
          stream.addEventListener('close', () => {
            if (o.stream === stream) o.stream = null;
          });
          // We never read this stream: the peer writes nothing on it.
          this.pump(to, o);
        },
        () => {
          o.opening = false;
          o.failedAt = Date.now();
          this.dropQueue(o);
        },
      );
  }

  private dropQueue(o: Outbound): void {
    this.dropped += o.queue.length;
    o.queue.length = 0;
    o.queuedBytes = 0;
  }

  /** An inbound stream: frames from its (authenticated) peer, read as they come. */
  private accept(stream: Stream, connection: Connection): void {
    const from = connection.remotePeer.toString();
    if (this.closed || !this.opts.admission.admits(from)) {
      this.refused++;
      return stream.abort(new Error('not admitted'));
    }
    this.inbound.add(stream);
    stream.addEventListener('close', () => this.inbound.delete(stream));
    const reader = new FrameReader(this.opts.maxFrameBytes);
    stream.addEventListener('message', (evt) => {
      const chunk = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray();
      const frames = reader.push(chunk);
      if (frames === null) {
        this.refused++;
        stream.abort(new Error(`a raft frame over ${this.opts.maxFrameBytes} bytes`));
        return;
      }
      for (const frame of frames) {
        if (this.closed) return;
        this.received++;
        this.opts.deliver(from, frame);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const o of this.out.values()) {
      o.stream?.abort(new Error('stopping'));
      this.dropQueue(o);
    }
    this.out.clear();
    for (const s of this.inbound) s.abort(new Error('stopping'));
    this.inbound.clear();
    await this.opts.libp2p.unhandle(RAFT_PROTOCOL).catch(() => {});
  }
}

/**
 * Splits a byte stream into length-prefixed frames. It holds at most one frame's bytes (its buffer
 * is allocated once the header says the length, which is checked first) and copies each byte once.
 */
export class FrameReader {
  private header = new Uint8Array(HEADER_BYTES);
  private headerHave = 0;
  private frame: Uint8Array | null = null;
  private frameHave = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** The frames `chunk` completes; null when a header announces a frame over the bound (the stream is then unusable). */
  push(chunk: Uint8Array): Uint8Array[] | null {
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.frame === null) {
        const n = Math.min(HEADER_BYTES - this.headerHave, chunk.byteLength - at);
        this.header.set(chunk.subarray(at, at + n), this.headerHave);
        this.headerHave += n;
        at += n;
        if (this.headerHave < HEADER_BYTES) break;
        const len = new DataView(this.header.buffer).getUint32(0, true);
        if (len > this.maxFrameBytes) return null;
        this.frame = new Uint8Array(len);
        this.frameHave = 0;
        this.headerHave = 0;
        if (len === 0) {
          out.push(this.frame);
          this.frame = null;
          continue;
        }
      }
      const n = Math.min(this.frame.byteLength - this.frameHave, chunk.byteLength - at);
      this.frame.set(chunk.subarray(at, at + n), this.frameHave);
      this.frameHave += n;
      at += n;
      if (this.frameHave === this.frame.byteLength) {
        out.push(this.frame);
        this.frame = null;
      }
    }
    return out;
  }
}

/** A frame with its length in front, as FrameReader reads it. */
export function encodeFrame(frame: Uint8Array): Uint8Array {
  const framed = new Uint8Array(HEADER_BYTES + frame.byteLength);
  new DataView(framed.buffer).setUint32(0, frame.byteLength, true);
  framed.set(frame, HEADER_BYTES);
  return framed;
}
