// A client's ByteSource (SpawnSpec.stdinSource) as the runtime's stdin stream: the runtime calls read
// only while the guest waits in fd_read, asking for at most 64 KiB, and refuses an answer larger than
// that (EIO for the guest, src/wasm/stdin.ts). Dropped at end of input and when the process ends.
import type { ByteSource$Client } from '../capnp-gen/ww.rpc.js';
import type { InputStream } from '../wasm/index.js';

export function stdinFrom(source: ByteSource$Client): InputStream {
  let done = false;
  const release = (): void => {
    if (done) return;
    done = true;
    source.release();
  };
  return {
    read: async (max) => {
      if (done) return new Uint8Array(0);
      const { data, eof } = await source.read({ max });
      if (eof) release(); // nothing follows: the client may stop serving it
      return data;
    },
    close: release,
  };
}
