// A small network of hosts on this machine for cluster tests: one Linux network namespace per
// host, each with a veth pair whose outer end is on a bridge of the test's own, addresses
// 10.99.0.<i>/24 inside. Nothing is routed to or from the root namespace or the machine's network:
// the bridge has no address, so the hosts reach each other and nothing else. Needs root (ip netns).
//
// Every name carries a tag of the test run and a state file records the owning pid, so a run that
// was killed before it cleaned up is cleaned by the next one (`removeStale`).

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where each live test network records its owner's pid (removed with the network). */
const STATE_DIR = '/run/ww-cluster-tests';
/** Every namespace, bridge and veth of the cluster tests starts with this. */
const PREFIX = 'wwct';
/** Hosts on one network at most: addresses and veth names stay short. */
export const MAX_HOSTS = 9;

export class NetnsError extends Error {
  override name = 'NetnsError';
}

/** Runs `ip ARGS...`; throws NetnsError with ip's own message when it fails. */
export function ip(...args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new NetnsError(`ip ${args.join(' ')}: ${r.error.message} (install iproute2: bash scripts/setup.sh)`);
  if (r.status !== 0) throw new NetnsError(`ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`);
  return r.stdout;
}

/** Whether this process may create network namespaces (root, with iproute2 installed). */
export function canCreateNamespaces(): { ok: true } | { ok: false; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'cluster tests create network namespaces and must run as root' };
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { ok: false, why: `ip netns does not work here: ${r.error?.message ?? r.stderr.trim()} (bash scripts/setup.sh installs iproute2)` };
  return { ok: true };
}

export interface Host {
  /** 1-based. */
  readonly index: number;
  /** The network namespace's name. */
  readonly netns: string;
  /** Its address on the test network. */
  readonly address: string;
}

/** A bridge and `hosts` namespaces on it. `close()` kills what was started in them and removes everything. */
export class TestNetwork {
  readonly hosts: readonly Host[];
  private readonly children = new Set<ChildProcess>();
  private closed = false;
  private readonly onExit = (): void => this.removeNow();

  private constructor(
    readonly tag: string,
    hosts: number,
  ) {
    this.hosts = Array.from({ length: hosts }, (_, k) => ({ index: k + 1, netns: `${PREFIX}-${tag}-${k + 1}`, address: `10.99.0.${k + 1}` }));
  }

  /** Makes a network of `hosts` namespaces (after removing what dead earlier runs left behind). */
  static create(hosts: number): TestNetwork {
    if (!Number.isInteger(hosts) || hosts < 1 || hosts > MAX_HOSTS) throw new NetnsError(`a test network has 1 to ${MAX_HOSTS} hosts, not ${hosts}`);
    removeStale();
    const net = new TestNetwork(randomBytes(3).toString('hex'), hosts);
    mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
    writeFileSync(join(STATE_DIR, net.tag), String(process.pid));
    process.on('exit', net.onExit);
    try {
      ip('link', 'add', net.bridge, 'type', 'bridge');
      ip('link', 'set', net.bridge, 'up');
      for (const h of net.hosts) {
        ip('netns', 'add', h.netns);
        ip('link', 'add', net.veth(h), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns);
        ip('link', 'set', net.veth(h), 'master', net.bridge, 'up');
        ip('-n', h.netns, 'link', 'set', 'lo', 'up');
        ip('-n', h.netns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0');
        ip('-n', h.netns, 'link', 'set', 'eth0', 'up');
        // mDNS needs a multicast route; it stays on this bridge.
        ip('-n', h.netns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0');
      }
    } catch (e) {
      net.removeNow();
      throw e;
    }
    return net;
  }

  get bridge(): string {
    return `${PREFIX}${this.tag}br`;
  }

  private veth(h: Host): string {
    return `${PREFIX}${this.tag}v${h.index}`;
  }

  host(index: number): Host {
    const h = this.hosts[index - 1];
    if (!h) throw new NetnsError(`no host ${index} on this ${this.hosts.length}-host network`);
    return h;
  }

  /** Starts `command args` inside host `index`'s namespace; it is killed (SIGKILL) by close() if still running. */
  spawn(index: number, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    if (this.closed) throw new NetnsError('this test network is closed');
    const child = spawn('ip', ['netns', 'exec', this.host(index).netns, command, ...args], { stdio: 'pipe', ...options });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Cuts host `index` off the network (its link down), as a pulled cable would. */
  cut(index: number): void {
    ip('link', 'set', this.veth(this.host(index)), 'down');
  }

  /** Puts host `index` back on the network. */
  heal(index: number): void {
    ip('link', 'set', this.veth(this.host(index)), 'up');
  }

  /** Host `from` can no longer reach host `to` (its packets are dropped with an immediate error at `from`). */
  blackhole(from: number, to: number): void {
    ip('-n', this.host(from).netns, 'route', 'add', 'blackhole', `${this.host(to).address}/32`);
  }

  unblackhole(from: number, to: number): void {
    ip('-n', this.host(from).netns, 'route', 'del', 'blackhole', `${this.host(to).address}/32`);
  }

  /** Kills every process started here, waits for them, and removes the namespaces and the bridge. */
  async close(): Promise<void> {
    const exits = [...this.children].map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()))));
    for (const c of this.children) c.kill('SIGKILL');
    await Promise.all(exits);
    this.removeNow();
  }

  /** Synchronous removal (also run at process exit): kills stragglers, deletes namespaces, bridge and state. */
  private removeNow(): void {
    if (this.closed) return;
    this.closed = true;
    process.off('exit', this.onExit);
    for (const c of this.children) c.kill('SIGKILL');
    removeNetwork(this.tag);
  }
}

/** Deletes every namespace and link of the network `tag` (ignoring what is already gone) and its state file. */
function removeNetwork(tag: string): void {
  const own = `${PREFIX}-${tag}-`;
  for (const ns of namespaces()) {
    if (!ns.startsWith(own)) continue;
    // Processes still inside would keep the namespace's sockets alive: kill them first.
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'del', ns]);
  }
  // Deleting a namespace deletes its veth ends; the bridge is ours to delete.
  spawnSync('ip', ['link', 'del', `${PREFIX}${tag}br`]);
  rmSync(join(STATE_DIR, tag), { force: true });
}

/** The names of every network namespace on the machine. */
export function namespaces(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** Removes the networks of earlier runs whose owning process is gone. */
export function removeStale(): string[] {
  let tags: string[];
  try {
    tags = readdirSync(STATE_DIR);
  } catch {
    tags = [];
  }
  // A namespace with our prefix but no state file is stale too (its run died between the two).
  for (const ns of namespaces()) {
    const m = /^wwct-([0-9a-f]{6})-\d+$/.exec(ns);
    if (m && !tags.includes(m[1]!)) tags.push(m[1]!);
  }
  const removed: string[] = [];
  for (const tag of tags) {
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(STATE_DIR, tag), 'utf8'));
    } catch {
      // no state file
    }
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) continue;
    removeNetwork(tag);
    removed.push(tag);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
