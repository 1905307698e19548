// The Workflow model: the part of Argo's Workflow object (argoproj.io/v1alpha1) that the engine reads,
// named as Argo names it. parse.ts has already checked a document against the full schema, so these
// types describe valid input; fields the engine does not run are refused by engine.ts by name.

export type Scalar = string | number | boolean;

export interface Parameter {
  name: string;
  value?: Scalar;
  default?: Scalar;
  enum?: Scalar[];
  globalName?: string;
  valueFrom?: { path?: string; default?: Scalar; parameter?: string; expression?: string; [other: string]: unknown };
}

export interface Artifact {
  name: string;
  path?: string;
  from?: string;
  optional?: boolean;
  raw?: { data: string };
  s3?: { key?: string; [other: string]: unknown };
  [other: string]: unknown;
}

export interface Arguments {
  parameters?: Parameter[];
  artifacts?: Artifact[];
}

export interface Inputs {
  parameters?: Parameter[];
  artifacts?: Artifact[];
}

export interface Outputs {
  parameters?: Parameter[];
  artifacts?: Artifact[];
  result?: string;
  exitCode?: string;
}

export interface Sequence {
  count?: Scalar;
  start?: Scalar;
  end?: Scalar;
  format?: string;
}

/** What a step of `steps` and a task of `dag` share. */
export interface Invocation {
  name: string;
  template?: string;
  arguments?: Arguments;
  when?: string;
  withItems?: unknown[];
  withParam?: string;
  withSequence?: Sequence;
  continueOn?: { failed?: boolean; error?: boolean };
  onExit?: string;
  [other: string]: unknown;
}

export interface DagTask extends Invocation {
  dependencies?: string[];
  depends?: string;
}

export interface RetryStrategy {
  limit?: Scalar;
  retryPolicy?: 'Always' | 'OnFailure' | 'OnError' | 'OnTransientError';
  backoff?: { duration?: string; factor?: Scalar; maxDuration?: string; cap?: string };
  expression?: string;
  [other: string]: unknown;
}

export interface Container {
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; [other: string]: unknown }[];
  workingDir?: string;
  [other: string]: unknown;
}

export interface Script extends Container {
  source: string;
}

export interface Template {
  name: string;
  inputs?: Inputs;
  outputs?: Outputs;
  steps?: Invocation[][];
  dag?: { tasks: DagTask[]; target?: string; failFast?: boolean };
  container?: Container;
  script?: Script;
  retryStrategy?: RetryStrategy;
  parallelism?: number;
  activeDeadlineSeconds?: Scalar;
  [other: string]: unknown;
}

export interface Workflow {
  apiVersion: string;
  kind: 'Workflow';
  metadata: { name?: string; generateName?: string; [other: string]: unknown };
  spec: {
    entrypoint?: string;
    arguments?: Arguments;
    templates?: Template[];
    onExit?: string;
    parallelism?: number;
    [other: string]: unknown;
  };
}

/** Argo's node phases. */
export type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Error' | 'Skipped' | 'Omitted';

/** Argo's node types (as `argo get -o json` spells them). */
export type NodeType = 'Pod' | 'Steps' | 'StepGroup' | 'DAG' | 'Retry' | 'Skipped' | 'TaskGroup';

export interface NodeOutputs {
  parameters?: { name: string; value: string }[];
  artifacts?: { name: string; path?: string; s3?: { key: string } }[];
  result?: string;
  exitCode?: string;
}

/** One entry of `status.nodes`, in Argo's shape. */
export interface NodeStatus {
  id: string;
  name: string;
  displayName: string;
  type: NodeType;
  templateName?: string;
  phase: Phase;
  message?: string;
  boundaryID?: string;
  children?: string[];
  outboundNodes?: string[];
  startedAt: string;
  finishedAt?: string;
  inputs?: { parameters?: { name: string; value: string }[]; artifacts?: { name: string; path?: string }[] };
  outputs?: NodeOutputs;
}

export interface WorkflowStatus {
  phase: Phase;
  startedAt: string;
  finishedAt?: string;
  message?: string;
  nodes: Record<string, NodeStatus>;
}
