// `ww run` on a node: this process's stdin served as the guest's ByteSource (SpawnSpec.stdinSource).
// The node calls read only while the guest waits in fd_read, so stdin is read only then: a guest that
// never reads leaves it untouched (`yes | ww run hello.wasm` ends at once), and what this side holds is
// one chunk and the stream's own buffer, whatever the size. A terminal gives a line per read.
import type { Readable } from 'node:stream';
import type { ByteSource$Server } from '../../src/capnp-gen/ww.rpc.js';

/** The most one answer carries, whatever a node asks for. */
const MAX_ANSWER = 64 * 1024;

export interface StdinSource extends ByteSource$Server {
  /** The node dropped it (end of input, or the guest ended). */
  [Symbol.dispose](): void;
}

/** A ByteSource over `input`, read on demand; one read at a time, in the order the calls came. */
export function stdinSource(input: Readable): StdinSource {
  let rest: Uint8Array = new Uint8Array(0);
  let ended = false;
  let queue: Promise<unknown> = Promise.resolve();

  /** The next chunk from `input` (undefined at end), reading it only now. */
  const pull = async (): Promise<Uint8Array | undefined> => {
    for (;;) {
      const chunk = input.read() as Buffer | string | null;
      if (chunk !== null) return typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (input.errored) throw input.errored;
      if (input.readableEnded || input.destroyed) return undefined;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          input.off('readable', wake);
          input.off('end', wake);
          input.off('error', wake);
          input.off('close', wake);
          resolve();
        };
        input.on('readable', wake);
        input.on('end', wake);
        input.on('error', wake);
        input.on('close', wake);
      });
    }
  };

  const read = async (max: number): Promise<{ data: Uint8Array; eof: boolean }> => {
    const limit = Math.max(0, Math.min(max, MAX_ANSWER));
    if (rest.length === 0 && !ended && limit > 0) {
      const chunk = await pull();
      if (chunk === undefined) ended = true;
      else rest = chunk;
    }
    const data = rest.subarray(0, limit);
    rest = rest.subarray(data.length);
    return { data, eof: ended && rest.length === 0 };
  };

  return {
    read: ({ max }) => {
      const answer = queue.then(() => read(max));
      queue = answer.catch(() => {});
      return answer;
    },
    // The node dropped it (end of input, or the guest ended): stop reading, keep nothing.
    [Symbol.dispose]: () => {
      rest = new Uint8Array(0);
      input.pause();
    },
  };
}
