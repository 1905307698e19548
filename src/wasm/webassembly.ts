// Typed access to the WebAssembly global: the ES2023 lib this project compiles against
// declares no WebAssembly types, and a global declaration would clash with other folders.

export interface WasmModule {
  readonly [brand]?: 'WebAssembly.Module';
}
declare const brand: unique symbol;
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
export interface WasmGlobal {
  value: number;
}
type ImportObject = Record<string, Record<string, unknown>>;

export interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Module: (new (bytes: Uint8Array) => WasmModule) & {
    imports(m: WasmModule): { module: string; name: string; kind: string }[];
    exports(m: WasmModule): { name: string; kind: string }[];
  };
  Instance: new (module: WasmModule, imports: ImportObject) => WasmInstance;
  Memory: new (desc: { initial: number; maximum?: number }) => WasmMemory;
  Global: abstract new (...a: never[]) => WasmGlobal;
  RuntimeError: abstract new (...a: never[]) => Error;
  CompileError: abstract new (...a: never[]) => Error;
  LinkError: abstract new (...a: never[]) => Error;
}

export const Wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
