// The committed generated TypeScript matches what `npm run capnp` (scripts/capnp-gen.sh) produces now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
/** Folders that hold nothing but generated files (and a README): a file the generator no longer makes is stale too. */
const GENERATED_ONLY = ['src/capnp-gen', 'test/rpc/fixtures/gen'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile() && f !== 'README.md')
    .sort();
}

test('committed generated code (src/capnp-gen, test/rpc/fixtures/gen) is not stale', () => {
  const out = mkdtempSync(join(tmpdir(), 'ww-capnp-gen-'));
  try {
    execFileSync('bash', [join(root, 'scripts/capnp-gen.sh'), out], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const fresh = filesUnder(out);
    for (const dir of GENERATED_ONLY) {
      const made = fresh.filter((f) => f.startsWith(dir + '/')).map((f) => f.slice(dir.length + 1));
      assert.ok(made.length > 0, `the generator made nothing in ${dir}`);
      assert.deepEqual(filesUnder(join(root, dir)), made, `${dir} has other files than the schemas generate: run npm run capnp`);
    }
    for (const f of fresh) {
      const committed = join(root, f);
      assert.ok(existsSync(committed), `${f} is generated but not committed: run npm run capnp and commit the result`);
      assert.equal(readFileSync(committed, 'utf8'), readFileSync(join(out, f), 'utf8'), `${f} is stale: run npm run capnp and commit the result`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
