// Linear memory reused between processes on a worker (process-worker.ts): never a byte of the
// previous process, never more pages than the module declares at start, never past its maximum;
// uninstrumented modules reuse memory too (their memory made an import at load: binary.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Runtime } from '../../src/wasm/index.js';
import { memoryAsImport } from '../../src/wasm/binary.js';
import type { CompiledModule } from '../../src/wasm/module.js';
import { Wasm } from '../../src/wasm/webassembly.js';
import { assemble, guest } from '../../fixtures/wat.js';

/** Writes three bytes: memory.size at start, the byte at 60000, and 1 if memory.grow(100) failed
 *  (past the declared maximum of 8 pages). Then leaves a secret (0xAB) at 60000; with a second
 *  argument it also grows its memory to 4 pages and writes a secret in the new pages. */
const SECRET_KEEPER = `(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 8)
  (func (export "_start")
    (i32.store8 (i32.const 64) (memory.size))
    (i32.store8 (i32.const 65) (i32.load8_u (i32.const 60000)))
    (i32.store8 (i32.const 66) (i32.eq (memory.grow (i32.const 100)) (i32.const -1)))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store8 (i32.const 60000) (i32.const 0xab))
    (drop (call $args_sizes (i32.const 16) (i32.const 20)))
    (if (i32.gt_u (i32.load (i32.const 16)) (i32.const 1))
      (then (drop (memory.grow (i32.const 3))) (i32.store8 (i32.const 200000) (i32.const 0xcd))))))`;

const configs = [
  { name: 'dedicated, instrumented', options: { instrument: true } },
  { name: 'dedicated, uninstrumented', options: { instrument: false } },
  { name: 'shared', options: { workers: 'shared' as const } },
];

for (const { name, options } of configs) {
  test(`a reused memory holds nothing of the previous process and is of the declared size (${name})`, async () => {
    // One worker: every process runs where the previous one left its memory.
    const rt = await Runtime.create({ poolSize: 1, maxWorkers: 1, ...options });
    try {
      const mod = (await rt.load(await assemble(SECRET_KEEPER))) as CompiledModule;
      assert.deepEqual(mod.importedMemory, { initial: 1, maximum: 8 }, 'the worker provides (and so reuses) its memory');
      if (name === 'shared') assert.ok(mod.suspendable, 'it runs on a shared worker');
      // plain, plain, grown, plain, plain: each must start as the first did
      for (const [i, args] of [['k'], ['k'], ['k', 'grow'], ['k'], ['k']].entries()) {
        const status = await rt.spawn(mod, { args, stdout: 'capture' }).wait();
        assert.equal(status.code, 0);
        assert.deepEqual([...status.stdout!], [1, 0, 1], `run ${i} (${args.join(' ')}): [memory.size at start, byte the previous run left, grow past max refused]`);
        assert.equal(status.memoryBytes, (args.length > 1 ? 4 : 1) * 65536);
      }
    } finally {
      await rt.close();
    }
  });
}

test('uninstrumented, a memory the module does not export stays its own (not provided, not reused)', async () => {
  const rt = await Runtime.create({ poolSize: 1, instrument: false });
  try {
    const hidden = (await rt.load(await assemble('(module (memory 1) (func (export "_start")))'))) as CompiledModule;
    assert.equal(hidden.importedMemory, undefined);
    assert.equal((await rt.spawn(hidden, { args: ['h'] }).wait()).code, 0);
  } finally {
    await rt.close();
  }
});

test('memoryAsImport: the defined memory becomes an import of the same limits, and the module runs the same', async () => {
  const hello = await guest('hello');
  const rewritten = memoryAsImport(hello, 'ww_meter', 'memory')!;
  const mod = new Wasm.Module(rewritten);
  assert.deepEqual(
    Wasm.Module.imports(mod).filter((i) => i.kind === 'memory'),
    [{ module: 'ww_meter', name: 'memory', kind: 'memory' }],
  );
  assert.deepEqual(Wasm.Module.exports(mod), Wasm.Module.exports(new Wasm.Module(hello)));
  // A module with no import section gets one; limits with a maximum are kept.
  const bare = memoryAsImport(await assemble('(module (memory (export "memory") 2 5) (func (export "_start")))'), 'm', 'f')!;
  const memory = new Wasm.Memory({ initial: 2, maximum: 5 });
  const instance = new Wasm.Instance(new Wasm.Module(bare), { m: { f: memory } });
  assert.equal(instance.exports.memory, memory);
  assert.throws(() => new Wasm.Instance(new Wasm.Module(bare), { m: { f: new Wasm.Memory({ initial: 2, maximum: 6 }) } }), /maximum/i);
  // Not of that form: no memory, a shared one.
  assert.equal(memoryAsImport(await assemble('(module (func (export "_start")))'), 'm', 'f'), undefined);
  const sharedMemory = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 4, 1, 3, 1, 1]); // (memory 1 1 shared)
  assert.equal(memoryAsImport(sharedMemory, 'm', 'f'), undefined);
});
