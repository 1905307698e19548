// The node's capability store: names to capabilities, each principal's own apart from the names
// shared with all (guest-sdk/ABI.md "The capability store").
import { out, ww_store_get, ww_store_set } from "./abi";
import { Errno, Result } from "./errors";
import { Handle, HandleKind, initialOfKind, wwErr } from "./handle";

/** A STORE handle: one principal's view of the store. A process started by a node has two
 * (initial handles 1 and 2: its principal's own names, the shared names); a child only if passed. */
export class Store extends Handle {
  /** This process's own names (the first Store among its initial handles); null if it was given none. */
  static initial(): Store | null {
    const h = initialOfKind(HandleKind.STORE);
    return h == 0 ? null : new Store(h);
  }

  /** The names shared with every principal (the second Store among its initial handles): anyone
   * reads them, only a name's owner replaces or removes it (EPERM). Null if it was given none. */
  static shared(): Store | null {
    const h = initialOfKind(HandleKind.STORE, 1);
    return h == 0 ? null : new Store(h);
  }

  /** Stores (a reference to) the capability `handle` names under `name` (1-255 bytes of UTF-8),
   * replacing an earlier one. The caller keeps its handle. */
  set(name: string, handle: Handle): Errno {
    const bytes = String.UTF8.encode(name);
    return ww_store_set(this.h, changetype<usize>(bytes), <u32>bytes.byteLength, handle.handle);
  }

  /** Removes `name` from the store. */
  remove(name: string): Errno {
    const bytes = String.UTF8.encode(name);
    return ww_store_set(this.h, changetype<usize>(bytes), <u32>bytes.byteLength, 0);
  }

  /** A new handle to the capability stored under `name` (ENOENT if none), typed by the caller:
   * `store.get<Sender>("jobs")`. Use `.kind()` on it when the type is not known in advance. */
  get<T extends Handle>(name: string): Result<T> {
    const bytes = String.UTF8.encode(name);
    const errno = ww_store_get(this.h, changetype<usize>(bytes), <u32>bytes.byteLength, out);
    if (errno != 0) return wwErr<T>(errno, "store_get " + name);
    return Result.ok<T>(instantiate<T>(load<i32>(out)));
  }

  dup(): Result<Store> {
    const n = this.dupNumber();
    if (!n.ok) return Result.err<Store>(n.errno, n.what, n.detail);
    return Result.ok(new Store(n.value));
  }
}
