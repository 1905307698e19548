// `ww cluster ls`: the live peers of the node's cluster, as the node sees them.
import { Command, Flags } from '@oclif/core';
import { socketFlag } from '../../lib/node-args.js';

export default class ClusterLs extends Command {
  static override summary = "List the live peers of the node's cluster.";

  static override description = `Lists every peer the node has heard a signed heartbeat from within that peer's TTL, this node first. A node in no cluster lists itself alone.

Columns: PEER (the shortest prefix of the peer ID, at least 12 characters, that tells the listed peers apart), ADDRESSES (the first multiaddr the peer listens on, and how many more), RUNNING (processes running or paused), QUEUED (waiting for a worker), FREE MEM (the node's memory budget not in use), SEEN (when its last heartbeat arrived; \`self\` for this node). Lines fit the terminal: ADDRESSES is cut first, with …; $COLUMNS overrides the width.

--json prints an array with one object per live peer, this node included, every field in full (peerId, addresses, running, queued, freeMemoryBytes, lastSeenMs, lastSeen, self).

Exit status: 0; 1 no node; 2 bad command line.`;

  static override examples = [
    { description: 'List the peers.', command: '<%= config.bin %> cluster ls' },
    { description: 'The least loaded peer, with jq.', command: "<%= config.bin %> cluster ls --json | jq -r 'min_by(.running + .queued) | .peerId'" },
    { description: 'Ask a node on another socket.', command: '<%= config.bin %> cluster ls --socket /tmp/ww/node.sock' },
  ];

  static override flags = {
    json: Flags.boolean({ description: 'print a JSON array with one object per live peer' }),
    socket: socketFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ClusterLs);
    const [{ peerJson, peerTable }, { outputWidth }, { withNode }] = await Promise.all([
      import('../../lib/cluster-format.js'),
      import('../../lib/format.js'),
      import('../../lib/node-connection.js'),
    ]);
    const peers = await withNode(flags.socket, async ({ node }) => (await node.cluster()).peers);
    process.stdout.write(flags.json ? `${JSON.stringify(peers.map(peerJson), null, 2)}\n` : peerTable(peers, { nowMs: Date.now(), width: outputWidth() }));
  }
}
