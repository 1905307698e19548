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
