// Real `ww start` peers on a TestNetwork: host i's peer listens on /ip4/10.99.0.<i>/tcp/4001, keeps
// its socket and data directory under one temporary directory of the test, and is driven with the
// `ww` command from the root namespace (a node's unix socket is a file: namespaces do not hide it).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentity } from '../src/cluster/index.js';
import { repoRoot } from '../fixtures/wat.js';
import { TestNetwork } from './netns.js';

export const WW = join(repoRoot(), 'bin', 'ww.js');
export const P2P_PORT = 4001;

export interface PeerOptions {
  /** Peers to --join (their addresses on the test network). */
  join?: readonly Peer[];
  /** Peer IDs to --allow. */
  allow?: readonly string[];
  /** A swarm key file's path. */
  swarmKey?: string;
  /** More `ww start` arguments. */
  args?: readonly string[];
}

export class Peer {
  readonly socket: string;
  readonly dataDir: string;
  /** Everything the node wrote to stderr (its log). */
  log = '';
  child?: ChildProcess;

  constructor(
    readonly net: TestNetwork,
    readonly index: number,
    readonly dir: string,
    readonly peerId: string,
  ) {
    this.socket = join(dir, 'run', 'node.sock');
    this.dataDir = join(dir, 'data');
  }

  /** Its address on the test network, as --join takes it. */
  get address(): string {
    return `/ip4/${this.net.host(this.index).address}/tcp/${P2P_PORT}/p2p/${this.peerId}`;
  }

  /** Starts `ww start` in its namespace and waits until its socket answers `ww id`. */
  async start(opts: PeerOptions = {}): Promise<void> {
    const args = [WW, 'start', '--socket', this.socket, '--data-dir', this.dataDir, '--p2p', `/ip4/${this.net.host(this.index).address}/tcp/${P2P_PORT}`];
    for (const p of opts.join ?? []) args.push('--join', p.address);
    for (const id of opts.allow ?? []) args.push('--allow', id);
    if (opts.swarmKey) args.push('--swarm-key', opts.swarmKey);
    args.push(...(opts.args ?? []));
    this.log = '';
    const child = this.net.spawn(this.index, process.execPath, args);
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`peer ${this.index} exited (${code ?? signal}) before it answered:\n${this.log}`))));
    exited.catch(() => {});
    for (let i = 0; ; i++) {
      const r = this.ww(['id', '--json']);
      if (r.status === 0) return;
      if (child.exitCode !== null || child.signalCode !== null) await exited;
      if (i > 600) throw new Error(`peer ${this.index} did not answer within a minute:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Kills the node at once (SIGKILL): no goodbye to its peers. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Runs `ww ARGS` from the root namespace against this peer's socket (WW_SOCKET, which every command reads, so guest arguments stay the guest's). */
  ww(args: readonly string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [WW, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, WW_SOCKET: this.socket, ...env } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** `ww ARGS --json` parsed; throws with its stderr when it fails. */
  json<T>(args: readonly string[]): T {
    const r = this.ww([...args, '--json']);
    if (r.status !== 0) throw new Error(`ww ${args.join(' ')} on peer ${this.index} exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }
}

/** One peer per host of `net` (not started), each with its identity made ahead so others can --allow it. */
export async function makePeers(net: TestNetwork): Promise<{ peers: Peer[]; dir: string; cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'ww-cluster-test-'));
  const peers: Peer[] = [];
  for (const h of net.hosts) {
    const pdir = join(dir, `peer${h.index}`);
    mkdirSync(join(pdir, 'run'), { recursive: true, mode: 0o700 });
    const { peerId } = await loadIdentity(join(pdir, 'data'));
    peers.push(new Peer(net, h.index, pdir, peerId));
  }
  return { peers, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A new swarm key file under `dir` (made by `ww swarm-key`). */
export function swarmKeyFile(dir: string, name = 'swarm.key'): string {
  const r = spawnSync(process.execPath, [WW, 'swarm-key'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ww swarm-key failed: ${r.stderr}`);
  const path = join(dir, name);
  writeFileSync(path, r.stdout, { mode: 0o600 });
  return path;
}

/** Polls `check` until it returns a value (not undefined), or fails after `ms` with `what`. */
export async function eventually<T>(what: string | (() => string), ms: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${typeof what === 'string' ? what : what()}: not within ${ms} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Three peers on a new TestNetwork holding one swarm key, p2 and p3 joined through p1, started and
 * seen by p1; the network and the peers' directories are removed when the test ends.
 */
export async function swarmOfThree(t: { after(fn: () => unknown): void }): Promise<{ net: TestNetwork; peers: [Peer, Peer, Peer] }> {
  const net = TestNetwork.create(3);
  const { peers, dir, cleanup } = await makePeers(net);
  t.after(async () => {
    await net.close();
    cleanup();
  });
  const key = swarmKeyFile(dir);
  const [p1, p2, p3] = peers as [Peer, Peer, Peer];
  await p1.start({ swarmKey: key });
  await p2.start({ swarmKey: key, join: [p1] });
  await p3.start({ swarmKey: key, join: [p1] });
  await eventually('p1 sees all three', 30_000, () => (p1.json<unknown[]>(['cluster', 'ls']).length === 3 ? true : undefined));
  return { net, peers: [p1, p2, p3] };
}
