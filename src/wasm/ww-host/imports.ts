// Worker side of the `ww` import module (guest-sdk/ABI.md): reads and writes the guest's memory and
// turns each import into a synchronous host call answered by the executor on the main thread.
// The functions are added by the issue that defines the ABI; until then the module is empty, so a
// guest importing `ww` fails to link with a message naming the missing import.

import type { HostCall } from '../host-call.js';
import type { WasmMemory } from '../webassembly.js';

export interface WwContext {
  call: HostCall;
  pid: number;
  /** The guest's linear memory (valid once the instance exists). */
  memory: () => WasmMemory;
}

export function wwImports(_ctx: WwContext): Record<string, (...args: any[]) => unknown> {
  return {};
}
