// The Raft core's rules one by one, driven by hand: each bound gives its typed error, pre-vote and
// check-quorum behave as they promise, a hostile message changes nothing, and the registry applies
// claims by the leader's timestamps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftNode, type RaftOptions } from '../../src/cluster/raft/node.js';
import { RaftError, type RaftErrorCode } from '../../src/cluster/raft/errors.js';
import { MemoryStorage } from '../../src/cluster/raft/storage.js';
import { Registry, encodeRequest, type RegistryCommand } from '../../src/cluster/raft/registry.js';
import { MAX_COUNTER, type Entry, type Message } from '../../src/cluster/raft/types.js';
import { decodeMessage, encodeMessage } from '../../src/cluster/raft/codec.js';
import { RegistryPeer, type RaftTransport } from '../../src/cluster/raft/peer.js';
import { prng } from './raft-sim.js';

/** A small cluster on a perfect network, stepped by hand; `cut` holds nodes that hear and say nothing. */
class Cluster {
  readonly nodes = new Map<string, RaftNode>();
  readonly storages = new Map<string, MemoryStorage>();
  readonly cut = new Set<string>();
  time = 0;
  constructor(ids: string[], options: Partial<RaftOptions> = {}, seed = 1) {
    const random = prng(seed);
    for (const id of ids) {
      const storage = new MemoryStorage(ids);
      this.storages.set(id, storage);
      this.nodes.set(id, new RaftNode({ id, random, now: () => this.time, ...options }, storage.load()));
    }
  }
  node(id: string): RaftNode {
    return this.nodes.get(id)!;
  }
  /** Delivers everything pending until quiet. */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      const inFlight: Message[] = [];
      for (const [id, n] of this.nodes) {
        while (n.hasReady()) {
          const rd = n.ready();
          this.storages.get(id)!.persist(rd);
          if (!this.cut.has(id)) inFlight.push(...rd.messages);
          n.advance(rd);
        }
      }
      if (inFlight.length === 0) return;
      for (const m of inFlight) if (!this.cut.has(m.to)) this.node(m.to).step(m);
    }
    throw new Error('the cluster never went quiet');
  }
  tick(times = 1, only?: string[]): void {
    for (let i = 0; i < times; i++) {
      this.time++;
      for (const [id, n] of this.nodes) if (!only || only.includes(id)) n.tick();
      this.settle();
    }
  }
  leader(): RaftNode | undefined {
    return [...this.nodes.values()].find((n) => n.role === 'leader' && !this.cut.has(n.id));
  }
  elect(): RaftNode {
    for (let i = 0; i < 100 && !this.leader(); i++) this.tick();
    return this.leader() ?? assert.fail('no leader elected');
  }
}

function raftError(code: RaftErrorCode) {
  return (e: unknown) => e instanceof RaftError && e.code === code && e.message.length > 0;
}

test('one leader is elected, and a proposal commits on every node', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const leader = c.elect();
  leader.propose(new TextEncoder().encode('x'));
  c.settle();
  c.tick(2);
  for (const n of c.nodes.values()) assert.equal(n.commitIndex, leader.lastIndex());
});

test('bounds: entry size, proposals without a leader, reads waiting, uncommitted bytes', () => {
  const c = new Cluster(['a', 'b', 'c'], { maxEntryBytes: 10, maxPendingProposals: 2, maxPendingReads: 1, maxUncommittedBytes: 20 });
  const a = c.node('a');
  assert.throws(() => a.propose(new Uint8Array(11)), raftError('entry-too-large'));
  a.propose(new Uint8Array(1));
  a.propose(new Uint8Array(1));
  assert.throws(() => a.propose(new Uint8Array(1)), raftError('proposal-queue-full'));
  assert.throws(() => a.readIndex('r'), raftError('no-leader'));
  const leader = c.elect();
  c.settle();
  // The queued proposals went to the leader once one was known.
  const data = [...Array(leader.lastIndex()).keys()].map((i) => leader.entryAt(i + 1)!).filter((e) => e.data.byteLength === 1);
  assert.equal(data.length, 2);
  // Followers silent: the leader's uncommitted bytes fill up.
  for (const id of c.nodes.keys()) if (id !== leader.id) c.cut.add(id);
  leader.propose(new Uint8Array(10));
  leader.propose(new Uint8Array(10));
  assert.throws(() => leader.propose(new Uint8Array(10)), raftError('uncommitted-log-full'));
  leader.readIndex('r1');
  assert.throws(() => leader.readIndex('r2'), raftError('read-queue-full'));
});

test('membership changes: leader only, one at a time', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const leader = c.elect();
  c.tick(2);
  const follower = [...c.nodes.values()].find((n) => n !== leader)!;
  assert.throws(() => follower.proposeConfChange({ add: 'd' }), (e: unknown) => raftError('not-leader')(e) && (e as RaftError).leader === leader.id);
  assert.throws(() => leader.proposeConfChange({ add: 'a' }), raftError('bad-conf-change'));
  for (const id of c.nodes.keys()) if (id !== leader.id) c.cut.add(id);
  leader.proposeConfChange({ add: 'd' });
  assert.deepEqual(leader.voters, ['a', 'b', 'c', 'd'], 'effective as soon as appended');
  assert.throws(() => leader.proposeConfChange({ remove: 'b' }), raftError('conf-change-pending'));
});

test('pre-vote: a node cut off and back does not raise the term or depose the leader', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const leader = c.elect();
  const term = leader.term;
  const loner = [...c.nodes.values()].find((n) => n !== leader)!;
  c.cut.add(loner.id);
  c.tick(60, [loner.id]);
  assert.equal(loner.term, term, 'pre-votes that nobody answers change no term');
  c.cut.delete(loner.id);
  c.tick(5);
  assert.equal(c.leader(), leader);
  assert.equal(leader.term, term);
});

test('check-quorum: a leader that hears no quorum steps down', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const leader = c.elect();
  for (const id of c.nodes.keys()) if (id !== leader.id) c.cut.add(id);
  c.tick(25, [leader.id]);
  assert.equal(leader.role, 'follower');
  assert.throws(() => leader.readIndex('r'), raftError('no-leader'));
});

test('a hostile message is refused with bad-message and changes nothing', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const leader = c.elect();
  c.tick(2);
  const f = [...c.nodes.values()].find((n) => n !== leader)!;
  const before = { term: f.term, last: f.lastIndex(), commit: f.commitIndex };
  const base: Message = { type: 'append', from: leader.id, to: f.id, term: f.term, index: f.lastIndex(), logTerm: f.termAt(f.lastIndex())!, commit: 0, reject: false, rejectHint: 0, entries: [], snapshot: null, ctx: '' };
  const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array(), voters: [], time: 0 });
  for (const bad of [
    { ...base, entries: [e(f.lastIndex() + 2, f.term)] }, // a gap
    { ...base, entries: [e(f.lastIndex() + 1, f.term + 5)] }, // a term its leader cannot write
    { ...base, term: -1 },
    { ...base, index: 1.5 },
    { ...base, type: 'snapshot' as const, snapshot: null },
    { ...base, to: 'someone-else' },
  ]) {
    assert.throws(() => f.step(bad), raftError('bad-message'));
  }
  assert.deepEqual({ term: f.term, last: f.lastIndex(), commit: f.commitIndex }, before);
});

test('a follower that lost its log gets a snapshot when the leader has compacted', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const leader = c.elect();
  const lagging = [...c.nodes.values()].find((n) => n !== leader)!;
  c.cut.add(lagging.id);
  for (let i = 0; i < 5; i++) leader.propose(new Uint8Array([i]));
  c.tick(3);
  leader.compact(leader.applied, new TextEncoder().encode('state'));
  c.settle();
  c.cut.delete(lagging.id);
  c.tick(5);
  assert.equal(lagging.snapshot.index, leader.snapshot.index);
  assert.equal(new TextDecoder().decode(lagging.snapshot.data), 'state');
  assert.equal(lagging.commitIndex, leader.commitIndex);
});

test('registry: claims lapse by the leader timestamps in the log, requests apply once', () => {
  const r = new Registry();
  let index = 0;
  const apply = (command: RegistryCommand, time: number, id = `q${index + 1}`) =>
    r.apply({ index: ++index, term: 1, type: 'normal', data: encodeRequest({ id, command }), voters: [], time })!.result;
  const claim = (owner: string, time: number) => apply({ op: 'claim', name: 'job', owner, value: owner, ttlMs: 100 }, time);
  assert.deepEqual(claim('w1', 1000), { op: 'claim', ok: true, won: true, holder: { name: 'job', owner: 'w1', value: 'w1', expiresAt: 1100, version: 1 } });
  assert.equal((claim('w2', 1050) as { won: boolean }).won, false);
  // A leader with a slow clock: time in the registry does not run backwards.
  assert.equal((claim('w2', 900) as { won: boolean }).won, false);
  assert.equal(r.get('job')?.owner, 'w1');
  assert.equal((claim('w2', 1100) as { won: boolean }).won, true, 'lapsed at its expiry');
  // The same request delivered twice applies once and answers the same.
  const put1 = apply({ op: 'put', name: 'n', owner: 'o', value: 'v1' }, 1200, 'same');
  apply({ op: 'put', name: 'n', owner: 'o', value: 'v2' }, 1201, 'other');
  assert.deepEqual(apply({ op: 'put', name: 'n', owner: 'o', value: 'v1' }, 1202, 'same'), put1);
  assert.equal(r.get('n')?.value, 'v2');
  // A snapshot restores the same registry.
  const copy = new Registry();
  copy.restore(r.snapshot(), r.applied);
  assert.deepEqual(copy.ls(), r.ls());
  assert.equal(copy.time, r.time);
  // Out of bounds when applying (a proposer that skipped the check): refused as a result, deterministically.
  const raw = new TextEncoder().encode(JSON.stringify({ id: 'big', command: { op: 'put', name: '', owner: 'o', value: 'v' } }));
  const out = r.apply({ index: ++index, term: 1, type: 'normal', data: raw, voters: [], time: 1300 })!;
  assert.equal(out.result.ok, false);
});

/**
 * Figure 8 of the Raft paper, scripted: an entry of an earlier term replicated to a majority by a
 * later leader is not committed by counting, because a node holding a newer term at that index can
 * still win and overwrite it. With the commitPreviousTerm fault the leader does commit it, and the
 * overwrite then loses a committed entry. Returns what `a` committed and what the final leader `e`
 * committed at index 2.
 */
function figure8(faults: RaftOptions['faults']): { aCommit: number; aTermAt2: number | undefined; eCommit: number; eTermAt2: number | undefined } {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const random = prng(7);
  const options = { random, now: () => 0, preVote: true, checkQuorum: false, maxMessageBytes: 1, faults };
  const storages = new Map(ids.map((id) => [id, new MemoryStorage(ids)]));
  const boot = (id: string) => new RaftNode({ id, ...options }, storages.get(id)!.load());
  const nodes = new Map(ids.map((id) => [id, boot(id)]));
  const n = (id: string) => nodes.get(id)!;
  let queue: Message[] = [];
  const collect = () => {
    for (const node of nodes.values()) {
      while (node.hasReady()) {
        const rd = node.ready();
        storages.get(node.id)!.persist(rd);
        queue.push(...rd.messages);
        node.advance(rd);
      }
    }
  };
  /** Delivers the queued messages that `pass`, drops the rest. */
  const deliver = (pass: (m: Message) => boolean) => {
    collect();
    const q = queue;
    queue = [];
    for (const m of q) if (pass(m)) n(m.to).step(m);
    collect();
  };
  const among = (group: string[]) => (m: Message) => group.includes(m.from) && group.includes(m.to);
  const link = (from: string, to: string) => (m: Message) => m.from === from && m.to === to;
  const lead = (id: string, group: string[]) => {
    for (let i = 0; i < 500 && n(id).role !== 'leader'; i++) {
      n(id).tick();
      // Stops the moment it leads: what the new leader sends waits for the script.
      for (let j = 0; j < 5 && n(id).role !== 'leader'; j++) deliver(among(group));
    }
    assert.equal(n(id).role, 'leader', `${id} was not elected`);
  };

  lead('a', ids);
  for (let j = 0; j < 5; j++) deliver(among(ids));
  n('a').propose(new TextEncoder().encode('P')); // index 2, term 1
  deliver(link('a', 'b')); // only b gets it
  deliver(link('b', 'a'));
  // e wins term 2 with c and d, appends its own entry at index 2, and is cut off before sending it.
  lead('e', ['c', 'd', 'e']);
  deliver(() => false);
  // a restarts (a follower again), comes back and wins term 3 with b, c, d; it brings c the term-1 entry at index 2, but not its own entry at 3.
  nodes.set('a', boot('a'));
  lead('a', ['a', 'b', 'c', 'd']);
  deliver((m) => m.from === 'a' && (m.to === 'b' || m.to === 'c'));
  deliver((m) => m.to === 'a' && (m.from === 'b' || m.from === 'c'));
  deliver(link('a', 'c'));
  deliver(link('c', 'a'));
  const aCommit = n('a').commitIndex;
  const aTermAt2 = n('a').termAt(2);
  deliver(() => false); // a is cut off
  // e hears of term 3 and steps down, then wins term 4 with c and d (their logs end in term 1 or earlier than e's).
  n('e').tick();
  deliver(among(['b', 'c', 'd', 'e']));
  deliver(among(['b', 'c', 'd', 'e']));
  assert.equal(n('e').role, 'follower');
  lead('e', ['b', 'c', 'd', 'e']);
  for (let j = 0; j < 20; j++) deliver(among(['b', 'c', 'd', 'e']));
  return { aCommit, aTermAt2, eCommit: n('e').commitIndex, eTermAt2: n('e').termAt(2) };
}

test('commitment by counting only for current-term entries (Raft figure 8), and the fault that breaks it', () => {
  const safe = figure8(undefined);
  assert.equal(safe.aCommit, 1, 'a counted a majority for its term-1 entry at 2 but did not commit it');
  assert.ok(safe.eCommit >= 2 && safe.eTermAt2 === 2, 'e overwrote the uncommitted entry and committed its own');
  const broken = figure8({ commitPreviousTerm: true });
  assert.equal(broken.aCommit, 2, 'with the fault, a commits the term-1 entry by counting');
  assert.equal(broken.aTermAt2, 1);
  assert.ok(broken.eCommit >= 2 && broken.eTermAt2 === 2, 'and e commits a different entry at the same index: a committed entry is lost');
});

test('registry: a full registry refuses new writes by result, so its snapshot always fits one message', () => {
  const r = new Registry();
  let index = 0;
  const put = (name: string, value: string) =>
    r.apply({ index: ++index, term: 1, type: 'normal', data: encodeRequest({ id: `q${index}`, command: { op: 'put', name, owner: 'o', value } }), voters: [], time: index })!.result;
  const big = 'x'.repeat(60 * 1024);
  let stored = 0;
  while (put(`n${stored}`, big).ok) stored++;
  assert.ok(stored >= 60 && stored < 80, `${stored} values of 60 KiB fit in 4 MiB`);
  const refused = put(`n${stored}`, big);
  assert.ok(!refused.ok && /full/.test(refused.error));
  assert.ok(r.snapshot().byteLength < 8 * 1024 * 1024);
  // Replacing a value in place and deleting make room again.
  assert.equal(put('n0', 'small').ok, true);
  assert.equal(put(`n${stored}`, big).ok, true);
});

test('a peer that is not a voter moves nobody: no vote, no append, no proposal; a new node still learns from the leader', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const leader = c.elect();
  c.tick(2);
  const f = [...c.nodes.values()].find((n) => n !== leader)!;
  const before = { term: f.term, vote: f.vote, last: f.lastIndex(), leader: f.leader };
  const base: Message = { type: 'vote', from: 'x', to: f.id, term: f.term + 5, index: f.lastIndex() + 10, logTerm: f.term + 4, commit: 0, reject: false, rejectHint: 0, entries: [], snapshot: null, ctx: '' };
  const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array([1]), voters: [], time: 0 });
  for (const stranger of [
    base,
    { ...base, type: 'pre-vote' as const },
    { ...base, type: 'append' as const, index: f.lastIndex(), logTerm: f.termAt(f.lastIndex())!, entries: [e(f.lastIndex() + 1, f.term + 5)] },
    { ...base, type: 'heartbeat' as const, commit: 0 },
    { ...base, type: 'append-resp' as const },
  ]) {
    f.step(stranger);
  }
  assert.equal(f.ignored, 5);
  const leaderLast = leader.lastIndex();
  leader.step({ ...base, type: 'propose', to: leader.id, term: 0, index: 0, logTerm: 0, entries: [{ ...e(0, 0) }] });
  assert.equal(leader.lastIndex(), leaderLast, 'no entry proposed by a stranger');
  assert.deepEqual({ term: f.term, vote: f.vote, last: f.lastIndex(), leader: f.leader }, before);
  assert.equal(f.hasReady(), false, 'nothing to send or persist');

  // A node added later starts with no voters and learns the configuration from the leader's log.
  leader.proposeConfChange({ add: 'd' });
  const d = new RaftNode({ id: 'd', random: prng(7), now: () => c.time }, new MemoryStorage([]).load());
  c.nodes.set('d', d);
  c.storages.set('d', new MemoryStorage([]));
  c.tick(5);
  assert.deepEqual(d.voters, ['a', 'b', 'c', 'd']);
  assert.equal(d.commitIndex, leader.commitIndex);
});

test('terms and indexes near 2^53 are refused when decoded and when stepped: the node keeps working', () => {
  const c = new Cluster(['a', 'b', 'c']);
  const leader = c.elect();
  c.tick(2);
  const f = [...c.nodes.values()].find((n) => n !== leader)!;
  const term = f.term;
  const hostile: Message = { type: 'heartbeat', from: leader.id, to: f.id, term: Number.MAX_SAFE_INTEGER, index: 0, logTerm: 0, commit: 0, reject: false, rejectHint: 0, entries: [], snapshot: null, ctx: '' };
  assert.throws(() => f.step(hostile), raftError('bad-message'));
  assert.throws(() => f.step({ ...hostile, term, commit: MAX_COUNTER + 1 }), raftError('bad-message'));
  assert.throws(() => decodeMessage(encodeMessage(hostile), 1 << 20), raftError('bad-message'));
  assert.equal(f.term, term);
  leader.propose(new Uint8Array([9]));
  c.tick(3);
  assert.equal(f.commitIndex, leader.lastIndex());
});

test('a snapshot is bounded: compact refuses one too large, a peer that sends one is refused, the registry stays inside', () => {
  const c = new Cluster(['a', 'b', 'c'], { maxSnapshotBytes: 100 });
  const leader = c.elect();
  leader.propose(new Uint8Array([1]));
  c.tick(3);
  assert.throws(() => leader.compact(leader.applied, new Uint8Array(101)), raftError('snapshot-too-large'));
  assert.equal(leader.snapshot.index, 0, 'nothing compacted');
  const f = [...c.nodes.values()].find((n) => n !== leader)!;
  const snapshot = { index: leader.applied + 5, term: leader.term, voters: ['a', 'b', 'c'], data: new Uint8Array(101) };
  assert.throws(
    () => f.step({ type: 'snapshot', from: leader.id, to: f.id, term: leader.term, index: 0, logTerm: 0, commit: 0, reject: false, rejectHint: 0, entries: [], snapshot, ctx: '' }),
    raftError('bad-message'),
  );

  // Remembered claim answers carry the holder's value: they are bounded by bytes too.
  const r = new Registry();
  let index = 0;
  const run = (command: RegistryCommand) => r.apply({ index: ++index, term: 1, type: 'normal', data: encodeRequest({ id: `q${index}`, command }), voters: [], time: index })!.result;
  const big = '\u0001'.repeat(60 * 1024); // six bytes each once escaped in JSON
  while (run({ op: 'put', name: `n${index}`, owner: 'o', value: big }).ok);
  for (let i = 0; i < 300; i++) run({ op: 'claim', name: 'n1', owner: 'other', value: 'v', ttlMs: 1000 });
  const size = r.snapshot().byteLength;
  assert.ok(size <= 7 * 1024 * 1024, `a full registry's snapshot is ${size} bytes`);
});

test('a replica bounds the frames it holds while its Ready loop runs by bytes, not only by count', async () => {
  let peer: RegistryPeer | undefined;
  let echoed = 0;
  const transport: RaftTransport = {
    send: () => {
      // A transport that delivers synchronously, from inside our own send: 40 frames of 1 MiB.
      for (; echoed < 40; echoed++) peer!.deliver('b', new Uint8Array(1024 * 1024));
    },
  };
  peer = new RegistryPeer({ id: 'a', storage: new MemoryStorage(['a', 'b']), transport, maxFrameBytes: 2 * 1024 * 1024, tickMs: 5, random: prng(3) });
  try {
    peer.start();
    for (let i = 0; i < 400 && echoed === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(echoed, 40, 'the replica campaigned and sent');
    const s = peer.status();
    assert.ok(s.droppedFrames >= 36, `${s.droppedFrames} of 40 frames dropped (4 MiB held at most)`);
    assert.equal(s.droppedFrames + s.badFrames, 40);
  } finally {
    peer.stop();
  }
});
