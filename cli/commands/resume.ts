// `ww resume PID`: continue a paused process where it stopped.
import { Args, Command } from '@oclif/core';
import { parseProcessRef, PROCESS_ARG_DESCRIPTION, socketFlag } from '../lib/node-args.js';

export default class Resume extends Command {
  static override summary = 'Resume a paused process.';

  static override description = `Continues PID where \`ww pause\` stopped it. Resuming a process that is running does nothing.

Exit status: 0 resumed (or already running); 1 no such process, it has ended, or no node; 2 bad command line.`;

  static override examples = [
    { description: 'Resume process 4 on another peer.', command: '<%= config.bin %> resume 12D3KooWQK/4' },
    { description: 'Continue process 7.', command: '<%= config.bin %> resume 7' }];

  static override args = { pid: Args.string({ description: PROCESS_ARG_DESCRIPTION, required: true }) };

  static override flags = { socket: socketFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Resume);
    const ref = parseProcessRef(args.pid);
    const { processFor, requireNotEnded, withNode } = await import('../lib/node-connection.js');
    await withNode(flags.socket, async (session) => {
      const proc = await processFor(session, ref);
      await proc.resume();
      await requireNotEnded(proc, ref.name);
    });
  }
}
