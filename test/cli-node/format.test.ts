// The node commands' formatting, on hand-made ProcessInfo values: ps table, tree, widths, sizes, JSON.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExitReason, ProcessInfo } from '../../src/capnp-gen/ww.rpc.js';
import { reasonToWire, type Reason } from '../../src/executor/rpc.js';
import { argsText, humanCpu, humanSize, infoText, jsonMs, outputWidth, processJson, processTable, relativeTime, shortCid, treeOrder, truncate } from '../../cli/lib/format.js';
import { endLine, exitStatus, reportEnd } from '../../cli/lib/exit-reason.js';
import { parsePid } from '../../cli/lib/node-args.js';

const NOW = Date.UTC(2026, 10, 23, 18, 0, 0);
/** A reason as the node sends it (every field present, as a read struct has them). */
const wire = (r: Reason): ExitReason => ({ kind: 0, code: 0, message: '', function: '', limit: 0, pid: 0, ...reasonToWire(r) }) as ExitReason;
const CID = `sha256:${'ab12'.repeat(16)}`;

function info(pid: number, ppid: number, argv: string[], extra: Partial<ProcessInfo> = {}): ProcessInfo {
  return {
    pid,
    ppid,
    cid: pid === 1 ? '' : CID,
    argv,
    createdAtMs: BigInt(NOW - 5000),
    state: 0,
    fuelUsed: 0n,
    cpuMs: 12.4,
    memoryBytes: 131072n,
    reason: { kind: 0, code: 0, message: '', function: '', limit: 0, pid: 0 },
    exitCode: 0,
    peerId: 'peer-x',
    links: [],
    monitors: 0,
    ...extra,
  };
}

const sample = [
  info(4, 2, ['grandchild.wasm']),
  info(1, 0, ['init']),
  info(3, 1, ['other.wasm', 'a b']),
  info(2, 1, ['parent.wasm', '--flag']),
  info(5, 2, ['second-child.wasm'], { state: 2, reason: { kind: 2, code: 0, message: '', function: '', limit: 0, pid: 0 }, exitCode: 137 }),
];

describe('ww ps table', () => {
  test('has the documented columns in order, one row per process sorted by PID', () => {
    const out = processTable(sample, { nowMs: NOW }).split('\n').filter(Boolean);
    assert.deepEqual(out[0].split(/\s+/), ['PID', 'PPID', 'STATE', 'CID', 'ARGS', 'CREATED', 'CPU', 'MEM']);
    assert.deepEqual(out.slice(1).map((line) => Number(line.trim().split(/\s+/)[0])), [1, 2, 3, 4, 5]);
    const row3 = out.find((line) => /^\s*3\s/.test(line))!;
    assert.match(row3, /^\s*3\s+1\s+running\s+ab12ab12ab12\s+other\.wasm 'a b'\s+5s ago\s+12ms\s+128 KiB$/);
    assert.match(out.find((line) => /^\s*5\s/.test(line))!, /exited: killed/);
  });

  test('cuts ARGS, with …, so each line fits the width; nothing is cut without a width', () => {
    const long = [info(1, 0, ['init']), info(2, 1, ['long.wasm', 'x'.repeat(200)])];
    const wide = processTable(long, { nowMs: NOW }).split('\n');
    assert.ok(wide[2].includes('x'.repeat(200)), 'no width: nothing is cut');
    const narrow = processTable(long, { nowMs: NOW, width: 90 }).split('\n').filter(Boolean);
    for (const line of narrow) assert.ok(line.length <= 90, `${line.length} > 90: ${line}`);
    assert.equal(narrow[2].length, 90, 'ARGS keeps all the room there is');
    assert.match(narrow[2], /long\.wasm x+… +\d+s ago +12ms +128 KiB$/);
  });

  test('a long exit reason is cut in STATE too, so it does not widen every row past the width', () => {
    const func = 'deeply_nested_function_'.repeat(4);
    const reason = `trap: unreachable executed in ${func}`;
    const table = [info(1, 0, ['init']), info(2, 1, ['a.wasm']), info(3, 1, ['b.wasm'], { state: 2, reason: wire({ kind: 'trap', message: 'unreachable executed', func }), exitCode: 134 })];
    const wide = processTable(table, { nowMs: NOW }).split('\n');
    assert.ok(wide[3].includes(reason), 'no width: nothing is cut');
    const narrow = processTable(table, { nowMs: NOW, width: 80 }).split('\n').filter(Boolean);
    for (const line of narrow) assert.ok(line.length <= 80, `${line.length} > 80: ${line}`);
    assert.match(narrow[3], /^\s*3\s+1\s+exited: trap: \S[^…]*…\s+ab12ab12ab12\s+b\.wasm\s+5s ago\s+12ms\s+128 KiB$/);
    assert.match(narrow[2], /^\s*2\s+1\s+running\s+ab12ab12ab12\s+a\.wasm\s/, 'ARGS, short, is left whole');
  });

  test('with a long ARGS and a long reason, the wider is cut first, then both; short states stay whole', () => {
    const reason = `trap: ${'r'.repeat(60)}`;
    const table = [
      info(2, 1, ['a.wasm', 'y'.repeat(100)]),
      info(3, 1, ['b.wasm'], { state: 2, reason: wire({ kind: 'trap', message: 'r'.repeat(60) }), exitCode: 134 }),
      info(4, 1, ['c.wasm'], { state: 2, reason: wire({ kind: 'killed' }), exitCode: 137 }),
    ];
    const columnWidths = (lines: string[]): { state: number; args: number } => {
      const header = lines[0];
      return { state: header.indexOf('CID') - header.indexOf('STATE') - 2, args: header.indexOf('CREATED') - header.indexOf('ARGS') - 2 };
    };
    const at200 = processTable(table, { nowMs: NOW, width: 200 }).split('\n').filter(Boolean);
    for (const line of at200) assert.ok(line.length <= 200, `${line.length} > 200: ${line}`);
    assert.ok(at200[2].includes(reason), `only ARGS (the wider) is cut at 200: ${at200[2]}`);
    assert.match(at200[1], /y…/);
    const at110 = processTable(table, { nowMs: NOW, width: 110 }).split('\n').filter(Boolean);
    for (const line of at110) assert.ok(line.length <= 110, `${line.length} > 110: ${line}`);
    assert.equal(at110[1].length, 110);
    assert.match(at110[1], /y…/);
    assert.match(at110[2], /exited: trap: r+…/);
    assert.match(at110[3], /exited: killed /);
    const { state, args } = columnWidths(at110);
    assert.ok(Math.abs(state - args) <= 1, `both cut to about the same width: STATE ${state}, ARGS ${args}`);
  });

  test('a width narrower than the minimum columns leaves the lines as narrow as they go', () => {
    const table = [info(2, 1, ['a.wasm', 'z'.repeat(100)], { state: 2, reason: wire({ kind: 'trap', message: 'q'.repeat(50) }), exitCode: 134 })];
    const rows = processTable(table, { nowMs: NOW, width: 10 }).split('\n').filter(Boolean);
    assert.match(rows[1], /exited: trap:…\s+ab12ab12ab12\s+a\.wasm zzzz…\s/);
  });

  test('the width: $COLUMNS, else the terminal\'s (80 when it reports none), else none when piped', () => {
    assert.equal(outputWidth({ isTTY: true, columns: 132 }, {}), 132);
    assert.equal(outputWidth({ isTTY: true, columns: 0 }, {}), 80);
    assert.equal(outputWidth({ isTTY: false, columns: 0 }, {}), undefined);
    assert.equal(outputWidth({ isTTY: false, columns: 0 }, { COLUMNS: '100' }), 100);
    assert.equal(outputWidth({ isTTY: true, columns: 132 }, { COLUMNS: 'wide' }), 132);
  });

  test('--tree lists children under parents, depth first, with ps --forest indentation', () => {
    const order = treeOrder(sample).map(({ info, depth }) => [info.pid, depth]);
    assert.deepEqual(order, [[1, 0], [2, 1], [4, 2], [5, 2], [3, 1]]);
    const rows = processTable(sample, { nowMs: NOW, tree: true }).split('\n').filter(Boolean).slice(1);
    const args = rows.map((line) => /(?:init|\s*\\_ \S+)/.exec(line)![0]);
    assert.equal(args[0], 'init');
    assert.equal(args[1].trimStart(), '\\_ parent.wasm');
    assert.equal(args[2].trimStart(), '\\_ grandchild.wasm');
    assert.ok(rows[2].indexOf('\\_') > rows[1].indexOf('\\_'), 'a grandchild is indented deeper than its parent');
  });

  test('a process whose parent is not listed is a root, and a parent cycle is still listed once', () => {
    const cyclic = [info(7, 8, ['a']), info(8, 7, ['b']), info(9, 42, ['orphan'])];
    assert.deepEqual(treeOrder(cyclic).map(({ info }) => info.pid).sort(), [7, 8, 9]);
  });
});

describe('units and fields', () => {
  test('sizes, CPU times, ages, CIDs', () => {
    assert.equal(humanSize(0), '0 B');
    assert.equal(humanSize(812), '812 B');
    assert.equal(humanSize(1536), '1.5 KiB');
    assert.equal(humanSize(64 * 1024 * 1024), '64 MiB');
    assert.equal(humanCpu(0.4), '0ms');
    assert.equal(humanCpu(37), '37ms');
    assert.equal(humanCpu(1250), '1.25s');
    assert.equal(humanCpu(125_000), '2m05s');
    assert.equal(relativeTime(NOW - 400, NOW), 'just now');
    assert.equal(relativeTime(NOW - 90_000, NOW), '1m ago');
    assert.equal(relativeTime(NOW - 3 * 86_400_000, NOW), '3d ago');
    assert.equal(shortCid(CID), 'ab12ab12ab12');
    assert.equal(shortCid('ffeeddccbbaa998877'), 'ffeeddccbbaa');
    assert.equal(shortCid(''), '-');
    assert.equal(truncate('abcdef', 4), 'abc…');
  });

  test('JSON has every field with numbers, the state as a word, and reason only once exited', () => {
    const running = processJson(sample[2]);
    assert.deepEqual(Object.keys(running).sort(), ['argv', 'cid', 'cpuMs', 'createdAt', 'createdAtMs', 'exitCode', 'fuelUsed', 'links', 'memoryBytes', 'monitors', 'peerId', 'pid', 'ppid', 'reason', 'state']);
    assert.equal(running.state, 'running');
    assert.equal(running.reason, null);
    assert.equal(running.memoryBytes, 131072);
    assert.equal(running.createdAt, new Date(NOW - 5000).toISOString());
    const ended = processJson(sample[4]);
    assert.equal(ended.state, 'exited');
    assert.deepEqual(ended.reason, { kind: 'killed' });
    assert.equal(ended.exitCode, 137);
  });

  test('JSON milliseconds are rounded to the microsecond, not float noise', () => {
    assert.equal(jsonMs(9990.541989999998), 9990.542);
    assert.equal(jsonMs(0.0004), 0);
    assert.equal(jsonMs(12), 12);
    const json = processJson(info(2, 1, ['a.wasm'], { cpuMs: 9990.541989999998 }));
    assert.equal(json.cpuMs, 9990.542);
    assert.match(JSON.stringify(json), /"cpuMs":9990\.542,/);
    assert.match(infoText(info(2, 1, ['a.wasm'], { cpuMs: 9990.541989999998 }), NOW), /^CPU: +9\.99s \(9990\.542 ms\)$/m);
  });

  test('PIDs: positive whole numbers only, else a usage error (exit 2)', () => {
    assert.equal(parsePid('42'), 42);
    for (const bad of ['0', '-1', 'abc', '4.2', '', '99999999999']) {
      assert.throws(() => parsePid(bad), (err: Error & { exitCode?: number }) => err.exitCode === 2 && err.message.includes(`'${bad}'`));
    }
  });

  test('only abnormal ends are told, in one voice for run and wait', () => {
    assert.equal(endLine({ kind: 'normal' }), undefined);
    assert.equal(endLine({ kind: 'exit', code: 3 }, { subject: 'process 4' }), undefined);
    assert.equal(endLine({ kind: 'killed' }, { subject: 'process 4' }), 'process 4 ended: killed');
    assert.equal(endLine({ kind: 'killed' }, { signal: 'SIGINT' }), 'killed the guest on SIGINT');
    assert.equal(endLine({ kind: 'limit', limit: 'cpu' }), 'limit exceeded: cpu');
    assert.equal(endLine({ kind: 'limit', limit: 'cpu' }, { limits: { fuel: 1000 } }), 'limit exceeded: cpu (fuel 1000)');
    assert.equal(endLine({ kind: 'limit', limit: 'wall' }, { limits: { timeoutMs: 2000 } }), 'limit exceeded: wall (timeout 2s)');
    assert.equal(endLine({ kind: 'trap', message: 'unreachable', func: 'f' }), 'trap: unreachable in f');
    assert.equal(endLine({ kind: 'trap', message: 'a\n  b' }), 'trap: a b');
    assert.equal(endLine({ kind: 'link', pid: 9 }), 'link: 9 (a linked process ended abnormally)');
  });

  test('the status ww exits with: the guest\'s, 128 + N after signal N, 1 when it does not fit 0-255', () => {
    assert.deepEqual(exitStatus(7), { status: 7 });
    assert.deepEqual(exitStatus(137, 'SIGINT'), { status: 130 });
    assert.deepEqual(exitStatus(0, 'SIGTERM'), { status: 143 });
    assert.equal(exitStatus(256).status, 1);
    assert.match(exitStatus(-1).note ?? '', /does not fit in 0-255/);
  });
});

describe('text a guest chooses reaches the terminal as text', () => {
  test('control characters in argv are shown escaped, in a form a shell reads back', () => {
    assert.equal(argsText(['a.wasm', '\x1b[31mRED\x1b[0m', 'two\nlines', "it's"]), "a.wasm $'\\x1b[31mRED\\x1b[0m' $'two\\nlines' 'it'\\''s'");
    const table = processTable([info(2, 1, ['a.wasm', '\x1b[2J', 'x\ny'])], { nowMs: NOW });
    assert.equal(table.split('\n').filter(Boolean).length, 2, 'a newline in argv forges no row');
    assert.ok(!table.includes('\x1b'), 'no escape character reaches the terminal');
  });

  test('a trap message and a function name with control characters are escaped in ww run\'s line, ps and info', async () => {
    const lines: string[] = [];
    const status = await reportEnd({ code: 134, reason: { kind: 'trap', message: 'boom\x1b[2J', func: 'f\rx' } }, {}, (l) => lines.push(l));
    assert.equal(status, 134);
    assert.deepEqual(lines, ['ww: trap: boom\\x1b[2J in f\\rx']);
    const ended = info(3, 1, ['b.wasm'], { state: 2, reason: wire({ kind: 'trap', message: 'm\x07', func: 'g' }), exitCode: 134 });
    assert.ok(!processTable([ended], { nowMs: NOW }).includes('\x07'));
    assert.ok(!infoText(ended, NOW).includes('\x07'));
  });

  test('at any width STATE keeps every state but a trap\'s whole: the exit code is never cut', () => {
    const table = [
      info(2, 1, ['a.wasm', 'z'.repeat(80)], { state: 2, reason: wire({ kind: 'exit', code: 255 }), exitCode: 255 }),
      info(3, 1, ['b.wasm'], { state: 2, reason: wire({ kind: 'limit', limit: 'memory' }), exitCode: 137 }),
      info(4, 1, ['c.wasm'], { state: 2, reason: wire({ kind: 'trap', message: 't'.repeat(60) }), exitCode: 134 }),
    ];
    const rows = processTable(table, { nowMs: NOW, width: 40 }).split('\n').filter(Boolean);
    assert.match(rows[1], /exited: exit: 255 /);
    assert.match(rows[2], /exited: limit: memory /);
    assert.match(rows[3], /exited: trap: t*…/);
  });
});
