// The committed generated TypeScript matches what `npm run capnp` produces from capnp/*.capnp now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

test('committed generated code (src/capnp-gen, test/rpc/fixtures/gen) is not stale', () => {
  const out = mkdtempSync(join(tmpdir(), 'ww-capnp-gen-'));
  const fixturesOut = mkdtempSync(join(tmpdir(), 'ww-capnp-gen-fixtures-'));
  try {
    execFileSync('bash', [join(root, 'scripts/capnp-gen.sh'), out, fixturesOut], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const fresh = readdirSync(out).sort();
    const committed = readdirSync(join(root, 'src/capnp-gen')).filter((f) => f.endsWith('.ts')).sort();
    assert.deepEqual(committed, fresh, 'src/capnp-gen has different files than the schemas generate: run npm run capnp');
    for (const f of fresh) {
      const want = readFileSync(join(out, f), 'utf8');
      const have = readFileSync(join(root, 'src/capnp-gen', f), 'utf8');
      assert.equal(have, want, `src/capnp-gen/${f} is stale: run npm run capnp and commit the result`);
    }
    for (const f of readdirSync(fixturesOut)) {
      const want = readFileSync(join(fixturesOut, f), 'utf8');
      const have = readFileSync(join(root, 'test/rpc/fixtures/gen', f), 'utf8');
      assert.equal(have, want, `test/rpc/fixtures/gen/${f} is stale: run npm run capnp and commit the result`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(fixturesOut, { recursive: true, force: true });
  }
});
