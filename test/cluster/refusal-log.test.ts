// A peer that keeps dialing a node that refuses it cannot flood the node's log: one line for its first
// refusal, then at most one a minute with the count in between; the table of peers is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RefusalLog } from '../../src/cluster/host.js';

test('one line per refused peer per minute, saying how many refusals it stood for', () => {
  const lines: string[] = [];
  let now = 0;
  const log = new RefusalLog((l) => lines.push(l), () => now);
  for (let i = 0; i < 100; i++) log.refused('A', 'refused A');
  log.refused('B', 'refused B');
  assert.deepEqual(lines, ['refused A', 'refused B']);
  now = RefusalLog.INTERVAL_MS;
  log.refused('A', 'refused A');
  assert.deepEqual(lines.slice(2), ['refused A (and 99 more times since the last line)']);
  now += RefusalLog.INTERVAL_MS;
  log.refused('A', 'refused A');
  assert.equal(lines.at(-1), 'refused A', 'nothing suppressed since the last line');
});

test('it remembers at most MAX_REMEMBERED peers', () => {
  const lines: string[] = [];
  let now = 0;
  const log = new RefusalLog((l) => lines.push(l), () => now);
  // One a minute apart stays under the lines-per-minute bound.
  for (let i = 0; i <= RefusalLog.MAX_REMEMBERED; i++, now += RefusalLog.INTERVAL_MS / RefusalLog.MAX_LINES_PER_INTERVAL) log.refused(`P${i}`, `refused P${i}`);
  assert.equal(lines.length, RefusalLog.MAX_REMEMBERED + 1);
  // P0 was forgotten to make room: it is logged again; the newest are still suppressed.
  log.refused('P0', 'refused P0');
  log.refused(`P${RefusalLog.MAX_REMEMBERED}`, 'again');
  assert.deepEqual(lines.slice(-1), ['refused P0']);
});

test('many new peer IDs at once: at most MAX_LINES_PER_INTERVAL lines a minute, then one line counting the rest', () => {
  const lines: string[] = [];
  let now = 0;
  const log = new RefusalLog((l) => lines.push(l), () => now);
  for (let i = 0; i < 1000; i++) log.refused(`P${i}`, `refused P${i}`);
  assert.equal(lines.length, RefusalLog.MAX_LINES_PER_INTERVAL);
  now = RefusalLog.INTERVAL_MS;
  log.refused('Q', 'refused Q');
  assert.deepEqual(lines.slice(-2), [`refused ${1000 - RefusalLog.MAX_LINES_PER_INTERVAL} more connections in the minute from 1970-01-01T00:00:00.000Z without a line each (at most ${RefusalLog.MAX_LINES_PER_INTERVAL} lines a minute)`, 'refused Q']);
});
