// Noticing a lost peer: each open connection is pinged every PING_EVERY_MS (the ping protocol: 32
// bytes echoed on a fresh stream), and one whose peer has answered nothing for `lostAfterMs` (the
// host bound peerTimeoutMs, 1.5 s by default) is aborted, so a peer that vanished without closing
// (crash, partition) is noticed within 2 s.
// Our own stalls are forgiven: when a tick comes late (a busy or starved event loop: the peer's
// answer may be sitting unread), every peer's clock is moved on by the delay. libp2p's own
// connection monitor aborts on the first ping that a stalled loop makes late, so it is off.
import type { Connection } from '@libp2p/interface';
import type { Libp2pHost } from './host.js';

export const PING_EVERY_MS = 500;
/** The peer timeouts a node accepts: at least two pings' time, at most a day (timers overflow far past it). */
export const PEER_TIMEOUT_MIN_MS = 2 * PING_EVERY_MS;
export const PEER_TIMEOUT_MAX_MS = 24 * 3600 * 1000;
/** A tick later than this is our stall, not the peers' silence. */
const LATE_MS = 100;
const PING_PROTOCOL = '/ipfs/ping/1.0.0';
const PING_BYTES = 32;

export class Liveness {
  /** When each connection was last known alive (its peer answered), in our forgiving clock. */
  private readonly alive = new WeakMap<Connection, number>();
  private readonly inFlight = new WeakSet<Connection>();
  private readonly timer: NodeJS.Timeout;
  private lastTick = performance.now();

  constructor(
    private readonly host: Libp2pHost,
    private readonly log: (line: string) => void,
    private readonly lostAfterMs: number,
  ) {
    if (!(lostAfterMs >= PEER_TIMEOUT_MIN_MS && lostAfterMs <= PEER_TIMEOUT_MAX_MS)) {
      throw new RangeError(`a peer timeout of ${lostAfterMs} ms is outside ${PEER_TIMEOUT_MIN_MS}..${PEER_TIMEOUT_MAX_MS} ms`);
    }
    this.timer = setInterval(() => this.tick(), PING_EVERY_MS);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    const late = now - this.lastTick - PING_EVERY_MS;
    this.lastTick = now;
    for (const conn of this.host.getConnections()) {
      if (conn.status !== 'open') continue;
      let since = this.alive.get(conn);
      if (since === undefined) since = now;
      else if (late > LATE_MS) since += late; // our own delay is not the peer's silence
      this.alive.set(conn, since);
      if (now - since > this.lostAfterMs) {
        this.log(`lost ${conn.remotePeer.toString()}: no answer for ${Math.round(now - since)} ms`);
        conn.abort(new Error(`the peer answered nothing for ${this.lostAfterMs} ms`));
        continue;
      }
      if (!this.inFlight.has(conn)) void this.ping(conn);
    }
  }

  private async ping(conn: Connection): Promise<void> {
    this.inFlight.add(conn);
    try {
      const stream = await conn.newStream(PING_PROTOCOL, { signal: AbortSignal.timeout(this.lostAfterMs * 2) });
      const echoed = new Promise<void>((resolve, reject) => {
        let got = 0;
        stream.addEventListener('message', (evt) => {
          got += evt.data.byteLength;
          if (got >= PING_BYTES) resolve();
        });
        stream.addEventListener('close', (evt) => (got >= PING_BYTES ? resolve() : reject(evt.error ?? new Error('ping stream closed'))));
      });
      stream.send(crypto.getRandomValues(new Uint8Array(PING_BYTES)));
      await echoed;
      this.alive.set(conn, performance.now());
      await stream.close().catch(() => stream.abort(new Error('ping close failed')));
    } catch {
      // No answer: the clock in tick() decides.
    } finally {
      this.inFlight.delete(conn);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
