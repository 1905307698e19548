// Guests in WAT for the ww host module tests: a prelude that imports every `ww` function and
// WASI's fd_write/proc_exit, and helpers to write i32 results to stdout, which the tests decode.
import { Executor, type ProcessEntry } from '../../src/executor/index.js';
import { WW_FUNCTIONS } from '../../src/wasm/ww-host/abi.js';
import { assemble } from '../executor/helpers.js';

export { assemble, eventually, sleep } from '../executor/helpers.js';

export const E = { AGAIN: 6, BADF: 8, DEADLK: 16, FAULT: 21, INVAL: 28, MFILE: 33, MSGSIZE: 35, NOENT: 44, NOEXEC: 45, PIPE: 64 };

/**
 * Memory layout of the prelude: 0..15 iovec and nwritten, 16 the value $out writes, 32..63 out
 * slots ($o1 = 32, $o2 = 36, $o3 = 40, $o4 = 44), 64..127 an event record or a reason buffer,
 * 128..191 a spawn spec, 256.. data the tests place, 4096.. buffers; 24..31 the clock's scratch.
 */
/** `data`: more module fields (data segments, globals, functions) placed after the memory. */
export function guest(body: string, data = ''): string {
  const imports = Object.entries(WW_FUNCTIONS)
    .map(([name, n]) => `(import "ww" "${name}" (func $${name} (param ${'i32 '.repeat(n).trim()}) (result i32)))`)
    .join('\n  ');
  return `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  ${imports}
  (memory (export "memory") 2)
  ${data}
  ;; writes x to stdout as 4 bytes, little-endian
  (func $out (param $x i32)
    (i32.store (i32.const 16) (local.get $x))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 4))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  ;; writes memory[p..p+n) to stdout
  (func $outBytes (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  ;; reads up to n bytes of stdin to p; returns how many
  (func $readStdin (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.load (i32.const 8)))
  ;; monotonic clock in microseconds (wraps after ~35 minutes)
  (func $nowUs (result i32)
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 24)))
    (i32.wrap_i64 (i64.div_u (i64.load (i32.const 24)) (i64.const 1000))))
  (func $o1 (result i32) (i32.load (i32.const 32)))
  (func $o2 (result i32) (i32.load (i32.const 36)))
  (func $o3 (result i32) (i32.load (i32.const 40)))
  (func $o4 (result i32) (i32.load (i32.const 44)))
  ;; a spawn spec at 128 running this same module with the handles at $hp ($hn of them), flags | SPAWN_SELF
  (func $selfSpec (param $flags i32) (param $hp i32) (param $hn i32) (result i32)
    (memory.fill (i32.const 128) (i32.const 0) (i32.const 64))
    (i32.store (i32.const 136) (i32.or (local.get $flags) (i32.const 2)))
    (i32.store (i32.const 156) (local.get $hp))
    (i32.store (i32.const 160) (local.get $hn))
    (i32.const 128))
  ;; spins for about n iterations
  (func $spin (param $n i32) (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))))
  (func (export "_start") ${body})
)`;
}

/** The i32 values a guest wrote with $out. */
export function ints(bytes: Uint8Array | undefined): number[] {
  if (!bytes) return [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: number[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) out.push(v.getInt32(i, true));
  return out;
}

export async function testExecutor(opts: { poolSize?: number; pauseGraceMs?: number; maxGuestSpawned?: number } = {}): Promise<Executor> {
  return Executor.create({
    peerId: 'test',
    pauseGraceMs: opts.pauseGraceMs,
    maxGuestSpawned: opts.maxGuestSpawned,
    runtimeOptions: { poolSize: opts.poolSize ?? 2 },
  });
}

/** Starts a WAT guest as a root process (initial handles: Executor, store), stdout captured. */
export async function start(ex: Executor, wat: string, opts: { stdin?: Uint8Array; stdout?: (d: Uint8Array) => void } = {}): Promise<ProcessEntry> {
  const module = await ex.modules.put(await assemble(wat));
  return ex.spawn({ module, argv: ['guest'], stdout: opts.stdout ?? 'capture', stderr: 'capture', ...(opts.stdin ? { stdin: opts.stdin } : {}) });
}

/** Runs a WAT guest to its end; returns its $out values and its end status. */
export async function run(ex: Executor, wat: string, opts: { stdin?: Uint8Array } = {}): Promise<{ out: number[]; stdout: Uint8Array; code: number; reason: string; stderr: string }> {
  const e = await start(ex, wat, opts);
  const s = await e.settled;
  const { reasonText } = await import('../../src/executor/index.js');
  return { out: ints(s.stdout), stdout: s.stdout ?? new Uint8Array(0), code: s.code, reason: reasonText(s.reason), stderr: new TextDecoder().decode(s.stderr) };
}

/** Bytes as a WAT string literal, for a data segment. */
export function watBytes(bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  return '"' + [...b].map((x) => '\\' + x.toString(16).padStart(2, '0')).join('') + '"';
}
