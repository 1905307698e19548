// Processes waiting for a worker get free workers in turn between groups (principals): one group's
// many queued processes do not stand in front of another group's one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FairQueue } from '../../src/wasm/fair-queue.js';
import { Runtime } from '../../src/wasm/index.js';
import { guest } from '../../fixtures/wat.js';

test('FairQueue: first in first out within a group, turns between groups, removal and a job put back in front', () => {
  const a = {};
  const b = {};
  const q = new FairQueue<{ group?: object; name: string }>();
  for (const name of ['a1', 'a2', 'a3']) q.push({ group: a, name });
  const b1 = { group: b, name: 'b1' };
  q.push(b1);
  q.push({ name: 'n1' }); // no group: one group of its own
  assert.equal(q.length, 5);
  const order = [];
  for (let job = q.shift(); job; job = q.shift()) order.push(job.name);
  assert.deepEqual(order, ['a1', 'b1', 'n1', 'a2', 'a3']);
  q.push({ group: a, name: 'a4' });
  q.push(b1);
  assert.equal(q.remove(b1), true);
  assert.equal(q.remove(b1), false);
  q.push({ group: b, name: 'b2' });
  q.unshift({ group: b, name: 'b0' }); // its group goes next
  assert.deepEqual([q.shift()?.name, q.shift()?.name, q.shift()?.name, q.shift()], ['b0', 'a4', 'b2', undefined]);
  assert.equal(q.length, 0);
});

test('one group\'s ten queued processes do not delay another group\'s one: it runs second, not last', async () => {
  const rt = await Runtime.create({ poolSize: 1, maxWorkers: 1 });
  try {
    const many = {};
    const one = {};
    const hello = await rt.load(await guest('hello'));
    const blocker = rt.spawn(await rt.load(await guest('sleep')), { args: ['sleep'], group: many });
    const finished: string[] = [];
    const waits = [];
    for (let i = 0; i < 10; i++) waits.push(rt.spawn(hello, { args: ['hello'], group: many }).wait().then(() => finished.push(`many${i}`)));
    waits.push(rt.spawn(hello, { args: ['hello'], group: one }).wait().then(() => finished.push('one')));
    blocker.kill();
    await Promise.all(waits);
    assert.ok(finished.indexOf('one') <= 1, `finished in the order ${finished.join(' ')}`);
  } finally {
    await rt.close();
  }
});
