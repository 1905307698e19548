// Argo's executor-plugin contract (argo-workflows v4.1.2, executor-plugin-swagger.yml beside this
// file): the request the agent sends to `POST /api/v1/template.execute`, the reply it reads, and the
// checks that turn a body into a typed request or a 400 reason. Nothing here runs anything.

/** The plugin name this gateway answers for: `plugin: {ww: {...}}`. */
export const PLUGIN_NAME = 'ww';

export const EXECUTE_PATH = '/api/v1/template.execute';

/** Argo's node phases (NodePhase). */
export type NodePhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Error' | 'Skipped' | 'Omitted';

export interface ArgoParameter {
  name: string;
  value?: string;
  default?: string;
  valueFrom?: { path?: string; default?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** The part of Argo's Template this gateway reads; the rest is kept as sent (it is hashed whole). */
export interface ArgoTemplate {
  name?: string;
  plugin?: Record<string, unknown>;
  inputs?: { parameters?: ArgoParameter[]; [k: string]: unknown };
  outputs?: { parameters?: ArgoParameter[]; [k: string]: unknown };
  [k: string]: unknown;
}

export interface WorkflowMeta {
  name: string;
  namespace: string;
  uid: string;
}

/** ExecuteTemplateArgs. */
export interface ExecuteRequest {
  workflow: { metadata: WorkflowMeta };
  template: ArgoTemplate;
}

/** Outputs: `exitCode` is a string in Argo's API. */
export interface NodeOutputs {
  parameters?: { name: string; value: string }[];
  artifacts?: unknown[];
  result?: string;
  exitCode?: string;
}

/** NodeResult. */
export interface NodeResult {
  phase: NodePhase;
  message?: string;
  outputs?: NodeOutputs;
}

/** ExecuteTemplateReply; `{}` means "not mine". `requeue` is a Go duration string. */
export interface ExecuteReply {
  node?: NodeResult;
  requeue?: string;
}

/** A body that is not an ExecuteTemplateArgs: answered 400 with `reason`. */
export class BadRequestError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'BadRequestError';
  }
}

/** Parses and checks a request body; throws BadRequestError naming the first thing wrong. */
export function parseExecuteRequest(body: string): ExecuteRequest {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (e) {
    throw new BadRequestError(`body is not JSON: ${(e as Error).message}`);
  }
  const root = object(value, 'body');
  const workflow = object(root.workflow, 'workflow');
  const metadata = object(workflow.metadata, 'workflow.metadata');
  const meta: WorkflowMeta = {
    name: text(metadata.name, 'workflow.metadata.name'),
    namespace: optionalText(metadata.namespace, 'workflow.metadata.namespace') ?? '',
    uid: text(metadata.uid, 'workflow.metadata.uid'),
  };
  const template = object(root.template, 'template') as ArgoTemplate;
  if (template.plugin !== undefined) object(template.plugin, 'template.plugin');
  if (template.outputs !== undefined) {
    const outputs = object(template.outputs, 'template.outputs');
    if (outputs.parameters !== undefined) parameters(outputs.parameters, 'template.outputs.parameters');
  }
  return { workflow: { metadata: meta }, template };
}

/** The plugin's own body when the template is `plugin: {ww: ...}`; undefined when it is someone else's. */
export function wwPluginBody(template: ArgoTemplate): unknown {
  const plugin = template.plugin;
  if (plugin === undefined) return undefined;
  const names = Object.keys(plugin);
  // Argo requires exactly one key, the plugin's name; anything else is not addressed to us.
  if (names.length !== 1 || names[0] !== PLUGIN_NAME) return undefined;
  return plugin[PLUGIN_NAME];
}

/** A Go duration string Argo's `time.ParseDuration` reads, for a number of milliseconds. */
export function goDuration(ms: number): string {
  const whole = Math.max(1, Math.round(ms));
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

/** JSON with object keys sorted at every level: equal templates hash equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadRequestError(`${where} must be an object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw new BadRequestError(`${where} must be a non-empty string`);
  return value;
}

function optionalText(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestError(`${where} must be a string`);
  return value;
}

function parameters(value: unknown, where: string): void {
  if (!Array.isArray(value)) throw new BadRequestError(`${where} must be a list`);
  value.forEach((p, i) => {
    const param = object(p, `${where}[${i}]`);
    text(param.name, `${where}[${i}].name`);
  });
}
