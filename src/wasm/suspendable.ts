// The load-time half of suspending guests (suspend.ts is the run-time half): binaryen's asyncify
// pass over a module ww has instrumented, so that any of its imports may unwind the guest's stack
// and rewind it later. Run after the instrumentation, never before: asyncify's own unwind and
// rewind code must not be metered, and the instrumentation refuses what asyncify emits. Like the
// instrumentation, this only transforms bytes; the instrumenter's worker runs it.

import type Binaryen from 'binaryen';
import { GROW_FIELD, GROW_TABLE_FIELD, InstrumentError, METER_MODULE, v8Features } from './instrument.js';
import { ASYNCIFY_EXPORTS } from './suspend.js';

/** Bump when the transform changes (cached output of older versions is then not used). */
export const SUSPENDABLE_VERSION = 3;

/** Imports that never wait (so never suspend): leaving them out keeps asyncify's code smaller. */
const NEVER_WAIT = new Set([`${METER_MODULE}.${GROW_FIELD}`, `${METER_MODULE}.${GROW_TABLE_FIELD}`]);

/**
 * The instrumented module `bytes` made suspendable in every import but the memory hooks (a tick
 * suspends too: pause and time slices). Throws InstrumentError for a module asyncify cannot take.
 */
export function makeSuspendable(binaryen: typeof Binaryen, bytes: Uint8Array): Uint8Array {
  binaryen.setDebugInfo(true); // keep the name section: trap reasons name the guest's functions
  const mod = binaryen.readBinary(bytes);
  try {
    mod.setFeatures(v8Features(binaryen));
    for (const name of ASYNCIFY_EXPORTS) {
      if (mod.getExport(name) !== 0) throw new InstrumentError(`the module already exports ${name}, a name ww's suspension adds`);
    }
    const imports: string[] = [];
    for (let i = 0; i < mod.getNumFunctions(); i++) {
      const info = binaryen.getFunctionInfo(mod.getFunctionByIndex(i));
      if (!info.module) continue;
      const name = `${info.module}.${info.base}`;
      if (!NEVER_WAIT.has(name)) imports.push(name);
    }
    binaryen.setOptimizeLevel(2);
    binaryen.setShrinkLevel(0);
    binaryen.setPassArgument('asyncify-imports', imports.join(','));
    try {
      mod.runPasses(['asyncify']);
    } finally {
      binaryen.setPassArgument('asyncify-imports', null);
    }
    if (!mod.validate()) throw new InstrumentError('the module made suspendable does not validate');
    return mod.emitBinary();
  } finally {
    mod.dispose();
  }
}
