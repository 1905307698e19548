// What one principal may use of a node at once, and the owner's defaults. A leaf: `ww start --help`
// names the defaults without loading the executor.

import { totalmem } from 'node:os';

const MIB = 1024 * 1024;

export interface Quotas {
  /** Live processes (a process queued for a worker counts: it holds memory already). */
  processes: number;
  /** Spawns being prepared (module compiled, sockets opened) and not yet started. */
  spawning: number;
  /** Open connections. */
  connections: number;
  /** Bytes of linear memory its live processes hold together (each grow is counted as it happens). */
  memoryBytes: number;
  /** Bytes its processes' channel messages not yet received hold, also after their sender ended. Default 1 GiB. */
  channelBytes?: number;
  /** Channels its processes created that are still open. Default 65,536. */
  openChannels?: number;
  /** Links to other peers' processes and monitors served over RPC that its processes hold together. Default 16,384. */
  links?: number;
}

/** Channel defaults of every principal (the Quotas fields are optional). */
export const DEFAULT_CHANNEL_BYTES = 1024 * MIB;
export const DEFAULT_OPEN_CHANNELS = 65_536;
/** Remote links and RPC monitors of one principal's processes (Quotas.links). */
export const DEFAULT_LINKS = 16_384;

/** The owner's defaults; `ww start --max-processes`, `--max-spawning`, `--max-connections`,
 *  `--max-principal-memory` change them. Memory: half of this machine's, so one principal cannot
 *  leave the host without any. */
export const DEFAULT_QUOTAS: Readonly<Quotas> = {
  processes: 4096,
  spawning: 256,
  connections: 256,
  memoryBytes: Math.floor(totalmem() / 2 / MIB) * MIB,
};

/** What all principals' processes together may hold in linear memory (`ww start --node-memory`):
 *  three quarters of this machine's, leaving the rest to the node itself and the host, so the node
 *  refuses work ("node memory budget exhausted") before the kernel's OOM killer would end it. */
export const DEFAULT_NODE_MEMORY_BYTES = Math.floor((totalmem() * 3) / 4 / MIB) * MIB;
