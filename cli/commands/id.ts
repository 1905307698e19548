// `ww id`: the running node's peer ID and the addresses other peers reach it at.
import { Command, Flags } from '@oclif/core';
import { socketFlag } from '../lib/node-args.js';

export default class Id extends Command {
  static override summary = "Show the node's peer ID and addresses.";

  static override description = `Prints the running node's libp2p peer ID (what other operators put on their allow-lists: ww start --allow) and the multiaddrs other peers reach it at, each ending /p2p/PEERID (what they pass to ww start --join). --json prints {"peerId": ..., "addresses": [...]}.

Exit status: 0; 1 no node; 2 bad command line.`;

  static override examples = [
    { description: "Show this node's peer ID and addresses.", command: '<%= config.bin %> id' },
    { description: 'Just the peer ID, with jq.', command: '<%= config.bin %> id --json | jq -r .peerId' },
  ];

  static override flags = {
    json: Flags.boolean({ description: 'print one JSON object: peerId, addresses' }),
    socket: socketFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Id);
    const { withNode } = await import('../lib/node-connection.js');
    const info = await withNode(flags.socket, async (session) => (await session.node.identity()).info);
    const id = { peerId: info.peerId, addresses: [...info.addresses] };
    if (flags.json) process.stdout.write(`${JSON.stringify(id, null, 2)}\n`);
    else process.stdout.write(`${id.peerId}\n${id.addresses.map((a) => `  ${a}\n`).join('') || '  (no addresses: the node is not listening for peers)\n'}`);
  }
}
