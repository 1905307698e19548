// The node as a replica of the cluster registry (`ww start --raft`): a RegistryPeer on FileStorage in
// <data-dir>/raft, its frames over the cluster's admitted peers (src/cluster/raft-transport.ts), and
// the Registry capability each principal is served (registry-cap.ts).
import type { Registry$Server } from '../capnp-gen/ww.rpc.js';
import type { Cluster } from '../cluster/index.js';
import type { PeerStatus, RegistryPeer } from '../cluster/raft/peer.js';
import { NodeError } from './client.js';
import { RegistryCap } from './registry-cap.js';

/** A frame's payload, at most: a whole snapshot (RaftNode's maxSnapshotBytes, 7 MiB) with room for its message. */
const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export interface RaftWiring {
  /** The founding voters' peer IDs, the same list on every member (this node among them to vote). Read
   *  only when <data-dir>/raft is new: afterwards the configuration is the log's. */
  members: string[];
  /** Milliseconds a tick lasts (default 100: a leader is elected 1-2 s after the last one was lost). */
  tickMs?: number;
  /** Ticks without a leader before an election (default 10). */
  electionTicks?: number;
  /** An operation not answered in this long fails with `timeout` (default 5000). */
  timeoutMs?: number;
}

export interface NodeRegistry {
  readonly peer: RegistryPeer;
  status(): PeerStatus;
  /** The Registry capability for one principal: `writer` is the owner recorded on its writes, null for reads only. */
  serve(writer: string | null, who: string): Registry$Server;
  close(): Promise<void>;
}

export async function startRegistry(cluster: Cluster, wiring: RaftWiring, dir: string, log: (line: string) => void): Promise<NodeRegistry> {
  const [{ checkPeerId }, { RaftStreams }, { RegistryPeer }, { FileStorage }, { RaftError }] = await Promise.all([
    import('../cluster/admission.js'),
    import('../cluster/raft-transport.js'),
    import('../cluster/raft/peer.js'),
    import('../cluster/raft/file-storage.js'),
    import('../cluster/raft/errors.js'),
  ]);
  const members = [...new Set(wiring.members)];
  for (const id of members) checkPeerId(id, 'raft member');
  if (members.length === 0) throw new NodeError('bad-raft', 'the registry needs its members: name each voter (this node too) with --raft-member PEERID, the same list on every member');
  for (const id of members) if (id !== cluster.peerId && !cluster.admission.admits(id)) log(`raft member ${id} is not admitted here (--allow, --swarm-key): it will not hear from this node`);

  let storage: InstanceType<typeof FileStorage>;
  try {
    storage = new FileStorage(dir, { voters: members });
  } catch (e) {
    if (e instanceof RaftError) throw new NodeError('bad-raft', `the registry's data in ${dir} cannot be used: ${e.message}`, { cause: e });
    throw e;
  }
  let peer: InstanceType<typeof RegistryPeer> | undefined;
  const streams = await RaftStreams.start({
    libp2p: cluster.libp2p,
    admission: cluster.admission,
    maxFrameBytes: MAX_FRAME_BYTES,
    deliver: (from, frame) => peer?.deliver(from, frame),
  });
  peer = new RegistryPeer({
    id: cluster.peerId,
    storage,
    transport: streams,
    maxFrameBytes: MAX_FRAME_BYTES,
    ...(wiring.tickMs !== undefined ? { tickMs: wiring.tickMs } : {}),
    ...(wiring.electionTicks !== undefined ? { electionTicks: wiring.electionTicks } : {}),
    ...(wiring.timeoutMs !== undefined ? { timeoutMs: wiring.timeoutMs } : {}),
  });
  peer.start();
  const running = peer;
  const voters = running.status().voters;
  log(`registry replica in ${dir}; voters ${voters.join(' ')}${voters.includes(cluster.peerId) ? '' : ' (this node is not one of them)'}`);
  return {
    peer: running,
    status: () => running.status(),
    serve: (writer, who) => new RegistryCap(running, writer, who),
    async close() {
      running.stop();
      await streams.close();
      storage.close();
    },
  };
}
