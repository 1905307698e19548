// The `ww` host module ABI (guest-sdk/ABI.md) in one place: its functions, numbers and bounds, and the
// host calls that carry them from the worker side (imports.ts) to the executor that answers them
// (src/executor/guest.ts). The loader (module.ts) accepts exactly these imports.
import { Errno } from '../wasi/abi/errno.js';

export const WW_MODULE = 'ww';

/** Every function of the `ww` import module, with its number of i32 parameters (all return i32).
 *  imports.ts must implement exactly these (its type says so). */
export const WW_FUNCTIONS = {
  self: 1,
  initial: 2,
  handle_kind: 2,
  handle_dup: 2,
  handle_drop: 1,
  last_error: 3,
  spawn: 4,
  proc_pid: 2,
  proc_wait: 6,
  proc_kill: 1,
  proc_pause: 1,
  proc_resume: 1,
  proc_link: 1,
  proc_unlink: 1,
  proc_monitor: 2,
  monitor_wait: 6,
  chan_create: 3,
  chan_send: 6,
  chan_recv: 8,
  chan_close: 1,
  store_set: 4,
  store_get: 4,
  event_poll: 2,
} as const satisfies Record<string, number>;

export type WwFunction = keyof typeof WW_FUNCTIONS;

/** The arity of a `ww` import, or undefined for a name the ABI does not have. */
export function wwArity(name: string): number | undefined {
  return Object.hasOwn(WW_FUNCTIONS, name) ? WW_FUNCTIONS[name as WwFunction] : undefined;
}

/** Handle kinds. */
export const enum Kind {
  PROCESS = 1,
  EXECUTOR = 2,
  CHAN_SEND = 3,
  CHAN_RECV = 4,
  STORE = 5,
  MONITOR = 6,
}

export const NONBLOCK = 1;

export const SPAWN_CID = 1;
export const SPAWN_SELF = 2;
export const SPAWN_LINK = 4;
export const SPAWN_FLAGS = SPAWN_CID | SPAWN_SELF | SPAWN_LINK;
export const SPAWN_SPEC_BYTES = 64;

export const enum EventKind {
  PAUSE = 1,
  RESUME = 2,
  DOWN = 3,
}
export const EVENT_BYTES = 16;

/** Bounds of the ABI. */
export const MAX_HANDLES = 4096;
export const MAX_PASSED_HANDLES = 64;
export const MAX_MESSAGE_BYTES = 1024 * 1024;
export const MAX_CHANNEL_BYTES = 4 * 1024 * 1024;
export const DEFAULT_CHANNEL_CAPACITY = 16;
export const MAX_CHANNEL_CAPACITY = 1024;
export const MAX_NAME_BYTES = 255;
export const MAX_STORE_NAMES = 10_000;
export const MAX_EVENTS = 1024;
/** Bytes one process's sent messages may hold in channel queues, and channels it may have open. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
export const MAX_OPEN_CHANNELS = 16_384;
/** Live processes spawned by guests on one node. */
export const MAX_GUEST_SPAWNED = 4096;

/** The WASI errno numbers the ABI uses. */
export const E = {
  SUCCESS: Errno.SUCCESS,
  AGAIN: Errno.AGAIN,
  BADF: Errno.BADF,
  DEADLK: Errno.DEADLK,
  FAULT: Errno.FAULT,
  INVAL: Errno.INVAL,
  IO: Errno.IO,
  MFILE: Errno.MFILE,
  MSGSIZE: Errno.MSGSIZE,
  NOBUFS: Errno.NOBUFS,
  NOENT: Errno.NOENT,
  NOEXEC: Errno.NOEXEC,
  NOSPC: Errno.NOSPC,
  NOSYS: Errno.NOSYS,
  PERM: Errno.PERM,
  PIPE: Errno.PIPE,
} as const;

/**
 * The host calls `ww.<op>`: what the worker sends and what the executor answers, for each op. The
 * worker's caller and the executor's handlers are both typed by this map (host-call.ts `Caller`,
 * `Handlers`), so a new op fails to compile until both sides have it.
 */
export type WwCalls = {
  self: { args: undefined; answer: number };
  initial: { args: { index: number }; answer: number };
  handle_kind: { args: { h: number }; answer: number };
  handle_dup: { args: { h: number }; answer: number };
  handle_drop: { args: { h: number }; answer: void };
  spawn: { args: SpawnArgs; answer: number };
  proc_pid: { args: { h: number }; answer: number };
  proc_wait: { args: { h: number; flags: number }; answer: WaitAnswer };
  proc_kill: { args: { h: number }; answer: void };
  proc_pause: { args: { h: number }; answer: void };
  proc_resume: { args: { h: number }; answer: void };
  proc_link: { args: { h: number }; answer: void };
  proc_unlink: { args: { h: number }; answer: void };
  proc_monitor: { args: { h: number }; answer: number };
  monitor_wait: { args: { h: number; flags: number }; answer: WaitAnswer };
  chan_create: { args: { capacity: number }; answer: [send: number, recv: number] };
  chan_send: { args: { h: number; flags: number; data: Uint8Array; handles: number[] }; answer: void };
  chan_recv: { args: { h: number; flags: number; bufLen: number; handlesCap: number }; answer: RecvAnswer };
  /** The shared buffers of the channel's ring, for sends (`send`: h is a send end) or receives done in
   *  the worker (ring.ts; null: the channel has none). */
  chan_ring: { args: { h: number }; answer: { header: SharedArrayBuffer; data: SharedArrayBuffer; send: boolean } | null };
  chan_close: { args: { h: number }; answer: void };
  store_set: { args: { store: number; name: Uint8Array; h: number }; answer: void };
  store_get: { args: { store: number; name: Uint8Array }; answer: number };
  /** Shares the event counter that lets event_poll(NONBLOCK) with nothing queued skip the call. */
  event_attach: { args: { count: SharedArrayBuffer }; answer: void };
  event_poll: { args: { flags: number }; answer: EventRecord };
};

/** The host-call namespace of the ww host module (SpawnOptions.hostCalls key). */
export const WW_CALLS = 'ww';

// Arguments and answers that are more than a handle.
export interface SpawnArgs {
  executor: number;
  flags: number;
  /** Module bytes (no SPAWN_CID/SPAWN_SELF), or a content ID (SPAWN_CID). */
  module?: Uint8Array;
  cid?: string;
  argv: string[];
  env: [string, string][];
  handles: number[];
  limits: { maxMemoryBytes: number; fuel: number; timeoutMs: number };
}

export interface RecvAnswer {
  /** Set when the message does not fit: what it needs, and the message stays queued. */
  tooBig?: { bytes: number; handles: number };
  data?: Uint8Array;
  handles?: number[];
}

export interface WaitAnswer {
  code: number;
  reason: string;
}

export interface EventRecord {
  kind: number;
  handle: number;
  value: number;
}
