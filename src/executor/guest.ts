// The `ww` host module's main side (guest-sdk/ABI.md): the calls a guest makes through its
// worker (src/wasm/ww-host/imports.ts) arrive here as host calls 'ww.<name>' and are answered
// from the process's handle table, the process table, channels and the capability store.
// WwHost is one per executor; GuestProcess one per process, made on its first call (or at once
// when it starts with handles moved to it). Blocking calls return Promises: the bridge keeps
// only the calling process blocked until they settle.

import { HostCallError, type HostCallHandler, type Limits, type LoadedModule } from '../wasm/index.js';
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
  type SpawnArgs,
  type WaitAnswer,
} from '../wasm/ww-host/abi.js';
import { Channel, ChannelEnd, QueueAccount, messageCost } from './channel.js';
import { HandleTable, type Cap } from './handles.js';
import { isContentId, type ModuleStore } from './modules.js';
import { reasonText } from './reasons.js';
import { CapabilityStore } from './store.js';
import type { EndStatus, GuestEvents, ProcessEntry, ProcessTable, SpawnRequest } from './table.js';

class ProcessRef implements Cap {
  readonly kind = Kind.PROCESS;
  readonly movable = true;
  constructor(readonly entry: ProcessEntry) {}
  retain(): void {}
  release(): void {}
}

/** The power to spawn children of the caller. One object per executor: it carries no state. */
class ExecutorRef implements Cap {
  readonly kind = Kind.EXECUTOR;
  readonly movable = true;
  retain(): void {}
  release(): void {}
}

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
  /** Live processes spawned by guests at once. Default MAX_GUEST_SPAWNED (4096). */
  maxGuestSpawned?: number;
}

/** The ww host module of one executor: every process it spawns gets the `ww` imports. */
export class WwHost implements GuestEvents {
  readonly store = new CapabilityStore();
  readonly executorRef: Cap = new ExecutorRef();
  private readonly guests = new Map<number, () => GuestProcess>();
  /** Live processes spawned by guests (bounded: a guest spawning without end must not take the node down). */
  spawnedByGuests = 0;

  constructor(readonly opts: WwHostOptions) {}

  get table(): ProcessTable {
    return this.opts.table;
  }

  /**
   * Spawns through the table with the `ww` host calls. A root process (no `moved`) starts with the
   * Executor and the store as initial handles; a child with the capabilities moved to it (their
   * references are taken over once the spawn succeeded).
   */
  spawn(req: SpawnRequest, moved?: Cap[]): ProcessEntry {
    let entry: ProcessEntry | undefined;
    let guest: GuestProcess | undefined;
    // What children inherit; not the whole request (its stdin and module need not stay alive).
    const own: Inherited = { limits: req.limits, stdout: req.stdout, stderr: req.stderr };
    const get = (): GuestProcess => (guest ??= new GuestProcess(this, entry!, own, moved ?? [this.executorRef, this.store]));
    const ww: HostCallHandler = (op, args) => (entry?.status ? fail(E.IO, 'the process has ended') : get().call(op, args));
    const e = this.table.spawn({ ...req, hostCalls: { ...req.hostCalls, ww } });
    entry = e;
    this.guests.set(e.pid, get);
    if (moved) get(); // the moved capabilities are the child's now, even if it never makes a call
    e.onEnd.add(() => {
      this.guests.delete(e.pid);
      guest?.end();
    });
    return e;
  }

  /** Live guests' state for tests: handles held, events queued. */
  guest(pid: number): GuestProcess | undefined {
    return this.guests.get(pid)?.();
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

function int(args: unknown, key: string): number {
  const v = (args as Record<string, unknown> | undefined)?.[key];
  if (typeof v !== 'number' || !Number.isInteger(v)) return fail(E.INVAL, `missing argument ${key}`);
  return v;
}

function handleList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((h) => typeof h === 'number')) return fail(E.INVAL, `${what}: bad handle list`);
  if (v.length > MAX_PASSED_HANDLES) return fail(E.MSGSIZE, `${what}: ${v.length} handles; at most ${MAX_PASSED_HANDLES}`);
  if (new Set(v).size !== v.length) return fail(E.INVAL, `${what}: the handle list names a handle twice`);
  return v as number[];
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
  readonly account = new QueueAccount(MAX_QUEUED_BYTES, MAX_OPEN_CHANNELS);

  constructor(
    private readonly host: WwHost,
    readonly entry: ProcessEntry,
    private readonly req: Inherited,
    initial: Cap[],
  ) {
    this.initial = initial.map((c) => this.handles.adopt(c));
  }

  /** Answers one host call. */
  call(op: string, args: unknown): unknown {
    if (this.ended) return fail(E.IO, 'the process has ended');
    switch (op) {
      case 'ww.self':
        return this.self();
      case 'ww.initial': {
        const i = int(args, 'index');
        if (i < 0 || i >= this.initial.length) return fail(E.NOENT, `initial: no initial handle ${i} (this process has ${this.initial.length})`);
        return this.initial[i];
      }
      case 'ww.handle_kind':
        return this.handles.get(int(args, 'h'), 'handle_kind').kind;
      case 'ww.handle_dup': {
        const cap = this.handles.get(int(args, 'h'), 'handle_dup');
        if (!cap.movable) return fail(E.INVAL, 'handle_dup: a Monitor handle cannot be duplicated');
        return this.handles.add(cap, 'handle_dup');
      }
      case 'ww.handle_drop': {
        const h = int(args, 'h');
        this.handles.drop(h, 'handle_drop');
        if (h === this.selfHandle) this.selfHandle = undefined;
        return 0;
      }
      case 'ww.spawn':
        return this.spawn(args as SpawnArgs);
      case 'ww.proc_pid':
        return this.process(args, 'proc_pid').pid;
      case 'ww.proc_wait':
        return this.procWait(args);
      case 'ww.proc_kill':
        this.host.table.kill(this.process(args, 'proc_kill'));
        return 0;
      case 'ww.proc_pause':
        this.host.table.pause(this.process(args, 'proc_pause')).catch(() => {});
        return 0;
      case 'ww.proc_resume':
        this.host.table.resume(this.process(args, 'proc_resume'));
        return 0;
      case 'ww.proc_link':
        this.host.table.link(this.entry, this.process(args, 'proc_link'));
        return 0;
      case 'ww.proc_unlink':
        this.host.table.unlink(this.entry, this.process(args, 'proc_unlink'));
        return 0;
      case 'ww.proc_monitor':
        return this.monitor(args);
      case 'ww.monitor_wait':
        return this.monitorWait(args);
      case 'ww.chan_create':
        return this.chanCreate(args);
      case 'ww.chan_send':
        return this.chanSend(args);
      case 'ww.chan_recv':
        return this.chanRecv(args);
      case 'ww.chan_close':
        (this.handles.get(int(args, 'h'), 'chan_close', Kind.CHAN_SEND, Kind.CHAN_RECV) as ChannelEnd).close();
        return 0;
      case 'ww.store_set':
        return this.storeSet(args);
      case 'ww.store_get':
        return this.storeGet(args);
      case 'ww.event_attach': {
        const shared = (args as { count?: unknown }).count;
        if (!(shared instanceof SharedArrayBuffer) || shared.byteLength < 4) return fail(E.INVAL, 'event_attach: needs a shared counter');
        this.eventCount = new Int32Array(shared, 0, 1);
        Atomics.store(this.eventCount, 0, this.events.length);
        return 0;
      }
      case 'ww.event_poll':
        return this.eventPoll(args);
      default:
        return fail(E.NOSYS, `${op} is not a function of the ww host module (ABI v1)`);
    }
  }

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

  /** The process ended: everything it holds is dropped, its blocked calls stop. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const stop of [...this.blocked]) stop();
    this.events.length = 0;
    this.handles.clear();
  }

  // ---- calls ----

  private self(): number {
    if (this.selfHandle === undefined || !this.handles.has(this.selfHandle)) {
      this.selfHandle = this.handles.add(new ProcessRef(this.entry), 'self');
    }
    return this.selfHandle;
  }

  private process(args: unknown, what: string): ProcessEntry {
    return (this.handles.get(int(args, 'h'), what, Kind.PROCESS) as ProcessRef).entry;
  }

  private async spawn(a: SpawnArgs): Promise<number> {
    this.handles.get(a.executor, 'spawn: executor', Kind.EXECUTOR);
    const passed = handleList(a.handles, 'spawn');
    for (const h of passed) {
      if (!this.handles.get(h, 'spawn: passed handle').movable) fail(E.INVAL, 'spawn: a Monitor handle cannot be passed');
    }
    this.handles.room(1, 'spawn');
    const module = await this.spawnModule(a);
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
    const argv = a.argv.length > 0 ? a.argv : [a.flags & SPAWN_SELF ? (this.entry.argv[0] ?? 'self') : module.cid.slice(0, 12)];
    const most = this.host.opts.maxGuestSpawned ?? MAX_GUEST_SPAWNED;
    if (this.host.spawnedByGuests >= most) {
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
          limits,
          ppid: this.entry.pid,
        },
        caps,
      );
    } catch (e) {
      const message = (e as Error).message;
      if (/shutting down/.test(message)) return fail(E.AGAIN, `spawn: ${message}`);
      return fail(E.NOEXEC, `spawn: ${message}`);
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
    if (a.flags & SPAWN_CID) {
      const cid = a.cid ?? '';
      if (!isContentId(cid)) return fail(E.INVAL, `spawn: ${JSON.stringify(cid)} is not a content ID (64 lowercase hex digits)`);
      const m = await modules.module(cid);
      return m ?? fail(E.NOENT, `spawn: module not found: ${cid} (put it in the node's module cache first)`);
    }
    if (!(a.module instanceof Uint8Array) || a.module.length === 0) return fail(E.INVAL, 'spawn: no module bytes given');
    try {
      return await modules.put(a.module);
    } catch (e) {
      return fail(E.NOEXEC, `spawn: ${(e as Error).message}`);
    }
  }

  private async procWait(args: unknown): Promise<WaitAnswer> {
    const target = this.process(args, 'proc_wait');
    if (target === this.entry) return fail(E.DEADLK, 'proc_wait: a process cannot wait for itself');
    if (!target.status) {
      if (int(args, 'flags') & NONBLOCK) return fail(E.AGAIN, `proc_wait: process ${target.pid} is still running`);
      let wake!: () => void;
      const ready = new Promise<void>((r) => (wake = r));
      target.onEnd.add(wake);
      await this.sleep({ ready, cancel: () => target.onEnd.delete(wake) });
    }
    return answer(target.status!);
  }

  private monitor(args: unknown): number {
    const target = this.process(args, 'proc_monitor');
    const m = new MonitorRef();
    const h = this.handles.add(m, 'proc_monitor');
    m.cancel = this.host.table.monitor(target, (s) => {
      m.status = s;
      m.fired.wakeAll();
      if (!m.released) this.event(EventKind.DOWN, h, s.code);
    });
    return h;
  }

  private async monitorWait(args: unknown): Promise<WaitAnswer> {
    const h = int(args, 'h');
    const m = this.handles.get(h, 'monitor_wait', Kind.MONITOR) as MonitorRef;
    while (!m.status) {
      if (int(args, 'flags') & NONBLOCK) return fail(E.AGAIN, 'monitor_wait: the monitored process is still running');
      await this.sleep(m.fired.wait());
      if (m.released) return fail(E.BADF, `monitor_wait: handle ${h} was dropped`);
    }
    return answer(m.status);
  }

  private chanCreate(args: unknown): [number, number] {
    const asked = int(args, 'capacity');
    if (asked < 0 || asked > MAX_CHANNEL_CAPACITY) return fail(E.INVAL, `chan_create: capacity ${asked}; it is 0 (default ${DEFAULT_CHANNEL_CAPACITY}) to ${MAX_CHANNEL_CAPACITY} messages`);
    this.handles.room(2, 'chan_create');
    if (this.account.openChannels >= this.account.maxOpenChannels) {
      return fail(E.NOBUFS, `chan_create: this process has ${this.account.openChannels} channels open (at most ${this.account.maxOpenChannels}): close channels it no longer needs`);
    }
    const ch = new Channel(asked === 0 ? DEFAULT_CHANNEL_CAPACITY : asked, this.account);
    return [this.handles.add(ch.send, 'chan_create'), this.handles.add(ch.recv, 'chan_create')];
  }

  private async chanSend(args: unknown): Promise<number> {
    const end = this.handles.get(int(args, 'h'), 'chan_send', Kind.CHAN_SEND) as ChannelEnd;
    const flags = int(args, 'flags');
    const data = (args as { data?: unknown }).data;
    if (!(data instanceof Uint8Array)) return fail(E.INVAL, 'chan_send: no data');
    if (data.length > MAX_MESSAGE_BYTES) return fail(E.MSGSIZE, `chan_send: ${data.length} bytes; a message holds at most ${MAX_MESSAGE_BYTES}`);
    const passed = handleList((args as { handles?: unknown }).handles, 'chan_send');
    const ch = end.channel;
    for (const h of passed) {
      const cap = this.handles.get(h, 'chan_send: passed handle');
      if (!cap.movable) fail(E.INVAL, 'chan_send: a Monitor handle cannot be passed');
      if (cap === ch.recv) fail(E.INVAL, "chan_send: a channel's receive end cannot be sent over that channel");
    }
    for (;;) {
      if (end.closed) return fail(E.PIPE, 'chan_send: the send end is closed');
      if (ch.recv.closed) return fail(E.PIPE, 'chan_send: the receive end is closed');
      if (ch.fits(data.length)) {
        const cost = messageCost(data.length, passed.length);
        if (this.account.queuedBytes + cost > this.account.maxQueuedBytes) {
          return fail(
            E.NOBUFS,
            `chan_send: this process's messages not yet received hold ${this.account.queuedBytes} bytes ` +
              `(at most ${this.account.maxQueuedBytes}): let receivers catch up, or close channels nobody reads`,
          );
        }
        ch.push({ data, caps: passed.map((h) => this.handles.take(h)), account: this.account });
        return 0;
      }
      if (flags & NONBLOCK) return fail(E.AGAIN, `chan_send: the channel is full (${ch.length} messages)`);
      await this.sleep(ch.waitToSend(), () => ch.pump());
    }
  }

  private async chanRecv(args: unknown): Promise<RecvAnswer> {
    const end = this.handles.get(int(args, 'h'), 'chan_recv', Kind.CHAN_RECV) as ChannelEnd;
    const flags = int(args, 'flags');
    const bufLen = int(args, 'bufLen');
    const handlesCap = int(args, 'handlesCap');
    const ch = end.channel;
    for (;;) {
      if (end.closed) return fail(E.PIPE, 'chan_recv: the receive end is closed');
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
      await this.sleep(ch.waitToReceive(), () => ch.pump());
    }
  }

  private storeSet(args: unknown): number {
    const store = this.handles.get(int(args, 'store'), 'store_set', Kind.STORE) as CapabilityStore;
    const name = CapabilityStore.name((args as { name?: unknown }).name, 'store_set');
    const h = int(args, 'h');
    if (h === 0) {
      store.set(name, undefined);
      return 0;
    }
    const cap = this.handles.get(h, 'store_set');
    if (!cap.movable) return fail(E.INVAL, 'store_set: a Monitor handle cannot be stored');
    store.set(name, cap);
    return 0;
  }

  private storeGet(args: unknown): number {
    const store = this.handles.get(int(args, 'store'), 'store_get', Kind.STORE) as CapabilityStore;
    const name = CapabilityStore.name((args as { name?: unknown }).name, 'store_get');
    const cap = store.get(name) ?? fail(E.NOENT, `store_get: nothing is stored under ${JSON.stringify(name)}`);
    return this.handles.add(cap, 'store_get');
  }

  private async eventPoll(args: unknown): Promise<EventRecord> {
    const flags = int(args, 'flags');
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

function answer(s: EndStatus): WaitAnswer {
  return { code: s.code, reason: reasonText(s.reason) };
}

/** A child's output goes where its parent's goes when that is streamed; else it is discarded. */
function streamed(mode: SpawnRequest['stdout']): SpawnRequest['stdout'] {
  return typeof mode === 'function' || mode === 'inherit' ? mode : 'ignore';
}
