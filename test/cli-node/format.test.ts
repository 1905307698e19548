// The node commands' formatting, on hand-made ProcessInfo values: ps table, tree, widths, sizes, JSON.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcessInfo } from '../../src/capnp-gen/ww.rpc.js';
import { humanCpu, humanSize, processJson, processTable, relativeTime, shortCid, treeOrder, truncate } from '../../cli/lib/format.js';
import { endLine, exitStatus } from '../../cli/lib/exit-reason.js';
import { parsePid } from '../../cli/lib/node-connection.js';

const NOW = Date.UTC(2026, 10, 23, 18, 0, 0);
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

  test('cuts only ARGS, with …, so each line fits the width', () => {
    const long = [info(1, 0, ['init']), info(2, 1, ['long.wasm', 'x'.repeat(200)])];
    const wide = processTable(long, { nowMs: NOW }).split('\n');
    assert.ok(wide[2].includes('x'.repeat(200)), 'no width: nothing is cut');
    const narrow = processTable(long, { nowMs: NOW, width: 90 }).split('\n').filter(Boolean);
    for (const line of narrow) assert.ok(line.length <= 90, `${line.length} > 90: ${line}`);
    assert.match(narrow[2], /long\.wasm x+… +\d+s ago +12ms +128 KiB$/);
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
