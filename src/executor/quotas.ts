// What one principal may use of a node at once, and the owner's defaults. A leaf: `ww start --help`
// names the defaults without loading the executor.

export interface Quotas {
  /** Live processes (a process queued for a worker counts: it holds memory already). */
  processes: number;
  /** Spawns being prepared (module compiled, sockets opened) and not yet started. */
  spawning: number;
  /** Open connections. */
  connections: number;
}

/** The owner's defaults; `ww start --max-processes`, `--max-spawning`, `--max-connections` change them. */
export const DEFAULT_QUOTAS: Readonly<Quotas> = { processes: 4096, spawning: 256, connections: 256 };
