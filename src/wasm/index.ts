// Public surface of the process runtime. See README.md.
export { Runtime, BOUNDS_CHECKS_FLAG, wasmMemoryMode, type RuntimeOptions, type WasmMemoryMode } from './runtime.js';
export type { GuestCompiler } from './guest-compiler.js';
export { exitCode, FORCED_STATUS, TRAP_STATUS } from './exit.js';
export { BudgetError, LimitsError, ModuleError } from './types.js';
export { MemoryBudget } from './memory-budget.js';
export { callerOf, handlerOf, HostCallError, type CallMap, type Caller, type Handlers, type HostCallHandler } from './host-call.js';
export { ListenError, openListeners, parseListenAddress, type Listener, type ListenAddress } from './sockets/index.js';
export type {
  ExitReason,
  ExitStatus,
  InputMode,
  InputStream,
  Limits,
  LoadedModule,
  OutputMode,
  Preopen,
  ProcessState,
  ProcessStats,
  SpawnOptions,
  WasmProcess,
} from './types.js';
