// The runtime's refusals (src/wasm: ModuleError, LimitsError, ListenError) as the executor's errors.
import { BudgetError, LimitsError, ModuleError } from '../wasm/types.js';
import { ListenError } from '../wasm/sockets/listen.js';
import { ExecutorError } from './errors.js';

/** The runtime's refusals as executor errors (their messages are already written for users);
 *  anything else is returned as it is: a bug, not a refusal. */
export function fromRuntime(e: unknown): unknown {
  if (e instanceof BudgetError) return new ExecutorError('quota', e.message, { cause: e });
  if (e instanceof LimitsError) return new ExecutorError('limits', e.message, { cause: e });
  if (e instanceof ModuleError) return new ExecutorError('invalid-module', e.message, { cause: e });
  if (e instanceof ListenError) return new ExecutorError('cannot-listen', e.message, { cause: e });
  return e;
}
