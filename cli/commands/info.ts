// `ww info PID`: everything the node knows about one process.
import { Args, Command, Flags } from '@oclif/core';
import { parseProcessRef, PROCESS_ARG_DESCRIPTION, socketFlag } from '../lib/node-args.js';

export default class Info extends Command {
  static override summary = 'Show everything about one process.';

  static override description = `Prints PID's parent, state (and reason and exit code once it has ended), argv, module content ID, creation time, CPU time, fuel used and memory. --json prints one object with the same fields as \`ww ps --json\`.

Exit status: 0; 1 no such process, or no node; 2 bad command line.`;

  static override examples = [
    { description: 'A process on another peer.', command: '<%= config.bin %> info 12D3KooWQK/4 --json' },
    { description: 'Show process 7.', command: '<%= config.bin %> info 7' },
    { description: 'Its memory in bytes, with jq.', command: '<%= config.bin %> info 7 --json | jq .memoryBytes' },
  ];

  static override args = { pid: Args.string({ description: PROCESS_ARG_DESCRIPTION, required: true }) };

  static override flags = {
    json: Flags.boolean({ description: 'print one JSON object with every field' }),
    socket: socketFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Info);
    const ref = parseProcessRef(args.pid);
    const [{ infoText, processJson }, { processFor, withNode }] = await Promise.all([import('../lib/format.js'), import('../lib/node-connection.js')]);
    const info = await withNode(flags.socket, async (session) => (await (await processFor(session, ref)).info()).info);
    process.stdout.write(flags.json ? `${JSON.stringify(processJson(info), null, 2)}\n` : infoText(info, Date.now()));
  }
}
