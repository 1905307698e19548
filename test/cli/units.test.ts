// The value parsers behind ww run's flags, and how its command line is split between ww and the guest.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../cli/errors.js';
import { canonicalRunArgv, splitRunArgv } from '../../cli/run-argv.js';
import { formatDuration, formatSize, parseCount, parseDuration, parseSize } from '../../cli/units.js';

describe('SIZE', () => {
  test('accepts plain bytes and k/M/G suffixes in any case, including KiB/MiB/GiB and KB/MB/GB', () => {
    const cases: [string, number][] = [
      ['65536', 65536],
      ['64k', 65536],
      ['64K', 65536],
      ['64KiB', 65536],
      ['64kb', 65536],
      ['16M', 16 * 1024 * 1024],
      ['16mib', 16 * 1024 * 1024],
      ['1G', 1024 ** 3],
      ['1gib', 1024 ** 3],
      ['1.5g', 1.5 * 1024 ** 3],
      ['100b', 100],
      [' 2 m ', 2 * 1024 * 1024],
    ];
    for (const [text, bytes] of cases) assert.equal(parseSize('--max-memory', text), bytes, text);
  });

  test('rejects unknown units, negatives, zero and empty input with a UsageError naming the value', () => {
    for (const text of ['12q', '-1k', '0', '0k', '', 'k', '1e6', '16 M B', '1T']) {
      assert.throws(() => parseSize('--max-memory', text), (err: unknown) => err instanceof UsageError && err.message.includes(`'${text}'`), text);
    }
  });
});

describe('DURATION', () => {
  test('accepts milliseconds and ms/s/m/h suffixes', () => {
    const cases: [string, number][] = [
      ['500', 500],
      ['500ms', 500],
      ['2s', 2000],
      ['2S', 2000],
      ['1.5s', 1500],
      ['1m', 60_000],
      ['1h', 3_600_000],
      ['0.5ms', 1], // rounded up: a positive timeout never becomes zero
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration('--timeout', text), ms, text);
  });

  test('rejects unknown units, zero and negatives', () => {
    for (const text of ['soon', '0', '0s', '-1s', '2 days', '1d', '']) {
      assert.throws(() => parseDuration('--timeout', text), UsageError, text);
    }
  });
});

describe('COUNT (fuel)', () => {
  test('accepts positive integers with optional underscores', () => {
    assert.equal(parseCount('--fuel', '1000000'), 1_000_000);
    assert.equal(parseCount('--fuel', '1_000_000'), 1_000_000);
  });
  test('rejects zero, negatives, fractions, exponents and numbers past 2^53', () => {
    for (const text of ['0', '-5', '1.5', '1e6', 'lots', '', '9007199254740993']) {
      assert.throws(() => parseCount('--fuel', text), UsageError, text);
    }
  });
});

describe('formatting limits back for messages', () => {
  test('sizes in the largest exact binary unit, durations compactly', () => {
    assert.equal(formatSize(16 * 1024 * 1024), '16 MiB');
    assert.equal(formatSize(64 * 1024), '64 KiB');
    assert.equal(formatSize(1024 ** 3), '1 GiB');
    assert.equal(formatSize(1000), '1000 bytes');
    assert.equal(formatSize(1536 * 1024), '1536 KiB');
    assert.equal(formatDuration(300), '300ms');
    assert.equal(formatDuration(2000), '2s');
    assert.equal(formatDuration(1500), '1500ms');
    assert.equal(formatDuration(120_000), '2m');
  });
});

describe('splitting the ww run command line', () => {
  test("ww's options end at MODULE; the rest, after an optional --, is the guest's", () => {
    assert.deepEqual(splitRunArgv(['--dir', 'a', 'x.wasm', '--', 'p', 'q']), { options: ['--dir', 'a'], module: 'x.wasm', guestArgs: ['p', 'q'] });
    assert.deepEqual(splitRunArgv(['x.wasm', 'p', '--fuel', '1']), { options: [], module: 'x.wasm', guestArgs: ['p', '--fuel', '1'] });
    assert.deepEqual(splitRunArgv(['x.wasm', '--', '--', 'p']), { options: [], module: 'x.wasm', guestArgs: ['--', 'p'] });
  });

  test('option values are not mistaken for MODULE, in both --flag VALUE and --flag=VALUE forms', () => {
    assert.deepEqual(splitRunArgv(['--env', 'A=1', '--fuel=5', '--timeout', '2s', 'x.wasm']), {
      options: ['--env', 'A=1', '--fuel=5', '--timeout', '2s'],
      module: 'x.wasm',
      guestArgs: [],
    });
  });

  test('- is MODULE (stdin), and -- before MODULE allows a module name starting with -', () => {
    assert.deepEqual(splitRunArgv(['-', 'a']), { options: [], module: '-', guestArgs: ['a'] });
    assert.deepEqual(splitRunArgv(['--fuel', '9', '--', '-odd.wasm', 'a']), { options: ['--fuel', '9'], module: '-odd.wasm', guestArgs: ['a'] });
  });

  test('no MODULE: everything is options (oclif then reports the missing argument)', () => {
    assert.deepEqual(splitRunArgv(['--help']), { options: ['--help'], guestArgs: [] });
    assert.deepEqual(splitRunArgv([]), { options: [], guestArgs: [] });
  });

  test('the canonical form splits back to the same thing, guest words that look like -- included', () => {
    for (const argv of [['x.wasm', '--', '--', 'a'], ['--dir', 'd', 'x.wasm', 'a', '--help'], ['-', '--'], ['--', '-m.wasm', '--', '--']]) {
      const split = splitRunArgv(argv);
      assert.deepEqual(splitRunArgv(canonicalRunArgv(split)), split, argv.join(' '));
    }
  });
});
