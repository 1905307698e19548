// `ww wait PID`: block until a process ends; exit with its status.
import { Args, Command } from '@oclif/core';
import { reportEnd } from '../lib/exit-reason.js';
import { parseProcessRef, PROCESS_ARG_DESCRIPTION, socketFlag } from '../lib/node-args.js';

export default class Wait extends Command {
  static override summary = 'Wait for a process to end and exit with its status.';

  static override description = `Returns when PID ends (at once if it already has) and exits with its status, as a shell sees it: the guest's exit code, 134 for a trap, 137 when it was killed, hit a limit, or a linked process ended abnormally. For an abnormal end it prints the reason on stderr (\`ww: process 7 ended: killed\`). Interrupting \`ww wait\` does not affect the process.

Exit status: the process's; 1 no such process, or no node; 2 bad command line.`;

  static override examples = [
    { description: 'Wait for a process on another peer.', command: 'ref=$(<%= config.bin %> run --peer auto --detach examples/hello.wasm) && <%= config.bin %> wait "$ref"' },
    { description: 'Run a guest detached, then wait for it.', command: 'pid=$(<%= config.bin %> run --detach examples/cpu-loop/cpu-loop.wasm -- 100000000) && <%= config.bin %> wait "$pid"' },
  ];

  static override args = { pid: Args.string({ description: PROCESS_ARG_DESCRIPTION, required: true }) };

  static override flags = { socket: socketFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Wait);
    const ref = parseProcessRef(args.pid);
    const [{ endOrPeerLost, reasonFromWire }, { processFor, withNode }] = await Promise.all([import('../../src/executor/wire.js'), import('../lib/node-connection.js')]);
    const end = await withNode(flags.socket, async (session) => {
      const waited = (await processFor(session, ref)).wait().then((r) => r.status);
      // Another peer's process: losing that peer while waiting is its end (peer-lost), not a failure of ww wait.
      if (ref.peer !== undefined) return endOrPeerLost(waited);
      const status = await waited;
      return { code: status.code, reason: reasonFromWire(status.reason) };
    });
    process.exitCode = await reportEnd(end, { subject: `process ${ref.name}` }, (line) => process.stderr.write(`${line}\n`));
  }
}
