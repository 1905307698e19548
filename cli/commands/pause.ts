// `ww pause PID`: freeze a process where it is (cooperatively first, then preemptively).
import { Args, Command } from '@oclif/core';
import { parseProcessRef, PROCESS_ARG_DESCRIPTION, socketFlag } from '../lib/node-args.js';

export default class Pause extends Command {
  static override summary = 'Pause a process.';

  static override description = `Tells the guest it is being paused, then after a grace period (100 ms) freezes it preemptively. Returns once it is frozen; \`ww ps\` then shows it as paused. Its wall-time limit does not run while it is paused. \`ww resume PID\` continues it where it stopped; \`ww kill PID\` ends it.

Exit status: 0 paused; 1 no such process, it has ended, or no node; 2 bad command line.`;

  static override examples = [
    { description: 'Pause process 4 on another peer.', command: '<%= config.bin %> pause 12D3KooWQK/4' },
    { description: 'Pause process 7, then continue it.', command: '<%= config.bin %> pause 7 && <%= config.bin %> resume 7' },
  ];

  static override args = { pid: Args.string({ description: PROCESS_ARG_DESCRIPTION, required: true }) };

  static override flags = { socket: socketFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Pause);
    const ref = parseProcessRef(args.pid);
    const { processFor, requireNotEnded, withNode } = await import('../lib/node-connection.js');
    await withNode(flags.socket, async (session) => {
      const proc = await processFor(session, ref);
      await proc.pause();
      await requireNotEnded(proc, ref.name);
    });
  }
}
