// `ww registry get NAME`: one name's value from the cluster registry.
import { Args, Command, Flags } from '@oclif/core';
import { socketFlag } from '../../lib/node-args.js';

export default class RegistryGet extends Command {
  static override summary = "Print a name's value from the cluster registry.";

  static override description = `Reads NAME from the registry the node replicates (\`ww start --raft\`). The read is linearizable: the Raft leader confirms it still leads before the node answers, so it sees every write acknowledged before it.

Prints the value and a newline; --json prints the record (name, value, owner: the peer ID that wrote it, version: the log index of the write, expiresAtMs: a claim's expiry, else null).

Exit status: 0; 1 no such name, no node, the node runs no registry, no leader yet, this node is not a member; 2 bad command line.`;

  static override examples = [
    { description: 'Where a service lives.', command: '<%= config.bin %> registry get svc/db' },
    { description: 'The whole record.', command: '<%= config.bin %> registry get svc/db --json' },
  ];

  static override args = { name: Args.string({ required: true, description: 'the name to read' }) };

  static override flags = {
    json: Flags.boolean({ description: 'print the record as a JSON object' }),
    socket: socketFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryGet);
    const [{ withNode }, { recordJson }, { InputError }, { printable }] = await Promise.all([
      import('../../lib/node-connection.js'),
      import('../../lib/registry-format.js'),
      import('../../errors.js'),
      import('../../text.js'),
    ]);
    const got = await withNode(flags.socket, ({ node }) => node.registry().registry.get({ name: args.name }));
    if (!got.found) throw new InputError(`no name '${printable(args.name)}' in the registry`);
    process.stdout.write(flags.json ? `${JSON.stringify(recordJson(got.record), null, 2)}\n` : `${got.record.value}\n`);
  }
}
