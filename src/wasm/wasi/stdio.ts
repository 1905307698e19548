// Stdio fds 0-2: each is one StdioEndpoint (types.ts) wrapped as a Handle.
// Like wasmtime, stdio is a stream: no seek/tell/pread/pwrite (ESPIPE, decided
// in the ABI layer), a character device only when it is a terminal, and
// always ready for poll_oneoff.
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { Errno, WasiError, errnoOf } from './abi/errno.js';
import { Filetype, Handle, type Filestat, type ReadReadiness } from './handle.js';
import { Rights } from './rights.js';
import { blockingSleep, isSuspension, recorded } from '../blocked.js';
import type { StdioEndpoint } from './types.js';

function totalLength(bufs: Uint8Array[]): number {
  let n = 0;
  for (const b of bufs) n += b.length;
  return n;
}

/** Copies the iovecs into one contiguous chunk (a sink gets its own copy it may keep). */
function gather(bufs: Uint8Array[]): Uint8Array {
  if (bufs.length === 1) return bufs[0]!.slice();
  const out = new Uint8Array(totalLength(bufs));
  let at = 0;
  for (const b of bufs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

export class StdioHandle extends Handle {
  /** As wasmtime: a character device when it is a terminal, else unknown. */
  readonly filetype: Filetype;
  /** Unread rest of a 'bytes' endpoint. */
  private pending: Uint8Array | undefined;

  constructor(
    private readonly endpoint: StdioEndpoint,
    readonly direction: 'in' | 'out',
  ) {
    super();
    if (endpoint.kind === 'bytes') this.pending = endpoint.data;
    this.filetype = endpoint.kind === 'fd' && isatty(endpoint.fd) ? Filetype.CHARACTER_DEVICE : Filetype.UNKNOWN;
  }

  protected override supportedRights(): [number, number] {
    // As wasmtime, stdin may only be read and stdout/stderr only written; as wasi-common, stdio can be
    // stat'ed and polled (rights are enforced here, so the rights for that are held and reported).
    const r = (this.direction === 'in' ? Rights.FD_READ : Rights.FD_WRITE) | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE;
    return [r, r];
  }

  override read(bufs: Uint8Array[]): number {
    if (this.direction !== 'in') throw new WasiError(Errno.BADF);
    const ep = this.endpoint;
    switch (ep.kind) {
      case 'null':
      case 'sink':
        return 0;
      case 'bytes': {
        let n = 0;
        for (const b of bufs) {
          const src = this.pending!;
          if (src.length === 0) break;
          const take = Math.min(b.length, src.length);
          b.set(src.subarray(0, take));
          this.pending = src.subarray(take);
          n += take;
        }
        return n;
      }
      case 'source': {
        // One read into the first non-empty buffer: a stream read returns what is available.
        const target = bufs.find((b) => b.length > 0);
        if (!target) return 0;
        const n = fromEndpoint('stdin source', () => ep.read(target));
        if (!Number.isInteger(n) || n < 0 || n > target.length) throw new WasiError(Errno.IO);
        return n;
      }
      case 'fd': {
        const target = bufs.find((b) => b.length > 0);
        if (!target) return 0;
        return readFdRetrying(ep.fd, target);
      }
    }
  }

  override write(bufs: Uint8Array[]): number {
    if (this.direction !== 'out') throw new WasiError(Errno.BADF);
    const ep = this.endpoint;
    const total = totalLength(bufs);
    switch (ep.kind) {
      case 'null':
      case 'bytes':
      case 'source':
        return total;
      case 'sink':
        if (total > 0) fromEndpoint('output sink', () => ep.write(gather(bufs)));
        return total;
      case 'fd':
        for (const b of bufs) writeAllFd(ep.fd, b);
        return total;
    }
  }

  override filestat(): Filestat {
    return {
      dev: 0n,
      ino: 0n,
      filetype: this.filetype,
      nlink: 0n,
      size: 0n,
      atim: 0n,
      mtim: 0n,
      ctim: 0n,
    };
  }

  override pollRead(): ReadReadiness {
    if (this.endpoint.kind === 'bytes') {
      const left = BigInt(this.pending!.length);
      return { ready: true, nbytes: left, hangup: left === 0n };
    }
    if (this.endpoint.kind === 'null' || this.direction === 'out') return { ready: true, nbytes: 0n, hangup: true };
    return { ready: true, nbytes: 1n, hangup: false };
  }
}

/**
 * Runs a caller's endpoint callback. What it throws with a POSIX code gives the guest that errno;
 * anything else is EIO (WasiOptions' contract): a failing endpoint is an I/O error, not a host bug.
 */
function fromEndpoint<T>(what: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (errnoOf(err) !== undefined || isSuspension(err)) throw err;
    throw new WasiError(Errno.IO, `${what} failed: ${(err as Error)?.message ?? String(err)}`);
  }
}

/** Writes all of `data` to a host fd; a non-blocking host fd (EAGAIN) is waited on briefly and retried. */
function writeAllFd(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) {
    // Recorded: a guest suspended in the sleep below writes again from the start when it resumes.
    const n = recorded('fd write', () => {
      try {
        return fs.writeSync(fd, data, off, data.length - off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        return -1;
      }
    });
    if (n >= 0) off += n;
    else sleepMs(1);
  }
}

function readFdRetrying(fd: number, target: Uint8Array): number {
  for (;;) {
    try {
      return fs.readSync(fd, target, 0, target.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EOF') return 0;
      if (code !== 'EAGAIN') throw err;
      sleepMs(1);
    }
  }
}

/** Blocks this thread (the guest's worker) for `ms` milliseconds (a pause freezes it at once). */
export function sleepMs(ms: number): void {
  blockingSleep(ms);
}
