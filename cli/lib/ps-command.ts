// `ww ps`'s work once its command line is read: by oclif (commands/ps.ts), or by cli/main.ts's fast
// path without loading oclif (cli/README.md, "Start-up"). No oclif here.
import { UsageError } from '../errors.js';
import type { OptionValues, PS_OPTIONS } from '../options.js';

/** ww ps's options, as read by oclif or the fast path (../options.ts, PS_OPTIONS). */
export type PsFlags = OptionValues<typeof PS_OPTIONS>;

export async function psCommand(flags: PsFlags): Promise<void> {
  if (flags.json && flags.tree) throw new UsageError('--json and --tree do not go together; --json lists every process with its ppid, from which the tree follows');
  if (flags.cluster) {
    if (flags.tree) throw new UsageError('--cluster and --tree do not go together: a tree is one node\'s (ww ps --tree, or ww ps --cluster --json for the ppids)');
    return (await import('./cluster-ps.js')).clusterPs(flags);
  }
  const [{ outputWidth, processJson, processTable }, { withNode }] = await Promise.all([import('./format.js'), import('./node-connection.js')]);
  // The node answers a page at a time (a listing of any size fits its messages): ask until the last.
  const processes = await withNode(flags.socket, async ({ admin }) => {
    const all: Awaited<ReturnType<typeof admin.ps>>['processes'] = [];
    for (let after = 0; ; ) {
      const page = await admin.ps({ after });
      all.push(...page.processes);
      if (!page.more || page.processes.length === 0) return all;
      after = page.processes[page.processes.length - 1]!.pid;
    }
  });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(processes.map(processJson), null, 2)}\n`);
    return;
  }
  process.stdout.write(processTable(processes, { nowMs: Date.now(), width: outputWidth(), tree: flags.tree }));
}
