// The `ww` host module's main side (guest-sdk/ABI.md): the calls a guest makes through its
// worker (src/wasm/ww-host/imports.ts) arrive here as host calls 'ww.<name>' and are answered
// from the process's handle table, the process table, channels and the capability store.
// WwHost is one per executor; GuestProcess one per process, made on its first call (or at once
// when it starts with handles moved to it). Blocking calls return Promises: the bridge keeps
// only the calling process blocked until they settle.

import { handlerOf, HostCallError, type Handlers, type HostCallHandler, type Limits, type LoadedModule } from '../wasm/index.js';
import {
  DEFAULT_CHANNEL_CAPACITY,
  E,
  EventKind,
  Kind,
  MAX_CHANNEL_CAPACITY,
  MAX_EVENTS,
  MAX_GUEST_SPAWNED,
  MAX_HANDLES,
  MAX_MESSAGE_BYTES,
  MAX_OPEN_CHANNELS,
  MAX_PASSED_HANDLES,
  MAX_QUEUED_BYTES,
  NONBLOCK,
  SPAWN_CID,
  SPAWN_LINK,
  SPAWN_SELF,
  type EventRecord,
  type RecvAnswer,
  WW_CALLS,
  type SpawnArgs,
  type WaitAnswer,
  type WwCalls,
} from '../wasm/ww-host/abi.js';
import { Channel, ChannelEnd, QueueAccount, messageCost } from './channel.js';
import { HandleTable, type Cap } from './handles.js';
import { isContentId, type ModuleStore } from './modules.js';
import { ExecutorError, type ExecutorErrorCode } from './errors.js';
import { reasonText } from './reasons.js';
import { CapabilityStore, StoreView } from './store.js';
import type { Scope } from './authority.js';
import type { EndStatus, GuestEvents, ProcessEntry, ProcessTable, SpawnRequest } from './table.js';

class ProcessRef implements Cap {
  readonly kind = Kind.PROCESS;
  readonly movable = true;
  constructor(readonly entry: ProcessEntry) {}
  retain(): void {}
  release(): void {}
}

/** The power to spawn children of the caller, in the scope (principal, grant) of the Executor
 *  that started the root process. */
class ExecutorRef implements Cap {
  readonly kind = Kind.EXECUTOR;
  readonly movable = true;
  constructor(readonly scope: Scope | undefined) {}
  retain(): void {}
  release(): void {}
}

/** Whose store names the processes of a scope reach: its principal's (the node's own without one). */
const NODE_ITSELF = {};

/** Waiters woken all at once (monitor fired, event queued). */
class Wakeups {
  private list: (() => void)[] = [];
  wait(): { ready: Promise<void>; cancel: () => void } {
    let wake!: () => void;
    const ready = new Promise<void>((r) => (wake = r));
    this.list.push(wake);
    return { ready, cancel: () => (this.list = this.list.filter((w) => w !== wake)) };
  }
  wakeAll(): void {
    const l = this.list;
    this.list = [];
    for (const w of l) w();
  }
}

class MonitorRef implements Cap {
  readonly kind = Kind.MONITOR;
  readonly movable = false;
  status: EndStatus | undefined;
  released = false;
  cancel: () => void = () => {};
  readonly fired = new Wakeups();
  retain(): void {}
  release(): void {
    this.released = true;
    this.cancel();
    this.fired.wakeAll();
  }
}

export interface WwHostOptions {
  table: ProcessTable;
  modules: ModuleStore;
  /** The table's grace period, told to the guest with a PAUSE event. */
  pauseGraceMs: number;
  /** Also told of pause and resume (ExecutorOptions.guestEvents). */
  forward?: GuestEvents;
  /** Live processes spawned by guests without a principal (runLocal) at once; a principal's are
   *  bounded by its process quota. Default MAX_GUEST_SPAWNED (4096). */
  maxGuestSpawned?: number;
}

/** The ww host module of one executor: every process it spawns gets the `ww` imports. */
export class WwHost implements GuestEvents {
  readonly store = new CapabilityStore();
  private readonly guests = new Map<number, () => GuestProcess>();
  /** Live processes spawned by guests (bounded: a guest spawning without end must not take the node down). */
  spawnedByGuests = 0;

  constructor(readonly opts: WwHostOptions) {}

  get table(): ProcessTable {
    return this.opts.table;
  }

  /**
   * Spawns through the table with the `ww` host calls. A root process (no `moved`) starts with an
   * Executor of its scope, its principal's store names and the shared ones as initial handles; a
   * child with the capabilities moved to it (their references are taken over once the spawn
   * succeeded).
   */
  spawn(req: SpawnRequest, moved?: Cap[]): ProcessEntry {
    let entry: ProcessEntry | undefined;
    let guest: GuestProcess | undefined;
    // What children inherit; not the whole request (its stdin and module need not stay alive).
    const own: Inherited = { limits: req.limits, stdout: req.stdout, stderr: req.stderr };
    const get = (): GuestProcess => (guest ??= new GuestProcess(this, entry!, own, moved ?? this.initialHandles(req.scope)));
    const answer = handlerOf<WwCalls>(WW_CALLS, () => get().calls);
    const ww: HostCallHandler = (op, args) => (entry?.status || guest?.hasEnded ? fail(E.IO, 'the process has ended') : answer(op, args));
    const e = this.table.spawn({ ...req, hostCalls: { ...req.hostCalls, [WW_CALLS]: ww } });
    entry = e;
    this.guests.set(e.pid, get);
    if (moved) get(); // the moved capabilities are the child's now, even if it never makes a call
    e.onEnd.add(() => {
      this.guests.delete(e.pid);
      guest?.end();
    });
    return e;
  }

  private initialHandles(scope: Scope | undefined): Cap[] {
    const owner = scope?.principal ?? NODE_ITSELF;
    return [new ExecutorRef(scope), this.store.view(owner, 'own'), this.store.view(owner, 'shared')];
  }

  /** Live guests' state for tests: handles held, events queued. */
  guest(pid: number): GuestProcess | undefined {
    return this.guests.get(pid)?.();
  }

  freezing(pid: number): void {
    this.guests.get(pid)?.().wakeRings();
    this.opts.forward?.freezing?.(pid);
  }

  pauseRequested(pid: number): void {
    this.guests.get(pid)?.().event(EventKind.PAUSE, 0, this.opts.pauseGraceMs);
    this.opts.forward?.pauseRequested(pid);
  }

  resumed(pid: number): void {
    this.guests.get(pid)?.().event(EventKind.RESUME, 0, 0);
    this.opts.forward?.resumed(pid);
  }

  close(): void {
    this.store.clear();
  }
}

/** What a process's children inherit from its own spawn request. */
type Inherited = Pick<SpawnRequest, 'limits' | 'stdout' | 'stderr'>;

const fail = (errno: number, message: string): never => {
  throw new HostCallError(errno, message);
};

function handleList(v: number[], what: string): number[] {
  if (v.length > MAX_PASSED_HANDLES) return fail(E.MSGSIZE, `${what}: ${v.length} handles; at most ${MAX_PASSED_HANDLES}`);
  if (new Set(v).size !== v.length) return fail(E.INVAL, `${what}: the handle list names a handle twice`);
  return v as number[];
}

/** The errno a guest's call gets for an executor's refusal (guest-sdk/ABI.md lists them per call). */
function errnoOf(code: ExecutorErrorCode): number {
  switch (code) {
    case 'shutting-down':
    case 'quota':
      return E.AGAIN;
    case 'invalid-module':
    case 'limits':
      return E.NOEXEC;
    case 'module-not-found':
    case 'no-such-process':
      return E.NOENT;
    case 'cannot-listen':
    case 'bad-request':
      return E.INVAL;
    case 'not-permitted':
      return E.PERM;
    case 'unreachable':
      return E.IO;
  }
}

/** Runs a quota's admission; its refusal as the errno the guest gets. */
function admitted(admit: () => (() => void) | undefined, what: string): (() => void) | undefined {
  try {
    return admit();
  } catch (e) {
    if (!(e instanceof ExecutorError)) throw e;
    return fail(errnoOf(e.code), `${what}: ${e.message}`);
  }
}

/** A child's limit: the requested one (0: none asked), never above the caller's own. */
function childLimit(asked: number, own: number | undefined): number | undefined {
  if (asked <= 0) return own;
  return own === undefined ? asked : Math.min(asked, own);
}

/** One process's side of the ww host module: its handle table, its event queue, its calls. */
export class GuestProcess {
  readonly handles = new HandleTable();
  private readonly initial: number[];
  private selfHandle: number | undefined;
  private readonly events: EventRecord[] = [];
  private readonly eventArrived = new Wakeups();
  private eventCount: Int32Array | undefined;
  /** Stops for calls blocked right now: the process ended, they must not wait on. */
  private readonly blocked = new Set<() => void>();
  private ended = false;
  /** What this process holds in channels (bounded: see QueueAccount). */
  readonly account: QueueAccount;

  constructor(
    private readonly host: WwHost,
    readonly entry: ProcessEntry,
    private readonly req: Inherited,
    initial: Cap[],
  ) {
    this.account = new QueueAccount(MAX_QUEUED_BYTES, MAX_OPEN_CHANNELS, entry.scope?.principal.channels);
    this.initial = initial.map((c) => this.handles.adopt(c));
  }

  /** The answers to this process's host calls, one per op of the ABI (the compiler checks it is every op). */
  readonly calls: Handlers<WwCalls> = {
    self: () => this.self(),
    initial: ({ index }) => {
      if (index < 0 || index >= this.initial.length) return fail(E.NOENT, `initial: no initial handle ${index} (this process has ${this.initial.length})`);
      return this.initial[index]!;
    },
    handle_kind: ({ h }) => this.handles.get(h, 'handle_kind').kind,
    handle_dup: ({ h }) => {
      const cap = this.handles.get(h, 'handle_dup');
      if (!cap.movable) return fail(E.INVAL, 'handle_dup: a Monitor handle cannot be duplicated');
      return this.handles.add(cap, 'handle_dup');
    },
    handle_drop: ({ h }) => {
      this.handles.drop(h, 'handle_drop');
      if (h === this.selfHandle) this.selfHandle = undefined;
    },
    spawn: (a) => this.spawn(a),
    proc_pid: ({ h }) => this.process(h, 'proc_pid').pid,
    proc_wait: (a) => this.procWait(a),
    proc_kill: ({ h }) => this.host.table.kill(this.process(h, 'proc_kill')),
    proc_pause: ({ h }) => void this.host.table.pause(this.process(h, 'proc_pause')).catch(() => {}),
    proc_resume: ({ h }) => this.host.table.resume(this.process(h, 'proc_resume')),
    proc_link: ({ h }) => this.host.table.link(this.entry, this.process(h, 'proc_link')),
    proc_unlink: ({ h }) => this.host.table.unlink(this.entry, this.process(h, 'proc_unlink')),
    proc_monitor: ({ h }) => this.monitor(h),
    monitor_wait: (a) => this.monitorWait(a),
    chan_create: ({ capacity }) => this.chanCreate(capacity),
    chan_send: (a) => this.chanSend(a),
    chan_recv: (a) => this.chanRecv(a),
    chan_ring: ({ h }) => {
      const end = this.handles.get(h, 'chan_ring', Kind.CHAN_SEND, Kind.CHAN_RECV) as ChannelEnd;
      const ring = end.channel.ringFor();
      return ring ? { ...ring.shared, send: end.kind === Kind.CHAN_SEND } : null;
    },
    chan_close: ({ h }) => (this.handles.get(h, 'chan_close', Kind.CHAN_SEND, Kind.CHAN_RECV) as ChannelEnd).close(),
    store_set: (a) => this.storeSet(a),
    store_get: (a) => this.storeGet(a),
    event_attach: ({ count }) => {
      if (!(count instanceof SharedArrayBuffer) || count.byteLength < 4) return fail(E.INVAL, 'event_attach: needs a shared counter');
      this.eventCount = new Int32Array(count, 0, 1);
      Atomics.store(this.eventCount, 0, this.events.length);
    },
    event_poll: ({ flags }) => this.eventPoll(flags),
  };

  /** Queues an event for the guest's event_poll. */
  event(kind: EventKind, handle: number, value: number): void {
    if (this.ended) return;
    if (this.events.length >= MAX_EVENTS) {
      const i = this.events.findIndex((e) => e.kind !== EventKind.DOWN);
      if (i < 0) return; // only DOWN events, one per monitor held: the guest must take them
      this.events.splice(i, 1);
    }
    this.events.push({ kind, handle, value });
    this.syncEventCount();
    this.eventArrived.wakeAll();
  }

  get hasEnded(): boolean {
    return this.ended;
  }

  /** The process ended: everything it holds is dropped, its blocked calls stop. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.wakeRings(); // a wait of a shared worker's guest in a ring ends there
    for (const stop of [...this.blocked]) stop();
    this.events.length = 0;
    this.handles.clear();
  }

  /** Wakes this process's waits in its channels' rings, which then look at its pause or end. */
  wakeRings(): void {
    for (const cap of this.handles.caps()) if (cap instanceof ChannelEnd) cap.channel.wakeRing();
  }

  // ---- calls ----

  private self(): number {
    if (this.selfHandle === undefined || !this.handles.has(this.selfHandle)) {
      this.selfHandle = this.handles.add(new ProcessRef(this.entry), 'self');
    }
    return this.selfHandle;
  }

  private process(h: number, what: string): ProcessEntry {
    return (this.handles.get(h, what, Kind.PROCESS) as ProcessRef).entry;
  }

  private async spawn(a: SpawnArgs): Promise<number> {
    const scope = (this.handles.get(a.executor, 'spawn: executor', Kind.EXECUTOR) as ExecutorRef).scope;
    const passed = handleList(a.handles, 'spawn');
    for (const h of passed) {
      if (!this.handles.get(h, 'spawn: passed handle').movable) fail(E.INVAL, 'spawn: a Monitor handle cannot be passed');
    }
    this.handles.room(1, 'spawn');
    let module: LoadedModule;
    const done = admitted(() => scope?.principal.admitSpawning(), 'spawn');
    try {
      module = await this.spawnModule(a);
    } finally {
      done?.();
    }
    this.live();
    const caps = passed.map((h) => this.handles.get(h, 'spawn: passed handle'));
    const own = this.req.limits ?? {};
    const limits: Limits = {};
    const maxMemoryBytes = childLimit(a.limits.maxMemoryBytes, own.maxMemoryBytes);
    const fuel = childLimit(a.limits.fuel, own.fuel);
    const timeoutMs = childLimit(a.limits.timeoutMs, own.timeoutMs);
    if (maxMemoryBytes !== undefined) limits.maxMemoryBytes = maxMemoryBytes;
    if (fuel !== undefined) limits.fuel = fuel;
    if (timeoutMs !== undefined) limits.timeoutMs = timeoutMs;
    // Within the grant of the Executor handle too: a handle passed to a less limited process stays as weak as it was.
    const granted = scope ? scope.grant.clamp(limits) : limits;
    const argv = a.argv.length > 0 ? a.argv : [a.flags & SPAWN_SELF ? (this.entry.argv[0] ?? 'self') : module.cid.slice(0, 12)];
    // With a principal, its process quota bounds its guests' spawns; without one (runLocal), this does.
    const most = this.host.opts.maxGuestSpawned ?? MAX_GUEST_SPAWNED;
    if (!scope && this.host.spawnedByGuests >= most) {
      return fail(E.AGAIN, `spawn: the node already runs ${this.host.spawnedByGuests} processes spawned by guests (at most ${most}); wait for some to end`);
    }
    let child: ProcessEntry;
    try {
      child = this.host.spawn(
        {
          module,
          argv,
          env: Object.fromEntries(a.env),
          stdout: streamed(this.req.stdout),
          stderr: streamed(this.req.stderr),
          limits: granted,
          ppid: this.entry.pid,
          ...(scope ? { scope } : {}),
          // It writes to its parent's sinks: when they are behind, it is held back with the parent.
          ...(typeof this.req.stdout === 'function' || typeof this.req.stderr === 'function' ? { sinksOf: this.entry } : {}),
        },
        caps,
      );
    } catch (e) {
      if (!(e instanceof ExecutorError)) throw e;
      return fail(errnoOf(e.code), `spawn: ${e.message}`);
    }
    this.host.spawnedByGuests++;
    child.onEnd.add(() => this.host.spawnedByGuests--);
    for (const h of passed) this.handles.take(h); // their references went to the child
    if (a.flags & SPAWN_LINK) this.host.table.link(this.entry, child);
    return this.handles.add(new ProcessRef(child), 'spawn');
  }

  private async spawnModule(a: SpawnArgs): Promise<LoadedModule> {
    const modules = this.host.opts.modules;
    if (a.flags & SPAWN_SELF) {
      const m = await modules.module(this.entry.cid);
      return m ?? fail(E.NOENT, `spawn: this process's own module ${this.entry.cid} is no longer in the module cache`);
    }
    const known = this.entry.scope?.principal.modules;
    if (a.flags & SPAWN_CID) {
      const cid = a.cid ?? '';
      if (!isContentId(cid)) return fail(E.INVAL, `spawn: ${JSON.stringify(cid)} is not a content ID (64 lowercase hex digits)`);
      // Only modules its principal put (KnownModules): another's is not found, as if absent.
      const m = !known || known.has(cid) ? await modules.module(cid) : undefined;
      return m ?? fail(E.NOENT, `spawn: module not found: ${cid} (put it in the node's module cache first)`);
    }
    if (!(a.module instanceof Uint8Array) || a.module.length === 0) return fail(E.INVAL, 'spawn: no module bytes given');
    try {
      const put = await modules.put(a.module);
      known?.add(put.cid);
      return put;
    } catch (e) {
      if (!(e instanceof ExecutorError)) throw e;
      return fail(errnoOf(e.code), `spawn: ${e.message}`);
    }
  }

  private async procWait({ h, flags }: WwCalls['proc_wait']['args']): Promise<WaitAnswer> {
    const target = this.process(h, 'proc_wait');
    if (target === this.entry) return fail(E.DEADLK, 'proc_wait: a process cannot wait for itself');
    if (!target.status) {
      if (flags & NONBLOCK) return fail(E.AGAIN, `proc_wait: process ${target.pid} is still running`);
      let wake!: () => void;
      const ready = new Promise<void>((r) => (wake = r));
      target.onEnd.add(wake);
      await this.sleep({ ready, cancel: () => target.onEnd.delete(wake) });
    }
    return answer(target.status!);
  }

  private monitor(of: number): number {
    const target = this.process(of, 'proc_monitor');
    const m = new MonitorRef();
    const h = this.handles.add(m, 'proc_monitor');
    m.cancel = this.host.table.monitor(target, (s) => {
      m.status = s;
      m.fired.wakeAll();
      if (!m.released) this.event(EventKind.DOWN, h, s.code);
    });
    return h;
  }

  private async monitorWait({ h, flags }: WwCalls['monitor_wait']['args']): Promise<WaitAnswer> {
    const m = this.handles.get(h, 'monitor_wait', Kind.MONITOR) as MonitorRef;
    while (!m.status) {
      if (flags & NONBLOCK) return fail(E.AGAIN, 'monitor_wait: the monitored process is still running');
      await this.sleep(m.fired.wait());
      if (m.released) return fail(E.BADF, `monitor_wait: handle ${h} was dropped`);
    }
    return answer(m.status);
  }

  private chanCreate(asked: number): [number, number] {
    if (asked < 0 || asked > MAX_CHANNEL_CAPACITY) return fail(E.INVAL, `chan_create: capacity ${asked}; it is 0 (default ${DEFAULT_CHANNEL_CAPACITY}) to ${MAX_CHANNEL_CAPACITY} messages`);
    this.handles.room(2, 'chan_create');
    const full = this.account.fullOfChannels();
    if (full) {
      const who = full === this.account ? 'this process has' : `${this.entry.scope?.principal.name ?? 'its principal'}'s processes have`;
      return fail(E.NOBUFS, `chan_create: ${who} ${full.openChannels} channels open (at most ${full.maxOpenChannels}): close channels no longer needed`);
    }
    const ch = new Channel(asked === 0 ? DEFAULT_CHANNEL_CAPACITY : asked, this.account);
    return [this.handles.add(ch.send, 'chan_create'), this.handles.add(ch.recv, 'chan_create')];
  }

  private async chanSend({ h, flags, data, handles }: WwCalls['chan_send']['args']): Promise<void> {
    const end = this.handles.get(h, 'chan_send', Kind.CHAN_SEND) as ChannelEnd;
    if (data.length > MAX_MESSAGE_BYTES) return fail(E.MSGSIZE, `chan_send: ${data.length} bytes; a message holds at most ${MAX_MESSAGE_BYTES}`);
    const passed = handleList(handles, 'chan_send');
    const ch = end.channel;
    for (const h of passed) {
      const cap = this.handles.get(h, 'chan_send: passed handle');
      if (!cap.movable) fail(E.INVAL, 'chan_send: a Monitor handle cannot be passed');
      if (cap === ch.recv) fail(E.INVAL, "chan_send: a channel's receive end cannot be sent over that channel");
    }
    for (;;) {
      const seqs = ch.seqs();
      if (end.closed) return fail(E.PIPE, 'chan_send: the send end is closed');
      if (ch.recv.closed) return fail(E.PIPE, 'chan_send: the receive end is closed');
      if (ch.fits(data.length)) {
        const cost = messageCost(data.length, passed.length);
        const full = this.account.fullFor(cost);
        if (full) {
          const whose = full === this.account ? "this process's messages" : `the messages of ${this.entry.scope?.principal.name ?? 'its principal'}'s processes`;
          return fail(
            E.NOBUFS,
            `chan_send: ${whose} not yet received hold ${full.queuedBytes} bytes ` +
              `(at most ${full.maxQueuedBytes}): let receivers catch up, or close channels nobody reads`,
          );
        }
        ch.push({ data, caps: passed.map((h) => this.handles.take(h)), account: this.account });
        return;
      }
      if (flags & NONBLOCK) return fail(E.AGAIN, `chan_send: the channel is full (${ch.length} messages)`);
      await this.sleep(ch.waitToSend(seqs), () => ch.pump());
    }
  }

  private async chanRecv({ h, flags, bufLen, handlesCap }: WwCalls['chan_recv']['args']): Promise<RecvAnswer> {
    const end = this.handles.get(h, 'chan_recv', Kind.CHAN_RECV) as ChannelEnd;
    const ch = end.channel;
    for (;;) {
      const seqs = ch.seqs();
      if (end.closed) return fail(E.PIPE, 'chan_recv: the receive end is closed');
      const r = ch.takeFromRing(bufLen);
      if (r === 'busy') {
        await this.sleep(delay(1)); // a worker is taking a message from the ring right now
        continue;
      }
      if (r && 'tooBig' in r) {
        ch.pump(); // another receiver may have room for it
        return { tooBig: { bytes: r.tooBig, handles: 0 } };
      }
      if (r) return { data: r.data, handles: [] };
      const m = ch.peek();
      if (m) {
        if (m.data.length > bufLen || m.caps.length > handlesCap) {
          ch.pump(); // another receiver may have room for it
          return { tooBig: { bytes: m.data.length, handles: m.caps.length } };
        }
        if (this.handles.size + m.caps.length > MAX_HANDLES) {
          ch.pump(); // another receiver may have room for its handles
          this.handles.room(m.caps.length, 'chan_recv');
        }
        ch.shift();
        return { data: m.data, handles: m.caps.map((c) => this.handles.adopt(c)) };
      }
      if (ch.send.closed) return fail(E.PIPE, 'chan_recv: the channel is empty and its send end is closed');
      if (flags & NONBLOCK) return fail(E.AGAIN, 'chan_recv: the channel is empty');
      await this.sleep(ch.waitToReceive(seqs), () => ch.pump());
    }
  }

  private storeSet(args: WwCalls['store_set']['args']): void {
    const store = this.handles.get(args.store, 'store_set', Kind.STORE) as StoreView;
    const name = CapabilityStore.name(args.name, 'store_set');
    const h = args.h;
    if (h === 0) {
      store.set(name, undefined);
      return;
    }
    const cap = this.handles.get(h, 'store_set');
    if (!cap.movable) return fail(E.INVAL, 'store_set: a Monitor handle cannot be stored');
    store.set(name, cap);
  }

  private storeGet(args: WwCalls['store_get']['args']): number {
    const store = this.handles.get(args.store, 'store_get', Kind.STORE) as StoreView;
    const name = CapabilityStore.name(args.name, 'store_get');
    const cap = store.get(name) ?? fail(E.NOENT, `store_get: nothing is stored under ${JSON.stringify(name)}`);
    return this.handles.add(cap, 'store_get');
  }

  private async eventPoll(flags: number): Promise<EventRecord> {
    while (this.events.length === 0) {
      if (flags & NONBLOCK) return fail(E.AGAIN, 'event_poll: no event queued');
      await this.sleep(this.eventArrived.wait());
    }
    const ev = this.events.shift()!;
    this.syncEventCount();
    return ev;
  }

  // ---- internals ----

  private syncEventCount(): void {
    if (this.eventCount) Atomics.store(this.eventCount, 0, this.events.length);
  }

  private live(): void {
    if (this.ended) fail(E.IO, 'the process has ended');
  }

  /**
   * Waits for a wake-up, or for the end of the process. A process that ended while a wake-up was
   * on its way passes it on (`abandoned`), so no other waiter is left asleep.
   */
  private async sleep(w: { ready: Promise<void>; cancel: () => void }, abandoned?: () => void): Promise<void> {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    this.blocked.add(stop);
    try {
      await Promise.race([w.ready, stopped]);
    } finally {
      this.blocked.delete(stop);
      w.cancel();
    }
    if (this.ended) {
      abandoned?.();
      fail(E.IO, 'the process has ended');
    }
  }
}

/** A wait of `ms` in the form GuestProcess.sleep takes. */
function delay(ms: number): { ready: Promise<void>; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ready = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return { ready, cancel: () => clearTimeout(timer) };
}

function answer(s: EndStatus): WaitAnswer {
  return { code: s.code, reason: reasonText(s.reason) };
}

/** A child's output goes where its parent's goes when that is streamed; else it is discarded. */
function streamed(mode: SpawnRequest['stdout']): SpawnRequest['stdout'] {
  return typeof mode === 'function' || mode === 'inherit' ? mode : 'ignore';
}
