// `ww gateway`: serve Argo Workflows' executor-plugin contract and run `plugin: {ww: ...}` steps on
// the node (src/gateway), in the foreground until SIGINT or SIGTERM.
import { Command, Flags } from '@oclif/core';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { socketFlag, resolveSocketPath } from '../lib/node-args.js';
import { oneLine } from '../text.js';

export const DEFAULT_LISTEN = '127.0.0.1:4355';
export const DEFAULT_TOKEN_FILE = '/var/run/argo/token';

/** $XDG_STATE_HOME/ww/gateway, else ~/.local/state/ww/gateway: the ledger must outlive a reboot. */
function defaultDataDir(): string {
  const state = process.env.XDG_STATE_HOME;
  return join(state !== undefined && state !== '' ? state : join(homedir(), '.local', 'state'), 'ww', 'gateway');
}

export default class Gateway extends Command {
  static override summary = "Serve Argo Workflows' executor-plugin API: run `plugin: {ww: ...}` steps on the node.";

  static override description = `Listens for Argo's agent (POST /api/v1/template.execute, argo-workflows v4.1) and runs each workflow step whose template says \`plugin: {ww: {module: ..., args: [...], env: {...}, limits: {...}, peer: ...}}\` as a ww process on the node behind --socket (or on a peer of its cluster with \`peer: auto\` or a peer ID). Other templates are answered {} (not this plugin's).

Every call must carry \`Authorization: Bearer <token>\`, the token in --token-file (Argo's agent writes it to /var/run/argo/token): others get 403. A call is answered within milliseconds: Running with a requeue while the step runs, then Succeeded or Failed with outputs (result: stdout, up to 256 KiB; exitCode; parameters: the files the module wrote at each output parameter's valueFrom.path, in directories pre-opened for it). Accepted steps are written to a ledger in --data-dir before they are answered, and the processes run detached on the node: a gateway restarted on the same data dir finds them again, or runs a step again if the node lost it.

The step syntax and an example workflow: the README's "Argo" section.

Exit status: 0 stopped by SIGINT/SIGTERM; 1 could not start (no readable token, the address in use, the data dir not writable); 2 bad command line.`;

  static override examples = [
    { description: 'As the sidecar of an ExecutorPlugin (deploy/): the token from Argo, the node on the default socket.', command: '<%= config.bin %> gateway' },
    { description: 'By hand, with a token of your own.', command: 'head -c 32 /dev/urandom | base64 > token && <%= config.bin %> gateway --token-file token --listen 127.0.0.1:4355' },
  ];

  static override flags = {
    listen: Flags.string({ helpValue: 'HOST:PORT', default: DEFAULT_LISTEN, description: "where Argo's agent calls (the port of the ExecutorPlugin's sidecar container)" }),
    'token-file': Flags.string({ helpValue: 'PATH', default: DEFAULT_TOKEN_FILE, description: 'the bearer token every call must carry (Argo writes it there for the sidecar)' }),
    socket: socketFlag,
    'data-dir': Flags.string({ helpValue: 'DIR', description: "the gateway's ledger and each running step's output directories (default: $XDG_STATE_HOME/ww/gateway, else ~/.local/state/ww/gateway)" }),
    json: Flags.boolean({ description: 'print one JSON line when listening: {"listening", "socket", "dataDir"}; logs stay on stderr' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Gateway);
    let host: string;
    let port: number;
    try {
      ({ host, port } = (await import('../../src/rpc/transport/tcp.js')).parseHostPort(flags.listen));
    } catch (e) {
      throw new UsageError(`--listen ${flags.listen}: ${oneLine(e)} (e.g. 127.0.0.1:4355)`);
    }
    const tokenFile = resolve(flags['token-file']);
    let token: string;
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (e) {
      throw new InputError(`cannot read the Argo token from ${tokenFile} (${(e as NodeJS.ErrnoException).code ?? oneLine(e)}): give --token-file, the file Argo's agent calls with`);
    }
    if (token === '') throw new InputError(`the token file ${tokenFile} is empty: every call would have to send an empty token`);
    const socketPath = await resolveSocketPath(flags.socket);
    const dataDir = resolve(flags['data-dir'] ?? defaultDataDir());
    const log = (line: string): void => void process.stderr.write(`ww gateway: ${line}\n`);

    const [{ startGateway }, { connectNode, NodeError }] = await Promise.all([import('../../src/gateway/index.js'), import('../../src/node/client.js')]);
    try {
      (await connectNode(socketPath)).close();
    } catch (e) {
      if (!(e instanceof NodeError)) throw e;
      log(`${oneLine(e)}; steps fail until one answers there`);
    }
    const gateway = await startGateway({ host, port, token, dataDir, connect: () => connectNode(socketPath), log }).catch((e: unknown) => {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new InputError(`cannot listen on ${flags.listen}: ${code}`);
      if (code !== undefined) throw new InputError(`cannot use the data dir ${dataDir}: ${oneLine(e)}`);
      throw e;
    });
    if (flags.json) process.stdout.write(`${JSON.stringify({ listening: gateway.address, socket: socketPath, dataDir })}\n`);
    log(`listening on http://${gateway.address}/api/v1/template.execute for the node on ${socketPath} (data dir ${dataDir}); Ctrl-C stops it`);

    const signal = await new Promise<NodeJS.Signals>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    log(`stopping on ${signal}: running steps stay on the node and are taken up by the next gateway on ${dataDir}`);
    await gateway.close();
    process.exitCode = 0;
  }
}
