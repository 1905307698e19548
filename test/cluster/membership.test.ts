// Cluster membership (src/cluster/membership.ts): real libp2p peers on loopback see each other and
// each other's load, and forget a stopped one after its TTL; what a hostile peer sends is dropped,
// through real gossipsub and, for what gossipsub itself would stop first, through a pubsub of the
// test's own that hands the membership exactly the bytes the test chose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { startTestPeer, type TestPeer } from '../../fixtures/cluster-peers.js';
import { decodeHeartbeat, encodeHeartbeat, MAX_HEARTBEAT_BYTES, type HeartbeatBody } from '../../src/cluster/heartbeat.js';
import { Membership, MEMBERSHIP_TOPIC, type LocalStatus, type MembershipPubsub, type PubsubMessage } from '../../src/cluster/membership.js';
import { eventually } from '../rpc/helpers.js';

// Generous: the machine is loaded, and gossipsub forms its mesh on its own 1 s heartbeat.
const WITHIN_MS = 30_000;

function loadOf(peer: TestPeer): LocalStatus {
  return { addresses: peer.addresses(), running: 0, queued: 0, freeMemoryBytes: 1 << 30 };
}

function idsOf(m: Membership): string[] {
  return m.view().map((p) => p.peerId).sort();
}

test('three peers on loopback see each other, see load change, and forget a stopped peer after its TTL', async () => {
  const peers = [await startTestPeer(), await startTestPeer(), await startTestPeer()];
  const status = peers.map(loadOf);
  const ttlMs = 3000; // ten heartbeats: a loaded machine delays some, and a live peer must not expire meanwhile
  const members = peers.map((p, i) => new Membership({ pubsub: p.pubsub, peerId: p.peerId, privateKey: p.privateKey, status: () => status[i]!, intervalMs: 300, ttlMs }));
  try {
    // A line, 0 - 1 - 2: peer 2 hears peer 0 only through peer 1's gossipsub.
    await peers[0]!.dial(peers[1]!);
    await peers[1]!.dial(peers[2]!);
    for (const m of members) m.start();
    const all = peers.map((p) => p.peerId).sort();
    await eventually('every peer sees all three', () => members.every((m) => idsOf(m).join() === all.join()), WITHIN_MS);
    for (const [i, m] of members.entries()) {
      const view = m.view();
      assert.equal(view[0]!.peerId, peers[i]!.peerId, 'this peer comes first');
      assert.deepEqual(view.map((p) => p.self), [true, false, false]);
      const of1 = view.find((p) => p.peerId === peers[1]!.peerId)!;
      assert.deepEqual(of1.addresses, peers[1]!.addresses());
    }

    status[1] = { ...status[1]!, running: 5, queued: 2, freeMemoryBytes: 12345 };
    await eventually(
      'peers 0 and 2 see peer 1 busy',
      () =>
        [members[0]!, members[2]!].every((m) => {
          const p = m.view().find((x) => x.peerId === peers[1]!.peerId);
          return p?.running === 5 && p.queued === 2 && p.freeMemoryBytes === 12345;
        }),
      WITHIN_MS,
    );

    const lastSeen = members[0]!.view().find((p) => p.peerId === peers[2]!.peerId)!.lastSeenMs;
    members[2]!.stop();
    await peers[2]!.stop();
    await eventually('peer 0 forgets peer 2', () => !idsOf(members[0]!).includes(peers[2]!.peerId), WITHIN_MS);
    assert.ok(Date.now() >= lastSeen + ttlMs, 'not forgotten before its TTL ran out');
    await eventually('peer 0 still sees peer 1', () => idsOf(members[0]!).join() === [peers[0]!.peerId, peers[1]!.peerId].sort().join(), WITHIN_MS);
  } finally {
    for (const m of members) m.stop();
    for (const p of peers) await p.stop();
  }
});

test('through real gossipsub, a heartbeat naming another peer, a bad signature, malformed and oversized bytes are dropped', async () => {
  const [a, d] = [await startTestPeer(), await startTestPeer()];
  const lines: string[] = [];
  const m = new Membership({ pubsub: a.pubsub, peerId: a.peerId, privateKey: a.privateKey, status: () => loadOf(a), intervalMs: 300, log: (l) => lines.push(l) });
  try {
    await d.dial(a);
    m.start();
    d.pubsub.subscribe(MEMBERSHIP_TOPIC);
    const e = await generateKeyPair('Ed25519');
    const eId = peerIdFromPrivateKey(e).toString();
    const body = (peer: string): HeartbeatBody => ({ peer, addresses: [], running: 0, queued: 0, freeMemoryBytes: 0, ttlMs: 5000, seq: Date.now() * 1000 });
    const attacks = [
      await encodeHeartbeat(body(eId), e), // well signed by E, but gossipsub says D sent it
      await encodeHeartbeat(body(a.peerId), d.privateKey), // D claims to be A
      await encodeHeartbeat(body(d.peerId), e), // names D, signed by E
      new Uint8Array([1, 2, 3, 4]),
      new Uint8Array(MAX_HEARTBEAT_BYTES + 1).fill(0x7b),
    ];
    // Gossipsub on A must know D is on the topic before D's messages are routed: send until it sees them.
    await eventually(
      'A drops each attack',
      async () => {
        for (const bytes of attacks) await d.pubsub.publish(MEMBERSHIP_TOPIC, bytes).catch(() => {});
        return m.dropped.forged >= 1 && m.dropped['own-peer-id'] >= 1 && m.dropped['bad-signature'] >= 1 && m.dropped.malformed >= 1 && m.dropped.oversized >= 1;
      },
      WITHIN_MS,
    );
    assert.deepEqual(idsOf(m), [a.peerId]);
    assert.ok(lines.some((l) => /dropped a heartbeat \(forged\)/.test(l)), lines.join('\n'));
    // And D's own heartbeat, well signed, is taken.
    await d.pubsub.publish(MEMBERSHIP_TOPIC, await encodeHeartbeat(body(d.peerId), d.privateKey));
    await eventually('A sees D', () => idsOf(m).includes(d.peerId), WITHIN_MS);
  } finally {
    m.stop();
    await a.stop();
    await d.stop();
  }
});

/** A pubsub that delivers to the membership exactly what the test hands it. */
class HandPubsub implements MembershipPubsub {
  private readonly listeners = new Set<(event: CustomEvent<PubsubMessage>) => void>();
  subscribe(): void {}
  unsubscribe(): void {}
  async publish(): Promise<void> {}
  deliver(data: Uint8Array, from?: string): void {
    const detail: PubsubMessage = { topic: MEMBERSHIP_TOPIC, data, ...(from !== undefined ? { from } : {}) };
    for (const l of this.listeners) l(new CustomEvent('message', { detail }));
  }
  addEventListener(_type: 'message', listener: (event: CustomEvent<PubsubMessage>) => void): void {
    this.listeners.add(listener);
  }
  removeEventListener(_type: 'message', listener: (event: CustomEvent<PubsubMessage>) => void): void {
    this.listeners.delete(listener);
  }
}

interface Key {
  key: PrivateKey;
  id: string;
}
async function newKey(): Promise<Key> {
  const key = await generateKeyPair('Ed25519');
  return { key, id: peerIdFromPrivateKey(key).toString() };
}

/** A membership on a HandPubsub with a clock the test moves; it never ticks on its own (a long interval). */
async function handMembership(opts: { maxPeers?: number; maxNewPeersPerInterval?: number; allows?: (peerId: string) => boolean } = {}) {
  const self = await newKey();
  const pubsub = new HandPubsub();
  const clock = { now: 1_800_000_000_000 };
  const lines: string[] = [];
  const m = new Membership({ pubsub, peerId: self.id, privateKey: self.key, status: () => ({ addresses: [], running: 0, queued: 0, freeMemoryBytes: 0 }), intervalMs: 1_000_000, minGapMs: 250, ttlMs: 5000, now: () => clock.now, log: (l) => lines.push(l), ...opts });
  m.start();
  const beat = (k: Key, seqAtMs = clock.now, extra: Partial<HeartbeatBody> = {}) =>
    encodeHeartbeat({ peer: k.id, addresses: ['/ip4/127.0.0.1/tcp/1'], running: 1, queued: 0, freeMemoryBytes: 10, ttlMs: 5000, seq: seqAtMs * 1000, ...extra }, k.key);
  /** Lets the membership finish what it was handed (signature checks are asynchronous). */
  const settle = () => new Promise((r) => setTimeout(r, 20));
  return { m, pubsub, clock, lines, beat, settle, self };
}

test('a replayed heartbeat is dropped: an older or the same seq, also after the peer expired', async () => {
  const h = await handMembership();
  try {
    const k = await newKey();
    const older = await h.beat(k, h.clock.now - 100);
    const newer = await h.beat(k, h.clock.now);
    h.pubsub.deliver(newer, k.id);
    await h.settle();
    assert.ok(idsOf(h.m).includes(k.id));
    h.clock.now += 300; // past the gap that rate-limits one peer
    h.pubsub.deliver(older, k.id);
    h.pubsub.deliver(newer, k.id);
    await h.settle();
    assert.equal(h.m.dropped.replayed, 2);
    h.clock.now += 6000; // past its TTL: it expires
    assert.ok(!idsOf(h.m).includes(k.id));
    h.pubsub.deliver(newer, k.id); // still within the clock window, but not newer than what it last said
    await h.settle();
    assert.equal(h.m.dropped.replayed, 3);
    assert.ok(!idsOf(h.m).includes(k.id), 'a replay does not bring a gone peer back');
  } finally {
    h.m.stop();
  }
});

test('a heartbeat dated too long ago or in the future is dropped (stale)', async () => {
  const h = await handMembership();
  try {
    const k = await newKey();
    h.pubsub.deliver(await h.beat(k, h.clock.now - 60_000), k.id);
    h.pubsub.deliver(await h.beat(k, h.clock.now + 60_000), k.id);
    await h.settle();
    assert.equal(h.m.dropped.stale, 2);
    assert.deepEqual(idsOf(h.m), [h.self.id]);
  } finally {
    h.m.stop();
  }
});

test('a heartbeat signed by a key other than the peer it names is dropped, also when the pubsub does not sign', async () => {
  const h = await handMembership();
  try {
    const [k, other] = [await newKey(), await newKey()];
    const bytes = await h.beat(k);
    const forged = new Uint8Array(bytes); // the same body with another key's signature
    forged.set(await other.key.sign(new Uint8Array([1])), bytes.length - 64);
    h.pubsub.deliver(forged); // no pubsub author: only the heartbeat's own signature speaks
    await h.settle();
    assert.equal(h.m.dropped['bad-signature'], 1);
    h.pubsub.deliver(bytes, other.id); // signed by k, but the pubsub says `other` sent it
    await h.settle();
    assert.equal(h.m.dropped.forged, 1);
    h.pubsub.deliver(await h.beat(h.self), h.self.id); // someone else's copy of a heartbeat naming this peer
    await h.settle();
    assert.equal(h.m.dropped['own-peer-id'], 1);
    assert.deepEqual(idsOf(h.m), [h.self.id]);
    h.pubsub.deliver(bytes); // k's own, unsigned by the pubsub: taken on its own signature
    await h.settle();
    assert.ok(idsOf(h.m).includes(k.id));
  } finally {
    h.m.stop();
  }
});

test('what a heartbeat says cannot forge or garble the log: control characters escaped, lines cut', async () => {
  const h = await handMembership();
  try {
    const k = await newKey();
    // A peer field with a newline and a terminal escape, from a pubsub author that differs: dropped as forged.
    const evil = `${k.id}\n[forged] joined 12D3KooWfake\u001b[2J`;
    h.pubsub.deliver(await h.beat(k, h.clock.now, { peer: evil }), k.id);
    await h.settle();
    assert.equal(h.m.dropped.forged, 1);
    const line = h.lines.find((l) => l.includes('(forged)'));
    assert.ok(line, h.lines.join('\n'));
    assert.doesNotMatch(line, /[\n\u001b]/);
    assert.match(line, /\\x0a\[forged\] joined 12D3KooWfake\\x1b\[2J/);
    assert.ok(line.length < 400);
  } finally {
    h.m.stop();
  }
});

test('a heartbeat of a peer the node does not allow is dropped before its signature is checked', async () => {
  const [k, allowed] = [await newKey(), await newKey()];
  const h = await handMembership({ allows: (id) => id === allowed.id });
  try {
    h.pubsub.deliver(await h.beat(k), k.id);
    h.pubsub.deliver(await h.beat(allowed), allowed.id);
    await h.settle();
    assert.equal(h.m.dropped['not-allowed'], 1);
    assert.deepEqual(idsOf(h.m), [h.self.id, allowed.id].sort());
  } finally {
    h.m.stop();
  }
});

test('the table is bounded: past maxPeers new peers are dropped, with one clear log line', async () => {
  const h = await handMembership({ maxPeers: 4 });
  try {
    const keys = await Promise.all(Array.from({ length: 10 }, newKey));
    for (const k of keys) h.pubsub.deliver(await h.beat(k), k.id);
    await h.settle();
    assert.equal(h.m.view().length, 5, 'this peer and 4 others');
    assert.equal(h.m.dropped['table-full'], 6);
    assert.equal(h.lines.filter((l) => /membership table is full \(4 peers\)/.test(l)).length, 1, h.lines.join('\n'));
  } finally {
    h.m.stop();
  }
});

test('a flooding peer costs one signature check per gap, and new peers at most maxNewPeersPerInterval checks', async () => {
  const h = await handMembership({ maxNewPeersPerInterval: 8 });
  try {
    const k = await newKey();
    const beats = await Promise.all(Array.from({ length: 300 }, (_, i) => h.beat(k, h.clock.now - 300 + i)));
    for (const b of beats) h.pubsub.deliver(b, k.id);
    await h.settle();
    // The first is checked and taken; the rest arrive within the gap (or are older once one is taken).
    assert.equal(h.m.dropped['rate-limited'] + h.m.dropped.replayed, 299);
    assert.equal(h.m.view().length, 2);
    // Twenty peers nobody knows, each with a bad signature: of this interval's 8 checks of new peers,
    // the flooding peer's first heartbeat took one, so 7 are checked.
    const strangers = await Promise.all(Array.from({ length: 20 }, newKey));
    const signer = await newKey();
    for (const s of strangers) {
      const bytes = await h.beat(s);
      bytes.set(await signer.key.sign(new Uint8Array([2])), bytes.length - 64);
      h.pubsub.deliver(bytes);
    }
    await h.settle();
    assert.equal(h.m.dropped['bad-signature'], 7);
    assert.equal(h.m.dropped['rate-limited'] + h.m.dropped.replayed, 299 + 13);
  } finally {
    h.m.stop();
  }
});

test('malformed bytes never throw out of the handler: random and mutated heartbeats are all counted as dropped', async () => {
  const h = await handMembership();
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const k = await newKey();
    const good = await h.beat(k);
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const inputs: Uint8Array[] = [new Uint8Array(0), new Uint8Array([1]), new TextEncoder().encode('{"peer":1}')];
    for (let i = 0; i < 500; i++) inputs.push(Uint8Array.from({ length: rand() % 200 }, () => rand() & 0xff));
    for (let i = 0; i < 500; i++) {
      const mutated = new Uint8Array(good);
      mutated[rand() % (mutated.length - 64)] = rand() & 0xff; // a flipped byte of the body
      inputs.push(mutated);
    }
    // bodies that are JSON but not heartbeats
    const sig = new Uint8Array(64);
    for (const json of ['[]', 'null', '{"peer":"x"}', JSON.stringify({ peer: k.id, addresses: [], running: -1, queued: 0, freeMemoryBytes: 0, ttlMs: 1, seq: 1 }), JSON.stringify({ peer: k.id, addresses: [], running: 0, queued: 0, freeMemoryBytes: 0, ttlMs: 1, seq: 1, extra: 1 })]) {
      const body = new TextEncoder().encode(json);
      inputs.push(Uint8Array.from([1, ...body, ...sig]));
    }
    for (const bytes of inputs) h.pubsub.deliver(bytes);
    h.pubsub.deliver(undefined as unknown as Uint8Array);
    await new Promise((r) => setTimeout(r, 200));
    const total = Object.values(h.m.dropped).reduce((a, b) => a + b, 0);
    const taken = idsOf(h.m).length - 1;
    assert.equal(total + taken, inputs.length + 1, JSON.stringify(h.m.dropped));
    assert.ok(taken <= 1, 'at most a mutation that left the signed body as it was');
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    h.m.stop();
  }
});

test('a load that would wrap as UInt32 (running or queued past 2^32 - 1) is refused: encoding it throws, decoding it is malformed', async () => {
  const k = await newKey();
  const body: HeartbeatBody = { peer: k.id, addresses: [], running: 2 ** 32 + 5, queued: 0, freeMemoryBytes: 0, ttlMs: 5000, seq: 1 };
  await assert.rejects(encodeHeartbeat(body, k.key), /running is at most 4294967295/);
  // Made as a lying peer would: a well-formed, signed heartbeat around the wrapped count.
  const good = await encodeHeartbeat({ ...body, running: 5 }, k.key);
  const json = new TextDecoder().decode(good.subarray(1, good.length - 64)).replace('"running":5', `"running":${2 ** 32 + 5}`);
  const signer = k.key as unknown as { sign(data: Uint8Array): Promise<Uint8Array> | Uint8Array };
  const context = new TextEncoder().encode('ww cluster heartbeat v1\n');
  const signed = new Uint8Array(context.length + json.length);
  signed.set(context);
  signed.set(new TextEncoder().encode(json), context.length);
  const signature = await signer.sign(signed);
  const jsonBytes = new TextEncoder().encode(json);
  const lying = new Uint8Array(1 + jsonBytes.length + 64);
  lying[0] = good[0]!;
  lying.set(jsonBytes, 1);
  lying.set(signature, 1 + jsonBytes.length);
  assert.throws(() => decodeHeartbeat(lying), /running is at most 4294967295/);
});
