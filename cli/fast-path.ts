// The fast path (cli/README.md, "Start-up"): `ww run` and `ww ps` are the commands people time, and
// loading oclif costs more than Node's own start. For their ordinary command lines, main() reads the
// options here and calls the command's work directly; anything this reader does not take as
// certainly valid (help, an unknown or repeated option, a value that fails its check, a missing
// MODULE) goes to oclif, so usage, help and every error stay exactly oclif's. No oclif here.
import type { SplitRunArgv } from './run-argv.js';
import { parseEnv, parseListen, parsePreopens, runCommand, type RunFlags } from './run-command.js';
import { psCommand, type PsFlags } from './lib/ps-command.js';
import { parseCount, parseDuration, parseSize } from './units.js';

/** A command ready to run, or undefined: let oclif read this command line. */
export type FastCommand = () => Promise<void>;

/** The options of the fast commands: name to kind (`value`, `values` for repeatable, `switch`). */
type Kind = 'value' | 'values' | 'switch';
const RUN_OPTIONS: Record<string, Kind> = {
  dir: 'values',
  env: 'values',
  listen: 'values',
  tcplisten: 'values', // --listen's alias
  'max-memory': 'value',
  timeout: 'value',
  fuel: 'value',
  node: 'switch',
  detach: 'switch',
  socket: 'value',
};
const PS_OPTIONS: Record<string, Kind> = { json: 'switch', tree: 'switch', socket: 'value' };

/** `--name value`, `--name=value`, `--switch`; undefined for anything else or a repeat of a single option. */
function readOptions(words: readonly string[], known: Record<string, Kind>): Record<string, string | string[] | true> | undefined {
  const out: Record<string, string | string[] | true> = {};
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith('--')) return undefined;
    const eq = word.indexOf('=');
    let name = eq < 0 ? word.slice(2) : word.slice(2, eq);
    const kind = Object.hasOwn(known, name) ? known[name] : undefined;
    if (kind === undefined) return undefined;
    if (name === 'tcplisten') name = 'listen';
    if (kind === 'switch') {
      if (eq >= 0 || out[name] !== undefined) return undefined;
      out[name] = true;
      continue;
    }
    const value = eq >= 0 ? word.slice(eq + 1) : words[++i];
    // A value that looks like an option is oclif's to judge ("expects a value", or taken as is).
    if (value === undefined || value.startsWith('-')) return undefined;
    if (kind === 'values') out[name] = [...((out[name] as string[] | undefined) ?? []), value];
    else if (out[name] !== undefined) return undefined;
    else out[name] = value;
  }
  return out;
}

async function checks(run: () => unknown): Promise<boolean> {
  try {
    await run();
    return true;
  } catch {
    return false;
  }
}

/** `ww run [options] MODULE [ARGS...]`, given its split command line. */
export async function fastRun(split: SplitRunArgv): Promise<FastCommand | undefined> {
  const module = split.module;
  if (module === undefined) return undefined;
  const options = readOptions(split.options, RUN_OPTIONS);
  if (!options) return undefined;
  const flags = options as RunFlags;
  // Each value is checked as oclif checks it (commands/run.ts, `parse: checkedBy(...)`): one that
  // fails goes to oclif, which reports it (and picks which one, when several fail).
  const valid = await Promise.all([
    flags['max-memory'] === undefined || checks(() => parseSize('--max-memory', flags['max-memory']!)),
    flags.timeout === undefined || checks(() => parseDuration('--timeout', flags.timeout!)),
    flags.fuel === undefined || checks(() => parseCount('--fuel', flags.fuel!)),
    ...(flags.env ?? []).map((entry) => checks(() => parseEnv([entry]))),
    ...(flags.dir ?? []).map((entry) => checks(() => parsePreopens([entry]))),
    ...(flags.listen ?? []).map((entry) => checks(() => parseListen([entry]))),
  ]);
  if (!valid.every(Boolean)) return undefined;
  if (flags.socket === undefined && process.env.WW_SOCKET) flags.socket = process.env.WW_SOCKET; // the flag's `env`
  return () => runCommand(module, split.guestArgs, flags);
}

/** `ww ps [--json | --tree] [--socket PATH]`. */
export function fastPs(words: readonly string[]): FastCommand | undefined {
  const options = readOptions(words, PS_OPTIONS);
  if (!options) return undefined;
  const flags = options as PsFlags;
  if (flags.socket === undefined && process.env.WW_SOCKET) flags.socket = process.env.WW_SOCKET;
  return () => psCommand(flags);
}
