// Raw imports of the `ww` host module (guest-sdk/ABI.md, version 1). Every function returns a WASI
// errno (0 = success) and writes its results through out pointers. The typed API over them is in
// handle.ts, process.ts, channel.ts, store.ts and events.ts; use these only to do what those do not.

// Out-parameter scratch for the SDK's calls that return one or two u32s (read right after each call).
// @ts-ignore: decorator
@lazy export const out = memory.data(16);

/** Flag for calls that may block: return EAGAIN instead. */
export const NONBLOCK: u32 = 1;

/** Spawn spec flags. */
export const SPAWN_CID: u32 = 1;
export const SPAWN_SELF: u32 = 2;
export const SPAWN_LINK: u32 = 4;
/** Size of the spawn spec struct (ABI v1). */
export const SPAWN_SPEC_SIZE: u32 = 64;

// @ts-ignore: decorator
@external("ww", "self")
export declare function ww_self(outH: usize): i32;

// @ts-ignore: decorator
@external("ww", "initial")
export declare function ww_initial(index: i32, outH: usize): i32;

// @ts-ignore: decorator
@external("ww", "handle_kind")
export declare function ww_handle_kind(h: i32, outKind: usize): i32;

// @ts-ignore: decorator
@external("ww", "handle_dup")
export declare function ww_handle_dup(h: i32, outH: usize): i32;

// @ts-ignore: decorator
@external("ww", "handle_drop")
export declare function ww_handle_drop(h: i32): i32;

// @ts-ignore: decorator
@external("ww", "last_error")
export declare function ww_last_error(buf: usize, bufLen: u32, outLen: usize): i32;

// @ts-ignore: decorator
@external("ww", "spawn")
export declare function ww_spawn(executor: i32, spec: usize, specLen: u32, outProc: usize): i32;

// @ts-ignore: decorator
@external("ww", "proc_pid")
export declare function ww_proc_pid(h: i32, outPid: usize): i32;

// @ts-ignore: decorator
@external("ww", "proc_wait")
export declare function ww_proc_wait(h: i32, flags: u32, outCode: usize, reason: usize, reasonLen: u32, outReasonLen: usize): i32;

// @ts-ignore: decorator
@external("ww", "proc_kill")
export declare function ww_proc_kill(h: i32): i32;

// @ts-ignore: decorator
@external("ww", "proc_pause")
export declare function ww_proc_pause(h: i32): i32;

// @ts-ignore: decorator
@external("ww", "proc_resume")
export declare function ww_proc_resume(h: i32): i32;

// @ts-ignore: decorator
@external("ww", "proc_link")
export declare function ww_proc_link(h: i32): i32;

// @ts-ignore: decorator
@external("ww", "proc_unlink")
export declare function ww_proc_unlink(h: i32): i32;

// @ts-ignore: decorator
@external("ww", "proc_monitor")
export declare function ww_proc_monitor(h: i32, outMonitor: usize): i32;

// @ts-ignore: decorator
@external("ww", "monitor_wait")
export declare function ww_monitor_wait(m: i32, flags: u32, outCode: usize, reason: usize, reasonLen: u32, outReasonLen: usize): i32;

// @ts-ignore: decorator
@external("ww", "chan_create")
export declare function ww_chan_create(capacity: i32, outSend: usize, outRecv: usize): i32;

// @ts-ignore: decorator
@external("ww", "chan_send")
export declare function ww_chan_send(h: i32, flags: u32, data: usize, dataLen: u32, handles: usize, handlesCount: u32): i32;

// @ts-ignore: decorator
@external("ww", "chan_recv")
export declare function ww_chan_recv(
  h: i32, flags: u32, buf: usize, bufLen: u32, outLen: usize, handles: usize, handlesCap: u32, outHandlesCount: usize,
): i32;

// @ts-ignore: decorator
@external("ww", "chan_close")
export declare function ww_chan_close(h: i32): i32;

// @ts-ignore: decorator
@external("ww", "store_set")
export declare function ww_store_set(store: i32, name: usize, nameLen: u32, h: i32): i32;

// @ts-ignore: decorator
@external("ww", "store_get")
export declare function ww_store_get(store: i32, name: usize, nameLen: u32, outH: usize): i32;

// @ts-ignore: decorator
@external("ww", "event_poll")
export declare function ww_event_poll(flags: u32, outEvent: usize): i32;
