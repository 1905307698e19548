// The fast path (cli/README.md, "Start-up"): `ww run` and `ww ps` are the commands people time, and
// loading oclif costs more than Node's own start. For their ordinary command lines, main() reads the
// options here, from the same tables the oclif commands are made from (options.ts), and calls the
// command's work directly; anything this reader does not take as certainly valid (help, an unknown or
// repeated option, a value that fails its check, a missing MODULE) goes to oclif, so usage, help and
// every error stay exactly oclif's. No oclif here. Each command's work is imported once its command
// line is read, so one command loads nothing of the other's.
import type { SplitRunArgv } from './run-argv.js';
import { PS_OPTIONS, RUN_OPTIONS, readOptions } from './options.js';

/** A command ready to run, or undefined: let oclif read this command line. */
export type FastCommand = () => Promise<void>;

/** `ww run [options] MODULE [ARGS...]`, given its split command line. */
export async function fastRun(split: SplitRunArgv): Promise<FastCommand | undefined> {
  const module = split.module;
  if (module === undefined) return undefined;
  const work = import('./run-command.js');
  work.catch(() => {}); // awaited below when used
  const flags = await readOptions(split.options, RUN_OPTIONS);
  return flags && (async () => (await work).runCommand(module, split.guestArgs, flags));
}

/** `ww ps [--json | --tree] [--socket PATH]`. */
export async function fastPs(words: readonly string[]): Promise<FastCommand | undefined> {
  const flags = await readOptions(words, PS_OPTIONS);
  return flags && (async () => (await import('./lib/ps-command.js')).psCommand(flags));
}
