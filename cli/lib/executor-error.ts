// What the executor refuses, as the CLI says it: one line and an exit status per error code, the same
// whether the executor ran here (ww run without a node) or on a node (the code came in the RPC
// exception's details).
import type { ExecutorError } from '../../src/executor/errors.js';
import { InputError, UsageError } from '../errors.js';
import { oneLine } from '../text.js';

/** What the refusal was about, to name it in the line: `module 'x.wasm'`, `module from stdin`. */
export interface RefusalSubject {
  module?: string;
}

export function refusal(err: ExecutorError, subject: RefusalSubject = {}): UsageError | InputError {
  const message = oneLine(err.message);
  const module = subject.module ?? 'the module';
  switch (err.code) {
    case 'invalid-module':
      return new InputError(`${module}: ${message}`);
    case 'limits':
      // e.g. --max-memory below the memory the module declares at start: fixable on the command line
      return new UsageError(`${module} cannot run with these limits: ${message}`);
    case 'cannot-listen':
      return new UsageError(`--listen: ${message}`);
    default:
      return new InputError(message);
  }
}
