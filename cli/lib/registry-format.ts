// How `ww registry` shows records: one line each that fits the terminal, or JSON. Pure functions.
import type { RegistryRecord } from '../../src/capnp-gen/ww.rpc.js';
import { printable } from '../text.js';
import { truncate } from './format.js';

/** A RegistryRecord as plain JSON: numbers instead of bigints, the expiry null for a put. */
export interface RegistryRecordJson {
  name: string;
  value: string;
  owner: string;
  version: number;
  expiresAtMs: number | null;
}

export function recordJson(r: RegistryRecord): RegistryRecordJson {
  const expires = Number(r.expiresAtMs);
  return { name: r.name, value: r.value, owner: r.owner, version: Number(r.version), expiresAtMs: expires === 0 ? null : expires };
}

/** NAME VERSION OWNER EXPIRES VALUE, VALUE cut to the width (names, owners and values shown escaped). */
export function recordTable(records: readonly RegistryRecord[], options: { nowMs: number; width: number | undefined }): string {
  if (records.length === 0) return '';
  const rows = records.map((r) => {
    const expires = Number(r.expiresAtMs);
    return [printable(r.name), String(r.version), printable(r.owner).slice(0, 12), expires === 0 ? '-' : `${Math.max(0, Math.ceil((expires - options.nowMs) / 1000))}s`, printable(r.value)];
  });
  const header = ['NAME', 'VERSION', 'OWNER', 'EXPIRES', 'VALUE'];
  const widths = header.slice(0, 4).map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => {
    const text = cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c)).join('  ');
    return options.width === undefined ? text : truncate(text, options.width);
  };
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
