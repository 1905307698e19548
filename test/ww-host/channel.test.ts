// Channels: the bounded buffer and backpressure (EAGAIN, blocking until a receiver makes room),
// close from either end, EMSGSIZE leaving the message queued, handles in discarded messages
// dropped, and the capability store carrying a channel end to another process.
import { test, after } from 'node:test';
import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { E, eventually, guest, ints, run, start, testExecutor } from './helpers.js';

const ex = await testExecutor();
after(() => ex.close());

/** chan_send of the 4-byte word at 256 (NONBLOCK when nb). */
const send = (h: string, nb = 0): string => `(call $chan_send ${h} (i32.const ${nb}) (i32.const 256) (i32.const 4) (i32.const 0) (i32.const 0))`;
/** chan_recv into 4096 (up to 4096 bytes), handles to 300 (up to 4), length to $o3, handle count to $o4. */
const recv = (h: string, nb = 0, bufLen = 4096): string =>
  `(call $chan_recv ${h} (i32.const ${nb}) (i32.const 4096) (i32.const ${bufLen}) (i32.const 40) (i32.const 300) (i32.const 4) (i32.const 44))`;

test('a full buffer gives EAGAIN to a non-blocking send; the receiver drains it; closing the send end gives EPIPE after the queue', async () => {
  const r = await run(
    ex,
    guest(`
    (drop (call $chan_create (i32.const 2) (i32.const 32) (i32.const 36)))
    (i32.store (i32.const 256) (i32.const 11)) (call $out ${send('(call $o1)', 1)})
    (i32.store (i32.const 256) (i32.const 22)) (call $out ${send('(call $o1)', 1)})
    (i32.store (i32.const 256) (i32.const 33)) (call $out ${send('(call $o1)', 1)})
    (call $out ${recv('(call $o2)', 1)}) (call $out (i32.load (i32.const 4096)))
    (i32.store (i32.const 256) (i32.const 44)) (call $out ${send('(call $o1)', 1)})
    (call $out (call $chan_close (call $o1)))
    (call $out ${send('(call $o1)', 1)})
    (call $out ${recv('(call $o2)')}) (call $out (i32.load (i32.const 4096)))
    (call $out ${recv('(call $o2)')}) (call $out (i32.load (i32.const 4096)))
    ;; empty and closed: EPIPE at once, even blocking
    (call $out ${recv('(call $o2)')})
    (call $out ${recv('(call $o2)', 1)})`),
  );
  deepStrictEqual(r.out, [0, 0, E.AGAIN, 0, 11, 0, 0, E.PIPE, 0, 22, 0, 44, E.PIPE, E.PIPE]);
});

test('a message larger than the buffer is EMSGSIZE with its size, and stays queued; an empty recv buffer peeks', async () => {
  const r = await run(
    ex,
    guest(`
    (drop (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))
    (call $out (call $chan_send (call $o1) (i32.const 0) (i32.const 256) (i32.const 100) (i32.const 0) (i32.const 0)))
    (call $out ${recv('(call $o2)', 1, 0)}) (call $out (call $o3)) (call $out (call $o4))
    (call $out ${recv('(call $o2)', 1, 99)}) (call $out (call $o3))
    (call $out ${recv('(call $o2)', 1, 100)}) (call $out (call $o3))
    (call $out ${recv('(call $o2)', 1)})`),
  );
  deepStrictEqual(r.out, [0, E.MSGSIZE, 100, 0, E.MSGSIZE, 100, 0, 100, E.AGAIN]);
});

test('closing the receive end discards queued messages and drops the handles in them; senders get EPIPE', async () => {
  const r = await run(
    ex,
    guest(`
    (drop (call $chan_create (i32.const 0) (i32.const 32) (i32.const 36)))
    (drop (call $chan_create (i32.const 0) (i32.const 40) (i32.const 44)))
    ;; the only handle to channel 2's send end goes into a message on channel 1
    (i32.store (i32.const 256) (call $o3))
    (call $out (call $chan_send (call $o1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 256) (i32.const 1)))
    (i32.store (i32.const 48) (call $o4))
    ;; dropping channel 1's receive end discards the message: channel 2's send end closes
    (call $out (call $handle_drop (call $o2)))
    (call $out ${send('(call $o1)')})
    (call $out (call $chan_recv (i32.load (i32.const 48)) (i32.const 0) (i32.const 4096) (i32.const 4096) (i32.const 52) (i32.const 300) (i32.const 4) (i32.const 56)))`),
  );
  deepStrictEqual(r.out, [0, 0, E.PIPE, E.PIPE]);
});

test('backpressure across processes: a send blocked on a full channel completes when another process receives; order kept', async () => {
  // A stores the receive end as "bp-1", sends 1 and 2 (capacity 2), then 3 (blocks), then 4.
  const printed: number[] = [];
  const a = await start(
    ex,
    guest(
      `(drop (call $initial (i32.const 1) (i32.const 48)))
      (drop (call $chan_create (i32.const 2) (i32.const 32) (i32.const 36)))
      (drop (call $store_set (i32.load (i32.const 48)) (i32.const 1024) (i32.const 4) (call $o2)))
      (i32.store (i32.const 256) (i32.const 1)) (call $out ${send('(call $o1)')})
      (i32.store (i32.const 256) (i32.const 2)) (call $out ${send('(call $o1)')})
      (i32.store (i32.const 256) (i32.const 3)) (call $out ${send('(call $o1)')})
      (i32.store (i32.const 256) (i32.const 4)) (call $out ${send('(call $o1)')})`,
      `(data (i32.const 1024) "bp-1")`,
    ),
    { stdout: (d) => void printed.push(...ints(d)) },
  );
  await eventually('A sent two messages', () => printed.length === 2);
  strictEqual(ex.ww.guest(a.pid)!.handles.size > 0 && a.state === 'running', true);
  // B takes the receive end from the store and receives all four, in order.
  const b = await run(
    ex,
    guest(
      `(drop (call $initial (i32.const 1) (i32.const 48)))
      (call $out (call $store_get (i32.load (i32.const 48)) (i32.const 1024) (i32.const 4) (i32.const 32)))
      ${[1, 2, 3, 4].map(() => `(drop ${recv('(call $o1)')}) (call $out (i32.load (i32.const 4096)))`).join('\n')}`,
      `(data (i32.const 1024) "bp-1")`,
    ),
  );
  deepStrictEqual(b.out, [0, 1, 2, 3, 4]);
  await a.settled;
  deepStrictEqual(printed, [0, 0, 0, 0]);
});

test('a sender blocked on a full channel gets EPIPE when another process closes the receive end', async () => {
  const printed: number[] = [];
  const a = await start(
    ex,
    guest(
      `(drop (call $initial (i32.const 1) (i32.const 48)))
      (drop (call $chan_create (i32.const 1) (i32.const 32) (i32.const 36)))
      (drop (call $store_set (i32.load (i32.const 48)) (i32.const 1024) (i32.const 4) (call $o2)))
      (call $out ${send('(call $o1)')})
      (call $out ${send('(call $o1)')})`,
      `(data (i32.const 1024) "bp-2")`,
    ),
    { stdout: (d) => void printed.push(...ints(d)) },
  );
  await eventually('A filled the channel', () => printed.length === 1);
  const b = await run(
    ex,
    guest(
      `(drop (call $initial (i32.const 1) (i32.const 48)))
      (call $out (call $store_get (i32.load (i32.const 48)) (i32.const 1024) (i32.const 4) (i32.const 32)))
      (call $out (call $chan_close (call $o1)))
      ;; the name still resolves (the store holds the end), but the end is closed
      (call $out (call $store_get (i32.load (i32.const 48)) (i32.const 1024) (i32.const 4) (i32.const 36)))
      (call $out ${recv('(call $o2)', 1)})
      (call $out (call $store_get (i32.load (i32.const 48)) (i32.const 1030) (i32.const 4) (i32.const 36)))
      (call $out (call $store_set (i32.load (i32.const 48)) (i32.const 1030) (i32.const 0) (call $o1)))`,
      `(data (i32.const 1024) "bp-2") (data (i32.const 1030) "none")`,
    ),
  );
  deepStrictEqual(b.out, [0, 0, 0, E.PIPE, E.NOENT, E.INVAL]);
  await a.settled;
  deepStrictEqual(printed, [0, E.PIPE]);
});

test("a process's messages not yet received are bounded (64 MiB): past it ENOBUFS; a receive makes room", async () => {
  // 17 channels; into each, 1 MiB messages until it is full (4 per channel: the 4 MiB bound).
  const r = await run(
    ex,
    guest(`(local $c i32) (local $e i32) (local $sent i32)
    (drop (memory.grow (i32.const 17)))
    (loop $chans
      (drop (call $chan_create (i32.const 0) (i32.add (i32.const 1024) (i32.mul (local.get $c) (i32.const 8))) (i32.add (i32.const 1028) (i32.mul (local.get $c) (i32.const 8)))))
      (block $full
        (loop $fill
          (local.set $e (call $chan_send (i32.load (i32.add (i32.const 1024) (i32.mul (local.get $c) (i32.const 8)))) (i32.const 1)
            (i32.const 131072) (i32.const 1048576) (i32.const 0) (i32.const 0)))
          (br_if $full (local.get $e))
          (local.set $sent (i32.add (local.get $sent) (i32.const 1)))
          (br $fill)))
      (call $out (local.get $e))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $chans (i32.lt_u (local.get $c) (i32.const 17))))
    (call $out (local.get $sent))
    ;; one message received from the first channel: the 17th takes one more
    (call $out (call $chan_recv (i32.load (i32.const 1028)) (i32.const 1) (i32.const 131072) (i32.const 1048576) (i32.const 40) (i32.const 300) (i32.const 4) (i32.const 44)))
    (call $out (call $chan_send (i32.load (i32.const 1152)) (i32.const 1) (i32.const 131072) (i32.const 1048576) (i32.const 0) (i32.const 0)))
    (call $out (call $chan_send (i32.load (i32.const 1152)) (i32.const 1) (i32.const 131072) (i32.const 1048576) (i32.const 0) (i32.const 0)))`),
  );
  const E_NOBUFS = 42;
  deepStrictEqual(r.out, [...Array(16).fill(E.AGAIN), E_NOBUFS, 64, 0, 0, E_NOBUFS]);
});

test('a process may have 16384 channels open, even with their ends moved out of its table; closing them makes room', async () => {
  // A sink channel (capacity 1024) takes the ends of new channels, 32 channels (64 handles) per message.
  const r = await run(
    ex,
    guest(`(local $i i32) (local $e i32) (local $made i32)
    (drop (call $chan_create (i32.const 1024) (i32.const 32) (i32.const 36)))
    (block $done
      (loop $batch
        (local.set $i (i32.const 0))
        (loop $one
          (local.set $e (call $chan_create (i32.const 1) (i32.add (i32.const 2048) (i32.mul (local.get $i) (i32.const 8)))
            (i32.add (i32.const 2052) (i32.mul (local.get $i) (i32.const 8)))))
          (br_if $done (local.get $e))
          (local.set $made (i32.add (local.get $made) (i32.const 1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $one (i32.lt_u (local.get $i) (i32.const 32))))
        (drop (call $chan_send (call $o1) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 2048) (i32.const 64)))
        (br $batch)))
    (call $out (local.get $e))
    (call $out (local.get $made))
    ;; dropping the sink's receive end discards its messages: the channels in them close
    (call $out (call $handle_drop (call $o2)))
    (call $out (call $chan_create (i32.const 1) (i32.const 40) (i32.const 44)))`),
  );
  const E_NOBUFS = 42;
  deepStrictEqual(r.out, [E_NOBUFS, 16383, 0, 0]);
});
