// Cluster benchmark (`npm run bench -- cluster`), JSON lines, side by side in one run:
// - spawn-to-exit of hello on node B by a remote peer A over the libp2p RPC stream (TCP, Noise,
//   yamux; one long-lived /ww/rpc/1.0.0 stream) vs. by B's owner over B's unix socket: the same
//   RPC engine and the same spawn (by content ID, wait pipelined), alternating rounds
//   (issue target: remote <= 2 ms p50 on loopback);
// - the first dial (connection + handshake + RPC stream + identity()) of a fresh peer;
// - failure detection: a process on this node linked to one on a peer that is another `ww start`
//   process, from that peer's kill -9 (the kernel closes its connection) or SIGSTOP (silent, as a
//   partition: only the liveness timeout, 1.5 s, notices) to the linked process's `peer-lost` seen
//   here; next to a local link's propagation in the same rounds (issue target: <= 2 s).
// Both nodes run in this one process (one event loop serves both ends of the libp2p stream): a
// remote peer in another process would add a process hop and share no loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentity, newSwarmKey, parseSwarmKey } from '../src/cluster/index.js';
import { connectNode, startNode } from '../src/node/index.js';
import { ExitKind, type Executor$Client } from '../src/capnp-gen/ww.rpc.js';
import { assemble, repoRoot, SLEEPER_WAT } from '../fixtures/wat.js';

function quantiles(samplesMs: number[]): { p50_us: number; p99_us: number; n: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50_us: Math.round(q(0.5) * 1000), p99_us: Math.round(q(0.99) * 1000), n: s.length };
}

const emit = (o: Record<string, unknown>): void => console.log(JSON.stringify(o));

async function time(f: () => PromiseLike<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

export async function main(argv: string[] = []): Promise<void> {
  const quick = argv.includes('--quick');
  // `--failure-detection`: only that part (it starts a fresh `ww start` peer per round).
  if (argv.includes('--failure-detection')) return failureDetection(quick ? 2 : 5);
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-cluster-'));
  const [ida, idb] = [await loadIdentity(join(dir, 'a')), await loadIdentity(join(dir, 'b'))];
  const b = await startNode({ socketPath: join(dir, 'b.sock'), dataDir: join(dir, 'b'), poolSize: 2, pauseGraceMs: 0, p2p: { allow: [ida.peerId] } });
  const a = await startNode({ socketPath: join(dir, 'a.sock'), dataDir: join(dir, 'a'), poolSize: 1, pauseGraceMs: 0, p2p: { allow: [idb.peerId] } });
  const owner = await connectNode(b.socketPath);
  try {
    const dialStart = performance.now();
    const remoteNode = await a.cluster!.dial(b.addresses[0]);
    await remoteNode.identity();
    emit({ bench: 'cluster-first-dial', impl: 'libp2p-tcp-noise-yamux', ms: Math.round((performance.now() - dialStart) * 10) / 10 });

    const remote: Executor$Client = remoteNode.executor().executor;
    const local: Executor$Client = owner.node.executor().executor;
    const hello = new Uint8Array(readFileSync(join(repoRoot(), 'examples', 'hello.wasm')));
    // Each principal names only modules it put itself: both put hello.
    const remoteCid = (await remote.modules().cache.put({ bytes: hello })).cid;
    const localCid = (await local.modules().cache.put({ bytes: hello })).cid;
    const spawnToExit = (ex: Executor$Client, cid: string) => async (): Promise<void> => {
      const spawned = ex.spawn({ spec: { moduleCid: cid, argv: ['hello'] } });
      const { status } = await spawned.process.wait();
      spawned.release();
      if (status.code !== 0) throw new Error(`hello exited ${status.code}`);
    };
    const viaLibp2p = spawnToExit(remote, remoteCid);
    const viaUnix = spawnToExit(local, localCid);
    for (let i = 0; i < 100; i++) {
      await viaLibp2p(); // warm-up: pools, JIT, windows
      await viaUnix();
    }
    const samples = { libp2p: [] as number[], unix: [] as number[] };
    // CPU time of this process (both nodes, their workers) per spawn: less at the mercy of other load than wall time.
    const cpu = { libp2p: 0, unix: 0 };
    const rounds = quick ? 4 : 10;
    for (let round = 0; round < rounds; round++) {
      // Alternate which goes first so drift (GC, the machine's load) hits both alike.
      const order = round % 2 === 0 ? (['libp2p', 'unix'] as const) : (['unix', 'libp2p'] as const);
      for (const which of order) {
        const before = process.cpuUsage();
        for (let i = 0; i < 100; i++) samples[which].push(await time(which === 'libp2p' ? viaLibp2p : viaUnix));
        const used = process.cpuUsage(before);
        cpu[which] += used.user + used.system;
      }
    }
    const remoteQ = quantiles(samples.libp2p);
    const unixQ = quantiles(samples.unix);
    const cpuPerOp = (which: 'libp2p' | 'unix'): number => Math.round(cpu[which] / samples[which].length);
    emit({ bench: 'cluster-spawn-to-exit', impl: 'remote-peer-libp2p-rpc-stream', ...remoteQ, cpu_us_per_op: cpuPerOp('libp2p'), target_p50_us: 2000, ok: remoteQ.p50_us <= 2000 });
    emit({ bench: 'cluster-spawn-to-exit', impl: 'owner-unix-socket', ...unixQ, cpu_us_per_op: cpuPerOp('unix') });
    emit({ bench: 'cluster-spawn-to-exit-added', impl: 'libp2p-vs-unix-socket', p50_added_us: remoteQ.p50_us - unixQ.p50_us, p50_ratio: Math.round((remoteQ.p50_us / unixQ.p50_us) * 100) / 100 });
    remote.release();
    local.release();
    remoteNode.release();
  } finally {
    owner.close();
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
  await failureDetection(quick ? 2 : 5);
}


/**
 * From a peer's loss to `peer-lost` on the process linked to one of its processes: `rounds` rounds of
 * each way to lose it (kill -9, SIGSTOP) alternating, a fresh `ww start` peer each time; the local
 * link (kill the linked local process) in the same rounds as the baseline.
 */
async function failureDetection(rounds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-fd-'));
  const keyFile = join(dir, 'swarm.key');
  const keyText = newSwarmKey();
  writeFileSync(keyFile, keyText, { mode: 0o600 });
  const a = await startNode({ socketPath: join(dir, 'a.sock'), dataDir: join(dir, 'a'), poolSize: 2, pauseGraceMs: 0, p2p: { swarmKey: parseSwarmKey(keyText, 'bench') } });
  const owner = await connectNode(a.socketPath);
  const here = owner.node.executor().executor;
  const sleeper = await assemble(SLEEPER_WAT);
  const samples = { 'kill-9': [] as number[], sigstop: [] as number[], 'local-link': [] as number[] };
  let child: ChildProcess | undefined;
  let setupRetries = 0;
  try {
    for (let round = 0; round < rounds * 2; round++) {
      const how = round % 2 === 0 ? 'kill-9' : 'sigstop';
      const peerDir = join(dir, `b${round}`);
      const { peerId } = await loadIdentity(join(peerDir, 'data'));
      child = spawn(process.execPath, [join(repoRoot(), 'bin', 'ww.js'), 'start', '--socket', join(peerDir, 'node.sock'), '--data-dir', join(peerDir, 'data'), '--swarm-key', keyFile, '--join', a.addresses[0]!], { stdio: 'ignore' });
      for (let i = 0; !a.cluster!.connectedPeers().includes(peerId); i++) {
        if (i > 600) throw new Error('the peer did not join within a minute');
        await new Promise((r) => setTimeout(r, 100));
      }
      // A fresh peer's first session may still be replaced by a second one it opens (src/cluster:
      // capabilities on a replaced session break): set the round up again on a new dial then.
      const setUp = async () => {
        const peer = await a.cluster!.dial(peerId);
        const there = peer.executor().executor;
        const remote = await there.spawn({ spec: { moduleBytes: sleeper } });
        const linked = await here.spawn({ spec: { moduleBytes: sleeper } });
        await linked.process.link({ other: remote.process });
        return { peer, there, remote, linked };
      };
      let setup: Awaited<ReturnType<typeof setUp>> | undefined;
      for (let attempt = 1; !setup; attempt++) {
        try {
          setup = await setUp();
        } catch (e) {
          if (attempt >= 3) throw e;
          setupRetries++;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      const { peer, there, remote, linked } = setup;
      // The baseline: two local processes linked, one killed.
      const [x, y] = [await here.spawn({ spec: { moduleBytes: sleeper } }), await here.spawn({ spec: { moduleBytes: sleeper } })];
      await x.process.link({ other: y.process });
      const t0 = performance.now();
      await x.process.kill();
      await y.process.wait();
      samples['local-link'].push(performance.now() - t0);

      const t1 = performance.now();
      child.kill(how === 'kill-9' ? 'SIGKILL' : 'SIGSTOP');
      const { status } = await linked.process.wait();
      samples[how].push(performance.now() - t1);
      if (status.reason.kind !== ExitKind.peerLost) throw new Error(`the linked process ended ${status.reason.kind}, not peer-lost`);
      child.kill('SIGKILL');
      for (const p of [remote, linked, x, y]) p.process.release();
      there.release();
      peer.release();
    }
  } finally {
    child?.kill('SIGKILL');
    here.release();
    owner.close();
    await a.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const ms = (v: number[]): { p50_ms: number; p99_ms: number; n: number } => {
    const q = quantiles(v);
    return { p50_ms: q.p50_us / 1000, p99_ms: q.p99_us / 1000, n: q.n };
  };
  for (const how of ['kill-9', 'sigstop'] as const) {
    const q = ms(samples[how]);
    emit({ bench: 'failure-detection', impl: how, ...q, target_ms: 2000, ok: q.p99_ms <= 2000 });
  }
  emit({ bench: 'failure-detection', impl: 'local-link-baseline', ...ms(samples['local-link']), setup_retries: setupRetries });
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
