// The engine: runs a parsed Workflow's templates (steps, dag, loops, conditions, retries, exit
// handlers, outputs) over an injected StepRunner that runs one container or script step. The engine
// knows no Wasm: the runner (runner.ts, on ww) or a test's fake does the running.
import { randomBytes, randomUUID } from 'node:crypto';
import { ArgoError } from './errors.js';
import { evaluate, evaluateCondition } from './expr.js';
import { dependsNames, evaluateDepends, failureHandled, parseDepends, type TaskOutcome } from './depends.js';
import { Scope, substitute, substituteDeep } from './substitute.js';
import type { Artifact, DagTask, Invocation, NodeOutputs, NodeStatus, NodeType, Parameter, Phase, Template, Workflow, WorkflowStatus } from './model.js';

/** An input artifact as the runner must place it: at `path` inside the step, from the local artifact
 *  store's `key`, or the `raw` text. */
export interface ArtifactInput {
  name: string;
  path: string;
  key?: string;
  raw?: string;
}

/** One container or script step to run. */
export interface StepRequest {
  workflowName: string;
  nodeId: string;
  nodeName: string;
  /** Fully substituted (inputs, items, {{retries}}). */
  template: Template;
  inputArtifacts: ArtifactInput[];
}

/** What a step did. */
export interface StepResult {
  /** Default: Succeeded when exitCode is 0, else Failed. Error: it could not run (no image mapping...). */
  phase?: 'Succeeded' | 'Failed' | 'Error';
  exitCode?: number;
  message?: string;
  /** Its standard output (outputs.result). */
  stdout?: string;
  /** The contents of each output parameter's valueFrom.path file that exists, by parameter name. */
  parameters?: Record<string, string>;
  /** Its output artifacts, saved in the local artifact store under `key`. */
  artifacts?: { name: string; key: string }[];
}

export type StepRunner = (req: StepRequest) => Promise<StepResult>;

export interface EngineLimits {
  /** Nodes of all kinds in one workflow (steps, groups, retries, pods). */
  maxNodes: number;
  /** Items one withItems/withParam/withSequence may expand to. */
  maxLoopItems: number;
  /** Templates nested inside one another (a recursive workflow ends here). */
  maxDepth: number;
  /** Bytes of one output parameter or result (Argo's own limit is 256 KiB). */
  maxOutputBytes: number;
  /** Attempts of one retried step when retryStrategy.limit is absent (Argo: unlimited). */
  maxAttempts: number;
  /** Steps running at once when neither the workflow nor a template says (spec.parallelism). */
  maxParallel: number;
}

export const DEFAULT_LIMITS: EngineLimits = {
  maxNodes: 10_000,
  maxLoopItems: 1_000,
  maxDepth: 50,
  maxOutputBytes: 256 * 1024,
  maxAttempts: 100,
  maxParallel: 64,
};

export interface EngineOptions {
  runStep: StepRunner;
  /** `-p NAME=VALUE`: workflow parameters that override spec.arguments. */
  parameters?: Record<string, string>;
  limits?: Partial<EngineLimits>;
  /** Waits between retries (tests pass a fake that records the delays). */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Told of each node as it starts and ends (a progress display). */
  onNode?: (node: NodeStatus) => void;
}

/** The workflow as `argo get -o json` shows it: the input plus metadata.name and status. */
export interface WorkflowResult {
  apiVersion: string;
  kind: 'Workflow';
  metadata: Workflow['metadata'] & { name: string; uid: string };
  spec: Workflow['spec'];
  status: WorkflowStatus;
}

const UNSUPPORTED_KINDS: Record<string, string> = {
  suspend: 'suspend templates wait for a person or a duration to resume them; ww argo run has no API to resume',
  resource: 'resource templates create Kubernetes objects; there is no Kubernetes here',
  http: 'http templates are not run by ww argo yet',
  plugin: 'plugin templates are run by ww gateway under Argo, not by ww argo run',
  containerSet: 'containerSet templates are not run by ww argo yet',
  data: 'data templates are not run by ww argo yet',
};

/** Runs `wf` to the end; the result carries every node. Throws ArgoError only for a workflow that
 *  cannot start (unknown template, unsupported feature, a bad -p); what fails while running is a
 *  node's phase and message. */
export async function runWorkflow(wf: Workflow, opts: EngineOptions): Promise<WorkflowResult> {
  const run = new Run(wf, opts);
  return run.run();
}

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Arguments to a template invocation, substituted. */
interface Args {
  parameters: Map<string, string>;
  artifacts: Map<string, { key?: string; raw?: string }>;
}

/** Where a node hangs in the tree. */
interface Place {
  name: string;
  displayName: string;
  parentId?: string;
  boundaryId?: string;
  depth: number;
}

const FAILED = (p: Phase): boolean => p === 'Failed' || p === 'Error';

class Run {
  private readonly limits: EngineLimits;
  private readonly templates = new Map<string, Template>();
  private readonly nodes = new Map<string, NodeStatus>();
  private readonly name: string;
  private readonly uid = randomUUID();
  private readonly global = new Scope();
  private readonly pods: Semaphore;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly wf: Workflow,
    private readonly opts: EngineOptions,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.name = wf.metadata.name ?? `${wf.metadata.generateName ?? 'workflow-'}${randomBytes(3).toString('hex').slice(0, 5)}`;
    this.pods = new Semaphore(wf.spec.parallelism ?? this.limits.maxParallel);
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = opts.now ?? Date.now;
  }

  async run(): Promise<WorkflowResult> {
    this.check();
    const startedAt = this.time();
    this.global.set('workflow.name', this.name).set('workflow.namespace', 'default').set('workflow.uid', this.uid);
    this.global.set('workflow.creationTimestamp', startedAt).set('workflow.serviceAccountName', 'default');
    const params = new Map<string, string>();
    for (const p of this.wf.spec.arguments?.parameters ?? []) {
      const value = p.value ?? p.default;
      if (value !== undefined) params.set(p.name, String(value));
    }
    for (const [k, v] of Object.entries(this.opts.parameters ?? {})) {
      if (!(this.wf.spec.arguments?.parameters ?? []).some((p) => p.name === k)) {
        throw new ArgoError('invalid', `-p ${k}: the workflow has no parameter '${k}' (spec.arguments.parameters)`);
      }
      params.set(k, v);
    }
    for (const p of this.wf.spec.arguments?.parameters ?? []) {
      if (!params.has(p.name)) throw new ArgoError('invalid', `the workflow parameter '${p.name}' has no value: give one with -p ${p.name}=VALUE`);
      const enumValues = p.enum?.map(String);
      if (enumValues && !enumValues.includes(params.get(p.name)!)) {
        throw new ArgoError('invalid', `the workflow parameter '${p.name}' is '${params.get(p.name)}', not one of ${enumValues.join(', ')}`);
      }
    }
    for (const [k, v] of params) this.global.set(`workflow.parameters.${k}`, v);
    this.global.set('workflow.parameters', JSON.stringify(Object.fromEntries(params)));

    const args: Args = { parameters: params, artifacts: new Map() };
    for (const a of this.wf.spec.arguments?.artifacts ?? []) args.artifacts.set(a.name, artifactSource(a));
    const root = await this.invoke(this.wf.spec.entrypoint!, args, { name: this.name, displayName: this.name, depth: 0 }, this.global);
    let phase: Phase = root.phase;
    let message = root.message;

    if (this.wf.spec.onExit) {
      const exitScope = this.global.child();
      exitScope.set('workflow.status', phase === 'Succeeded' ? 'Succeeded' : phase === 'Error' ? 'Error' : 'Failed');
      exitScope.set('workflow.failures', JSON.stringify(this.failures()));
      exitScope.set('workflow.duration', String((this.now() - Date.parse(startedAt)) / 1000));
      const exit = await this.invoke(this.wf.spec.onExit, { parameters: new Map(), artifacts: new Map() }, { name: `${this.name}.onExit`, displayName: `${this.name}.onExit`, depth: 0 }, exitScope);
      if (FAILED(exit.phase) && phase === 'Succeeded') {
        phase = 'Failed';
        message = `the exit handler ${exit.phase === 'Error' ? 'errored' : 'failed'}: ${exit.message ?? ''}`.trim();
      }
    }
    const status: WorkflowStatus = { phase, startedAt, finishedAt: this.time(), nodes: Object.fromEntries(this.nodes) };
    if (message !== undefined && phase !== 'Succeeded') status.message = message;
    return { apiVersion: this.wf.apiVersion, kind: 'Workflow', metadata: { ...this.wf.metadata, name: this.name, namespace: 'default', uid: this.uid }, spec: this.wf.spec, status };
  }

  /** Refuses before running what cannot run: unknown templates, unsupported kinds and fields. */
  private check(): void {
    const spec = this.wf.spec;
    if (spec.workflowTemplateRef) throw new ArgoError('unsupported', 'spec.workflowTemplateRef: ww argo run reads one self-contained Workflow file (no WorkflowTemplates stored in a cluster)');
    for (const t of spec.templates ?? []) {
      if (this.templates.has(t.name)) throw new ArgoError('invalid', `two templates are named '${t.name}'`);
      this.templates.set(t.name, t);
    }
    if (!spec.entrypoint) throw new ArgoError('invalid', 'spec.entrypoint is missing: name the template to start with');
    const refer = (name: string | undefined, where: string): void => {
      if (name === undefined) throw new ArgoError('unsupported', `${where}: only 'template' is supported (templateRef and inline are not)`);
      if (!this.templates.has(name)) throw new ArgoError('invalid', `${where}: no template is named '${name}'`);
    };
    refer(spec.entrypoint, 'spec.entrypoint');
    if (spec.onExit) refer(spec.onExit, 'spec.onExit');
    if (spec.hooks) throw new ArgoError('unsupported', 'spec.hooks: lifecycle hooks are not run by ww argo');
    for (const t of spec.templates ?? []) {
      const where = `template '${t.name}'`;
      for (const [kind, why] of Object.entries(UNSUPPORTED_KINDS)) {
        if (t[kind] !== undefined) throw new ArgoError('unsupported', `${where}: ${kind}: ${why}`);
      }
      if (!t.container && !t.script && !t.steps && !t.dag) throw new ArgoError('invalid', `${where} has no container, script, steps or dag`);
      for (const field of ['sidecars', 'initContainers', 'volumes', 'memoize', 'synchronization', 'daemon'] as const) {
        if (t[field] !== undefined) throw new ArgoError('unsupported', `${where}: ${field} is not supported by ww argo`);
      }
      const invocations: Invocation[] = [...(t.steps ?? []).flat(), ...(t.dag?.tasks ?? [])];
      for (const s of invocations) {
        refer(s.template, `${where}, step '${s.name}'`);
        if (s.onExit) refer(s.onExit, `${where}, step '${s.name}' onExit`);
        if (s.hooks) throw new ArgoError('unsupported', `${where}, step '${s.name}': hooks are not run by ww argo`);
      }
      if (t.dag) this.checkDag(t);
    }
  }

  private checkDag(t: Template): void {
    const names = new Set(t.dag!.tasks.map((task) => task.name));
    const deps = new Map<string, string[]>();
    for (const task of t.dag!.tasks) {
      const list = [...(task.dependencies ?? []), ...(task.depends ? dependsNames(parseDepends(task.depends)) : [])];
      for (const d of list) if (!names.has(d)) throw new ArgoError('invalid', `template '${t.name}', task '${task.name}' depends on '${d}', which is not a task of this dag`);
      deps.set(task.name, list);
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (n: string, path: string[]): void => {
      if (state.get(n) === 'done') return;
      if (state.get(n) === 'visiting') throw new ArgoError('invalid', `template '${t.name}': the dag has a cycle: ${[...path, n].join(' -> ')}`);
      state.set(n, 'visiting');
      for (const d of deps.get(n) ?? []) visit(d, [...path, n]);
      state.set(n, 'done');
    };
    for (const n of names) visit(n, []);
  }

  private time(): string {
    return new Date(this.now()).toISOString();
  }

  private nodeId(name: string): string {
    if (name === this.name) return name;
    // Argo's node IDs: the workflow name and a 32-bit FNV-1a hash of the node's name.
    let h = 0x811c9dc5;
    for (const byte of Buffer.from(name)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
    return `${this.name}-${h}`;
  }

  private addNode(place: Place, type: NodeType, templateName?: string): NodeStatus {
    if (this.nodes.size >= this.limits.maxNodes) {
      throw new ArgoError('limit', `the workflow reached ${this.limits.maxNodes} nodes (ww argo's bound on steps per workflow)`);
    }
    const id = this.nodeId(place.name);
    const node: NodeStatus = { id, name: place.name, displayName: place.displayName, type, phase: 'Running', startedAt: this.time() };
    if (templateName !== undefined) node.templateName = templateName;
    if (place.boundaryId !== undefined) node.boundaryID = place.boundaryId;
    this.nodes.set(id, node);
    if (place.parentId !== undefined) {
      const parent = this.nodes.get(place.parentId)!;
      (parent.children ??= []).push(id);
    }
    this.opts.onNode?.(node);
    return node;
  }

  private finish(node: NodeStatus, phase: Phase, message?: string): NodeStatus {
    node.phase = phase;
    if (message !== undefined && message !== '') node.message = message;
    node.finishedAt = this.time();
    this.opts.onNode?.(node);
    return node;
  }

  /** A node that could not run: an Error node in place of the template's own. */
  private errorNode(place: Place, templateName: string, err: unknown): NodeStatus {
    if (!(err instanceof ArgoError)) throw err;
    const existing = this.nodes.get(this.nodeId(place.name));
    if (existing && existing.finishedAt === undefined) return this.finish(existing, 'Error', err.message);
    if (this.nodes.size >= this.limits.maxNodes) throw err; // the bound itself: the whole run ends with it
    return this.finish(this.addNode(place, 'Pod', templateName), 'Error', err.message);
  }

  /** Runs template `name` as the node at `place`, with `args`, seeing `outer` (workflow-level
   *  variables, and an exit handler's workflow.status). */
  private async invoke(name: string, args: Args, place: Place, outer: Scope): Promise<NodeStatus> {
    const template = this.templates.get(name)!;
    try {
      if (place.depth > this.limits.maxDepth) {
        throw new ArgoError('limit', `templates nested over ${this.limits.maxDepth} deep (a template that calls itself without end?)`);
      }
      const scope = this.global.child();
      for (const [k, v] of outer.entries()) if (k.startsWith('workflow.')) scope.set(k, v);
      const inputs = this.resolveInputs(template, args, scope);
      if (template.retryStrategy) return await this.retry(template, inputs, place, scope);
      return await this.body(template, inputs, place, scope);
    } catch (err) {
      return this.errorNode(place, name, err);
    }
  }

  private resolveInputs(template: Template, args: Args, scope: Scope): { parameters: { name: string; value: string }[]; artifacts: ArtifactInput[] } {
    const parameters: { name: string; value: string }[] = [];
    for (const p of template.inputs?.parameters ?? []) {
      const given = args.parameters.get(p.name) ?? (p.value !== undefined ? substitute(String(p.value), scope) : undefined) ?? (p.default !== undefined ? substitute(String(p.default), scope) : undefined);
      if (given === undefined) throw new ArgoError('invalid', `template '${template.name}': inputs.parameters.${p.name} was not supplied`);
      if (p.enum && !p.enum.map(String).includes(given)) throw new ArgoError('invalid', `template '${template.name}': inputs.parameters.${p.name} is '${given}', not one of ${p.enum.join(', ')}`);
      scope.set(`inputs.parameters.${p.name}`, given);
      parameters.push({ name: p.name, value: given });
    }
    scope.set('inputs.parameters', JSON.stringify(parameters));
    const artifacts: ArtifactInput[] = [];
    for (const a of template.inputs?.artifacts ?? []) {
      const source = args.artifacts.get(a.name) ?? artifactSource(a);
      if (a.path === undefined) throw new ArgoError('invalid', `template '${template.name}': inputs.artifacts.${a.name} has no path`);
      if (source.key === undefined && source.raw === undefined) {
        if (a.optional) continue;
        throw new ArgoError('invalid', `template '${template.name}': inputs.artifacts.${a.name} was not supplied`);
      }
      const path = substitute(a.path, scope);
      scope.set(`inputs.artifacts.${a.name}.path`, path);
      artifacts.push({ name: a.name, path, ...source });
    }
    return { parameters, artifacts };
  }

  private async retry(template: Template, inputs: ResolvedInputs, place: Place, scope: Scope): Promise<NodeStatus> {
    const strategy = template.retryStrategy!;
    const node = this.addNode(place, 'Retry', template.name);
    this.recordInputs(node, inputs);
    const limit = strategy.limit === undefined ? this.limits.maxAttempts - 1 : Number(substitute(String(strategy.limit), scope));
    if (!Number.isInteger(limit) || limit < 0) throw new ArgoError('invalid', `template '${template.name}': retryStrategy.limit '${String(strategy.limit)}' is not a whole number`);
    if (limit + 1 > this.limits.maxAttempts) throw new ArgoError('limit', `template '${template.name}': retryStrategy.limit ${limit} is over ww argo's ${this.limits.maxAttempts - 1}`);
    if (strategy.expression !== undefined) throw new ArgoError('unsupported', `template '${template.name}': retryStrategy.expression is not supported by ww argo`);
    const policy = strategy.retryPolicy ?? 'OnFailure';
    const backoff = strategy.backoff;
    const baseMs = backoff?.duration !== undefined ? parseDuration(substitute(String(backoff.duration), scope)) : 0;
    const factor = backoff?.factor !== undefined ? Number(substitute(String(backoff.factor), scope)) : 2;
    const maxMs = backoff?.maxDuration !== undefined ? parseDuration(substitute(String(backoff.maxDuration), scope)) : Infinity;
    const capMs = backoff?.cap !== undefined ? parseDuration(substitute(String(backoff.cap), scope)) : Infinity;
    const started = this.now();
    let last: NodeStatus | undefined;
    for (let attempt = 0; attempt <= limit; attempt++) {
      const attemptScope = scope.child().set('retries', String(attempt));
      last = await this.body(template, inputs, { name: `${place.name}(${attempt})`, displayName: `${place.displayName}(${attempt})`, parentId: node.id, boundaryId: place.boundaryId, depth: place.depth }, attemptScope);
      const retryable = (policy === 'Always' && FAILED(last.phase)) || (policy === 'OnFailure' && last.phase === 'Failed') || ((policy === 'OnError' || policy === 'OnTransientError') && last.phase === 'Error');
      if (!retryable || attempt === limit) break;
      const delay = Math.min(baseMs * factor ** attempt, capMs);
      if (this.now() - started + delay > maxMs) {
        this.finish(node, last.phase, `${last.message ?? ''} (no more retries: backoff.maxDuration ${String(backoff!.maxDuration)} reached)`.trim());
        node.outputs = last.outputs;
        return node;
      }
      if (delay > 0) await this.sleep(delay);
    }
    if (last!.outputs) node.outputs = last!.outputs;
    return this.finish(node, last!.phase, last!.message);
  }

  private recordInputs(node: NodeStatus, inputs: ResolvedInputs): void {
    if (inputs.parameters.length === 0 && inputs.artifacts.length === 0) return;
    node.inputs = {};
    if (inputs.parameters.length > 0) node.inputs.parameters = inputs.parameters;
    if (inputs.artifacts.length > 0) node.inputs.artifacts = inputs.artifacts.map((a) => ({ name: a.name, path: a.path }));
  }

  private async body(template: Template, inputs: ResolvedInputs, place: Place, scope: Scope): Promise<NodeStatus> {
    try {
      if (template.steps) return await this.steps(template, inputs, place, scope);
      if (template.dag) return await this.dag(template, inputs, place, scope);
      return await this.pod(template, inputs, place, scope);
    } catch (err) {
      return this.errorNode(place, template.name, err);
    }
  }

  private async pod(template: Template, inputs: ResolvedInputs, place: Place, scope: Scope): Promise<NodeStatus> {
    const node = this.addNode(place, 'Pod', template.name);
    this.recordInputs(node, inputs);
    // Outputs are read after the step: leave their own {{...}} (e.g. a path from an input) to resolve now.
    const resolved = substituteDeep({ ...template, steps: undefined, dag: undefined }, scope) as Template;
    const result = await this.pods.use(() =>
      this.opts.runStep({ workflowName: this.name, nodeId: node.id, nodeName: node.name, template: resolved, inputArtifacts: inputs.artifacts }),
    );
    const phase = result.phase ?? (result.exitCode === 0 ? 'Succeeded' : 'Failed');
    const outputs: NodeOutputs = {};
    if (result.exitCode !== undefined) outputs.exitCode = String(result.exitCode);
    if (result.stdout !== undefined) {
      const text = result.stdout.replace(/\n$/, '');
      if (Buffer.byteLength(text) > this.limits.maxOutputBytes) {
        node.outputs = outputs;
        return this.finish(node, 'Error', `its output (outputs.result) is over ${this.limits.maxOutputBytes} bytes`);
      }
      outputs.result = text;
    }
    let message = result.message ?? (phase === 'Failed' && result.exitCode !== undefined ? `Error (exit code ${result.exitCode})` : undefined);
    let finalPhase: Phase = phase;
    const stepScope = scope.child();
    if (outputs.result !== undefined) stepScope.set('outputs.result', outputs.result);
    if (phase !== 'Error') {
      const params: { name: string; value: string }[] = [];
      for (const p of resolved.outputs?.parameters ?? []) {
        try {
          params.push({ name: p.name, value: this.outputParameter(p, result.parameters ?? {}, stepScope) });
        } catch (err) {
          if (!(err instanceof ArgoError)) throw err;
          if (phase === 'Succeeded') {
            finalPhase = 'Error';
            message = err.message;
          }
        }
      }
      if (params.length > 0) outputs.parameters = params;
    }
    if (result.artifacts && result.artifacts.length > 0) outputs.artifacts = result.artifacts.map((a) => ({ name: a.name, s3: { key: a.key } }));
    if (Object.keys(outputs).length > 0) node.outputs = outputs;
    return this.finish(node, finalPhase, message);
  }

  private outputParameter(p: Parameter, files: Record<string, string>, scope: Scope): string {
    let value: string | undefined;
    if (p.valueFrom?.path !== undefined) {
      const text = files[p.name];
      value = text === undefined ? undefined : text.replace(/\n$/, '');
    } else if (p.valueFrom?.parameter !== undefined) {
      value = substitute(p.valueFrom.parameter, scope);
    } else if (p.valueFrom?.expression !== undefined) {
      const v = evaluate(p.valueFrom.expression, scope.env());
      value = typeof v === 'string' ? v : JSON.stringify(v);
    } else if (p.valueFrom !== undefined) {
      throw new ArgoError('unsupported', `outputs.parameters.${p.name}: only valueFrom.path, .parameter, .expression and .default are supported by ww argo`);
    } else if (p.value !== undefined) {
      value = substitute(String(p.value), scope);
    }
    value ??= p.valueFrom?.default !== undefined ? String(p.valueFrom.default) : p.default !== undefined ? String(p.default) : undefined;
    if (value === undefined) {
      throw new ArgoError('invalid', `outputs.parameters.${p.name}: ${p.valueFrom?.path !== undefined ? `the step wrote no file ${p.valueFrom.path}` : 'no value'} and there is no default`);
    }
    if (Buffer.byteLength(value) > this.limits.maxOutputBytes) throw new ArgoError('limit', `outputs.parameters.${p.name} is over ${this.limits.maxOutputBytes} bytes`);
    return value;
  }

  private async steps(template: Template, inputs: ResolvedInputs, place: Place, scope: Scope): Promise<NodeStatus> {
    const node = this.addNode(place, 'Steps', template.name);
    this.recordInputs(node, inputs);
    const inner = scope.child();
    const limit = new Semaphore(template.parallelism ?? Infinity);
    let failure: NodeStatus | undefined;
    let lastGroup: NodeStatus | undefined;
    for (const [i, group] of template.steps!.entries()) {
      const groupNode = this.addNode({ name: `${place.name}[${i}]`, displayName: `[${i}]`, parentId: lastGroup?.id ?? node.id, boundaryId: node.id, depth: place.depth }, 'StepGroup');
      lastGroup = groupNode;
      const outcomes = await Promise.all(
        group.map((step) => this.invocation(step, `${groupNode.name}.${step.name}`, groupNode.id, node.id, place.depth, inner, 'steps', limit)),
      );
      let groupFailure: NodeStatus | undefined;
      for (const [j, step] of group.entries()) {
        const outcome = outcomes[j]!;
        this.recordOutcome(inner, `steps.${step.name}`, outcome);
        const bad = outcome.nodes.find((n) => FAILED(n.phase) && !continues(step, n.phase));
        if (bad && !groupFailure) groupFailure = bad;
      }
      this.finish(groupNode, groupFailure ? 'Failed' : 'Succeeded', groupFailure ? `child '${groupFailure.id}' ${groupFailure.phase.toLowerCase()}` : undefined);
      if (groupFailure) {
        failure = groupFailure;
        break;
      }
    }
    if (lastGroup) node.outboundNodes = [lastGroup.id];
    this.templateOutputs(template, node, inner);
    if (failure) return this.finish(node, 'Failed', failure.message ?? `child '${failure.id}' failed`);
    return this.finish(node, node.phase === 'Error' ? 'Error' : 'Succeeded', node.message);
  }

  private async dag(template: Template, inputs: ResolvedInputs, place: Place, scope: Scope): Promise<NodeStatus> {
    const node = this.addNode(place, 'DAG', template.name);
    this.recordInputs(node, inputs);
    const inner = scope.child();
    const limit = new Semaphore(template.parallelism ?? Infinity);
    const failFast = template.dag!.failFast ?? true;
    let tasks = template.dag!.tasks;
    if (template.dag!.target !== undefined) tasks = withAncestors(tasks, substitute(template.dag!.target, scope).split(/\s+/).filter(Boolean));
    const byName = new Map(tasks.map((t) => [t.name, t]));
    const depends = new Map(tasks.map((t) => [t.name, dagDepends(t)]));
    const handled = new Set(tasks.flatMap((t) => (t.depends ? failureHandled(parseDepends(t.depends)) : [])));
    const outcomes = new Map<string, TaskOutcome>();
    const results = new Map<string, Outcome>();
    const started = new Set<string>();
    let stop = false;
    let failure: NodeStatus | undefined;
    await new Promise<void>((resolve, reject) => {
      let running = 0;
      const schedule = (): void => {
        for (const task of tasks) {
          if (started.has(task.name) || stop) continue;
          const deps = depends.get(task.name)!;
          if (!deps.names.every((d) => outcomes.has(d))) continue;
          started.add(task.name);
          const taskPlace = { name: `${place.name}.${task.name}`, displayName: task.name, parentId: node.id, boundaryId: node.id, depth: place.depth };
          if (!evaluateDepends(deps.expr, outcomes)) {
            const omitted = this.finish(this.addNode(taskPlace, 'Skipped', task.template), 'Omitted', `omitted: depends condition not met`);
            outcomes.set(task.name, { phase: 'Omitted' });
            results.set(task.name, { nodes: [omitted], phase: 'Omitted', looped: false });
            continue;
          }
          running++;
          this.invocation(task, taskPlace.name, node.id, node.id, place.depth, inner, 'tasks', limit, task.name).then(
            (outcome) => {
              running--;
              results.set(task.name, outcome);
              outcomes.set(task.name, { phase: outcome.phase, childPhases: outcome.looped ? outcome.nodes.map((n) => n.phase) : undefined });
              this.recordOutcome(inner, `tasks.${task.name}`, outcome);
              const bad = FAILED(outcome.phase) && !continues(byName.get(task.name)!, outcome.phase) && !handled.has(task.name);
              if (bad) {
                failure ??= outcome.nodes.find((n) => FAILED(n.phase)) ?? outcome.nodes[0];
                if (failFast) stop = true;
              }
              schedule();
              if (running === 0) resolve();
            },
            reject,
          );
        }
        if (running === 0) resolve();
      };
      schedule();
    });
    // Argo's outbound nodes: the tasks nothing else depends on.
    const dependedOn = new Set([...depends.values()].flatMap((d) => d.names));
    node.outboundNodes = tasks.filter((t) => !dependedOn.has(t.name) && results.has(t.name)).flatMap((t) => results.get(t.name)!.nodes.map((n) => n.id));
    this.templateOutputs(template, node, inner);
    if (failure) return this.finish(node, 'Failed', failure.message ?? `task '${failure.displayName}' failed`);
    return this.finish(node, node.phase === 'Error' ? 'Error' : 'Succeeded', node.message);
  }

  /** A step's or task's node(s): skipped by `when`, one invocation, or one per loop item. */
  private async invocation(step: Invocation, name: string, parentId: string, boundaryId: string, depth: number, scope: Scope, kind: 'steps' | 'tasks', limit: Semaphore, display = step.name): Promise<Outcome> {
    const place: Place = { name, displayName: display, parentId, boundaryId, depth: depth + 1 };
    let items: unknown[] | undefined;
    try {
      items = this.loopItems(step, scope);
    } catch (err) {
      const node = this.errorNode(place, step.template!, err);
      return { nodes: [node], phase: node.phase, looped: false };
    }
    if (items === undefined) {
      const node = await limit.use(() => this.one(step, place, scope));
      return { nodes: [node], phase: node.phase, looped: false };
    }
    // A loop in a dag gets a TaskGroup node; in steps the items are siblings in the step group.
    let groupId = parentId;
    let group: NodeStatus | undefined;
    if (kind === 'tasks') {
      group = this.addNode(place, 'TaskGroup', step.template);
      groupId = group.id;
    }
    const nodes = await Promise.all(
      items.map((item, i) => {
        const label = `${display}(${i}:${itemLabel(item)})`;
        const itemScope = scope.child();
        setItem(itemScope, item);
        return limit.use(() => this.one(step, { name: `${kind === 'tasks' ? name : name}(${i}:${itemLabel(item)})`, displayName: label, parentId: groupId, boundaryId, depth: depth + 1 }, itemScope));
      }),
    );
    const failed = nodes.find((n) => FAILED(n.phase) && !continues(step, n.phase));
    const phase: Phase = failed ? failed.phase : nodes.every((n) => n.phase === 'Skipped') && nodes.length > 0 ? 'Skipped' : 'Succeeded';
    if (group) this.finish(group, phase, failed?.message);
    return { nodes, phase, looped: true, group };
  }

  private async one(step: Invocation, place: Place, scope: Scope): Promise<NodeStatus> {
    let node: NodeStatus;
    try {
      if (step.when !== undefined) {
        const condition = substitute(step.when, scope);
        if (!evaluateCondition(condition, scope.env())) {
          return this.finish(this.addNode(place, 'Skipped', step.template), 'Skipped', `when '${condition}' evaluated false`);
        }
      }
      const args: Args = { parameters: new Map(), artifacts: new Map() };
      for (const p of step.arguments?.parameters ?? []) {
        const value = p.value ?? p.default;
        if (value === undefined) throw new ArgoError('invalid', `step '${step.name}': arguments.parameters.${p.name} has no value`);
        args.parameters.set(p.name, substitute(String(value), scope));
      }
      for (const a of step.arguments?.artifacts ?? []) args.artifacts.set(a.name, substituteDeep(artifactSource(a), scope));
      node = await this.invoke(step.template!, args, place, scope);
    } catch (err) {
      node = this.errorNode(place, step.template!, err);
    }
    if (step.onExit) {
      await this.invoke(step.onExit, { parameters: new Map(), artifacts: new Map() }, { ...place, name: `${place.name}.onExit`, displayName: `${place.displayName}.onExit` }, scope);
    }
    return node;
  }

  private loopItems(step: Invocation, scope: Scope): unknown[] | undefined {
    let items: unknown[] | undefined;
    if (step.withItems !== undefined) items = step.withItems.map((i) => substituteDeep(i, scope));
    else if (step.withParam !== undefined) {
      const text = substitute(step.withParam, scope);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ArgoError('bad-expression', `step '${step.name}': withParam is not a JSON list: ${JSON.stringify(text.slice(0, 80))}`);
      }
      if (!Array.isArray(parsed)) throw new ArgoError('bad-expression', `step '${step.name}': withParam is not a JSON list: ${JSON.stringify(text.slice(0, 80))}`);
      items = parsed;
    } else if (step.withSequence !== undefined) items = sequence(substituteDeep(step.withSequence, scope), step.name, this.limits.maxLoopItems);
    if (items && items.length > this.limits.maxLoopItems) {
      throw new ArgoError('limit', `step '${step.name}' loops over ${items.length} items, over ww argo's ${this.limits.maxLoopItems}`);
    }
    return items;
  }

  /** `steps.X.outputs...` / `tasks.X.outputs...` for later steps; a loop's as JSON lists. */
  private recordOutcome(scope: Scope, prefix: string, outcome: Outcome): void {
    scope.set(`${prefix}.status`, outcome.phase);
    if (!outcome.looped) {
      const node = outcome.nodes[0]!;
      scope.set(`${prefix}.id`, node.id);
      const o = node.outputs;
      if (!o) return;
      if (o.result !== undefined) scope.set(`${prefix}.outputs.result`, o.result);
      if (o.exitCode !== undefined) scope.set(`${prefix}.exitCode`, o.exitCode);
      for (const p of o.parameters ?? []) scope.set(`${prefix}.outputs.parameters.${p.name}`, p.value);
      for (const a of o.artifacts ?? []) if (a.s3) scope.set(`${prefix}.outputs.artifacts.${a.name}`, a.s3.key);
      return;
    }
    const ran = outcome.nodes.filter((n) => n.outputs);
    if (ran.some((n) => n.outputs?.result !== undefined)) {
      scope.set(`${prefix}.outputs.result`, JSON.stringify(ran.map((n) => asItem(n.outputs?.result ?? ''))));
    }
    const names = new Set(ran.flatMap((n) => (n.outputs?.parameters ?? []).map((p) => p.name)));
    if (names.size > 0) {
      scope.set(`${prefix}.outputs.parameters`, JSON.stringify(ran.map((n) => Object.fromEntries((n.outputs?.parameters ?? []).map((p) => [p.name, p.value])))));
      for (const name of names) {
        scope.set(`${prefix}.outputs.parameters.${name}`, JSON.stringify(ran.map((n) => asItem(n.outputs?.parameters?.find((p) => p.name === name)?.value ?? ''))));
      }
    }
    if (outcome.group) {
      // The TaskGroup carries the aggregate, as Argo's does for `tasks.X.outputs...`.
      scope.set(`${prefix}.id`, outcome.group.id);
    }
  }

  /** A steps or dag template's own outputs, from its steps' (valueFrom.parameter / expression, from). */
  private templateOutputs(template: Template, node: NodeStatus, scope: Scope): void {
    const outputs: NodeOutputs = {};
    try {
      const params: { name: string; value: string }[] = [];
      for (const p of template.outputs?.parameters ?? []) params.push({ name: p.name, value: this.outputParameter(p, {}, scope) });
      if (params.length > 0) outputs.parameters = params;
      const artifacts: { name: string; s3: { key: string } }[] = [];
      for (const a of template.outputs?.artifacts ?? []) {
        if (a.from === undefined) throw new ArgoError('invalid', `template '${template.name}': outputs.artifacts.${a.name} of a steps or dag template needs from`);
        artifacts.push({ name: a.name, s3: { key: substitute(a.from, scope) } });
      }
      if (artifacts.length > 0) outputs.artifacts = artifacts;
    } catch (err) {
      if (!(err instanceof ArgoError)) throw err;
      // A failed step leaves outputs unresolved: only an error when the steps themselves succeeded.
      if (!(node.children ?? []).some((id) => FAILED(this.nodes.get(id)?.phase ?? 'Succeeded'))) {
        node.phase = 'Error';
        node.message = err.message;
      }
    }
    if (Object.keys(outputs).length > 0) node.outputs = outputs;
  }

  /** Argo's workflow.failures: the failed pods. */
  private failures(): object[] {
    return [...this.nodes.values()]
      .filter((n) => n.type === 'Pod' && FAILED(n.phase))
      .map((n) => ({ displayName: n.displayName, message: n.message ?? '', templateName: n.templateName ?? '', phase: n.phase, podName: n.id, finishedAt: n.finishedAt ?? '' }));
  }
}

type ResolvedInputs = { parameters: { name: string; value: string }[]; artifacts: ArtifactInput[] };

interface Outcome {
  nodes: NodeStatus[];
  phase: Phase;
  looped: boolean;
  group?: NodeStatus;
}

function continues(step: Invocation, phase: Phase): boolean {
  return (phase === 'Failed' && step.continueOn?.failed === true) || (phase === 'Error' && step.continueOn?.error === true);
}

function dagDepends(task: DagTask): { names: string[]; expr: ReturnType<typeof parseDepends> } {
  const parts = [...(task.dependencies ?? [])];
  if (task.depends) parts.push(`(${task.depends})`);
  const text = parts.length > 0 ? parts.join(' && ') : undefined;
  if (text === undefined) return { names: [], expr: { kind: 'not', arg: { kind: 'task', name: '\0never' } } as ReturnType<typeof parseDepends> };
  const expr = parseDepends(text);
  return { names: [...new Set(dependsNames(expr))], expr };
}

function withAncestors(tasks: DagTask[], targets: string[]): DagTask[] {
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const keep = new Set<string>();
  const visit = (n: string): void => {
    if (keep.has(n)) return;
    const t = byName.get(n);
    if (!t) throw new ArgoError('invalid', `dag target '${n}' is not a task`);
    keep.add(n);
    for (const d of dagDepends(t).names) visit(d);
  };
  targets.forEach(visit);
  return tasks.filter((t) => keep.has(t.name));
}

function artifactSource(a: Artifact): { key?: string; raw?: string } {
  if (a.from !== undefined) return { key: a.from };
  if (a.raw !== undefined) return { raw: a.raw.data };
  if (a.s3?.key !== undefined) return { key: a.s3.key };
  for (const kind of ['http', 'git', 'gcs', 'oss', 'hdfs', 'artifactory', 'azure', 'fromExpression']) {
    if (a[kind] !== undefined) throw new ArgoError('unsupported', `artifact '${a.name}': ${kind} artifacts are not fetched by ww argo (raw, from and s3 keys in the local store are)`);
  }
  return {};
}

function setItem(scope: Scope, item: unknown): void {
  scope.set('item', typeof item === 'string' ? item : JSON.stringify(item));
  if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
    for (const [k, v] of Object.entries(item)) scope.set(`item.${k}`, typeof v === 'string' ? v : JSON.stringify(v));
  }
}

/** How Argo names a loop child: `step(0:a)`, `step(1:k:v,k2:v2)` for a map. */
function itemLabel(item: unknown): string {
  if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
    return Object.entries(item).map(([k, v]) => `${k}:${typeof v === 'string' ? v : JSON.stringify(v)}`).join(',');
  }
  return typeof item === 'string' ? item : JSON.stringify(item);
}

/** Argo aggregates a loop's results as a JSON list whose entries are JSON values where they parse. */
function asItem(text: string): unknown {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' ? v : text;
  } catch {
    return text;
  }
}

function sequence(seq: { count?: unknown; start?: unknown; end?: unknown; format?: string }, step: string, max: number): string[] {
  const int = (v: unknown, what: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new ArgoError('bad-expression', `step '${step}': withSequence.${what} '${String(v)}' is not an integer`);
    return n;
  };
  const start = seq.start !== undefined ? int(seq.start, 'start') : 0;
  let end: number;
  if (seq.count !== undefined && seq.end !== undefined) throw new ArgoError('invalid', `step '${step}': withSequence takes count or end, not both`);
  if (seq.count !== undefined) {
    const count = int(seq.count, 'count');
    if (count === 0) return [];
    end = start + count - 1;
  } else if (seq.end !== undefined) end = int(seq.end, 'end');
  else throw new ArgoError('invalid', `step '${step}': withSequence needs count or end`);
  const n = Math.abs(end - start) + 1;
  if (n > max) throw new ArgoError('limit', `step '${step}' loops over ${n} items, over ww argo's ${max}`);
  const stepBy = end >= start ? 1 : -1;
  return Array.from({ length: n }, (_, i) => formatNumber(start + i * stepBy, seq.format, step));
}

/** printf for one integer: %d, %0Nd, %Nd, %x, %X, %o with any text around it. */
function formatNumber(n: number, format: string | undefined, step: string): string {
  if (format === undefined) return String(n);
  const m = /%(0?)(\d*)([dxXo])/.exec(format);
  if (!m || /%[^%]/.test(format.replace(m[0], ''))) throw new ArgoError('unsupported', `step '${step}': withSequence.format '${format}' (ww argo formats one %d, %0Nd, %x or %o)`);
  const digits = m[3] === 'd' ? String(Math.abs(n)) : m[3] === 'o' ? Math.abs(n).toString(8) : Math.abs(n).toString(16);
  const cased = m[3] === 'X' ? digits.toUpperCase() : digits;
  const width = m[2] ? Number(m[2]) : 0;
  const sign = n < 0 ? '-' : '';
  const body = m[1] ? sign + cased.padStart(width - sign.length, '0') : (sign + cased).padStart(width, ' ');
  return format.replace(m[0], body).replace(/%%/g, '%');
}

/** Go's durations (`1s`, `1m30s`, `500ms`) and plain seconds (`10`), as Argo's backoff reads them. */
export function parseDuration(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text.trim())) return Number(text) * 1000;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text.trim();
  if (rest === '') throw new ArgoError('bad-expression', `'${text}' is not a duration`);
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m) throw new ArgoError('bad-expression', `'${text}' is not a duration (write e.g. 10s, 1m30s, 500ms)`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}
