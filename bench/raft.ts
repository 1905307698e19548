// The Raft registry in one process, JSON lines: write latency and throughput of three RegistryPeer
// replicas over an in-process transport, with FileStorage (an fsync per Ready) next to MemoryStorage
// (no disk) in the same run, so the difference is the disk; and the same three replicas over libp2p
// on loopback (src/cluster/raft-transport.ts: Noise, yamux, TCP), with each storage, so the
// difference to the in-process lines is the network stack. Rounds alternate, medians and ranges.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryPeer } from '../src/cluster/raft/peer.js';
import { FileStorage } from '../src/cluster/raft/file-storage.js';
import { MemoryStorage, type RaftStorage } from '../src/cluster/raft/storage.js';
import { Cluster, loadIdentity } from '../src/cluster/index.js';
import { RaftStreams } from '../src/cluster/raft-transport.js';

const ROUNDS = 3;
const SEQUENTIAL = 200;
const CONCURRENT = 1000;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type Kind = 'file' | 'memory' | 'libp2p-file' | 'libp2p-memory';
const KINDS: readonly Kind[] = ['file', 'memory', 'libp2p-file', 'libp2p-memory'];

async function measure(kind: Kind): Promise<{ p50: number; p99: number; perSecond: number }> {
  const overLibp2p = kind.startsWith('libp2p');
  const identities = overLibp2p ? await Promise.all([0, 1, 2].map(() => loadIdentity())) : [];
  const ids = overLibp2p ? identities.map((i) => i.peerId) : ['r0', 'r1', 'r2'];
  const root = mkdtempSync(join(tmpdir(), 'ww-bench-raft-'));
  const peers = new Map<string, RegistryPeer>();
  const storages: RaftStorage[] = [];
  const clusters: Cluster[] = [];
  const streams: RaftStreams[] = [];
  try {
    for (const [i, id] of ids.entries()) {
      const storage = kind.endsWith('file') ? new FileStorage(join(root, id), { voters: ids }) : new MemoryStorage(ids);
      storages.push(storage);
      let transport: { send(to: string, frame: Uint8Array): void };
      if (overLibp2p) {
        const cluster = await Cluster.start({ identity: identities[i]!, allow: ids, serve: () => undefined });
        clusters.push(cluster);
        const t = await RaftStreams.start({ libp2p: cluster.libp2p, admission: cluster.admission, maxFrameBytes: 8 << 20, deliver: (from, frame) => peers.get(id)?.deliver(from, frame) });
        streams.push(t);
        transport = t;
      } else {
        transport = { send: (to: string, frame: Uint8Array) => setImmediate(() => peers.get(to)?.deliver(id, frame)) };
      }
      peers.set(id, new RegistryPeer({ id, storage, transport, tickMs: 10, timeoutMs: 30_000 }));
    }
    for (const a of clusters) for (const b of clusters) if (a !== b) await a.libp2p.peerStore.merge(b.libp2p.peerId, { multiaddrs: b.libp2p.getMultiaddrs() });
    for (const p of peers.values()) p.start();
    let leader: RegistryPeer | undefined;
    while (!(leader = [...peers.values()].find((p) => p.status().role === 'leader'))) await new Promise((r) => setTimeout(r, 10));
    await leader.put('warm', 'bench', 'up');
    const lat: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t0 = performance.now();
      await leader.put(`k${i % 16}`, 'bench', `v${i}`);
      lat.push(performance.now() - t0);
    }
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => leader!.put(`c${i % 64}`, 'bench', `v${i}`)));
    const perSecond = CONCURRENT / ((performance.now() - t0) / 1000);
    lat.sort((a, b) => a - b);
    return { p50: lat[Math.floor(lat.length / 2)]!, p99: lat[Math.floor(lat.length * 0.99)]!, perSecond };
  } finally {
    for (const p of peers.values()) p.stop();
    for (const t of streams) await t.close();
    for (const c of clusters) await c.close();
    for (const s of storages) if (s instanceof FileStorage) s.close();
    rmSync(root, { recursive: true, force: true });
  }
}

export async function main(): Promise<void> {
  const runs: Record<Kind, Array<{ p50: number; p99: number; perSecond: number }>> = { file: [], memory: [], 'libp2p-file': [], 'libp2p-memory': [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of round % 2 === 0 ? KINDS : [...KINDS].reverse()) runs[kind].push(await measure(kind));
  }
  for (const kind of KINDS) {
    const r = runs[kind];
    const range = (f: (x: (typeof r)[number]) => number) => [Math.min(...r.map(f)), Math.max(...r.map(f))].map((x) => Math.round(x * 100) / 100);
    console.log(
      JSON.stringify({
        bench: 'raft-registry-write',
        storage: kind.endsWith('file') ? 'file' : 'memory',
        transport: kind.startsWith('libp2p') ? 'libp2p-loopback' : 'in-process',
        replicas: 3,
        p50Ms: Math.round(median(r.map((x) => x.p50)) * 100) / 100,
        p50RangeMs: range((x) => x.p50),
        p99RangeMs: range((x) => x.p99),
        writesPerSecond: Math.round(median(r.map((x) => x.perSecond))),
        writesPerSecondRange: range((x) => x.perSecond),
        rounds: ROUNDS,
      }),
    );
  }
}
