// RuntimeOptions.guestCompiler: 'optimizing' makes every guest module compiled from then on TurboFan
// code, 'tiered' (the default) leaves V8's own tiers. V8's flags are the whole process's, so each case
// runs in a child process, which asks V8 (natives syntax) which tier a module compiled after the
// runtime's first guest compile is in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { guest } from '../../fixtures/wat.js';

const runtimeIndex = fileURLToPath(new URL('../../src/wasm/index.js', import.meta.url));

async function tierAfterFirstCompile(compiler: 'tiered' | 'optimizing' | undefined): Promise<{ output: string; liftoff: boolean; turbofan: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'ww-guest-compiler-'));
  try {
    writeFileSync(join(dir, 'hello.wasm'), await guest('hello'));
    const script = join(dir, 'probe.mjs');
    writeFileSync(
      script,
      `import { readFileSync } from 'node:fs';
       const { Runtime } = await import(${JSON.stringify(runtimeIndex)});
       const rt = await Runtime.create({ poolSize: 1${compiler ? `, guestCompiler: '${compiler}'` : ''} });
       const status = await rt.spawn(await rt.load(readFileSync(${JSON.stringify(join(dir, 'hello.wasm'))})), { args: ['hello'], stdout: 'capture' }).wait();
       await rt.close();
       // (module (func (export "f") (result i32) i32.const 7)), compiled after the runtime's first guest compile
       const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,5,1,96,0,1,127,3,2,1,0,7,5,1,1,102,0,0,10,6,1,4,0,65,7,11]);
       const f = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.f;
       f();
       console.log(JSON.stringify({ output: new TextDecoder().decode(status.stdout), liftoff: %IsLiftoffFunction(f), turbofan: %IsTurboFanFunction(f) }));`,
    );
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', script], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { output: string; liftoff: boolean; turbofan: boolean };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("guestCompiler 'optimizing': guests run, and modules compiled from the first guest compile on are TurboFan code", async () => {
  const optimizing = await tierAfterFirstCompile('optimizing');
  assert.equal(optimizing.output, 'hello, world\n');
  assert.deepEqual([optimizing.liftoff, optimizing.turbofan], [false, true]);
});

test("guestCompiler 'tiered' and the default leave V8's tiers: a fresh module starts in Liftoff", async () => {
  for (const compiler of ['tiered', undefined] as const) {
    const tiered = await tierAfterFirstCompile(compiler);
    assert.equal(tiered.output, 'hello, world\n');
    assert.deepEqual([tiered.liftoff, tiered.turbofan], [true, false], String(compiler));
  }
});
