// Peers for the cluster tests: nodes on loopback, each with its own socket and data directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode, type P2pOptions, type StartNodeOptions, type WwNode } from '../../src/node/index.js';
import { executorErrorFromRpc } from '../../src/executor/rpc.js';
import { loadIdentity } from '../../src/cluster/index.js';

// Every directory made here is removed when the test process ends (also after a failure).
const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ww-peer-'));
  made.push(dir);
  return dir;
}

/** A fresh directory for a peer, and the peer ID its node will have (the key is made now, in its data directory). */
export async function peerDir(): Promise<{ dir: string; dataDir: string; peerId: string }> {
  const dir = freshDir();
  const dataDir = join(dir, 'data');
  return { dir, dataDir, peerId: (await loadIdentity(dataDir)).peerId };
}

export interface TestPeer {
  node: WwNode;
  dir: string;
  close(): Promise<void>;
}

/** A node that is a peer, listening on a loopback port. */
export async function startPeer(p2p: P2pOptions, opts: Omit<StartNodeOptions, 'socketPath' | 'p2p'> & { dir?: string } = {}): Promise<TestPeer> {
  const dir = opts.dir ?? freshDir();
  const node = await startNode({ poolSize: 1, pauseGraceMs: 0, dataDir: join(dir, 'data'), ...opts, socketPath: join(dir, 'run', 'node.sock'), p2p });
  return {
    node,
    dir,
    async close() {
      await node.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The executor refusal code of a failed call (or its message when it is not one). */
export async function refusedWith(p: PromiseLike<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return executorErrorFromRpc(e)?.code ?? `not an executor refusal: ${(e as Error).message}`;
  }
  throw new Error('not refused');
}

/** The error a promise fails with. */
export async function failure(p: PromiseLike<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('did not fail');
}
