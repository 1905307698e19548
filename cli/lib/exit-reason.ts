// Exit reasons as the node reports them (a closed set of texts, see capnp/ww.capnp ExitStatus) and the
// line ww prints for an abnormal one.

/** True for `normal` and `exit: <code>`: the guest ended by itself; nothing to report. */
export function endedByItself(reason: string): boolean {
  return reason === '' || reason === 'normal' || /^exit: -?\d+$/.test(reason);
}

/**
 * The stderr line (without `ww: `) for an abnormal end, or undefined for a normal one.
 * With a subject (`process 7`): `process 7 ended: killed`. Without (the guest of `ww run`), the words of
 * local `ww run`: `killed`, `limit exceeded: cpu`, `trap: ...`.
 */
export function describeAbnormalEnd(reason: string, subject?: string): string | undefined {
  if (endedByItself(reason)) return undefined;
  if (subject) return `${subject} ended: ${reason}`;
  if (reason.startsWith('limit: ')) return `limit exceeded: ${reason.slice('limit: '.length)}`;
  if (reason.startsWith('link: ')) return `ended: ${reason} (a linked process ended abnormally)`;
  return reason; // killed, trap: <message>, peer-lost
}
