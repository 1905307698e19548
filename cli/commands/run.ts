// `ww run`: run one WASI preview1 module in ww's sandboxed runtime, wasmtime-style.
// The runtime (and binaryen behind it) is imported lazily so `ww --help` stays fast.
import { Args, Command, Flags } from '@oclif/core';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Limits, Preopen } from '../../src/wasm/types.js';
import type { ListenAddress } from '../../src/wasm/sockets/listen.js';
import type { EndStatus } from '../../src/executor/table.js';
import { InputError, UsageError } from '../errors.js';
import { resolveSocketPath, socketFlag } from '../lib/node-args.js';
import { splitRunArgv } from '../run-argv.js';
import { checkedBy, parseCount, parseDuration, parseSize } from '../units.js';
import { reportEnd } from '../lib/exit-reason.js';
import { refusal } from '../lib/executor-error.js';
import { oneLine } from '../text.js';

export default class Run extends Command {
  static override summary = 'Run a WebAssembly (WASI preview1) module in the sandbox.';

  static override description = `Runs MODULE as a process, the way \`wasmtime run\` does. The guest sees only what you give it: its arguments (argv[0] is MODULE's file name), the --env variables (no host variable leaks in), the directories pre-opened with --dir, the TCP sockets pre-opened with --listen, and stdin, stdout and stderr.

--listen HOST:PORT opens a listening TCP socket before the guest starts and gives it to the guest at fd 3 (the next --listen at fd 4, ...; --dir directories come after them), as wazero's sock.WithTCPListener and wasmtime's --tcplisten (accepted as a synonym) do. The guest accepts connections on it with sock_accept (Go: net.FileListener(os.NewFile(3, ""))). Port 0 picks a free port and prints "ww: listening on HOST:PORT (fd N)" on stderr. The sockets close when the guest ends. On a node, the node opens them (HOST is on the node's machine).

On a node (--node, --detach, or a node answering on --socket) the guest runs there and reads this process's stdin as it goes: nothing is read before the guest reads, so a guest that never reads leaves stdin alone, and input of any size streams through (a terminal's a line at a time). The guest ends with ww run: on SIGINT, SIGTERM or SIGHUP ww kills it, and if ww itself is killed the node does. --detach leaves it running on the node, with an empty stdin.

A guest that imports the \`ww\` host module (guest-sdk/ABI.md) can spawn children, talk over channels and use the capability store: on a node, or without one in an executor private to this run (its children end with it).

ww's options go before MODULE. Everything after MODULE (after an optional \`--\`) is passed to the guest unchanged, even words such as --help. MODULE may be \`-\` to read the module from stdin; the guest's stdin is then empty.

SIZE is bytes, or a number with k, M or G (KiB, MiB, GiB; any case; powers of 1024). DURATION is milliseconds, or a number with ms, s, m or h.

--fuel and --max-memory need the module instrumented (once per module; the result is cached in $WW_CACHE_DIR, default ~/.cache/ww).

Exit status:
  N    the guest's exit code (0 when _start returns, N from proc_exit(N))
  134  the guest trapped; stderr names the trap and the function
  137  a limit was exceeded (stderr names cpu, memory or wall), or killed
  130  interrupted by SIGINT (143: SIGTERM, 129: SIGHUP); the guest was killed
  2    bad command line: unknown option, bad value, missing file or dir, a --listen address that cannot be bound (in use, not this machine's)
  1    MODULE is not a valid WASI module that ww can run`;

  static override usage = [
    'run [--dir HOST[::GUEST[::ro]]]... [--env NAME=VALUE]... [--listen HOST:PORT]... [--max-memory SIZE] [--timeout DURATION] [--fuel N] [--node | --detach] [--socket PATH] MODULE [-- ARGS...]',
  ];

  static override examples = [
    { description: 'Run a module with arguments.', command: '<%= config.bin %> run examples/hello.wasm -- one two' },
    {
      description: 'Pre-open a host directory under the guest path /data and count words in it.',
      command: '<%= config.bin %> run --dir examples/wordcount/data::/data examples/wordcount/wordcount.wasm -- /data',
    },
    {
      description: 'The same, read-only: the guest can read /data and change nothing in it.',
      command: '<%= config.bin %> run --dir examples/wordcount/data::/data::ro examples/wordcount/wordcount.wasm -- /data',
    },
    { description: 'Give the guest two environment variables (and nothing else).', command: '<%= config.bin %> run --env NAME=ww --env MODE=test examples/hello-as/hello.wasm' },
    {
      description: 'Stop a CPU-bound guest after 1,000,000 ticks of fuel (exit 137, "limit exceeded: cpu").',
      command: '<%= config.bin %> run --fuel 1000000 examples/cpu-loop/cpu-loop.wasm -- 1000000000',
    },
    { description: 'Cap memory at 16 MiB and running time at 2 seconds.', command: '<%= config.bin %> run --max-memory 16M --timeout 2s examples/cpu-loop/cpu-loop.wasm -- 100000' },
    { description: 'Read the module from stdin.', command: 'cat examples/hello.wasm | <%= config.bin %> run -' },
    {
      description: 'Serve TCP on port 7000 with the Go echo server (it accepts on fd 3).',
      command: '<%= config.bin %> run --listen 127.0.0.1:7000 examples/echo-go/echo.wasm',
    },
  ];

  static override args = {
    module: Args.string({
      description: 'the .wasm file to run, or - to read it from stdin',
      required: true,
      ignoreStdin: true, // MODULE missing is an error, not a cue to read stdin
    }),
  };

  static override flags = {
    dir: Flags.string({
      multiple: true,
      multipleNonGreedy: true,
      helpValue: 'HOST[::GUEST[::ro]]',
      parse: checkedBy((entry) => parsePreopens([entry])),
      description:
        'pre-open the host directory HOST as GUEST inside the sandbox (default: the same path); ::ro makes it read-only (the guest can read and change nothing there; ::rw, the default, is read-write); repeatable',
    }),
    listen: Flags.string({
      multiple: true,
      multipleNonGreedy: true,
      aliases: ['tcplisten'],
      helpValue: 'HOST:PORT',
      parse: checkedBy((entry) => parseListen([entry])),
      description: 'give the guest a TCP socket listening on HOST:PORT at fd 3 (the next at fd 4, ...); port 0 picks a free one; repeatable; --tcplisten is a synonym',
    }),
    env: Flags.string({
      multiple: true,
      multipleNonGreedy: true,
      helpValue: 'NAME=VALUE',
      parse: checkedBy((entry) => parseEnv([entry])),
      description: 'set an environment variable for the guest; repeatable; the guest sees no other variables',
    }),
    'max-memory': Flags.string({
      helpValue: 'SIZE',
      parse: checkedBy((text) => parseSize('--max-memory', text)),
      description: 'cap the guest\'s linear memory (e.g. 64k, 16M, 1G); growing past it fails, and a trap after that exits 137',
    }),
    timeout: Flags.string({
      helpValue: 'DURATION',
      parse: checkedBy((text) => parseDuration('--timeout', text)),
      description: 'end the guest after this much running time (e.g. 500ms, 2s, 1m); exits 137, "limit exceeded: wall"',
    }),
    fuel: Flags.string({
      helpValue: 'N',
      parse: checkedBy((text) => parseCount('--fuel', text)),
      description: 'end the guest after N instrumentation ticks (loop iterations and calls); exits 137, "limit exceeded: cpu"',
    }),
    node: Flags.boolean({
      description: 'run on the ww node behind --socket, and fail if none is running (default: on the node when one answers, else here)',
    }),
    detach: Flags.boolean({ description: 'run on the node in the background: print the PID and return at once (implies --node)' }),
    socket: socketFlag,
  };

  async run(): Promise<void> {
    const split = splitRunArgv(this.argv);
    const { args, flags } = await this.parse(Run, split.module === undefined ? split.options : [...split.options, '--', split.module]);

    const limits = parseLimits(flags);
    const env = parseEnv(flags.env ?? []);
    const preopens = await parsePreopens(flags.dir ?? []);
    const listen = await parseListen(flags.listen ?? []);
    const fromStdin = args.module === '-';
    const bytes = fromStdin ? await readModuleFromStdin() : await readModuleFile(args.module);

    // A running node takes the guest (--node/--detach insist on one); else it runs in this process.
    const socketPath = await resolveSocketPath(flags.socket);
    // No socket file, no node: skip loading the RPC layer at all (a local run starts faster).
    const maybeNode = flags.node || flags.detach || existsSync(socketPath);
    const { nodeIsListening, runOnNode } = maybeNode ? await import('../lib/run-on-node.js') : { nodeIsListening: undefined, runOnNode: undefined };
    if (runOnNode && (flags.node || flags.detach || (await nodeIsListening(socketPath)))) {
      process.exitCode = await runOnNode({
        module: bytes,
        moduleName: describeModule(args.module),
        argv: [fromStdin ? '-' : basename(args.module), ...split.guestArgs],
        env,
        dirs: preopens,
        limits,
        listen: (flags.listen ?? []).map((entry, i) => ({ address: entry, port: listen[i]!.port })),
        // Streamed as the guest reads (a pipe, a file, this terminal); a detached guest outlives this
        // process, so it gets none.
        stdin: fromStdin || flags.detach ? new Uint8Array(0) : process.stdin,
        detach: flags.detach,
        socketPath,
        stdout: process.stdout,
        stderr: process.stderr,
      });
      return;
    }

    // No node: the guest runs in this process, in a private executor, so a guest that imports the
    // `ww` host module can still spawn children, use channels and the capability store.
    const { runLocal, ExecutorError } = await import('../../src/executor/index.js');
    const argv = [fromStdin ? '-' : basename(args.module), ...split.guestArgs];
    const run = await runLocal({
      module: bytes,
      argv,
      env,
      preopens,
      limits,
      listen,
      stdin: fromStdin ? new Uint8Array(0) : 'inherit',
      stdout: 'inherit',
      stderr: 'inherit',
      runtimeOptions: { cacheDir: cacheDir() },
    }).catch((err: unknown) => {
      throw err instanceof ExecutorError ? refusal(err, { module: describeModule(args.module) }) : err;
    });
    run.listening.forEach((address, i) => {
      if (listen[i]!.port === 0) process.stderr.write(`ww: listening on ${address} (fd ${3 + i})\n`);
    });
    let status: EndStatus;
    let signal: NodeJS.Signals | undefined;
    const onSignal = (received: NodeJS.Signals) => {
      signal = received;
      // Ending now: after a hangup the terminal may be gone, and a failed write must not crash ww first.
      for (const out of [process.stdout, process.stderr]) out.on('error', () => {});
      run.kill();
    };
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    for (const name of signals) process.once(name, onSignal);
    try {
      status = await run.wait();
    } finally {
      for (const name of signals) process.off(name, onSignal);
      await run.close();
    }

    process.exitCode = await reportEnd(status, { limits, signal }, (line) => process.stderr.write(`${line}\n`));
  }
}

/** Where instrumented modules are kept across runs: $WW_CACHE_DIR, else the XDG cache directory. */
function cacheDir(): string | undefined {
  if (process.env.WW_CACHE_DIR) return process.env.WW_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : undefined);
  return base ? join(base, 'ww') : undefined;
}

function parseLimits(flags: { 'max-memory'?: string; timeout?: string; fuel?: string }): Limits {
  const limits: Limits = {};
  if (flags['max-memory'] !== undefined) limits.maxMemoryBytes = parseSize('--max-memory', flags['max-memory']);
  if (flags.timeout !== undefined) limits.timeoutMs = parseDuration('--timeout', flags.timeout);
  if (flags.fuel !== undefined) limits.fuel = parseCount('--fuel', flags.fuel);
  return limits;
}

/** `--env NAME=VALUE`, repeatable; a later NAME wins. */
export function parseEnv(entries: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq < 0) {
      // A bare variable name: the user probably expected it to be passed through from the host.
      const hint = /^[A-Za-z_]\w*$/.test(entry) ? ` (ww passes no host variables; to pass one, write --env ${entry}="$${entry}")` : '';
      throw new UsageError(`--env '${entry}' must be NAME=VALUE${hint}`);
    }
    if (eq === 0) throw new UsageError(`--env '${entry}' has an empty NAME; write NAME=VALUE`);
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** `--listen HOST:PORT`, repeatable, in order (fd 3, 4, ...). */
async function parseListen(entries: readonly string[]): Promise<ListenAddress[]> {
  if (entries.length === 0) return [];
  const { parseListenAddress } = await import('../../src/wasm/sockets/index.js');
  return entries.map((entry) => {
    try {
      return parseListenAddress(entry);
    } catch (err) {
      throw new UsageError(`--listen: ${(err as Error).message}`);
    }
  });
}

/**
 * `--dir HOST[::GUEST[::MODE]]`: HOST must be an existing directory; GUEST defaults to HOST as written;
 * MODE is ro (read-only) or rw (read-write, the default), the spelling wasmtime's maintainers proposed
 * for `wasmtime run --dir` (wasmtime issue #9608).
 */
async function parsePreopens(entries: readonly string[]): Promise<Preopen[]> {
  const preopens: Preopen[] = [];
  for (const entry of entries) {
    const [host = '', guest = host, ...rest] = entry.split('::');
    const mode = rest.length === 0 ? 'rw' : rest.join('::');
    if (host === '') throw new UsageError(`--dir '${entry}' has an empty host path; write HOST or HOST::GUEST`);
    if (guest === '') throw new UsageError(`--dir '${entry}' has an empty guest path; write HOST or HOST::GUEST`);
    if (mode !== 'ro' && mode !== 'rw') {
      throw new UsageError(`--dir '${entry}' has an unknown mode '${mode}'; write HOST::GUEST::ro (read-only) or HOST::GUEST::rw (read-write, the default)`);
    }
    const info = await stat(host).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`--dir '${host}': ${fsReason(err)}`);
    });
    if (!info.isDirectory()) throw new UsageError(`--dir '${host}' is not a directory`);
    preopens.push({ hostPath: resolve(host), guestPath: guest, readOnly: mode === 'ro' });
  }
  return preopens;
}

async function readAllStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

async function readModuleFile(path: string): Promise<Uint8Array> {
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read module '${path}': ${fsReason(err)}`);
  });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

async function readModuleFromStdin(): Promise<Uint8Array> {
  if (process.stdin.isTTY) throw new UsageError("MODULE is '-' but stdin is a terminal; pipe the module in (cat x.wasm | ww run -)");
  const bytes = await readAllStdin();
  if (bytes.length === 0) throw new InputError('no module on stdin (MODULE is -, but stdin was empty)');
  return bytes;
}

function fsReason(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    default:
      return oneLine(err.message);
  }
}

function describeModule(module: string): string {
  return module === '-' ? 'module from stdin' : `module '${module}'`;
}
