// How the node commands (ps, kill, pause, resume, wait, info, and `ww run` in node mode) reach a running
// ww node: one connection per command, errors turned into the one-line messages the user sees.
// The commands import this module when they run (not when oclif loads them), so that `ww --help` and
// a local `ww run` load no RPC; their arguments are parsed by node-args.ts.
import { InputError, UsageError } from '../errors.js';
import { ProcessState, type Admin$Client, type Executor$Client, type Node$Client, type PeerInfo, type Process$Client } from '../../src/capnp-gen/ww.rpc.js';
import { executorErrorFromRpc, reasonFromWire, reasonText } from '../../src/executor/wire.js';
import { RpcError } from '../../src/rpc/index.js';
import { resolveSocketPath } from './socket-path.js';
import type { ProcessRef } from './node-args.js';
import { refusal, type RefusalSubject } from './executor-error.js';
import { oneLine } from '../text.js';

/** No node answers on the socket: exit 1, with what to do about it. */
export class NodeMissingError extends InputError {
  constructor(readonly socketPath: string) {
    super(`no ww node is listening on ${socketPath}: start one with \`ww start\``);
  }
}

export interface NodeSession {
  socketPath: string;
  node: Node$Client;
  /** This connection's Executor: spawns, and ps of what it spawned. */
  executor: Executor$Client;
  /** The node's Admin capability (the commands run as the node's owner): every process, by PID. */
  admin: Admin$Client;
  close(): void;
}

/** Connects to the node on `socketPath`; throws NodeMissingError when none answers. */
export async function openNode(socketPath: string): Promise<NodeSession> {
  const { connectNode, NodeError } = await import('../../src/node/client.js');
  let session: Awaited<ReturnType<typeof connectNode>>;
  try {
    session = await connectNode(socketPath);
  } catch (err) {
    if (!(err instanceof NodeError)) throw err;
    throw err.code === 'no-node' ? new NodeMissingError(socketPath) : new InputError(oneLine(err));
  }
  // Pipelined: neither costs a round trip until used.
  const executor = session.node.executor().executor;
  const admin = session.node.admin().admin;
  return {
    socketPath,
    node: session.node,
    executor,
    admin,
    close: () => {
      executor.release();
      admin.release();
      session.close();
    },
  };
}

/** Runs `body` with a connection to the node, closing it afterwards and translating RPC failures. */
export async function withNode<T>(socketFlagValue: string | undefined, body: (session: NodeSession) => PromiseLike<T>): Promise<T> {
  const socketPath = await resolveSocketPath(socketFlagValue);
  const session = await openNode(socketPath);
  try {
    return await body(session);
  } catch (err) {
    throw translateNodeError(err, socketPath);
  } finally {
    session.close();
  }
}

/**
 * Fails with `process N has already ended: <reason>` when `pid` has ended: for pause and resume, which
 * the node accepts on an ended process as a no-op, but which a user asking for them should hear about.
 */
export async function requireNotEnded(process: Process$Client, name: string | number): Promise<void> {
  const { info } = await process.info();
  if (info.state === ProcessState.exited) throw new InputError(`process ${name} has already ended: ${reasonText(reasonFromWire(info.reason))}`);
}

/** A Process capability for PID (through the owner's Admin capability) or PEER/PID (through this
 *  node's principal on that peer: what it spawned there; this node's own ID is this node). Pipelined:
 *  a bad pid surfaces at the first call on it. */
export async function processFor(session: NodeSession, ref: ProcessRef | number): Promise<Process$Client> {
  const { peer, pid } = typeof ref === 'number' ? { peer: undefined, pid: ref } : ref;
  if (peer === undefined) return session.admin.process({ pid }).process;
  const target = await peerNamed(session, peer);
  if (target.self) return session.admin.process({ pid }).process;
  const executor = await executorOn(session, target.peerId);
  try {
    return await withTimeout((async () => (await executor.process({ pid })).process)(), `peer ${target.peerId} did not answer within ${PEER_ANSWER_MS / 1000} s`);
  } finally {
    executor.release();
  }
}

/** How long another peer may take to answer a lookup (its Executor, a process, a listing); what
 *  a process then does (spawn, wait) is not bounded by it. */
export const PEER_ANSWER_MS = 10_000;

/** `p`, or a rejection with `message` after PEER_ANSWER_MS: a peer that stays live but never answers. */
export function withTimeout<T>(p: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new InputError(message)), PEER_ANSWER_MS)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** This node's Executor on another peer (what that peer grants this node). Each step is awaited
 *  rather than pipelined: calls pipelined on a promise that resolves to another peer's capability
 *  lost the connection now and then (seen in test/cli-node/remote.test.ts; cause not yet found). */
export async function executorOn(session: NodeSession, peerId: string): Promise<Executor$Client> {
  return withTimeout(
    (async () => {
      const { node } = await session.node.peer({ peerId });
      try {
        return (await node.executor()).executor;
      } finally {
        node.release();
      }
    })(),
    `peer ${peerId} did not answer within ${PEER_ANSWER_MS / 1000} s`,
  );
}

/** The live peer that `prefix` names, or the least loaded one for `auto` (peer-prefix.ts); an
 *  unknown or ambiguous prefix is an InputError (exit 1) that lists the candidates. */
export async function peerNamed(session: NodeSession, prefix: string): Promise<PeerInfo> {
  const { peers } = await session.node.cluster();
  const { leastLoaded, resolvePeer } = await import('../../src/executor/wire.js');
  if (prefix === 'auto') return leastLoaded(peers) ?? peers[0]!;
  try {
    return resolvePeer(prefix, peers);
  } catch (e) {
    throw new InputError(oneLine(e));
  }
}

/**
 * Maps what the node answers to the user's one-line errors: its refusals by their code (the same
 * lines as when the executor runs here), a lost connection, any other failure by its message (the
 * node's messages are written for users). Leaves ww's own errors and bugs alone.
 */
export function translateNodeError(err: unknown, socketPath: string, subject?: RefusalSubject): unknown {
  if (err instanceof UsageError || err instanceof InputError) return err;
  const refused = executorErrorFromRpc(err);
  if (refused) return refusal(refused, subject);
  if (!(err instanceof RpcError)) return err;
  if (err.type === 'disconnected') return new InputError(`lost the connection to the ww node on ${socketPath} (did it stop?)`);
  return new InputError(oneLine(err));
}
