// The nearest-command suggestion for a mistyped `ww WORD`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { commandNotFound, editDistance, nearestCommand, unknownCommand } from '../../cli/unknown-command.js';

const COMMANDS = ['cluster:ls', 'help', 'id', 'info', 'kill', 'pause', 'ps', 'resume', 'run', 'start', 'swarm-key', 'version', 'wait'];

describe('unknown commands', () => {
  test('edit distance counts insertions, deletions, substitutions and adjacent swaps', () => {
    assert.equal(editDistance('run', 'run'), 0);
    assert.equal(editDistance('rn', 'run'), 1);
    assert.equal(editDistance('rnu', 'run'), 1);
    assert.equal(editDistance('stat', 'start'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'ps'), 2);
  });

  test('a typo suggests the nearest command; a word close to none suggests nothing', () => {
    assert.equal(nearestCommand('rn', COMMANDS), 'run');
    assert.equal(nearestCommand('RUN', COMMANDS), 'run');
    assert.equal(nearestCommand('ifno', COMMANDS), 'info');
    assert.equal(nearestCommand('resmue', COMMANDS), 'resume');
    assert.equal(nearestCommand('versoin', COMMANDS), 'version');
    assert.equal(nearestCommand('frobnicate', COMMANDS), undefined);
    assert.equal(nearestCommand('xyz', COMMANDS), undefined);
  });

  test('the error is a usage error (exit 2) on one line', () => {
    const err = unknownCommand('rn', COMMANDS);
    assert.equal(err.exitCode, 2);
    assert.equal(err.message, "unknown command 'rn': did you mean 'ww run'? ('ww help' lists the commands)");
    assert.equal(unknownCommand('zzz', COMMANDS).message, "unknown command 'zzz' ('ww help' lists the commands)");
  });

  test("oclif's joined id: a known command followed by a word it does not take, or an unknown first word", () => {
    assert.equal(commandNotFound('ps:x', COMMANDS).message, "unexpected argument: x; see 'ww ps --help'");
    assert.equal(commandNotFound('ps:x:y', COMMANDS).message, "unexpected argument: x; see 'ww ps --help'");
    assert.equal(commandNotFound('rn:x.wasm', COMMANDS).message, unknownCommand('rn', COMMANDS).message);
    assert.equal(commandNotFound('--frobnicate', COMMANDS).message, "unknown option --frobnicate; see 'ww --help'");
    assert.equal(commandNotFound('--frobnicate', COMMANDS).exitCode, 2);
  });

  test('a topic followed by a word that is none of its commands names both, and the nearest of its commands', () => {
    assert.equal(commandNotFound('cluster:lss', COMMANDS).message, "unknown command 'cluster lss': did you mean 'ww cluster ls'? ('ww cluster --help' lists its commands)");
    assert.equal(commandNotFound('cluster:frob:x', COMMANDS).message, "unknown command 'cluster frob' ('ww cluster --help' lists its commands)");
    assert.equal(commandNotFound('cluster:ls:x', COMMANDS).message, "unexpected argument: x; see 'ww cluster ls --help'");
  });
});
