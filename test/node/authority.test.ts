// The node's authority model, tried as an attacker would: another uid, another client of the
// same node, a principal that is not the owner, a restricted executor. Each attack must fail.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, serve } from '../../src/rpc/index.js';
import { memoryPair } from '../../src/rpc/transport/memory.js';
import { Node, OutputMode, Process, type Executor$Client, type Process$Server, type Restriction$Init } from '../../src/capnp-gen/ww.rpc.js';
import { executorErrorFromRpc, Grant, nodeCapOf, Principal } from '../../src/executor/rpc.js';
import { startNode } from '../../src/node/index.js';
import { FOREVER, assemble, cpuLoopWasm, eventually, helloWasm, said, sleeperWat, writer, startTestNode, type TestNode } from '../executor/helpers.js';

let t: TestNode;
before(async () => {
  t = await startTestNode();
});
after(() => t.close());

/** The code a refused call fails with (its message alongside, to read in a failure). */
async function refusedWith(p: PromiseLike<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return executorErrorFromRpc(e)?.code ?? `not an executor refusal: ${(e as Error).message}`;
  }
  throw new Error('not refused');
}

const sleeperWasm = (): Promise<Uint8Array> => assemble(sleeperWat(60_000_000_000n)); // blocked: no fuel used

test('another uid cannot reach the node: its socket is 0600 in a 0700 directory, and connecting as nobody is refused', () => {
  assert.equal(statSync(t.socketPath).mode & 0o777, 0o600);
  assert.equal(statSync(join(t.dir, 'run')).mode & 0o777, 0o700);
  assert.equal(process.getuid?.(), 0, 'this test switches to another uid, which needs root (the test machines run as root)');
  // As uid/gid 65534 (nobody), with the path made reachable up to the node's own directory.
  chmodSync(t.dir, 0o755);
  const probe = `require('net').connect(${JSON.stringify(t.socketPath)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
  const asNobody = (): string => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  assert.equal(asNobody(), 'EACCES', 'the 0700 directory keeps nobody out');
  // Each lock holds alone: with the directory opened up, the socket's own 0600 still refuses.
  chmodSync(join(t.dir, 'run'), 0o755);
  try {
    assert.equal(asNobody(), 'EACCES', 'the 0600 socket keeps nobody out');
    chmodSync(t.socketPath, 0o666);
    assert.equal(asNobody(), 'connected', 'the probe can tell: with both opened, nobody connects');
  } finally {
    chmodSync(t.socketPath, 0o600);
    chmodSync(join(t.dir, 'run'), 0o700);
  }
});

test('a socket in a directory other users may enter is refused, naming the directory and its mode', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ww-open-'));
  try {
    chmodSync(dir, 0o755);
    await assert.rejects(startNode({ socketPath: join(dir, 'node.sock'), poolSize: 1 }), /is open to other users \(mode 755\)/);
    assert.equal(existsSync(join(dir, 'node.sock')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two clients of one node: each executor lists only what it spawned, and a pid gives the other nothing', async () => {
  const mine = await t.spawn({ moduleBytes: cpuLoopWasm(), argv: ['mine', FOREVER] });
  const other = await t.connect();
  const theirs = other.node.executor().executor;
  try {
    const child = await theirs.spawn({ spec: { moduleBytes: cpuLoopWasm(), argv: ['theirs', FOREVER] } });
    const seen = (await theirs.ps()).processes.map((p) => p.pid);
    assert.deepEqual(seen, [child.pid], 'their ps lists their process only: not mine, not init');
    assert.ok(!(await t.executor.ps()).processes.some((p) => p.pid === child.pid), 'my ps does not list theirs');
    // By pid: refused, however it is asked.
    assert.equal(await refusedWith(theirs.obsoleteProcess({ pid: mine.pid }).process.info()), 'not-permitted');
    assert.equal(await refusedWith(theirs.spawn({ spec: { moduleBytes: helloWasm(), obsoletePpid: mine.pid } })), 'bad-request');
    // A Process of their own making that claims to be mine is not mine: neither parent nor link target.
    const forged = serve(Process, { info: () => ({ info: { pid: mine.pid } }) } as unknown as Process$Server);
    assert.equal(await refusedWith(theirs.spawn({ spec: { moduleBytes: helloWasm(), parent: forged } })), 'no-such-process');
    assert.equal(said((await child.process.info()).info.reason), 'normal', 'unrelated: their process is untouched');
    const info = (await t.admin.process({ pid: mine.pid }).process.info()).info;
    assert.equal(info.state, 0, 'mine still runs');
    assert.deepEqual(info.links, []);
    await child.process.kill();
  } finally {
    theirs.release();
    await mine.process.kill();
  }
});

test('a principal that is not the owner gets no Admin, and only the grant the node gave it', async () => {
  const stranger = new Principal('peer 12D3KooWStranger', { processes: 2, spawning: 4, connections: 1, memoryBytes: 1 << 30 });
  const [a, b] = memoryPair();
  const server = new Connection(a, { bootstrap: serve(Node, nodeCapOf(t.node.executor, { peerId: 'x', version: '0', startedAtMs: 0n, osPid: 0 }, { principal: stranger, owner: false, grant: new Grant({ fuel: 1_000_000 }, [], []) })) });
  const client = new Connection(b);
  const node = client.bootstrap(Node);
  try {
    assert.equal(await refusedWith(node.admin().admin.ps()), 'not-permitted');
    const ex = node.executor().executor;
    // Its grant: no directories, no listening, fuel at most 1,000,000 (and that, when none is asked).
    assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: helloWasm(), dirs: [{ hostPath: t.dir, guestPath: '/d' }] } })), 'not-permitted');
    assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: helloWasm(), listen: ['127.0.0.1:0'] } })), 'not-permitted');
    assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: helloWasm(), limits: { fuel: 2_000_000n } } })), 'not-permitted');
    const spinner = await ex.spawn({ spec: { moduleBytes: cpuLoopWasm(), argv: ['spin', FOREVER] } });
    assert.equal(said((await spinner.process.wait()).status.reason), 'limit: cpu', 'the grant\'s fuel ceiling applies when none is asked');
    // Its quota: two live processes (sleepers: blocked, they burn no fuel and stay).
    const sleeper = await sleeperWasm();
    const one = await ex.spawn({ spec: { moduleBytes: sleeper, argv: ['one'] } });
    const two = await ex.spawn({ spec: { moduleBytes: sleeper, argv: ['two'], limits: { fuel: 900_000n } } });
    assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: helloWasm() } })), 'quota');
    await one.process.kill();
    await one.process.wait();
    const three = await ex.spawn({ spec: { moduleBytes: helloWasm() } });
    assert.equal(said((await three.process.wait()).status.reason), 'normal', 'an ended process gives its place back');
    await two.process.kill();
  } finally {
    client.close();
    server.close();
  }
});

test('a principal\'s processes share its memory budget: a spawn past it is refused, a grow past it fails, an end gives it back', async () => {
  const PAGE = 65536;
  const stranger = new Principal('peer 12D3KooWMemory', { processes: 16, spawning: 4, connections: 1, memoryBytes: 150 * PAGE });
  const [a, b] = memoryPair();
  const server = new Connection(a, { bootstrap: serve(Node, nodeCapOf(t.node.executor, { peerId: 'x', version: '0', startedAtMs: 0n, osPid: 0 }, { principal: stranger, owner: false })) });
  const client = new Connection(b);
  const ex = client.bootstrap(Node).executor().executor;
  try {
    // 101 pages held while it sleeps.
    const big = await ex.spawn({ spec: { moduleBytes: await assemble(sleeperWat(60_000_000_000n, { grow: 100 })) } });
    await eventually('the sleeper has grown', () => stranger.memory.usedBytes === 101 * PAGE);
    const grower = await assemble(sleeperWat(0n, { grow: 100 }));
    const refusedGrow = await ex.spawn({ spec: { moduleBytes: grower } });
    assert.equal(said((await refusedGrow.process.wait()).status.reason), 'limit: memory', '101 + 1 + 100 pages is past 150');
    assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: await assemble(sleeperWat(0n, { pages: 60 })) } })), 'quota', '101 + 60 pages at start');
    assert.equal(stranger.memory.usedBytes, 101 * PAGE, 'ended and refused processes hold nothing');
    await big.process.kill();
    await big.process.wait();
    assert.equal(stranger.memory.usedBytes, 0, 'a killed process gives its pages back');
    const fits = await ex.spawn({ spec: { moduleBytes: grower } });
    assert.equal(said((await fits.process.wait()).status.reason), 'normal');
    // The owner's budget is its own: the stranger's use never counted against it.
    assert.equal(said((await (await t.executor.spawn({ spec: { moduleBytes: grower } })).process.wait()).status.reason), 'normal');
  } finally {
    client.close();
    server.close();
  }
});

/** A guest with `tables` externref tables that grows each by `entries`, writes the results (old sizes, or -1) to stdout, then exits. */
const tableGrower = (tables: number, entries: number): Promise<Uint8Array> =>
  assemble(`(module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    ${Array.from({ length: tables }, (_, i) => `(table $t${i} 0 externref)`).join(' ')}
    (func (export "_start")
      ${Array.from({ length: tables }, (_, i) => `(i32.store (i32.const ${64 + 4 * i}) (table.grow $t${i} (ref.null extern) (i32.const ${entries})))`).join('\n')}
      (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const ${4 * tables}))
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`);
const grown = (stdout: Uint8Array): number[] => [...new Int32Array(new Uint8Array(stdout).buffer)];

test('table entries are memory: table.grow counts against the process\'s limit and its principal\'s budget, and a process holds at most 1,048,576 entries', async () => {
  const PAGE = 65536;
  const stranger = new Principal('peer 12D3KooWTables', { processes: 4, spawning: 4, connections: 1, memoryBytes: 7 * PAGE }, t.node.executor.memory);
  const [a, b] = memoryPair();
  const server = new Connection(a, { bootstrap: serve(Node, nodeCapOf(t.node.executor, { peerId: 'x', version: '0', startedAtMs: 0n, osPid: 0 }, { principal: stranger, owner: false })) });
  const client = new Connection(b);
  const ex = client.bootstrap(Node).executor().executor;
  try {
    const run = async (wasm: Uint8Array, maxMemoryBytes?: bigint) =>
      (await (await ex.spawn({ spec: { moduleBytes: wasm, stdout: { mode: OutputMode.capture }, ...(maxMemoryBytes ? { limits: { maxMemoryBytes } } : {}) } })).process.wait()).status;
    // The first 8,192 entries are free; 24,576 are two pages more: with the 1-page memory, three; a 2-page limit
    // refuses them, a 4-page one does not (the captured output takes a page too).
    assert.deepEqual(grown((await run(await tableGrower(1, 24576), BigInt(2 * PAGE))).stdout), [-1]);
    assert.deepEqual(grown((await run(await tableGrower(1, 24576), BigInt(4 * PAGE))).stdout), [0]);
    // The principal's 7 pages: 1 of memory, then tables of 16,384 entries: 1, 3, 5 pages fit, 7 does not (a page is left for the output).
    assert.deepEqual(grown((await run(await tableGrower(4, 16384))).stdout), [0, 0, 0, -1]);
    // Past 1,048,576 entries, whatever the budgets: the owner's budget is large.
    const owner = (await (await t.executor.spawn({ spec: { moduleBytes: await tableGrower(4, 400_000), stdout: { mode: OutputMode.capture } } })).process.wait()).status;
    assert.deepEqual(grown(owner.stdout), [0, 0, -1, -1]);
    assert.equal(stranger.memory.usedBytes, 0, 'all given back');
    // Tables declared that large at start are refused at load.
    const declared = await assemble(`(module (memory (export "memory") 1) (table 600000 externref) (table 600000 externref) (func (export "_start")))`);
    assert.equal(await refusedWith(ex.spawn({ spec: { moduleBytes: declared } })), 'invalid-module');
  } finally {
    client.close();
    server.close();
  }
});

test('a guest limited to 64 KiB of memory cannot crash the node by growing tables', { timeout: 120_000 }, async () => {
  // As the attack was found: 150 tables grown by V8's largest table each (80 MB apiece) aborted the
  // whole node when its worker's heap ran out. Run in a node of its own, in a child process.
  const dir = mkdtempSync(join(tmpdir(), 'ww-tables-'));
  const nodeModule = new URL('../../src/node/index.js', import.meta.url).href;
  const watModule = new URL('../../fixtures/wat.js', import.meta.url).href;
  const script = `
    import { startNode, connectNode } from ${JSON.stringify(nodeModule)};
    import { assemble } from ${JSON.stringify(watModule)};
    const node = await startNode({ socketPath: ${JSON.stringify(join(dir, 'run', 'node.sock'))}, poolSize: 1 });
    const client = await connectNode(node.socketPath);
    const ex = client.node.executor().executor;
    const N = 150;
    const tables = Array.from({ length: N }, (_, i) => '(table $t' + i + ' 0 externref)').join(' ');
    const grows = Array.from({ length: N }, (_, i) => '(drop (table.grow $t' + i + ' (ref.null extern) (i32.const 10000000)))').join(' ');
    const wasm = await assemble('(module (memory (export "memory") 1) ' + tables + ' (func (export "_start") ' + grows + '))');
    const { process: p } = await ex.spawn({ spec: { moduleBytes: wasm, limits: { maxMemoryBytes: 65536n } } });
    const { status } = await p.wait();
    console.log('node survived; the guest ended with reason kind ' + status.reason.kind);
    client.close();
    await node.close();
  `;
  try {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, sig) => r([c, sig])));
    assert.match(out, /node survived/, `the node's process ended with code ${code}, signal ${signal}: ${/FATAL ERROR[^\n]*/.exec(err)?.[0] ?? err.slice(0, 300)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a granted directory swapped for a symbolic link after the check is not opened', async () => {
  const base = mkdtempSync(join(tmpdir(), 'ww-swap-'));
  const granted = join(base, 'granted');
  mkdirSync(join(granted, 'sub'), { recursive: true });
  try {
    const ask = new Grant({}, [{ hostPath: granted, readOnly: false }], []).preopenFor({ hostPath: join(granted, 'sub'), guestPath: '/d' });
    assert.equal(ask.hostPath, join(granted, 'sub'));
    // Between the executor's check and the worker's open: the checked directory moves away, a link to /etc takes its place.
    renameSync(join(granted, 'sub'), join(granted, 'moved'));
    symlinkSync('/etc', join(granted, 'sub'));
    const rt = t.node.executor.table.runtime;
    const status = await rt.spawn(await rt.load(await writer('owned.txt')), { args: ['w'], preopens: [ask] }).wait();
    assert.equal(status.reason.kind, 'trap');
    assert.match(status.reason.kind === 'trap' ? status.reason.message : '', /replaced by another directory/);
    assert.equal(existsSync('/etc/owned.txt'), false);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('restrict: a weaker executor cannot widen its grant, pre-open outside it, write through a read-only grant, or listen elsewhere', async () => {
  const base = mkdtempSync(join(tmpdir(), 'ww-grant-'));
  const ro = join(base, 'ro');
  const rw = join(base, 'rw');
  mkdirSync(ro);
  mkdirSync(rw);
  symlinkSync('/etc', join(rw, 'escape'));
  const restriction = (r: Partial<Restriction$Init>): { restriction: Restriction$Init } => ({ restriction: r });
  const weak: Executor$Client = t.executor.restrict(
    restriction({ limitDirs: true, dirs: [{ hostPath: ro, readOnly: true }, { hostPath: rw }], limitListen: true, listen: ['127.0.0.1:0'], limits: { maxMemoryBytes: 1n << 24n } }),
  ).executor;
  try {
    const write = await writer('new.txt');
    const spawnIn = (hostPath: string, readOnly = false) =>
      weak.spawn({ spec: { moduleBytes: write, dirs: [{ hostPath, guestPath: '/d', readOnly }] } }).then(async ({ process }) => (await process.wait()).status.code);
    assert.equal(await spawnIn(rw), 0, 'a read-write grant: the guest creates the file');
    assert.ok(existsSync(join(rw, 'new.txt')));
    assert.equal(await refusedWith(spawnIn(ro)), 'not-permitted', 'a read-only grant cannot be pre-opened read-write');
    assert.equal(await spawnIn(ro, true), 63, 'read-only: creating a file is EPERM');
    assert.equal(existsSync(join(ro, 'new.txt')), false);
    assert.equal(await refusedWith(spawnIn(base)), 'not-permitted', 'the grants\' parent directory is outside them');
    assert.equal(await refusedWith(spawnIn(join(rw, 'escape'))), 'not-permitted', 'a symbolic link inside a grant to a directory outside it');
    assert.equal(await refusedWith(spawnIn(join(ro, '..', 'rw', '..'))), 'not-permitted', 'dot-dot out of a grant');
    // Listening: any port on 127.0.0.1 only.
    assert.equal(await refusedWith(weak.spawn({ spec: { moduleBytes: helloWasm(), listen: ['0.0.0.0:0'] } })), 'not-permitted');
    const listened = await weak.spawn({ spec: { moduleBytes: helloWasm(), listen: ['127.0.0.1:0'] } });
    assert.match(listened.listening[0] ?? '', /^127\.0\.0\.1:\d+$/);
    // Limits: at most the ceiling.
    assert.equal(await refusedWith(weak.spawn({ spec: { moduleBytes: helloWasm(), limits: { maxMemoryBytes: 1n << 25n } } })), 'not-permitted');
    // No widening: a directory outside, a read-only grant made read-write, another address.
    assert.equal(await refusedWith(weak.restrict(restriction({ limitDirs: true, dirs: [{ hostPath: base }] })).executor.ps()), 'not-permitted');
    assert.equal(await refusedWith(weak.restrict(restriction({ limitListen: true, listen: ['0.0.0.0:8080'] })).executor.ps()), 'not-permitted');
    const narrower = weak.restrict(restriction({ limitDirs: true, dirs: [{ hostPath: ro }] })).executor;
    const spawned = await narrower.spawn({ spec: { moduleBytes: write, dirs: [{ hostPath: ro, guestPath: '/d', readOnly: true }] } });
    assert.equal((await spawned.process.wait()).status.code, 63, 'a grant restricted from a read-only one stays read-only');
    // The restricted executors' processes are in the outer executor's ps; the outer one's are not in theirs.
    const outer = (await t.executor.ps()).processes.map((p) => p.pid);
    assert.ok(outer.includes(spawned.pid) && outer.includes(listened.pid));
    assert.ok(!(await narrower.ps()).processes.some((p) => p.pid === listened.pid));
    narrower.release();
  } finally {
    weak.release();
    rmSync(base, { recursive: true, force: true });
  }
});

test('connections past the owner\'s quota are closed; the ones within it work', async () => {
  const { connectNode } = await import('../../src/node/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'ww-conns-'));
  const node = await startNode({ socketPath: join(dir, 'node.sock'), poolSize: 1, quotas: { connections: 1 } });
  try {
    const first = await connectNode(node.socketPath);
    assert.equal((await first.node.identity()).info.peerId, node.peerId);
    const second = await connectNode(node.socketPath);
    await assert.rejects(second.node.identity().then(), /disconnect|closed|reset/i);
    second.close();
    assert.equal((await first.node.identity()).info.peerId, node.peerId, 'the first is unaffected');
    first.close();
  } finally {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
