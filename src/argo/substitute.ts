// `{{...}}` substitution over a scope of variables, as Argo does it: `{{name}}` is looked up in a flat
// map of dotted names (`inputs.parameters.x`, `steps.a.outputs.result`, `item.key`, ...) and
// `{{= expr}}` is evaluated (expr.ts) over the same names expanded into nested objects.
import { ArgoError } from './errors.js';
import { evaluate } from './expr.js';

/** Variables visible at one point of a workflow, by their dotted Argo name. Values are text, as in
 *  Argo; an item that is a map or list is kept as its JSON and also as `item.key` entries. */
export class Scope {
  private readonly vars = new Map<string, string>();

  constructor(private readonly parent?: Scope) {}

  set(name: string, value: string): this {
    this.vars.set(name, value);
    return this;
  }

  get(name: string): string | undefined {
    return this.vars.get(name) ?? this.parent?.get(name);
  }

  child(): Scope {
    return new Scope(this);
  }

  /** Every variable, inner scopes winning. */
  entries(): Map<string, string> {
    const all = this.parent ? this.parent.entries() : new Map<string, string>();
    for (const [k, v] of this.vars) all.set(k, v);
    return all;
  }

  /** The variables as nested objects for expressions: `steps.a.outputs.result` becomes
   *  env.steps.a.outputs.result; a value that is JSON of a list or map is given as that list or map
   *  where a later dotted name does not need it as an object. */
  env(): Record<string, unknown> {
    const env: Record<string, unknown> = {};
    const names = [...this.entries()].sort(([a], [b]) => a.split('.').length - b.split('.').length);
    for (const [name, value] of names) {
      const parts = name.split('.');
      let obj = env;
      for (const p of parts.slice(0, -1)) {
        const next = obj[p];
        if (next === null || typeof next !== 'object' || Array.isArray(next)) obj[p] = {};
        obj = obj[p] as Record<string, unknown>;
      }
      obj[parts.at(-1)!] = value;
    }
    return env;
  }
}

const TAG = /\{\{(.*?)\}\}/gs;

/** Substitutes every `{{...}}` in `text`. An unknown name is an error naming it (Argo's wording:
 *  "failed to resolve"), except names `keep` says to leave for a later pass (Argo leaves e.g.
 *  `{{steps.*}}` in a template's own outputs until its steps have run). */
export function substitute(text: string, scope: Scope, keep?: (name: string) => boolean): string {
  if (!text.includes('{{')) return text;
  return text.replace(TAG, (whole, inner: string) => {
    const body = inner.trim();
    if (body.startsWith('=')) {
      const value = evaluate(body.slice(1).trim(), scope.env());
      return typeof value === 'string' ? value : JSON.stringify(value);
    }
    const value = scope.get(body);
    if (value !== undefined) return value;
    if (keep?.(body)) return whole;
    throw new ArgoError('bad-expression', `failed to resolve {{${body}}}${hint(body)}`);
  });
}

/** Substitutes every string inside a JSON-like value. */
export function substituteDeep<T>(value: T, scope: Scope, keep?: (name: string) => boolean): T {
  if (typeof value === 'string') return substitute(value, scope, keep) as T;
  if (Array.isArray(value)) return value.map((v) => substituteDeep(v, scope, keep)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, scope, keep)])) as T;
  }
  return value;
}

function hint(name: string): string {
  if (name === 'workflow.status' || name === 'workflow.failures') return ' (only an exit handler sees it)';
  if (name.startsWith('steps.') || name.startsWith('tasks.')) return ' (a step or task that has not run before this one, or has no such output)';
  if (name.startsWith('item')) return ' (only a step with withItems, withParam or withSequence has an item)';
  return '';
}
