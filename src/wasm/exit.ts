// Exit statuses as a shell sees them, for every exit reason (the runtime's and the executor's).

/** A trap: 128 + SIGABRT, as a native program that aborts. */
export const TRAP_STATUS = 134;
/** Any forced end (killed, a limit, a link, a lost peer): 128 + SIGKILL. */
export const FORCED_STATUS = 137;

/** The status for a reason: the guest's own code when it exited, else 134 for a trap and 137 for
 *  everything that ended it from outside. */
export function exitCode(reason: { kind: string; code?: number }): number {
  switch (reason.kind) {
    case 'normal':
      return 0;
    case 'exit':
      return reason.code ?? 0;
    case 'trap':
      return TRAP_STATUS;
    default:
      return FORCED_STATUS;
  }
}
