// `ww start`: run a ww node in the foreground until SIGINT or SIGTERM.
import { Command, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { checkedBy, formatSize, parseCount, parseDuration, parseSize } from '../units.js';
import { PEER_TIMEOUT_MAX_MS, PEER_TIMEOUT_MIN_MS } from '../../src/cluster/liveness.js';
import { DEFAULT_NODE_MEMORY_BYTES, DEFAULT_QUOTAS } from '../../src/executor/quotas.js';
import { resolveSocketPath } from '../lib/node-args.js';
import { oneLine } from '../text.js';

/** A per-principal quota: a positive count, checked as it is read. */
function quotaFlag(flag: string, description: string) {
  return Flags.string({ helpValue: 'N', parse: checkedBy((text) => parseCount(flag, text)), description });
}

/** --raft and its members, checked: the registry's log lives in the data directory. */
function raftWiring(on: boolean, members: string[] | undefined, dataDir: string | undefined): { members: string[] } | undefined {
  if (!on) {
    if (members !== undefined) throw new UsageError('--raft-member names the registry\'s voters: add --raft to be one of its replicas');
    return undefined;
  }
  if (dataDir === undefined) throw new UsageError('--raft keeps the registry\'s log in the data directory: add --data-dir DIR');
  if (members === undefined) throw new UsageError('--raft needs the registry\'s voters: one --raft-member PEERID each (this node too), the same list on every member');
  return { members };
}

export default class Start extends Command {
  static override summary = 'Run a ww node in the foreground.';

  static override description = `Starts a node that serves its Executor on a unix socket (mode 0600, in a directory only you can enter): only your own uid and root can reach it, and whoever does is the node's owner, with power over every process. The other commands (ww run, ps, kill, pause, resume, wait, info, id) talk to it through the socket.

Every node is also a libp2p peer (TCP, Noise, yamux), listening on --p2p (default a loopback port) with a persistent Ed25519 identity in --data-dir (\`ww id\` prints its peer ID and addresses). Who may connect is yours to decide: with --swarm-key only peers holding the same key connect at all; with --allow/--allow-file only the peer IDs listed are admitted; with both, a peer must hold the key and be listed; with neither, no peer is admitted. A refused peer gets nothing but the refusal (one log line here). An admitted peer may spawn processes here as a principal of its own: no host directories, no listening sockets, the default limits, no admin.

The owner may use at most --max-processes live processes, --max-spawning spawns in progress, --max-connections connections and --max-memory bytes of linear memory (all its processes together) at once; past them a spawn is refused with a quota error, a memory.grow fails as it would at the process's own --max-memory, and a connection is closed.

It logs one line per process start and end on stderr. On SIGINT (Ctrl-C) or SIGTERM it ends every process with reason \`killed\`, says how many, and exits 0. A second node on a socket where one already answers refuses to start.

With --raft the node is a replica of the cluster registry (\`ww registry get|put|ls\`): names replicated by Raft among the peers started with --raft, its log in DATA-DIR/raft. Each member names every founding voter with --raft-member (the same list everywhere, its own ID included) and should --join the others; a majority of them must be up for the registry to answer. The owner reads and writes; admitted peers only read.

Exit status: 0 stopped by SIGINT/SIGTERM; 1 could not start (another node on the socket, the socket in use, its directory open to others or not writable, an unreadable identity key, swarm key or allow-list, a --p2p address that cannot be listened on); 2 bad command line.`;

  static override examples = [
    { description: 'Start a node on the default socket ($XDG_RUNTIME_DIR/ww/node.sock, else ~/.ww/node.sock).', command: '<%= config.bin %> start' },
    { description: 'Start one on its own socket (then, in another terminal: ww ps --socket /tmp/ww/node.sock).', command: '<%= config.bin %> start --socket /tmp/ww/node.sock' },
    { description: 'Allow at most 100 live processes at once.', command: '<%= config.bin %> start --max-processes 100' },
    { description: 'A peer on a fixed port that admits one other peer (its ID from `ww id` there).', command: '<%= config.bin %> start --data-dir ~/.ww/data --p2p /ip4/127.0.0.1/tcp/4001 --allow 12D3KooW...' },
    { description: 'A private cluster: every peer holding the key is admitted.', command: '<%= config.bin %> swarm-key > swarm.key && <%= config.bin %> start --swarm-key swarm.key --join /ip4/10.0.0.1/tcp/4001/p2p/12D3KooW...' },
    { description: 'A registry member of three (the same --raft-member list on each; `ww id` gives the IDs).', command: '<%= config.bin %> start --data-dir ~/.ww/data --raft --raft-member 12D3KooWA... --raft-member 12D3KooWB... --raft-member 12D3KooWC... --swarm-key swarm.key --join ...' },
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
    'data-dir': Flags.string({ helpValue: 'DIR', description: 'where the node keeps its state (its peer identity key, the module cache) across restarts; default: memory only, a new peer ID each start' }),
    p2p: Flags.string({ helpValue: 'MULTIADDR', multiple: true, description: 'a libp2p address to listen on, repeatable (default /ip4/127.0.0.1/tcp/0: a loopback port)' }),
    join: Flags.string({ helpValue: 'MULTIADDR', multiple: true, description: 'a peer to connect to at start and keep connected, repeatable: its address ending /p2p/PEERID, as `ww id` there prints it' }),
    allow: Flags.string({ helpValue: 'PEERID', multiple: true, description: 'admit this peer ID, repeatable (with --allow-file too: only the listed peers are admitted)' }),
    'allow-file': Flags.string({ helpValue: 'FILE', description: 'admit the peer IDs in FILE, one a line (# starts a comment)' }),
    'swarm-key': Flags.string({ helpValue: 'FILE', description: 'the cluster secret (/key/swarm/psk/1.0.0/ format; make one with `ww swarm-key`): only peers holding it connect' }),
    mdns: Flags.boolean({ description: 'find peers on the local network by multicast DNS (and connect to those admitted)' }),
    'peer-timeout': Flags.string({
      helpValue: 'DURATION',
      parse: checkedBy((text) => peerTimeoutMs(text)),
      description: 'how long a connected peer may answer nothing (it is pinged twice a second) before it counts as lost (default 1.5s; longer on a machine so loaded that a node stalls for seconds)',
    }),
    raft: Flags.boolean({ description: 'be a replica of the cluster registry (`ww registry`), its log in DATA-DIR/raft; needs --data-dir and --raft-member' }),
    'raft-member': Flags.string({ helpValue: 'PEERID', multiple: true, description: 'a founding voter of the registry, repeatable: the same list on every member, this node included (read when DATA-DIR/raft is new)' }),
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
    const [{ startNode, NodeError }, { ClusterError, readAllowFile }] = await Promise.all([import('../../src/node/index.js'), import('../../src/cluster/index.js')]);

    const log = (line: string): void => {
      process.stderr.write(line.startsWith('ww: ') ? `${line}\n` : `ww: ${line}\n`);
    };
    const allowFile = flags['allow-file'] !== undefined ? resolve(flags['allow-file']) : undefined;
    const raft = raftWiring(flags.raft, flags['raft-member'], flags['data-dir']);
    const p2p = {
      listen: flags.p2p,
      join: flags.join,
      // Listed on neither flag: no allow-list (then only a swarm key admits anyone).
      allow: flags.allow !== undefined || allowFile !== undefined ? [...(flags.allow ?? []), ...(allowFile !== undefined ? readAllowFileOrSay(allowFile) : [])] : undefined,
      swarmKey: flags['swarm-key'] !== undefined ? resolve(flags['swarm-key']) : undefined,
      mdns: flags.mdns,
      ...(flags['peer-timeout'] !== undefined ? { bounds: { peerTimeoutMs: peerTimeoutMs(flags['peer-timeout']) } } : {}),
      raft,
    };
    function readAllowFileOrSay(file: string): string[] {
      try {
        return readAllowFile(file);
      } catch (e) {
        throw e instanceof ClusterError ? new InputError(oneLine(e)) : e;
      }
    }
    const node = await startNode({
      socketPath,
      p2p,
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
      // startNode's refusals name the socket or the file and what to do (another node there, a file in the way, a bad key).
      throw err instanceof NodeError || err instanceof ClusterError ? new InputError(oneLine(err)) : err;
    });
    log(`node listening on ${node.socketPath} (os pid ${process.pid}); Ctrl-C stops it`);
    if (node.cluster) log(`peer ${node.peerId} on ${node.addresses.join(' ')}; ${node.cluster.admits}`);

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

/** --peer-timeout in milliseconds, within what the node's liveness check accepts. */
function peerTimeoutMs(text: string): number {
  const ms = parseDuration('--peer-timeout', text);
  if (ms < PEER_TIMEOUT_MIN_MS || ms > PEER_TIMEOUT_MAX_MS) throw new UsageError(`--peer-timeout '${text}' must be between ${PEER_TIMEOUT_MIN_MS / 1000}s and ${PEER_TIMEOUT_MAX_MS / 3600_000}h`);
  return ms;
}
