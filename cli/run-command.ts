// `ww run`'s work once its command line is read: by oclif (commands/run.ts), or by cli/main.ts's
// fast path, which reads the common command lines itself so that a run does not load oclif
// (cli/README.md, "Start-up"). No oclif here: the fast path must not load it.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Limits, Preopen } from '../src/wasm/types.js';
import type { ListenAddress } from '../src/wasm/sockets/listen.js';
import type { EndStatus } from '../src/executor/table.js';
import { InputError, UsageError } from './errors.js';
import { parseGuestCompiler, type OptionValues, type RUN_OPTIONS } from './options.js';
import { resolveSocketPath } from './lib/socket-path.js';
import { parseCount, parseDuration, parseSize } from './units.js';
import { reportEnd } from './lib/exit-reason.js';
import { refusal } from './lib/executor-error.js';
import { oneLine } from './text.js';

/** ww run's options, as read by oclif or the fast path (options.ts, RUN_OPTIONS). */
export type RunFlags = OptionValues<typeof RUN_OPTIONS>;

/** Runs MODULE with the guest's arguments after argv[0]; sets process.exitCode. Throws the
 *  UsageError/InputError (or a node's failure) that main() turns into one `ww: ...` line. */
export async function runCommand(module: string, guestArgs: readonly string[], flags: RunFlags): Promise<void> {
  const limits = parseLimits(flags);
  const env = parseEnv(flags.env ?? []);
  const preopens = await parsePreopens(flags.dir ?? []);
  const listen = await parseListen(flags.listen ?? []);
  const fromStdin = module === '-';

  // A running node takes the guest (--node/--detach insist on one); else it runs in this process.
  const socketPath = await resolveSocketPath(flags.socket);
  // No socket file, no node: skip loading the RPC layer at all (a local run starts faster).
  const maybeNode = flags.node || flags.detach || flags.peer !== undefined || existsSync(socketPath);
  // Surely local: start the worker thread the guest will run on now, so that it boots on the other
  // core while this one imports the executor and reads the module (cli/README.md, "Start-up").
  let executorModule: Promise<typeof import('../src/executor/index.js')> | undefined;
  if (!maybeNode) {
    const { prestartWorker } = await import('../src/wasm/pool.js');
    prestartWorker();
    executorModule = import('../src/executor/index.js');
    executorModule.catch(() => {}); // awaited below; a failure is reported there
  }
  const bytes = fromStdin ? await readModuleFromStdin() : await readModuleFile(module);
  const { nodeIsListening, runOnNode } = maybeNode ? await import('./lib/run-on-node.js') : { nodeIsListening: undefined, runOnNode: undefined };
  if (runOnNode && (flags.node || flags.detach || flags.peer !== undefined || (await nodeIsListening(socketPath)))) {
    if (flags['guest-compiler'] !== undefined) {
      throw new UsageError("--guest-compiler is for a run here: a node compiles as its ww start --guest-compiler says");
    }
    process.exitCode = await runOnNode({
      module: bytes,
      moduleName: describeModule(module),
      argv: [fromStdin ? '-' : basename(module), ...guestArgs],
      env,
      dirs: preopens,
      limits,
      listen: (flags.listen ?? []).map((entry, i) => ({ address: entry, port: listen[i]!.port })),
      // Streamed as the guest reads (a pipe, a file, this terminal); a detached guest outlives this
      // process, so it gets none.
      stdin: fromStdin || flags.detach ? new Uint8Array(0) : process.stdin,
      detach: flags.detach,
      ...(flags.peer !== undefined ? { peer: flags.peer } : {}),
      socketPath,
      stdout: process.stdout,
      stderr: process.stderr,
    });
    return;
  }

  // No node: the guest runs in this process, in a private executor, so a guest that imports the
  // `ww` host module can still spawn children, use channels and the capability store.
  const { runLocal, ExecutorError } = await (executorModule ?? import('../src/executor/index.js'));
  const argv = [fromStdin ? '-' : basename(module), ...guestArgs];
  const run = await runLocal({
    module: bytes,
    argv,
    env,
    preopens,
    limits,
    listen,
    stdin: fromStdin ? new Uint8Array(0) : 'inherit',
    stdout: 'inherit',
    stderr: 'inherit',
    runtimeOptions: { cacheDir: cacheDir(), ...(flags['guest-compiler'] !== undefined ? { guestCompiler: parseGuestCompiler(flags['guest-compiler']) } : {}) },
  }).catch((err: unknown) => {
    throw err instanceof ExecutorError ? refusal(err, { module: describeModule(module) }) : err;
  });
  run.listening.forEach((address, i) => {
    if (listen[i]!.port === 0) process.stderr.write(`ww: listening on ${address} (fd ${3 + i})\n`);
  });
  let status: EndStatus;
  let signal: NodeJS.Signals | undefined;
  const onSignal = (received: NodeJS.Signals) => {
    signal = received;
    // Ending now: after a hangup the terminal may be gone, and a failed write must not crash ww first.
    for (const out of [process.stdout, process.stderr]) out.on('error', () => {});
    run.kill();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const name of signals) process.once(name, onSignal);
  try {
    status = await run.wait();
  } finally {
    for (const name of signals) process.off(name, onSignal);
    await run.close();
  }

  process.exitCode = await reportEnd(status, { limits, signal }, (line) => process.stderr.write(`${line}\n`));
}

/** Where instrumented modules are kept across runs: $WW_CACHE_DIR, else the XDG cache directory. */
export function cacheDir(): string | undefined {
  if (process.env.WW_CACHE_DIR) return process.env.WW_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : undefined);
  return base ? join(base, 'ww') : undefined;
}

function parseLimits(flags: { 'max-memory'?: string; timeout?: string; fuel?: string }): Limits {
  const limits: Limits = {};
  if (flags['max-memory'] !== undefined) limits.maxMemoryBytes = parseSize('--max-memory', flags['max-memory']);
  if (flags.timeout !== undefined) limits.timeoutMs = parseDuration('--timeout', flags.timeout);
  if (flags.fuel !== undefined) limits.fuel = parseCount('--fuel', flags.fuel);
  return limits;
}

/** `--env NAME=VALUE`, repeatable; a later NAME wins. */
export function parseEnv(entries: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq < 0) {
      // A bare variable name: the user probably expected it to be passed through from the host.
      const hint = /^[A-Za-z_]\w*$/.test(entry) ? ` (ww passes no host variables; to pass one, write --env ${entry}="$${entry}")` : '';
      throw new UsageError(`--env '${entry}' must be NAME=VALUE${hint}`);
    }
    if (eq === 0) throw new UsageError(`--env '${entry}' has an empty NAME; write NAME=VALUE`);
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** `--listen HOST:PORT`, repeatable, in order (fd 3, 4, ...). */
export async function parseListen(entries: readonly string[]): Promise<ListenAddress[]> {
  if (entries.length === 0) return [];
  const { parseListenAddress } = await import('../src/wasm/sockets/index.js');
  return entries.map((entry) => {
    try {
      return parseListenAddress(entry);
    } catch (err) {
      throw new UsageError(`--listen: ${(err as Error).message}`);
    }
  });
}

/**
 * `--dir HOST[::GUEST[::MODE]]`: HOST must be an existing directory; GUEST defaults to HOST as written;
 * MODE is ro (read-only) or rw (read-write, the default), the spelling wasmtime's maintainers proposed
 * for `wasmtime run --dir` (wasmtime issue #9608).
 */
export async function parsePreopens(entries: readonly string[]): Promise<Preopen[]> {
  const preopens: Preopen[] = [];
  for (const entry of entries) {
    const [host = '', guest = host, ...rest] = entry.split('::');
    const mode = rest.length === 0 ? 'rw' : rest.join('::');
    if (host === '') throw new UsageError(`--dir '${entry}' has an empty host path; write HOST or HOST::GUEST`);
    if (guest === '') throw new UsageError(`--dir '${entry}' has an empty guest path; write HOST or HOST::GUEST`);
    if (mode !== 'ro' && mode !== 'rw') {
      throw new UsageError(`--dir '${entry}' has an unknown mode '${mode}'; write HOST::GUEST::ro (read-only) or HOST::GUEST::rw (read-write, the default)`);
    }
    const info = await stat(host).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`--dir '${host}': ${fsReason(err)}`);
    });
    if (!info.isDirectory()) throw new UsageError(`--dir '${host}' is not a directory`);
    preopens.push({ hostPath: resolve(host), guestPath: guest, readOnly: mode === 'ro' });
  }
  return preopens;
}

async function readAllStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

async function readModuleFile(path: string): Promise<Uint8Array> {
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read module '${path}': ${fsReason(err)}`);
  });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

async function readModuleFromStdin(): Promise<Uint8Array> {
  if (process.stdin.isTTY) throw new UsageError("MODULE is '-' but stdin is a terminal; pipe the module in (cat x.wasm | ww run -)");
  const bytes = await readAllStdin();
  if (bytes.length === 0) throw new InputError('no module on stdin (MODULE is -, but stdin was empty)');
  return bytes;
}

function fsReason(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    default:
      return oneLine(err.message);
  }
}

function describeModule(module: string): string {
  return module === '-' ? 'module from stdin' : `module '${module}'`;
}
