// How V8 compiles guest code (README.md, "Compiled code"). V8's flags belong to the whole process,
// so the choice is made once and kept: later compilations all follow it.
import { setFlagsFromString } from 'node:v8';

/**
 * 'tiered' (V8's default): Liftoff compiles at once, TurboFan takes over hot functions, but a frame
 * already running stays in Liftoff, so a guest that loops in one long call runs at baseline speed.
 * 'optimizing': TurboFan only (`--no-liftoff`), compiled lazily as functions are first called: a
 * one-shot run pays more, a long-running or often-spawned module runs at full speed.
 */
export type GuestCompiler = 'tiered' | 'optimizing';

let optimizing = false;

/** Switches every later Wasm compilation in this process to TurboFan only. Called just before the
 *  first guest module is compiled, after binaryen (itself Wasm, and slower to start under TurboFan)
 *  has been loaded for it; it cannot be undone (V8 reads the flag on background threads). */
export function optimizeGuestCodeFromNowOn(): void {
  if (optimizing) return;
  optimizing = true;
  setFlagsFromString('--no-liftoff');
}
