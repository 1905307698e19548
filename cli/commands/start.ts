// `ww start`: run a ww node in the foreground until SIGINT or SIGTERM.
import { Command, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { resolveSocketPath } from '../lib/node-args.js';
import { oneLine } from '../text.js';

export default class Start extends Command {
  static override summary = 'Run a ww node in the foreground.';

  static override description = `Starts a node that serves its Executor on a unix socket (mode 0600) and, only with --listen, on TCP. The other commands (ww run, ps, kill, pause, resume, wait, info) talk to it through the socket.

It logs one line per process start and end on stderr. On SIGINT (Ctrl-C) or SIGTERM it ends every process with reason \`killed\`, says how many, and exits 0. A second node on a socket where one already answers refuses to start.

Exit status: 0 stopped by SIGINT/SIGTERM; 1 could not start (another node on the socket, the socket or address in use, a directory not writable); 2 bad command line.`;

  static override examples = [
    { description: 'Start a node on the default socket ($XDG_RUNTIME_DIR/ww/node.sock, else ~/.ww/node.sock).', command: '<%= config.bin %> start' },
    { description: 'Start one on its own socket (then, in another terminal: ww ps --socket /tmp/ww/node.sock).', command: '<%= config.bin %> start --socket /tmp/ww/node.sock' },
    { description: 'Also accept RPC connections on TCP (localhost only here).', command: '<%= config.bin %> start --listen 127.0.0.1:7070' },
  ];

  static override flags = {
    socket: Flags.string({
      helpValue: 'PATH',
      env: 'WW_SOCKET',
      description: 'the unix socket to serve on (default: $XDG_RUNTIME_DIR/ww/node.sock, else ~/.ww/node.sock; or $WW_SOCKET)',
    }),
    listen: Flags.string({ helpValue: 'HOST:PORT', description: 'also serve on TCP at HOST:PORT (port 0 picks a free one); off unless given' }),
    'data-dir': Flags.string({ helpValue: 'DIR', description: 'where the node keeps its state (its peer ID, the module cache) across restarts; default: memory only' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Start);
    if (flags.listen !== undefined) checkHostPort(flags.listen);
    const socketPath = await resolveSocketPath(flags.socket);
    const { startNode, NodeError } = await import('../../src/node/index.js');

    const log = (line: string): void => {
      process.stderr.write(line.startsWith('ww: ') ? `${line}\n` : `ww: ${line}\n`);
    };
    const node = await startNode({
      socketPath,
      listen: flags.listen,
      dataDir: flags['data-dir'] !== undefined ? resolve(flags['data-dir']) : undefined,
      log,
    }).catch((err: unknown) => {
      // startNode's refusals name the socket and what to do (another node there, a file in the way).
      throw err instanceof NodeError ? new InputError(oneLine(err)) : err;
    });
    log(`node listening on ${node.socketPath}${node.tcpAddress ? ` and tcp ${node.tcpAddress}` : ''} (os pid ${process.pid}); Ctrl-C stops it`);

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

function checkHostPort(text: string): void {
  const match = /^(.+):(\d{1,5})$/.exec(text);
  if (!match || Number(match[2]) > 65535) {
    throw new UsageError(`--listen '${text}' is not HOST:PORT; write e.g. 127.0.0.1:7070 (port 0 picks a free one)`);
  }
}
