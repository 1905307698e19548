// The processes spawned with SpawnSpec.attached through one connection: killed (with their subtrees)
// when that connection closes, whatever closed it (the client exited, was killed, lost the node).
import type { ProcessEntry } from './table.js';

export class AttachedProcesses {
  private readonly kills = new Set<() => void>();
  private closed = false;

  /** Runs `kill` when the connection closes, unless `e` has ended by then; at once if it has closed. */
  add(e: ProcessEntry, kill: () => void): void {
    if (e.status) return;
    if (this.closed) return kill();
    this.kills.add(kill);
    e.onEnd.add(() => this.kills.delete(kill));
  }

  /** The connection closed: end what is attached to it. */
  close(): void {
    this.closed = true;
    const kills = [...this.kills];
    this.kills.clear();
    for (const kill of kills) {
      try {
        kill();
      } catch {
        // one process failing to end must not spare the others
      }
    }
  }
}
