// The layer rules hold for every import in the repository, and the checker finds a broken one in
// every form an import can take (so a green run means the rules hold, not that nothing was read).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, describe as suite, test } from 'node:test';
import { checkLayers, describe, importsOf, repositoryRoot, sourceFiles, type LayerRule, type Violation } from './check.js';
import { LAYER_RULES, SCANNED_FOLDERS } from './rules.js';

const root = repositoryRoot(import.meta.url);

test('every import in the repository keeps the layer rules', () => {
  const { violations } = checkLayers(root, SCANNED_FOLDERS, LAYER_RULES);
  if (violations.length > 0) {
    assert.fail(`${violations.length} imports break the layer rules (test/layers/rules.ts; docs/ARCHITECTURE.md says why):\n${violations.map(describe).join('\n')}`);
  }
});

test('the repository scan reads the layers it guards', () => {
  const files = sourceFiles(root, SCANNED_FOLDERS);
  for (const known of ['src/rpc/conn.ts', 'src/wasm/runtime.ts', 'src/executor/table.ts', 'cli/main.ts', 'bench/run.ts', 'test/layers/rules.ts']) {
    assert.ok(files.includes(known), `${known} was not scanned`);
  }
  assert.ok(!files.some((f) => f.includes('node_modules/') || f.startsWith('dist/')), 'node_modules or dist was scanned');
  const runtime = importsOf(root, 'src/wasm/runtime.ts');
  assert.ok(runtime.length > 0, 'src/wasm/runtime.ts has no imports: the parser read nothing');
});

suite('the checker', () => {
  const made: string[] = [];
  after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** A throwaway repository with the given files (path -> text). */
  function tree(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'ww-layers-'));
    made.push(dir);
    for (const [path, text] of Object.entries({ 'package.json': '{}', 'tsconfig.json': '{}', ...files })) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  }

  const rpcAlone = LAYER_RULES.find((r) => r.name === 'rpc-stands-alone')!;

  test('finds a forbidden import in every form and names the file, the line, the import and the rule', () => {
    const dir = tree({
      'src/wasm/index.ts': 'export const x = 1; export type T = number;\n',
      'src/rpc/forms.ts': [
        "/// <reference path=\"../wasm/index.ts\" />",
        "import { x } from '../wasm/index.js';",
        "import type { T } from '../wasm/index.js';",
        "export { x as y } from '../wasm/index.js';",
        "export * from '../wasm/index.js';",
        "const m = await import('../wasm/index.js');",
        "let t: import('../wasm/index.js').T;",
        "import e = require('../wasm/index.js');",
        "const w = new URL('../wasm/index.js', import.meta.url);",
        // Text that only looks like an import is not one.
        "const s = `import { x } from '../wasm/index.js'`; // import '../wasm/index.js'",
      ].join('\n'),
    });
    const { violations } = checkLayers(dir, ['src'], [rpcAlone]);
    const seen = violations.map((v) => [v.ref.line, v.ref.kind, v.ref.target]);
    assert.deepEqual(seen, [
      [2, 'import', 'src/wasm/index.ts'],
      [3, 'import type', 'src/wasm/index.ts'],
      [4, 'export from', 'src/wasm/index.ts'],
      [5, 'export from', 'src/wasm/index.ts'],
      [6, 'import()', 'src/wasm/index.ts'],
      [7, 'import type()', 'src/wasm/index.ts'],
      [8, 'require', 'src/wasm/index.ts'],
      [9, 'new URL', 'src/wasm/index.ts'],
      [1, 'reference', 'src/wasm/index.ts'],
    ]);
    assert.equal(
      describe(violations[0]!),
      "src/rpc/forms.ts:2: import '../wasm/index.js' (src/wasm/index.ts) breaks rule 'rpc-stands-alone': " + rpcAlone.why,
    );
  });

  test('allows what the rules allow: own files, node builtins, the layers below', () => {
    const dir = tree({
      'src/rpc/a.ts': "import { b } from './b.js'; import { randomBytes } from 'node:crypto'; import 'fs';\n",
      'src/rpc/b.ts': 'export const b = 1;\n',
      'src/rpc/transport/tcp.ts': "import '../b.js'; import 'node:net';\n",
      'src/executor/e.ts': "import '../wasm/index.js'; import '../rpc/a.js'; import '../capnp-gen/ww.rpc.js';\n",
      'src/wasm/index.ts': "import type binaryen from 'binaryen';\n",
      'test/t.ts': "import '../src/rpc/a.js'; import '../cli/main.js'; import 'typescript';\n",
    });
    assert.deepEqual(checkLayers(dir, SCANNED_FOLDERS, LAYER_RULES).violations.map(describe), []);
  });

  test('tolerates folders that do not exist', () => {
    const dir = tree({ 'src/rpc/a.ts': "import 'node:net';\n" });
    const result = checkLayers(dir, ['src', 'tools', 'fixtures', 'no-such-folder'], LAYER_RULES);
    assert.equal(result.files, 1);
    assert.equal(result.imports, 1);
  });

  test('a relative import that leaves the repository is a violation, even from test/', () => {
    const dir = tree({ 'test/a.ts': "import '../../elsewhere/interop.js';\n" });
    const [v, ...rest] = checkLayers(dir, ['test'], LAYER_RULES).violations;
    assert.equal(rest.length, 0);
    assert.equal(v!.ref.target, '(outside)');
    assert.equal(v!.rule.name, 'stands-alone');
  });

  test('an import computed at run time (a template with a part, a variable, createRequire) is flagged', () => {
    const dir = tree({
      'bench/run.ts': 'const p = "../test/x"; await import(`./${p}.js`);\n',
      'src/rpc/a.ts': 'const p = "x"; await import(p);\n',
      'src/wasm/b.ts': "import { createRequire } from 'node:module';\ncreateRequire(import.meta.url)('../executor/index.js');\n",
    });
    const seen = checkLayers(dir, ['bench', 'src'], LAYER_RULES).violations.map((v) => [v.ref.file, v.ref.target, v.rule.name]);
    assert.deepEqual(seen, [
      ['bench/run.ts', '(computed)', 'imports-are-visible'],
      ['src/rpc/a.ts', '(computed)', 'imports-are-visible'],
      ['src/rpc/a.ts', '(computed)', 'rpc-stands-alone'],
      ['src/wasm/b.ts', 'node:module', 'imports-are-visible'],
    ]);
  });

  test('a symbolic link in a source folder is refused (it could carry a file into another layer)', () => {
    const dir = tree({ 'src/executor/index.ts': 'export const x = 1;\n', 'src/wasm/a.ts': "import './ex/index.js';\n" });
    symlinkSync(join(dir, 'src', 'executor'), join(dir, 'src', 'wasm', 'ex'));
    assert.throws(() => checkLayers(dir, ['src'], LAYER_RULES), /src\/wasm\/ex is a symbolic link/);
  });

  // Each rule of the table, given an import it exists to refuse, refuses it: no rule is inert.
  for (const rule of LAYER_RULES) {
    test(`rule '${rule.name}' catches an import it forbids`, () => {
      const file = probeFile(rule);
      const target = rule.forbid?.[0] ?? 'package:a-package-no-rule-allows';
      const dir = tree({ [file]: importOf(file, target) });
      const found: Violation[] = checkLayers(dir, [file.split('/')[0]!], LAYER_RULES).violations;
      assert.ok(
        found.some((v) => v.rule === rule && v.ref.file === file),
        `${file} importing ${target} did not break '${rule.name}'; found: ${found.map(describe).join('; ') || 'nothing'}`,
      );
    });
  }
});

/** A file the rule governs: inside its first folder (or the file itself), not in an exception. */
function probeFile(rule: LayerRule): string {
  const scope = rule.files[0]!;
  if (/\.(ts|js)$/.test(scope)) return scope;
  if (scope !== '.') return `${scope}/probe.ts`;
  const folder = SCANNED_FOLDERS.find((f) => !(rule.except ?? []).includes(f))!;
  return `${folder}/probe.ts`;
}

/** Source text that imports `target` (spelled as rules spell it) from `file`. */
function importOf(file: string, target: string): string {
  if (target === '(computed)') return "const name = 'x';\nawait import(name);\n";
  if (target === '(outside)') return `import '${'../'.repeat(file.split('/').length)}elsewhere.js';\n`;
  if (target === 'node:*') return "import 'node:fs';\n";
  if (target.startsWith('node:')) return `import '${target}';\n`;
  if (target.startsWith('package:')) return `import '${target.slice('package:'.length).replace(/\/\*$/, '/x')}';\n`;
  const path = /\.(ts|js)$/.test(target) ? target.replace(/\.ts$/, '.js') : `${target}/index.js`;
  let spec = posix.relative(posix.dirname(file), path);
  if (!spec.startsWith('.')) spec = `./${spec}`;
  return `import '${spec}';\n`;
}
