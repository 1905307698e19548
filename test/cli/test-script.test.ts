// scripts/test.js: a filter may name a test by its source path (test/cli/units.test.ts), as an editor
// or a shell's completion gives it, as well as by a substring of the compiled path.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { lines, repoRoot } from './helpers.js';

function testScript(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  // Without NODE_TEST_CONTEXT the inner test run reports as a run of its own, not to this one.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'test.js'), ...args], { cwd: repoRoot, encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('scripts/test.js', () => {
  test('a source path, ./-prefixed, absolute or compiled, picks that one test file', () => {
    for (const filter of ['test/cli/units.test.ts', './test/cli/units.test.ts', join(repoRoot, 'test', 'cli', 'units.test.ts'), 'dist/test/cli/units.test.js', 'test/cli/units']) {
      const r = testScript('--list', filter);
      assert.equal(r.status, 0, `${filter}: ${r.stderr}`);
      assert.deepEqual(lines(r.stdout), ['dist/test/cli/units.test.js'], filter);
    }
  });

  test('a folder picks the files under it only', () => {
    const r = testScript('--list', 'test/cli/');
    assert.equal(r.status, 0, r.stderr);
    const files = lines(r.stdout);
    assert.ok(files.includes('dist/test/cli/units.test.js'), r.stdout);
    for (const file of files) assert.ok(file.startsWith('dist/test/cli/'), file);
  });

  test('a filter matching nothing exits 1 and says so', () => {
    const r = testScript('--list', 'test/no-such.test.ts');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^no test files under dist\/ match test\/no-such\.test\.ts/);
  });

  test('given a source path it runs that test', () => {
    const r = testScript('test/cli/units.test.ts');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /splitting the ww run command line/);
    assert.doesNotMatch(r.stdout, /unknown commands/, 'another file ran too');
  });
});
