// Main-thread side of instrumentation: a lazily started worker (instrument-worker.ts) that
// runs binaryen, plus an optional on-disk cache of instrumented bytes by content ID.

import { Worker } from 'node:worker_threads';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INSTRUMENTATION_VERSION } from './instrument.js';
import { SUSPENDABLE_VERSION } from './suspendable.js';
import type { InstrumentRequest, InstrumentResponse } from './instrument-worker.js';
import { Wasm } from './webassembly.js';

const IDLE_MS = 30_000; // binaryen holds ~100 MB: let the worker go when unused

export class Instrumenter {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(b: Uint8Array): void; reject(e: Error): void }>();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly dir: string | undefined;

  /** cacheDir: where instrumented modules are kept across runs (created 0700); undefined = memory only. */
  constructor(cacheDir?: string) {
    this.dir = cacheDir;
  }

  /** The module instrumented; `suspendable`: also made suspendable (suspendable.ts), cached apart. */
  async instrument(cid: string, bytes: Uint8Array, suspendable = false): Promise<Uint8Array> {
    const cached = this.cached(cid, suspendable);
    if (cached) return cached;
    const out = await this.request(bytes, suspendable);
    this.writeDisk(this.dirFor(suspendable), cid, out);
    return out;
  }

  /** The module's instrumented bytes if the disk cache has them (no work otherwise). */
  cached(cid: string, suspendable = false): Uint8Array | undefined {
    return this.readDisk(this.dirFor(suspendable), cid);
  }

  private dirFor(suspendable: boolean): string | undefined {
    return this.dir && join(this.dir, `instrumented-v${INSTRUMENTATION_VERSION}${suspendable ? `-suspendable-v${SUSPENDABLE_VERSION}` : ''}`);
  }

  close(): void {
    clearTimeout(this.idleTimer);
    void this.worker?.terminate();
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new Error('runtime closed while instrumenting a module'));
    this.pending.clear();
  }

  private request(bytes: Uint8Array, suspendable: boolean): Promise<Uint8Array> {
    const worker = this.ensureWorker();
    clearTimeout(this.idleTimer);
    worker.ref();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const req: InstrumentRequest = { id, bytes: new Uint8Array(bytes), suspendable }; // a copy (Buffer#slice would not copy) to transfer
      worker.postMessage(req, [req.bytes.buffer as ArrayBuffer]);
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./instrument-worker.js', import.meta.url), { execArgv: [] });
    worker.on('message', (res: InstrumentResponse) => {
      const p = this.pending.get(res.id);
      this.pending.delete(res.id);
      if ('error' in res) p?.reject(new Error(res.error)); // (the runtime says it is the instrumentation that failed)
      else p?.resolve(res.bytes);
      if (this.pending.size === 0) {
        worker.unref();
        this.idleTimer = setTimeout(() => this.close(), IDLE_MS).unref();
      }
    });
    const fail = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(new Error(`instrumentation worker failed: ${err.message}`));
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private readDisk(dir: string | undefined, cid: string): Uint8Array | undefined {
    if (!dir) return undefined;
    try {
      const path = join(dir, `${cid}.wasm`);
      // Only trust a cache directory that is ours and private: the file decides what a guest may do.
      const st = statSync(dir);
      if ((st.mode & 0o077) !== 0 || (process.getuid && st.uid !== process.getuid())) return undefined;
      const data = readFileSync(path);
      return Wasm.validate(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined;
    } catch {
      return undefined;
    }
  }

  private writeDisk(dir: string | undefined, cid: string, bytes: Uint8Array): void {
    if (!dir) return;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = join(dir, `.${cid}.${process.pid}.tmp`);
      writeFileSync(tmp, bytes, { mode: 0o600 });
      renameSync(tmp, join(dir, `${cid}.wasm`));
    } catch {
      // a cache that cannot be written only costs time
    }
  }
}
