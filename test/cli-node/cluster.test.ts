// `ww cluster ls` end to end: the real CLI against a real `ww start` node that joined no one (a peer
// on its loopback port, admitting nobody), whose view is itself alone, with its own load.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectNode } from '../../src/node/index.js';
import type { PeerJson } from '../../cli/lib/cluster-format.js';
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


async function clusterJson(): Promise<PeerJson[]> {
  const r = await runWw(['cluster', 'ls', '--json', '--socket', node.socketPath]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as PeerJson[];
}

test('ww cluster ls --json: a node that joined no one lists itself alone, with its address and load', async () => {
  const before = Date.now();
  const [self, ...others] = await clusterJson();
  assert.deepEqual(others, []);
  assert.equal(self!.peerId, peerId);
  assert.equal(self!.self, true);
  assert.equal(self!.addresses.length, 1);
  assert.match(self!.addresses[0]!, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${peerId}$`));
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
  // Its address without the /p2p/ suffix (the PEER column names it; --json has the whole address).
  assert.match(row!, /\s\/ip4\/127\.0\.0\.1\/tcp\/\d+\s+\d+\s+\d+\s+[\d.]+ (B|KiB|MiB)\s+self$/);
  const narrow = await runWw(['cluster', 'ls', '--socket', node.socketPath], { env: { COLUMNS: '60' } });
  for (const line of narrow.stdout.trimEnd().split('\n')) assert.ok(line.length <= 60, `${line.length}: ${line}`);
  assert.match(narrow.stdout, new RegExp(`^${peerId.slice(0, 12)}\\s.*self$`, 'm'), 'too narrow for the addresses, the row keeps the rest');
});
