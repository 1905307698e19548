// `ww ps`: every process on the node, as a table, a PID tree, or JSON (the work: ../lib/ps-command.ts).
import { Command } from '@oclif/core';
import { oclifFlags } from '../lib/oclif-flags.js';
import { PS_OPTIONS } from '../options.js';
import { psCommand } from '../lib/ps-command.js';

export default class Ps extends Command {
  static override summary = 'List the processes on the running ww node.';

  static override description = `Lists every process on the node: init (PID 1), the processes running or paused, and those that ended recently.

Columns: PID, PPID (the parent; 1 is init), STATE (running, paused, or exited: <reason>), CID (the first 12 hex digits of the module's sha256), ARGS, CREATED, CPU (time spent running), MEM (linear memory). Lines fit the terminal: the wider of ARGS and STATE's reason is cut first, with …; $COLUMNS overrides the width; nothing is cut when the output is piped.

--tree lists children under their parents, like \`ps --forest\`. --json prints an array of objects with every field in full (milliseconds to 3 decimals) (pid, ppid, cid, argv, createdAtMs, createdAt, state, fuelUsed, cpuMs, memoryBytes, reason, exitCode, peerId, links, monitors).`;

  static override examples = [
    { description: 'Every live peer\'s processes this node may see, PIDs as PEER/PID.', command: '<%= config.bin %> ps --cluster' },
    { description: 'List the processes.', command: '<%= config.bin %> ps' },
    { description: 'Show them as a PID tree.', command: '<%= config.bin %> ps --tree' },
    { description: 'PIDs of paused processes, with jq.', command: '<%= config.bin %> ps --json | jq \'.[] | select(.state == "paused") | .pid\'' },
    { description: 'Ask a node on another socket.', command: '<%= config.bin %> ps --socket /tmp/ww/node.sock' },
  ];

  static override flags = oclifFlags(PS_OPTIONS); // shared with the fast path

  async run(): Promise<void> {
    const { flags } = await this.parse(Ps);
    await psCommand(flags);
  }
}
