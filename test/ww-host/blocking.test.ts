// Blocking calls block only the calling process; the cooperative pause notice reaches the guest
// (as a PAUSE event) before the preemptive freeze, and RESUME after.
import { test, after } from 'node:test';
import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import { WAT } from '../executor/helpers.js';
import { assemble, eventually, guest, ints, run, start, testExecutor, testWorkers } from './helpers.js';

test('guests blocked on receive do not hold up others on a pool of two workers; a blocked guest continues when sent to', async () => {
  const ex = await testExecutor({ poolSize: 2 });
  try {
    // Two guests wait on their own channels (they hold the send ends, so no EPIPE); the first
    // stores its send end as "wake" for a later process.
    const waiter = (name: string): string =>
      guest(
        `(drop (call $initial (i32.const 1) (i32.const 48)))
        (drop (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))
        (drop (call $store_set (i32.load (i32.const 48)) (i32.const 1024) (i32.const ${name.length}) (call $o1)))
        (call $out (call $chan_recv (call $o2) (i32.const 0) (i32.const 4096) (i32.const 4096) (i32.const 40) (i32.const 300) (i32.const 4) (i32.const 44)))
        (call $out (i32.load (i32.const 4096)))`,
        `(data (i32.const 1024) "${name}")`,
      );
    const blocked = [await start(ex, waiter('wake')), await start(ex, waiter('other'))];
    await eventually('both wait on their channels', () => blocked.every((b) => ex.ww.guest(b.pid)?.handles.size === 5)); // 3 initial, 2 channel ends
    const module = await ex.modules.put(await assemble(WAT.exit3));
    const others = Array.from({ length: 4 }, () => ex.spawn({ module, argv: ['exit3'] }));
    for (const o of others) strictEqual((await o.settled).code, 3);
    ok(blocked.every((b) => b.state === 'running'));
    if (testWorkers() === 'shared') ok(ex.runtime.info().workers === 0, 'shared workers host them all: no dedicated worker started');
    else ok(ex.runtime.info().workers > 2, 'the pool grew past its two warm workers');
    const sender = await run(
      ex,
      guest(
        `(drop (call $initial (i32.const 1) (i32.const 48)))
        (drop (call $store_get (i32.load (i32.const 48)) (i32.const 1024) (i32.const 4) (i32.const 32)))
        (i32.store (i32.const 256) (i32.const 77))
        (call $out (call $chan_send (call $o1) (i32.const 0) (i32.const 256) (i32.const 4) (i32.const 0) (i32.const 0)))`,
        `(data (i32.const 1024) "wake")`,
      ),
    );
    deepStrictEqual(sender.out, [0]);
    const s = await blocked[0].settled;
    deepStrictEqual(ints(s.stdout), [0, 77]);
    strictEqual(blocked[1].state, 'running');
  } finally {
    await ex.close();
  }
});

test('pause: the guest takes a PAUSE event (with the grace period) before it is frozen, and RESUME after resume', async () => {
  const ex = await testExecutor({ pauseGraceMs: 100 });
  after(() => ex.close());
  const printed: number[] = [];
  // Polls for events between bits of work; prints each event's kind and value.
  const e = await start(
    ex,
    guest(`
    (loop $l
      (if (i32.eqz (call $event_poll (i32.const 1) (i32.const 64)))
        (then (call $out (i32.load (i32.const 64))) (call $out (i32.load (i32.const 72)))))
      (call $spin (i32.const 1000))
      (br $l))`),
    { stdout: (d) => void printed.push(...ints(d)) },
  );
  await eventually('the guest runs', () => e.wasm?.state === 'running');
  await ex.table.pause(e);
  strictEqual(e.state, 'paused');
  deepStrictEqual(printed, [1, 100], 'PAUSE with the grace period arrived before the freeze');
  ex.table.resume(e);
  await eventually('RESUME arrives', () => printed.length === 4);
  deepStrictEqual(printed, [1, 100, 2, 0]);
  ex.table.kill(e);
});

test("pause and kill reach a guest waiting in its channel's ring: it freezes, gets the message sent while paused once resumed, and a killed one ends", async () => {
  const ex = await testExecutor({ pauseGraceMs: 0 });
  after(() => ex.close());
  // Receives on its own channel (its worker waits in the ring, no call pending), prints what came;
  // it holds the send end in the store as "wake" for the sender below.
  const waiter = guest(
    `(drop (call $initial (i32.const 1) (i32.const 48)))
    (drop (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))
    (drop (call $store_set (i32.load (i32.const 48)) (i32.const 1024) (i32.const 4) (call $o1)))
    (call $out (call $chan_recv (call $o2) (i32.const 0) (i32.const 4096) (i32.const 4096) (i32.const 40) (i32.const 300) (i32.const 4) (i32.const 44)))
    (call $out (i32.load (i32.const 4096)))`,
    `(data (i32.const 1024) "wake")`,
  );
  const e = await start(ex, waiter);
  await eventually('it waits in the ring', () => ex.ww.guest(e.pid)?.handles.size === 5 && e.wasm?.state === 'running');
  await ex.table.pause(e); // without the wake-up of its ring, a shared worker's guest would never freeze
  strictEqual(e.state, 'paused');
  const sender = await run(
    ex,
    guest(
      `(drop (call $initial (i32.const 1) (i32.const 48)))
      (drop (call $store_get (i32.load (i32.const 48)) (i32.const 1024) (i32.const 4) (i32.const 32)))
      (i32.store (i32.const 256) (i32.const 55))
      (call $out (call $chan_send (call $o1) (i32.const 0) (i32.const 256) (i32.const 4) (i32.const 0) (i32.const 0)))`,
      `(data (i32.const 1024) "wake")`,
    ),
  );
  deepStrictEqual(sender.out, [0]);
  strictEqual(e.state, 'paused', 'a message does not thaw a paused guest');
  ex.table.resume(e);
  deepStrictEqual(ints((await e.settled).stdout), [0, 55]);

  const k = await start(ex, waiter);
  await eventually('the second waits in the ring', () => ex.ww.guest(k.pid)?.handles.size === 5 && k.wasm?.state === 'running');
  ex.table.kill(k);
  strictEqual((await k.settled).reason.kind, 'killed');
});
