// Errors as values: what the executor refuses, as a code and a message for people. Each audience maps
// the code once: guests to an errno (guest.ts `errnoOf`), RPC clients to an exception with the code
// in its details (error-wire.ts), the CLI to a line and an exit status (cli/lib/executor-error.ts).
// A leaf: clients of a node read these codes without loading the executor.

export const EXECUTOR_ERROR_CODES = [
  /** A pid (or ppid) that names no process, or no live one where a live one is needed. */
  'no-such-process',
  /** A content ID that is not in the module cache. */
  'module-not-found',
  /** Bytes that are not a runnable WASI module (the message says why). */
  'invalid-module',
  /** A valid module that cannot run under the limits asked (e.g. --max-memory below its start size). */
  'limits',
  /** A listen address that cannot be bound, or is not HOST:PORT. */
  'cannot-listen',
  /** A request that cannot be right: no module, no sink for a sink output, no capability given. */
  'bad-request',
  /** Something the caller may not do: beyond its grant, a PID without authority, killing or pausing init. */
  'not-permitted',
  /** The node is stopping and takes no new processes. */
  'shutting-down',
  /** Another process's capability that cannot be reached. */
  'unreachable',
  /** The caller's principal uses all it may of the node (live processes, spawns in progress). */
  'quota',
] as const;

export type ExecutorErrorCode = (typeof EXECUTOR_ERROR_CODES)[number];

export class ExecutorError extends Error {
  constructor(
    readonly code: ExecutorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExecutorError';
  }
}

export function isExecutorErrorCode(text: string): text is ExecutorErrorCode {
  return (EXECUTOR_ERROR_CODES as readonly string[]).includes(text);
}
