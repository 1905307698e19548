// How ww reports failures on the command line: one line on stderr, `ww: <what happened>`, and an exit
// status; never a stack trace for something the user can fix. Stacks are for ww's own bugs, and only
// when WW_DEBUG is set.

/** Something wrong with the command line itself (a flag, a value, a path): exit status 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The input cannot be run (unreadable or invalid module): exit status 1. */
export class InputError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export interface Failure {
  /** One line, without the `ww: ` prefix. */
  message: string;
  exitCode: number;
  /** Only for unexpected errors: printed when WW_DEBUG is set. */
  stack?: string;
}

/** Maps anything thrown while running a command to what the user sees. */
export function describeFailure(err: unknown, command: string | undefined): Failure {
  const helpHint = command ? `see 'ww ${command} --help'` : `see 'ww --help'`;
  if (err instanceof UsageError || err instanceof InputError) {
    return { message: err.message, exitCode: err.exitCode };
  }
  if (!(err instanceof Error)) {
    return { message: `internal error: ${String(err)}`, exitCode: 1 };
  }
  // oclif's own errors: class names are stable API (exported from @oclif/core's parser).
  const oclif = (err as { oclif?: { exit?: number } }).oclif;
  const firstLine = err.message.split('\n').find((line) => line.trim() !== '')?.trim() ?? err.message;
  switch (err.constructor.name) {
    case 'RequiredArgsError': {
      const names = ((err as { args?: { name?: string }[] }).args ?? []).map((a) => (a.name ?? '').toUpperCase());
      return { message: `missing ${names.join(' ') || 'argument'}; ${helpHint}`, exitCode: 2 };
    }
    case 'NonExistentFlagsError': {
      const flags = (err as { flags?: string[] }).flags ?? [];
      return { message: `unknown option${flags.length === 1 ? '' : 's'} ${flags.join(', ')}; ${helpHint}`, exitCode: 2 };
    }
    case 'UnexpectedArgsError':
      return { message: `${lowerFirst(firstLine)}; ${helpHint}`, exitCode: 2 };
  }
  if (/^command .* not found/i.test(firstLine)) {
    return { message: `${lowerFirst(firstLine)}; see 'ww --help' for the commands`, exitCode: 2 };
  }
  if (oclif && typeof oclif.exit === 'number') {
    // Any other oclif CLIError (parse errors, "command not found"): its first line is the message.
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
