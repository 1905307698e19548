// The executor's core surface: processes, the table, modules, reasons and errors, the ww host, a
// local run. No RPC: a local `ww run` loads only this. The Cap'n Proto face is ./rpc.ts. See README.md.
export { Executor, type ExecutorOptions } from './executor.js';
export { ProcessTable, ProcessEntry, INIT_PID, type EndStatus, type GuestEvents, type ProcessSnapshot, type SpawnRequest, type State, type TableOptions } from './table.js';
export { ModuleStore, isContentId } from './modules.js';
export { reasonText, reasonCode, isAbnormal, type Reason } from './reasons.js';
export { ExecutorError, EXECUTOR_ERROR_CODES, type ExecutorErrorCode } from './errors.js';
export { WwHost, GuestProcess } from './guest.js';
export { runLocal, type LocalRun, type LocalRunOptions } from './local.js';
