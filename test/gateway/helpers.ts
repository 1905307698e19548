// What the gateway tests share: guest modules written as files (a step's `module` is a path), a node
// in this process, and counting the processes a module's steps spawned (through the node's Admin ps).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble, guest, sleepThenDone } from '../../fixtures/wat.js';
import { connectNode, startNode, type WwNode } from '../../src/node/index.js';

/** Writes "hello from ww\n" to stdout and "world\n" to hello.txt in the directory pre-opened at fd 3
 *  (the output parameters' directory); exits 3 if there is none. */
export const STEP_WAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hello from ww\\n")
  (data (i32.const 200) "hello.txt")
  (data (i32.const 300) "world\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 14))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 9) (i32.const 9) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 16))
      (then (call $exit (i32.const 3))))
    (i32.store (i32.const 0) (i32.const 300)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $write (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

/** Assembles each guest under `dir` as NAME.wasm (one file name per test: spawns are counted by it). */
export async function writeGuests(dir: string): Promise<{ step: (name: string) => string; exit7: string; sleep: (ms: number, name: string) => Promise<string> }> {
  const stepBytes = await assemble(STEP_WAT, 'step.wat');
  const exit7 = join(dir, 'exit7.wasm');
  writeFileSync(exit7, await guest('exit7'));
  return {
    step: (name) => {
      const path = join(dir, `${name}.wasm`);
      writeFileSync(path, stepBytes);
      return path;
    },
    exit7,
    sleep: async (ms, name) => {
      const path = join(dir, `${name}.wasm`);
      writeFileSync(path, await assemble(sleepThenDone(ms), `${name}.wat`));
      return path;
    },
  };
}

export async function startTestNode(dir: string): Promise<WwNode> {
  return startNode({ socketPath: join(dir, 'node.sock') });
}

/** How many processes the node has run (live or recently ended) whose argv[0] is `argv0`. */
export async function spawnsOf(socketPath: string, argv0: string): Promise<number> {
  const session = await connectNode(socketPath);
  try {
    const { admin } = await session.node.admin();
    const { processes } = await admin.ps({ after: 0, max: 0 });
    admin.release();
    return processes.filter((p) => p.argv[0] === argv0).length;
  } finally {
    session.close();
  }
}
