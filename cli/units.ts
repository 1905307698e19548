// Parsers for the human-friendly values ww's flags accept (sizes, durations, counts).
// Each throws UsageError with a message that names the flag, the bad value and the accepted forms.
import { UsageError } from './errors.js';

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Parses a byte size: `65536`, `64k`, `16M`, `1G`, `16MiB`, `1.5g` (case-insensitive, powers of 1024). */
export function parseSize(flag: string, text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const multiplier = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || multiplier === undefined) {
    throw new UsageError(`${flag} '${text}' is not a size; write bytes or a number with k, M or G (e.g. 64k, 16M, 1G, 16MiB)`);
  }
  const bytes = Math.floor(Number(match[1]) * multiplier);
  if (bytes <= 0 || !Number.isSafeInteger(bytes)) {
    throw new UsageError(`${flag} '${text}' must be a positive size below 8 PiB (e.g. 64k, 16M, 1G)`);
  }
  return bytes;
}

const DURATION_UNITS: Record<string, number> = {
  '': 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a duration into milliseconds: `500` (ms), `500ms`, `2s`, `1.5s`, `1m`, `1h`. */
export function parseDuration(flag: string, text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const multiplier = match ? DURATION_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || multiplier === undefined) {
    throw new UsageError(`${flag} '${text}' is not a duration; write milliseconds or a number with ms, s, m or h (e.g. 500ms, 2s, 1m)`);
  }
  const ms = Number(match[1]) * multiplier;
  if (!(ms > 0) || !Number.isSafeInteger(Math.ceil(ms))) {
    throw new UsageError(`${flag} '${text}' must be a positive duration (e.g. 500ms, 2s, 1m)`);
  }
  return Math.ceil(ms);
}

/** Parses a positive whole count such as fuel: `1000000` or `1_000_000`. */
export function parseCount(flag: string, text: string): number {
  const digits = text.trim().replace(/_/g, '');
  const value = /^\d+$/.test(digits) ? Number(digits) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`${flag} '${text}' must be a positive whole number (e.g. 1000000 or 1_000_000)`);
  }
  return value;
}

/** Renders bytes the way a user would write them back: 16 MiB, 64 KiB, 1000 bytes. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** Renders milliseconds compactly: 2s, 1500ms, 1m. */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * An oclif flag `parse` function that checks each value with `check` (which throws UsageError) and
 * keeps the text as given. oclif parses flags before it looks for missing arguments, so
 * `ww run --timeout x.wasm` says the timeout is not a duration instead of "missing MODULE".
 */
export function checkedBy(check: (text: string) => unknown): (text: string) => Promise<string> {
  return async (text) => {
    await check(text);
    return text;
  };
}
