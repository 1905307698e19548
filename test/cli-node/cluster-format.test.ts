// How `ww cluster ls` shows peers (cli/lib/cluster-format.ts): pure functions, given the clock and width.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PeerInfo } from '../../src/capnp-gen/ww.rpc.js';
import { peerJson, peerTable, uniquePrefixLength } from '../../cli/lib/cluster-format.js';

const NOW = 1_800_000_000_000;
function peer(peerId: string, extra: Partial<PeerInfo> = {}): PeerInfo {
  return { peerId, addresses: ['/ip4/10.99.0.1/tcp/4001'], running: 3, queued: 1, freeMemoryBytes: 2n ** 30n, lastSeenMs: BigInt(NOW - 4200), self: false, ...extra };
}

test('peer IDs are shown by the shortest prefix (at least 12 characters) that tells them apart', () => {
  assert.equal(uniquePrefixLength(['12D3KooWAAAAAAAAAAAAAAA', '12D3KooWBBBBBBBBBBBBBBB']), 12);
  assert.equal(uniquePrefixLength(['12D3KooWAAAAAAAAxyz', '12D3KooWAAAAAAAAxzz']), 18);
  assert.equal(uniquePrefixLength(['12D3KooWA']), 9, 'an ID shorter than 12 is shown whole');
});

test('the table: this node first as self, others seen N s ago, addresses as the first and how many more', () => {
  const peers = [
    peer('12D3KooWSelfSelfSelf', { self: true, lastSeenMs: BigInt(NOW), addresses: [] }),
    peer('12D3KooWOtherOne', { addresses: ['/ip4/10.99.0.2/tcp/4001', '/ip6/::1/tcp/4001', '/ip4/127.0.0.1/tcp/4001'] }),
  ];
  const lines = peerTable(peers, { nowMs: NOW }).trimEnd().split('\n');
  assert.match(lines[0]!, /^PEER\s+ADDRESSES\s+RUNNING\s+QUEUED\s+FREE MEM\s+SEEN$/);
  assert.match(lines[1]!, /^12D3KooWSelf\s+-\s+3\s+1\s+1 GiB\s+self$/);
  assert.match(lines[2]!, /^12D3KooWOthe\s+\/ip4\/10\.99\.0\.2\/tcp\/4001 \+2\s+3\s+1\s+1 GiB\s+4s ago$/);
});

test('with a width, ADDRESSES is cut with … until each line fits', () => {
  const peers = [peer('12D3KooWOtherOne', { addresses: ['/dns4/a-rather-long-host-name.example.internal/tcp/4001/p2p/12D3KooWOtherOne'] })];
  const lines = peerTable(peers, { nowMs: NOW, width: 70 }).trimEnd().split('\n');
  for (const line of lines) assert.ok(line.length <= 70, `${line.length}: ${line}`);
  assert.match(lines[1]!, /…/);
});

test('JSON: every field, numbers instead of bigints, the time also as ISO', () => {
  assert.deepEqual(peerJson(peer('12D3KooWX')), {
    peerId: '12D3KooWX',
    addresses: ['/ip4/10.99.0.1/tcp/4001'],
    running: 3,
    queued: 1,
    freeMemoryBytes: 2 ** 30,
    lastSeenMs: NOW - 4200,
    lastSeen: new Date(NOW - 4200).toISOString(),
    self: false,
  });
});
