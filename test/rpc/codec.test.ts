// The plain-object codec against the reference implementation: values we encode decode to the
// same text with `capnp decode`, and messages `capnp encode` produces read back as the same values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CapIO, readStruct, writeStructAt } from '../../src/rpc/codec.js';
import { WireBuilder, WireReader } from '../../src/rpc/wire.js';
import { encodeFrame, FrameDecoder } from '../../src/rpc/transport/framing.js';
import { $S_Everything, Color, type Everything$Init } from './fixtures/gen/codec.rpc.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const schema = join(root, 'test/rpc/fixtures/codec.capnp');
const noCaps: CapIO = {
  read: () => {
    throw new Error('no capabilities in this test');
  },
  write: () => {
    throw new Error('no capabilities in this test');
  },
};

function encode(value: Everything$Init): Uint8Array {
  const b = new WireBuilder();
  const ptr = b.alloc(1);
  writeStructAt(b, ptr, $S_Everything, value as Record<string, unknown>, noCaps);
  const parts = encodeFrame(b.segments());
  return Buffer.concat(parts);
}

function decode(framed: Uint8Array): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  new FrameDecoder((segments) => {
    const r = new WireReader(segments, 1 << 20);
    out = readStruct(r, r.root(), $S_Everything, noCaps);
  }).push(framed);
  assert.ok(out, 'no message decoded');
  return out;
}

const capnp = (args: string[], input: Uint8Array | string): Buffer => execFileSync('capnp', args, { input });

const sample: Everything$Init = {
  flag: true,
  other: false,
  i8: -5,
  i16: -300,
  i32: -70000,
  i64: -(2n ** 40n),
  u8: 250,
  u16: 65000,
  u32: 4000000000,
  u64: 2n ** 63n + 5n,
  f32: 1.5,
  f64: -2.25,
  text: 'héllo, wörld',
  data: new Uint8Array([0, 1, 2, 255]),
  color: Color.blue,
  inner: { n: 7, label: 'inner' },
  inners: [
    { n: 1, label: 'a' },
    { n: 2, label: 'b' },
  ],
  ints: [3, -4, 5],
  texts: ['x', 'yy', ''],
  bools: [true, false, true, true, false, false, false, false, true],
  count: 42,
  point: { x: 0.5, y: -8 },
};

test('what we encode, the capnp tool decodes to the same text as its own encoding of the same value', () => {
  const ours = capnp(['decode', schema, 'Everything'], encode(sample)).toString();
  const text = ours.replace(/\s+/g, ' ');
  const reference = capnp(['decode', schema, 'Everything'], capnp(['encode', schema, 'Everything'], ours)).toString();
  assert.equal(ours, reference);
  for (const fragment of [
    'flag = true',
    'i8 = -5',
    'i64 = -1099511627776',
    'u64 = 9223372036854775813',
    'text = "héllo, wörld"',
    'data = "\\000\\001\\002\\377"',
    'color = blue',
    'inner = (n = 7, label = "inner")',
    'inners = [(n = 1, label = "a"), (n = 2, label = "b")]',
    'ints = [3, -4, 5]',
    'texts = ["x", "yy", ""]',
    'bools = [true, false, true, true, false, false, false, false, true]',
    'count = 42',
    'point = (x = 0.5, y = -8)',
  ]) {
    assert.ok(text.includes(fragment), `capnp decode output lacks "${fragment}":\n${ours}`);
  }
});

test('what the capnp tool encodes, we read back as the values it holds', () => {
  const literal =
    '(flag = true, i16 = -2, u32 = 123456, u64 = 18446744073709551615, f64 = 3.5, text = "from c++", ' +
    'data = "\\x07\\x08", color = green, inner = (n = -1, label = "in"), inners = [(n = 5), (label = "z")], ' +
    'ints = [1, 2], texts = ["p"], bools = [false, true], name = "union member", point = (x = 1, y = 2))';
  const bytes = capnp(['encode', schema, 'Everything'], literal);
  const v = decode(bytes);
  assert.equal(v.flag, true);
  assert.equal(v.other, false);
  assert.equal(v.i16, -2);
  assert.equal(v.u32, 123456);
  assert.equal(v.u64, 2n ** 64n - 1n);
  assert.equal(v.f64, 3.5);
  assert.equal(v.text, 'from c++');
  assert.deepEqual([...(v.data as Uint8Array)], [7, 8]);
  assert.equal(v.color, Color.green);
  assert.deepEqual(v.inner, { n: -1, label: 'in' });
  assert.deepEqual(v.inners, [
    { n: 5, label: '' },
    { n: 0, label: 'z' },
  ]);
  assert.deepEqual(v.ints, [1, 2]);
  assert.deepEqual(v.texts, ['p']);
  assert.deepEqual(v.bools, [false, true]);
  assert.equal(v.which, 'name');
  assert.equal(v.name, 'union member');
  assert.equal(v.count, undefined, 'inactive union members are absent');
  assert.deepEqual(v.point, { x: 1, y: 2 });
});

test('our encoding reads back to the value we wrote', () => {
  const v = decode(encode(sample));
  assert.equal(v.which, 'count');
  assert.equal(v.count, 42);
  assert.equal(v.i64, sample.i64);
  assert.equal(v.u64, sample.u64);
  assert.deepEqual(v.inners, sample.inners);
  assert.deepEqual(v.bools, sample.bools);
  assert.deepEqual([...(v.data as Uint8Array)], [0, 1, 2, 255]);
  assert.deepEqual(v.point, sample.point);
});

test('a struct from a newer schema with more fields, and an older one with fewer, both read', () => {
  // Older writer: capnp encodes an Inner; we read it as Everything would see a shorter struct.
  const bytes = capnp(['encode', schema, 'Inner'], '(n = 9, label = "old")');
  let got: Record<string, unknown> | null = null;
  new FrameDecoder((segments) => {
    const r = new WireReader(segments, 1 << 20);
    got = readStruct(r, r.root(), $S_Everything, noCaps);
  }).push(bytes);
  assert.ok(got);
  const v = got as Record<string, unknown>;
  // Everything's first data word holds flag/other/i8/i16...; Inner's holds n = 9 there.
  assert.equal(v.u64, 0n, 'fields beyond the short data section read as zero');
  assert.equal(v.text, 'old', 'the one pointer both share reads through');
  assert.equal((v.data as Uint8Array).byteLength, 0, 'pointer fields beyond the short pointer section read as defaults');
  assert.deepEqual(v.inners, []);
});

test('capabilities inside nested structs and lists travel, and pipelining reaches them through struct fields', async () => {
  const { Connection } = await import('../../src/rpc/conn.js');
  const { serve } = await import('../../src/rpc/client.js');
  const { memoryPair } = await import('../../src/rpc/transport/memory.js');
  const { Echo } = await import('./fixtures/gen/codec.rpc.js');
  type Echo$Server = import('./fixtures/gen/codec.rpc.js').Echo$Server;
  let disposed = 0;
  const echoServer: Echo$Server & { [Symbol.dispose](): void } = {
    echo: ({ value }) => ({ value }),
    [Symbol.dispose]: () => void disposed++,
  };
  const [a, b] = memoryPair();
  const boot = serve(Echo, echoServer);
  const server = new Connection(b, { bootstrap: boot });
  boot.release(); // the connection holds its own reference
  const conn = new Connection(a);
  const remote = conn.bootstrap(Echo);
  const local = serve(Echo, { echo: ({ value }) => ({ value: { ...value, text: 'from the client' } }) });

  const p = remote.echo({ value: { text: 'x', holder: { echo: local, echoes: [local, local] } } });
  // Pipelined through value.holder.echo before the first call returned.
  const viaPipeline = await p.value.holder.echo.echo({ value: { text: 'y' } });
  assert.equal(viaPipeline.value.text, 'from the client');
  const r = await p;
  assert.equal(r.value.holder?.echoes.length, 2);
  const second = await r.value.holder!.echoes[1].echo({ value: { i32: 3 } });
  assert.equal(second.value.text, 'from the client');
  assert.equal(second.value.i32, 3);
  for (const c of r.value.holder!.echoes) c.release();
  r.value.holder!.echo.release();
  p.release();
  local.release();
  remote.release();
  conn.close();
  server.close();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(disposed, 1, 'the server object was disposed when its connection ended');
});

test('schema defaults: zeroed fields read as the default, and values round-trip through the capnp tool', async () => {
  const { $S_Defaults } = await import('./fixtures/gen/codec.rpc.js');
  const read = (bytes: Uint8Array): Record<string, unknown> => {
    let out: Record<string, unknown> | null = null;
    new FrameDecoder((segments) => {
      const r = new WireReader(segments, 1 << 20);
      out = readStruct(r, r.root(), $S_Defaults, noCaps);
    }).push(bytes);
    return out!;
  };
  const write = (v: Record<string, unknown>): Uint8Array => {
    const b = new WireBuilder();
    writeStructAt(b, b.alloc(1), $S_Defaults, v, noCaps);
    return Buffer.concat(encodeFrame(b.segments()));
  };
  const defaults = {
    b: true,
    i8: -3,
    u16: 500,
    i32: -100000,
    u32: 4000000000,
    i64: -5000000000n,
    u64: 18000000000000000000n,
    f32: 1.25,
    f64: -0.5,
    color: 1,
    text: 'default text',
  };
  const fromTool = read(capnp(['encode', schema, 'Defaults'], '()'));
  assert.deepEqual({ ...fromTool, data: undefined }, { ...defaults, data: undefined });
  assert.deepEqual([...(fromTool.data as Uint8Array)], [1, 2]);

  const values = { b: false, i8: 7, u16: 0, i32: 1, u32: 0, i64: 0n, u64: 1n, f32: -2.5, f64: 0, color: 2, text: 'set' };
  const ours = capnp(['decode', '--short', schema, 'Defaults'], write(values)).toString().trim();
  const toolText = '(b = false, i8 = 7, u16 = 0, i32 = 1, u32 = 0, i64 = 0, u64 = 1, f32 = -2.5, f64 = 0, color = blue, text = "set")';
  const reference = capnp(['decode', '--short', schema, 'Defaults'], capnp(['encode', schema, 'Defaults'], toolText)).toString().trim();
  assert.equal(ours, reference);
  assert.deepEqual({ ...read(write(values)), data: undefined }, { ...values, data: undefined });
  const empty = capnp(['decode', '--short', schema, 'Defaults'], write({})).toString();
  assert.match(empty, /i64 = -5000000000/);
  assert.deepEqual({ ...read(write({})), data: undefined }, { ...defaults, data: undefined });
});

test('unions: `which` selects a Void member; a member given a value selects itself', () => {
  const none = decode(encode({ count: 5, which: 'none' } as Everything$Init));
  assert.equal(none.which, 'none');
  const name = decode(encode({ name: 'n' }));
  assert.equal(name.which, 'name');
  assert.equal(name.name, 'n');
  const text = capnp(['decode', '--short', schema, 'Everything'], encode({ which: 'none' })).toString();
  assert.match(text, /none = void/);
});
