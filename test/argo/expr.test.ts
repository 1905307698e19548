// The expression subset of `{{= }}` and `when`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, evaluateCondition } from '../../src/argo/expr.js';
import { parseDepends, evaluateDepends } from '../../src/argo/depends.js';
import { ArgoError } from '../../src/argo/errors.js';

const env = { inputs: { parameters: { n: '7', name: 'ww', json: '{"a": {"b": [10, 20]}}' } }, steps: { 'flip-coin': { outputs: { result: 'heads' } } } };

test('arithmetic, comparison, logic and the ternary follow expr\'s precedence', () => {
  assert.equal(evaluate('1 + 2 * 3 - 4 / 2', env), 5);
  assert.equal(evaluate('2 ** 3 ** 2', env), 512);
  assert.equal(evaluate('asInt(inputs.parameters.n) % 4 == 3 && !false', env), true);
  assert.equal(evaluate("inputs.parameters.name == 'ww' ? 'yes' : 'no'", env), 'yes');
  assert.equal(evaluate("steps['flip-coin'].outputs.result", env), 'heads');
  assert.equal(evaluate("'b' in ['a', 'b'] and not ('c' in ['a'])", env), true);
  assert.equal(evaluate('asFloat("2.5") * 2', env), 5);
  assert.equal(evaluate("inputs.parameters.missing ?? 'fallback'", env), 'fallback');
});

test('jsonpath and sprig functions read JSON', () => {
  assert.equal(evaluate("jsonpath(inputs.parameters.json, '$.a.b[1]')", env), 20);
  assert.deepEqual(evaluate("jsonpath(inputs.parameters.json, '$.a.b[*]')", env), [10, 20]);
  assert.equal(evaluate("sprig.upper(sprig.trim('  x '))", env), 'X');
});

test('when reads bare words as strings, as Argo\'s govaluate conditions do', () => {
  assert.equal(evaluateCondition('heads == heads', {}), true);
  assert.equal(evaluateCondition('tails == heads', {}), false);
  assert.equal(evaluateCondition('8 > 5 && 8 < 10', {}), true);
  assert.equal(evaluateCondition('"a" =~ "^a$"', {}), true);
  assert.throws(() => evaluateCondition('1 + 1', {}), /is not a condition/);
});

test('anything outside the subset is refused by name', () => {
  assert.throws(() => evaluate('filter(x, true)', env), (e: unknown) => e instanceof ArgoError && e.code === 'unsupported' && /'filter'/.test(e.message));
  assert.throws(() => evaluate("'abc' matches 'a'", env), (e: unknown) => e instanceof ArgoError && e.code === 'unsupported' && /'matches'/.test(e.message));
  assert.throws(() => evaluate('1 +', env), (e: unknown) => e instanceof ArgoError && e.code === 'bad-expression');
  assert.throws(() => evaluate('nope', env), /unknown name 'nope'/);
});

test('depends: names, results, && || ! and parentheses', () => {
  const outcomes = new Map([
    ['A', { phase: 'Succeeded' as const }],
    ['B', { phase: 'Failed' as const }],
    ['C-1', { phase: 'Skipped' as const }],
    ['L', { phase: 'Failed' as const, childPhases: ['Failed' as const, 'Succeeded' as const] }],
  ]);
  const is = (src: string) => evaluateDepends(parseDepends(src), outcomes);
  assert.equal(is('A && C-1'), true, 'a bare name: succeeded or skipped');
  assert.equal(is('A.Succeeded && (B || C-1.Skipped)'), true);
  assert.equal(is('B'), false);
  assert.equal(is('B.Failed && !A.Failed'), true);
  assert.equal(is('L.AnySucceeded && !L.AllFailed'), true);
  assert.throws(() => parseDepends('A.Finished'), /'Finished' is not a task result/);
  assert.throws(() => parseDepends('(A && B'), /without its '\)'/);
});
