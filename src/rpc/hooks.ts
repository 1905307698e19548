// Capability hooks: what a client reference points at. A hook is local (a server object), a promise
// (calls queue until it resolves), broken (every call fails), or remote (in conn.ts: an import or a
// pipelined answer). Hooks are reference counted; the last release frees what they hold.
//
// Ownership rule used throughout: a payload passed into Hook.call() is owned by the call (its
// capabilities are references the call must release or hand on); a PendingResult's value is owned by
// whoever consumes it.
import type { InterfaceDesc, MethodDesc, StructDesc, TypeDesc, FieldDesc } from './codec.js';
import { FailedError, RpcError, UnimplementedError, toRpcError } from './errors.js';

export type Payload = Record<string, unknown>;

/** Something that knows which connection hosts a hook (used for embargo decisions). */
export interface HookHost {
  readonly id: number;
}

export abstract class Hook {
  refs = 1;
  /** The connection through which calls on this hook travel, or null for local and broken hooks. */
  host: HookHost | null = null;

  abstract call(method: MethodDesc, params: Payload): PendingResult;

  addRef(): this {
    if (this.refs <= 0) throw new FailedError('internal: addRef on a released capability');
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) return;
    if (--this.refs === 0) this.destroy();
  }

  protected destroy(): void {}

  /** For a promise that has resolved: what it resolved to. */
  get resolution(): Hook | null {
    return null;
  }

  /** True while this is a promise that has not resolved yet. */
  get unresolved(): boolean {
    return false;
  }

  /** For unresolved promises: registers a callback run once when it resolves. */
  whenResolved(_cb: (h: Hook) => void): void {}

  /** The error, for a broken hook. */
  get brokenWith(): RpcError | null {
    return null;
  }
}

/** Follows resolved promises to the innermost hook. */
export function shorten(h: Hook): Hook {
  for (let r = h.resolution; r; r = h.resolution) h = r;
  return h;
}

export class BrokenHook extends Hook {
  constructor(readonly error: RpcError) {
    super();
  }
  call(method: MethodDesc): PendingResult {
    const pr = new PendingResult(method.results);
    pr.reject(this.error);
    return pr;
  }
  override get brokenWith(): RpcError {
    return this.error;
  }
}

// ---------------------------------------------------------------------------------------------
// Pending results

interface Waiter {
  ok: (v: Payload) => void;
  err: (e: RpcError) => void;
}

/** The future result of a call, with promise pipelining by pointer path. */
export class PendingResult {
  state: 0 | 1 | 2 = 0; // pending, fulfilled, rejected
  value: Payload | null = null;
  error: RpcError | null = null;
  private waiters: Waiter[] | null = null;
  private pipelines: Map<string, PromiseHook> | null = null;
  /** When set, pipelining while pending goes through this (remote questions). */
  remotePipeline: ((path: readonly number[]) => Hook) | null = null;
  /** Called when the consumer gives up before the result arrives. */
  onCancel: (() => void) | null = null;

  constructor(readonly desc: StructDesc) {}

  resolve(v: Payload): void {
    if (this.state !== 0) {
      releaseCaps(v, this.desc);
      return;
    }
    this.state = 1;
    this.value = v;
    if (this.pipelines) {
      for (const [key, ph] of this.pipelines) ph.resolve(capAtPath(v, this.desc, pathFromKey(key)));
      this.pipelines = null;
    }
    const ws = this.waiters;
    this.waiters = null;
    if (ws) for (const w of ws) w.ok(v);
  }

  reject(e: RpcError): void {
    if (this.state !== 0) return;
    this.state = 2;
    this.error = e;
    if (this.pipelines) {
      for (const ph of this.pipelines.values()) ph.resolve(new BrokenHook(e));
      this.pipelines = null;
    }
    const ws = this.waiters;
    this.waiters = null;
    if (ws) for (const w of ws) w.err(e);
  }

  /** Settles this result like `other` (takes over other's value) and pipelines through it now. */
  follow(other: PendingResult): void {
    if (this.pipelines) {
      for (const [key, ph] of this.pipelines) ph.resolve(other.pipeline(pathFromKey(key)));
      this.pipelines = null;
    }
    this.onCancel = () => other.cancel();
    other.then(
      (v) => this.resolve(v),
      (e) => this.reject(e),
    );
  }

  then(ok: (v: Payload) => void, err: (e: RpcError) => void): void {
    if (this.state === 1) ok(this.value!);
    else if (this.state === 2) err(this.error!);
    else (this.waiters ??= []).push({ ok, err });
  }

  cancel(): void {
    if (this.state === 0 && this.onCancel) {
      const c = this.onCancel;
      this.onCancel = null;
      c();
    }
  }

  /** A new reference to the capability at `path` in the (future) results. */
  pipeline(path: readonly number[]): Hook {
    if (this.state === 1) return capAtPath(this.value!, this.desc, path);
    if (this.state === 2) return new BrokenHook(this.error!);
    if (this.remotePipeline) return this.remotePipeline(path);
    const key = path.join('.');
    this.pipelines ??= new Map();
    let ph = this.pipelines.get(key);
    if (!ph) {
      ph = new PromiseHook();
      this.pipelines.set(key, ph);
    }
    return ph.addRef();
  }
}

function pathFromKey(key: string): number[] {
  return key === '' ? [] : key.split('.').map(Number);
}

// ---------------------------------------------------------------------------------------------
// Walking payloads by schema

/** The pointer field at index `ptr` of a struct (searching groups), with the names leading to it. */
function pointerField(d: StructDesc, ptr: number, value: Payload): { field: FieldDesc; holder: Payload } | null {
  for (const f of d.fields) {
    if (f.group) {
      const inner = pointerField(f.group, ptr, (value[f.name] ?? {}) as Payload);
      if (inner) return inner;
      continue;
    }
    if (isPointerType(f.type) && f.offset === ptr && (f.discriminant === undefined || value.which === f.name)) {
      return { field: f, holder: value };
    }
  }
  return null;
}

function isPointerType(t: TypeDesc): boolean {
  return t.k === 'text' || t.k === 'data' || t.k === 'struct' || t.k === 'list' || t.k === 'cap' || t.k === 'anyPointer';
}

/** A new reference to the capability at `path` (pointer indices) in a payload; broken if absent. */
export function capAtPath(v: Payload, d: StructDesc, path: readonly number[]): Hook {
  let value: unknown = v;
  let desc: StructDesc | null = d;
  let type: TypeDesc | null = null;
  for (const ptr of path) {
    if (!desc || value === null || value === undefined) break;
    const found = pointerField(desc, ptr, value as Payload);
    if (!found) {
      value = null;
      break;
    }
    value = found.holder[found.field.name];
    type = found.field.type;
    desc = type.k === 'struct' ? type.s() : null;
  }
  if (path.length > 0 && type?.k !== 'cap') {
    return new BrokenHook(new FailedError('pipelined path does not lead to a capability'));
  }
  if (value === null || value === undefined) return new BrokenHook(new FailedError('called a null capability'));
  const hook = hookOf(value);
  if (!hook) return new BrokenHook(new FailedError('pipelined path does not lead to a capability'));
  return hook.addRef();
}

/** Replaces the capability value at `path` in a payload (in place) with fn(old). */
export function replaceCapAtPath(v: Payload, d: StructDesc, path: readonly number[], fn: (old: unknown) => unknown): void {
  let holder: Payload | null = null;
  let name = '';
  let value: unknown = v;
  let desc: StructDesc | null = d;
  for (const ptr of path) {
    if (!desc || value === null || value === undefined) return;
    const found = pointerField(desc, ptr, value as Payload);
    if (!found) return;
    holder = found.holder;
    name = found.field.name;
    value = holder[name];
    desc = found.field.type.k === 'struct' ? found.field.type.s() : null;
  }
  if (holder && value !== null && value !== undefined && hookOf(value)) holder[name] = fn(value);
}

/** Capability values inside payloads: a client (anything with a hook) or a server object. */
export interface HasHook {
  readonly hook: Hook;
}

/** Maps plain server objects and clients to hooks. Installed by client.ts (avoids an import cycle). */
export const capRuntime: {
  hookOf: (v: unknown) => Hook | null;
  /** Wraps a value (client or server object) as a new owned client of `iface`. */
  own: (v: unknown, iface: InterfaceDesc, dup: boolean) => unknown;
  release: (v: unknown) => void;
} = {
  hookOf: () => null,
  own: (v) => v,
  release: () => {},
};

export function hookOf(v: unknown): Hook | null {
  return capRuntime.hookOf(v);
}

/**
 * Copies a payload, replacing each capability by a new owned client: `dup` true takes a new reference
 * (the caller keeps its own); false adopts the value (server objects are wrapped either way).
 */
export function ownCaps(v: Payload, d: StructDesc, dup: boolean): Payload {
  if (!hasCapFields(d)) return v;
  return mapStruct(v, d, dup);
}

function mapStruct(v: Payload, d: StructDesc, dup: boolean): Payload {
  const out: Payload = { ...v };
  for (const f of d.fields) {
    const x = v[f.name];
    if (x === undefined || x === null) continue;
    if (f.group) out[f.name] = mapStruct(x as Payload, f.group, dup);
    else out[f.name] = mapValue(x, f.type, dup);
  }
  return out;
}

function mapValue(x: unknown, t: TypeDesc, dup: boolean): unknown {
  switch (t.k) {
    case 'cap':
      return capRuntime.own(x, t.i(), dup);
    case 'struct':
      return hasCapFields(t.s()) ? mapStruct(x as Payload, t.s(), dup) : x;
    case 'list':
      return typeHasCaps(t.e) ? (x as unknown[]).map((e) => (e === null ? null : mapValue(e, t.e, dup))) : x;
    default:
      return x;
  }
}

/** Releases every capability in a payload that the holder owns. */
export function releaseCaps(v: Payload | null, d: StructDesc): void {
  if (!v || !hasCapFields(d)) return;
  forEachCap(v, d, (c) => capRuntime.release(c));
}

export function forEachCap(v: Payload, d: StructDesc, fn: (c: unknown) => void): void {
  for (const f of d.fields) {
    const x = v[f.name];
    if (x === undefined || x === null) continue;
    if (f.group) forEachCap(x as Payload, f.group, fn);
    else forEachValueCap(x, f.type, fn);
  }
}

function forEachValueCap(x: unknown, t: TypeDesc, fn: (c: unknown) => void): void {
  if (t.k === 'cap') fn(x);
  else if (t.k === 'struct') forEachCap(x as Payload, t.s(), fn);
  else if (t.k === 'list' && typeHasCaps(t.e)) for (const e of x as unknown[]) if (e !== null) forEachValueCap(e, t.e, fn);
}

const capFieldCache = new WeakMap<StructDesc, boolean>();
export function hasCapFields(d: StructDesc): boolean {
  let r = capFieldCache.get(d);
  if (r === undefined) {
    capFieldCache.set(d, false); // recursion guard for self-referential structs
    r = d.fields.some((f) => (f.group ? hasCapFields(f.group) : typeHasCaps(f.type)));
    capFieldCache.set(d, r);
  }
  return r;
}

function typeHasCaps(t: TypeDesc): boolean {
  if (t.k === 'cap') return true;
  if (t.k === 'struct') return hasCapFields(t.s());
  if (t.k === 'list') return typeHasCaps(t.e);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Local promises

interface QueuedCall {
  method: MethodDesc;
  params: Payload;
  result: PendingResult;
}

/** A capability that will resolve later; calls queue in order until it does. */
export class PromiseHook extends Hook {
  private target: Hook | null = null;
  private queue: QueuedCall[] = [];
  private callbacks: ((h: Hook) => void)[] | null = null;

  call(method: MethodDesc, params: Payload): PendingResult {
    if (this.target) return this.target.call(method, params);
    const result = new PendingResult(method.results);
    this.queue.push({ method, params, result });
    return result;
  }

  /** Resolves to `h`, taking over the caller's reference to it; queued calls go out in order. */
  resolve(h: Hook): void {
    if (this.target || this.refs <= 0) {
      h.release();
      return;
    }
    this.target = h;
    const queue = this.queue;
    this.queue = [];
    for (const q of queue) q.result.follow(h.call(q.method, q.params));
    const cbs = this.callbacks;
    this.callbacks = null;
    if (cbs) for (const cb of cbs) cb(h);
  }

  override get resolution(): Hook | null {
    return this.target;
  }

  override get unresolved(): boolean {
    return this.target === null;
  }

  override whenResolved(cb: (h: Hook) => void): void {
    if (this.target) cb(this.target);
    else (this.callbacks ??= []).push(cb);
  }

  protected override destroy(): void {
    if (this.target) {
      this.target.release();
      return;
    }
    // Nobody can observe these calls' results any more except their own consumers: fail them.
    const err = new FailedError('promise capability released before it resolved');
    for (const q of this.queue) {
      releaseCaps(q.params, q.method.params);
      q.result.reject(err);
    }
    this.queue = [];
    this.target = new BrokenHook(err);
  }
}

// ---------------------------------------------------------------------------------------------
// Local servers

/** Per-call information a server method may use. */
export interface CallContext {
  readonly method: MethodDesc;
}

const localHooks = new WeakMap<object, LocalHook>();

/** A server object living in this process. One hook per object, so identity and release counting hold. */
export class LocalHook extends Hook {
  private constructor(
    readonly impl: object,
    readonly iface: InterfaceDesc,
  ) {
    super();
  }

  /** A new reference to the hook of `impl` (created on first use). */
  static of(impl: object, iface: InterfaceDesc): LocalHook {
    const h = localHooks.get(impl);
    if (h && h.refs > 0) return h.addRef();
    const fresh = new LocalHook(impl, iface);
    localHooks.set(impl, fresh);
    return fresh;
  }

  call(method: MethodDesc, params: Payload): PendingResult {
    const result = new PendingResult(method.results);
    const fn = (this.impl as Record<string, unknown>)[method.name];
    if (typeof fn !== 'function') {
      releaseCaps(params, method.params);
      result.reject(new UnimplementedError(`method ${method.interfaceName}.${method.name} is not implemented by this server`));
      return result;
    }
    const ctx: CallContext = { method };
    try {
      const r = (fn as (p: Payload, c: CallContext) => unknown).call(this.impl, params, ctx);
      if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
        (r as PromiseLike<unknown>).then(
          (v) => settleLocal(result, v, method),
          (e) => result.reject(toRpcError(e)),
        );
      } else {
        settleLocal(result, r, method);
      }
    } catch (e) {
      result.reject(toRpcError(e));
    }
    return result;
  }

  protected override destroy(): void {
    if (localHooks.get(this.impl) === this) localHooks.delete(this.impl);
    const d = (this.impl as { [Symbol.dispose]?: () => void })[Symbol.dispose];
    if (typeof d === 'function') {
      try {
        d.call(this.impl);
      } catch {
        // A server's cleanup failing must not break the connection that released it.
      }
    }
  }
}

function settleLocal(result: PendingResult, v: unknown, method: MethodDesc): void {
  try {
    // Returning a capability hands it to the caller: adopt clients, wrap server objects.
    result.resolve(ownCaps((v ?? {}) as Payload, method.results, false));
  } catch (e) {
    result.reject(toRpcError(e));
  }
}
