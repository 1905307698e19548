// Text from elsewhere (a guest's argv, names in its module, a node's messages) made fit for one terminal
// line: one place, so that no output path forgets it.

/** An error's message, or any text, on one line (its newlines and their indentation folded to a space). */
export function oneLine(value: unknown): string {
  const text = value instanceof Error ? value.message : String(value);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

// C0 controls (ESC among them), DEL and C1 controls: a terminal acts on them instead of showing them.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Control characters shown as escapes (`\x1b`, `\n`, `\t`), so guest-chosen text cannot move the
 *  cursor, recolour the terminal or forge lines. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** Whether `text` holds a character printable() would escape. */
export function hasControl(text: string): boolean {
  CONTROL.lastIndex = 0;
  const found = CONTROL.test(text);
  CONTROL.lastIndex = 0;
  return found;
}
