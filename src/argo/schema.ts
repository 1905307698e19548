// Validation against Argo's own Workflow JSON Schema (workflow-schema.json, copied from
// argo-workflows v4.1.2 api/jsonschema/schema.json, draft 2020-12), made strict in two ways Argo's
// API server is strict and the published schema is not: an object's unknown field is an error (the
// schema leaves additionalProperties open), and the few fields Kubernetes reads as
// int-or-string / any-string (a retry limit, a parameter value) take YAML numbers and booleans too.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

const SCHEMA_FILE = 'src/argo/workflow-schema.json';
const WORKFLOW = 'io.argoproj.workflow.v1alpha1.Workflow';

type Schema = Record<string, unknown>;

let compiled: ValidateFunction | undefined;

/** The schema file, found from this module upward (dist/src/argo/ or src/argo/ under the repository). */
function schemaPath(): string {
  for (let dir = dirname(new URL(import.meta.url).pathname); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, SCHEMA_FILE);
    if (existsSync(file)) return file;
  }
  throw new Error(`Argo's workflow schema (${SCHEMA_FILE}) is missing from this installation`);
}

/** Argo's definitions with unknown fields refused and Kubernetes' loose scalars allowed. */
function strictDefinitions(definitions: Record<string, Schema>): Record<string, Schema> {
  const scalar = { type: ['string', 'number', 'boolean'] };
  for (const def of Object.values(definitions)) {
    if (def.properties !== undefined && def.additionalProperties === undefined) def.additionalProperties = false;
  }
  definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = { type: ['string', 'integer'] };
  const param = definitions['io.argoproj.workflow.v1alpha1.Parameter']!.properties as Record<string, Schema>;
  for (const name of ['value', 'default']) param[name] = { ...param[name], ...scalar };
  param.enum = { type: 'array', items: scalar };
  const valueFrom = definitions['io.argoproj.workflow.v1alpha1.ValueFrom']!.properties as Record<string, Schema>;
  valueFrom.default = { ...valueFrom.default, ...scalar };
  return definitions;
}

function validator(): ValidateFunction {
  if (!compiled) {
    const schema = JSON.parse(readFileSync(schemaPath(), 'utf8')) as { definitions: Record<string, Schema> };
    // Compiling Argo's whole schema is ww argo's largest start-up cost (seconds): references kept as
    // calls and the generated code left unoptimised compile in under half the time (bench/argo.ts).
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true, inlineRefs: false, code: { optimize: false } });
    compiled = ajv.compile({ $ref: `#/definitions/${WORKFLOW}`, definitions: strictDefinitions(schema.definitions) });
  }
  return compiled;
}

/** One schema violation: the JSON path of the offending value (as keys) and what is wrong. */
export interface SchemaViolation {
  path: (string | number)[];
  message: string;
}

/** Validates a parsed document as an Argo Workflow; returns the first violation, or undefined. */
export function validateWorkflow(doc: unknown): SchemaViolation | undefined {
  const validate = validator();
  if (validate(doc)) return undefined;
  return describe(pickError(validate.errors ?? []));
}

/** The most useful of ajv's errors: an unknown field first, then the deepest. */
function pickError(errors: ErrorObject[]): ErrorObject {
  const unknown = errors.find((e) => e.keyword === 'additionalProperties');
  if (unknown) return unknown;
  return [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)[0]!;
}

function describe(error: ErrorObject): SchemaViolation {
  const path: (string | number)[] = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  switch (error.keyword) {
    case 'additionalProperties': {
      const field = String((error.params as { additionalProperty: string }).additionalProperty);
      return { path: [...path, field], message: `unknown field '${field}'` };
    }
    case 'required':
      return { path, message: `missing required field '${(error.params as { missingProperty: string }).missingProperty}'` };
    case 'type':
      return { path, message: `must be ${(error.params as { type: string | string[] }).type.toString().replace(/,/g, ' or ')}` };
    case 'const':
      return { path, message: `must be '${String((error.params as { allowedValue: unknown }).allowedValue)}'` };
    default:
      return { path, message: error.message ?? 'does not match the schema' };
  }
}
