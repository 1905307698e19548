// The guest's file descriptor table: small integers -> Handle. Lowest free
// number is reused first (as POSIX and wasmtime do). Lookup of a number the
// table does not hold is EBADF.
import { Errno, WasiError } from './abi/errno.js';
import type { Handle } from './handle.js';

/** Upper bound on open fds per guest, so a guest cannot exhaust host fds. */
export const MAX_FDS = 4096;

export class FdTable {
  private readonly entries: (Handle | undefined)[] = [];
  private count = 0;

  get(fd: number): Handle {
    const h = fd >= 0 ? this.entries[fd] : undefined;
    if (!h) throw new WasiError(Errno.BADF);
    return h;
  }

  /** The handle at fd if it is an instance of `kind`, else EBADF (wasmtime's "not a file" / "not a dir"). */
  getAs<T extends Handle>(fd: number, kind: abstract new (...args: never[]) => T, errno = Errno.BADF): T {
    const h = this.get(fd);
    if (!(h instanceof kind)) throw new WasiError(errno);
    return h;
  }

  /** Puts `h` at the lowest free fd and returns it. */
  insert(h: Handle): number {
    if (this.count >= MAX_FDS) throw new WasiError(Errno.MFILE);
    let fd = this.entries.indexOf(undefined);
    if (fd < 0) fd = this.entries.length;
    this.entries[fd] = h;
    this.count++;
    return fd;
  }

  /** Puts `h` at exactly `fd` (used to set up stdio and preopens). */
  set(fd: number, h: Handle): void {
    if (this.entries[fd]) throw new Error(`fd ${fd} is already in use`);
    while (this.entries.length < fd) this.entries.push(undefined);
    this.entries[fd] = h;
    this.count++;
  }

  /** Removes fd from the table (without closing the handle) and returns it. */
  take(fd: number): Handle {
    const h = this.get(fd);
    this.entries[fd] = undefined;
    this.count--;
    while (this.entries.length > 0 && this.entries[this.entries.length - 1] === undefined) this.entries.pop();
    return h;
  }

  /**
   * fd_renumber: `to` now refers to what `from` referred to, and what `to` held is closed. Both must
   * be open (EBADF otherwise, as wasmtime): renumbering is not a way to pick a free fd's number.
   */
  renumber(from: number, to: number): void {
    const h = this.get(from);
    const old = this.get(to);
    if (from === to) return;
    // Closed before the table changes: a socket's close may suspend the guest, and the call then runs
    // again from its start (blocked.ts), which must find the table as it was.
    old.close();
    this.entries[to] = h;
    this.take(from);
  }

  /** Closes every handle. */
  closeAll(): void {
    for (let fd = 0; fd < this.entries.length; fd++) {
      const h = this.entries[fd];
      if (!h) continue;
      this.entries[fd] = undefined;
      try {
        h.close();
      } catch {
        // Closing is best effort at teardown; one failure must not leak the rest.
      }
    }
    this.entries.length = 0;
    this.count = 0;
  }
}
