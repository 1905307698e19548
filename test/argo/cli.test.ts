// `ww argo run` end to end: real Wasm modules (examples/) mapped with --image, in-process and on a node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { examplePath, runWw, tempDir } from '../cli/helpers.js';
import { startNodeProcess } from '../cli-node/helpers.js';
import type { WorkflowResult } from '../../src/argo/engine.js';

const IMAGES = ['--image', `hello=${examplePath('hello.wasm')}`, '--image', `wordcount=${examplePath('wordcount', 'wordcount.wasm')}`];

const WORKFLOW = `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: e2e-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: who
      value: world
  templates:
  - name: main
    steps:
    - - name: greet
        template: hello
        arguments: {parameters: [{name: who, value: "{{workflow.parameters.who}}"}]}
      - name: count
        template: count
    - - name: report
        template: hello
        arguments: {parameters: [{name: who, value: "{{steps.count.outputs.result}}"}]}
        when: "{{steps.count.exitCode}} == 0"
  - name: hello
    inputs:
      parameters:
      - name: who
    container:
      image: hello
      args: ["{{inputs.parameters.who}}"]
  - name: count
    inputs:
      artifacts:
      - name: text
        path: /data/fox.txt
        raw: {data: "the quick brown fox\\njumps\\n"}
    container:
      image: wordcount
      args: [/data]
`;

function nodeByName(result: WorkflowResult, displayName: string) {
  const node = Object.values(result.status.nodes).find((n) => n.displayName === displayName);
  assert.ok(node, `no node ${displayName}`);
  return node;
}

test('ww argo run runs steps as Wasm modules: parameters, an input artifact placed at its path, results passed on', async () => {
  const dir = tempDir('argo');
  try {
    const file = join(dir.path, 'wf.yaml');
    writeFileSync(file, WORKFLOW);
    const result = await runWw(['argo', 'run', '--json', '-p', 'who=ww', ...IMAGES, file], { env: { WW_SOCKET: join(dir.path, 'none.sock') } });
    assert.equal(result.status, 0, result.stderr);
    const wf = JSON.parse(result.stdout) as WorkflowResult;
    assert.equal(wf.status.phase, 'Succeeded');
    assert.match(wf.metadata.name, /^e2e-/);
    assert.equal(nodeByName(wf, 'greet').outputs?.result, 'hello from C on ww\nargv[0] = hello\nargv[1] = ww');
    assert.equal(nodeByName(wf, 'count').outputs?.result, '      2       5      26 /data/fox.txt\n      2       5      26 total');
    assert.ok(nodeByName(wf, 'report').outputs?.result?.includes('argv[1] =       2       5      26 /data/fox.txt\n'));
    assert.deepEqual(
      Object.values(wf.status.nodes).map((n) => n.type).sort(),
      ['Pod', 'Pod', 'Pod', 'StepGroup', 'StepGroup', 'Steps'],
    );

    const tree = await runWw(['argo', 'run', ...IMAGES, file], { env: { WW_SOCKET: join(dir.path, 'none.sock'), COLUMNS: '60' } });
    assert.equal(tree.status, 0, tree.stderr);
    assert.match(tree.stdout, /^Name: +e2e-\w+\nStatus: +Succeeded\n/);
    assert.match(tree.stdout, /├─✔ greet +hello/);
    assert.match(tree.stdout, /└─✔ report +hello/);
    for (const line of tree.stdout.split('\n')) assert.ok([...line].length <= 60, line);
  } finally {
    dir.cleanup();
  }
});

test('the default image map: alpine and busybox steps run in the Wasm shell, an output parameter file and a script passed on', async () => {
  const dir = tempDir('argo-shell');
  try {
    const file = join(dir.path, 'wf.yaml');
    writeFileSync(
      file,
      `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: shell-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: write
        template: write
    - - name: show
        template: show
        arguments: {parameters: [{name: text, value: "{{steps.write.outputs.parameters.out}}"}]}
  - name: write
    container:
      image: alpine:3.19
      command: [sh, -c]
      args: ["echo hello from $(echo wasm | tr a-z A-Z) > /tmp/out.txt"]
    outputs:
      parameters:
      - name: out
        valueFrom: {path: /tmp/out.txt}
  - name: show
    inputs:
      parameters: [{name: text}]
    script:
      image: busybox
      command: [sh]
      source: |
        echo "got: {{inputs.parameters.text}}"
        seq 1 3 | wc -l
`,
    );
    const result = await runWw(['argo', 'run', '--json', file], { env: { WW_SOCKET: join(dir.path, 'none.sock') } });
    assert.equal(result.status, 0, result.stderr);
    const wf = JSON.parse(result.stdout) as WorkflowResult;
    assert.equal(wf.status.phase, 'Succeeded');
    assert.deepEqual(nodeByName(wf, 'write').outputs?.parameters, [{ name: 'out', value: 'hello from WASM' }]);
    assert.equal(nodeByName(wf, 'show').outputs?.result, 'got: hello from WASM\n3');
  } finally {
    dir.cleanup();
  }
});

test('a failing module fails its node and the workflow (exit 1); retries re-run it; an unmapped image says how to map it', async () => {
  const dir = tempDir('argo');
  try {
    const file = join(dir.path, 'wf.yaml');
    writeFileSync(file, `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: failing}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      failFast: false
      tasks:
      - {name: usage, template: no-args}
      - {name: python, template: py}
  - name: no-args
    retryStrategy: {limit: 1}
    container: {image: wordcount}
  - name: py
    script: {image: "python:3.12", command: [python], source: "print('hi')"}
`);
    const result = await runWw(['argo', 'run', '--json', ...IMAGES, file], { env: { WW_SOCKET: join(dir.path, 'none.sock') } });
    assert.equal(result.status, 1, result.stderr);
    const wf = JSON.parse(result.stdout) as WorkflowResult;
    assert.equal(wf.status.phase, 'Failed');
    const usage = nodeByName(wf, 'usage');
    assert.equal(usage.type, 'Retry');
    assert.equal(usage.children?.length, 2);
    assert.equal(usage.phase, 'Failed');
    assert.equal(usage.message, 'Error (exit code 2)');
    assert.match(result.stderr, /failing\.usage\(0\): usage: wordcount DIR/);
    const python = nodeByName(wf, 'python');
    assert.equal(python.phase, 'Error');
    assert.equal(python.message, "no Wasm module is mapped for image 'python:3.12': map one with --image python:3.12=MODULE.wasm (or an --image-map file)");
  } finally {
    dir.cleanup();
  }
});

test('ww argo run refuses bad files with file:line and the path, and bad flags with exit 2', async () => {
  const dir = tempDir('argo');
  try {
    const file = join(dir.path, 'wf.yaml');
    writeFileSync(file, WORKFLOW.replace('      args: [/data]', '      args: [/data]\n      imagee: x'));
    const bad = await runWw(['argo', 'run', file]);
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr, `ww: ${file}:39: spec.templates[2].container.imagee: unknown field 'imagee'\n`);
    const flag = await runWw(['argo', 'run', '--image', 'nomodule', file]);
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /--image 'nomodule' must be NAME=MODULE/);
    const help = await runWw(['argo', 'run', '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--image-map/);
  } finally {
    dir.cleanup();
  }
});

test('with a node on --socket, the steps run on the node', async () => {
  const node = await startNodeProcess();
  const dir = tempDir('argo');
  try {
    const file = join(dir.path, 'wf.yaml');
    writeFileSync(file, WORKFLOW);
    const result = await runWw(['argo', 'run', '--json', '--socket', node.socketPath, ...IMAGES, file]);
    assert.equal(result.status, 0, result.stderr);
    const wf = JSON.parse(result.stdout) as WorkflowResult;
    assert.equal(wf.status.phase, 'Succeeded');
    assert.equal(nodeByName(wf, 'count').outputs?.result, '      2       5      26 /data/fox.txt\n      2       5      26 total');
    const ps = await runWw(['ps', '--json', '--socket', node.socketPath]);
    const argvs = (JSON.parse(ps.stdout) as { argv: string[] }[]).map((p) => p.argv.join(' '));
    assert.ok(argvs.includes('wordcount /data'), `the node ran the steps: ${argvs.join('; ')}`);
  } finally {
    dir.cleanup();
    await node.dispose();
  }
});
