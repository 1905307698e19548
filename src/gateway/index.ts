// The gateway's public surface: `startGateway` (what `ww gateway` runs), the contract's types, and
// the parts for tests (the task table without HTTP, the step syntax).
import { listenGateway, type GatewayServer } from './server.js';
import { TaskTable, type TaskTableOptions } from './tasks.js';

export { BadRequestError, canonicalJson, EXECUTE_PATH, goDuration, parseExecuteRequest, PLUGIN_NAME } from './contract.js';
export type { ArgoTemplate, ExecuteReply, ExecuteRequest, NodePhase, NodeResult, WorkflowMeta } from './contract.js';
export { parseStep, StepError, STEP_BOUNDS, type StepSpec } from './step.js';
export { GatewayBusyError, TaskTable, type TaskTableOptions } from './tasks.js';
export { RUNNER_BOUNDS, type ConnectNode, type NodeLink, type Placement } from './runner.js';
export { SERVER_BOUNDS, listenGateway, type GatewayServer } from './server.js';
export { LEDGER_FILE } from './ledger.js';

export interface GatewayOptions extends TaskTableOptions {
  host: string;
  port: number;
  token: string;
}

export interface Gateway {
  /** HOST:PORT as bound. */
  address: string;
  table: TaskTable;
  close(): Promise<void>;
}

/** Opens the ledger (taking up its tasks), then listens. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const table = await TaskTable.open(opts);
  let server: GatewayServer;
  try {
    server = await listenGateway(opts.host, opts.port, { token: opts.token, handler: table, log: opts.log });
  } catch (e) {
    await table.close();
    throw e;
  }
  return {
    address: server.address,
    table,
    close: async () => {
      await server.close();
      await table.close();
    },
  };
}
