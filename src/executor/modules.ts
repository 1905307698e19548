// The node's module store: original module bytes by content ID (sha256 hex), so a module put
// once can be spawned, fetched and checked for by its ID. The runtime keeps compiled (and
// instrumented) code, not bytes; this keeps the bytes, in memory (LRU, bounded) and, with a
// data directory, on disk under <dataDir>/modules/<cid>.wasm.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedModule, Runtime } from '../wasm/index.js';
import { fromRuntime } from './runtime-errors.js';

const CID = /^[0-9a-f]{64}$/;

export function isContentId(cid: string): boolean {
  return CID.test(cid);
}

export class ModuleStore {
  private readonly bytes = new Map<string, Uint8Array>();
  private held = 0;
  private readonly dir: string | undefined;

  constructor(
    private readonly runtime: Runtime,
    dataDir: string | undefined,
    private readonly maxMemoryBytes = 256 * 1024 * 1024,
  ) {
    if (dataDir) {
      this.dir = join(dataDir, 'modules');
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    }
  }

  /** Validates, compiles and keeps a module; rejects with ExecutorError 'invalid-module' for bad bytes. */
  async put(bytes: Uint8Array): Promise<LoadedModule> {
    const loaded = await this.runtime.load(bytes).catch((e: unknown) => {
      throw fromRuntime(e);
    });
    if (!this.bytes.has(loaded.cid)) {
      const copy = bytes.slice(); // the caller's buffer may be a view into an RPC message
      this.remember(loaded.cid, copy);
      if (this.dir && !existsSync(this.file(loaded.cid))) {
        const tmp = `${this.file(loaded.cid)}.${process.pid}.tmp`;
        writeFileSync(tmp, copy, { mode: 0o600 });
        renameSync(tmp, this.file(loaded.cid));
      }
    }
    return loaded;
  }

  has(cid: string): boolean {
    if (!isContentId(cid)) return false;
    return this.bytes.has(cid) || (this.dir !== undefined && existsSync(this.file(cid)));
  }

  /** The module's bytes, or undefined when the store does not hold it. */
  get(cid: string): Uint8Array | undefined {
    if (!isContentId(cid)) return undefined;
    const hit = this.bytes.get(cid);
    if (hit) {
      this.bytes.delete(cid);
      this.bytes.set(cid, hit);
      return hit;
    }
    if (this.dir && existsSync(this.file(cid))) {
      const b = new Uint8Array(readFileSync(this.file(cid)));
      this.remember(cid, b);
      return b;
    }
    return undefined;
  }

  /** The compiled module for a content ID when the runtime has it compiled now; else undefined. */
  compiled(cid: string): LoadedModule | undefined {
    return isContentId(cid) ? this.runtime.get(cid) : undefined;
  }

  /** The compiled module for a content ID (compiled again if the runtime evicted it), or undefined. */
  async module(cid: string): Promise<LoadedModule | undefined> {
    if (!isContentId(cid)) return undefined;
    const compiled = this.runtime.get(cid);
    if (compiled) return compiled;
    const b = this.get(cid);
    return b
      ? this.runtime.load(b).catch((e: unknown) => {
          throw fromRuntime(e);
        })
      : undefined;
  }

  private remember(cid: string, b: Uint8Array): void {
    this.bytes.set(cid, b);
    this.held += b.length;
    for (const [old, ob] of this.bytes) {
      if (this.held <= this.maxMemoryBytes || old === cid) break;
      this.bytes.delete(old);
      this.held -= ob.length;
    }
  }

  private file(cid: string): string {
    return join(this.dir!, `${cid}.wasm`);
  }
}
