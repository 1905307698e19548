// Heartbeat-to-visible latency of the cluster membership (src/cluster/membership.ts), JSON lines.
// Three libp2p peers in this process on loopback, in a line A - B - C (C hears A only through B's
// gossipsub). Each sample: A sends a heartbeat (sign, publish) and the time until it is in B's view
// (`direct`) and in C's (`relayed`): decoded, checked, signature verified, taken. Next to it, in
// alternating rounds, the same bytes published raw on another topic, timed to the `message` event
// at B and C: what gossipsub alone costs, so the difference is the membership's own.
import { startTestPeer, type TestPeer } from '../fixtures/cluster-peers.js';
import { Membership, type MembershipPubsub, type PubsubMessage } from '../src/cluster/membership.js';

const ROUNDS = 5;
const PER_ROUND = 40;
const RAW_TOPIC = '/ww/bench/raw';
/** A sample not seen within this long is counted lost (and not in the quantiles). */
const LOST_AFTER_MS = 2000;

function emit(o: Record<string, unknown>): void {
  console.log(JSON.stringify(o));
}

function quantiles(samplesMs: number[]): { p50_us: number; p99_us: number; n: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { p50_us: Math.round(q(0.5) * 1000), p99_us: Math.round(q(0.99) * 1000), n: s.length };
}

/** Resolves when `arrived` has been called for B and C (or after LOST_AFTER_MS); the times since t0 in ms. */
class Arrivals {
  private waiting: { t0: number; b?: number; c?: number; done: () => void } | undefined;
  start(): Promise<{ b?: number; c?: number }> {
    return new Promise((resolve) => {
      const w = { t0: performance.now(), done: () => {} } as NonNullable<Arrivals['waiting']>;
      const timer = setTimeout(() => w.done(), LOST_AFTER_MS);
      w.done = () => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve({ b: w.b, c: w.c });
      };
      this.waiting = w;
    });
  }
  arrived(at: 'b' | 'c'): void {
    const w = this.waiting;
    if (!w || w[at] !== undefined) return;
    w[at] = performance.now() - w.t0;
    if (w.b !== undefined && w.c !== undefined) w.done();
  }
}

export async function main(): Promise<void> {
  const peers: TestPeer[] = [await startTestPeer(), await startTestPeer(), await startTestPeer()];
  const [a, b, c] = peers as [TestPeer, TestPeer, TestPeer];
  const arrivals = new Arrivals();
  const status = (p: TestPeer) => () => ({ addresses: p.addresses(), running: 0, queued: 0, freeMemoryBytes: 1 << 30 });
  // Heartbeats are sent by hand here (a long interval), so the per-peer gap is shortened to let each through.
  const make = (p: TestPeer, onUpdate?: (peerId: string) => void) =>
    new Membership({ pubsub: p.pubsub, peerId: p.peerId, privateKey: p.privateKey, status: status(p), intervalMs: 600_000, minGapMs: 1, ...(onUpdate ? { onUpdate: (s) => onUpdate(s.peerId) } : {}) });
  const ma = make(a);
  const mb = make(b, (id) => id === a.peerId && arrivals.arrived('b'));
  const mc = make(c, (id) => id === a.peerId && arrivals.arrived('c'));
  const raw = (p: TestPeer, at: 'b' | 'c') => {
    const pubsub: MembershipPubsub = p.pubsub;
    pubsub.subscribe(RAW_TOPIC);
    pubsub.addEventListener('message', (e: CustomEvent<PubsubMessage>) => e.detail.topic === RAW_TOPIC && arrivals.arrived(at));
  };
  try {
    await a.dial(b);
    await b.dial(c);
    for (const m of [ma, mb, mc]) m.start();
    raw(b, 'b');
    raw(c, 'c');
    a.pubsub.subscribe(RAW_TOPIC);
    // The raw payload is a heartbeat as B received it, so both carry the same bytes over the wire.
    let heartbeatBytes: Uint8Array = new Uint8Array(0);
    const capture = (e: CustomEvent<PubsubMessage>) => void (e.detail.topic === ma.topic && (heartbeatBytes = e.detail.data));
    b.pubsub.addEventListener('message', capture);
    // Until gossipsub's mesh carries both topics from A to C (it grafts on its own 1 s heartbeat).
    const deadline = Date.now() + 30_000;
    for (;;) {
      const viaMembership = arrivals.start();
      void ma.heartbeat();
      const membershipSeen = await viaMembership;
      const viaRaw = arrivals.start();
      void a.pubsub.publish(RAW_TOPIC, new Uint8Array(300)).catch(() => {});
      const rawSeen = await viaRaw;
      if (membershipSeen.c !== undefined && rawSeen.c !== undefined) break;
      if (Date.now() > deadline) throw new Error('the three peers did not form a mesh within 30 s');
    }
    b.pubsub.removeEventListener('message', capture);

    const samples = { membership: { b: [] as number[], c: [] as number[], lost: 0 }, 'gossipsub-raw': { b: [] as number[], c: [] as number[], lost: 0 } };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['membership', 'gossipsub-raw'] as const) : (['gossipsub-raw', 'membership'] as const);
      for (const impl of order) {
        for (let i = 0; i < PER_ROUND; i++) {
          const seen = arrivals.start();
          if (impl === 'membership') void ma.heartbeat();
          else void a.pubsub.publish(RAW_TOPIC, heartbeatBytes).catch(() => {});
          const { b: tb, c: tc } = await seen;
          const s = samples[impl];
          if (tb === undefined || tc === undefined) s.lost++;
          if (tb !== undefined) s.b.push(tb);
          if (tc !== undefined) s.c.push(tc);
        }
      }
    }
    for (const impl of ['membership', 'gossipsub-raw'] as const) {
      const s = samples[impl];
      emit({ bench: 'membership-visible', impl, path: 'direct', bytes: heartbeatBytes.length, ...quantiles(s.b), lost: s.lost });
      emit({ bench: 'membership-visible', impl, path: 'relayed', bytes: heartbeatBytes.length, ...quantiles(s.c), lost: s.lost });
    }
  } finally {
    for (const m of [ma, mb, mc]) m.stop();
    for (const p of peers) await p.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
