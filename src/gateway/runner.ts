// Runs one step as a ww process on the node (or a peer of its cluster), through the node's Executor
// over one connection the gateway keeps: spawn detached (so the process outlives a gateway restart),
// wait, and turn its end into Argo's NodeResult (stdout as `result`, files as output parameters,
// the exit code). Also finds a process again by where it was placed (after a restart).
import { createHash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join, posix } from 'node:path';
import { OutputMode, type Executor$Client, type Node$Client, type Process$Client, type SpawnSpec$Init } from '../capnp-gen/ww.rpc.js';
import { executorErrorFromRpc, leastLoaded, reasonFromWire, reasonText } from '../executor/wire.js';
import type { NodeResult } from './contract.js';
import type { StepSpec } from './step.js';

/** A connection to the node: given by whoever wires the gateway (the CLI connects over the unix socket). */
export interface NodeLink {
  node: Node$Client;
  close(): void;
}
export type ConnectNode = () => Promise<NodeLink>;

/** Where a task's process runs: enough to find it again, and to tell it from a later one with its pid. */
export interface Placement {
  pid: number;
  /** Set when it runs on another peer (`peer:` in the step). */
  peerId?: string;
  createdAtMs: number;
}

export const RUNNER_BOUNDS = {
  /** `result`: the first bytes of stdout (Argo keeps it in the workflow object, which etcd bounds). */
  resultBytes: 256 * 1024,
  /** Each output parameter's file. */
  parameterBytes: 256 * 1024,
  /** The stderr tail quoted in a failure message. */
  stderrTail: 512,
  /** A module file read from a path. */
  moduleBytes: 256 * 1024 * 1024,
} as const;

/** A step whose run cannot even start (module unreadable, spawn refused): the node fails with this. */
export class RunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

export class StepRunner {
  private link: Promise<NodeLink> | undefined;
  /** Content IDs already put on each peer's module cache ('' = the gateway's own node). */
  private readonly putOn = new Map<string, Map<string, Promise<void>>>();
  /** Module files already hashed: path -> its version (inode, size, mtime) and content ID. */
  private readonly hashed = new Map<string, { version: string; cid: string }>();

  constructor(
    private readonly connect: ConnectNode,
    private readonly resolveModulePath: (path: string) => string = (p) => p,
  ) {}

  /** Spawns the step, detached, with its output directories pre-opened from `hostDirs` (one per
   *  step.outputDirs entry, created empty by the caller). */
  async spawn(step: StepSpec, hostDirs: readonly string[]): Promise<{ placement: Placement; process: Process$Client }> {
    const { node } = await this.node();
    const target = await this.executorFor(node, step.peer);
    try {
      if (target.peerId !== undefined && step.outputDirs.length > 0) {
        throw new RunError(`output parameters from files need the gateway's own node: peer ${target.peerId} pre-opens no host directory for it`);
      }
      const argv0 = step.module.kind === 'path' ? (step.module.argv0 ?? posix.basename(step.module.path)) : step.module.cid.slice(0, 12);
      const cid = await this.moduleCid(target.executor, target.peerId ?? '', step);
      const spec: SpawnSpec$Init = {
        moduleCid: cid,
        argv: [argv0, ...step.args],
        env: Object.entries(step.env).map(([key, value]) => ({ key, value })),
        dirs: step.outputDirs.map((guestPath, i) => ({ hostPath: hostDirs[i]!, guestPath, readOnly: false })),
        limits: {
          maxMemoryBytes: BigInt(step.limits.maxMemoryBytes ?? 0),
          fuel: BigInt(step.limits.fuel ?? 0),
          timeoutMs: BigInt(step.limits.timeoutMs ?? 0),
        },
        attached: false, // the node keeps it if the gateway goes: a restarted gateway finds it again
        stdout: { mode: OutputMode.capture },
        stderr: { mode: OutputMode.capture },
      };
      let spawned;
      try {
        spawned = await target.executor.spawn({ spec });
      } catch (e) {
        // The node's module cache is bounded (and empty after a restart): put the bytes again once.
        if (executorErrorFromRpc(e)?.code !== 'module-not-found' || step.module.kind !== 'path') throw e;
        this.putOn.get(target.peerId ?? '')?.delete(cid);
        await this.moduleCid(target.executor, target.peerId ?? '', step);
        spawned = await target.executor.spawn({ spec });
      }
      const { info } = await spawned.process.info();
      return { placement: { pid: spawned.pid, createdAtMs: Number(info.createdAtMs), ...(target.peerId !== undefined ? { peerId: target.peerId } : {}) }, process: spawned.process };
    } catch (e) {
      throw this.said(e);
    } finally {
      target.executor.release(); // the spawned Process does not need it
    }
  }

  /** The process placed at `placement`, if it is still that one (its pid not reused since). */
  async attach(placement: Placement): Promise<Process$Client | undefined> {
    const { node } = await this.node();
    let proc: Process$Client;
    try {
      if (placement.peerId === undefined) {
        const { admin } = await node.admin();
        proc = (await admin.process({ pid: placement.pid })).process;
        admin.release();
      } else {
        const target = await this.executorFor(node, placement.peerId);
        try {
          proc = (await target.executor.process({ pid: placement.pid })).process;
        } finally {
          target.executor.release();
        }
      }
      const { info } = await proc.info();
      if (Number(info.createdAtMs) === placement.createdAtMs) return proc;
      proc.release();
      return undefined;
    } catch (e) {
      if (executorErrorFromRpc(e)?.code === 'no-such-process') return undefined;
      throw e;
    }
  }

  /** Waits for the process to end and reads what Argo gets back; removes nothing (the caller owns the dirs). */
  async finish(proc: Process$Client, step: StepSpec, hostDirs: readonly string[]): Promise<NodeResult> {
    let status;
    try {
      status = (await proc.wait()).status;
    } finally {
      proc.release();
    }
    const reason = reasonFromWire(status.reason);
    const outputs: NonNullable<NodeResult['outputs']> = { exitCode: String(status.code) };
    const notes: string[] = [];
    const stdout = status.stdout;
    outputs.result = trimNewline(Buffer.from(stdout.subarray(0, RUNNER_BOUNDS.resultBytes)).toString('utf8'));
    const total = Number(status.stdoutBytes);
    if (total > RUNNER_BOUNDS.resultBytes) notes.push(`result is the first ${RUNNER_BOUNDS.resultBytes} of ${total} bytes of stdout`);
    if (status.outputDropped) notes.push('stdout was dropped by the node (its bound on kept output)');
    if (reason.kind !== 'normal') {
      const tail = Buffer.from(status.stderr).toString('utf8').trim().slice(-RUNNER_BOUNDS.stderrTail);
      return { phase: 'Failed', message: [`${reasonText(reason)} (exit code ${status.code})`, tail && `stderr: ${tail}`, ...notes].filter(Boolean).join('; '), outputs };
    }
    const parameters: { name: string; value: string }[] = [];
    for (const out of step.outputs) {
      const dir = hostDirs[step.outputDirs.indexOf(posix.dirname(out.path))]!;
      const value = await readParameter(join(dir, posix.basename(out.path)));
      if (typeof value === 'string') parameters.push({ name: out.name, value: trimNewline(value) });
      else if (out.default !== undefined) parameters.push({ name: out.name, value: out.default });
      else return { phase: 'Failed', message: `output parameter '${out.name}': ${out.path} ${value.missing}`, outputs };
    }
    if (parameters.length > 0) outputs.parameters = parameters;
    return { phase: 'Succeeded', ...(notes.length > 0 ? { message: notes.join('; ') } : {}), outputs };
  }

  /** Forgets the connection (it failed); the next call connects again. */
  reset(): void {
    const old = this.link;
    this.link = undefined;
    this.putOn.clear();
    void old?.then((l) => l.close(), () => {});
  }

  close(): void {
    this.reset();
  }

  private node(): Promise<NodeLink> {
    this.link ??= this.connect().catch((e: unknown) => {
      this.link = undefined;
      throw new RunError(e instanceof Error ? e.message : String(e));
    });
    return this.link;
  }

  /** The node's own Executor, or this node's Executor on the peer `peer` names (`auto`: the least loaded). */
  private async executorFor(node: Node$Client, peer: string | undefined): Promise<{ executor: Executor$Client; peerId?: string }> {
    if (peer === undefined) return { executor: node.executor().executor };
    let peerId = peer;
    if (peer === 'auto') {
      const { peers } = await node.cluster();
      const best = leastLoaded(peers);
      if (!best || best.self) return { executor: node.executor().executor };
      peerId = best.peerId;
    }
    const { node: other } = await node.peer({ peerId });
    try {
      const { info } = await other.identity();
      const self = (await node.identity()).info.peerId === info.peerId;
      if (self) return { executor: node.executor().executor };
      return { executor: (await other.executor()).executor, peerId: info.peerId };
    } finally {
      other.release();
    }
  }

  private async moduleCid(executor: Executor$Client, peerKey: string, step: StepSpec): Promise<string> {
    if (step.module.kind === 'cid') return step.module.cid;
    const path = this.resolveModulePath(step.module.path);
    let bytes: Buffer | undefined;
    let cid: string;
    // Opened without blocking and judged by the open file: a device (/dev/zero), a FIFO or a /proc
    // file has no size to check and would be read without end; only a regular file is a module.
    let file: fs.FileHandle | undefined;
    try {
      file = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      const stat = await file.stat();
      if (!stat.isFile()) throw new RunError(`module ${step.module.path} is not a regular file`);
      if (stat.size > RUNNER_BOUNDS.moduleBytes) throw new RunError(`module ${step.module.path} is larger than ${RUNNER_BOUNDS.moduleBytes} bytes`);
      // A file unchanged since it was last hashed (same size, mtime and inode) is not read again.
      const version = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
      const seen = this.hashed.get(path);
      if (seen?.version === version) cid = seen.cid;
      else {
        const buffer = Buffer.alloc(stat.size);
        const { bytesRead } = await file.read(buffer, 0, stat.size, 0);
        bytes = buffer.subarray(0, bytesRead);
        cid = createHash('sha256').update(bytes).digest('hex');
        if (this.hashed.size >= 1024) this.hashed.clear();
        this.hashed.set(path, { version, cid });
      }
    } catch (e) {
      if (e instanceof RunError) throw e;
      throw new RunError(`cannot read module ${step.module.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    } finally {
      await file?.close();
    }
    const known = this.putOn.get(peerKey) ?? new Map<string, Promise<void>>();
    this.putOn.set(peerKey, known);
    let put = known.get(cid);
    if (!put) {
      // One put per module and peer, shared by the steps that need it meanwhile (a put compiles it).
      put = this.put(executor, cid, bytes ?? path, step.module.path);
      if (known.size >= 1024) known.clear(); // bounded; forgetting only costs a put
      known.set(cid, put);
      put.catch(() => known.delete(cid));
    }
    await put;
    return cid;
  }

  private async put(executor: Executor$Client, cid: string, source: Buffer | string, name: string): Promise<void> {
    const bytes = typeof source === 'string' ? await fs.readFile(source) : source;
    const cache = executor.modules().cache;
    try {
      const put = await cache.put({ bytes });
      if (put.cid !== cid) throw new RunError(`the node named module ${name} ${put.cid}, not its sha256 ${cid}`);
    } finally {
      cache.release();
    }
  }

  /** A refusal of the node's, in its own words (written for people); anything else as it is. */
  private said(e: unknown): unknown {
    const refused = executorErrorFromRpc(e);
    if (refused) return new RunError(refused.message);
    return e;
  }
}

/** Reads an output parameter's file: never through a symbolic link the guest made (it could point
 *  anywhere on the gateway's host), only a regular file, and bounded. */
async function readParameter(path: string): Promise<string | { missing: string }> {
  let handle;
  try {
    handle = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { missing: 'was not written' };
    if (code === 'ELOOP') return { missing: 'is a symbolic link, not a file' };
    return { missing: `cannot be read (${code})` };
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return { missing: 'is not a regular file' };
    if (stat.size > RUNNER_BOUNDS.parameterBytes) return { missing: `is larger than ${RUNNER_BOUNDS.parameterBytes} bytes` };
    return (await handle.readFile()).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Argo drops one trailing newline from results and parameter files. */
function trimNewline(s: string): string {
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}
