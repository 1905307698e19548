// Entry point behind bin/ww.js: runs oclif, and turns every failure into one `ww: ...` line on stderr
// plus an exit status (oclif's default handler prints stack traces for unexpected errors).
// `ww run` and `ww ps` with ordinary command lines take a fast path that does not load oclif at all
// (fast-path.ts; cli/README.md, "Start-up"): oclif is imported only when it is needed.
import { fastPs, fastRun, type FastCommand } from './fast-path.js';
import { describeFailure, type FailureContext } from './errors.js';
import { printable } from './text.js';
import { RUN_VALUE_FLAGS, canonicalRunArgv, splitRunArgv } from './run-argv.js';

/** Exit status when the reader of stdout went away (`ww ps | head -1`): what SIGPIPE would give. */
const EXIT_BROKEN_PIPE = 128 + 13;

export interface MainOptions {
  /** false: oclif reads every command line (the tests compare both paths with it). Default true. */
  fastPath?: boolean;
}

/** Runs the ww command line and resolves to the process exit status. Never throws. */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const useFastPath = options.fastPath ?? true;
  let args = [...argv];
  const context: FailureContext = {};
  let fast: Promise<FastCommand | undefined> | undefined;
  // oclif looks for --help anywhere before the first `--`; keep it away from the guest's arguments.
  if (args[0] === 'run') {
    const split = splitRunArgv(args.slice(1));
    args = ['run', ...canonicalRunArgv(split)];
    context.moduleTakenBy = moduleTakenBy(split.module, split.options);
    if (useFastPath) fast = fastRun(split);
  } else if (args[0] === 'ps' && useFastPath) {
    fast = fastPs(args.slice(1));
  }
  // Without this, a closed pipe leaves oclif's flush() waiting for a 'drain' that never comes. Not for
  // `ww run` with a guest: there stdout carries the guest's output, and a write failing is the guest's to see.
  if (args[0] !== 'run' || args.includes('--help') || args.includes('-h')) {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
    });
  }
  try {
    const command = await fast;
    if (command) {
      await command();
      await flushStdout();
    } else {
      const { flush, run } = await import('@oclif/core');
      await run(args, import.meta.url);
      await flush();
    }
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const exit = (err as { oclif?: { exit?: number }; code?: string }) ?? {};
    if (exit.code === 'EEXIT') return exit.oclif?.exit ?? 0; // this.exit(n): already reported
    const failure = describeFailure(err, commandName(args), context);
    process.stderr.write(`ww: ${printable(failure.message)}\n`);
    if (failure.stack && process.env.WW_DEBUG) process.stderr.write(`${failure.stack}\n`);
    return failure.exitCode;
  }
}

/** What oclif's flush() does after a command (without loading oclif): wait until stdout has taken
 *  everything written, failing as it does after 10 s. */
async function flushStdout(): Promise<void> {
  if (process.stdout.write('')) return;
  let timer: NodeJS.Timeout | undefined;
  const drained = new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()));
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { oclif: { exit: 2 } })), 10_000);
    timer.unref();
  });
  try {
    await Promise.race([drained, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** `ww run --socket x.wasm`: no MODULE because the last option took what looks like one as its value. */
function moduleTakenBy(module: string | undefined, options: readonly string[]): FailureContext['moduleTakenBy'] {
  if (module !== undefined || options.length < 2) return undefined;
  const flag = options[options.length - 2];
  const value = options[options.length - 1];
  return RUN_VALUE_FLAGS.has(flag) && /\.wasm$/i.test(value) ? { flag, value } : undefined;
}

function commandName(args: readonly string[]): string | undefined {
  const first = args[0];
  return first && !first.startsWith('-') ? first : undefined;
}
