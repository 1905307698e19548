// `npm run bench:ab -- BASE_DIR [PART...] [--rounds N]`: A/B in one run. The same benchmark parts run
// alternately from BASE_DIR, a built checkout of an earlier revision (A), and from this checkout (B),
// N rounds (default 3), so both meet the same machine state; then one JSON line per measurement:
// its identifying fields, and for each figure A's median, B's median and B/A.
//
// A checkout of revision REV to compare against:
//   git worktree add /tmp/ww-base REV && (cd /tmp/ww-base && npm ci)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args.splice(roundsAt, 2)[1]) : 3;
const [baseDir, ...parts] = args;
if (!baseDir || !Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: npm run bench:ab -- BASE_DIR [PART...] [--rounds N]   (BASE_DIR: a built checkout of the revision to compare with)');
  process.exit(2);
}
const sides = { A: resolve(baseDir), B: here } as const;
for (const [side, dir] of Object.entries(sides)) {
  if (!existsSync(join(dir, 'dist', 'bench', 'run.js'))) {
    console.error(`${side}: ${dir} has no dist/bench/run.js: build it first (npm ci, or npx tsc -p .)`);
    process.exit(2);
  }
}

type Line = Record<string, unknown>;
/** Measurements by identity (their non-numeric fields), then figure name -> samples, per side. */
const seen = new Map<string, { id: Line; figures: Map<string, { A: number[]; B: number[] }> }>();

for (let round = 1; round <= rounds; round++) {
  // Alternate which side goes first, so neither always runs on a warmer (or busier) machine.
  const order = round % 2 === 1 ? (['A', 'B'] as const) : (['B', 'A'] as const);
  for (const side of order) {
    const dir = sides[side];
    const run = spawnSync(process.execPath, [join(dir, 'dist', 'bench', 'run.js'), ...parts], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (run.status !== 0) {
      console.error(`${side} (${dir}) failed in round ${round}:\n${run.stderr}`);
      process.exit(1);
    }
    // Lines that differ only in numbers (e.g. one per message size) are told apart by their order.
    const occurrences = new Map<string, number>();
    for (const text of run.stdout.split('\n')) {
      const line = parseLine(text);
      if (!line || line.bench === 'part-done') continue;
      const id: Line = {};
      for (const [k, v] of Object.entries(line)) if (typeof v !== 'number') id[k] = v;
      const base = JSON.stringify(id);
      const nth = (occurrences.get(base) ?? 0) + 1;
      occurrences.set(base, nth);
      if (nth > 1) id.nth = nth;
      const key = JSON.stringify(id);
      let entry = seen.get(key);
      if (!entry) seen.set(key, (entry = { id, figures: new Map() }));
      for (const [k, v] of Object.entries(line)) {
        if (typeof v !== 'number') continue;
        let f = entry.figures.get(k);
        if (!f) entry.figures.set(k, (f = { A: [], B: [] }));
        f[side].push(v);
      }
    }
    console.error(`round ${round}/${rounds}: ${side} done`);
  }
}

for (const { id, figures } of seen.values()) {
  const out: Line = { ...id };
  for (const [name, { A, B }] of figures) {
    const a = median(A);
    const b = median(B);
    out[name] = { A: a, B: b, B_over_A: a !== undefined && b !== undefined && a !== 0 ? round3(b / a) : null };
  }
  console.log(JSON.stringify(out));
}

function parseLine(text: string): Line | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Line) : undefined;
  } catch {
    return undefined;
  }
}

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return round3(s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
