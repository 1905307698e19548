// Registry replicas on real timers and FileStorage, over an in-memory transport: writes and
// linearizable reads, a leader stopped and another elected, a replica restarted from its data
// directory catching up, a voter added, hostile frames dropped without harm.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryPeer, type RaftTransport } from '../../src/cluster/raft/peer.js';
import { FileStorage } from '../../src/cluster/raft/file-storage.js';
import { RaftError } from '../../src/cluster/raft/errors.js';
import { encodeMessage } from '../../src/cluster/raft/codec.js';

/** Frames between replicas in this process, delivered on a later turn of the event loop; a stopped replica hears nothing. */
class Net {
  readonly peers = new Map<string, RegistryPeer>();
  readonly down = new Set<string>();
  transport(from: string): RaftTransport {
    return {
      send: (to, frame) => {
        setImmediate(() => {
          if (this.down.has(from) || this.down.has(to)) return;
          this.peers.get(to)?.deliver(from, frame);
        });
      },
    };
  }
}

async function until<T>(what: string, probe: () => T | undefined | null | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('registry replicas: writes, reads, claims, a lost leader, a restart from disk, a new voter', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ww-raft-peer-'));
  const net = new Net();
  const ids = ['p0', 'p1', 'p2'];
  const storages = new Map<string, FileStorage>();
  const open = (id: string, voters: string[]) => {
    storages.get(id)?.close();
    const storage = new FileStorage(join(root, id), { voters });
    storages.set(id, storage);
    const peer = new RegistryPeer({ id, storage, transport: net.transport(id), tickMs: 10, electionTicks: 10, timeoutMs: 10_000 });
    net.peers.set(id, peer);
    net.down.delete(id);
    peer.start();
    return peer;
  };
  try {
    for (const id of ids) open(id, ids);
    const leaderPeer = () => [...net.peers.values()].find((p) => !net.down.has(p.id) && p.status().role === 'leader');
    const first = await until('a leader', leaderPeer);

    const put = await first.put('svc/echo', 'p0', 'sturdy-ref-1');
    assert.equal(put.ok, true);
    // A read on a follower goes through the leader's confirmation and sees the write.
    const follower = [...net.peers.values()].find((p) => p !== first)!;
    assert.equal((await follower.get('svc/echo'))?.value, 'sturdy-ref-1');
    const won = await follower.claim('task/42', 'p1', 'running', 60_000);
    assert.ok(won.ok && won.op === 'claim' && won.won);
    const lost = await first.claim('task/42', 'p2', 'running', 60_000);
    assert.ok(lost.ok && lost.op === 'claim' && !lost.won && lost.holder.owner === 'p1');
    assert.deepEqual((await first.ls('svc/')).map((r) => r.name), ['svc/echo']);
    // Past the bounds: a typed refusal, nothing proposed.
    await assert.rejects(first.put('x'.repeat(300), 'p0', ''), (e: unknown) => e instanceof RaftError && e.code === 'registry-bound');

    // The leader goes away; the others elect one and keep the registry.
    first.stop();
    net.down.add(first.id);
    const second = await until('a new leader', () => {
      const l = leaderPeer();
      return l && l !== first ? l : undefined;
    });
    await second.put('svc/echo', 'p1', 'sturdy-ref-2');
    // The old leader comes back from its data directory and catches up.
    const back = open(first.id, ids);
    await until('the restarted replica to catch up', () => back.status().applied >= second.status().commit);
    assert.equal((await back.get('svc/echo'))?.value, 'sturdy-ref-2');

    // A frame that is not a message, or claims another sender, is dropped and counted.
    back.deliver('p1', new Uint8Array([1, 2, 3]));
    const forged = encodeMessage({ type: 'heartbeat', from: 'p9', to: back.id, term: 999, index: 0, logTerm: 0, commit: 0, reject: false, rejectHint: 0, entries: [], snapshot: null, ctx: '' });
    back.deliver('p1', forged);
    assert.equal(back.status().badFrames, 2);
    assert.ok(back.status().term < 999);

    // A fourth replica joins: it starts with no voters and learns the configuration from the log.
    const leader = await until('a leader', leaderPeer);
    const joiner = open('p3', []);
    await until('the change to be accepted', () => {
      try {
        leader.addVoter('p3');
        return true;
      } catch (e) {
        if (e instanceof RaftError && e.code === 'conf-change-pending') return false;
        throw e;
      }
    });
    await until('the new voter to catch up', () => joiner.status().voters.includes('p3') && joiner.status().applied >= leader.status().commit);
    assert.equal((await joiner.get('svc/echo'))?.value, 'sturdy-ref-2');
  } finally {
    for (const p of net.peers.values()) p.stop();
    for (const s of storages.values()) s.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('registry replicas over a transport that delivers synchronously (re-entering the sender) stay in order', async () => {
  const peers = new Map<string, RegistryPeer>();
  const ids = ['s0', 's1', 's2'];
  const { MemoryStorage } = await import('../../src/cluster/raft/storage.js');
  for (const id of ids) {
    const transport: RaftTransport = { send: (to, frame) => peers.get(to)?.deliver(id, frame) };
    peers.set(id, new RegistryPeer({ id, storage: new MemoryStorage(ids), transport, tickMs: 10, timeoutMs: 10_000 }));
  }
  try {
    for (const p of peers.values()) p.start();
    const leader = await until('a leader', () => [...peers.values()].find((p) => p.status().role === 'leader'));
    const writes = [];
    for (let i = 0; i < 50; i++) writes.push(leader.put(`k${i % 5}`, 'o', `v${i}`));
    for (const w of writes) assert.equal((await w).ok, true);
    for (const p of peers.values()) {
      await until(`${p.id} to apply everything`, () => p.status().applied >= leader.status().commit);
      for (let k = 0; k < 5; k++) assert.equal((await p.get(`k${k}`))?.value, `v${45 + k}`);
    }
  } finally {
    for (const p of peers.values()) p.stop();
  }
});
