// Who may do what on a node. A principal is who a connection proved to be (the node's owner on its
// unix socket; later a remote peer); a grant is what an Executor may hand to the processes it
// spawns (limit ceilings, host directories, listening addresses); a scope is one Executor
// capability's share of the process table (its ps, its quota account). Nothing here trusts a
// number a client names: authority is the object a call arrives on.

import { closeSync, constants, fstatSync, openSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import type { Limits } from '../wasm/index.js';
import type { ListenAddress } from '../wasm/sockets/listen.js';
import { MemoryBudget } from '../wasm/memory-budget.js';
import { ExecutorError } from './errors.js';

import { DEFAULT_CHANNEL_BYTES, DEFAULT_OPEN_CHANNELS, type Quotas } from './quotas.js';
import { QueueAccount } from './channel.js';

export { DEFAULT_QUOTAS, type Quotas } from './quotas.js';

/** Content IDs a principal put (or spawned from bytes) that it may name again: `has`, `get` and
 *  spawn by content ID answer for these only, so no principal learns what another runs. Bounded:
 *  past MAX_KNOWN_MODULES the oldest is forgotten (put it again to name it). */
export class KnownModules {
  private readonly cids = new Set<string>();
  constructor(
    /** Every module in the store (the node's owner: the store is in its data directory anyway). */
    private readonly all = false,
    private readonly max = MAX_KNOWN_MODULES,
  ) {}

  add(cid: string): void {
    this.cids.delete(cid); // (to the end: the most recently named)
    this.cids.add(cid);
    while (this.cids.size > this.max) this.cids.delete(this.cids.values().next().value as string);
  }

  has(cid: string): boolean {
    return this.all || this.cids.has(cid);
  }
}

/** Content IDs one principal may name at once (32 bytes of key and set overhead each: a few MB). */
export const MAX_KNOWN_MODULES = 65_536;

/** Someone a connection proved to be, and what they use of the node now. */
export class Principal {
  live = 0;
  spawning = 0;
  connections = 0;
  /** The linear memory of its live processes, counted by the runtime as it grows. */
  readonly memory: MemoryBudget;
  /** What its processes hold in channels (each process's account is inside it). */
  readonly channels: QueueAccount;
  /** The modules it put: the only ones it may name by content ID (the owner: all of them). */
  readonly modules: KnownModules;

  constructor(
    /** For people and logs: `owner`, later a peer ID. */
    readonly name: string,
    readonly quotas: Quotas,
    /** The budget its memory counts inside too (the node's). */
    within?: MemoryBudget,
    /** It may name every module in the node's store (the node's owner). */
    allModules = false,
  ) {
    this.modules = new KnownModules(allModules);
    this.memory = new MemoryBudget(`${name}'s memory budget`, quotas.memoryBytes, within);
    this.channels = new QueueAccount(quotas.channelBytes ?? DEFAULT_CHANNEL_BYTES, quotas.openChannels ?? DEFAULT_OPEN_CHANNELS);
  }

  /** Counts a process about to start; throws `quota` when the principal has its quota of them. */
  admitProcess(): () => void {
    if (this.live >= this.quotas.processes) {
      throw new ExecutorError('quota', `${this.name} already runs ${this.live} processes (at most ${this.quotas.processes}): wait for some to end`);
    }
    this.live++;
    let counted = true;
    return () => {
      if (counted) this.live--;
      counted = false;
    };
  }

  /** Counts a spawn being prepared; the returned function ends it. */
  admitSpawning(): () => void {
    if (this.spawning >= this.quotas.spawning) {
      throw new ExecutorError('quota', `${this.name} already has ${this.spawning} spawns in progress (at most ${this.quotas.spawning}): wait for them to start`);
    }
    this.spawning++;
    let counted = true;
    return () => {
      if (counted) this.spawning--;
      counted = false;
    };
  }

  /** Whether one more connection is allowed; counts it when it is. */
  admitConnection(): (() => void) | undefined {
    if (this.connections >= this.quotas.connections) return undefined;
    this.connections++;
    let counted = true;
    return () => {
      if (counted) this.connections--;
      counted = false;
    };
  }
}

/** A host directory a grant allows pre-opening (everything under it), by its real path. */
export interface DirGrant {
  hostPath: string;
  readOnly: boolean;
}

/** A pre-open as asked for, and as granted: the real path to open, read-only when it must be. */
export interface PreopenAsk {
  hostPath: string;
  guestPath: string;
  readOnly?: boolean;
  /** The directory checked (granted pre-opens): the runtime refuses to open another one there. */
  identity?: { dev: bigint; ino: bigint };
}

const LIMIT_FLAGS: Record<keyof Limits, string> = { maxMemoryBytes: 'memory (bytes)', fuel: 'fuel', timeoutMs: 'timeout (ms)' };

/** What an Executor may hand to what it spawns. `undefined` dirs or listen: anything the node can. */
export class Grant {
  static readonly all = new Grant({}, undefined, undefined);

  constructor(
    /** Ceilings for every spawn's limits. */
    readonly limits: Readonly<Limits>,
    readonly dirs: readonly DirGrant[] | undefined,
    readonly listen: readonly ListenAddress[] | undefined,
  ) {}

  /** A weaker grant: each part within this one's (or refused, saying which). */
  restrict(r: { limits?: Limits; dirs?: readonly DirGrant[]; listen?: readonly ListenAddress[] }): Grant {
    const limits: Limits = { ...this.limits };
    for (const key of Object.keys(LIMIT_FLAGS) as (keyof Limits)[]) {
      const asked = r.limits?.[key];
      if (asked !== undefined && asked > 0) limits[key] = Math.min(asked, this.limits[key] ?? Infinity);
    }
    let dirs = this.dirs;
    if (r.dirs) {
      dirs = r.dirs.map((d) => {
        const real = realDirectory(d.hostPath, 'restrict');
        const within = this.dirFor(real);
        if (within === null) throw new ExecutorError('not-permitted', `restrict: ${d.hostPath} is outside the directories this executor may grant`);
        return { hostPath: real, readOnly: d.readOnly || (within?.readOnly ?? false) };
      });
    }
    let listen = this.listen;
    if (r.listen) {
      for (const a of r.listen) {
        if (!this.allowsListen(a)) throw new ExecutorError('not-permitted', `restrict: ${formatAddress(a)} is outside the addresses this executor may listen on`);
      }
      listen = r.listen;
    }
    return new Grant(limits, dirs, listen);
  }

  /** `limits` held to the ceilings: each at most its ceiling (absent: the ceiling). For guests' spawns,
   *  whose own limits already bound their children's. */
  clamp(limits: Limits): Limits {
    const out: Limits = { ...limits };
    for (const key of Object.keys(LIMIT_FLAGS) as (keyof Limits)[]) {
      const ceiling = this.limits[key];
      if (ceiling !== undefined) out[key] = Math.min(out[key] ?? Infinity, ceiling);
    }
    return out;
  }

  /** The limits a spawn gets: each asked one (0 or absent: the ceiling), refused above the ceiling. */
  limitsFor(asked: Limits): Limits {
    const out: Limits = {};
    for (const key of Object.keys(LIMIT_FLAGS) as (keyof Limits)[]) {
      const ceiling = this.limits[key];
      const value = asked[key];
      if (value !== undefined && value > 0) {
        if (ceiling !== undefined && value > ceiling) {
          throw new ExecutorError('not-permitted', `the spawn asks for ${LIMIT_FLAGS[key]} ${value}; this executor allows at most ${ceiling}`);
        }
        out[key] = value;
      } else if (ceiling !== undefined) {
        out[key] = ceiling;
      }
    }
    return out;
  }

  /**
   * The pre-open to make for `p`, refused outside the grant or writable where the grant is
   * read-only. The directory is opened once and judged by where the open landed (so no symbolic
   * link, `..` or rename between a check and an open can move it), and its identity goes with the
   * pre-open: the runtime opens the path again only to find that same directory there.
   */
  preopenFor(p: PreopenAsk): PreopenAsk {
    if (this.dirs === undefined) return p;
    const { real, identity } = openedDirectory(p.hostPath, 'spawn');
    const within = this.dirFor(real);
    if (!within) throw new ExecutorError('not-permitted', `spawn: ${p.hostPath} is outside the directories this executor may pre-open`);
    if (within.readOnly && !p.readOnly) {
      throw new ExecutorError('not-permitted', `spawn: ${p.hostPath} may be pre-opened read-only only (ask for it read-only)`);
    }
    // Read-write, it would reach a read-only grant below it with write rights.
    const readOnlyInside = p.readOnly ? undefined : this.dirs.find((d) => d.readOnly && d.hostPath !== real && isUnder(d.hostPath, real));
    if (readOnlyInside) {
      throw new ExecutorError('not-permitted', `spawn: ${p.hostPath} holds ${readOnlyInside.hostPath}, which may be pre-opened read-only only: pre-open ${p.hostPath} read-only, or directories beside it`);
    }
    return { hostPath: real, guestPath: p.guestPath, readOnly: p.readOnly ?? false, identity };
  }

  /** Refuses a listening address outside the grant. */
  checkListen(a: ListenAddress): void {
    if (!this.allowsListen(a)) throw new ExecutorError('not-permitted', `spawn: this executor may not listen on ${formatAddress(a)}`);
  }

  /** The granted directory `real` lies in (undefined: no directory list, anything goes; null: none). */
  private dirFor(real: string): DirGrant | undefined | null {
    if (this.dirs === undefined) return undefined;
    let best: DirGrant | null = null;
    for (const d of this.dirs) {
      if (!isUnder(real, d.hostPath)) continue;
      // The most specific grant decides: a read-only subdirectory of a read-write one stays read-only.
      if (!best || d.hostPath.length > best.hostPath.length || (d.hostPath.length === best.hostPath.length && d.readOnly)) best = d;
    }
    return best;
  }

  private allowsListen(a: ListenAddress): boolean {
    if (this.listen === undefined) return true;
    return this.listen.some((g) => g.host === a.host && (g.port === 0 || g.port === a.port));
  }
}

function isUnder(path: string, dir: string): boolean {
  if (path === dir) return true;
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel);
}

function realDirectory(path: string, what: string): string {
  if (!isAbsolute(path)) throw new ExecutorError('bad-request', `${what}: ${path} is not an absolute host path`);
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    throw new ExecutorError('bad-request', `${what}: ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message}`);
  }
  if (!statSync(real).isDirectory()) throw new ExecutorError('bad-request', `${what}: ${path} is not a directory`);
  return real;
}

/** Where `path` really is (the kernel's name for the directory it opens) and which directory that is. */
function openedDirectory(path: string, what: string): { real: string; identity: { dev: bigint; ino: bigint } } {
  if (!isAbsolute(path)) throw new ExecutorError('bad-request', `${what}: ${path} is not an absolute host path`);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExecutorError('bad-request', `${what}: ${path}: ${code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'not a directory' : (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    return { real: readlinkSync(`/proc/self/fd/${fd}`), identity: { dev: st.dev, ino: st.ino } };
  } finally {
    closeSync(fd);
  }
}

function formatAddress(a: ListenAddress): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/**
 * One Executor capability's share of the node: the processes spawned through it (their
 * descendants inherit it), the principal they count against and the grant they obey. A scope
 * restricted from another is inside it: the outer one's ps lists its processes too.
 */
export class Scope {
  constructor(
    readonly principal: Principal,
    readonly grant: Grant,
    readonly parent?: Scope,
  ) {}

  /** A scope inside this one, with a weaker grant. */
  restricted(grant: Grant): Scope {
    return new Scope(this.principal, grant, this);
  }

  /** Whether `s` is this scope or inside it. */
  contains(s: Scope | undefined): boolean {
    for (let x = s; x; x = x.parent) if (x === this) return true;
    return false;
  }
}
