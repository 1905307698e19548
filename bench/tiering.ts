// Guest code by V8 tier, side by side in one run, JSON lines (the runtime README, "Compiled code").
// V8 compiles a module with Liftoff and moves a function to TurboFan once it is hot, but a running
// frame never moves (no on-stack replacement for wasm): a guest whose `main` loops for seconds stays
// in Liftoff for that run. Node's --no-liftoff compiles with TurboFan only, for the whole process.
//
// The guest is a C sieve (bench/guests/sieve.c, memory bound), built here with clang for wasm32-wasi
// and with gcc for the native baseline; it times its own loop (`compute_ms`), so start-up is apart.
// Each variant is a fresh process; the variants alternate; medians of ROUNDS:
//   native; node:wasi in the main thread and `ww run` (local; a worker), each with V8's default and
//   with --no-liftoff, `ww run --fuel` (instrumented) likewise; the one-shot cost (wall time of
//   `ww run examples/hello.wasm` and of a Go hello built here) each way; and a `ww start` node with
//   each `--guest-compiler` (tiered: V8's default; optimizing: --no-liftoff set by the node before its
//   first guest compile) running the sieve RUNS_ON_NODE times through `ww run` (its first run, and the
//   best later one) and a Go hello 3 times (wall, the first including its compile).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WW = join(ROOT, 'bin/ww.js');
const ROUNDS = 3;
const RUNS_ON_NODE = 4;
const SIEVE_ARGS = [String(8 << 20), '10']; // 8 MiB, 10 rounds
const FUEL = '1000000000000';

function emit(o: Record<string, unknown>): void {
  console.log(JSON.stringify(o));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs a command to its end: its wall time and the compute_ms the sieve printed (if it did). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ wallMs: number; computeMs: number | undefined }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`));
      const m = /compute_ms ([\d.]+)/.exec(out);
      resolve({ wallMs: performance.now() - t0, computeMs: m ? Number(m[1]) : undefined });
    });
  });
}

/** A Go hello for wasip1 (the size of a real Go guest: a one-shot's compile cost). */
function buildGoHello(dir: string): string {
  const src = join(dir, 'go-hello');
  mkdirSync(src);
  writeFileSync(join(src, 'go.mod'), 'module hello\n\ngo 1.23\n');
  writeFileSync(join(src, 'main.go'), 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() { fmt.Println("hello from Go", len(os.Args)) }\n');
  const out = join(dir, 'go-hello.wasm');
  const go = existsSync('/usr/lib/go-1.23/bin/go') ? '/usr/lib/go-1.23/bin/go' : 'go';
  const r = spawnSync(go, ['build', '-o', out, '.'], {
    cwd: src,
    encoding: 'utf8',
    env: { ...process.env, GOOS: 'wasip1', GOARCH: 'wasm', CGO_ENABLED: '0', GOENV: 'off', GOFLAGS: '', GOCACHE: join(dir, 'gocache'), GOTOOLCHAIN: 'local' },
  });
  if (r.status !== 0) throw new Error(`go build failed (run scripts/setup.sh): ${r.stderr ?? r.error}`);
  return out;
}

function build(dir: string): { native: string; wasm: string } {
  const src = join(ROOT, 'bench/guests/sieve.c');
  const native = join(dir, 'sieve');
  const wasm = join(dir, 'sieve.wasm');
  const steps: [string, string[]][] = [
    ['gcc', ['-O2', '-o', native, src]],
    ['clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', '-c', '-o', join(dir, 'sieve.o'), src]],
    ['clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-Wl,--strip-debug', '-o', wasm, join(dir, 'sieve.o')]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (run scripts/setup.sh): ${r.stderr ?? r.error}`);
  }
  return { native, wasm };
}

/** A `ww start` in its own process (`startFlags` for ww start), until stop(). */
async function startWwNode(startFlags: string[], socketPath: string, env: NodeJS.ProcessEnv): Promise<{ stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [WW, 'start', '--socket', socketPath, ...startFlags], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('node listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`ww start exited ${code}: ${err}`)));
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        process.off('exit', reap);
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ww-bench-tiering-'));
  const env = { ...process.env, WW_CACHE_DIR: join(dir, 'cache') }; // instrumented once, then cached
  try {
    const { native, wasm } = build(dir);
    const nodeWasi = join(dir, 'node-wasi.mjs');
    writeFileSync(
      nodeWasi,
      `import { WASI } from 'node:wasi'; import { readFileSync } from 'node:fs';
       const wasi = new WASI({ version: 'preview1', args: ['sieve', ...process.argv.slice(2)] });
       wasi.start(await WebAssembly.instantiate(new WebAssembly.Module(readFileSync(${JSON.stringify(wasm)})), wasi.getImportObject()));`,
    );
    const goHello = buildGoHello(dir);
    const node = process.execPath;
    const variants: { impl: string; cmd: string; args: string[] }[] = [{ impl: 'native (gcc -O2)', cmd: native, args: SIEVE_ARGS }];
    for (const flags of [[], ['--no-liftoff']]) {
      const tag = flags.length ? ', --no-liftoff' : " (V8's default)";
      variants.push(
        { impl: `node:wasi in the main thread${tag}`, cmd: node, args: [...flags, nodeWasi, ...SIEVE_ARGS] },
        { impl: `ww run (local)${tag}`, cmd: node, args: [...flags, WW, 'run', wasm, '--', ...SIEVE_ARGS] },
        { impl: `ww run --fuel (local)${tag}`, cmd: node, args: [...flags, WW, 'run', '--fuel', FUEL, wasm, '--', ...SIEVE_ARGS] },
        { impl: `one-shot ww run examples/hello.wasm (C)${tag}`, cmd: node, args: [...flags, WW, 'run', 'examples/hello.wasm'] },
        { impl: `one-shot ww run of a Go hello (2.4 MB)${tag}`, cmd: node, args: [...flags, WW, 'run', goHello] },
      );
    }
    for (const v of variants) await run(v.cmd, v.args, env); // instrumentation cached, page cache warm
    const samples = new Map(variants.map((v) => [v.impl, [] as { wallMs: number; computeMs: number | undefined }[]]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of r % 2 === 0 ? variants : [...variants].reverse()) samples.get(v.impl)!.push(await run(v.cmd, v.args, env));
    }
    const nativeMs = median(samples.get(variants[0].impl)!.map((s) => s.computeMs!));
    for (const v of variants) {
      const s = samples.get(v.impl)!;
      const compute = s[0].computeMs === undefined ? undefined : median(s.map((x) => x.computeMs!));
      emit({
        bench: 'guest-tiering',
        impl: v.impl,
        ...(compute !== undefined ? { compute_ms: Math.round(compute), x_native: Math.round((compute / nativeMs) * 100) / 100 } : {}),
        wall_ms: Math.round(median(s.map((x) => x.wallMs))),
        rounds: ROUNDS,
      });
    }

    // On a node: the same module spawned again and again, with each of `ww start --guest-compiler`'s choices
    // (a fresh node each, the sieve's instrumentation cached on disk by the `ww run`s above; the Go hello's
    // first run on the node includes its instrumentation, the same both ways).
    for (const compiler of ['tiered', 'optimizing']) {
      const impl = `ww start --guest-compiler ${compiler}`;
      const socketPath = join(dir, 'node.sock');
      const wwNode = await startWwNode(['--guest-compiler', compiler], socketPath, env);
      try {
        const runs: number[] = [];
        for (let i = 0; i < RUNS_ON_NODE; i++) runs.push((await run(node, [WW, 'run', '--socket', socketPath, wasm, '--', ...SIEVE_ARGS], env)).computeMs!);
        const later = Math.min(...runs.slice(1));
        emit({
          bench: 'guest-tiering',
          impl: `${impl}: the sieve spawned ${RUNS_ON_NODE} times`,
          first_compute_ms: Math.round(runs[0]),
          first_x_native: Math.round((runs[0] / nativeMs) * 100) / 100,
          best_later_compute_ms: Math.round(later),
          best_later_x_native: Math.round((later / nativeMs) * 100) / 100,
          runs_ms: runs.map(Math.round),
        });
        const go: number[] = [];
        for (let i = 0; i < 3; i++) go.push((await run(node, [WW, 'run', '--socket', socketPath, goHello], env)).wallMs);
        emit({ bench: 'guest-tiering', impl: `${impl}: a Go hello (2.4 MB) run 3 times, wall`, first_wall_ms: Math.round(go[0]), later_wall_ms: go.slice(1).map(Math.round) });
      } finally {
        await wwNode.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
