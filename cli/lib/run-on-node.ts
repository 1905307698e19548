// `ww run` in node mode: spawn the guest on a running ww node over its socket, stream its stdin to it
// as it reads (a ByteSource) and its stdout and stderr back (ByteSinks), kill it on SIGINT, SIGTERM or
// SIGHUP, and return its exit status. The guest is attached: the node kills it when this connection
// closes, so a ww run killed outright takes its guest with it. `ww run --detach` spawns, prints the PID
// and returns at once; the node keeps the process.
import type { Readable } from 'node:stream';
import { serve } from '../../src/rpc/client.js';
import { ByteSink, ByteSource, OutputMode } from '../../src/capnp-gen/ww.rpc.js';
import type { ByteSink$Client, ByteSource$Client, Executor$Client, SpawnSpec$Init } from '../../src/capnp-gen/ww.rpc.js';
import { InputError, UsageError } from '../errors.js';
import { reasonFromWire } from '../../src/executor/wire.js';
import { reportEnd } from './exit-reason.js';
import { executorOn, NodeMissingError, openNode, peerNamed, translateNodeError } from './node-connection.js';
import { stdinSource } from './stdin-source.js';

/** Where the guest's output goes: process.stdout/stderr, or anything with a Node-style write. */
export interface OutputWriter {
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
}

export interface RunOnNodeOptions {
  /** The module's bytes (the node computes its content ID and caches it). */
  module: Uint8Array;
  /** How the module is named in a refusal (`module 'x.wasm'`, `module from stdin`); default `the module`. */
  moduleName?: string;
  /** The guest's argv; argv[0] is the program name (ww run uses MODULE's file name). */
  argv: string[];
  env?: Record<string, string>;
  /** Pre-opened directories; host paths are resolved on the node's machine, so make them absolute. */
  dirs?: { hostPath: string; guestPath: string; readOnly?: boolean }[];
  limits?: { maxMemoryBytes?: number; fuel?: number; timeoutMs?: number };
  /** The guest's stdin: bytes sent with the spawn, then end of file; or a stream (`process.stdin`)
   *  read only as the guest reads, in chunks of at most 64 KiB (not with `detach`: the guest would
   *  outlive its source). Default: empty. */
  stdin?: Uint8Array | Readable;
  /** Listening TCP sockets the node opens for the guest at fds 3, 4, ... (`port` 0: a free one,
   *  reported on stderr as `ww: listening on HOST:PORT (fd N)`). */
  listen?: { address: string; port: number }[];
  /** Spawn, write `<pid>\n` to stdout (`<peer ID>/<pid>\n` with `peer`), and return 0 without waiting; the guest's output is discarded. */
  detach?: boolean;
  /** Run on this peer of the node's cluster, through the node: a peer ID, a unique prefix of one, or
   *  `auto` (the least loaded live peer, maybe this node). There the guest runs as this node's principal. */
  peer?: string;
  socketPath: string;
  stdout: OutputWriter;
  stderr: OutputWriter;
  /** Signals that kill the guest (default SIGINT, SIGTERM and SIGHUP); the exit status is then 128 + signal. */
  signals?: NodeJS.Signals[];
}


/**
 * Runs a guest on the node behind `socketPath` and resolves to the exit status ww should exit with:
 * the guest's code (134 trap, 137 killed/limit/link), 128+N when signal N made ww kill it, 0 after
 * --detach. Abnormal ends are reported on `stderr` as one `ww: ...` line, like local `ww run`.
 * Throws NodeMissingError (exit 1) when no node answers, InputError for what the node refuses
 * (an invalid module, for one).
 */
export async function runOnNode(opts: RunOnNodeOptions): Promise<number> {
  const session = await openNode(opts.socketPath);
  let on: { executor: Executor$Client; peerId?: string; remote: boolean } = { executor: session.executor, remote: false };
  try {
    if (opts.peer !== undefined) {
      const target = await peerNamed(session, opts.peer);
      on = target.self
        ? { executor: session.executor, peerId: target.peerId, remote: false }
        : { executor: await executorOn(session, target.peerId), peerId: target.peerId, remote: true };
    }
    return await (opts.detach ? spawnDetached(on, opts) : runAttached(on.executor, opts));
  } catch (err) {
    const said = translateNodeError(err, opts.socketPath, { module: opts.moduleName });
    // What the other peer refused is its operator's rule, not this node's: say whose.
    if (on.remote && said instanceof UsageError) throw new UsageError(`peer ${on.peerId} refused: ${said.line}`);
    if (on.remote && said instanceof InputError) throw new InputError(`peer ${on.peerId} refused: ${said.line}`);
    throw said;
  } finally {
    if (on.remote) on.executor.release();
    session.close();
  }
}

/** True when a ww node answers on `socketPath` (`ww run` uses one when there is one). */
export async function nodeIsListening(socketPath: string): Promise<boolean> {
  const { connectNode, NodeError } = await import('../../src/node/client.js');
  try {
    const session = await connectNode(socketPath);
    session.close();
    return true;
  } catch (err) {
    if (err instanceof NodeError && err.code === 'no-node') return false;
    throw err;
  }
}

export { NodeMissingError };

async function spawnDetached(on: { executor: Executor$Client; peerId?: string }, opts: RunOnNodeOptions): Promise<number> {
  // Not attached: the node keeps it after this connection closes.
  const spec = spawnSpec(opts, { mode: OutputMode.discard }, { mode: OutputMode.discard });
  const spawned = on.executor.spawn({ spec });
  const { process: proc, pid, listening } = await spawned;
  proc.release(); // a released Process capability does not end the process: the node owns it
  await reportListening(opts, listening);
  await writeAll(opts.stdout, new TextEncoder().encode(on.peerId !== undefined ? `${on.peerId}/${pid}\n` : `${pid}\n`));
  return 0;
}

async function runAttached(executor: Executor$Client, opts: RunOnNodeOptions): Promise<number> {
  const stdoutSink = sinkFor(opts.stdout);
  const stderrSink = sinkFor(opts.stderr);
  const source = opts.stdin instanceof Uint8Array || opts.stdin === undefined ? undefined : serve(ByteSource, stdinSource(opts.stdin));
  const spec = spawnSpec(opts, { mode: OutputMode.sink, sink: stdoutSink }, { mode: OutputMode.sink, sink: stderrSink }, source);
  const spawned = executor.spawn({ spec });
  // spawn() took its own references to the sinks and the source; ours are no longer needed.
  stdoutSink.release();
  stderrSink.release();
  source?.release();
  const proc = spawned.process; // pipelined: kill works even before spawn's answer arrives

  let signal: NodeJS.Signals | undefined;
  const onSignal = (received: NodeJS.Signals): void => {
    if (!signal) {
      signal = received;
      // Ending now: after a hangup the terminal may be gone, and a failed write must not crash ww first.
      for (const out of [opts.stdout, opts.stderr]) (out as Partial<NodeJS.EventEmitter>).on?.('error', () => {});
    }
    proc.kill().then(
      () => {},
      () => {}, // it may have ended already; wait() reports what happened
    );
  };
  const signals = opts.signals ?? ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const name of signals) process.on(name, onSignal);
  try {
    // Surfaces a refused spawn (invalid module, bad directory) before waiting.
    const { process: answered, listening } = await spawned;
    answered.release();
    await reportListening(opts, listening);
    const { status } = await proc.wait();
    const end = { code: status.code, reason: reasonFromWire(status.reason) };
    // After a hangup the terminal may be gone: the status still counts, a line that cannot be written does not.
    const say = (line: string): Promise<void> => writeAll(opts.stderr, new TextEncoder().encode(`${line}\n`)).catch((err: unknown) => {
      if (!signal) throw err;
    });
    return await reportEnd(end, { limits: opts.limits, signal }, say);
  } finally {
    for (const name of signals) process.off(name, onSignal);
    proc.release();
  }
}

function spawnSpec(
  opts: RunOnNodeOptions,
  stdout: { mode: OutputMode; sink?: ByteSink$Client },
  stderr: { mode: OutputMode; sink?: ByteSink$Client },
  stdinSource?: ByteSource$Client,
): SpawnSpec$Init {
  if (opts.argv.length === 0) throw new InputError('runOnNode needs argv[0], the program name');
  const limits = opts.limits ?? {};
  return {
    moduleBytes: opts.module,
    argv: opts.argv,
    env: Object.entries(opts.env ?? {}).map(([key, value]) => ({ key, value })),
    dirs: (opts.dirs ?? []).map((d) => ({ hostPath: d.hostPath, guestPath: d.guestPath, readOnly: d.readOnly ?? false })),
    limits: {
      maxMemoryBytes: BigInt(limits.maxMemoryBytes ?? 0),
      fuel: BigInt(limits.fuel ?? 0),
      timeoutMs: BigInt(limits.timeoutMs ?? 0),
    },
    listen: (opts.listen ?? []).map((l) => l.address),
    stdin: opts.stdin instanceof Uint8Array ? opts.stdin : new Uint8Array(0),
    ...(stdinSource ? { stdinSource } : {}),
    // Ends with this connection unless detached (the wire's default keeps it on the node).
    attached: !opts.detach,
    stdout,
    stderr,
  };
}

/** Port 0 picked a free port on the node: say which, as local `ww run` does. */
async function reportListening(opts: RunOnNodeOptions, listening: readonly string[]): Promise<void> {
  for (const [i, address] of listening.entries()) {
    if (opts.listen?.[i]?.port === 0) await writeAll(opts.stderr, new TextEncoder().encode(`ww: listening on ${address} (fd ${3 + i})\n`));
  }
}

/** A ByteSink that writes each chunk to `out`, answering once `out` has taken it (backpressure). */
function sinkFor(out: OutputWriter): ByteSink$Client {
  return serve(ByteSink, {
    write: async ({ data }) => {
      // The message buffer may be reused after the call returns: copy before handing it on.
      await writeAll(out, Uint8Array.from(data));
    },
  });
}

function writeAll(out: OutputWriter, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}
