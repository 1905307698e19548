// The layer check: reads every import of the scanned folders with the TypeScript parser, resolves
// each to what it names (a repository path, a package, a node: builtin), and reports every import
// that a rule of rules.ts forbids. docs/ARCHITECTURE.md explains the layers the rules encode.

import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** One rule of the table in rules.ts. */
export interface LayerRule {
  /** Short name, shown with each violation. */
  name: string;
  /** Folders (or files) whose imports the rule governs, relative to the root; '.' is everything. */
  files: string[];
  /** Folders (or files) inside `files` that the rule leaves alone. */
  except?: string[];
  /** What those files must not import (see `Target` for the spelling). */
  forbid?: string[];
  /** If given, all that those files may import besides the rule's own `files`. */
  only?: string[];
  /** The reason, shown with each violation. */
  why: string;
}

/**
 * What an import names, spelled as rules spell their targets:
 * - a repository path, `src/wasm/binary.ts` (a rule's `src/wasm` matches it, as does the file itself);
 * - `node:fs` for a builtin (with or without the prefix in the source); `node:*` in a rule is any;
 * - `package:capnp-es` for a package (subpath dropped); `package:*` in a rule is any;
 * - `(outside)` for a relative path that leaves the root, `(computed)` for a specifier that is not
 *   a literal, so the check cannot see what it loads.
 */
export type Target = string;

export type ImportKind = 'import' | 'import type' | 'export from' | 'import()' | 'import type()' | 'require' | 'new URL' | 'reference';

export interface ImportRef {
  /** The importing file, relative to the root, with `/`. */
  file: string;
  line: number;
  kind: ImportKind;
  /** The specifier as written (a template literal's text for a computed one). */
  specifier: string;
  target: Target;
}

export interface Violation {
  ref: ImportRef;
  rule: LayerRule;
}

const SOURCE = /\.(?:ts|mts|cts|tsx|js|mjs|cjs)$/;
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git']);

/** Every source file under the given folders of `root` (folders that do not exist are skipped). */
export function sourceFiles(root: string, folders: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      // A link would let a file reach another folder under a name inside this one (and a loop never ends).
      if (lstatSync(p).isSymbolicLink()) throw new Error(`${toPosix(relative(root, p))} is a symbolic link: the layer check reads files where they are, so source folders hold none`);
      if (statSync(p).isDirectory()) {
        if (!SKIPPED_DIRS.has(name)) walk(p);
      } else if (SOURCE.test(name)) out.push(toPosix(relative(root, p)));
    }
  };
  for (const folder of folders) {
    const dir = join(root, folder);
    if (existsSync(dir) && statSync(dir).isDirectory()) walk(dir);
  }
  return out;
}

/** The imports of one file (`file` relative to `root`), every form the language has. */
export function importsOf(root: string, file: string): ImportRef[] {
  const text = readFileSync(join(root, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, scriptKind(file));
  const refs: ImportRef[] = [];
  const add = (node: ts.Node, kind: ImportKind, spec: ts.Expression | undefined) => {
    if (spec === undefined) return;
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    if (ts.isStringLiteral(spec) || ts.isNoSubstitutionTemplateLiteral(spec)) {
      refs.push({ file, line, kind, specifier: spec.text, target: resolveTarget(root, file, spec.text) });
    } else {
      // Anything else, `./${part}.js` included (a part may hold '../'), names what it loads only at run time.
      refs.push({ file, line, kind, specifier: spec.getText(source), target: '(computed)' });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const typeOnly = node.importClause?.isTypeOnly === true;
      add(node, typeOnly ? 'import type' : 'import', node.moduleSpecifier);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
      add(node, 'export from', node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, 'require', node.moduleReference.expression);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg)) add(node, 'import type()', arg.literal as ts.Expression);
    } else if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, 'import()', node.arguments[0]);
      else if (ts.isIdentifier(node.expression) && node.expression.text === 'require' && node.arguments.length === 1) {
        add(node, 'require', node.arguments[0]);
      }
    } else if (ts.isNewExpression(node) && isModuleUrl(node)) {
      // new URL('./worker.js', import.meta.url): a module a Worker will load.
      add(node, 'new URL', node.arguments?.[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  // /// <reference path="..." />: types from another file, named outside any statement.
  for (const ref of source.referencedFiles) {
    const line = source.getLineAndCharacterOfPosition(ref.pos).line + 1;
    refs.push({ file, line, kind: 'reference', specifier: ref.fileName, target: resolveTarget(root, file, ref.fileName.startsWith('.') ? ref.fileName : `./${ref.fileName}`) });
  }
  return refs;
}

/** `new URL('<something>.js', import.meta.url)`: how a file names a worker's entry module. */
function isModuleUrl(node: ts.NewExpression): boolean {
  const args = node.arguments;
  if (!ts.isIdentifier(node.expression) || node.expression.text !== 'URL' || args?.length !== 2) return false;
  const [spec, base] = args;
  return (
    (ts.isStringLiteral(spec) || ts.isNoSubstitutionTemplateLiteral(spec)) &&
    SOURCE.test(spec.text) &&
    ts.isPropertyAccessExpression(base) &&
    ts.isMetaProperty(base.expression) &&
    base.name.text === 'url'
  );
}

/** What `specifier`, imported from `file`, names (see `Target`). */
export function resolveTarget(root: string, file: string, specifier: string): Target {
  if (specifier.startsWith('.') || specifier.startsWith('/')) {
    const resolved = posix.normalize(posix.join(posix.dirname(file), specifier));
    if (specifier.startsWith('/') || resolved === '..' || resolved.startsWith('../')) return '(outside)';
    // Sources import their compiled name (./x.js); name the file that is really there (./x.ts).
    const stem = resolved.replace(/\.(m|c)?js$/, '');
    if (stem !== resolved) {
      for (const ext of ['.ts', '.mts', '.cts', '.tsx']) if (existsSync(join(root, stem + ext))) return stem + ext;
    }
    return resolved.replace(/\/$/, '');
  }
  if (specifier.startsWith('node:') || isBuiltin(specifier)) return `node:${specifier.replace(/^node:/, '').split('/')[0]}`;
  const parts = specifier.split('/');
  return `package:${specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]}`;
}

/** Does `target` fall under the rule target `pattern`? */
export function matches(target: Target, pattern: string): boolean {
  if (pattern === 'node:*') return target.startsWith('node:');
  if (pattern === 'package:*') return target.startsWith('package:');
  if (pattern === target) return true;
  if (/^(node|package):|^\(/.test(pattern)) return false;
  if (pattern === '.') return !/^(node|package):|^\(/.test(target);
  return target.startsWith(pattern + '/') || stripExt(target) === stripExt(pattern);
}

function governs(rule: LayerRule, file: string): boolean {
  return rule.files.some((f) => matches(file, f)) && !(rule.except ?? []).some((f) => matches(file, f));
}

/** The rules that `ref` breaks. */
export function broken(ref: ImportRef, rules: readonly LayerRule[]): LayerRule[] {
  return rules.filter((rule) => {
    if (!governs(rule, ref.file)) return false;
    if (rule.forbid?.some((p) => matches(ref.target, p))) return true;
    if (rule.only !== undefined) {
      const allowed = [...rule.files, ...rule.only];
      return !allowed.some((p) => matches(ref.target, p));
    }
    return false;
  });
}

/** Every import of every source file under `folders` of `root`, against `rules`. */
export function checkLayers(root: string, folders: readonly string[], rules: readonly LayerRule[]): { files: number; imports: number; violations: Violation[] } {
  const files = sourceFiles(root, folders);
  const violations: Violation[] = [];
  let imports = 0;
  for (const file of files) {
    for (const ref of importsOf(root, file)) {
      imports++;
      for (const rule of broken(ref, rules)) violations.push({ ref, rule });
    }
  }
  return { files: files.length, imports, violations };
}

/** One line: the file and line, the import as written and what it names, the rule and its reason. */
export function describe(v: Violation): string {
  const { ref, rule } = v;
  const names = ref.target === ref.specifier ? '' : ` (${ref.target})`;
  return `${ref.file}:${ref.line}: ${ref.kind} '${ref.specifier}'${names} breaks rule '${rule.name}': ${rule.why}`;
}

function stripExt(p: string): string {
  return p.replace(SOURCE, '');
}

function toPosix(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

function scriptKind(file: string): ts.ScriptKind {
  if (/\.(?:js|mjs|cjs)$/.test(file)) return ts.ScriptKind.JS;
  if (file.endsWith('.tsx')) return ts.ScriptKind.TSX;
  return ts.ScriptKind.TS;
}

/** The repository a module belongs to, from its URL (compiled tests run from dist/test/layers). */
export function repositoryRoot(fromUrl: string): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tsconfig.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json and tsconfig.json above ${fromUrl}`);
    dir = up;
  }
}
