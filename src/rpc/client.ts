// The typed surface: client objects with one method per schema method, results that are thenables
// with pipelined capability getters, and `serve()` to turn a plain object into a capability (LocalHook).
import type { InterfaceDesc, MethodDesc, StructDesc } from './codec.js';
import { FailedError, type RpcError, UnimplementedError, toRpcError } from './errors.js';
import { Client, Hook, type Payload, PendingResult, hasCapFields, mapCaps, releaseCaps } from './hooks.js';

export { Client };

/** An interface descriptor carrying its client and server types (generated code declares these). */
export type Interface<C extends Client = Client, S = object> = InterfaceDesc & {
  readonly __types?: { client: C; server: S };
};

export type ClientOf<I> = I extends Interface<infer C, unknown> ? C : never;
export type ServerOf<I> = I extends Interface<Client, infer S> ? S : never;
export type Awaitable<T> = T | PromiseLike<T>;

const interfaces = new Map<bigint, InterfaceDesc>();

/** Registers an interface so incoming calls can be decoded; generated code calls this. */
export function defineInterface<C extends Client, S>(desc: InterfaceDesc): Interface<C, S> {
  interfaces.set(desc.id, desc);
  return desc as Interface<C, S>;
}

export function lookupMethod(interfaceId: bigint, methodId: number): MethodDesc | null {
  const i = interfaces.get(interfaceId);
  return i?.methods[methodId] ?? null;
}

const clientClasses = new WeakMap<InterfaceDesc, new (hook: Hook, iface: InterfaceDesc) => Client>();

/** A client object of `iface` owning the given hook reference. */
export function makeClient(hook: Hook, iface: InterfaceDesc): Client {
  let C = clientClasses.get(iface);
  if (!C) {
    C = class extends Client {};
    for (const m of iface.methods) {
      const P = remotePromiseClass(m.results);
      Object.defineProperty(C.prototype, m.name, {
        value: function (this: Client, params?: Payload) {
          const owned = ownCaps(params ?? {}, m.params, true);
          return new P(this.hook.call(m, owned));
        },
        writable: true,
        configurable: true,
      });
    }
    clientClasses.set(iface, C);
  }
  return new C(hook, iface);
}

/** Makes a capability of a server object. */
export function serve<I extends Interface>(iface: I, impl: ServerOf<I>): ClientOf<I> {
  return makeClient(LocalHook.of(impl as object, iface), iface) as ClientOf<I>;
}

/**
 * Copies a payload, replacing each capability by a new owned client: `dup` true takes a new reference
 * (the caller keeps its own); false adopts the value (server objects are wrapped either way).
 */
export function ownCaps(v: Payload, d: StructDesc, dup: boolean): Payload {
  return mapCaps(v, d, (cap, iface) => {
    if (cap instanceof Client) return dup ? makeClient(cap.hook.addRef(), iface) : cap;
    if (cap !== null && typeof cap === 'object') return makeClient(LocalHook.of(cap, iface), iface);
    throw new FailedError(`expected a capability of ${iface.name}, got ${typeof cap}`);
  });
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
      // The types demand every method, but JavaScript callers and older servers may still lack one.
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

// ---------------------------------------------------------------------------------------------
// Results with pipelining

const unclaimedFinalizer = new FinalizationRegistry<PendingResult>((pr) => discardResult(pr));

function discardResult(pr: PendingResult): void {
  if (pr.state === 'pending') {
    pr.cancel();
    pr.then(
      (v) => releaseCaps(v, pr.desc),
      () => {},
    );
  } else if (pr.state === 'fulfilled') {
    releaseCaps(pr.value, pr.desc);
  }
}

/**
 * The result of a call: await it for the results (you then own their capabilities), or use its
 * capability getters to call on results that have not arrived yet (promise pipelining).
 */
export class RemotePromise<T> implements PromiseLike<T> {
  /** @internal */ readonly _result: PendingResult;
  /** @internal */ _claimed = false;
  /** @internal */ _pipelined: Map<string, Client> | null = null;

  constructor(result: PendingResult) {
    this._result = result;
    if (hasCapFields(result.desc)) unclaimedFinalizer.register(this, result, this);
  }

  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: RpcError) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.claim();
    return new Promise<T>((resolve, reject) => this._result.then((v) => resolve(v as T), reject)).then(onfulfilled, onrejected);
  }

  catch<B = never>(onrejected?: ((reason: RpcError) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.then(undefined, onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.then().finally(onfinally);
  }

  /** Gives up on the results: cancels the call if it is still running and releases their capabilities. */
  release(): void {
    if (this._pipelined) for (const c of this._pipelined.values()) c.release();
    this._pipelined = null;
    if (this._claimed) return;
    this._claimed = true;
    unclaimedFinalizer.unregister(this);
    discardResult(this._result);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  private claim(): void {
    if (this._claimed) return;
    this._claimed = true;
    unclaimedFinalizer.unregister(this);
  }

  /** @internal A pipelined client for the capability at `path` (one per path per promise). */
  _pipelineCap(path: number[], iface: InterfaceDesc): Client {
    const key = path.join('.');
    this._pipelined ??= new Map();
    let c = this._pipelined.get(key);
    if (!c) {
      c = makeClient(this._result.pipeline(path), iface);
      c._pipelineOf = this;
      this._pipelined.set(key, c);
    }
    return c;
  }
}

const promiseClasses = new WeakMap<StructDesc, new (r: PendingResult) => RemotePromise<unknown>>();

function remotePromiseClass(d: StructDesc): new (r: PendingResult) => RemotePromise<unknown> {
  let P = promiseClasses.get(d);
  if (!P) {
    P = class extends RemotePromise<unknown> {};
    definePipelineGetters(P.prototype, d, (self) => self as RemotePromise<unknown>);
    promiseClasses.set(d, P);
  }
  return P;
}

/** Pipelined view of a struct inside results: getters for its capabilities and nested structs. */
class PipelineStruct {
  constructor(
    readonly _promise: RemotePromise<unknown>,
    readonly _path: number[],
  ) {}
}

const pipelineStructClasses = new WeakMap<StructDesc, new (p: RemotePromise<unknown>, path: number[]) => PipelineStruct>();

/** The pipelined view class of a struct (made on first use, so self-referential structs are fine). */
function pipelineStructClass(d: StructDesc): new (p: RemotePromise<unknown>, path: number[]) => PipelineStruct {
  let S = pipelineStructClasses.get(d);
  if (!S) {
    S = class extends PipelineStruct {};
    pipelineStructClasses.set(d, S);
    definePipelineGetters(S.prototype, d, (self) => (self as PipelineStruct)._promise);
  }
  return S;
}

const RESERVED = new Set(['then', 'catch', 'finally', 'release', '_result', '_claimed', '_pipelined', '_promise', '_path']);

function definePipelineGetters(proto: object, d: StructDesc, promiseOf: (self: unknown) => RemotePromise<unknown>): void {
  for (const f of d.fields) {
    if (f.group || RESERVED.has(f.name)) continue;
    const t = f.type;
    const pathOf = (self: unknown): number[] => [...(self instanceof PipelineStruct ? self._path : []), f.offset];
    if (t.k === 'cap') {
      Object.defineProperty(proto, f.name, {
        get(this: unknown) {
          return promiseOf(this)._pipelineCap(pathOf(this), t.i());
        },
        configurable: true,
      });
    } else if (t.k === 'struct' && hasCapFields(t.s())) {
      Object.defineProperty(proto, f.name, {
        get(this: unknown) {
          const S = pipelineStructClass(t.s());
          return new S(promiseOf(this), pathOf(this));
        },
        configurable: true,
      });
    }
  }
}
