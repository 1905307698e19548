// Entry point behind bin/ww.js: runs oclif, and turns every failure into one `ww: ...` line on stderr
// plus an exit status (oclif's default handler prints stack traces for unexpected errors).
import { flush, run } from '@oclif/core';
import { describeFailure } from './errors.js';
import { canonicalRunArgv, splitRunArgv } from './run-argv.js';

/** Runs the ww command line and resolves to the process exit status. Never throws. */
export async function main(argv: readonly string[]): Promise<number> {
  let args = [...argv];
  // oclif looks for --help anywhere before the first `--`; keep it away from the guest's arguments.
  if (args[0] === 'run') args = ['run', ...canonicalRunArgv(splitRunArgv(args.slice(1)))];
  try {
    await run(args, import.meta.url);
    await flush();
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const exit = (err as { oclif?: { exit?: number }; code?: string }) ?? {};
    if (exit.code === 'EEXIT') return exit.oclif?.exit ?? 0; // this.exit(n): already reported
    const failure = describeFailure(err, commandName(args));
    process.stderr.write(`ww: ${failure.message}\n`);
    if (failure.stack && process.env.WW_DEBUG) process.stderr.write(`${failure.stack}\n`);
    return failure.exitCode;
  }
}

function commandName(args: readonly string[]): string | undefined {
  const first = args[0];
  return first && !first.startsWith('-') ? first : undefined;
}
