// How the node commands (ps, kill, pause, resume, wait, info, and `ww run` in node mode) reach a running
// ww node: one connection per command, errors turned into the one-line messages the user sees.
// src/node is imported lazily so that `ww --help` does not load the executor.
import { Flags } from '@oclif/core';
import { InputError, UsageError } from '../errors.js';
import { ProcessState, type Executor$Client, type Node$Client, type Process$Client } from '../../src/capnp-gen/ww.rpc.js';
import { executorErrorFromRpc, reasonFromWire, reasonText } from '../../src/executor/rpc.js';
import { RpcError } from '../../src/rpc/index.js';
import { refusal, type RefusalSubject } from './executor-error.js';

/** The --socket flag every node command takes (WW_SOCKET in the environment sets it too). */
export const socketFlag = Flags.string({
  helpValue: 'PATH',
  env: 'WW_SOCKET',
  description: "the node's unix socket (default: $XDG_RUNTIME_DIR/ww/node.sock, else ~/.ww/node.sock; or $WW_SOCKET)",
});

/** No node answers on the socket: exit 1, with what to do about it. */
export class NodeMissingError extends InputError {
  constructor(readonly socketPath: string) {
    super(`no ww node is listening on ${socketPath}: start one with \`ww start\``);
  }
}

export interface NodeSession {
  socketPath: string;
  node: Node$Client;
  executor: Executor$Client;
  close(): void;
}

/** The socket path to use: the flag's value, else the node's default. */
export async function resolveSocketPath(flag: string | undefined): Promise<string> {
  if (flag !== undefined && flag !== '') return flag;
  const { defaultSocketPath } = await import('../../src/node/index.js');
  return defaultSocketPath();
}

/** Connects to the node on `socketPath`; throws NodeMissingError when none answers. */
export async function openNode(socketPath: string): Promise<NodeSession> {
  const { connectNode, NodeError } = await import('../../src/node/index.js');
  let session: Awaited<ReturnType<typeof connectNode>>;
  try {
    session = await connectNode(socketPath);
  } catch (err) {
    if (!(err instanceof NodeError)) throw err;
    throw err.code === 'no-node' ? new NodeMissingError(socketPath) : new InputError(oneLine(err));
  }
  const executor = session.node.executor().executor;
  return {
    socketPath,
    node: session.node,
    executor,
    close: () => {
      executor.release();
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
export async function requireNotEnded(process: Process$Client, pid: number): Promise<void> {
  const { info } = await process.info();
  if (info.state === ProcessState.exited) throw new InputError(`process ${pid} has already ended: ${reasonText(reasonFromWire(info.reason))}`);
}

/** A Process capability for `pid` (pipelined: a bad pid surfaces at the first call on it). */
export function processFor(session: NodeSession, pid: number): Process$Client {
  return session.executor.process({ pid }).process;
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

/** Parses a PID argument: a positive whole number, else a usage error (exit 2). */
export function parsePid(text: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0 || value > 0xffff_ffff) {
    throw new UsageError(`PID '${text}' is not a process id; write a positive whole number, as \`ww ps\` shows it (e.g. 42)`);
  }
  return value;
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
