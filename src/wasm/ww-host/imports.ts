// Worker side of the `ww` import module (guest-sdk/ABI.md): checks and reads the guest's memory,
// turns each import into a synchronous host call ('ww.<name>') answered by the executor on the
// main thread, and writes the answer back. Nothing here trusts the guest: every pointer is checked
// before the call is made (so an answer is never lost to a bad out pointer), and every failure is
// an errno, never an exception into the guest.

import { threadId } from 'node:worker_threads';
import { callerOf, HostCallError, type HostCall } from '../host-call.js';
import { recorded } from '../blocked.js';
import { Ring, RING_MAIN_OWNER, recordBytes, ringRecv, ringSend } from '../ring.js';
import { GuestMemory } from '../wasi/abi/memory.js';
import { WasiError } from '../wasi/abi/errno.js';
import type { WasmMemory } from '../webassembly.js';
import {
  E,
  EVENT_BYTES,
  MAX_PASSED_HANDLES,
  NONBLOCK,
  SPAWN_CID,
  SPAWN_FLAGS,
  SPAWN_SELF,
  SPAWN_SPEC_BYTES,
  WW_CALLS,
  type SpawnArgs,
  type WwCalls,
  type WwFunction,
} from './abi.js';

export interface WwContext {
  call: HostCall;
  pid: number;
  /** The guest's linear memory (valid once the instance exists). */
  memory: () => WasmMemory;
}

/** An errno found on the worker side (bad pointer, bad argument), with its message. */
class AbiError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** The host call of a process spawned without the ww host (a bare Runtime): every ww import answers
 *  ENOSYS, as ABI.md says, instead of the module failing to link. */
export const noWwHost: HostCall = (op) => {
  throw new HostCallError(E.NOSYS, `${op}: this process has no ww host module; run it through an Executor (a node, or \`ww run\`)`);
};

/** Who holds a ring's lock while this thread copies: its threadId, which the pool gives to threadGone
 *  when the thread exits (the main thread's token if ever run there). */
const owner = threadId > 0 ? threadId : RING_MAIN_OWNER;

/** Channel ends whose rings one process's worker remembers (past it, it forgets them all and asks
 *  again). Small, since a remembered ring stays in memory after its channel closed and stopped being
 *  charged to anyone: twice what one creator may have charged (src/executor/channel.ts). */
const MAX_RINGS_KNOWN = 128;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * The guest's memory through the WASI host's checked view (one bounds rule for every import): the
 * ABI passes pointers and lengths as i32, read here as unsigned; anything outside memory is EFAULT
 * naming what it was.
 */
class Guest {
  constructor(private readonly m: GuestMemory) {}
  check(ptr: number, len: number, what: string): void {
    const p = ptr >>> 0;
    const n = len >>> 0;
    try {
      this.m.check(p, n);
    } catch (e) {
      if (!(e instanceof WasiError)) throw e;
      throw new AbiError(E.FAULT, `${what}: bytes ${p}..${p + n} are outside the guest's memory`);
    }
  }
  /** A live view of guest bytes (checked), valid until the memory grows. */
  view(ptr: number, len: number, what: string): Uint8Array {
    this.check(ptr, len, what);
    return this.m.bytes(ptr >>> 0, len >>> 0);
  }
  copy(ptr: number, len: number, what: string): Uint8Array {
    this.check(ptr, len, what);
    return this.m.bytes(ptr >>> 0, len >>> 0).slice();
  }
  /** Copies `data` to `ptr`, which the caller checked for at least `data.length` bytes. */
  write(ptr: number, data: Uint8Array): void {
    this.m.write(ptr >>> 0, data);
  }
  u32(ptr: number): number {
    return this.m.u32(ptr >>> 0);
  }
  u64(ptr: number): number {
    const v = this.m.u64(ptr >>> 0);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  setU32(ptr: number, v: number): void {
    this.m.setU32(ptr >>> 0, v);
  }
  setI64(ptr: number, v: number): void {
    this.m.setU64(ptr >>> 0, BigInt.asUintN(64, BigInt(Math.trunc(v))));
  }
}

/** NUL-terminated strings back to back, as in the spawn spec's argv and env blocks. */
function nulStrings(block: Uint8Array, what: string): string[] {
  if (block.length === 0) return [];
  if (block[block.length - 1] !== 0) throw new AbiError(E.INVAL, `spawn: the ${what} block must end with a NUL byte`);
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < block.length; i++) {
    if (block[i] === 0) {
      out.push(fromUtf8.decode(block.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/** The ops whose answer is a `T` (written to an out pointer). */
type OpAnswering<T> = { [K in keyof WwCalls & WwFunction]: WwCalls[K]['answer'] extends T ? K : never }[keyof WwCalls & WwFunction];
/** The ops that take one handle and answer nothing. */
type OpOnHandle = { [K in keyof WwCalls & WwFunction]: WwCalls[K] extends { args: { h: number }; answer: void } ? K : never }[keyof WwCalls & WwFunction];

export function wwImports(ctx: WwContext): Record<WwFunction, (...args: number[]) => number> {
  const call = callerOf<WwCalls>(ctx.call, WW_CALLS);
  let lastError = '';
  /** Shared with the executor: how many events are queued, so a non-blocking poll with none costs no call. */
  let eventCount: Int32Array | undefined;

  /**
   * The rings of channel ends this process holds, by handle (null: its channel has none), for sends
   * and receives without a call (ring.ts). Asked once per handle; forgotten when the handle may no
   * longer name that end (dropped, moved away), so the executor keeps the say over who holds what.
   */
  const rings = new Map<number, { ring: Ring; send: boolean } | null>();
  const ringOf = (h: number, send: boolean): Ring | undefined => {
    // Recorded: on a shared worker a replay of this import must ask again if the first run asked.
    let r = recorded('ring known', () => rings.get(h));
    if (r === undefined) {
      try {
        const a = call('chan_ring', { h });
        r = a && { ring: new Ring(a), send: a.send };
      } catch (e) {
        if (e instanceof HostCallError) return undefined; // not a channel end: the call says so
        throw e;
      }
      if (rings.size >= MAX_RINGS_KNOWN) rings.clear();
      rings.set(h, r);
    }
    return r && r.send === send ? r.ring : undefined;
  };
  const forget = (hs: number[]): void => {
    for (const h of hs) rings.delete(h);
  };

  const view = new GuestMemory();
  let viewOf: WasmMemory | undefined;
  const mem = (): Guest => {
    const m = ctx.memory();
    if (m !== viewOf) {
      view.setMemory(m);
      viewOf = m;
    }
    return new Guest(view);
  };

  /** Runs an import body; an errno thrown by it (or by the host, or by the memory view) becomes its return value. */
  const abi =
    (name: WwFunction, body: (...args: number[]) => void) =>
    (...args: number[]): number => {
      try {
        body(...args);
        return E.SUCCESS;
      } catch (e) {
        if (e instanceof HostCallError || e instanceof AbiError) {
          lastError = e.message;
          return e.errno;
        }
        if (e instanceof WasiError) {
          lastError = `${name}: ${e.message}`;
          return e.errno;
        }
        throw e;
      }
    };

  /** Checks out pointers (4 bytes each) before anything is done. */
  const outs = (g: Guest, name: string, ...ptrs: number[]): void => {
    for (const p of ptrs) g.check(p, 4, `${name}: out pointer`);
  };

  const flagsOk = (name: string, flags: number): void => {
    if ((flags & ~NONBLOCK) !== 0) throw new AbiError(E.INVAL, `${name}: unknown flag bits ${flags & ~NONBLOCK} (only NONBLOCK = 1)`);
  };

  /** A call whose answer is one number (a handle, a pid, a kind) written to `out`. */
  const toOut = <K extends OpAnswering<number>>(name: K, args: (...a: number[]) => WwCalls[K]['args']) =>
    abi(name, (...a: number[]) => {
      const out = a[a.length - 1];
      outs(mem(), name, out);
      const v = call(name, args(...a));
      mem().setU32(out, v);
    });

  const handleCall = (name: OpOnHandle) =>
    abi(name, (h: number) => {
      call(name, { h });
    });

  const waitLike = (name: 'proc_wait' | 'monitor_wait') =>
    abi(name, (h: number, flags: number, outCode: number, reason: number, reasonLen: number, outReasonLen: number) => {
      flagsOk(name, flags);
      const g = mem();
      outs(g, name, outCode, outReasonLen);
      g.check(reason, reasonLen, `${name}: reason buffer`);
      const a = call(name, { h, flags });
      const text = utf8.encode(a.reason);
      const w = mem();
      w.setU32(outCode, a.code);
      w.write(reason, text.subarray(0, reasonLen >>> 0));
      w.setU32(outReasonLen, text.length);
    });

  const imports: Record<WwFunction, (...args: number[]) => number> = {
    self: toOut('self', () => undefined),
    initial: toOut('initial', (index) => ({ index })),
    handle_kind: toOut('handle_kind', (h) => ({ h })),
    handle_dup: toOut('handle_dup', (h) => ({ h })),
    handle_drop: abi('handle_drop', (h: number) => {
      forget([h]);
      call('handle_drop', { h });
    }),
    last_error: (buf: number, bufLen: number, outLen: number): number => {
      try {
        const g = mem();
        g.check(buf, bufLen, 'last_error: buffer');
        g.check(outLen, 4, 'last_error: out pointer');
        const text = utf8.encode(lastError);
        g.write(buf, text.subarray(0, bufLen >>> 0));
        g.setU32(outLen, text.length);
        return E.SUCCESS;
      } catch (e) {
        if (e instanceof AbiError || e instanceof WasiError) return e.errno;
        throw e;
      }
    },

    spawn: abi('spawn', (executor: number, spec: number, specLen: number, outProc: number) => {
      const g = mem();
      outs(g, 'spawn', outProc);
      if (specLen >>> 0 < SPAWN_SPEC_BYTES) throw new AbiError(E.INVAL, `spawn: spec_len is ${specLen >>> 0}; the spec is ${SPAWN_SPEC_BYTES} bytes`);
      g.check(spec, specLen, 'spawn: spec');
      const tail = g.copy(spec + SPAWN_SPEC_BYTES, (specLen >>> 0) - SPAWN_SPEC_BYTES, 'spawn: spec');
      for (let i = 0; i < tail.length; i++) {
        if (tail[i] !== 0) throw new AbiError(E.INVAL, `spawn: spec byte ${SPAWN_SPEC_BYTES + i} is not 0 (fields past ${SPAWN_SPEC_BYTES} bytes are not defined in ABI v1)`);
      }
      const s = spec >>> 0;
      const flags = g.u32(s + 8);
      if ((flags & ~SPAWN_FLAGS) !== 0) throw new AbiError(E.INVAL, `spawn: unknown flag bits ${flags & ~SPAWN_FLAGS}`);
      if ((flags & SPAWN_CID) && (flags & SPAWN_SELF)) throw new AbiError(E.INVAL, 'spawn: SPAWN_CID and SPAWN_SELF exclude each other');
      if (g.u32(s + 36) !== 0) throw new AbiError(E.INVAL, 'spawn: the reserved field at offset 36 must be 0');
      const handlesCount = g.u32(s + 32);
      if (handlesCount > MAX_PASSED_HANDLES) throw new AbiError(E.INVAL, `spawn: ${handlesCount} handles passed; at most ${MAX_PASSED_HANDLES}`);
      const handlesPtr = g.u32(s + 28);
      g.check(handlesPtr, handlesCount * 4, 'spawn: handles');
      const handles: number[] = [];
      for (let i = 0; i < handlesCount; i++) handles.push(g.u32(handlesPtr + 4 * i));
      forget(handles);
      const argv = nulStrings(g.copy(g.u32(s + 12), g.u32(s + 16), 'spawn: argv'), 'argv');
      const env: [string, string][] = nulStrings(g.copy(g.u32(s + 20), g.u32(s + 24), 'spawn: env'), 'env').map((kv) => {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new AbiError(E.INVAL, `spawn: environment entry ${JSON.stringify(kv)} is not KEY=VALUE`);
        return [kv.slice(0, eq), kv.slice(eq + 1)];
      });
      const args: SpawnArgs = {
        executor,
        flags,
        argv,
        env,
        handles,
        limits: { maxMemoryBytes: g.u64(s + 40), fuel: g.u64(s + 48), timeoutMs: g.u64(s + 56) },
      };
      const transfer: ArrayBuffer[] = [];
      if (flags & SPAWN_CID) {
        args.cid = fromUtf8.decode(g.copy(g.u32(s), g.u32(s + 4), 'spawn: module content ID'));
      } else if (!(flags & SPAWN_SELF)) {
        args.module = g.copy(g.u32(s), g.u32(s + 4), 'spawn: module bytes');
        transfer.push(args.module.buffer as ArrayBuffer);
      }
      const h = call('spawn', args, transfer);
      mem().setU32(outProc, h);
    }),
    proc_pid: toOut('proc_pid', (h) => ({ h })),
    proc_wait: waitLike('proc_wait'),
    proc_kill: handleCall('proc_kill'),
    proc_pause: handleCall('proc_pause'),
    proc_resume: handleCall('proc_resume'),
    proc_link: handleCall('proc_link'),
    proc_unlink: handleCall('proc_unlink'),
    proc_monitor: toOut('proc_monitor', (h) => ({ h })),
    monitor_wait: waitLike('monitor_wait'),

    chan_create: abi('chan_create', (capacity: number, outSend: number, outRecv: number) => {
      outs(mem(), 'chan_create', outSend, outRecv);
      const [send, recv] = call('chan_create', { capacity });
      const g = mem();
      g.setU32(outSend, send);
      g.setU32(outRecv, recv);
    }),
    chan_send: abi('chan_send', (h: number, flags: number, data: number, dataLen: number, handles: number, handlesCount: number) => {
      flagsOk('chan_send', flags);
      const g = mem();
      if (handlesCount >>> 0 > MAX_PASSED_HANDLES) {
        throw new AbiError(E.MSGSIZE, `chan_send: ${handlesCount >>> 0} handles in one message; at most ${MAX_PASSED_HANDLES}`);
      }
      g.check(handles, (handlesCount >>> 0) * 4, 'chan_send: handles');
      const list: number[] = [];
      for (let i = 0; i < handlesCount >>> 0; i++) list.push(g.u32((handles >>> 0) + 4 * i));
      forget(list);
      const ring = list.length === 0 ? ringOf(h, true) : undefined;
      if (ring && recordBytes(dataLen >>> 0) <= ring.capacity) {
        const r = ringSend(ring, g.view(data, dataLen, 'chan_send: data'), owner, (flags & NONBLOCK) !== 0);
        if (r === 'ok') return;
        if (r === 'full') throw new AbiError(E.AGAIN, `chan_send: the channel is full (${ring.length} messages)`);
        // diverted, no room for it, an end closed: the executor answers
      }
      const bytes = g.copy(data, dataLen, 'chan_send: data');
      call('chan_send', { h, flags, data: bytes, handles: list }, [bytes.buffer as ArrayBuffer]);
    }),
    chan_recv: abi(
      'chan_recv',
      (h: number, flags: number, buf: number, bufLen: number, outLen: number, handles: number, handlesCap: number, outCount: number) => {
        /** The next message does not fit the buffers: its sizes go out, and it stays queued. */
        const tooBig = (w: Guest, bytes: number, count: number): AbiError => {
          w.setU32(outLen, bytes);
          w.setU32(outCount, count);
          return new AbiError(
            E.MSGSIZE,
            `chan_recv: the next message has ${bytes} bytes and ${count} handles; ` +
              `the buffers hold ${bufLen >>> 0} bytes and ${handlesCap >>> 0} handles (it stays queued)`,
          );
        };
        flagsOk('chan_recv', flags);
        const g = mem();
        outs(g, 'chan_recv', outLen, outCount);
        g.check(buf, bufLen, 'chan_recv: buffer');
        g.check(handles, (handlesCap >>> 0) * 4, 'chan_recv: handles');
        const ring = ringOf(h, false);
        if (ring) {
          const r = ringRecv(ring, g.view(buf, bufLen, 'chan_recv: buffer'), owner, (flags & NONBLOCK) !== 0);
          if (typeof r === 'number') {
            g.setU32(outLen, r);
            g.setU32(outCount, 0);
            return;
          }
          if (typeof r === 'object') throw tooBig(g, r.tooBig, 0);
          if (r === 'empty') throw new AbiError(E.AGAIN, 'chan_recv: the channel is empty');
          // diverted (messages wait in the executor), end of data, closed: the executor answers
        }
        const a = call('chan_recv', { h, flags, bufLen: bufLen >>> 0, handlesCap: handlesCap >>> 0 });
        const w = mem();
        if (a.tooBig) throw tooBig(w, a.tooBig.bytes, a.tooBig.handles);
        const data = a.data ?? new Uint8Array(0);
        const hs = a.handles ?? [];
        w.write(buf, data);
        for (let i = 0; i < hs.length; i++) w.setU32((handles >>> 0) + 4 * i, hs[i]);
        w.setU32(outLen, data.length);
        w.setU32(outCount, hs.length);
      },
    ),
    chan_close: handleCall('chan_close'),

    store_set: abi('store_set', (store: number, name: number, nameLen: number, h: number) => {
      const n = mem().copy(name, nameLen, 'store_set: name');
      call('store_set', { store, name: n, h });
    }),
    store_get: abi('store_get', (store: number, name: number, nameLen: number, out: number) => {
      const g = mem();
      outs(g, 'store_get', out);
      const n = g.copy(name, nameLen, 'store_get: name');
      mem().setU32(out, call('store_get', { store, name: n }));
    }),

    event_poll: abi('event_poll', (flags: number, out: number) => {
      flagsOk('event_poll', flags);
      mem().check(out, EVENT_BYTES, 'event_poll: event record');
      // Recorded (blocked.ts): on a shared worker this import runs again after each call it waits in,
      // and must take the same path and keep the counter it sent.
      if (!recorded('event counter attached', () => eventCount !== undefined)) {
        const shared = recorded('event counter', () => new SharedArrayBuffer(4));
        call('event_attach', { count: shared });
        eventCount = new Int32Array(shared);
      }
      const counter = eventCount as Int32Array; // (set above, in this run or the one it replays)
      if (flags & NONBLOCK && recorded('events queued', () => Atomics.load(counter, 0)) === 0) throw new AbiError(E.AGAIN, 'event_poll: no event queued');
      const ev = call('event_poll', { flags });
      const g = mem();
      g.setU32(out, ev.kind);
      g.setU32(out + 4, ev.handle);
      g.setI64(out + 8, ev.value);
    }),
  };
  return imports;
}
