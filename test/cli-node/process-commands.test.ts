// ww ps, kill, pause, resume, wait and info end to end: the real CLI in subprocesses against a real
// `ww start` node; test processes are spawned over RPC (with PPIDs) so each command's effect is checked
// both through the CLI and through the node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutputMode } from '../../src/capnp-gen/ww.rpc.js';
import { said } from '../executor/helpers.js';
import {
  FOREVER,
  assembleFixture,
  cpuLoop,
  hello,
  lines,
  oneErrorLine,
  psJson,
  rpcSession,
  runWw,
  startNodeProcess,
  tempDir,
  type NodeUnderTest,
  type RpcSession,
} from './helpers.js';

let node: NodeUnderTest;
let rpc: RpcSession;
const fixtures = tempDir('fixtures');
let exit7 = '';
let trapLongName = '';

before(async () => {
  exit7 = await assembleFixture('exit7', fixtures.path);
  trapLongName = await assembleFixture('trap-long-name', fixtures.path);
  node = await startNodeProcess();
  rpc = await rpcSession(node.socketPath);
});

after(async () => {
  rpc?.close();
  await node?.dispose();
  fixtures.cleanup();
});

const ww = (...args: string[]) => runWw([...args, '--socket', node.socketPath]);

describe('ww ps', () => {
  test('--json lists detached processes with their PPIDs, states and argv', async () => {
    const parent = await rpc.spawn(cpuLoop, ['cpu-loop.wasm', FOREVER]);
    const child = await rpc.spawn(cpuLoop, ['child.wasm', FOREVER], { parent: parent.process });
    const grandchild = await rpc.spawn(cpuLoop, ['grandchild.wasm', FOREVER], { parent: child.process });
    try {
      const all = psJson(await ww('ps', '--json'));
      const byPid = new Map(all.map((p) => [p.pid, p]));
      assert.equal(byPid.get(1)?.ppid, 0, 'init is PID 1');
      assert.equal(byPid.get(parent.pid)?.ppid, 1, 'a spawn without a parent is a child of init');
      assert.equal(byPid.get(child.pid)?.ppid, parent.pid);
      assert.equal(byPid.get(grandchild.pid)?.ppid, child.pid);
      assert.deepEqual(byPid.get(child.pid)?.argv, ['child.wasm', FOREVER]);
      for (const pid of [parent.pid, child.pid, grandchild.pid]) assert.equal(byPid.get(pid)?.state, 'running');
      assert.match(byPid.get(parent.pid)!.cid, /[0-9a-f]{64}/);
    } finally {
      await parent.process.kill();
    }
  });

  test('--json lists every process when the node answers in several pages (a thousand entries of ~4 KiB: more than one 4 MiB page)', async () => {
    const wide = 'w'.repeat(4096);
    const { cid } = await rpc.executor.modules().cache.put({ bytes: readFileSync(hello) });
    const runs = await Promise.all(Array.from({ length: 1100 }, (_, i) => rpc.executor.spawn({ spec: { moduleCid: cid, argv: [`paged${i}`, wide] } })));
    await Promise.all(runs.map((r) => r.process.wait()));
    // What the node lists, page by page (the oldest ended processes are dropped past its keepEnded).
    const paged: number[] = [];
    let pages = 0;
    for (let after = 0; ; ) {
      const page = await rpc.admin.ps({ after, max: 0 });
      pages++;
      paged.push(...page.processes.map((p) => p.pid));
      if (!page.more) break;
      after = paged[paged.length - 1]!;
    }
    assert.ok(pages > 1, 'the node answered in more than one page');
    const listed = psJson(await ww('ps', '--json')).map((p) => p.pid);
    assert.deepEqual(listed, paged, 'ww ps --json lists every page');
    for (const r of runs) r.process.release();
  });

  test('the table has the columns, and --tree indents children under their parents', async () => {
    const parent = await rpc.spawn(cpuLoop, ['tree-parent.wasm', FOREVER]);
    const child = await rpc.spawn(cpuLoop, ['tree-child.wasm', FOREVER], { parent: parent.process });
    const grandchild = await rpc.spawn(cpuLoop, ['tree-grandchild.wasm', FOREVER], { parent: child.process });
    try {
      const table = await ww('ps');
      assert.equal(table.status, 0, table.stderr);
      const rows = lines(table.stdout);
      assert.deepEqual(rows[0].trim().split(/\s+/), ['PID', 'PPID', 'STATE', 'CID', 'ARGS', 'CREATED', 'CPU', 'MEM']);
      const childRow = rows.find((line) => line.includes('tree-child.wasm'))!;
      assert.match(childRow, new RegExp(`^\\s*${child.pid}\\s+${parent.pid}\\s+running\\s+[0-9a-f]{12}\\s+tree-child\\.wasm ${FOREVER}\\s`));

      const tree = await ww('ps', '--tree');
      assert.equal(tree.status, 0, tree.stderr);
      const treeRows = lines(tree.stdout);
      const at = (name: string) => treeRows.findIndex((line) => line.includes(name));
      const indent = (name: string) => treeRows[at(name)].indexOf('\\_');
      assert.ok(at('tree-parent.wasm') < at('tree-child.wasm') && at('tree-child.wasm') < at('tree-grandchild.wasm'), tree.stdout);
      assert.ok(indent('tree-parent.wasm') >= 0, 'a child of init is indented one level');
      assert.ok(indent('tree-child.wasm') > indent('tree-parent.wasm'), tree.stdout);
      assert.ok(indent('tree-grandchild.wasm') > indent('tree-child.wasm'), tree.stdout);
      assert.equal(treeRows[at('tree-grandchild.wasm')].trim().split(/\s+/)[0], String(grandchild.pid));
    } finally {
      await parent.process.kill();
    }
  });

  test('ARGS and a long exit reason (a guest-named function) are cut to fit the terminal width ($COLUMNS); --json keeps both whole', async () => {
    const long = await rpc.spawn(cpuLoop, ['wide.wasm', FOREVER, 'y'.repeat(300)]);
    const trapped = await rpc.spawn(trapLongName, ['trap-long-name.wasm']);
    try {
      await trapped.process.wait();
      const r = await runWw(['ps', '--socket', node.socketPath], { env: { COLUMNS: '100' } });
      assert.equal(r.status, 0, r.stderr);
      for (const line of lines(r.stdout)) assert.ok(line.length <= 100, `longer than 100: ${line}`);
      assert.match(lines(r.stdout).find((line) => line.includes('wide.wasm'))!, /\swide\.wasm \S*…\s/);
      assert.match(lines(r.stdout).find((line) => line.includes('trap-long-name.wasm'))!, new RegExp(`^\\s*${trapped.pid}\\s+1\\s+exited: trap: \\S.*…\\s+[0-9a-f]{12}\\s+trap-long-name\\.wasm\\s`));
      const json = psJson(await ww('ps', '--json'));
      const trapReason = json.find((p) => p.pid === trapped.pid)!.reason!;
      assert.equal(trapReason.kind, 'trap');
      assert.match(trapReason.kind === 'trap' ? (trapReason.func ?? '') : '', /^a_function_name_chosen_by_the_guest_to_be_much_longer_than_any_terminal_line_is_wide_so_that_ps_must_cut_it$/);
      assert.equal(json.find((p) => p.pid === long.pid)!.argv[2], 'y'.repeat(300));
    } finally {
      await long.process.kill();
    }
  });

  test('--json and info --json give milliseconds to at most 3 decimals', async () => {
    const { pid, process } = await rpc.spawn(cpuLoop, ['ms.wasm', '3000000']);
    await process.wait();
    for (const r of [await ww('ps', '--json'), await ww('info', String(pid), '--json')]) {
      assert.equal(r.status, 0, r.stderr);
      const cpuMs = [...r.stdout.matchAll(/"cpuMs": ([^,\n]+)/g)].map((m) => m[1]);
      assert.ok(cpuMs.length > 0, r.stdout);
      for (const text of cpuMs) assert.match(text, /^\d+(\.\d{1,3})?$/);
    }
  });
});

describe('ww kill', () => {
  test('killing a parent kills its whole subtree (seen in ps --json), and leaves others alone', async () => {
    const parent = await rpc.spawn(cpuLoop, ['k-parent', FOREVER]);
    const child = await rpc.spawn(cpuLoop, ['k-child', FOREVER], { parent: parent.process });
    const grandchild = await rpc.spawn(cpuLoop, ['k-grandchild', FOREVER], { parent: child.process });
    const bystander = await rpc.spawn(cpuLoop, ['k-bystander', FOREVER]);
    try {
      const r = await ww('kill', String(parent.pid));
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      const after = psJson(await ww('ps', '--json'));
      for (const pid of [parent.pid, child.pid, grandchild.pid]) {
        const p = after.find((q) => q.pid === pid);
        // The node lists recently ended processes; one that is gone altogether is also not running.
        if (p) assert.deepEqual([p.state, p.reason, p.exitCode], ['exited', { kind: 'killed' }, 137], `pid ${pid}`);
      }
      assert.ok(after.some((p) => p.pid === parent.pid), 'the killed parent is listed as exited');
      assert.equal(after.find((p) => p.pid === bystander.pid)?.state, 'running');
      const { status } = await child.process.wait();
      assert.deepEqual([status.code, said(status.reason)], [137, 'killed']);
    } finally {
      await bystander.process.kill();
    }
  });
});

describe('ww pause and ww resume', () => {
  test('ww pause freezes a running process (ps shows paused, CPU stops), ww resume continues it', async () => {
    const { pid, process } = await rpc.spawn(cpuLoop, ['cpu-loop.wasm', FOREVER]);
    try {
      const paused = await ww('pause', String(pid));
      assert.equal(paused.status, 0, paused.stderr);
      assert.equal(paused.stderr, '');
      assert.equal(psJson(await ww('ps', '--json')).find((p) => p.pid === pid)?.state, 'paused');
      assert.equal(JSON.parse((await ww('info', String(pid), '--json')).stdout).state, 'paused');
      const frozenCpu = (await rpc.info(pid)).cpuMs;
      await new Promise((r) => setTimeout(r, 150));
      assert.equal((await rpc.info(pid)).cpuMs, frozenCpu, 'a paused process uses no CPU');

      const resumed = await ww('resume', String(pid));
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.equal(psJson(await ww('ps', '--json')).find((p) => p.pid === pid)?.state, 'running');
    } finally {
      await process.kill();
    }
  });

  test('a process paused from its start, resumed with ww resume, finishes with the output of an unpaused run', async () => {
    const rounds = '200000000'; // ~1 s of work: far longer than spawn + pause
    const expected = await runWw(['run', cpuLoop, '--', rounds]);
    assert.equal(expected.status, 0, expected.stderr);
    const { pid, process } = await rpc.spawn(cpuLoop, ['cpu-loop.wasm', rounds], { stdout: { mode: OutputMode.capture } });
    await process.pause(); // over RPC, right after spawn: the guest cannot finish first
    assert.equal(psJson(await ww('ps', '--json')).find((p) => p.pid === pid)?.state, 'paused');

    const resumed = await ww('resume', String(pid));
    assert.equal(resumed.status, 0, resumed.stderr);
    const { status } = await process.wait();
    assert.deepEqual([status.code, said(status.reason)], [0, 'normal']);
    assert.equal(Buffer.from(status.stdout).toString('utf8'), expected.stdout);
  });

  test('kill works on a paused process', async () => {
    const { pid, process } = await rpc.spawn(cpuLoop, ['cpu-loop.wasm', FOREVER]);
    assert.equal((await ww('pause', String(pid))).status, 0);
    assert.equal((await ww('kill', String(pid))).status, 0);
    const { status } = await process.wait();
    assert.equal(said(status.reason), 'killed');
  });
});

describe('ww wait', () => {
  test("exits with the process's exit code and reports nothing for a normal exit", async () => {
    const { pid } = await rpc.spawn(exit7, ['exit7.wasm']);
    const r = await ww('wait', String(pid));
    assert.equal(r.status, 7);
    assert.equal(r.stderr, '');
    const done = await rpc.spawn(hello, ['hello.wasm']);
    await done.process.wait();
    const again = await ww('wait', String(done.pid));
    assert.equal(again.status, 0, 'waiting on a process that already ended returns at once');
  });

  test('a killed process: exit 137 and its reason on stderr', async () => {
    const { pid, process } = await rpc.spawn(cpuLoop, ['cpu-loop.wasm', FOREVER]);
    const waiting = ww('wait', String(pid));
    await process.kill(); // before or after ww wait connects: either way it sees the end
    const r = await waiting;
    assert.equal(r.status, 137);
    assert.equal(oneErrorLine(r.stderr), `ww: process ${pid} ended: killed`);
  });
});

describe('ww info', () => {
  test('--json has every field of the process', async () => {
    const parent = await rpc.spawn(cpuLoop, ['info-parent', FOREVER]);
    const { pid } = await rpc.spawn(cpuLoop, ['info-child', FOREVER, 'x y'], { parent: parent.process });
    try {
      const r = await ww('info', String(pid), '--json');
      assert.equal(r.status, 0, r.stderr);
      const info = JSON.parse(r.stdout);
      assert.equal(info.pid, pid);
      assert.equal(info.ppid, parent.pid);
      assert.deepEqual(info.argv, ['info-child', FOREVER, 'x y']);
      assert.equal(info.state, 'running');
      assert.match(info.cid, /[0-9a-f]{64}/);
      assert.ok(Math.abs(info.createdAtMs - Date.now()) < 60_000, `createdAtMs ${info.createdAtMs}`);
      assert.equal(info.createdAt, new Date(info.createdAtMs).toISOString());
      assert.ok(info.memoryBytes > 0, 'a running C guest has linear memory');
      assert.equal(typeof info.cpuMs, 'number');
      assert.equal(info.reason, null);
      assert.deepEqual(Object.keys(info).sort(), ['argv', 'cid', 'cpuMs', 'createdAt', 'createdAtMs', 'exitCode', 'fuelUsed', 'links', 'memoryBytes', 'monitors', 'peerId', 'pid', 'ppid', 'reason', 'state']);

      const text = await ww('info', String(pid));
      assert.equal(text.status, 0, text.stderr);
      assert.match(text.stdout, new RegExp(`^PID: +${pid}$`, 'm'));
      assert.match(text.stdout, new RegExp(`^PPID: +${parent.pid}$`, 'm'));
      assert.match(text.stdout, /^State: +running$/m);
      assert.match(text.stdout, /^Args: +info-child \d+ 'x y'$/m);
    } finally {
      await parent.process.kill();
    }
  });

  test('an ended process shows its reason and exit code', async () => {
    const { pid, process } = await rpc.spawn(exit7, ['exit7.wasm']);
    await process.wait();
    const info = JSON.parse((await ww('info', String(pid), '--json')).stdout);
    assert.deepEqual([info.state, info.reason, info.exitCode], ['exited', { kind: 'exit', code: 7 }, 7]);
  });
});

describe('errors: one line, no stack trace, a non-zero exit', () => {
  test('an unknown PID', async () => {
    const commands = ['kill', 'pause', 'resume', 'wait', 'info'];
    const results = await Promise.all(commands.map((command) => ww(command, '424242')));
    commands.forEach((command, i) => {
      assert.equal(results[i].status, 1, `${command}: ${results[i].stderr}`);
      assert.equal(oneErrorLine(results[i].stderr), 'ww: no such process: 424242', command);
    });
  });

  test('pausing or resuming an ended process says so (exit 1); killing one does nothing (exit 0)', async () => {
    const { pid, process } = await rpc.spawn(exit7, ['exit7.wasm']);
    await process.wait();
    const [pause, resume, kill] = await Promise.all([ww('pause', String(pid)), ww('resume', String(pid)), ww('kill', String(pid))]);
    assert.equal(pause.status, 1);
    assert.equal(oneErrorLine(pause.stderr), `ww: process ${pid} has already ended: exit: 7`);
    assert.equal(resume.status, 1);
    assert.equal(oneErrorLine(resume.stderr), `ww: process ${pid} has already ended: exit: 7`);
    assert.deepEqual([kill.status, kill.stderr], [0, '']);
  });

  test("what the node refuses (pausing init) is one line with the node's reason", async () => {
    const r = await ww('pause', '1');
    assert.equal(r.status, 1);
    assert.match(oneErrorLine(r.stderr), /^ww: .*\binit\b/);
  });

  test('no node on the socket', async () => {
    const empty = tempDir('nonode');
    try {
      const socket = join(empty.path, 'none.sock');
      const commands = [['ps'], ['kill', '5'], ['wait', '5'], ['info', '5', '--json']];
      const results = await Promise.all(commands.map((args) => runWw([...args, '--socket', socket])));
      commands.forEach((args, i) => {
        assert.equal(results[i].status, 1, `${args[0]}: ${results[i].stderr}`);
        assert.equal(oneErrorLine(results[i].stderr), `ww: no ww node is listening on ${socket}: start one with \`ww start\``);
      });
    } finally {
      empty.cleanup();
    }
  });

  test('bad arguments are usage errors (exit 2)', async () => {
    const cases: [string[], RegExp][] = [
      [['kill', 'abc'], /^ww: PID 'abc' is not a process id/],
      [['pause', '0'], /^ww: PID '0' is not a process id/],
      [['wait', '-3'], /^ww: /],
      [['kill'], /^ww: missing PID; see 'ww kill --help'$/],
      [['info', '7', '8'], /^ww: /],
      [['ps', '--bogus'], /^ww: unknown option --bogus/],
      [['ps', '--json', '--tree'], /^ww: --json and --tree do not go together/],
      [['start', '--listen', '127.0.0.1:7070'], /^ww: unknown option --listen/],
      [['start', '--max-processes', '0'], /^ww: --max-processes '0' must be a positive whole number/],
    ];
    const results = await Promise.all(cases.map(([args]) => ww(...args)));
    cases.forEach(([args, pattern], i) => {
      assert.equal(results[i].status, 2, `${args.join(' ')}: ${results[i].stderr}`);
      assert.match(oneErrorLine(results[i].stderr), pattern, args.join(' '));
    });
  });

  test('every command has --help with examples and --socket', async () => {
    const commands = ['start', 'ps', 'kill', 'pause', 'resume', 'wait', 'info'];
    const results = await Promise.all(commands.map((command) => runWw([command, '--help'])));
    commands.forEach((command, i) => {
      assert.equal(results[i].status, 0, results[i].stderr);
      assert.match(results[i].stdout, /EXAMPLES/, command);
      assert.match(results[i].stdout, /--socket/, command);
    });
  });
});
