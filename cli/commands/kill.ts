// `ww kill PID`: end a process and its whole subtree (reason `killed`).
import { Args, Command } from '@oclif/core';
import { parseProcessRef, PROCESS_ARG_DESCRIPTION, socketFlag } from '../lib/node-args.js';

export default class Kill extends Command {
  static override summary = 'Kill a process and every process under it.';

  static override description = `Ends PID with reason \`killed\`, and with it its whole subtree (its children, their children, ...). A paused process can be killed. Killing a process that has already ended does nothing. Prints nothing on success.

Exit status: 0 killed; 1 no such process, or no node; 2 bad command line.`;

  static override examples = [
    { description: 'Kill process 4 on another peer (a unique prefix of its peer ID will do).', command: '<%= config.bin %> kill 12D3KooWQK/4' },
    { description: 'Kill process 7 and its children.', command: '<%= config.bin %> kill 7' },
    { description: 'Kill it on the node behind another socket.', command: '<%= config.bin %> kill --socket /tmp/ww/node.sock 7' },
  ];

  static override args = { pid: Args.string({ description: PROCESS_ARG_DESCRIPTION, required: true }) };

  static override flags = { socket: socketFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Kill);
    const ref = parseProcessRef(args.pid);
    const { processFor, withNode } = await import('../lib/node-connection.js');
    await withNode(flags.socket, async (session) => (await processFor(session, ref)).kill());
  }
}
