// The generated rpc.capnp layout (src/capnp-gen/rpc.layout.ts) against the reference implementation: messages
// built through it decode with `capnp decode` to exactly the fields we set, and messages `capnp encode`
// makes read back through it. (The staleness test proves the file is what the generator makes now;
// this proves the generator reads the schema right.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { encodeFrame, FrameDecoder } from '../../src/rpc/transport/framing.js';
import { type StructBuilder, type StructRef, WireBuilder, WireReader, elementOf, pointerOf } from '../../src/rpc/wire.js';
import * as rpc from '../../src/capnp-gen/rpc.layout.js';

const RPC_SCHEMA = '/usr/include/capnp/rpc.capnp';

/** Builds one Message whose union is `which`, with a body of the given size, and decodes it with the capnp tool. */
function decodeWithCapnp(which: rpc.Message_Which, pointer: number, dataWords: number, pointers: number, fill: (b: WireBuilder, body: StructBuilder) => void): string {
  const b = new WireBuilder();
  const root = b.initRoot(rpc.Message.dataWords, rpc.Message.pointers);
  b.setU16(root, rpc.Message.discriminant, which);
  fill(b, b.initStruct(pointerOf(root, pointer), dataWords, pointers));
  const framed = Buffer.concat(encodeFrame(b.segments()));
  return execFileSync('capnp', ['decode', '--short', RPC_SCHEMA, 'Message'], { input: framed }).toString().trim();
}

/** Encodes a Message from capnp's text form with the capnp tool and hands its root to `read`. */
function encodeWithCapnp(text: string, read: (r: WireReader, root: StructRef) => void): void {
  const framed = execFileSync('capnp', ['encode', RPC_SCHEMA, 'Message'], { input: text });
  let seen = false;
  new FrameDecoder((segments) => {
    const r = new WireReader(segments, 1 << 20);
    read(r, r.root());
    seen = true;
  }).push(framed);
  assert.ok(seen, 'capnp encode produced no message');
}

test('a Call built through the layout is the Call capnp decodes', () => {
  const text = decodeWithCapnp(rpc.Message_Which.call, rpc.Message.call, rpc.Call.dataWords, rpc.Call.pointers, (b, call) => {
    b.setU32(call, rpc.Call.questionId, 7);
    b.setU16(call, rpc.Call.methodId, 3);
    b.setU64(call, rpc.Call.interfaceId, 0xabcdef0123456789n);
    b.setU16(call, rpc.Call_SendResultsTo.discriminant, rpc.Call_SendResultsTo_Which.yourself);
    const target = b.initStruct(pointerOf(call, rpc.Call.target), rpc.MessageTarget.dataWords, rpc.MessageTarget.pointers);
    b.setU16(target, rpc.MessageTarget.discriminant, rpc.MessageTarget_Which.promisedAnswer);
    const pa = b.initStruct(pointerOf(target, rpc.MessageTarget.promisedAnswer), rpc.PromisedAnswer.dataWords, rpc.PromisedAnswer.pointers);
    b.setU32(pa, rpc.PromisedAnswer.questionId, 9);
    const ops = b.initCompositeList(pointerOf(pa, rpc.PromisedAnswer.transform), 1, rpc.PromisedAnswer_Op.dataWords, rpc.PromisedAnswer_Op.pointers);
    const op = elementOf(ops, 0, rpc.PromisedAnswer_Op.dataWords, rpc.PromisedAnswer_Op.pointers);
    b.setU16(op, rpc.PromisedAnswer_Op.discriminant, rpc.PromisedAnswer_Op_Which.getPointerField);
    b.setU16(op, rpc.PromisedAnswer_Op.getPointerField, 2);
    const payload = b.initStruct(pointerOf(call, rpc.Call.params), rpc.Payload.dataWords, rpc.Payload.pointers);
    const caps = b.initCompositeList(pointerOf(payload, rpc.Payload.capTable), 2, rpc.CapDescriptor.dataWords, rpc.CapDescriptor.pointers);
    const first = elementOf(caps, 0, rpc.CapDescriptor.dataWords, rpc.CapDescriptor.pointers);
    b.setU16(first, rpc.CapDescriptor.discriminant, rpc.CapDescriptor_Which.senderPromise);
    b.setU32(first, rpc.CapDescriptor.senderPromise, 5);
    const second = elementOf(caps, 1, rpc.CapDescriptor.dataWords, rpc.CapDescriptor.pointers);
    b.setU16(second, rpc.CapDescriptor.discriminant, rpc.CapDescriptor_Which.receiverHosted);
    b.setU32(second, rpc.CapDescriptor.receiverHosted, 6);
  });
  assert.equal(
    text,
    '(call = (questionId = 7, target = (promisedAnswer = (questionId = 9, transform = [(getPointerField = 2)])), ' +
      `interfaceId = ${0xabcdef0123456789n}, methodId = 3, ` +
      'params = (capTable = [(senderPromise = 5, attachedFd = 255), (receiverHosted = 6, attachedFd = 255)]), ' +
      'sendResultsTo = (yourself = void), allowThirdPartyTailCall = false))',
  );
});

test('Return, Finish and their defaults (stored XOR true) through the layout', () => {
  const ret = decodeWithCapnp(rpc.Message_Which.return, rpc.Message.return, rpc.Return.dataWords, rpc.Return.pointers, (b, r) => {
    b.setU32(r, rpc.Return.answerId, 4);
    b.setBool(r, rpc.Return.releaseParamCaps, false, rpc.Return_Defaults.releaseParamCaps);
    b.setU16(r, rpc.Return.discriminant, rpc.Return_Which.takeFromOtherQuestion);
    b.setU32(r, rpc.Return.takeFromOtherQuestion, 11);
  });
  assert.equal(ret, '(return = (answerId = 4, releaseParamCaps = false, takeFromOtherQuestion = 11))');
  const finish = decodeWithCapnp(rpc.Message_Which.finish, rpc.Message.finish, rpc.Finish.dataWords, rpc.Finish.pointers, (b, f) => {
    b.setU32(f, rpc.Finish.questionId, 12);
    b.setBool(f, rpc.Finish.releaseResultCaps, true, rpc.Finish_Defaults.releaseResultCaps);
  });
  assert.equal(finish, '(finish = (questionId = 12, releaseResultCaps = true))');
});

test('Abort with an Exception, and Disembargo, through the layout', () => {
  const abort = decodeWithCapnp(rpc.Message_Which.abort, rpc.Message.abort, rpc.Exception.dataWords, rpc.Exception.pointers, (b, ex) => {
    b.setU16(ex, rpc.Exception.type, rpc.Exception_Type.overloaded);
    b.setText(pointerOf(ex, rpc.Exception.reason), 'busy');
  });
  assert.equal(abort, '(abort = (reason = "busy", obsoleteIsCallersFault = false, obsoleteDurability = 0, type = overloaded))');
  const dis = decodeWithCapnp(rpc.Message_Which.disembargo, rpc.Message.disembargo, rpc.Disembargo.dataWords, rpc.Disembargo.pointers, (b, d) => {
    b.setU16(d, rpc.Disembargo_Context.discriminant, rpc.Disembargo_Context_Which.receiverLoopback);
    b.setU32(d, rpc.Disembargo_Context.receiverLoopback, 21);
    const t = b.initStruct(pointerOf(d, rpc.Disembargo.target), rpc.MessageTarget.dataWords, rpc.MessageTarget.pointers);
    b.setU32(t, rpc.MessageTarget.importedCap, 3);
  });
  assert.equal(dis, '(disembargo = (target = (importedCap = 3), context = (receiverLoopback = 21)))');
});

test('a Return that capnp encodes reads back through the layout', () => {
  encodeWithCapnp('(return = (answerId = 5, releaseParamCaps = false, exception = (reason = "no", type = disconnected)))', (r, root) => {
    assert.equal(r.u16(root, rpc.Message.discriminant), rpc.Message_Which.return);
    const ret = r.structField(root, rpc.Message.return);
    assert.ok(ret);
    assert.equal(r.u32(ret, rpc.Return.answerId), 5);
    assert.equal(r.bool(ret, rpc.Return.releaseParamCaps, rpc.Return_Defaults.releaseParamCaps), false);
    assert.equal(r.u16(ret, rpc.Return.discriminant), rpc.Return_Which.exception);
    const ex = r.structField(ret, rpc.Return.exception);
    assert.ok(ex);
    assert.equal(r.u16(ex, rpc.Exception.type), rpc.Exception_Type.disconnected);
    assert.equal(r.textField(ex, rpc.Exception.reason), 'no');
  });
});
