// `ww registry put NAME VALUE`: writes a name in the cluster registry.
import { Args, Command, Flags } from '@oclif/core';
import { socketFlag } from '../../lib/node-args.js';

export default class RegistryPut extends Command {
  static override summary = 'Set a name in the cluster registry.';

  static override description = `Writes NAME = VALUE through the Raft leader, recorded as written by this node's peer ID; it returns once a majority of the members hold it. Names are 1 to 256 bytes, values at most 64 KiB; the registry holds at most 4 MiB.

With --ttl the write is a claim: it succeeds only if NAME is free, lapsed, or already this node's (then it is renewed), and it lapses after the TTL unless claimed again. The line says whether this node holds it, and who does otherwise.

--json prints {"version": N} (the log index of the write), or for a claim {"won": true|false, "holder": {...}}.

Exit status: 0 written (or a claim answered, won or not); 1 no node, the node runs no registry, no leader yet, not a member, a name or value too large or the registry full, no answer in time (the outcome is then unknown: read it back with ww registry get); 2 bad command line.`;

  static override examples = [
    { description: 'Say where a service lives.', command: '<%= config.bin %> registry put svc/db /ip4/10.0.0.2/tcp/5432' },
    { description: 'Hold a lease for 30 s (renew it by claiming again).', command: '<%= config.bin %> registry put lock/build me --ttl 30s' },
  ];

  static override args = {
    name: Args.string({ required: true, description: 'the name to set' }),
    value: Args.string({ required: true, description: 'its value (text)' }),
  };

  static override flags = {
    ttl: Flags.string({ helpValue: 'DURATION', description: 'claim the name for this long (500ms, 30s, 5m; at most 24h) instead of setting it for good' }),
    json: Flags.boolean({ description: 'print the result as a JSON object' }),
    socket: socketFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryPut);
    const [{ withNode }, { recordJson }, { parseDuration }, { printable }] = await Promise.all([
      import('../../lib/node-connection.js'),
      import('../../lib/registry-format.js'),
      import('../../units.js'),
      import('../../text.js'),
    ]);
    const ttlMs = flags.ttl !== undefined ? parseDuration('--ttl', flags.ttl) : undefined;
    await withNode(flags.socket, async ({ node }) => {
      const registry = node.registry().registry;
      if (ttlMs === undefined) {
        const { version } = await registry.put({ name: args.name, value: args.value });
        if (flags.json) process.stdout.write(`${JSON.stringify({ version: Number(version) })}\n`);
        return;
      }
      const { won, holder } = await registry.claim({ name: args.name, value: args.value, ttlMs: Math.min(ttlMs, 0xffff_ffff) });
      if (flags.json) process.stdout.write(`${JSON.stringify({ won, holder: recordJson(holder) }, null, 2)}\n`);
      else process.stdout.write(won ? `claimed ${printable(args.name)}\n` : `${printable(args.name)} is held by ${holder.owner} (value '${printable(holder.value)}')\n`);
    });
  }
}
