// The committed generated TypeScript matches what `npm run capnp` produces from capnp/*.capnp now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

test('committed generated code in src/capnp-gen is not stale', () => {
  const out = mkdtempSync(join(tmpdir(), 'ww-capnp-gen-'));
  try {
    execFileSync('bash', [join(root, 'scripts/capnp-gen.sh'), out], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const fresh = readdirSync(out).sort();
    const committed = readdirSync(join(root, 'src/capnp-gen')).filter((f) => f.endsWith('.ts')).sort();
    assert.deepEqual(committed, fresh, 'src/capnp-gen has different files than the schemas generate: run npm run capnp');
    for (const f of fresh) {
      const want = readFileSync(join(out, f), 'utf8');
      const have = readFileSync(join(root, 'src/capnp-gen', f), 'utf8');
      assert.equal(have, want, `src/capnp-gen/${f} is stale: run npm run capnp and commit the result`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
