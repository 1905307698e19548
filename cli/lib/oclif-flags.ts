// oclif flags made from the option tables in ../options.ts, so that the oclif commands and the fast
// path read the same options (cli/README.md, "Start-up"). Imports oclif: only commands/ use it.
import { Flags, type Interfaces } from '@oclif/core';
import type { OptionSpec, OptionTable } from '../options.js';
import { checkedBy } from '../units.js';

type FlagOf<S extends OptionSpec> = S['kind'] extends 'switch'
  ? Interfaces.BooleanFlag<boolean>
  : S['kind'] extends 'values'
    ? Interfaces.OptionFlag<string[] | undefined>
    : Interfaces.OptionFlag<string | undefined>;

/** One oclif flag per option of `table`, typed by its kind. */
export function oclifFlags<T extends OptionTable>(table: T): { [K in keyof T]: FlagOf<T[K]> } {
  const flags: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) flags[name] = oclifFlag(spec);
  return flags as { [K in keyof T]: FlagOf<T[K]> };
}

/** The oclif flag for one option. */
export function oclifFlag<S extends OptionSpec>(spec: S): FlagOf<S> {
  return makeFlag(spec) as FlagOf<S>;
}

function makeFlag(spec: OptionSpec): unknown {
  const common = { description: spec.description, ...(spec.aliases ? { aliases: [...spec.aliases] } : {}) };
  if (spec.kind === 'switch') return Flags.boolean(common);
  const option = {
    ...common,
    ...(spec.helpValue ? { helpValue: spec.helpValue } : {}),
    ...(spec.env ? { env: spec.env } : {}),
    ...(spec.check ? { parse: checkedBy(spec.check) } : {}),
  };
  return spec.kind === 'values' ? Flags.string({ ...option, multiple: true, multipleNonGreedy: true }) : Flags.string(option);
}
