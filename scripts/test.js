#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's test runner.
// Usage: node scripts/test.js [--list] [filter...]
//   A filter picks the files whose path contains it. It may name the source (test/cli/units.test.ts,
//   ./test/cli/, test/cli/units) as well as the compiled file (dist/test/cli/units.test.js).
//   --list prints the files that would run, one a line, and runs nothing.
//   cluster-tests/ (real peers in network namespaces, as root) run only when a filter names them:
//   `npm run test:cluster`.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** A filter as a substring of a path under dist/: a source path's `.ts` becomes the compiled `.js`. */
function compiledFilter(filter) {
  let path = filter;
  if (path.startsWith('/')) path = relative(process.cwd(), resolve(path)); // an absolute path in the repository
  path = path.replace(/^(\.\/)+/, '').replace(/^dist\//, '');
  return path.replace(/\.(mts|ts)$/, '.js');
}

const args = process.argv.slice(2);
const list = args.includes('--list');
const given = args.filter((a) => a !== '--list');
const filters = given.map(compiledFilter);
const files = walk('dist', [])
  .sort()
  .filter((f) => (filters.length === 0 ? !f.startsWith(join('dist', 'cluster-tests')) : filters.some((s) => f.slice('dist/'.length).includes(s))));
if (files.length === 0) {
  console.error(`no test files under dist/ match ${given.join(' ') || 'anything'} (did \`tsc -p .\` run?)`);
  process.exit(1);
}
if (list) {
  for (const f of files) console.log(f);
  process.exit(0);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
