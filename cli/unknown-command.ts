// What ww says for a command it does not have: one line naming the word, the nearest command when
// one is close (a typo), and where the list is. Used by the command_not_found hook and by `ww help`.
import { UsageError } from './errors.js';

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two short words. */
export function editDistance(a: string, b: string): number {
  // Optimal string alignment: Levenshtein plus transpositions, so `rnu` is one step from `run`.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known command nearest to `word`, when it is close enough to be a typo of it (else undefined). */
export function nearestCommand(word: string, commands: readonly string[]): string | undefined {
  const typed = word.toLowerCase();
  // Short words allow one mistake, longer ones two: `rn` -> run, `stat` -> start, but `xyz` -> nothing.
  const allowed = typed.length <= 4 ? 1 : 2;
  let best: { id: string; distance: number } | undefined;
  for (const id of [...commands].sort()) {
    const distance = editDistance(typed, id);
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { id, distance };
  }
  return best?.id;
}

/** The error for `ww WORD ...` when WORD is no command: exit 2, one line. */
export function unknownCommand(word: string, commands: readonly string[]): UsageError {
  if (word.startsWith('-')) return new UsageError(`unknown option ${word}; see 'ww --help'`);
  const nearest = nearestCommand(word, commands);
  const hint = nearest ? `: did you mean 'ww ${nearest}'?` : '';
  return new UsageError(`unknown command '${word}'${hint} ('ww help' lists the commands)`);
}

/**
 * The error for oclif's joined id when no command matches it. With the space topic separator oclif
 * joins the leading words (`ww ps x` -> `ps:x`, `ww rn x.wasm` -> `rn:x.wasm`): when the first words
 * name a command, the next one is an argument it does not take; else the first word is no command.
 */
export function commandNotFound(id: string, commands: readonly string[]): UsageError {
  const words = id.split(':');
  for (let n = words.length - 1; n > 0; n--) {
    const command = words.slice(0, n).join(':');
    if (commands.includes(command)) {
      const name = words.slice(0, n).join(' ');
      return new UsageError(`unexpected argument: ${words[n]}; see 'ww ${name} --help'`);
    }
  }
  // `ww cluster lss`: the first words name a topic (commands `cluster:...`), the next is no command of it.
  for (let n = words.length - 1; n > 0; n--) {
    const topic = words.slice(0, n).join(':');
    const under = commands.filter((c) => c.startsWith(`${topic}:`)).map((c) => c.slice(topic.length + 1).split(':')[0]!);
    if (under.length === 0) continue;
    const name = words.slice(0, n).join(' ');
    const nearest = nearestCommand(words[n], under);
    const hint = nearest ? `: did you mean 'ww ${name} ${nearest}'?` : '';
    return new UsageError(`unknown command '${name} ${words[n]}'${hint} ('ww ${name} --help' lists its commands)`);
  }
  return unknownCommand(words[0], commands);
}
