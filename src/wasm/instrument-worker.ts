// Worker thread that instruments modules, so importing binaryen (~1 s) and walking a large
// module never blocks the node's main thread. One request at a time, in order.

import { parentPort } from 'node:worker_threads';
import type Binaryen from 'binaryen';
import { InstrumentError, instrumentWithFacts } from './instrument.js';
import { makeSuspendable } from './suspendable.js';

export interface InstrumentRequest {
  id: number;
  bytes: Uint8Array;
  /** Also make it suspendable (suspendable.ts), for a worker that hosts many guests. */
  suspendable: boolean;
}
export type InstrumentResponse = { id: number; bytes: Uint8Array } | { id: number; error: string };

let binaryen: typeof Binaryen | undefined;
const port = parentPort!;
port.on('message', async (req: InstrumentRequest) => {
  let res: InstrumentResponse;
  try {
    binaryen ??= (await import('binaryen')).default;
    const instrumented = instrumentWithFacts(binaryen, req.bytes);
    if (req.suspendable && instrumented.unsuspendable) throw new InstrumentError(`ww cannot suspend it: ${instrumented.unsuspendable}`);
    res = { id: req.id, bytes: req.suspendable ? makeSuspendable(binaryen, instrumented.bytes) : instrumented.bytes };
  } catch (e) {
    res = { id: req.id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(res, 'bytes' in res ? [res.bytes.buffer as ArrayBuffer] : []);
});
