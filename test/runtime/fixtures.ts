// Test guests: WAT sources under test/runtime/fixtures, assembled with wabt (with the name
// section, so trap reasons can name functions).
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export const fixturesDir = (): string => join(repoRoot(), 'test', 'runtime', 'fixtures');

let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined;

/** Assembles WAT text to a binary module. */
export async function assemble(source: string, name = 'guest.wat'): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const mod = wabt.parseWat(name, source, { mutable_globals: true, sat_float_to_int: true, sign_extension: true, bulk_memory: true });
  try {
    return new Uint8Array(mod.toBinary({ write_debug_names: true }).buffer);
  } finally {
    mod.destroy();
  }
}

/** Assembles test/runtime/fixtures/<name>.wat. */
export async function guest(name: string): Promise<Uint8Array> {
  return assemble(readFileSync(join(fixturesDir(), `${name}.wat`), 'utf8'), `${name}.wat`);
}
