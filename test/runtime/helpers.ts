// Helpers of the runtime tests: waiting for a process within a bound.
import type { ExitStatus, WasmProcess } from '../../src/wasm/index.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

/** `p`'s status, or undefined if it has not ended within `ms`. */
export async function within(p: WasmProcess, ms: number): Promise<ExitStatus | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([p.wait(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A loop of `n` iterations (CPU only: no import but the meter's tick), as a function named `name`. */
export const spinFunc = (name: string, n: number): string =>
  `(func ${name} (local $i i32)
     (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${n})))))`;

/** A module that spins `n` iterations in a one-page memory. */
export const spinner = (n: number): string => `(module (memory (export "memory") 1) ${spinFunc('$spin', n)} (func (export "_start") (call $spin)))`;
