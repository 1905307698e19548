// runLocal: one module in this Node process with a private executor (`ww run` without a node),
// the guest spawning children, linking and collecting results over channels.
import { test } from 'node:test';
import { match, strictEqual } from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reasonText, runLocal } from '../../src/executor/index.js';
import { repoRoot } from '../executor/helpers.js';

test('runLocal runs examples/tree: the parent spawns 3 children and collects their results', async () => {
  const run = await runLocal({
    module: new Uint8Array(readFileSync(join(repoRoot(), 'examples', 'tree', 'tree.wasm'))),
    argv: ['tree.wasm', '3'],
    stdin: new Uint8Array(0),
    stdout: 'capture',
    stderr: 'capture',
  });
  try {
    const s = await run.wait();
    const out = new TextDecoder().decode(s.stdout);
    strictEqual(reasonText(s.reason), 'normal', new TextDecoder().decode(s.stderr));
    match(out, new RegExp(`^parent ${run.pid}: spawned 3 children, linked to each\n`));
    match(out, /child 2 \(pid \d+\): fib\(12\) = 144\n/);
    match(out, /3 results; 3 of 3 children ended normally\n$/);
  } finally {
    await run.close();
  }
});

test('runLocal rejects bytes that are not a module, with the loader\'s message', async () => {
  const { rejects } = await import('node:assert/strict');
  await rejects(runLocal({ module: new Uint8Array([1, 2, 3]), argv: ['x'] }), { name: 'ExecutorError', code: 'invalid-module', message: /not a WebAssembly binary/ });
});
