// `ww registry ls [PREFIX]`: the names in the cluster registry.
import { Args, Command, Flags } from '@oclif/core';
import { socketFlag } from '../../lib/node-args.js';

export default class RegistryLs extends Command {
  static override summary = 'List the names in the cluster registry.';

  static override description = `Lists the live names (claims that lapsed are left out) that start with PREFIX, by name, at most 1,000. The read is linearizable, as for ww registry get.

Columns: NAME, VERSION (the log index of the last write), OWNER (the start of the peer ID that wrote it), EXPIRES (a claim's time left; - for a put), VALUE (cut to fit the terminal; $COLUMNS overrides the width).

--json prints an array with one object per name (name, value, owner, version, expiresAtMs), every field in full.

Exit status: 0; 1 no node, the node runs no registry, no leader yet, not a member; 2 bad command line.`;

  static override examples = [
    { description: 'Every name.', command: '<%= config.bin %> registry ls' },
    { description: 'The services, as JSON.', command: '<%= config.bin %> registry ls svc/ --json' },
  ];

  static override args = { prefix: Args.string({ required: false, default: '', description: 'only names that start with this' }) };

  static override flags = {
    json: Flags.boolean({ description: 'print a JSON array with one object per name' }),
    socket: socketFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryLs);
    const [{ withNode }, { recordJson, recordTable }, { outputWidth }] = await Promise.all([
      import('../../lib/node-connection.js'),
      import('../../lib/registry-format.js'),
      import('../../lib/format.js'),
    ]);
    const { records } = await withNode(flags.socket, ({ node }) => node.registry().registry.ls({ prefix: args.prefix, max: 0 }));
    process.stdout.write(flags.json ? `${JSON.stringify(records.map(recordJson), null, 2)}\n` : recordTable(records, { nowMs: Date.now(), width: outputWidth() }));
  }
}
