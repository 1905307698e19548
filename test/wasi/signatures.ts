// WAT generation for test guests, from the host's own table of the preview1
// functions (src/wasm/wasi/abi/functions.ts): tests cannot drift from it.
import { PREVIEW1, PREVIEW1_FUNCTIONS, WASI_MODULE, type Preview1Function } from '../../src/wasm/wasi/abi/functions.js';

/** Parameter types of every function, by name. All return i32 (errno) except proc_exit. */
export const SIGNATURES: Record<string, readonly string[]> = Object.fromEntries(
  PREVIEW1_FUNCTIONS.map((name) => [name, PREVIEW1[name].params]),
);

/** The (import ...) line for one function. */
export function importLine(name: Preview1Function): string {
  const { params, results } = PREVIEW1[name];
  const param = params.length > 0 ? ` (param ${params.join(' ')})` : '';
  const result = results.length > 0 ? ` (result ${results.join(' ')})` : '';
  return `(import "${WASI_MODULE}" "${name}" (func $${name}${param}${result}))`;
}

/** A WAT module importing every preview1 function, exporting memory and `extra` (WAT text). */
export function allImportsModule(extra: string, memoryPages = 1): string {
  return `(module
  ${PREVIEW1_FUNCTIONS.map(importLine).join('\n  ')}
  (memory (export "memory") ${memoryPages})
  ${extra}
)`;
}
