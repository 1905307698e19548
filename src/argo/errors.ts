// Errors as values: what the Argo engine refuses or cannot do, as a code and a message for people.
// The CLI formats them once (one `ww: ...` line and an exit status); the engine records a step's
// failure as the node's message instead of throwing.

export const ARGO_ERROR_CODES = [
  /** The file is not YAML (the message names file:line). */
  'bad-yaml',
  /** The document does not match Argo's Workflow schema: an unknown field, a wrong type (names the path). */
  'invalid',
  /** A feature of Argo this engine does not run (suspend, resource templates, an expr function...). */
  'unsupported',
  /** A `{{...}}` reference or an expression that cannot be resolved or evaluated. */
  'bad-expression',
  /** A bound of the engine was reached: steps, loop items, nesting depth, output size. */
  'limit',
  /** An image with no Wasm module mapped for it, or a map entry that is not NAME=MODULE. */
  'image',
] as const;

export type ArgoErrorCode = (typeof ARGO_ERROR_CODES)[number];

export class ArgoError extends Error {
  constructor(
    readonly code: ArgoErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ArgoError';
  }
}
