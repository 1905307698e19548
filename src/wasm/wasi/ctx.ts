// The per-guest WASI state: args, environment, the fd table, and the checked
// view of guest memory. Built from WasiOptions; owns every host fd it opens.
import { GuestMemory, encodeUtf8 } from './abi/memory.js';
import { FdTable } from './fdtable.js';
import { DirHandle } from './fs/dir.js';
import { sandboxSupported } from './resolve.js';
import { Fdflags } from './handle.js';
import { SocketHandle, type SocketWaiter } from './sock.js';
import { StdioHandle } from './stdio.js';
import type { WasiOptions } from './types.js';

/** NUL-terminated UTF-8 strings, as args_get/environ_get lay them out. */
function cStrings(values: string[]): Uint8Array[] {
  return values.map((v) => {
    const bytes = encodeUtf8(v);
    const out = new Uint8Array(bytes.length + 1);
    out.set(bytes);
    return out;
  });
}

export class WasiCtx {
  readonly memory = new GuestMemory();
  readonly fds = new FdTable();
  readonly args: Uint8Array[];
  readonly env: Uint8Array[];
  /** Blocks poll_oneoff on sockets (see SocketWaiter); without it, poll re-checks them every millisecond. */
  readonly socketWaiter: SocketWaiter | undefined;

  constructor(options: WasiOptions) {
    this.args = cStrings(options.args);
    this.env = cStrings(options.env.map(([k, v]) => `${k}=${v}`));
    this.fds.set(0, new StdioHandle(options.stdin, 'in'));
    this.fds.set(1, new StdioHandle(options.stdout, 'out'));
    this.fds.set(2, new StdioHandle(options.stderr, 'out'));
    if (options.preopens.length > 0 && !sandboxSupported()) {
      throw new Error('pre-opened directories need /proc/self/fd (Linux with /proc mounted); none was found');
    }
    this.socketWaiter = options.sockets?.waiter;
    const listeners = options.sockets?.listeners ?? [];
    listeners.forEach((backend, i) => {
      const h = new SocketHandle(backend, true, true);
      h.fdflags = Fdflags.NONBLOCK; // Go's wasip1 runtime never sets it on an inherited fd, and must not block in accept
      this.fds.set(3 + i, h);
    });
    const firstDir = 3 + listeners.length;
    try {
      options.preopens.forEach((p, i) => this.fds.set(firstDir + i, DirHandle.preopen(p.hostPath, p.guestPath, p.readOnly ?? false, p.identity)));
    } catch (err) {
      this.fds.closeAll();
      throw err;
    }
  }
}
