// Processes: this one and others (Process), monitors (Monitor), and spawning children (Executor).
// guest-sdk/ABI.md "Processes".
import {
  NONBLOCK, out, SPAWN_CID, SPAWN_LINK, SPAWN_SELF, SPAWN_SPEC_SIZE,
  ww_monitor_wait, ww_proc_kill, ww_proc_link, ww_proc_monitor, ww_proc_pause, ww_proc_pid, ww_proc_resume,
  ww_proc_unlink, ww_proc_wait, ww_self, ww_spawn,
} from "./abi";
import { Errno, Result } from "./errors";
import { Handle, HandleKind, initialOfKind, wwErr } from "./handle";

/** How a process ended: the status a shell sees and the reason text. */
export class ExitStatus {
  constructor(
    /** The guest's exit code; 134 for a trap; 137 for killed, a limit, a link or peer-lost. */
    readonly code: i32,
    /** `normal` | `exit: N` | `killed` | `trap: ...` | `limit: cpu|memory|wall` | `link: PID` | `peer-lost`. */
    readonly reason: string,
  ) {}

  /** Ended with exit code 0 by itself. */
  get normal(): bool {
    return this.reason == "normal";
  }
}

/** A process: this one (`Process.self()`), a child from `spawn`, or one received over a channel. */
export class Process extends Handle {
  /** This process. The handle is the same on every call while it is held. */
  static self(): Process {
    const errno = ww_self(out);
    if (errno != 0) wwErr<i32>(errno, "self").value; // exits: no ww host for this module
    return new Process(load<i32>(out));
  }

  /** The pid on its node, as `ww ps` shows it. Exits with a message if the handle is not held. */
  get pid(): u32 {
    return this.pidOf().value;
  }

  /** The pid, or the errno (EBADF: not a Process handle of this process). */
  pidOf(): Result<u32> {
    const errno = ww_proc_pid(this.h, out);
    if (errno != 0) return wwErr<u32>(errno, "proc_pid");
    return Result.ok<u32>(load<u32>(out));
  }

  /** Blocks until the process ends (EDEADLK for yourself). Only this process waits; others run on. */
  wait(): Result<ExitStatus> {
    return waitStatus(this.h, 0, false);
  }

  /** The status if the process has ended, else EAGAIN. */
  tryWait(): Result<ExitStatus> {
    return waitStatus(this.h, NONBLOCK, false);
  }

  /** Ends the process and its whole subtree (reason `killed`). Killing yourself does not return. */
  kill(): Errno {
    return ww_proc_kill(this.h);
  }

  /** Asks for a pause: the process gets a PAUSE event, then is frozen after the grace period. */
  pause(): Errno {
    return ww_proc_pause(this.h);
  }

  /** Continues a paused process (or cancels a pause in its grace period); it gets a RESUME event. */
  resume(): Errno {
    return ww_proc_resume(this.h);
  }

  /** Links this process and that one: when either ends abnormally, the other ends with `link: PID`. */
  link(): Errno {
    return ww_proc_link(this.h);
  }

  unlink(): Errno {
    return ww_proc_unlink(this.h);
  }

  /** A one-way monitor: its `wait()` returns when the process ends, and a DOWN event is queued. */
  monitor(): Result<Monitor> {
    const errno = ww_proc_monitor(this.h, out);
    if (errno != 0) return wwErr<Monitor>(errno, "proc_monitor");
    return Result.ok(new Monitor(load<i32>(out)));
  }

  /** A second handle to the same process (e.g. to send one and keep one). */
  dup(): Result<Process> {
    const n = this.dupNumber();
    if (!n.ok) return Result.err<Process>(n.errno, n.what, n.detail);
    return Result.ok(new Process(n.value));
  }
}

/** A monitor on a process (`Process.monitor()`). Dropping it cancels it. */
export class Monitor extends Handle {
  /** Blocks until the monitored process ends. */
  wait(): Result<ExitStatus> {
    return waitStatus(this.h, 0, true);
  }

  /** The status if it has fired, else EAGAIN. */
  tryWait(): Result<ExitStatus> {
    return waitStatus(this.h, NONBLOCK, true);
  }
}

/** What a child gets besides its module. Every field has a default, so an object literal may name
 * only some: `{ argv: ["child", "3"], link: true } as SpawnOptions`. */
export class SpawnOptions {
  /** argv; argv[0] is the program name. Empty: the caller's argv[0] for spawnSelf, else a cid prefix. */
  argv: string[] = [];
  /** "KEY=VALUE" entries; the child inherits none of the caller's environment. */
  env: string[] = [];
  /** Handles moved into the child as its initial handles, in order (they leave this process on
   * success). Convention: an Executor first if the child should spawn, then a Store, then the rest. */
  handles: Handle[] = [];
  /** Link the child to this process before it runs. */
  link: bool = false;
  /** Limits; 0 = this process's own limit. A limit cannot be raised above this process's own. */
  maxMemoryBytes: u64 = 0;
  fuel: u64 = 0;
  timeoutMs: u64 = 0;
}

/** The power to spawn children of this process. A process started by a node has one (initial
 * handle 0); a child has one only if its parent passed it. */
export class Executor extends Handle {
  /** This process's Executor from its initial handles; null if it was given none. */
  static initial(): Executor | null {
    const h = initialOfKind(HandleKind.EXECUTOR);
    return h == 0 ? null : new Executor(h);
  }

  /** Starts a child from module bytes (checked and compiled by the node; blocks meanwhile). */
  spawn(module: Uint8Array, options: SpawnOptions = new SpawnOptions()): Result<Process> {
    return spawnWith(this.h, module.dataStart, <u32>module.length, 0, options);
  }

  /** Starts a child from a module in the node's cache by its content ID (64 hex digits). */
  spawnCid(cid: string, options: SpawnOptions = new SpawnOptions()): Result<Process> {
    const bytes = String.UTF8.encode(cid);
    return spawnWith(this.h, changetype<usize>(bytes), <u32>bytes.byteLength, SPAWN_CID, options);
  }

  /** Starts a child running this process's own module (the usual way to fan out workers). */
  spawnSelf(options: SpawnOptions = new SpawnOptions()): Result<Process> {
    return spawnWith(this.h, 0, 0, SPAWN_SELF, options);
  }

  dup(): Result<Executor> {
    const n = this.dupNumber();
    if (!n.ok) return Result.err<Executor>(n.errno, n.what, n.detail);
    return Result.ok(new Executor(n.value));
  }
}

function spawnWith(executor: i32, modulePtr: usize, moduleLen: u32, flags: u32, options: SpawnOptions): Result<Process> {
  const argv = packStrings(options.argv);
  const env = packStrings(options.env);
  const handles = new Uint32Array(options.handles.length);
  for (let i = 0; i < options.handles.length; i++) handles[i] = <u32>options.handles[i].handle;
  const spec = new ArrayBuffer(<i32>SPAWN_SPEC_SIZE); // zeroed: reserved fields stay 0
  const p = changetype<usize>(spec);
  store<u32>(p, <u32>modulePtr, 0);
  store<u32>(p, moduleLen, 4);
  store<u32>(p, flags | (options.link ? SPAWN_LINK : 0), 8);
  store<u32>(p, <u32>changetype<usize>(argv), 12);
  store<u32>(p, <u32>argv.byteLength, 16);
  store<u32>(p, <u32>changetype<usize>(env), 20);
  store<u32>(p, <u32>env.byteLength, 24);
  store<u32>(p, <u32>handles.dataStart, 28);
  store<u32>(p, <u32>handles.length, 32);
  store<u64>(p, options.maxMemoryBytes, 40);
  store<u64>(p, options.fuel, 48);
  store<u64>(p, options.timeoutMs, 56);
  const errno = ww_spawn(executor, p, SPAWN_SPEC_SIZE, out);
  if (errno != 0) return wwErr<Process>(errno, "spawn");
  const child = load<i32>(out);
  for (let i = 0; i < options.handles.length; i++) options.handles[i].forget(); // moved to the child
  return Result.ok(new Process(child));
}

// NUL-terminated strings back to back, as the spawn spec wants argv and env.
function packStrings(list: string[]): ArrayBuffer {
  let size = 0;
  for (let i = 0; i < list.length; i++) size += String.UTF8.byteLength(list[i], true);
  const buf = new ArrayBuffer(size);
  let at = changetype<usize>(buf);
  for (let i = 0; i < list.length; i++) {
    at += String.UTF8.encodeUnsafe(changetype<usize>(list[i]), list[i].length, at, true);
  }
  return buf;
}

function waitStatus(h: i32, flags: u32, monitor: bool): Result<ExitStatus> {
  let reason = new ArrayBuffer(256);
  while (true) {
    const p = changetype<usize>(reason);
    const errno = monitor
      ? ww_monitor_wait(h, flags, out, p, <u32>reason.byteLength, out + 4)
      : ww_proc_wait(h, flags, out, p, <u32>reason.byteLength, out + 4);
    if (errno != 0) return wwErr<ExitStatus>(errno, monitor ? "monitor_wait" : "proc_wait");
    const code = load<i32>(out);
    const len = <i32>load<u32>(out, 4);
    if (len <= reason.byteLength) return Result.ok(new ExitStatus(code, String.UTF8.decodeUnsafe(p, len)));
    reason = new ArrayBuffer(len); // a longer reason (a trap message): ask again, it has ended
  }
  return Result.err<ExitStatus>(Errno.IO, "wait"); // not reached
}
