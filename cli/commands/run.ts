// `ww run`: run one WASI preview1 module in ww's sandboxed runtime, wasmtime-style.
// The command's work is in ../run-command.ts and its options in ../options.ts, which cli/main.ts's
// fast path also uses (without loading oclif) when the command line is one it can read on its own:
// see cli/README.md, "Start-up".
import { Args, Command, Flags } from '@oclif/core';
import { oclifFlags } from '../lib/oclif-flags.js';
import { RUN_OPTIONS } from '../options.js';
import { runCommand, parseEnv } from '../run-command.js';
import { splitRunArgv } from '../run-argv.js';

export { parseEnv };

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
    { description: 'Run on another peer of the cluster (a unique prefix of its peer ID), or on the least loaded one.', command: '<%= config.bin %> run --peer 12D3KooWQK examples/hello.wasm && <%= config.bin %> run --peer auto examples/hello.wasm' },
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

  static override flags = oclifFlags(RUN_OPTIONS);

  async run(): Promise<void> {
    const split = splitRunArgv(this.argv);
    const { args, flags } = await this.parse(Run, split.module === undefined ? split.options : [...split.options, '--', split.module]);
    await runCommand(args.module, split.guestArgs, flags);
  }
}
