// The engine on workflows in the shapes of Argo's examples, over a fake step runner (test/argo/fake.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeRunner, node, nodesOf, run, workflow, words } from './fake.js';
import { ArgoError } from '../../src/argo/errors.js';

const SAY = `  - name: say
    inputs:
      parameters:
      - name: msg
    container:
      image: busybox
      command: [echo, "{{inputs.parameters.msg}}"]
`;

test('hello world: one container step is the root node, a Pod that succeeds with its stdout as result', async () => {
  const fake = new FakeRunner();
  const result = await run(workflow(`  - name: main
    container:
      image: busybox
      command: [echo, "hello {{workflow.name}}"]
`), fake);
  assert.equal(result.status.phase, 'Succeeded');
  const root = result.status.nodes.wf!;
  assert.equal(root.type, 'Pod');
  assert.equal(root.templateName, 'main');
  assert.equal(root.outputs?.result, 'echo hello wf');
  assert.equal(fake.calls.length, 1);
});

test('steps: groups run in sequence, the steps of a group in parallel, and later steps read earlier outputs', async () => {
  const fake = new FakeRunner();
  const result = await run(workflow(`  - name: main
    steps:
    - - name: first
        template: say
        arguments: {parameters: [{name: msg, value: one}]}
    - - name: left
        template: say
        arguments: {parameters: [{name: msg, value: "{{steps.first.outputs.result}}-left"}]}
      - name: right
        template: say
        arguments: {parameters: [{name: msg, value: right}]}
${SAY}`), fake);
  assert.equal(result.status.phase, 'Succeeded');
  assert.deepEqual(fake.calls.map((c) => c.nodeName), ['wf[0].first', 'wf[1].left', 'wf[1].right']);
  assert.equal(fake.maxRunning, 2, 'left and right ran at once; first alone');
  assert.equal(node(result, 'left').outputs?.result, 'echo echo one-left');
  assert.equal(result.status.nodes.wf!.type, 'Steps');
  assert.deepEqual(nodesOf(result).filter((n) => n.type === 'StepGroup').map((n) => n.displayName), ['[0]', '[1]']);
});

test('a failed step fails its group and the workflow, and the groups after it do not run', async () => {
  const fake = new FakeRunner({ boom: () => ({ exitCode: 3 }) });
  const result = await run(workflow(`  - name: main
    steps:
    - - name: a
        template: boom
    - - name: b
        template: say
        arguments: {parameters: [{name: msg, value: x}]}
  - name: boom
    container: {image: busybox}
${SAY}`), fake);
  assert.equal(result.status.phase, 'Failed');
  assert.equal(node(result, 'a').phase, 'Failed');
  assert.equal(node(result, 'a').message, 'Error (exit code 3)');
  assert.equal(node(result, 'a').outputs?.exitCode, '3');
  assert.equal(fake.calls.length, 1);
});

test('dag diamond: B and C wait for A, D for both, and tasks read tasks.X.outputs', async () => {
  const fake = new FakeRunner();
  const result = await run(workflow(`  - name: main
    dag:
      tasks:
      - name: A
        template: say
        arguments: {parameters: [{name: msg, value: a}]}
      - name: B
        dependencies: [A]
        template: say
        arguments: {parameters: [{name: msg, value: "b after {{tasks.A.outputs.result}}"}]}
      - name: C
        depends: A
        template: say
        arguments: {parameters: [{name: msg, value: c}]}
      - name: D
        depends: B && C
        template: say
        arguments: {parameters: [{name: msg, value: d}]}
${SAY}`), fake);
  assert.equal(result.status.phase, 'Succeeded');
  const order = fake.calls.map((c) => c.nodeName.split('.').at(-1));
  assert.equal(order[0], 'A');
  assert.deepEqual(order.slice(1, 3).sort(), ['B', 'C']);
  assert.equal(order[3], 'D');
  assert.equal(fake.maxRunning, 2);
  assert.equal(node(result, 'B').outputs?.result, 'echo b after echo a');
  const dag = result.status.nodes.wf!;
  assert.equal(dag.type, 'DAG');
  assert.deepEqual(dag.outboundNodes, [node(result, 'D').id]);
});

test('depends: a task on A.Failed runs when A fails, one on A is omitted, and the handled failure does not fail the dag', async () => {
  const fake = new FakeRunner({ boom: () => ({ exitCode: 1 }) });
  const result = await run(workflow(`  - name: main
    dag:
      failFast: false
      tasks:
      - name: A
        template: boom
      - name: on-failure
        depends: A.Failed
        template: say
        arguments: {parameters: [{name: msg, value: recovering}]}
      - name: on-success
        depends: A
        template: say
        arguments: {parameters: [{name: msg, value: fine}]}
      - name: either
        depends: (on-failure || on-success.Succeeded) && !A.Succeeded
        template: say
        arguments: {parameters: [{name: msg, value: done}]}
  - name: boom
    container: {image: busybox}
${SAY}`), fake);
  assert.equal(node(result, 'on-failure').phase, 'Succeeded');
  assert.equal(node(result, 'on-success').phase, 'Omitted');
  assert.equal(node(result, 'either').phase, 'Succeeded');
  assert.equal(result.status.phase, 'Succeeded');
});

test('output parameters: read from valueFrom.path, the default when the file is missing, an Error when neither', async () => {
  const fake = new FakeRunner({
    gen: () => ({ exitCode: 0, parameters: { written: 'from the file\n' } }),
  });
  const result = await run(workflow(`  - name: main
    steps:
    - - name: generate
        template: gen
    - - name: consume
        template: say
        arguments: {parameters: [{name: msg, value: "{{steps.generate.outputs.parameters.written}}/{{steps.generate.outputs.parameters.missing}}"}]}
    - - name: broken
        template: gen-no-default
  - name: gen
    container: {image: busybox}
    outputs:
      parameters:
      - name: written
        valueFrom: {path: /tmp/written.txt}
      - name: missing
        valueFrom: {path: /tmp/missing.txt, default: fallback}
  - name: gen-no-default
    container: {image: busybox}
    outputs:
      parameters:
      - name: absent
        valueFrom: {path: /tmp/absent.txt}
${SAY}`), fake);
  assert.deepEqual(node(result, 'generate').outputs?.parameters, [{ name: 'written', value: 'from the file' }, { name: 'missing', value: 'fallback' }]);
  assert.equal(node(result, 'consume').outputs?.result, 'echo from the file/fallback');
  assert.equal(node(result, 'broken').phase, 'Error');
  assert.match(node(result, 'broken').message ?? '', /outputs\.parameters\.absent: the step wrote no file \/tmp\/absent\.txt and there is no default/);
  assert.equal(result.status.phase, 'Failed');
});

test('a steps template exports its steps\' outputs (valueFrom.parameter) to the template that called it', async () => {
  const fake = new FakeRunner();
  const result = await run(workflow(`  - name: main
    steps:
    - - name: inner
        template: wrapper
    - - name: show
        template: say
        arguments: {parameters: [{name: msg, value: "{{steps.inner.outputs.parameters.out}}"}]}
  - name: wrapper
    steps:
    - - name: s
        template: say
        arguments: {parameters: [{name: msg, value: deep}]}
    outputs:
      parameters:
      - name: out
        valueFrom: {parameter: "{{steps.s.outputs.result}}"}
${SAY}`), fake);
  assert.equal(node(result, 'show').outputs?.result, 'echo echo deep');
});

test('artifact passing: an output artifact is handed by key to the next step at its input path; raw artifacts carry their text', async () => {
  const fake = new FakeRunner({
    make: (req) => ({ exitCode: 0, artifacts: [{ name: 'msg', key: `${req.nodeId}/msg` }] }),
    take: (req) => ({ exitCode: 0, stdout: JSON.stringify(req.inputArtifacts) }),
  });
  const result = await run(workflow(`  - name: main
    steps:
    - - name: generate
        template: make
    - - name: consume
        template: take
        arguments:
          artifacts:
          - name: message
            from: "{{steps.generate.outputs.artifacts.msg}}"
          - name: note
            raw: {data: "some text"}
  - name: make
    container: {image: busybox}
    outputs:
      artifacts:
      - name: msg
        path: /tmp/hello.txt
  - name: take
    inputs:
      artifacts:
      - name: message
        path: /tmp/message
      - name: note
        path: /data/note.txt
    container: {image: busybox}
`), fake);
  assert.equal(result.status.phase, 'Succeeded');
  const generated = node(result, 'generate');
  assert.deepEqual(generated.outputs?.artifacts, [{ name: 'msg', s3: { key: `${generated.id}/msg` } }]);
  assert.deepEqual(JSON.parse(node(result, 'consume').outputs!.result!), [
    { name: 'message', path: '/tmp/message', key: `${generated.id}/msg` },
    { name: 'note', path: '/data/note.txt', raw: 'some text' },
  ]);
});

test('withItems: one step per item, named step(i:item), maps read as {{item.key}}', async () => {
  const fake = new FakeRunner();
  const result = await run(workflow(`  - name: main
    steps:
    - - name: plain
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withItems: [hello, 2, true]
      - name: maps
        template: say
        arguments: {parameters: [{name: msg, value: "{{item.os}} {{item.version}}"}]}
        withItems:
        - {os: debian, version: 12}
        - {os: ubuntu, version: "24.04"}
${SAY}`), fake);
  assert.equal(result.status.phase, 'Succeeded');
  assert.deepEqual(nodesOf(result).filter((n) => n.type === 'Pod').map((n) => n.displayName).sort(), [
    'maps(0:os:debian,version:12)', 'maps(1:os:ubuntu,version:24.04)', 'plain(0:hello)', 'plain(1:2)', 'plain(2:true)',
  ]);
  assert.deepEqual(fake.calls.filter((c) => c.nodeName.includes('maps')).map((c) => words(c).join(' ')).sort(), ['echo debian 12', 'echo ubuntu 24.04']);
});

test('withParam loops over a JSON list an earlier step printed; withSequence counts with a format', async () => {
  const fake = new FakeRunner({ gen: () => ({ exitCode: 0, stdout: '["a", {"k": "v"}]\n' }) });
  const result = await run(workflow(`  - name: main
    steps:
    - - name: gen
        template: gen
    - - name: each
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withParam: "{{steps.gen.outputs.result}}"
      - name: counted
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withSequence: {start: "8", end: "11", format: "n%02d"}
      - name: down
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withSequence: {start: "2", end: "0"}
  - name: gen
    container: {image: busybox}
${SAY}`), fake);
  const said = (prefix: string) => fake.calls.filter((c) => c.nodeName.includes(prefix)).map((c) => words(c)[1]);
  assert.deepEqual(said('.each'), ['a', '{"k":"v"}']);
  assert.deepEqual(said('.counted'), ['n08', 'n09', 'n10', 'n11']);
  assert.deepEqual(said('.down'), ['2', '1', '0']);
});

test('conditionals: when compares substituted text (bare words are strings), {{= }} evaluates expressions', async () => {
  const fake = new FakeRunner({ flip: () => ({ exitCode: 0, stdout: 'heads\n' }) });
  const result = await run(workflow(`  - name: main
    steps:
    - - name: flip-coin
        template: flip
    - - name: heads
        template: say
        arguments: {parameters: [{name: msg, value: "it was heads"}]}
        when: "{{steps.flip-coin.outputs.result}} == heads"
      - name: tails
        template: say
        arguments: {parameters: [{name: msg, value: "it was tails"}]}
        when: "{{steps.flip-coin.outputs.result}} == tails"
      - name: big
        template: say
        arguments: {parameters: [{name: msg, value: "{{=asInt(workflow.parameters.n) * 2 + 1}} {{=steps['flip-coin'].outputs.result == 'heads' ? 'yes' : 'no'}}"}]}
        when: "{{workflow.parameters.n}} > 5 && !({{workflow.parameters.n}} > 100)"
  - name: flip
    container: {image: busybox}
${SAY}`, `  arguments:
    parameters:
    - name: n
      value: "20"
`), fake);
  assert.equal(node(result, 'heads').phase, 'Succeeded');
  assert.equal(node(result, 'tails').phase, 'Skipped');
  assert.equal(node(result, 'tails').type, 'Skipped');
  assert.equal(node(result, 'big').outputs?.result, 'echo 41 yes');
  assert.equal(result.status.phase, 'Succeeded');
});

test('-p overrides a workflow parameter; an unknown -p name is refused', async () => {
  const yaml = workflow(`  - name: main
    container: {image: busybox, command: [echo, "{{workflow.parameters.who}}"]}
`, `  arguments:
    parameters:
    - name: who
      value: world
`);
  const result = await run(yaml, new FakeRunner(), { parameters: { who: 'ww' } });
  assert.equal(result.status.nodes.wf!.outputs?.result, 'echo ww');
  await assert.rejects(run(yaml, new FakeRunner(), { parameters: { whom: 'x' } }), (e: unknown) => e instanceof ArgoError && /-p whom: the workflow has no parameter 'whom'/.test(e.message));
});

const FLAKY = `  - name: main
    steps:
    - - name: try
        template: flaky
  - name: flaky
    retryStrategy:
      limit: "3"
      retryPolicy: RETRY_POLICY
      backoff: {duration: "1s", factor: "2", maxDuration: MAX}
    container:
      image: busybox
      command: [echo, "attempt {{retries}}"]
`;

test('retries with backoff: a step failing twice succeeds on its third attempt after waiting 1s then 2s', async () => {
  const fake = new FakeRunner({ flaky: (req, f) => ({ exitCode: f.attempts.get('flaky')! < 3 ? 1 : 0, stdout: `${words(req).join(' ')}\n` }) });
  const result = await run(workflow(FLAKY.replace('RETRY_POLICY', 'OnFailure').replace('MAX', '1m')), fake);
  assert.equal(result.status.phase, 'Succeeded');
  const retry = node(result, 'try');
  assert.equal(retry.type, 'Retry');
  assert.equal(retry.children?.length, 3);
  assert.deepEqual(retry.children?.map((id) => result.status.nodes[id]!.phase), ['Failed', 'Failed', 'Succeeded']);
  assert.equal(retry.outputs?.result, 'echo attempt 2');
  assert.deepEqual(fake.sleeps, [1000, 2000]);
});

test('retries stop at the limit, at backoff.maxDuration, and are not made for a phase the policy does not retry', async () => {
  const always = () => ({ exitCode: 1 });
  let fake = new FakeRunner({ flaky: always });
  let result = await run(workflow(FLAKY.replace('RETRY_POLICY', 'Always').replace('MAX', '1h')), fake);
  assert.equal(result.status.phase, 'Failed');
  assert.equal(fake.calls.length, 4, 'limit 3: the first attempt and three retries');

  fake = new FakeRunner({ flaky: always });
  result = await run(workflow(FLAKY.replace('RETRY_POLICY', 'OnFailure').replace('MAX', '2s')), fake);
  assert.equal(fake.calls.length, 2, 'the second wait (2s) would pass maxDuration 2s');
  assert.match(node(result, 'try').message ?? '', /maxDuration/);

  fake = new FakeRunner({ flaky: always });
  await run(workflow(FLAKY.replace('RETRY_POLICY', 'OnError').replace('MAX', '1h')), fake);
  assert.equal(fake.calls.length, 1, 'OnError does not retry a Failed step');
});

test('exit handlers: spec.onExit runs after a failure and sees workflow.status and workflow.failures', async () => {
  const fake = new FakeRunner({ boom: () => ({ exitCode: 2 }) });
  const result = await run(workflow(`  - name: main
    steps:
    - - name: explode
        template: boom
  - name: boom
    container: {image: busybox}
  - name: exit-handler
    steps:
    - - name: notify
        template: say
        arguments: {parameters: [{name: msg, value: "{{workflow.status}}"}]}
      - name: celebrate
        template: say
        arguments: {parameters: [{name: msg, value: yay}]}
        when: "{{workflow.status}} == Succeeded"
      - name: failures
        template: say
        arguments: {parameters: [{name: msg, value: "{{=jsonpath(workflow.failures, '$[0].displayName')}}"}]}
${SAY}`, '  onExit: exit-handler\n'), fake);
  assert.equal(result.status.phase, 'Failed');
  assert.equal(node(result, 'wf.onExit').phase, 'Succeeded');
  assert.equal(node(result, 'notify').outputs?.result, 'echo Failed');
  assert.equal(node(result, 'celebrate').phase, 'Skipped');
  assert.equal(node(result, 'failures').outputs?.result, 'echo explode');
});

test('parameter aggregation: a loop\'s outputs are JSON lists that a later step loops over', async () => {
  const fake = new FakeRunner({
    gen: (req) => ({ exitCode: 0, parameters: { n: String(Number(words(req)[0]) * 10) }, stdout: `{"v": ${words(req)[0]}}\n` }),
  });
  const result = await run(workflow(`  - name: main
    steps:
    - - name: gen
        template: gen
        arguments: {parameters: [{name: i, value: "{{item}}"}]}
        withItems: [1, 2, 3]
    - - name: each
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withParam: "{{steps.gen.outputs.parameters.n}}"
      - name: all
        template: say
        arguments: {parameters: [{name: msg, value: "{{steps.gen.outputs.parameters}} {{steps.gen.outputs.result}}"}]}
  - name: gen
    inputs: {parameters: [{name: i}]}
    container: {image: busybox, args: ["{{inputs.parameters.i}}"]}
    outputs:
      parameters:
      - name: n
        valueFrom: {path: /tmp/n}
${SAY}`), fake);
  assert.deepEqual(fake.calls.filter((c) => c.nodeName.includes('.each')).map((c) => words(c)[1]).sort(), ['10', '20', '30']);
  assert.equal(node(result, 'all').outputs?.result, 'echo [{"n":"10"},{"n":"20"},{"n":"30"}] [{"v":1},{"v":2},{"v":3}]');
});

test('map-reduce in a dag: split prints parts, map runs per part (a TaskGroup), reduce sums the aggregated results', async () => {
  const fake = new FakeRunner({
    split: () => ({ exitCode: 0, stdout: '[1, 2, 3, 4]\n' }),
    map: (req) => ({ exitCode: 0, stdout: `${Number(words(req)[0]) ** 2}\n` }),
    reduce: (req) => ({ exitCode: 0, stdout: `${(JSON.parse(words(req)[0]!) as string[]).reduce((s, x) => s + Number(x), 0)}\n` }),
  });
  const result = await run(workflow(`  - name: main
    dag:
      tasks:
      - name: split
        template: split
      - name: map
        depends: split
        template: map
        arguments: {parameters: [{name: part, value: "{{item}}"}]}
        withParam: "{{tasks.split.outputs.result}}"
      - name: reduce
        depends: map
        template: reduce
        arguments: {parameters: [{name: results, value: "{{tasks.map.outputs.result}}"}]}
  - name: split
    container: {image: busybox}
  - name: map
    inputs: {parameters: [{name: part}]}
    container: {image: busybox, args: ["{{inputs.parameters.part}}"]}
  - name: reduce
    inputs: {parameters: [{name: results}]}
    container: {image: busybox, args: ["{{inputs.parameters.results}}"]}
`), fake);
  assert.equal(result.status.phase, 'Succeeded');
  assert.equal(node(result, 'map').type, 'TaskGroup');
  assert.equal(node(result, 'map').children?.length, 4);
  assert.equal(node(result, 'reduce').outputs?.result, '30');
});

test('parallelism: the workflow\'s bounds steps running at once, a template\'s bounds its own children', async () => {
  const steps = `  - name: main
    PARALLELISM
    steps:
    - - name: many
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withSequence: {count: "10"}
${SAY}`;
  let fake = new FakeRunner();
  await run(workflow(steps.replace('PARALLELISM', ''), '  parallelism: 2\n'), fake);
  assert.equal(fake.calls.length, 10);
  assert.equal(fake.maxRunning, 2);
  fake = new FakeRunner();
  await run(workflow(steps.replace('PARALLELISM', 'parallelism: 3')), fake);
  assert.equal(fake.maxRunning, 3);
  fake = new FakeRunner();
  await run(workflow(steps.replace('PARALLELISM', '')), fake);
  assert.equal(fake.maxRunning, 10, 'unbounded: all ten at once');
});

test('bounds: loop items, nodes and nesting depth end in an Error naming the bound; a step\'s output over the bound is an Error', async () => {
  const loop = workflow(`  - name: main
    steps:
    - - name: many
        template: say
        arguments: {parameters: [{name: msg, value: "{{item}}"}]}
        withSequence: {count: "50"}
${SAY}`);
  let result = await run(loop, new FakeRunner(), { limits: { maxLoopItems: 20 } });
  assert.equal(result.status.phase, 'Failed');
  assert.equal(node(result, 'many').phase, 'Error');
  assert.match(node(result, 'many').message ?? '', /loops over 50 items, over ww argo's 20/);

  result = await run(loop, new FakeRunner(), { limits: { maxNodes: 10 } });
  assert.notEqual(result.status.phase, 'Succeeded');
  assert.ok(nodesOf(result).length <= 10);
  assert.ok(nodesOf(result).some((n) => /reached 10 nodes/.test(n.message ?? '')));

  const recursive = workflow(`  - name: main
    steps:
    - - name: again
        template: main
`);
  const fake = new FakeRunner();
  result = await run(recursive, fake, { limits: { maxDepth: 5 } });
  assert.equal(result.status.phase, 'Failed');
  assert.ok(nodesOf(result).some((n) => /nested over 5 deep/.test(n.message ?? '')));

  result = await run(workflow(`  - name: main
    container: {image: busybox}
`), new FakeRunner({ main: () => ({ exitCode: 0, stdout: 'x'.repeat(200) }) }), { limits: { maxOutputBytes: 100 } });
  assert.equal(result.status.phase, 'Error');
  assert.match(result.status.nodes.wf!.message ?? '', /over 100 bytes/);
});

test('unsupported features are refused by name before anything runs', async () => {
  const cases: [string, RegExp][] = [
    ['  - name: main\n    suspend: {duration: "10s"}\n', /template 'main': suspend: .*no API to resume/],
    ['  - name: main\n    resource: {action: create, manifest: "x"}\n', /resource templates create Kubernetes objects/],
    ['  - name: main\n    steps:\n    - - name: a\n        templateRef: {name: other, template: t}\n', /only 'template' is supported \(templateRef and inline are not\)/],
    ['  - name: main\n    steps:\n    - - name: a\n        template: nowhere\n', /no template is named 'nowhere'/],
    ['  - name: main\n    dag:\n      tasks:\n      - {name: a, template: main, depends: b}\n      - {name: b, template: main, depends: a}\n', /the dag has a cycle: a -> b -> a/],
  ];
  for (const [templates, message] of cases) {
    const fake = new FakeRunner();
    await assert.rejects(run(workflow(templates), fake), (e: unknown) => e instanceof ArgoError && message.test(e.message), templates);
    assert.equal(fake.calls.length, 0);
  }
});

test('an expression outside the supported subset fails its node with a message naming it', async () => {
  const result = await run(workflow(`  - name: main
    container: {image: busybox, command: ["{{=sprig.b64enc('x')}}"]}
`), new FakeRunner());
  assert.equal(result.status.phase, 'Error');
  assert.match(result.status.nodes.wf!.message ?? '', /the function 'sprig\.b64enc' .* is not supported by ww argo/);
});

test('an unresolved reference fails its node with Argo\'s "failed to resolve"', async () => {
  const result = await run(workflow(`  - name: main
    container: {image: busybox, command: [echo, "{{inputs.parameters.nope}}"]}
`), new FakeRunner());
  assert.equal(result.status.phase, 'Error');
  assert.match(result.status.nodes.wf!.message ?? '', /failed to resolve \{\{inputs\.parameters\.nope\}\}/);
});

test('step onExit and continueOn: a step\'s exit handler runs after it; continueOn.failed keeps the steps going', async () => {
  const fake = new FakeRunner({ boom: () => ({ exitCode: 1 }) });
  const result = await run(workflow(`  - name: main
    steps:
    - - name: a
        template: boom
        continueOn: {failed: true}
        onExit: cleanup
    - - name: b
        template: say
        arguments: {parameters: [{name: msg, value: after}]}
  - name: boom
    container: {image: busybox}
  - name: cleanup
    container: {image: busybox, command: [echo, cleanup]}
${SAY}`), fake);
  assert.equal(result.status.phase, 'Succeeded');
  assert.equal(node(result, 'a.onExit').outputs?.result, 'echo cleanup');
  assert.deepEqual(fake.calls.map((c) => c.template.name), ['boom', 'cleanup', 'say']);
  assert.equal(node(result, 'b').phase, 'Succeeded');
});
