// A guest's stdin as a stream the main thread pulls from while the guest reads (SpawnOptions.stdin
// given an InputStream). The worker side is a WASI 'source' endpoint whose fd_read makes one host
// call `stdin.read`; the main side answers it with the next bytes of the stream. Nothing is read
// before the guest asks, at most STDIN_CHUNK bytes are asked for at once, and at most one chunk
// waits in the worker for the guest's next read: every buffer is bounded, whatever the size.

import { callerOf, handlerOf, HostCallError, type HostCall, type HostCallHandler } from './host-call.js';
import { Errno } from './wasi/abi/errno.js';
import type { StdioEndpoint } from './wasi/types.js';
import type { InputStream } from './types.js';

/** The host-call namespace (SpawnOptions.hostCalls key), the runtime's own when stdin is a stream. */
export const NAMESPACE = 'stdin';

/** Bytes asked of the stream per read, whatever the guest's buffer (a small buffer is served from
 *  the rest of the chunk without another call). */
export const STDIN_CHUNK = 64 * 1024;

export type StdinCalls = {
  /** -> the next bytes, at most `max`; empty at end of input. */
  read: { args: [max: number]; answer: Uint8Array };
};

export function isInputStream(mode: unknown): mode is InputStream {
  return typeof mode === 'object' && mode !== null && !(mode instanceof Uint8Array) && typeof (mode as InputStream).read === 'function';
}

/**
 * Main side: answers `stdin.read` from `stream`. End of input, and a stream that failed or answered
 * more than it was asked for, are sticky: the stream is closed and never read again (EOF, then EIO).
 */
export function stdinHandler(stream: InputStream): { handler: HostCallHandler; close: () => void } {
  let state: 'open' | 'ended' | 'failed' | 'closed' = 'open';
  let failure = '';
  let closed = false;
  const close = (): void => {
    if (state === 'open') state = 'closed';
    if (closed) return;
    closed = true;
    try {
      stream.close?.();
    } catch {
      // a stream failing to close must not disturb the process's end
    }
  };
  const fail = (message: string): never => {
    state = 'failed';
    failure = message;
    close();
    throw new HostCallError(Errno.IO, message);
  };
  const handler = handlerOf<StdinCalls>(NAMESPACE, {
    read: async ([max]) => {
      if (state === 'failed') throw new HostCallError(Errno.IO, failure);
      if (state !== 'open') return new Uint8Array(0);
      const ask = Math.max(1, Math.min(STDIN_CHUNK, Number.isInteger(max) ? max : STDIN_CHUNK));
      let data: Uint8Array;
      try {
        data = await stream.read(ask);
      } catch (e) {
        return fail(`stdin failed: ${(e as Error)?.message ?? String(e)}`);
      }
      if ((state as string) !== 'open') return new Uint8Array(0); // closed meanwhile: the process ended
      if (!(data instanceof Uint8Array)) return fail('stdin answered something other than bytes');
      if (data.length > ask) return fail(`stdin answered ${data.length} bytes when asked for at most ${ask}`);
      if (data.length === 0) {
        state = 'ended';
        close();
        return data;
      }
      // Posted to the worker by structured clone, which copies a view's whole buffer: copy just the bytes.
      return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
    },
  });
  return { handler, close };
}

/** Worker side: the guest's stdin endpoint, reading through the `stdin.read` host call. */
export function stdinEndpoint(call: HostCall): StdioEndpoint {
  const read = callerOf<StdinCalls>(call, NAMESPACE);
  let rest: Uint8Array = new Uint8Array(0);
  let ended = false;
  return {
    kind: 'source',
    read: (buf) => {
      if (rest.length === 0) {
        if (ended) return 0;
        rest = read('read', [STDIN_CHUNK]);
        if (rest.length === 0) {
          ended = true;
          return 0;
        }
      }
      const n = Math.min(buf.length, rest.length);
      buf.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return n;
    },
  };
}
