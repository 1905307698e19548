// Public surface of the executor layer. See README.md.
export { Executor, type ExecutorOptions } from './executor.js';
export { ProcessTable, ProcessEntry, INIT_PID, type EndStatus, type GuestEvents, type ProcessSnapshot, type SpawnRequest, type State, type TableOptions } from './table.js';
export { ModuleStore, isContentId } from './modules.js';
export { reasonText, reasonCode, isAbnormal, type Reason } from './reasons.js';
export { WwHost, GuestProcess } from './guest.js';
export { ExecutorContext, ExecutorCap, ModuleCacheCap, MonitorCap, NodeCap, ProcessCap, nodeCapOf, toProcessInfo } from './caps.js';
export { runLocal, type LocalRun, type LocalRunOptions } from './local.js';
