// `ww run` stops reading its own options at MODULE, as wasmtime does: everything after MODULE (after an
// optional `--`) belongs to the guest, even words that look like ww's options (`ww run x.wasm --help`).
// oclif parses flags anywhere in argv, so the command line is split here first.

import { RUN_OPTIONS, valueOptionWords } from './options.js';

/** ww run's options that take a value (`--dir X` as well as `--dir=X`). */
export const RUN_VALUE_FLAGS = valueOptionWords(RUN_OPTIONS);

export interface SplitRunArgv {
  /** ww's own options, before MODULE. */
  options: string[];
  /** MODULE, or undefined when the command line names none. */
  module?: string;
  /** The guest's arguments after argv[0]. */
  guestArgs: string[];
}

export function splitRunArgv(argv: readonly string[]): SplitRunArgv {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') {
      // `ww run [options] -- MODULE [--] [ARGS...]`
      return withModule(argv.slice(0, i), argv, i + 1);
    }
    if (RUN_VALUE_FLAGS.has(word)) {
      i++; // skip the flag's value, whatever it looks like
      continue;
    }
    if (word.startsWith('-') && word !== '-') continue; // an option (oclif reports unknown ones)
    return withModule(argv.slice(0, i), argv, i);
  }
  return { options: [...argv], guestArgs: [] };
}

function withModule(options: string[], argv: readonly string[], moduleIndex: number): SplitRunArgv {
  if (moduleIndex >= argv.length) return { options, guestArgs: [] };
  const rest = argv.slice(moduleIndex + 1);
  // One `--` right after MODULE separates it from the guest's arguments and is not passed on.
  const guestArgs = rest[0] === '--' ? rest.slice(1) : rest;
  return { options, module: argv[moduleIndex], guestArgs };
}

/** The canonical form `[options] -- MODULE -- [ARGS...]`: unambiguous to re-split, and it keeps
 *  oclif's global `--help` detection (which stops at the first `--`) away from the guest's words. */
export function canonicalRunArgv(split: SplitRunArgv): string[] {
  if (split.module === undefined) return split.options;
  return [...split.options, '--', split.module, '--', ...split.guestArgs];
}
