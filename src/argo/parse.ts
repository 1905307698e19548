// Reading a Workflow file: YAML with positions (so every error names file:line), validated against
// Argo's schema (schema.ts), into the model (model.ts).
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { ArgoError } from './errors.js';
import { validateWorkflow } from './schema.js';
import type { Workflow } from './model.js';

/** A workflow file of at most this many bytes (Argo's own limit on a workflow object is 1 MiB in etcd). */
export const MAX_WORKFLOW_BYTES = 1024 * 1024;

/** Parses and validates `text` (read from `file`, named in errors) into a Workflow. Throws ArgoError. */
/** `cacheDir`: where the compiled schema validator is kept across runs (schema.ts). */
export function parseWorkflow(text: string, file: string, cacheDir?: string): Workflow {
  if (Buffer.byteLength(text) > MAX_WORKFLOW_BYTES) {
    throw new ArgoError('limit', `${file}: the workflow file is over ${MAX_WORKFLOW_BYTES} bytes`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const line = lines.linePos(error.pos[0]).line;
    throw new ArgoError('bad-yaml', `${file}:${line}: not valid YAML: ${firstLine(error.message)}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ArgoError('bad-yaml', `${file}: not valid YAML: ${firstLine((err as Error).message)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ArgoError('invalid', `${file}:1: a Workflow must be a YAML mapping (apiVersion, kind, metadata, spec)`);
  }
  const kind = (value as { kind?: unknown }).kind;
  if (kind !== 'Workflow') {
    throw new ArgoError('invalid', `${file}:${lineOf(doc, lines, ['kind'])}: kind is ${JSON.stringify(kind)}; ww argo run runs kind: Workflow`);
  }
  const violation = validateWorkflow(value, cacheDir);
  if (violation) {
    const where = `${file}:${lineOf(doc, lines, violation.path)}`;
    throw new ArgoError('invalid', `${where}: ${formatPath(violation.path)}: ${violation.message}`);
  }
  return value as Workflow;
}

/** `spec.templates[0].container.image`, the way kubectl names a field. */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(document)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** The line of the node at `path` (for a missing one, its nearest existing parent); a key's own line
 *  when the last step names a map key, so an unknown field points at the field. */
function lineOf(doc: Document, lines: LineCounter, path: readonly (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const parentPath = path.slice(0, n - 1);
    const parent = n === 0 ? doc.contents : (doc.getIn(parentPath, true) as YamlNode | undefined);
    if (n > 0 && isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(path[n - 1]));
      const keyRange = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (keyRange) return lines.linePos(keyRange[0]).line;
    }
    const node = n === 0 ? doc.contents : (doc.getIn(path.slice(0, n), true) as YamlNode | undefined);
    if (node && (node as { range?: [number, number, number] }).range) return lines.linePos((node as { range: [number, number, number] }).range[0]).line;
  }
  return 1;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
