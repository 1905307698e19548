// Validation against Argo's own Workflow JSON Schema (workflow-schema.json, copied from
// argo-workflows v4.1.2 api/jsonschema/schema.json, draft 2020-12), made strict in two ways Argo's
// API server is strict and the published schema is not: an object's unknown field is an error (the
// schema leaves additionalProperties open), and the few fields Kubernetes reads as
// int-or-string / any-string (a retry limit, a parameter value) take YAML numbers and booleans too.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import standalone from 'ajv/dist/standalone/index.js';

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

// Compiling Argo's whole schema takes seconds (it is most of a one-step run's time), so the code ajv
// generates is kept in the cache directory, named by a hash of what it was made from, and loaded as a
// function (about 0.2 s) by every later run.
const AJV_OPTIONS = { strict: false, validateFormats: false, allErrors: true, inlineRefs: false, code: { optimize: false, source: true, esm: false } } as const;

function validator(cacheDir?: string): ValidateFunction {
  if (compiled) return compiled;
  const text = readFileSync(schemaPath(), 'utf8');
  const key = createHash('sha256').update(text).update(JSON.stringify(AJV_OPTIONS)).update(strictDefinitions.toString()).digest('hex').slice(0, 32);
  const cached = cacheDir ? join(cacheDir, `argo-schema-${key}.js`) : undefined;
  if (cached && existsSync(cached)) {
    try {
      compiled = load(readFileSync(cached, 'utf8'));
      return compiled;
    } catch {
      // a damaged cache file: compile again below and replace it
    }
  }
  const schema = JSON.parse(text) as { definitions: Record<string, Schema> };
  const ajv = new Ajv2020(AJV_OPTIONS);
  const fresh = ajv.compile({ $ref: `#/definitions/${WORKFLOW}`, definitions: strictDefinitions(schema.definitions) });
  compiled = fresh;
  if (cached) {
    try {
      mkdirSync(cacheDir!, { recursive: true, mode: 0o700 });
      const tmp = `${cached}.${process.pid}.tmp`;
      writeFileSync(tmp, standalone.default(ajv, fresh), { mode: 0o600 });
      renameSync(tmp, cached);
    } catch {
      // no cache this time; the next run compiles again
    }
  }
  return compiled;
}

/** The standalone validator ajv generated (CommonJS text that requires nothing) as a function. */
function load(code: string): ValidateFunction {
  const module = { exports: {} as unknown };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- ajv's own generated code, from ww's cache
  new Function('module', 'exports', code)(module, module.exports);
  const fn = (module.exports as { default?: unknown }).default ?? module.exports;
  if (typeof fn !== 'function') throw new Error('not a validator');
  return fn as ValidateFunction;
}

/** One schema violation: the JSON path of the offending value (as keys) and what is wrong. */
export interface SchemaViolation {
  path: (string | number)[];
  message: string;
}

/** Validates a parsed document as an Argo Workflow; returns the first violation, or undefined.
 *  `cacheDir`: where the compiled validator is kept across runs (none: compiled in memory). */
export function validateWorkflow(doc: unknown, cacheDir?: string): SchemaViolation | undefined {
  const validate = validator(cacheDir);
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
