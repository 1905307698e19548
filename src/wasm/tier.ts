// Which of V8's compilers runs guest code. V8 compiles a module with Liftoff (fast to compile, code
// 2-5x slower than TurboFan's) and moves a function to TurboFan once it is hot, but a frame already
// running stays in Liftoff. 'optimizing' starts the compilation with Liftoff turned off: V8 then
// compiles every function with TurboFan in the background, soon after the baseline code (traced with
// --trace-wasm-compilation-times: all functions twice, against 2 of 37 for V8's default), so a
// process spawned once that is done runs optimised code throughout, and a node, which compiles a
// module once and spawns it many times, gets that for all but its first spawns. The background work
// costs CPU a one-shot run does not get back, so `ww run` keeps V8's default (the runtime README,
// "Compiled code", has the figures). V8 reads the flag as a compilation starts, so it is switched
// around that start only: Node's own modules and binaryen keep V8's default.

import { setFlagsFromString } from 'node:v8';
import { Wasm, type WasmModule } from './webassembly.js';

/** 'baseline': V8's default tiering (the default); 'optimizing': every function to TurboFan soon after compiling. */
export type WasmTier = 'optimizing' | 'baseline';

/** Node was started with a tiering flag: the user chose, and V8's flags are left alone. */
const chosenOnCommandLine = process.execArgv.some((a) => /^--(no-)?liftoff(-only)?$|^--wasm-tier/.test(a));

/** Only V8 11 (Node 20) takes the switch reliably. V8 13 (Node 24) reads its tiering flags once per
 *  isolate (traced: 2 of 37 functions optimised either way); V8 12 (Node 22) reads them on a
 *  background thread later, sometimes after the switch back (traced: 0 to 13 of 13 optimised, run
 *  to run, compiled synchronously or not). There 'optimizing' is V8's default. */
const switchable = Number(process.versions.v8.split('.')[0]) < 12;

/** The tier a guest compiled with `tier` actually gets here. */
export function effectiveTier(tier: WasmTier = 'baseline'): WasmTier {
  return tier === 'optimizing' && switchable && !chosenOnCommandLine ? 'optimizing' : 'baseline';
}

/** Compiles guest bytes with the given tier. */
export function compileGuest(bytes: Uint8Array, tier: WasmTier = 'baseline'): Promise<WasmModule> {
  if (effectiveTier(tier) === 'baseline') return Wasm.compile(bytes);
  setFlagsFromString('--no-liftoff');
  try {
    return Wasm.compile(bytes);
  } finally {
    setFlagsFromString('--liftoff');
  }
}
