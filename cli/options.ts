// The options of `ww run` and `ww ps`, one table each, and the one reader of them that needs no oclif.
// The same tables make the oclif commands' flags (lib/oclif-flags.ts) and feed the fast path
// (fast-path.ts), which reads these command lines without loading oclif (cli/README.md, "Start-up"):
// an option is added, renamed or given a check here, once, and both paths see it.
import { UsageError } from './errors.js';
import { parseCount, parseDuration, parseSize } from './units.js';

// `ww run`'s own checks live with its work; loaded only when a command line has such an option, so
// that `ww ps` does not load `ww run`'s work.
const runCommand = () => import('./run-command.js');

export interface OptionSpec {
  /** `value`: one value (a second is oclif's to refuse); `values`: repeatable; `switch`: no value. */
  readonly kind: 'value' | 'values' | 'switch';
  readonly description: string;
  /** What the value looks like in help (`SIZE`). */
  readonly helpValue?: string;
  /** Other names of the same option (`--tcplisten` for `--listen`). */
  readonly aliases?: readonly string[];
  /** An environment variable that gives the value (kind `value`) when the option is not on the command line. */
  readonly env?: string;
  /** Checks one value as it is read; throws UsageError (oclif reports it, naming the option). */
  readonly check?: (text: string) => unknown;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** `--socket`, which every node command takes. */
export const SOCKET_OPTION = {
  kind: 'value',
  helpValue: 'PATH',
  env: 'WW_SOCKET',
  description: "the node's unix socket (default: $XDG_RUNTIME_DIR/ww/node.sock, else ~/.ww/node.sock; or $WW_SOCKET)",
} as const satisfies OptionSpec;

/** `--guest-compiler`'s value (RuntimeOptions.guestCompiler). */
export function parseGuestCompiler(text: string): 'optimizing' | 'tiered' {
  if (text === 'optimizing' || text === 'tiered') return text;
  throw new UsageError(`--guest-compiler must be optimizing or tiered, not '${text}'`);
}

export const RUN_OPTIONS = {
  dir: {
    kind: 'values',
    helpValue: 'HOST[::GUEST[::ro]]',
    check: async (entry) => (await runCommand()).parsePreopens([entry]),
    description:
      'pre-open the host directory HOST as GUEST inside the sandbox (default: the same path); ::ro makes it read-only (the guest can read and change nothing there; ::rw, the default, is read-write); repeatable',
  },
  listen: {
    kind: 'values',
    aliases: ['tcplisten'],
    helpValue: 'HOST:PORT',
    check: async (entry) => (await runCommand()).parseListen([entry]),
    description: 'give the guest a TCP socket listening on HOST:PORT at fd 3 (the next at fd 4, ...); port 0 picks a free one; repeatable; --tcplisten is a synonym',
  },
  env: {
    kind: 'values',
    helpValue: 'NAME=VALUE',
    check: async (entry) => (await runCommand()).parseEnv([entry]),
    description: 'set an environment variable for the guest; repeatable; the guest sees no other variables',
  },
  'max-memory': {
    kind: 'value',
    helpValue: 'SIZE',
    check: (text) => parseSize('--max-memory', text),
    description: "cap the guest's linear memory (e.g. 64k, 16M, 1G); growing past it fails, and a trap after that exits 137",
  },
  timeout: {
    kind: 'value',
    helpValue: 'DURATION',
    check: (text) => parseDuration('--timeout', text),
    description: 'end the guest after this much running time (e.g. 500ms, 2s, 1m); exits 137, "limit exceeded: wall"',
  },
  fuel: {
    kind: 'value',
    helpValue: 'N',
    check: (text) => parseCount('--fuel', text),
    description: 'end the guest after N instrumentation ticks (loop iterations and calls); exits 137, "limit exceeded: cpu"',
  },
  'guest-compiler': {
    kind: 'value',
    helpValue: 'optimizing|tiered',
    check: (text) => parseGuestCompiler(text),
    description:
      "how V8 compiles the guest, for a run here (a node's is set by ww start --guest-compiler): tiered (the default) starts at once in baseline code; optimizing compiles with V8's optimizing compiler only, slower to start, up to 2-3x faster for a guest that computes for long",
  },
  node: {
    kind: 'switch',
    description: 'run on the ww node behind --socket, and fail if none is running (default: on the node when one answers, else here)',
  },
  detach: { kind: 'switch', description: 'run on the node in the background: print the PID and return at once (implies --node)' },
  peer: {
    kind: 'value',
    helpValue: 'PEERID|auto',
    check: (text) => checkPeerOption(text),
    description:
      "run on another peer of the node's cluster, through the node (implies --node): its peer ID or a unique prefix of one (`ww cluster ls`), or auto for the least loaded live peer (fewest running and queued, then most free memory; this node when it is that one). There it runs as this node's principal: what that peer's operator grants this node (by default no --dir, no --listen)",
  },
  socket: SOCKET_OPTION,
} as const satisfies OptionTable;

/** --peer: auto, or something that can start a peer ID (base58). */
function checkPeerOption(text: string): string {
  if (text === 'auto' || /^[1-9A-HJ-NP-Za-km-z]+$/.test(text)) return text;
  throw new UsageError(`--peer '${text}' is not a peer ID: write a peer ID or a unique prefix of one (\`ww cluster ls\` lists them), or auto`);
}

export const PS_OPTIONS = {
  json: { kind: 'switch', description: 'print a JSON array with every field of every process' },
  tree: { kind: 'switch', description: 'show the PID tree: children indented under their parents' },
  cluster: {
    kind: 'switch',
    description:
      "every live peer's processes that this node may see: its own (all), and on each other peer those this node spawned there; PIDs as PEER/PID; a peer that does not answer is one line, not a failure",
  },
  socket: SOCKET_OPTION,
} as const satisfies OptionTable;

/** What a table's options read as: a string, strings, or true, by kind (absent when not given). */
export type OptionValues<T extends OptionTable> = {
  -readonly [K in keyof T]?: T[K]['kind'] extends 'switch' ? boolean : T[K]['kind'] extends 'values' ? string[] : string;
};

/** Every spelling of the options that take a value, as written on a command line (`--dir`, `--tcplisten`). */
export function valueOptionWords(table: OptionTable): Set<string> {
  const words = new Set<string>();
  for (const [name, spec] of Object.entries(table)) {
    if (spec.kind === 'switch') continue;
    for (const spelling of [name, ...(spec.aliases ?? [])]) words.add(`--${spelling}`);
  }
  return words;
}

/**
 * Reads `words` as options of `table` when they are certainly valid, as oclif would read them; else
 * undefined, and oclif reads them (and reports what is wrong, with its own words and exit status).
 * Taken: `--name value`, `--name=value`, `--switch`, each value passing its check, env fallbacks.
 * Left to oclif: anything else (help, short or unknown options, a repeated single option, a value
 * that is empty, starts with `-` or fails its check, a switch given a value).
 */
export async function readOptions<T extends OptionTable>(words: readonly string[], table: T): Promise<OptionValues<T> | undefined> {
  const canonical = new Map<string, string>();
  for (const [name, spec] of Object.entries(table)) for (const spelling of [name, ...(spec.aliases ?? [])]) canonical.set(spelling, name);
  const out: Record<string, string | string[] | boolean> = {};
  const checks: Promise<boolean>[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith('--')) return undefined;
    const eq = word.indexOf('=');
    const name = canonical.get(eq < 0 ? word.slice(2) : word.slice(2, eq));
    if (name === undefined) return undefined;
    const spec = table[name]!;
    if (spec.kind === 'switch') {
      if (eq >= 0 || out[name] !== undefined) return undefined;
      out[name] = true;
      continue;
    }
    const value = eq >= 0 ? word.slice(eq + 1) : words[++i];
    if (value === undefined || value === '' || value.startsWith('-')) return undefined;
    if (spec.kind === 'value' && out[name] !== undefined) return undefined;
    out[name] = spec.kind === 'values' ? [...((out[name] as string[] | undefined) ?? []), value] : value;
    if (spec.check) checks.push(attempt(spec.check, value));
  }
  for (const [name, spec] of Object.entries(table)) {
    const fromEnv = spec.env === undefined ? undefined : process.env[spec.env];
    if (out[name] !== undefined || !fromEnv) continue;
    out[name] = fromEnv;
    if (spec.check) checks.push(attempt(spec.check, fromEnv));
  }
  // A value that fails its check goes to oclif, which reports it (and picks which, when several fail).
  return (await Promise.all(checks)).every(Boolean) ? (out as OptionValues<T>) : undefined;
}

/** Whether `check(text)` passes, thrown synchronously or rejected alike. */
async function attempt(check: (text: string) => unknown, text: string): Promise<boolean> {
  try {
    await check(text);
    return true;
  } catch {
    return false;
  }
}
