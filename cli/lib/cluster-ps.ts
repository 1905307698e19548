// `ww ps --cluster`: every live peer's processes that this node may see, through the node: its own
// by the owner's Admin capability, another peer's by this node's principal there (Node.peer, then
// that Executor's ps: what this node spawned there). A peer that fails or does not answer within
// PEER_ANSWER_MS is reported, never a failure of the listing.
import type { Executor$Client, PeerInfo, ProcessInfo } from '../../src/capnp-gen/ww.rpc.js';
import { uniquePrefixLength } from './cluster-format.js';
import { outputWidth, processJson, processTable } from './format.js';
import { executorOn, PEER_ANSWER_MS, withNode, withTimeout } from './node-connection.js';
import type { PsFlags } from './ps-command.js';
import { oneLine, printable } from '../text.js';

/** Pages asked of one peer (PS_PAGE_ENTRIES each): a listing stays bounded whatever a peer holds. */
const PS_PAGE_ENTRIES = 4096; // as src/executor/caps.ts pages ps (the CLI does not load the executor)
const MAX_PAGES_PER_PEER = 4;

interface PeerListing {
  peer: PeerInfo;
  processes: ProcessInfo[];
  /** Listed only in part: the peer had more than MAX_PAGES_PER_PEER pages. */
  more: boolean;
  error?: string;
}

type Lister = Pick<Executor$Client, 'ps'>;

export async function clusterPs(flags: PsFlags): Promise<void> {
  const listings = await withNode(flags.socket, async (session) => {
    const { peers } = await session.node.cluster();
    return Promise.all(
      peers.map(async (peer): Promise<PeerListing> => {
        let remote: Executor$Client | undefined;
        try {
          const lister = async (): Promise<PeerListing> => listAll(peer, peer.self ? session.admin : (remote = await executorOn(session, peer.peerId)));
          return await withTimeout(lister(), `${peer.peerId} did not answer within ${PEER_ANSWER_MS / 1000} s`);
        } catch (e) {
          return { peer, processes: [], more: false, error: oneLine(e) };
        } finally {
          remote?.release();
        }
      }),
    );
  });
  if (flags.json) {
    const out = listings.map((l) => ({ peerId: l.peer.peerId, self: l.peer.self, error: l.error ?? null, more: l.more, processes: l.processes.map(processJson) }));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const prefix = uniquePrefixLength(listings.map((l) => l.peer.peerId));
  const short = (id: string): string => printable(id.slice(0, prefix));
  const all = listings.flatMap((l) => [...l.processes].sort((x, y) => x.pid - y.pid).map((p) => ({ ...p, peerId: l.peer.peerId })));
  const lines = processTable(all, { nowMs: Date.now(), width: outputWidth(), keepOrder: true, pidText: (p) => `${short(p.peerId)}/${p.pid}` }).trimEnd().split('\n');
  for (const l of listings) {
    if (l.error) lines.push(`${short(l.peer.peerId)}: not listed: ${l.error}`);
    else if (l.more) lines.push(`${short(l.peer.peerId)}: more processes than listed (the first ${l.processes.length})`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function listAll(peer: PeerInfo, lister: Lister): Promise<PeerListing> {
  const processes: ProcessInfo[] = [];
  for (let after = 0, pages = 0; ; pages++) {
    if (pages === MAX_PAGES_PER_PEER) return { peer, processes, more: true };
    const page = await lister.ps({ after });
    // A page larger than a node ever sends is a peer that lies: keep what a page may hold.
    if (page.processes.length > PS_PAGE_ENTRIES) return { peer, processes: [...processes, ...page.processes.slice(0, PS_PAGE_ENTRIES)], more: true };
    processes.push(...page.processes);
    if (!page.more || page.processes.length === 0) return { peer, processes, more: false };
    after = page.processes[page.processes.length - 1]!.pid;
  }
}

