// A fake StepRunner for the engine's tests: each template's behaviour is a function of the request;
// by default a step prints its container args (or script source) joined by spaces. Artifacts live in
// an in-memory store. It records every call and the most steps it saw running at once.
import { parseWorkflow } from '../../src/argo/parse.js';
import { runWorkflow, type EngineOptions, type StepRequest, type StepResult, type WorkflowResult } from '../../src/argo/engine.js';
import type { NodeStatus } from '../../src/argo/model.js';

export type Behaviour = (req: StepRequest, fake: FakeRunner) => StepResult | Promise<StepResult>;

export class FakeRunner {
  readonly calls: StepRequest[] = [];
  readonly store = new Map<string, string>();
  readonly sleeps: number[] = [];
  running = 0;
  maxRunning = 0;
  /** Each template's calls so far, by template name. */
  readonly attempts = new Map<string, number>();

  constructor(private readonly behaviours: Record<string, Behaviour> = {}) {}

  runStep = async (req: StepRequest): Promise<StepResult> => {
    this.calls.push(req);
    this.attempts.set(req.template.name, (this.attempts.get(req.template.name) ?? 0) + 1);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      // Let every step that could start now start before any ends, so concurrency is observable.
      await new Promise((resolve) => setImmediate(resolve));
      const behaviour = this.behaviours[req.template.name];
      if (behaviour) return await behaviour(req, this);
      return { exitCode: 0, stdout: `${words(req).join(' ')}\n` };
    } finally {
      this.running--;
    }
  };

  /** A clock that only moves when the engine sleeps, so backoff is checked without waiting. */
  clock = 1_700_000_000_000;
  now = (): number => this.clock;

  sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.clock += ms;
  };
}

/** The step's container args, or its script source. */
export function words(req: StepRequest): string[] {
  if (req.template.script) return [req.template.script.source.trim()];
  return [...(req.template.container?.command ?? []), ...(req.template.container?.args ?? [])];
}

export async function run(yaml: string, fake = new FakeRunner(), opts: Partial<EngineOptions> = {}): Promise<WorkflowResult> {
  return runWorkflow(parseWorkflow(yaml, 'test.yaml'), { runStep: fake.runStep, sleep: fake.sleep, now: fake.now, ...opts });
}

/** The node with this display name (exactly one). */
export function node(result: WorkflowResult, displayName: string): NodeStatus {
  const found = Object.values(result.status.nodes).filter((n) => n.displayName === displayName);
  if (found.length !== 1) throw new Error(`${found.length} nodes are named '${displayName}': ${Object.values(result.status.nodes).map((n) => n.displayName).join(', ')}`);
  return found[0]!;
}

export function nodesOf(result: WorkflowResult): NodeStatus[] {
  return Object.values(result.status.nodes);
}

/** A Workflow document around `templates` (YAML text indented under spec.templates). */
export function workflow(templates: string, spec = ''): string {
  return `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: wf
spec:
  entrypoint: main
${spec}  templates:
${templates}`;
}
