// `ww start`: run a ww node in the foreground until SIGINT or SIGTERM.
import { Command, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { InputError } from '../errors.js';
import { checkedBy, formatSize, parseCount, parseSize } from '../units.js';
import { DEFAULT_NODE_MEMORY_BYTES, DEFAULT_QUOTAS } from '../../src/executor/quotas.js';
import { resolveSocketPath } from '../lib/node-args.js';
import { oneLine } from '../text.js';

/** A per-principal quota: a positive count, checked as it is read. */
function quotaFlag(flag: string, description: string) {
  return Flags.string({ helpValue: 'N', parse: checkedBy((text) => parseCount(flag, text)), description });
}

export default class Start extends Command {
  static override summary = 'Run a ww node in the foreground.';

  static override description = `Starts a node that serves its Executor on a unix socket (mode 0600, in a directory only you can enter): only your own uid and root can reach it, and whoever does is the node's owner, with power over every process. There is no network face: nodes will reach each other only over the cluster's authenticated channel. The other commands (ww run, ps, kill, pause, resume, wait, info) talk to it through the socket.

The owner may use at most --max-processes live processes, --max-spawning spawns in progress, --max-connections connections and --max-memory bytes of linear memory (all its processes together) at once; past them a spawn is refused with a quota error, a memory.grow fails as it would at the process's own --max-memory, and a connection is closed.

It logs one line per process start and end on stderr. On SIGINT (Ctrl-C) or SIGTERM it ends every process with reason \`killed\`, says how many, and exits 0. A second node on a socket where one already answers refuses to start.

Exit status: 0 stopped by SIGINT/SIGTERM; 1 could not start (another node on the socket, the socket in use, its directory open to others or not writable); 2 bad command line.`;

  static override examples = [
    { description: 'Start a node on the default socket ($XDG_RUNTIME_DIR/ww/node.sock, else ~/.ww/node.sock).', command: '<%= config.bin %> start' },
    { description: 'Start one on its own socket (then, in another terminal: ww ps --socket /tmp/ww/node.sock).', command: '<%= config.bin %> start --socket /tmp/ww/node.sock' },
    { description: 'Allow at most 100 live processes at once.', command: '<%= config.bin %> start --max-processes 100' },
  ];

  static override flags = {
    socket: Flags.string({
      helpValue: 'PATH',
      env: 'WW_SOCKET',
      description: 'the unix socket to serve on (default: $XDG_RUNTIME_DIR/ww/node.sock, else ~/.ww/node.sock; or $WW_SOCKET)',
    }),
    'max-processes': quotaFlag('--max-processes', `live processes at once (default ${DEFAULT_QUOTAS.processes})`),
    'max-spawning': quotaFlag('--max-spawning', `spawns being prepared at once (default ${DEFAULT_QUOTAS.spawning})`),
    'max-connections': quotaFlag('--max-connections', `open connections at once (default ${DEFAULT_QUOTAS.connections})`),
    'max-memory': Flags.string({
      helpValue: 'SIZE',
      parse: checkedBy((text) => parseSize('--max-memory', text)),
      description: `linear memory of all live processes together, e.g. 8G (default ${formatSize(DEFAULT_QUOTAS.memoryBytes)}: half of this machine's)`,
    }),
    'node-memory': Flags.string({
      helpValue: 'SIZE',
      parse: checkedBy((text) => parseSize('--node-memory', text)),
      description: `linear memory of every client's processes together (default ${formatSize(DEFAULT_NODE_MEMORY_BYTES)}: three quarters of this machine's); past it spawns are refused, never OOM-killed`,
    }),
    'data-dir': Flags.string({ helpValue: 'DIR', description: 'where the node keeps its state (its peer ID, the module cache) across restarts; default: memory only' }),
    workers: Flags.string({
      options: ['dedicated', 'shared'],
      default: 'shared',
      description: 'shared: one thread per core hosts any number of processes, a waiting one costing memory only (a new module runs on a thread of its own while it is made suspendable, which takes seconds); dedicated: a thread per running process',
    }),
    'guest-compiler': Flags.string({
      options: ['optimizing', 'tiered'],
      default: 'optimizing',
      description: "optimizing: V8 compiles guest code with its optimizing compiler only (a module's first run pays more, every run after it and every long loop runs up to 2x faster); tiered: V8's default, baseline code first (for nodes that mostly run each module once)",
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Start);
    const socketPath = await resolveSocketPath(flags.socket);
    const { startNode, NodeError } = await import('../../src/node/index.js');

    const log = (line: string): void => {
      process.stderr.write(line.startsWith('ww: ') ? `${line}\n` : `ww: ${line}\n`);
    };
    const node = await startNode({
      socketPath,
      quotas: {
        ...(flags['max-processes'] !== undefined ? { processes: parseCount('--max-processes', flags['max-processes']) } : {}),
        ...(flags['max-spawning'] !== undefined ? { spawning: parseCount('--max-spawning', flags['max-spawning']) } : {}),
        ...(flags['max-connections'] !== undefined ? { connections: parseCount('--max-connections', flags['max-connections']) } : {}),
        ...(flags['max-memory'] !== undefined ? { memoryBytes: parseSize('--max-memory', flags['max-memory']) } : {}),
      },
      ...(flags['node-memory'] !== undefined ? { memoryBytes: parseSize('--node-memory', flags['node-memory']) } : {}),
      dataDir: flags['data-dir'] !== undefined ? resolve(flags['data-dir']) : undefined,
      workers: flags.workers as 'dedicated' | 'shared',
      guestCompiler: flags['guest-compiler'] as 'optimizing' | 'tiered',
      log,
    }).catch((err: unknown) => {
      // startNode's refusals name the socket and what to do (another node there, a file in the way).
      throw err instanceof NodeError ? new InputError(oneLine(err)) : err;
    });
    log(`node listening on ${node.socketPath} (os pid ${process.pid}); Ctrl-C stops it`);

    const signal = await new Promise<NodeJS.Signals>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    // A second signal while stopping: give up waiting and leave now.
    const forceExit = (): never => process.exit(1);
    process.once('SIGINT', forceExit);
    process.once('SIGTERM', forceExit);

    const live = node.executor.table.liveCount;
    log(`stopping on ${signal}: killing ${live} process${live === 1 ? '' : 'es'}`);
    await node.close(); // logs `node stopped; N processes ended killed` once they have
    process.exitCode = 0;
  }
}
