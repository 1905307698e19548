// Reading workflow files: YAML errors name file:line; the schema (Argo's, made strict) names the path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWorkflow } from '../../src/argo/parse.js';
import { ArgoError } from '../../src/argo/errors.js';
import { workflow } from './fake.js';

function refusal(text: string): ArgoError {
  try {
    parseWorkflow(text, 'flow.yaml');
  } catch (err) {
    assert.ok(err instanceof ArgoError, String(err));
    return err;
  }
  assert.fail('parsed');
}

const HELLO = workflow(`  - name: main
    container:
      image: busybox
      command: [echo, hi]
`);

test('a valid workflow parses into the model', () => {
  const wf = parseWorkflow(HELLO, 'flow.yaml');
  assert.equal(wf.spec.entrypoint, 'main');
  assert.deepEqual(wf.spec.templates?.[0]?.container?.command, ['echo', 'hi']);
});

test('bad YAML names the file and the line', () => {
  const duplicate = refusal(HELLO.replace('      image: busybox', '      image: busybox\n      image: alpine'));
  assert.equal(duplicate.code, 'bad-yaml');
  assert.equal(duplicate.message, 'flow.yaml:11: not valid YAML: Map keys must be unique');
  const tab = refusal(HELLO.replace('    container:', '\tcontainer:'));
  assert.match(tab.message, /^flow\.yaml:9: not valid YAML: /);
});

test('an unknown field names its path and its own line', () => {
  const err = refusal(HELLO.replace('      image: busybox', '      image: busybox\n      imagePullPolicyy: Always'));
  assert.equal(err.code, 'invalid');
  assert.equal(err.message, "flow.yaml:11: spec.templates[0].container.imagePullPolicyy: unknown field 'imagePullPolicyy'");
});

test('a misspelt step field is an unknown field too', () => {
  const err = refusal(workflow(`  - name: main
    steps:
    - - name: a
        templat: main
`));
  assert.equal(err.message, "flow.yaml:11: spec.templates[0].steps[0][0].templat: unknown field 'templat'");
});

test('a wrong type names the path', () => {
  const err = refusal(HELLO.replace('command: [echo, hi]', 'command: echo hi'));
  assert.equal(err.message, 'flow.yaml:11: spec.templates[0].container.command: must be array');
});

test('YAML numbers and booleans are accepted where Kubernetes reads int-or-string or any-string', () => {
  const wf = parseWorkflow(workflow(`  - name: main
    retryStrategy: {limit: 3}
    inputs:
      parameters:
      - {name: n, value: 5}
      - {name: b, default: true}
    container: {image: busybox}
`), 'flow.yaml');
  assert.equal(wf.spec.templates?.[0]?.retryStrategy?.limit, 3);
});

test('a document that is not a Workflow is refused with what it is', () => {
  assert.match(refusal(HELLO.replace('kind: Workflow', 'kind: WorkflowTemplate')).message, /^flow\.yaml:2: kind is "WorkflowTemplate"; ww argo run runs kind: Workflow$/);
  assert.match(refusal('- a\n- b\n').message, /must be a YAML mapping/);
});
