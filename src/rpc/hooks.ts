// Capability hooks: what a client reference points at. A hook is local (a server object, client.ts),
// a promise (PromiseHook: calls queue until it resolves; conn.ts's remote hooks are promises whose
// early calls travel to the peer), broken (every call fails), or a plain import (conn.ts). Hooks are
// reference counted; the last release frees what they hold. Client, the reference a program holds,
// lives here too, so that walking a payload's capabilities needs nothing from the layers above.
//
// Ownership rule used throughout: a payload passed into Hook.call() is owned by the call (its
// capabilities are references the call must release or hand on); a PendingResult's value is owned by
// whoever consumes it.
import type { InterfaceDesc, MethodDesc, StructDesc, TypeDesc, FieldDesc } from './codec.js';
import { FailedError, type RpcError } from './errors.js';

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

export type ResultState = 'pending' | 'fulfilled' | 'rejected';

/** The future result of a call, with promise pipelining by pointer path. */
export class PendingResult {
  state: ResultState = 'pending';
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
    if (this.state !== 'pending') {
      releaseCaps(v, this.desc);
      return;
    }
    this.state = 'fulfilled';
    this.value = v;
    this.settlePipelines((path) => capAtPath(v, this.desc, path));
    const ws = this.waiters;
    this.waiters = null;
    if (ws) for (const w of ws) w.ok(v);
  }

  reject(e: RpcError): void {
    if (this.state !== 'pending') return;
    this.state = 'rejected';
    this.error = e;
    this.settlePipelines(() => new BrokenHook(e));
    const ws = this.waiters;
    this.waiters = null;
    if (ws) for (const w of ws) w.err(e);
  }

  /** Settles this result like `other` (takes over other's value) and pipelines through it now. */
  follow(other: PendingResult): void {
    this.settlePipelines((path) => other.pipeline(path));
    this.onCancel = () => other.cancel();
    other.then(
      (v) => this.resolve(v),
      (e) => this.reject(e),
    );
  }

  then(ok: (v: Payload) => void, err: (e: RpcError) => void): void {
    if (this.state === 'fulfilled') ok(this.value!);
    else if (this.state === 'rejected') err(this.error!);
    else (this.waiters ??= []).push({ ok, err });
  }

  cancel(): void {
    if (this.state === 'pending' && this.onCancel) {
      const c = this.onCancel;
      this.onCancel = null;
      c();
    }
  }

  /** Resolves the promises pipelined on this result while it was pending, and drops our references to them. */
  private settlePipelines(capAt: (path: readonly number[]) => Hook): void {
    const pipelines = this.pipelines;
    if (!pipelines) return;
    this.pipelines = null;
    for (const [key, ph] of pipelines) {
      ph.resolve(capAt(pathFromKey(key)));
      ph.release();
    }
  }

  /** A new reference to the capability at `path` in the (future) results. */
  pipeline(path: readonly number[]): Hook {
    if (this.state === 'fulfilled') return capAtPath(this.value!, this.desc, path);
    if (this.state === 'rejected') return new BrokenHook(this.error!);
    if (this.remotePipeline) return this.remotePipeline(path);
    const key = path.join('.');
    this.pipelines ??= new Map();
    let ph = this.pipelines.get(key);
    if (!ph) {
      ph = new PromiseHook(); // this reference stays in the map until the result settles
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

/** A capability value inside a payload: the hook behind a client, null for anything else. */
export function hookOf(v: unknown): Hook | null {
  return v instanceof Client ? v.hook : null;
}

/**
 * A copy of a payload with each capability value replaced by `fn(value, its interface)`; the payload
 * itself when its type holds no capabilities.
 */
export function mapCaps(v: Payload, d: StructDesc, fn: (cap: unknown, iface: InterfaceDesc) => unknown): Payload {
  if (!hasCapFields(d)) return v;
  const out: Payload = { ...v };
  for (const f of d.fields) {
    const x = v[f.name];
    if (x === undefined || x === null) continue;
    out[f.name] = f.group ? mapCaps(x as Payload, f.group, fn) : mapValue(x, f.type, fn);
  }
  return out;
}

function mapValue(x: unknown, t: TypeDesc, fn: (cap: unknown, iface: InterfaceDesc) => unknown): unknown {
  switch (t.k) {
    case 'cap':
      return fn(x, t.i());
    case 'struct':
      return mapCaps(x as Payload, t.s(), fn);
    case 'list':
      return typeHasCaps(t.e) ? (x as unknown[]).map((e) => (e === null ? null : mapValue(e, t.e, fn))) : x;
    default:
      return x;
  }
}

/** Releases every capability in a payload that the holder owns. */
export function releaseCaps(v: Payload | null, d: StructDesc): void {
  if (!v || !hasCapFields(d)) return;
  forEachCap(v, d, (c) => {
    if (c instanceof Client) c.release();
  });
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
// Promises

interface QueuedCall {
  method: MethodDesc;
  params: Payload;
  result: PendingResult;
}

/**
 * A capability that resolves to another one later: the one implementation of promise resolution.
 * Until it resolves, calls go to callEarly(), which queues them here (a local promise); conn.ts's
 * remote hooks send them to the peer instead. Resolving runs the queued calls in order, then the
 * whenResolved callbacks, once; later calls go straight to the resolution.
 */
export class PromiseHook extends Hook {
  private target: Hook | null = null;
  private queue: QueuedCall[] = [];
  private callbacks: ((h: Hook) => void)[] | null = null;
  /** True once a call went through before the resolution (embargo decisions need it). */
  protected calledEarly = false;

  call(method: MethodDesc, params: Payload): PendingResult {
    if (this.target) return this.target.call(method, params);
    this.calledEarly = true;
    return this.callEarly(method, params);
  }

  /** A call made before the resolution: queued, to go out in order when it resolves. */
  protected callEarly(method: MethodDesc, params: Payload): PendingResult {
    const result = new PendingResult(method.results);
    this.queue.push({ method, params, result });
    return result;
  }

  /** What resolving to `h` (owned) makes the target: `h`, unless calls must wait behind an embargo. */
  protected adopt(h: Hook): Hook {
    return h;
  }

  /** Resolves to `h`, taking over the caller's reference; a second resolution, or one after the last release, is dropped. */
  resolve(h: Hook): void {
    if (this.target || this.refs <= 0) {
      h.release();
      return;
    }
    const target = this.adopt(h);
    this.target = target;
    const queue = this.queue;
    this.queue = [];
    for (const q of queue) q.result.follow(target.call(q.method, q.params));
    const cbs = this.callbacks;
    this.callbacks = null;
    if (cbs) for (const cb of cbs) cb(target);
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
    // Nobody can observe these calls' results any more except their own consumers: fail them. One
    // error for all such releases: making one (its stack) on every release of a pipelined promise
    // was the costliest single step of a spawn over RPC.
    const err = (releasedBeforeResolved ??= new FailedError('promise capability released before it resolved'));
    for (const q of this.queue) {
      releaseCaps(q.params, q.method.params);
      q.result.reject(err);
    }
    this.queue = [];
    this.target = new BrokenHook(err);
  }
}

// ---------------------------------------------------------------------------------------------
// References

const released = new BrokenHook(new FailedError('capability was released; use dup() to keep a reference you hand away'));

const clientFinalizer = new FinalizationRegistry<Hook>((hook) => hook.release());

/** A reference to a capability. Release it when done (or `using`); the GC releases forgotten ones. */
export class Client {
  #hook: Hook | null;
  readonly iface: InterfaceDesc;
  /** @internal For a pipelined capability: the call's result (a RemotePromise), kept reachable while
   *  this reference is, so the GC cannot cancel the call (or release its results) under a pipeline
   *  still in use — as in C++, the question lives while its promise or any pipelined capability does. */
  _pipelineOf: object | undefined = undefined;

  constructor(hook: Hook, iface: InterfaceDesc) {
    this.#hook = hook;
    this.iface = iface;
    clientFinalizer.register(this, hook, this);
  }

  /** The hook behind this reference (engine use). */
  get hook(): Hook {
    return this.#hook ?? released;
  }

  /** Drops this reference; the capability's host is told when the last one goes. Idempotent. */
  release(): void {
    const h = this.#hook;
    if (!h) return;
    this.#hook = null;
    this._pipelineOf = undefined;
    clientFinalizer.unregister(this);
    h.release();
  }

  /** A second, independent reference to the same capability (of the same client class). */
  dup(): this {
    const Same = this.constructor as new (hook: Hook, iface: InterfaceDesc) => this;
    return new Same(this.hook.addRef(), this.iface);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  /** True once release() was called on this reference. */
  get released(): boolean {
    return this.#hook === null;
  }

  /** Resolves when this capability is no longer a promise (or rejects when it broke). */
  whenResolved(): Promise<void> {
    return new Promise((resolve, reject) => {
      const step = (h: Hook): void => {
        const broken = h.brokenWith;
        if (broken) return reject(broken);
        if (h.unresolved) return h.whenResolved(step);
        const r = h.resolution;
        if (r) return step(r);
        resolve();
      };
      step(this.hook);
    });
  }
}

let releasedBeforeResolved: FailedError | undefined;
