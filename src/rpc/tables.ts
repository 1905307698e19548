// The four tables of rpc.capnp, as plain data structures with their reference-count rules.
// Questions and exports use ids we choose (lowest free id first, like the C++ implementation);
// answers and imports use ids the peer chose.

/** A table whose ids we allocate, reusing the lowest freed id first (a min-heap of free ids). */
export class IdTable<T> {
  private slots: (T | undefined)[] = [];
  private free: number[] = [];
  private count = 0;

  alloc(value: T): number {
    const id = this.free.length > 0 ? this.popFree() : this.slots.length;
    this.slots[id] = value;
    this.count++;
    return id;
  }

  get(id: number): T | undefined {
    return this.slots[id];
  }

  delete(id: number): T | undefined {
    const v = this.slots[id];
    if (v === undefined) return undefined;
    this.slots[id] = undefined;
    this.count--;
    this.pushFree(id);
    return v;
  }

  get size(): number {
    return this.count;
  }

  *entries(): IterableIterator<[number, T]> {
    for (let i = 0; i < this.slots.length; i++) {
      const v = this.slots[i];
      if (v !== undefined) yield [i, v];
    }
  }

  private pushFree(id: number): void {
    const h = this.free;
    let i = h.length;
    h.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent] <= id) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = id;
  }

  private popFree(): number {
    const h = this.free;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r] < h[l] ? r : l;
        if (h[c] >= last) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

/**
 * Exports: capabilities we host that the peer holds. The same capability exported twice reuses
 * its id and counts a second reference; the peer's Release(id, n) takes n references away.
 */
export class ExportTable<H> {
  private readonly table = new IdTable<{ hook: H; refs: number }>();
  private readonly byHook = new Map<H, number>();

  /** Records one more reference held by the peer; returns the id and whether it is new. */
  add(hook: H): { id: number; fresh: boolean } {
    const existing = this.byHook.get(hook);
    if (existing !== undefined) {
      this.table.get(existing)!.refs++;
      return { id: existing, fresh: false };
    }
    const id = this.table.alloc({ hook, refs: 1 });
    this.byHook.set(hook, id);
    return { id, fresh: true };
  }

  get(id: number): H | undefined {
    return this.table.get(id)?.hook;
  }

  /** True when `hook` is exported (a new reference would reuse its id). */
  has(hook: H): boolean {
    return this.byHook.has(hook);
  }

  refs(id: number): number {
    return this.table.get(id)?.refs ?? 0;
  }

  /**
   * Takes `count` references away. Returns the hook when its last reference went (the caller then
   * releases it), null when references remain; throws when the peer releases more than it holds.
   */
  release(id: number, count: number): H | null {
    const e = this.table.get(id);
    if (!e) throw new Error(`Release of export ${id}, which does not exist`);
    if (count > e.refs) throw new Error(`Release of ${count} references to export ${id}, which has only ${e.refs}`);
    e.refs -= count;
    if (e.refs > 0) return null;
    this.table.delete(id);
    this.byHook.delete(e.hook);
    return e.hook;
  }

  /** Empties the table, returning every hook once (connection shutdown). */
  clear(): H[] {
    const hooks = [...this.table.entries()].map(([, e]) => e.hook);
    for (const [id] of [...this.table.entries()]) this.table.delete(id);
    this.byHook.clear();
    return hooks;
  }

  get size(): number {
    return this.table.size;
  }
}

/**
 * Imports: capabilities the peer hosts that we hold. `remoteRefs` counts how many times the peer
 * sent us the id; when our last local reference goes we send Release(id, remoteRefs).
 */
export class ImportTable<H> {
  private readonly map = new Map<number, { hook: H; remoteRefs: number }>();

  /** Notes one receipt of `id`; returns the existing hook, or null when the caller must make one. */
  received(id: number): H | null {
    const e = this.map.get(id);
    if (!e) return null;
    e.remoteRefs++;
    return e.hook;
  }

  set(id: number, hook: H): void {
    this.map.set(id, { hook, remoteRefs: 1 });
  }

  get(id: number): H | undefined {
    return this.map.get(id)?.hook;
  }

  /** Forgets `id` (when it belongs to `hook`); returns how many references to send in Release. */
  drop(id: number, hook: H): number {
    const e = this.map.get(id);
    if (!e || e.hook !== hook) return 0;
    this.map.delete(id);
    return e.remoteRefs;
  }

  clear(): H[] {
    const hooks = [...this.map.values()].map((e) => e.hook);
    this.map.clear();
    return hooks;
  }

  get size(): number {
    return this.map.size;
  }
}
