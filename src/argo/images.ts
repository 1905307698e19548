// The image map (a container image name → the Wasm module that plays it) and stepSpawn, the one
// mapping of a container or script step to a spawn: argv, env and the directories the step needs
// pre-opened. `ww argo run` and `ww gateway` share stepSpawn.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ArgoError } from './errors.js';
import type { Template } from './model.js';

/** How a module reads its argv when a step gives no command: as a POSIX shell (busybox, alpine),
 *  as Argo's argosay test image, or as a plain program (argv exactly the step's command and args). */
export type ImageKind = 'shell' | 'argosay' | 'plain';

export interface ImageEntry {
  /** A path to a .wasm file, or `cid:...` (a module already in a node's cache). */
  module: string;
  kind: ImageKind;
}

/** The modules the defaults point at, relative to ww's installation. */
const SHELL_MODULE = 'examples/argo-images/sh/sh.wasm';
const ARGOSAY_MODULE = 'examples/argo-images/argosay/argosay.wasm';

/** Where a step's script is written (Argo's executor uses the same place). */
export const SCRIPT_DIR = '/argo/staging';
export const SCRIPT_PATH = `${SCRIPT_DIR}/script`;

/** Images by name; a name may end in `*` (`alpine:*`). Exact names win over patterns, then the
 *  longest pattern; later entries replace earlier ones of the same name. */
export class ImageMap {
  private readonly entries = new Map<string, ImageEntry>();

  /** ww's defaults: busybox, alpine and argosay:v1 as the Wasm shell, argosay:v2 as the Wasm argosay. */
  static defaults(): ImageMap {
    const map = new ImageMap();
    const root = installRoot();
    const shell = join(root, SHELL_MODULE);
    const argosay = join(root, ARGOSAY_MODULE);
    for (const name of ['busybox', 'busybox:*', 'alpine', 'alpine:*']) map.set(name, { module: shell, kind: 'shell' });
    // argosay:v1 is an Ubuntu image with cowsay that steps call as `sh -c ...` or `cowsay ...`: the shell has both.
    map.set('argoproj/argosay:v1', { module: shell, kind: 'shell' });
    map.set('argoproj/argosay:v2', { module: argosay, kind: 'argosay' });
    return map;
  }

  set(name: string, entry: ImageEntry): this {
    this.entries.set(name, entry);
    return this;
  }

  resolve(image: string): ImageEntry | undefined {
    const exact = this.entries.get(image);
    if (exact) return exact;
    let best: [string, ImageEntry] | undefined;
    for (const [name, entry] of this.entries) {
      if (!name.endsWith('*') || !image.startsWith(name.slice(0, -1))) continue;
      if (!best || name.length > best[0].length) best = [name, entry];
    }
    return best?.[1];
  }

  /** `NAME=MODULE` or `NAME=KIND:MODULE` (KIND shell, argosay or plain; default: the kind NAME has
   *  among the defaults, else plain). A relative MODULE is relative to `base`. */
  add(spec: string, base = process.cwd(), from = '--image'): this {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new ArgoError('image', `${from} '${spec}' must be NAME=MODULE (e.g. python:3=./python.wasm)`);
    const name = spec.slice(0, eq);
    let module = spec.slice(eq + 1);
    let kind: ImageKind | undefined;
    const m = /^(shell|argosay|plain):(.+)$/.exec(module);
    if (m && !module.startsWith('cid:')) {
      kind = m[1] as ImageKind;
      module = m[2]!;
    }
    kind ??= this.resolve(name)?.kind ?? 'plain';
    this.set(name, { module: module.startsWith('cid:') ? module : resolve(base, module), kind });
    return this;
  }

  /** A map file: JSON or YAML, `{NAME: MODULE}` or `{NAME: {module, kind}}`; paths relative to the file. */
  addFile(file: string): this {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ArgoError('image', `--image-map ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text); // YAML is a superset of JSON
    } catch (err) {
      throw new ArgoError('image', `--image-map ${file}: not JSON or YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ArgoError('image', `--image-map ${file}: must be a map of image name to module`);
    for (const [name, value] of Object.entries(doc)) {
      if (typeof value === 'string') this.add(`${name}=${value}`, dirname(resolve(file)), `--image-map ${file}:`);
      else if (value !== null && typeof value === 'object' && typeof (value as ImageEntry).module === 'string') {
        const kind = (value as { kind?: unknown }).kind ?? 'plain';
        if (kind !== 'shell' && kind !== 'argosay' && kind !== 'plain') throw new ArgoError('image', `--image-map ${file}: ${name}: kind must be shell, argosay or plain`);
        this.add(`${name}=${kind}:${(value as ImageEntry).module}`, dirname(resolve(file)), `--image-map ${file}:`);
      } else throw new ArgoError('image', `--image-map ${file}: ${name}: give a module path, or {module, kind}`);
    }
    return this;
  }
}

/** The repository or package root ww runs from (the defaults' modules are relative to it). */
function installRoot(): string {
  for (let dir = dirname(new URL(import.meta.url).pathname); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  return process.cwd();
}

/** A step as a spawn: what to run with which argv, and which guest directories it needs. */
export interface StepSpawn {
  image: string;
  entry: ImageEntry;
  argv: string[];
  env: Record<string, string>;
  /** Guest directories to pre-open (scratch, read-write), none inside another. */
  mounts: string[];
  /** A script step's source, to be written at SCRIPT_PATH. */
  script?: string;
}

const SHELLS = new Set(['sh', 'bash', 'ash', 'dash']);

/** Maps a substituted container or script template to a spawn through `images`. Throws ArgoError
 *  'image' for an image nothing maps, naming how to map it. */
export function stepSpawn(template: Template, images: ImageMap): StepSpawn {
  const body = template.script ?? template.container;
  if (!body) throw new ArgoError('invalid', `template '${template.name}' has no container or script`);
  const image = body.image;
  if (!image) throw new ArgoError('invalid', `template '${template.name}' names no image`);
  const entry = images.resolve(image);
  if (!entry) {
    throw new ArgoError('image', `no Wasm module is mapped for image '${image}': map one with --image ${image}=MODULE.wasm (or an --image-map file)`);
  }
  let argv: string[];
  if (template.script) {
    argv = [...(body.command ?? defaultEntrypoint(entry)), SCRIPT_PATH, ...(body.args ?? [])];
  } else if (body.command && body.command.length > 0) {
    argv = [...body.command, ...(body.args ?? [])];
  } else {
    argv = [...defaultEntrypoint(entry), ...(body.args ?? [])];
  }
  const program = posix.basename(argv[0]!);
  // A shell image runs another program by name, as busybox's applets run (`command: [echo, hi]`).
  if (entry.kind === 'shell' && !SHELLS.has(program)) argv = ['sh', '-c', '"$@"', 'sh', ...argv];
  else if (entry.kind === 'argosay' && program === 'argosay') argv = ['argosay', ...argv.slice(1)];
  else argv = [program, ...argv.slice(1)];

  const env: Record<string, string> = {};
  for (const e of body.env ?? []) {
    if (e.value === undefined) throw new ArgoError('unsupported', `template '${template.name}': env ${e.name}: only value is supported (not valueFrom)`);
    env[e.name] = e.value;
  }
  const dirs = ['/tmp'];
  if (template.script) dirs.push(SCRIPT_DIR);
  for (const p of template.outputs?.parameters ?? []) if (p.valueFrom?.path) dirs.push(posix.dirname(p.valueFrom.path));
  for (const a of [...(template.outputs?.artifacts ?? []), ...(template.inputs?.artifacts ?? [])]) if (a.path) dirs.push(posix.dirname(a.path));
  return { image, entry, argv, env, mounts: outermost(dirs), ...(template.script ? { script: template.script.source } : {}) };
}

function defaultEntrypoint(entry: ImageEntry): string[] {
  return [entrypoint(entry)];
}

/** The program an image runs when a step names no command: argv[0] of its module. */
export function entrypoint(entry: ImageEntry): string {
  if (entry.kind === 'shell') return 'sh';
  if (entry.kind === 'argosay') return 'argosay';
  // A plain program run with args only: argv[0] is its module's name, as `ww run` gives it.
  return posix.basename(entry.module).replace(/\.wasm$/, '');
}

/** The directories, without those inside another of them. */
function outermost(dirs: string[]): string[] {
  const unique = [...new Set(dirs.map((d) => posix.normalize(d)))].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const d of unique) if (!kept.some((k) => k === '/' || d === k || d.startsWith(`${k}/`))) kept.push(d);
  return kept;
}

/** The mount that holds guest path `path`, and the path inside it. */
export function mountOf(mounts: readonly string[], path: string): { mount: string; rel: string } | undefined {
  const p = posix.normalize(path);
  for (const m of mounts) {
    if (m === '/') return { mount: m, rel: p.slice(1) };
    if (p === m || p.startsWith(`${m}/`)) return { mount: m, rel: p.slice(m.length + 1) };
  }
  return undefined;
}
