// How the node commands show processes: the `ww ps` table (flat or as a tree), `ww info`, and the
// JSON form of a ProcessInfo. Pure functions of their inputs (the clock and width are parameters).
import type { ProcessInfo } from '../../src/capnp-gen/ww.rpc.js';
import { reasonFromWire, reasonText, type Reason } from '../../src/executor/wire.js';
import { hasControl, printable } from '../text.js';

const STATE_NAMES = ['running', 'paused', 'exited', 'queued'] as const; // by ProcessState's numbers

/** A ProcessInfo as plain JSON: every field, numbers instead of bigints, the state as a word. */
export interface ProcessJson {
  pid: number;
  ppid: number;
  cid: string;
  argv: string[];
  createdAtMs: number;
  createdAt: string;
  state: string;
  fuelUsed: number;
  cpuMs: number;
  memoryBytes: number;
  /** Why it ended (kind and its details, as src/executor/reasons.ts types it), once exited. */
  reason: Reason | null;
  exitCode: number | null;
  peerId: string;
  /** PIDs this process is linked to. */
  links: number[];
  /** How many live monitors watch it. */
  monitors: number;
}

export function stateName(state: number): string {
  return STATE_NAMES[state] ?? `state ${state}`;
}

/** Milliseconds as JSON shows them: to the microsecond, not float noise (9990.541989999998 -> 9990.542). */
export function jsonMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export function processJson(info: ProcessInfo): ProcessJson {
  const exited = stateName(info.state) === 'exited';
  const createdAtMs = Number(info.createdAtMs);
  return {
    pid: info.pid,
    ppid: info.ppid,
    cid: info.cid,
    argv: [...info.argv],
    createdAtMs,
    createdAt: new Date(createdAtMs).toISOString(),
    state: stateName(info.state),
    fuelUsed: Number(info.fuelUsed),
    cpuMs: jsonMs(info.cpuMs),
    memoryBytes: Number(info.memoryBytes),
    reason: exited ? reasonFromWire(info.reason) : null,
    exitCode: exited ? info.exitCode : null,
    peerId: info.peerId,
    links: [...(info.links ?? [])],
    monitors: info.monitors ?? 0,
  };
}

/** The first 12 hex digits of a content ID (`sha256:` or any other prefix dropped). */
export function shortCid(cid: string): string {
  if (cid === '') return '-';
  const hex = cid.includes(':') ? cid.slice(cid.lastIndexOf(':') + 1) : cid;
  return hex.slice(0, 12);
}

/** Bytes as a short human size: 0 B, 812 B, 1.5 KiB, 64 MiB. */
export function humanSize(bytes: number): string {
  if (!(bytes > 0)) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits).replace(/\.0$/, '')} ${units[unit]}`;
}

/** Milliseconds of CPU as a short duration: 0ms, 37ms, 1.25s, 2m05s, 3h07m. */
export function humanCpu(ms: number): string {
  if (!(ms > 0)) return '0ms';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2).replace(/\.?0+$/, '')}s`;
  const totalSeconds = Math.floor(ms / 1000);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m${String(totalSeconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(totalSeconds / 3600)}h${String(Math.floor(totalSeconds / 60) % 60).padStart(2, '0')}m`;
}

/** How long ago `thenMs` was, compactly: 4s ago, 12m ago, 3h ago, 2d ago (`just now` under a second). */
export function relativeTime(thenMs: number, nowMs: number): string {
  const seconds = Math.floor((nowMs - thenMs) / 1000);
  if (seconds < 1) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

/** The STATE column: running, paused, or `exited: <reason>`. */
export function stateColumn(info: ProcessInfo): string {
  const state = stateName(info.state);
  return state === 'exited' ? `exited: ${printable(reasonText(reasonFromWire(info.reason)))}` : state;
}

/** A process's argv as one line a user could read back (words with spaces or quotes quoted). */
export function argsText(argv: readonly string[]): string {
  return argv.map(quoteWord).join(' ');
}

/** A word as a shell reads it back: bare, quoted, or (with control characters, which a guest may put
 *  in its argv to move the cursor or forge rows) $'...' with them escaped. */
function quoteWord(word: string): string {
  if (word !== '' && /^[\w@%+=:,./-]+$/.test(word)) return word;
  if (hasControl(word)) return `$'${printable(word.replace(/\\/g, '\\\\').replace(/'/g, "\\'"))}'`;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface TableOptions {
  nowMs: number;
  /** Total line width to fit every line into; undefined means no truncation (output is not a terminal). */
  width?: number;
  /** Show the PID tree: children under their parents, ARGS indented (like `ps --forest`). */
  tree?: boolean;
  /** The PID column's text (`ww ps --cluster`: PEER/PID); default the pid. */
  pidText?: (info: ProcessInfo) => string;
  /** List the processes in the order given (`ww ps --cluster`: by peer), not by pid. */
  keepOrder?: boolean;
}

const COLUMNS = ['PID', 'PPID', 'STATE', 'CID', 'ARGS', 'CREATED', 'CPU', 'MEM'] as const;
const RIGHT_ALIGNED = new Set(['PID', 'PPID', 'CPU', 'MEM']); // numbers read best aligned on the right
const GAP = '  ';
const ARGS = COLUMNS.indexOf('ARGS');
const STATE = COLUMNS.indexOf('STATE');
/**
 * The columns cut with `…` when a line is wider than the terminal (their text can be any length:
 * argv, and a trap's message), and the width each keeps even when that is not enough: ARGS 12, STATE
 * every state but a trap's whole (`exited: exit: 255`, `exited: limit: memory`: the words that matter).
 */
function cutTo(rows: readonly string[][], traps: ReadonlySet<number>): Map<number, number> {
  const stateLeast = Math.max('exited: killed'.length, ...rows.filter((_, i) => !traps.has(i)).map((row) => row[STATE].length));
  return new Map([
    [ARGS, 12],
    [STATE, stateLeast],
  ]);
}

/**
 * The `ww ps` table (columns in cli/README.md's order). When a width is given, the widest of ARGS and
 * STATE is cut first, then both, until each line fits; with `tree`, rows are in depth-first order and
 * ARGS carries `ps --forest`'s `\_ ` indent.
 */
export function processTable(processes: readonly ProcessInfo[], options: TableOptions): string {
  const ordered = options.tree
    ? treeOrder(processes)
    : (options.keepOrder ? [...processes] : [...processes].sort((a, b) => a.pid - b.pid)).map((info) => ({ info, depth: 0 }));
  const rows = ordered.map(({ info, depth }) => [
    options.pidText?.(info) ?? String(info.pid),
    String(info.ppid),
    stateColumn(info),
    shortCid(info.cid),
    (depth > 0 ? `${'    '.repeat(depth - 1)} \\_ ` : '') + argsText(info.argv),
    relativeTime(Number(info.createdAtMs), options.nowMs),
    humanCpu(info.cpuMs),
    humanSize(Number(info.memoryBytes)),
  ]);
  const traps = new Set(ordered.flatMap(({ info }, i) => (stateName(info.state) === 'exited' && reasonFromWire(info.reason).kind === 'trap' ? [i] : [])));
  const least = cutTo(rows, traps);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  if (options.width !== undefined) fitColumns(widths, options.width, least);
  const render = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => {
        const text = least.has(i) ? truncate(cell, widths[i]) : cell;
        return RIGHT_ALIGNED.has(COLUMNS[i]) ? text.padStart(widths[i]) : text.padEnd(widths[i]);
      })
      .join(GAP)
      .trimEnd();
  return [render(COLUMNS), ...rows.map(render)].join('\n') + '\n';
}

/** Narrows the cuttable columns in `widths` until a line is at most `lineWidth` (or they are at their minimum). */
function fitColumns(widths: number[], lineWidth: number, cutTo: ReadonlyMap<number, number>): void {
  let excess = widths.reduce((sum, w) => sum + w, 0) + GAP.length * (widths.length - 1) - lineWidth;
  while (excess > 0) {
    // The widest cuttable column still above its minimum gives way first, down to the next widest.
    const candidates = [...cutTo]
      .map(([column, least]) => ({ column, least: Math.max(least, COLUMNS[column].length) }))
      .filter(({ column, least }) => widths[column] > least)
      .sort((a, b) => widths[b.column] - widths[a.column]);
    if (candidates.length === 0) return; // as narrow as it goes: the line stays too long
    const [widest, next] = candidates;
    const target = Math.max(widest.least, next ? widths[next.column] : 0, widths[widest.column] - excess);
    const cut = Math.max(1, widths[widest.column] - target); // equal widths: one at a time, in turn
    widths[widest.column] -= cut;
    excess -= cut;
  }
}

/** Cuts text to `width` characters, marking the cut with `…`. */
export function truncate(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width < 2) return text.slice(0, Math.max(width, 0));
  return `${text.slice(0, width - 1)}…`;
}

/** Depth-first order from the roots (processes whose parent is not in the list), children by PID. */
export function treeOrder(processes: readonly ProcessInfo[]): { info: ProcessInfo; depth: number }[] {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const children = new Map<number, ProcessInfo[]>();
  const roots: ProcessInfo[] = [];
  for (const p of processes) {
    if (p.ppid !== p.pid && byPid.has(p.ppid)) {
      const list = children.get(p.ppid) ?? [];
      list.push(p);
      children.set(p.ppid, list);
    } else {
      roots.push(p);
    }
  }
  const out: { info: ProcessInfo; depth: number }[] = [];
  const seen = new Set<number>();
  const visit = (p: ProcessInfo, depth: number): void => {
    if (seen.has(p.pid)) return; // a cycle would be the node's bug; never loop on it
    seen.add(p.pid);
    out.push({ info: p, depth });
    for (const child of (children.get(p.pid) ?? []).sort((a, b) => a.pid - b.pid)) visit(child, depth + 1);
  };
  for (const root of roots.sort((a, b) => a.pid - b.pid)) visit(root, 0);
  // Anything left is in a parent cycle: still list it rather than hide it.
  for (const p of processes) if (!seen.has(p.pid)) visit(p, 0);
  return out;
}

/** `ww info`'s human form: one `Field: value` line per field. */
export function infoText(info: ProcessInfo, nowMs: number): string {
  const json = processJson(info);
  const rows: [string, string][] = [
    ['PID', String(json.pid)],
    ['PPID', String(json.ppid)],
    ['State', json.state],
  ];
  if (json.state === 'exited') {
    rows.push(['Reason', json.reason ? printable(reasonText(json.reason)) : '']);
    rows.push(['Exit code', String(json.exitCode)]);
  }
  rows.push(
    ['Args', argsText(json.argv)],
    ['Module', json.cid || '-'],
    ['Created', `${json.createdAt} (${relativeTime(json.createdAtMs, nowMs)})`],
    ['CPU', `${humanCpu(json.cpuMs)} (${json.cpuMs.toFixed(3)} ms)`],
    ['Fuel used', String(json.fuelUsed)],
    ['Memory', `${humanSize(json.memoryBytes)} (${json.memoryBytes} bytes)`],
  );
  rows.push(['Links', json.links.length > 0 ? json.links.join(', ') : '-'], ['Monitors', String(json.monitors)]);
  if (json.peerId) rows.push(['Peer', json.peerId]);
  const width = Math.max(...rows.map(([name]) => name.length)) + 1;
  return rows.map(([name, value]) => `${`${name}:`.padEnd(width)} ${value}`).join('\n') + '\n';
}

/** Lines of a terminal that does not say how wide it is. */
const DEFAULT_TERMINAL_WIDTH = 80;

/**
 * The width `ww ps` fits its lines into: $COLUMNS, else the terminal's (80 when it reports none),
 * else none: piped into a file or another command, nothing is cut (as ps does).
 */
export function outputWidth(stream: Pick<NodeJS.WriteStream, 'isTTY' | 'columns'> = process.stdout, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const fromEnv = Number(env.COLUMNS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  if (!stream.isTTY) return undefined;
  return stream.columns > 0 ? stream.columns : DEFAULT_TERMINAL_WIDTH;
}
