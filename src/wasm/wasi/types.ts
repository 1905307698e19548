// The contract between the WASI host (src/wasm/wasi) and the process runtime
// (src/wasm). The host runs inside a worker thread and is fully synchronous:
// a blocking call blocks only the worker that runs the guest.
import type { PreopenedSockets } from './sock.js';

/** Where one of the guest's stdio streams goes. */
export type StdioEndpoint =
  /** An OS file descriptor of the host process (e.g. inherit: 0, 1, 2). */
  | { kind: 'fd'; fd: number }
  /** Reads give EOF, writes are discarded. */
  | { kind: 'null' }
  /** Writes are handed to `write` (capture or streaming to the caller). */
  | { kind: 'sink'; write(data: Uint8Array): void }
  /** Reads come from `read`, which fills `buf` and returns the byte count (0 = EOF). May block. */
  | { kind: 'source'; read(buf: Uint8Array): number }
  /** Reads come from a fixed buffer, then EOF. */
  | { kind: 'bytes'; data: Uint8Array };

/** A host directory made visible to the guest under `guestPath`. */
export interface Preopen {
  hostPath: string;
  guestPath: string;
  /** Nothing reached through it can be changed (README.md, "Read-only pre-opens"); absent: read-write. */
  readOnly?: boolean;
  /** The directory hostPath must still be when it is opened (device and inode, as checked against a
   *  grant): a path swapped for another directory or a symbolic link meanwhile is refused. */
  identity?: { dev: bigint; ino: bigint };
}

export interface WasiOptions {
  /** argv; args[0] is the program name. */
  args: string[];
  /** Environment as ordered pairs; may be empty. */
  env: [string, string][];
  /** Pre-opened directories, given the fds after the sockets (3, 4, ... when there are none). */
  preopens: Preopen[];
  /** Pre-opened listening sockets, given fds 3, 4, ... (non-blocking, as Go's wasip1 needs). */
  sockets?: PreopenedSockets;
  stdin: StdioEndpoint;
  stdout: StdioEndpoint;
  stderr: StdioEndpoint;
}

/** Thrown by proc_exit to unwind the guest; the runner catches it. */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
    this.name = 'WasiExit';
  }
}
