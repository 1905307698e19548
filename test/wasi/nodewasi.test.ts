// The same ordinary wasi-libc program under ww's host and under node:wasi (the
// baseline) gives the same output, exit code and files: legitimate programs see
// no difference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { cleanup, guest, run, tempDir, Wasm } from './harness.js';

function snapshot(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out.push(`${prefix}${name} -> ${readlinkSync(p)}`);
    else if (st.isDirectory()) out.push(`${prefix}${name}/`, ...snapshot(p, `${prefix}${name}/`));
    else out.push(`${prefix}${name}: ${readFileSync(p, 'utf8')}`);
  }
  return out;
}

test('a wasi-libc program behaves the same under ww and node:wasi', () => {
  const oursDir = tempDir();
  const nodeDir = tempDir();
  const outDir = tempDir();
  try {
    const args = ['libc.wasm', 'one', 'two words'];
    const ours = run(guest('libc.wasm'), { args, env: [['GREETING', 'hi']], preopens: [{ hostPath: oursDir, guestPath: '/sb' }] });

    const outPath = join(outDir, 'stdout');
    writeFileSync(outPath, '');
    const outFd = openSync(outPath, 'w');
    let nodeCode: number;
    try {
      const wasi = new WASI({ version: 'preview1', args, env: { GREETING: 'hi' }, preopens: { '/sb': nodeDir }, returnOnExit: true, stdout: outFd });
      const instance = new Wasm.Instance(guest('libc.wasm'), wasi.getImportObject() as object);
      nodeCode = wasi.start(instance as unknown as Parameters<typeof wasi.start>[0]);
    } finally {
      closeSync(outFd);
    }
    const nodeOut = readFileSync(outPath, 'utf8');

    assert.equal(ours.code, 3);
    assert.equal(ours.code, nodeCode);
    assert.equal(ours.stdout, nodeOut);
    assert.match(ours.stdout, /^read_via_link=8 line one$/m);
    assert.deepEqual(snapshot(oursDir), snapshot(nodeDir));
    assert.deepEqual(snapshot(oursDir), ['dir/', 'dir/moved.txt: line one\nline two\nline three\n', 'link -> dir/moved.txt']);
  } finally {
    cleanup(oursDir);
    cleanup(nodeDir);
    cleanup(outDir);
  }
});
