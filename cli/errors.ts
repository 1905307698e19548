// How ww reports failures on the command line: one line on stderr, `ww: <what happened>`, and an exit
// status; never a stack trace for something the user can fix. Stacks are for ww's own bugs, and only
// when WW_DEBUG is set.

/** A failure the user can fix, told as one line and an exit status. */
abstract class CliError extends Error {
  abstract readonly exitCode: number;
  /** The message as ww wrote it: oclif rewrites `message` when a flag's parse function throws. */
  readonly line: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
    this.line = message;
  }
}

/** Something wrong with the command line itself (a flag, a value, a path): exit status 2. */
export class UsageError extends CliError {
  readonly exitCode = 2;
}

/** The input cannot be run (unreadable or invalid module): exit status 1. */
export class InputError extends CliError {
  readonly exitCode = 1;
}

/** What a user may have meant when a command line is cut short, added to "missing MODULE". */
export interface FailureContext {
  /** A flag took the word meant as MODULE as its value (`ww run --socket x.wasm`). */
  moduleTakenBy?: { flag: string; value: string };
}

export interface Failure {
  /** One line, without the `ww: ` prefix. */
  message: string;
  exitCode: number;
  /** Only for unexpected errors: printed when WW_DEBUG is set. */
  stack?: string;
}

/** Maps anything thrown while running a command to what the user sees. */
export function describeFailure(err: unknown, command: string | undefined, context: FailureContext = {}): Failure {
  const helpHint = command ? `see 'ww ${command} --help'` : `see 'ww --help'`;
  if (err instanceof UsageError || err instanceof InputError) {
    return { message: err.line, exitCode: err.exitCode };
  }
  if (!(err instanceof Error)) {
    return { message: `internal error: ${String(err)}`, exitCode: 1 };
  }
  // oclif's parse errors: @oclif/core does not export their classes (its package exports stop at the
  // parser's entry), so they are told apart here, at the one boundary with oclif, by class name.
  const oclif = (err as { oclif?: { exit?: number } }).oclif;
  const firstLine = err.message.split('\n').find((line) => line.trim() !== '')?.trim() ?? err.message;
  switch (err.constructor.name) {
    case 'RequiredArgsError': {
      const names = ((err as { args?: { name?: string }[] }).args ?? []).map((a) => (a.name ?? '').toUpperCase());
      const taken = context.moduleTakenBy;
      const why = taken && names.includes('MODULE') ? ` ('${taken.value}' was read as the value of ${taken.flag})` : '';
      return { message: `missing ${names.join(' ') || 'argument'}${why}; ${helpHint}`, exitCode: 2 };
    }
    case 'NonExistentFlagsError': {
      const flags = (err as { flags?: string[] }).flags ?? [];
      return { message: `unknown option${flags.length === 1 ? '' : 's'} ${flags.join(', ')}; ${helpHint}`, exitCode: 2 };
    }
    case 'UnexpectedArgsError':
      return { message: `${lowerFirst(firstLine)}; ${helpHint}`, exitCode: 2 };
  }
  if (oclif && typeof oclif.exit === 'number') {
    // Any other oclif CLIError (e.g. a parse error): its first line is the message.
    const message = firstLine.replace(/^Error:\s*/, '');
    return { message: `${lowerFirst(message)}${/--help/.test(message) ? '' : `; ${helpHint}`}`, exitCode: oclif.exit || 2 };
  }
  return {
    message: `internal error: ${firstLine} (this is a bug in ww; set WW_DEBUG=1 for details)`,
    exitCode: 1,
    stack: err.stack,
  };
}

function lowerFirst(text: string): string {
  return text.length > 1 && /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text;
}
