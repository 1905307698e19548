// The Raft core under seeded simulation (raft-sim.ts): every seed checks election safety, log
// matching, leader completeness and state machine safety at every step, and liveness once the network
// heals. RAFT_SEEDS=N runs N seeds per cluster shape (default: a CI-sized run); RAFT_SEED=S replays one.
// A failure names its seed. Then the mutation check: the same simulation with one rule broken must fail.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSim, SimViolation, type SimConfig } from './raft-sim.js';
import type { History } from '../../fixtures/linearizability/history.js';
import { checkHistory } from '../../fixtures/linearizability/check.js';

const only = process.env.RAFT_SEED === undefined ? null : Number(process.env.RAFT_SEED);
const perShape = Number(process.env.RAFT_SEEDS ?? 0);

/** Cluster shapes and the seeds each gets in a CI run. */
const SHAPES: ReadonlyArray<{ name: string; config: Omit<SimConfig, 'seed'>; seeds: number }> = [
  { name: '3 nodes', config: { size: 3 }, seeds: 800 },
  { name: '5 nodes', config: { size: 5 }, seeds: 400 },
  { name: '3 nodes with voters added and removed', config: { size: 3, membership: true }, seeds: 400 },
  { name: '5 nodes, one entry a message', config: { size: 5, maxMessageBytes: 1 }, seeds: 200 },
];

/** Every history the runs recorded, for the linearizability check. */
const histories: Array<{ seed: number; shape: string; history: History }> = [];

for (const shape of SHAPES) {
  test(`raft simulation, ${shape.name}: safe at every step, live after healing`, () => {
    const seeds = only !== null ? [only] : Array.from({ length: perShape || shape.seeds }, (_, i) => i + 1);
    let leaders = 0;
    let restarts = 0;
    let snapshots = 0;
    let confChanges = 0;
    for (const seed of seeds) {
      try {
        const out = runSim({ ...shape.config, seed });
        leaders += out.leaders;
        restarts += out.restarts;
        snapshots += out.snapshotsSent;
        confChanges += out.confChanges;
        histories.push({ seed, shape: shape.name, history: out.history });
      } catch (e) {
        if (e instanceof SimViolation) assert.fail(`${shape.name}: ${e.message}`);
        throw e;
      }
    }
    // The runs did exercise what they claim to (elections, restarts, snapshots, membership).
    assert.ok(leaders >= seeds.length, `${leaders} leaders elected over ${seeds.length} seeds`);
    if (seeds.length >= 50) {
      assert.ok(restarts > 0, 'some node restarted');
      assert.ok(snapshots > 0, 'some follower needed a snapshot');
      if (shape.config.membership) assert.ok(confChanges > 0, 'some membership change was proposed');
    }
  });
}

test('raft simulation records client histories with answers and unknown outcomes', () => {
  assert.ok(histories.length > 0);
  const ops = histories.flatMap((h) => h.history);
  assert.ok(ops.some((o) => o.output?.kind === 'get' && o.output.value !== null), 'some read saw a value');
  assert.ok(ops.some((o) => o.output?.kind === 'claim' && o.output.won === false), 'some claim lost to an earlier one');
  assert.ok(ops.some((o) => o.output === null), 'some write has an unknown outcome');
});

test('raft simulation: every recorded client history is linearizable', () => {
  assert.ok(histories.length > 0);
  for (const { seed, shape, history } of histories) {
    const verdict = checkHistory(history);
    if (verdict.verdict !== 'linearizable') {
      assert.fail(`${shape}, seed ${seed} (replay: RAFT_SEED=${seed}): ${verdict.verdict}: ${verdict.explanation}`);
    }
  }
});

test('mutation check: reads served from local state without ReadIndex are caught by the linearizability check', () => {
  let caught: string | null = null;
  for (let seed = 1; seed <= 300 && caught === null; seed++) {
    const { history } = runSim({ size: 3, seed, staleReads: true });
    const verdict = checkHistory(history);
    if (verdict.verdict === 'not-linearizable') caught = `seed ${seed}: ${verdict.explanation}`;
  }
  assert.ok(caught, 'no seed of 300 showed a stale read');
});

/** Each broken rule, and a shape where the simulation notices it. */
const MUTATIONS: ReadonlyArray<{ fault: keyof NonNullable<SimConfig['faults']>; config: Omit<SimConfig, 'seed'> }> = [
  { fault: 'doubleVote', config: { size: 3 } },
  { fault: 'voteForStaleLog', config: { size: 3 } },
];

for (const { fault, config } of MUTATIONS) {
  test(`mutation check: with ${fault} the simulation finds a broken invariant`, () => {
    let caught: SimViolation | null = null;
    for (let seed = 1; seed <= 300 && !caught; seed++) {
      try {
        runSim({ ...config, seed, faults: { [fault]: true } });
      } catch (e) {
        if (!(e instanceof SimViolation)) throw e;
        caught = e;
      }
    }
    assert.ok(caught, `no seed of 300 noticed ${fault}`);
    assert.match(caught.message, /election safety|log matching|leader completeness|state machine safety/);
    assert.match(caught.message, /replay: RAFT_SEED=\d+/);
  });
}
