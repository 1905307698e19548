// Worker thread that instruments modules, so importing binaryen (~1 s) and walking a large
// module never blocks the node's main thread. One request at a time, in order.

import { parentPort } from 'node:worker_threads';
import type Binaryen from 'binaryen';
import { instrument } from './instrument.js';

export interface InstrumentRequest {
  id: number;
  bytes: Uint8Array;
}
export type InstrumentResponse = { id: number; bytes: Uint8Array } | { id: number; error: string };

let binaryen: typeof Binaryen | undefined;
const port = parentPort!;
port.on('message', async (req: InstrumentRequest) => {
  let res: InstrumentResponse;
  try {
    binaryen ??= (await import('binaryen')).default;
    res = { id: req.id, bytes: instrument(binaryen, req.bytes) };
  } catch (e) {
    res = { id: req.id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(res, 'bytes' in res ? [res.bytes.buffer as ArrayBuffer] : []);
});
