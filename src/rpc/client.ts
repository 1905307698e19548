// The typed surface: client objects with one method per schema method, results that are thenables
// with pipelined capability getters, and `serve()` to turn a plain object into a capability.
import type { InterfaceDesc, MethodDesc, StructDesc } from './codec.js';
import { FailedError, type RpcError } from './errors.js';
import {
  BrokenHook,
  type Hook,
  LocalHook,
  type Payload,
  type PendingResult,
  capRuntime,
  hasCapFields,
  ownCaps,
  releaseCaps,
} from './hooks.js';

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

const released = new BrokenHook(new FailedError('capability was released; use dup() to keep a reference you hand away'));

const clientFinalizer = new FinalizationRegistry<Hook>((hook) => hook.release());

/** A reference to a capability. Release it when done (or `using`); the GC releases forgotten ones. */
export class Client {
  #hook: Hook | null;
  readonly iface: InterfaceDesc;
  /** @internal For a pipelined capability: the call's result, kept reachable while this reference
   *  is, so the GC cannot cancel the call (or release its results) under a pipeline still in use —
   *  as in C++, the question lives while its promise or any pipelined capability does. */
  _pipelineOf: RemotePromise<unknown> | undefined = undefined;

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

  /** A second, independent reference to the same capability. */
  dup(): this {
    return makeClient(this.hook.addRef(), this.iface) as this;
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

/** Makes a capability of a plain server object. Every schema method the object has is callable. */
export function serve<I extends Interface>(iface: I, impl: ServerOf<I>): ClientOf<I> {
  return makeClient(LocalHook.of(impl as object, iface), iface) as ClientOf<I>;
}

capRuntime.hookOf = (v) => (v instanceof Client ? v.hook : null);
capRuntime.own = (v, iface, dup) => {
  if (v instanceof Client) return dup ? makeClient(v.hook.addRef(), iface) : v;
  if (v !== null && typeof v === 'object') return makeClient(LocalHook.of(v, iface), iface);
  throw new FailedError(`expected a capability of ${iface.name}, got ${typeof v}`);
};
capRuntime.release = (v) => {
  if (v instanceof Client) v.release();
};

// ---------------------------------------------------------------------------------------------
// Results with pipelining

const unclaimedFinalizer = new FinalizationRegistry<PendingResult>((pr) => discardResult(pr));

function discardResult(pr: PendingResult): void {
  if (pr.state === 0) {
    pr.cancel();
    pr.then(
      (v) => releaseCaps(v, pr.desc),
      () => {},
    );
  } else if (pr.state === 1) {
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
