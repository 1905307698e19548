// Guests of different principals: the capability store keeps each principal's names apart and
// lets only an entry's owner replace or remove a shared name; a principal's quota bounds what its
// guests spawn.
import { after, test } from 'node:test';
import { deepStrictEqual, match } from 'node:assert/strict';
import { DEFAULT_QUOTAS, Grant, ModuleCacheCap, Principal, Scope } from '../../src/executor/rpc.js';
import { WAT } from '../executor/helpers.js';
import { E, assemble, guest, ints, testExecutor, watBytes } from './helpers.js';

const PERM = 63;
const ex = await testExecutor();
after(() => ex.close());

const scopeOf = (name: string, quotas = DEFAULT_QUOTAS): Scope => new Scope(new Principal(name, { ...quotas }), Grant.all);

async function runIn(scope: Scope, body: string): Promise<number[]> {
  const module = await ex.modules.put(await assemble(guest(body, `(data (i32.const 1024) "x") (data (i32.const 1028) "pub")`)));
  const s = await ex.spawn({ module, argv: ['guest'], stdout: 'capture', scope }).settled;
  return ints(s.stdout);
}

// Initial handles: 0 the executor, 1 the principal's own names (at 48), 2 the shared names (at 52).
const HANDLES = `(drop (call $initial (i32.const 1) (i32.const 48))) (drop (call $initial (i32.const 2) (i32.const 52))) (drop (call $self (i32.const 32)))`;
const OWN = '(i32.load (i32.const 48))';
const SHARED = '(i32.load (i32.const 52))';

test("a principal's own names are its own; a shared name is read by all and replaced or removed only by its owner", async () => {
  const alice = scopeOf('alice');
  const mallory = scopeOf('mallory');
  deepStrictEqual(
    await runIn(alice, `${HANDLES}
      (call $out (call $store_set ${OWN} (i32.const 1024) (i32.const 1) (call $o1)))
      (call $out (call $store_set ${SHARED} (i32.const 1028) (i32.const 3) (call $o1)))`),
    [0, 0],
  );
  deepStrictEqual(
    await runIn(mallory, `${HANDLES}
      (call $out (call $store_get ${OWN} (i32.const 1024) (i32.const 1) (i32.const 40)))
      (call $out (call $store_get ${SHARED} (i32.const 1028) (i32.const 3) (i32.const 40)))
      (call $out (call $store_set ${SHARED} (i32.const 1028) (i32.const 3) (call $o1)))
      (call $out (call $store_set ${SHARED} (i32.const 1028) (i32.const 3) (i32.const 0)))
      (call $out (call $store_set ${OWN} (i32.const 1024) (i32.const 1) (call $o1)))`),
    [E.NOENT, 0, PERM, PERM, 0],
    "mallory does not see alice's own x, reads the shared pub, cannot replace or remove it, and has an x of its own",
  );
  // Alice's names are as she left them: her x is hers (a Process handle), and she may remove pub.
  deepStrictEqual(
    await runIn(alice, `${HANDLES}
      (call $out (call $store_get ${OWN} (i32.const 1024) (i32.const 1) (i32.const 40)))
      (call $out (call $handle_kind (call $o3) (i32.const 44)))
      (call $out (i32.load (i32.const 44)))
      (call $out (call $store_set ${SHARED} (i32.const 1028) (i32.const 3) (i32.const 0)))
      (call $out (call $store_get ${SHARED} (i32.const 1028) (i32.const 3) (i32.const 40)))`),
    [0, 0, 1, 0, E.NOENT], // kind 1: PROCESS
  );
});

test("a principal's live-process quota bounds what its guests spawn (EAGAIN), and an end makes room", async () => {
  const small = scopeOf('small', { ...DEFAULT_QUOTAS, processes: 3 });
  // The root counts as one: two children fit, the third is EAGAIN; after killing one, one more fits.
  const out = await runIn(small, `(local $i i32)
    (if (call $initial (i32.const 0) (i32.const 48)) (then (drop (call $event_poll (i32.const 0) (i32.const 64))) (return)))
    (loop $l
      (call $out (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64)
        (i32.add (i32.const 2048) (i32.mul (local.get $i) (i32.const 4)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))
    (call $out (call $proc_kill (i32.load (i32.const 2048))))
    (drop (call $proc_wait (i32.load (i32.const 2048)) (i32.const 0) (i32.const 40) (i32.const 64) (i32.const 0) (i32.const 44)))
    (call $out (call $spawn (i32.load (i32.const 48)) (call $selfSpec (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 64) (i32.const 32)))
    (call $out (call $proc_kill (call $o1)))
    (call $out (call $proc_kill (i32.load (i32.const 2052))))`);
  deepStrictEqual(out, [0, 0, E.AGAIN, 0, 0, 0, 0]);
  deepStrictEqual(small.principal.live, 0, 'every place given back');
});

test("a principal names only the modules it put: another's is not found by content ID, until it puts the same bytes", async () => {
  const alice = scopeOf('alice');
  const eve = scopeOf('eve');
  const exit3 = await assemble(WAT.exit3);
  const aliceCache = new ModuleCacheCap(ex.modules, alice.principal.modules);
  const eveCache = new ModuleCacheCap(ex.modules, eve.principal.modules);
  const { cid } = await aliceCache.put({ bytes: exit3 });
  deepStrictEqual(aliceCache.has({ cid }), { present: true });
  deepStrictEqual(eveCache.has({ cid }), { present: false }, 'whether alice runs it is not eve\'s to learn');
  let refused: unknown;
  try {
    eveCache.get({ cid });
  } catch (e) {
    refused = e;
  }
  match(String((refused as Error)?.message), /^module not found: [0-9a-f]{64}$/, 'the same answer as for a module that is nowhere');
  // A guest of eve's spawning by content ID finds nothing (ENOENT) until it spawned the bytes themselves.
  const byCid = `
    (memory.fill (i32.const 128) (i32.const 0) (i32.const 64))
    (i32.store (i32.const 128) (i32.const 1024)) (i32.store (i32.const 132) (i32.const 64)) (i32.store (i32.const 136) (i32.const 1))
    (call $out (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 64) (i32.const 32)))`;
  const byBytes = `
    (memory.fill (i32.const 128) (i32.const 0) (i32.const 64))
    (i32.store (i32.const 128) (i32.const 2048)) (i32.store (i32.const 132) (i32.const ${exit3.length}))
    (call $out (call $spawn (i32.load (i32.const 48)) (i32.const 128) (i32.const 64) (i32.const 32)))`;
  const runWith = async (scope: Scope, body: string): Promise<number[]> => {
    const module = await ex.modules.put(await assemble(guest(`(drop (call $initial (i32.const 0) (i32.const 48))) ${body}`, `(data (i32.const 1024) "${cid}") (data (i32.const 2048) ${watBytes(exit3)})`)));
    scope.principal.modules.add(module.cid); // (as if it had put its own module, as ww run does)
    return ints((await ex.spawn({ module, argv: ['guest'], stdout: 'capture', scope }).settled).stdout);
  };
  deepStrictEqual(await runWith(eve, byCid), [E.NOENT]);
  deepStrictEqual(await runWith(alice, byCid), [0]);
  deepStrictEqual(await runWith(eve, `${byBytes} ${byCid}`), [0, 0]);
  deepStrictEqual(eveCache.has({ cid }), { present: true });
});
