// The client side of a ww node: where its socket is by default, connecting to it, and the errors of
// both ends (NodeError). Apart from index.ts so that a client loads no executor or runtime.

import { Node, type Node$Client } from '../capnp-gen/ww.rpc.js';
import { Connection, connectUnix, type Transport } from '../rpc/index.js';
import { defaultSocketPath } from './socket-path.js';

export { defaultSocketPath };

/** Why a node cannot start, or cannot be reached: a code, and a message that says what to do. */
export type NodeErrorCode = 'already-listening' | 'cannot-listen' | 'bad-socket-path' | 'no-node' | 'unreachable' | 'bad-raft';

export class NodeError extends Error {
  constructor(
    readonly code: NodeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NodeError';
  }
}

export interface NodeConnection {
  conn: Connection;
  node: Node$Client;
  close(): void;
}

/** Connects to the node on a unix socket (default: defaultSocketPath()). */
export async function connectNode(socketPath?: string): Promise<NodeConnection> {
  const path = socketPath ?? defaultSocketPath();
  let transport: Transport;
  try {
    transport = await connectUnix(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTSOCK') {
      throw new NodeError('no-node', `no ww node is listening on ${path}: start one with \`ww start\``, { cause: e });
    }
    throw new NodeError('unreachable', `cannot connect to the ww node on ${path}: ${(e as Error).message}`, { cause: e });
  }
  const conn = new Connection(transport);
  const node = conn.bootstrap(Node);
  return {
    conn,
    node,
    close() {
      node.release();
      conn.close();
    },
  };
}
