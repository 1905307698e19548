// `ww cluster ls` end to end: the real CLI against a real `ww start` node in no cluster, whose view is
// itself alone, with its own load.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectNode } from '../../src/node/index.js';
import { cpuLoop, eventually, FOREVER, rpcSession, runWw, startNodeProcess, type NodeUnderTest, type RpcSession } from './helpers.js';

const NODE_MEMORY = 64 * 1024 * 1024;
let node: NodeUnderTest;
let rpc: RpcSession;
let peerId = '';

before(async () => {
  node = await startNodeProcess(['--node-memory', '64M']);
  rpc = await rpcSession(node.socketPath);
  const session = await connectNode(node.socketPath);
  try {
    peerId = (await session.node.identity()).info.peerId;
  } finally {
    session.close();
  }
});

after(async () => {
  rpc?.close();
  await node?.dispose();
});

interface PeerJson {
  peerId: string;
  addresses: string[];
  running: number;
  queued: number;
  freeMemoryBytes: number;
  lastSeenMs: number;
  lastSeen: string;
  self: boolean;
}

async function clusterJson(): Promise<PeerJson[]> {
  const r = await runWw(['cluster', 'ls', '--json', '--socket', node.socketPath]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as PeerJson[];
}

test('ww cluster ls --json: a node in no cluster lists itself alone, with its load', async () => {
  const before = Date.now();
  const [self, ...others] = await clusterJson();
  assert.deepEqual(others, []);
  assert.equal(self!.peerId, peerId);
  assert.equal(self!.self, true);
  assert.deepEqual(self!.addresses, []);
  assert.equal(self!.freeMemoryBytes, NODE_MEMORY);
  assert.ok(self!.lastSeenMs >= before - 1000, 'this node is seen now');
  assert.equal(new Date(self!.lastSeenMs).toISOString(), self!.lastSeen);

  await rpc.spawn(cpuLoop, ['cpu-loop.wasm', FOREVER]);
  const busy = await eventually('the node counts the process', async () => {
    const [p] = await clusterJson();
    return p!.running === 1 ? p : undefined;
  });
  assert.equal(busy.queued, 0);
  assert.ok(busy.freeMemoryBytes < NODE_MEMORY, 'its linear memory is taken from the budget');
});

test('ww cluster ls: a table that fits the terminal, this node marked self', async () => {
  const wide = await runWw(['cluster', 'ls', '--socket', node.socketPath], { env: { COLUMNS: '200' } });
  assert.equal(wide.status, 0, wide.stderr);
  const [header, row, ...rest] = wide.stdout.trimEnd().split('\n');
  assert.match(header!, /^PEER\s+ADDRESSES\s+RUNNING\s+QUEUED\s+FREE MEM\s+SEEN$/);
  assert.deepEqual(rest, []);
  assert.ok(row!.startsWith(peerId.slice(0, 12)), row);
  assert.match(row!, /\s-\s+\d+\s+\d+\s+[\d.]+ (B|KiB|MiB)\s+self$/);
  const narrow = await runWw(['cluster', 'ls', '--socket', node.socketPath], { env: { COLUMNS: '60' } });
  for (const line of narrow.stdout.trimEnd().split('\n')) assert.ok(line.length <= 60, `${line.length}: ${line}`);
});
