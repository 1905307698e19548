// The `depends` grammar of DAG tasks: task names combined with && || ! and parentheses, each name
// optionally with a result (`A.Succeeded && (B || C.Failed)`). A bare name means it succeeded, was
// skipped or is a daemon, as in Argo.
import { ArgoError } from './errors.js';
import type { Phase } from './model.js';

/** What a finished task left, for its dependents: its phase, and for a loop its children's phases. */
export interface TaskOutcome {
  phase: Phase;
  childPhases?: Phase[];
}

const RESULTS = ['Succeeded', 'Failed', 'Errored', 'Skipped', 'Omitted', 'Daemoned', 'AnySucceeded', 'AllFailed'] as const;

type DependsExpr =
  | { kind: 'task'; name: string; result?: (typeof RESULTS)[number] }
  | { kind: 'not'; arg: DependsExpr }
  | { kind: 'and' | 'or'; left: DependsExpr; right: DependsExpr };

/** Parses a `depends` expression; throws ArgoError naming what is wrong. */
export function parseDepends(src: string): DependsExpr {
  const tokens = src.match(/&&|\|\||!|\(|\)|[\w-]+(?:\.[\w]+)?|\S/g) ?? [];
  let i = 0;
  const fail = (what: string): never => {
    throw new ArgoError('bad-expression', `depends '${src}': ${what}`);
  };
  const or = (): DependsExpr => {
    let left = and();
    while (tokens[i] === '||') {
      i++;
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const and = (): DependsExpr => {
    let left = unary();
    while (tokens[i] === '&&') {
      i++;
      left = { kind: 'and', left, right: unary() };
    }
    return left;
  };
  const unary = (): DependsExpr => {
    const t = tokens[i++];
    if (t === '!') return { kind: 'not', arg: unary() };
    if (t === '(') {
      const e = or();
      if (tokens[i++] !== ')') fail("a '(' without its ')'");
      return e;
    }
    if (t === undefined || !/^[\w-]/.test(t)) return fail(t === undefined ? 'it ends too early' : `unexpected '${t}'`);
    const [name, result] = t.split('.') as [string, string | undefined];
    if (result !== undefined && !(RESULTS as readonly string[]).includes(result)) {
      fail(`'${result}' is not a task result (one of ${RESULTS.join(', ')})`);
    }
    return { kind: 'task', name, result: result as (typeof RESULTS)[number] | undefined };
  };
  const e = or();
  if (i < tokens.length) fail(`unexpected '${tokens[i]}'`);
  return e;
}

/** The task names a `depends` expression waits for. */
export function dependsNames(e: DependsExpr): string[] {
  if (e.kind === 'task') return [e.name];
  if (e.kind === 'not') return dependsNames(e.arg);
  return [...dependsNames(e.left), ...dependsNames(e.right)];
}

/** The task names whose failure the expression asks about (so a DAG does not fail for it). */
export function failureHandled(e: DependsExpr): string[] {
  if (e.kind === 'task') return e.result === 'Failed' || e.result === 'Errored' || e.result === 'AllFailed' || e.result === 'AnySucceeded' ? [e.name] : [];
  if (e.kind === 'not') return dependsNames(e.arg);
  return [...failureHandled(e.left), ...failureHandled(e.right)];
}

export function evaluateDepends(e: DependsExpr, outcomes: ReadonlyMap<string, TaskOutcome>): boolean {
  switch (e.kind) {
    case 'not':
      return !evaluateDepends(e.arg, outcomes);
    case 'and':
      return evaluateDepends(e.left, outcomes) && evaluateDepends(e.right, outcomes);
    case 'or':
      return evaluateDepends(e.left, outcomes) || evaluateDepends(e.right, outcomes);
    case 'task': {
      const o = outcomes.get(e.name);
      if (!o) return false;
      const children = o.childPhases ?? [o.phase];
      switch (e.result) {
        case undefined:
          return o.phase === 'Succeeded' || o.phase === 'Skipped';
        case 'Succeeded':
          return o.phase === 'Succeeded';
        case 'Failed':
          return o.phase === 'Failed';
        case 'Errored':
          return o.phase === 'Error';
        case 'Skipped':
          return o.phase === 'Skipped';
        case 'Omitted':
          return o.phase === 'Omitted';
        case 'Daemoned':
          return false;
        case 'AnySucceeded':
          return children.some((p) => p === 'Succeeded');
        case 'AllFailed':
          return children.length > 0 && children.every((p) => p === 'Failed');
      }
    }
  }
}
