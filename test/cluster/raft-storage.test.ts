// FileStorage: what it persists survives a reopen; a torn tail (a crash mid-append) is cut away; a
// damaged record with records after it, or a damaged hard state or snapshot, is a clear error. And
// the codec that writes the records and carries messages refuses bytes it cannot trust.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStorage } from '../../src/cluster/raft/file-storage.js';
import { RaftError } from '../../src/cluster/raft/errors.js';
import { decodeMessage, encodeMessage } from '../../src/cluster/raft/codec.js';
import type { Entry, Message } from '../../src/cluster/raft/types.js';

const VOTERS = ['a', 'b', 'c'];

function entry(index: number, term: number, text = `e${index}.${term}`): Entry {
  return { index, term, type: 'normal', data: new TextEncoder().encode(text), voters: [], time: index * 10 };
}

const nothing = { hardState: null, entries: [], snapshot: null, compaction: null } as const;

function withDir(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'ww-raft-'));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const texts = (entries: readonly Entry[]): string[] => entries.map((e) => `${e.index}/${e.term}:${new TextDecoder().decode(e.data)}`);

test('FileStorage keeps entries, hard state and a compaction across a reopen', () => {
  withDir((dir) => {
    const s = new FileStorage(dir, { voters: VOTERS });
    assert.deepEqual(s.load().snapshot.voters, VOTERS);
    s.persist({ ...nothing, entries: [entry(1, 1), entry(2, 1), entry(3, 1)], hardState: { term: 1, vote: 'a', commit: 2 } });
    // A follower's conflict: entries from 3 on are replaced.
    s.persist({ ...nothing, entries: [entry(3, 2), entry(4, 2)] });
    s.close();
    let r = new FileStorage(dir, { voters: ['ignored'] });
    assert.deepEqual(r.load().hardState, { term: 1, vote: 'a', commit: 2 });
    assert.deepEqual(texts(r.load().entries), ['1/1:e1.1', '2/1:e2.1', '3/2:e3.2', '4/2:e4.2']);
    assert.deepEqual(r.load().snapshot.voters, VOTERS, 'the founding voters come from the directory, not the options, once it has state');
    const snap = { index: 2, term: 1, voters: VOTERS, data: new TextEncoder().encode('state@2') };
    r.persist({ ...nothing, compaction: snap });
    r.close();
    r = new FileStorage(dir, { voters: VOTERS });
    assert.equal(r.load().snapshot.index, 2);
    assert.equal(new TextDecoder().decode(r.load().snapshot.data), 'state@2');
    assert.deepEqual(texts(r.load().entries), ['3/2:e3.2', '4/2:e4.2']);
    // A snapshot received from a leader replaces the whole log.
    r.persist({ ...nothing, snapshot: { index: 9, term: 3, voters: VOTERS, data: new Uint8Array([1]) } });
    r.persist({ ...nothing, entries: [entry(10, 3)] });
    r.close();
    r = new FileStorage(dir, { voters: VOTERS });
    assert.equal(r.load().snapshot.index, 9);
    assert.deepEqual(texts(r.load().entries), ['10/3:e10.3']);
    r.close();
  });
});

test('FileStorage cuts a torn tail (a record half written) and goes on appending', () => {
  withDir((dir) => {
    const s = new FileStorage(dir, { voters: VOTERS });
    s.persist({ ...nothing, entries: [entry(1, 1), entry(2, 1)] });
    s.close();
    const log = join(dir, 'raft-log');
    const whole = statSync(log).size;
    // A crash mid-append: the next record's header and half its payload.
    const third = readFileSync(log).subarray(0, whole / 2); // a record-shaped prefix, cut short
    appendFileSync(log, third.subarray(0, 8 + 5));
    let r = new FileStorage(dir, { voters: VOTERS });
    assert.deepEqual(texts(r.load().entries), ['1/1:e1.1', '2/1:e2.1']);
    assert.equal(statSync(log).size, whole, 'the torn bytes are gone from the file');
    r.persist({ ...nothing, entries: [entry(3, 1)] });
    r.close();
    // A torn header (fewer bytes than a record header) is a torn tail too.
    appendFileSync(log, Buffer.from([7, 0, 0]));
    r = new FileStorage(dir, { voters: VOTERS });
    assert.deepEqual(texts(r.load().entries), ['1/1:e1.1', '2/1:e2.1', '3/1:e3.1']);
    r.close();
    // The last record whole in length but with its payload garbled (its write never finished): torn.
    const bytes = readFileSync(log);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(log, bytes);
    r = new FileStorage(dir, { voters: VOTERS });
    assert.deepEqual(texts(r.load().entries), ['1/1:e1.1', '2/1:e2.1']);
    r.close();
  });
});

test('FileStorage refuses a log damaged in the middle, and a damaged hard state or snapshot', () => {
  withDir((dir) => {
    const s = new FileStorage(dir, { voters: VOTERS });
    s.persist({ ...nothing, entries: [entry(1, 1), entry(2, 1), entry(3, 1)], hardState: { term: 1, vote: null, commit: 0 } });
    s.persist({ ...nothing, compaction: { index: 1, term: 1, voters: VOTERS, data: new Uint8Array([5]) } });
    s.close();
    const log = join(dir, 'raft-log');
    const good = readFileSync(log);
    const bad = Buffer.from(good);
    bad[12] ^= 0x01; // inside the first record's payload; a second record follows
    writeFileSync(log, bad);
    assert.throws(
      () => new FileStorage(dir, { voters: VOTERS }),
      (e: unknown) => e instanceof RaftError && e.code === 'storage-corrupt' && /checksum/.test(e.message) && /byte 0/.test(e.message),
    );
    // A length no entry can have, in the middle: corruption, not a tail.
    const huge = Buffer.from(good);
    huge.writeUInt32LE(0x7fffffff, 0);
    writeFileSync(log, huge);
    assert.throws(() => new FileStorage(dir, { voters: VOTERS }), (e: unknown) => e instanceof RaftError && e.code === 'storage-corrupt');
    writeFileSync(log, good);
    for (const name of ['raft-hardstate', 'raft-snapshot']) {
      const path = join(dir, name);
      const before = readFileSync(path);
      const damaged = Buffer.from(before);
      damaged[damaged.length - 1] ^= 0x40;
      writeFileSync(path, damaged);
      assert.throws(() => new FileStorage(dir, { voters: VOTERS }), (e: unknown) => e instanceof RaftError && e.code === 'storage-corrupt' && e.message.includes(name));
      writeFileSync(path, before);
    }
    const r = new FileStorage(dir, { voters: VOTERS });
    assert.deepEqual(texts(r.load().entries), ['2/1:e2.1', '3/1:e3.1']);
    r.close();
  });
});

test('a crash between writing a received snapshot and rewriting the log keeps no stale entries', () => {
  withDir((dir) => {
    const s = new FileStorage(dir, { voters: VOTERS });
    s.persist({ ...nothing, entries: [entry(1, 1), entry(2, 1), entry(3, 1)] });
    s.close();
    // Another store in a scratch directory makes the snapshot file a received snapshot would write.
    withDir((other) => {
      const o = new FileStorage(other, { voters: VOTERS });
      o.persist({ ...nothing, snapshot: { index: 2, term: 5, voters: VOTERS, data: new Uint8Array() } });
      o.close();
      writeFileSync(join(dir, 'raft-snapshot'), readFileSync(join(other, 'raft-snapshot')));
    });
    const r = new FileStorage(dir, { voters: VOTERS });
    assert.equal(r.load().snapshot.index, 2);
    assert.deepEqual(r.load().entries, [], 'entry 3 of term 1 does not follow the snapshot (2, term 5)');
    r.close();
  });
});

test('the message codec round-trips and refuses frames it cannot trust', () => {
  const m: Message = {
    type: 'append',
    from: 'a',
    to: 'b',
    term: 3,
    index: 4,
    logTerm: 2,
    commit: 4,
    reject: false,
    rejectHint: 0,
    entries: [entry(5, 3), { index: 6, term: 3, type: 'config', data: new Uint8Array(), voters: ['a', 'b', 'c', 'd'], time: 7 }],
    snapshot: null,
    ctx: 'r1',
  };
  const frame = encodeMessage(m);
  assert.deepEqual(decodeMessage(frame, 1 << 20), m);
  const refused = (f: Uint8Array, max = 1 << 20) =>
    assert.throws(() => decodeMessage(f, max), (e: unknown) => e instanceof RaftError && e.code === 'bad-message');
  refused(frame, frame.length - 1);
  refused(frame.subarray(0, frame.length - 3));
  refused(Buffer.concat([frame, Buffer.from([0])]));
  const wrongType = Buffer.from(frame);
  wrongType[0] = 200;
  refused(wrongType);
});

test('FileStorage writes term and vote before returning; a commit index change alone is not worth an fsync', () => {
  withDir((dir) => {
    const s = new FileStorage(dir, { voters: VOTERS });
    s.persist({ ...nothing, entries: [entry(1, 1), entry(2, 1)], hardState: { term: 1, vote: 'b', commit: 0 } });
    s.persist({ ...nothing, hardState: { term: 1, vote: 'b', commit: 2 } });
    assert.deepEqual(s.load().hardState, { term: 1, vote: 'b', commit: 2 });
    s.close();
    const r = new FileStorage(dir, { voters: VOTERS });
    assert.deepEqual(r.load().hardState, { term: 1, vote: 'b', commit: 0 }, 'the restarted node learns its commit index from the leader again');
    r.persist({ ...nothing, hardState: { term: 2, vote: null, commit: 2 } });
    r.close();
    assert.deepEqual(new FileStorage(dir, { voters: VOTERS }).load().hardState, { term: 2, vote: null, commit: 2 });
  });
});
