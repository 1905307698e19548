// The step syntax: what `plugin: {ww: {...}}` may say, checked and turned into a StepSpec the runner
// spawns. A step that cannot run (a bad field, an image name) is a StepError: the node fails with its
// message (a Failed phase, which Argo's retryStrategy sees), not an HTTP error.
import { posix } from 'node:path';
import { entrypoint, ImageMap } from '../argo/images.js';
import type { ArgoTemplate } from './contract.js';

/** Bounds of one step's spec: what a workflow author can make the gateway hold per task. */
export const STEP_BOUNDS = { args: 1024, env: 256, outputParameters: 64, outputDirs: 16 } as const;

/** A module by path or content ID; `argv0` when it stands for a container image (the image's entrypoint, e.g. `sh`). */
export type ModuleRef = { kind: 'path'; path: string; image?: string; argv0?: string } | { kind: 'cid'; cid: string };

export interface StepLimits {
  maxMemoryBytes?: number;
  fuel?: number;
  timeoutMs?: number;
}

export interface OutputParameter {
  name: string;
  /** Where the guest writes it (Argo's valueFrom.path), absolute in the guest's view. */
  path: string;
  /** valueFrom.default: the value when the file is missing. */
  default?: string;
}

export interface StepSpec {
  module: ModuleRef;
  args: string[];
  env: Record<string, string>;
  limits: StepLimits;
  /** `auto`, a peer ID or a prefix of one; undefined: the gateway's own node. */
  peer?: string;
  outputs: OutputParameter[];
  /** The distinct directories of `outputs`' paths, each pre-opened empty for the guest. */
  outputDirs: string[];
}

/** A step that cannot run as written: the node fails with this message. */
export class StepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepError';
  }
}

const FIELDS = new Set(['module', 'args', 'env', 'limits', 'peer']);
const LIMIT_FIELDS = new Set(['maxMemory', 'fuel', 'timeout']);

/** Reads the plugin body and the template's output parameters; throws StepError. */
export function parseStep(body: unknown, template: ArgoTemplate): StepSpec {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new StepError('plugin.ww must be an object with at least `module`');
  const spec = body as Record<string, unknown>;
  const unknown = Object.keys(spec).filter((k) => !FIELDS.has(k));
  if (unknown.length > 0) throw new StepError(`plugin.ww has unknown field ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${[...FIELDS].join(', ')})`);
  const step: StepSpec = {
    module: moduleRef(spec.module),
    args: stringList(spec.args, 'plugin.ww.args', STEP_BOUNDS.args),
    env: stringMap(spec.env, 'plugin.ww.env', STEP_BOUNDS.env),
    limits: limits(spec.limits),
    outputs: [],
    outputDirs: [],
  };
  if (spec.peer !== undefined) {
    if (typeof spec.peer !== 'string' || spec.peer === '') throw new StepError('plugin.ww.peer must be `auto` or a peer ID');
    step.peer = spec.peer;
  }
  const params = template.outputs?.parameters ?? [];
  if (params.length > STEP_BOUNDS.outputParameters) throw new StepError(`at most ${STEP_BOUNDS.outputParameters} output parameters per step (${params.length} given)`);
  for (const p of params) {
    const path = p.valueFrom?.path;
    if (path === undefined) throw new StepError(`output parameter '${p.name}': a ww step gives parameters from files only (valueFrom.path)`);
    if (typeof path !== 'string' || !posix.isAbsolute(path) || posix.normalize(path) !== path || path.endsWith('/')) {
      throw new StepError(`output parameter '${p.name}': valueFrom.path must be an absolute, normalised file path (got ${JSON.stringify(path)})`);
    }
    const fallback = p.valueFrom?.default;
    step.outputs.push({ name: p.name, path, ...(typeof fallback === 'string' ? { default: fallback } : {}) });
  }
  step.outputDirs = [...new Set(step.outputs.map((o) => posix.dirname(o.path)))];
  if (step.outputDirs.length > STEP_BOUNDS.outputDirs) throw new StepError(`output parameters may sit in at most ${STEP_BOUNDS.outputDirs} directories`);
  return step;
}

/** `cid:<sha256 hex>`, a path to a .wasm file, or a container image that ww's image map has a Wasm
 *  module for (busybox, alpine, argosay: src/argo/images.ts, the engine's one map). */
function moduleRef(value: unknown): ModuleRef {
  if (typeof value !== 'string' || value === '') throw new StepError('plugin.ww.module is required: a .wasm path, cid:<sha256> or a mapped image (busybox, alpine, argoproj/argosay)');
  if (value.startsWith('cid:')) {
    const cid = value.slice(4);
    if (!/^[0-9a-f]{64}$/.test(cid)) throw new StepError(`plugin.ww.module '${value}': a content ID is cid: and 64 lowercase hex digits (sha256)`);
    return { kind: 'cid', cid };
  }
  if (value.endsWith('.wasm') || value.startsWith('/') || value.startsWith('./') || value.startsWith('../')) return { kind: 'path', path: value };
  const entry = ImageMap.defaults().resolve(value);
  if (!entry || entry.module.startsWith('cid:')) {
    throw new StepError(`plugin.ww.module '${value}' is a container image with no Wasm module mapped (ww maps busybox, alpine:* and argoproj/argosay): give a .wasm path or cid:<sha256>`);
  }
  return { kind: 'path', path: entry.module, image: value, argv0: entrypoint(entry) };
}

function stringList(value: unknown, where: string, max: number): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new StepError(`${where} must be a list`);
  if (value.length > max) throw new StepError(`${where}: at most ${max} entries`);
  return value.map((v, i) => scalar(v, `${where}[${i}]`));
}

function stringMap(value: unknown, where: string, max: number): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new StepError(`${where} must be a map of names to values`);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > max) throw new StepError(`${where}: at most ${max} entries`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k === '' || k.includes('=')) throw new StepError(`${where}: '${k}' is not a variable name`);
    out[k] = scalar(v, `${where}.${k}`);
  }
  return out;
}

/** Argo substitutes parameters as text; numbers and booleans in YAML are taken as their text. */
function scalar(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new StepError(`${where} must be a string`);
}

function limits(value: unknown): StepLimits {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new StepError('plugin.ww.limits must be a map');
  const given = value as Record<string, unknown>;
  const unknown = Object.keys(given).filter((k) => !LIMIT_FIELDS.has(k));
  if (unknown.length > 0) throw new StepError(`plugin.ww.limits has unknown field '${unknown[0]}' (known: ${[...LIMIT_FIELDS].join(', ')})`);
  const out: StepLimits = {};
  if (given.maxMemory !== undefined) out.maxMemoryBytes = size(given.maxMemory);
  if (given.fuel !== undefined) {
    if (typeof given.fuel !== 'number' || !Number.isSafeInteger(given.fuel) || given.fuel <= 0) throw new StepError('plugin.ww.limits.fuel must be a positive integer');
    out.fuel = given.fuel;
  }
  if (given.timeout !== undefined) out.timeoutMs = duration(given.timeout);
  return out;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

/** Bytes, as a number or Kubernetes/ww style text (`64Mi`, `64MiB`, `1G`). */
function size(value: unknown): number {
  const m = typeof value === 'number' ? [String(value), String(value), ''] : typeof value === 'string' ? /^(\d+)\s*([a-zA-Z]*)$/.exec(value.trim()) : null;
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) <= 0) throw new StepError(`plugin.ww.limits.maxMemory ${JSON.stringify(value)} is not a size (e.g. 64Mi, 1G, or bytes)`);
  return Number(m[1]) * unit;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, as a number or a Go-style duration (`30s`, `1m30s`, `500ms`). */
function duration(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return Math.round(value);
  if (typeof value === 'string' && /^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) {
    let total = 0;
    for (const part of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(part[1]) * DURATION_UNITS[part[2]!]!;
    if (total > 0) return Math.round(total);
  }
  throw new StepError(`plugin.ww.limits.timeout ${JSON.stringify(value)} is not a duration (e.g. 30s, 2m, 500ms, or milliseconds)`);
}
