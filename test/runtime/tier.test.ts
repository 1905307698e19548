// How guest code is compiled (RuntimeOptions.tier, src/wasm/tier.ts), seen through V8's own trace of
// each function it compiles (--trace-wasm-compilation-times, in a child process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assemble } from '../../fixtures/wat.js';
import { effectiveTier } from '../../src/wasm/index.js';

const FUNCTIONS = 12;

/** The guest: _start calls FUNCTIONS small functions once each. */
async function guestBytes(): Promise<Uint8Array> {
  const fns = Array.from({ length: FUNCTIONS }, (_, i) => `(func $f${i} (result i32) (i32.add (i32.const ${i}) (i32.const 1)))`).join('\n');
  const calls = Array.from({ length: FUNCTIONS }, (_, i) => `(drop (call $f${i}))`).join(' ');
  return assemble(`(module (memory (export "memory") 1) ${fns} (func (export "_start") ${calls}))`);
}

/** Compiles and runs the guest in a fresh process with `tier` and `nodeFlags`; how many of its functions V8 compiled with each compiler. */
function compiledBy(tier: string, bytes: Uint8Array, nodeFlags: string[] = []): { liftoff: number; turbofan: number; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ww-tier-'));
  try {
    const path = join(dir, 'guest.wasm');
    writeFileSync(path, bytes);
    const script = join(dir, 'run.mjs');
    writeFileSync(
      script,
      `import { readFileSync } from 'node:fs';
       const { Runtime } = await import(${JSON.stringify(new URL('../../src/wasm/index.js', import.meta.url).href)});
       const rt = await Runtime.create({ poolSize: 1, instrument: false, tier: ${JSON.stringify(tier)} });
       const m = await rt.load(readFileSync(${JSON.stringify(path)}));
       await new Promise((r) => setTimeout(r, 1000)); // (V8 optimises in the background: let it finish)
       const status = await rt.spawn(m, { args: ['guest'] }).wait();
       await rt.close();
       console.log('status', status.code);`,
    );
    const r = spawnSync(process.execPath, [...nodeFlags, '--trace-wasm-compilation-times', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // Each line names the module (its native module's address): the guest's is the one with FUNCTIONS + 1 functions.
    const byModule = new Map<string, { liftoff: Set<string>; turbofan: Set<string> }>();
    for (const m of r.stdout.matchAll(/Compiled function (0x[0-9a-f]+)#(\d+) using (Liftoff|TurboFan)/g)) {
      const entry = byModule.get(m[1]) ?? { liftoff: new Set(), turbofan: new Set() };
      (m[3] === 'Liftoff' ? entry.liftoff : entry.turbofan).add(m[2]);
      byModule.set(m[1], entry);
    }
    const guest = [...byModule.values()].find((e) => new Set([...e.liftoff, ...e.turbofan]).size === FUNCTIONS + 1);
    return { liftoff: guest?.liftoff.size ?? 0, turbofan: guest?.turbofan.size ?? 0, out: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("tier 'optimizing' has V8 compile every function of the guest with TurboFan; 'baseline' leaves cold ones to Liftoff", async () => {
  const bytes = await guestBytes();
  const baseline = compiledBy('baseline', bytes);
  assert.match(baseline.out, /status 0/);
  assert.ok(baseline.liftoff > 0 && baseline.turbofan < FUNCTIONS, `baseline: Liftoff ${baseline.liftoff}, TurboFan ${baseline.turbofan}`);
  const optimizing = compiledBy('optimizing', bytes);
  assert.match(optimizing.out, /status 0/);
  if (effectiveTier('optimizing') === 'optimizing') {
    assert.equal(optimizing.turbofan, FUNCTIONS + 1, `TurboFan compiled ${optimizing.turbofan} of ${FUNCTIONS + 1} functions`);
  } else {
    // V8 12 and 13 (Node 22, 24) do not take the switch reliably: ww says so, and uses V8's default.
    assert.ok(Number(process.versions.v8.split('.')[0]) >= 12);
    assert.ok(optimizing.turbofan < FUNCTIONS, `Node ${process.version}: TurboFan compiled ${optimizing.turbofan} functions`);
  }
});

test('a tiering flag on node\'s command line is left alone: --liftoff-only keeps TurboFan out even with tier \'optimizing\'', async () => {
  const r = compiledBy('optimizing', await guestBytes(), ['--liftoff-only']);
  assert.match(r.out, /status 0/);
  assert.equal(r.turbofan, 0);
  assert.ok(r.liftoff > 0);
});
