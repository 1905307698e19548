// random_get: the OS CSPRNG, filled in chunks (randomFillSync rejects > 2^31-1
// bytes, and small chunks keep each call short).
import { randomFillSync } from 'node:crypto';

const CHUNK = 64 * 1024;

export function fillRandom(target: Uint8Array): void {
  for (let off = 0; off < target.length; off += CHUNK) {
    randomFillSync(target.subarray(off, Math.min(off + CHUNK, target.length)));
  }
}
