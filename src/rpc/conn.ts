// One two-party Cap'n Proto RPC connection (level 1). Organised like rpc.capnp: the four tables,
// embargoes, and one handler per message type (handleCall, handleReturn, ...).
import { type CapIO, type MethodDesc, type StructDesc, readStruct, writeStructAt } from './codec.js';
import { type StructBuilder, type StructRef, WireBuilder, WireReader, copyStruct } from './wire.js';
import { type Client, type ClientOf, type Interface, lookupMethod, makeClient } from './client.js';
import { EmbargoTable } from './embargo.js';
import {
  DisconnectedError,
  FailedError,
  OverloadedError,
  type RpcError,
  UnimplementedError,
  exceptionTypeCode,
  rpcErrorFromWire,
} from './errors.js';
import {
  BrokenHook,
  Hook,
  type HookHost,
  type Payload,
  PendingResult,
  PromiseHook,
  capAtPath,
  capRuntime,
  replaceCapAtPath,
  hookOf,
  ownCaps,
  releaseCaps,
  shorten,
} from './hooks.js';
import { ExportTable, IdTable, ImportTable } from './tables.js';
import { BIG_SEGMENT, type Transport } from './transport/types.js';
import { FrameError } from './transport/framing.js';


export interface ConnectionLimits {
  /** Most calls we may have outstanding on the peer; more fail with `overloaded` locally. */
  maxQuestions: number;
  /** Most calls the peer may have outstanding on us; more abort the connection. */
  maxAnswers: number;
  /** Traversal budget per received payload, in words (roughly: elements and bytes / 8). */
  traversalWords: number;
  /** Longest promised-answer transform path accepted. */
  maxTransformDepth: number;
  /** Most capabilities in one payload. */
  maxCapTable: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxQuestions: 65536,
  maxAnswers: 65536,
  traversalWords: 8 * 1024 * 1024,
  maxTransformDepth: 64,
  maxCapTable: 16384,
};

export interface ConnectionOptions {
  /** The capability the peer gets when it asks for our bootstrap interface. */
  bootstrap?: Client;
  limits?: Partial<ConnectionLimits>;
}

type Target = { kind: 'import'; id: number } | { kind: 'answer'; questionId: number; path: readonly number[] };

interface Question {
  id: number;
  result: PendingResult;
  desc: StructDesc;
  bootstrap: boolean;
  pipelines: Map<string, QuestionPipelineHook> | null;
  paramExports: number[];
  returned: boolean;
  finishSent: boolean;
}

interface Answer {
  id: number;
  result: PendingResult | null;
  bootstrap: Hook | null;
  resultExports: number[];
  returned: boolean;
  finished: boolean;
  /** sendResultsTo.yourself: results stay here for a later takeFromOtherQuestion. */
  keepResults: boolean;
}

// rpc.capnp Message union tags, and the layouts (data words, pointers) of the structs we build.
const MSG = { unimplemented: 0, abort: 1, call: 2, return: 3, finish: 4, resolve: 5, release: 6, bootstrap: 8, disembargo: 13 };
const EMPTY: StructRef = { s: 0, d: 0, dl: 0, p: 0, pc: 0 };

const BOOTSTRAP_RESULTS: StructDesc = { name: 'Bootstrap', id: '0', dataWords: 0, pointers: 1, fields: [] };

let nextConnectionId = 1;
const SCRATCH_BYTES = 16 * 1024;

export class Connection implements HookHost {
  readonly id = nextConnectionId++;
  private readonly limits: ConnectionLimits;
  private readonly questions = new IdTable<Question>();
  private readonly answers = new Map<number, Answer>();
  private readonly exports = new ExportTable<Hook>();
  private readonly imports = new ImportTable<ImportHook>();
  private readonly embargoes = new EmbargoTable();
  private readonly bootstrapHook: Hook | null;
  private connected = true;
  private closeError: RpcError | null = null;
  private readonly closeWaiters: ((err: RpcError | null) => void)[] = [];
  private scratch = new WireBuilder(SCRATCH_BYTES);
  /** Messages to send right after the one being built (Resolve of broken capabilities). */
  private afterSend: (() => void)[] = [];

  constructor(
    private readonly transport: Transport,
    options: ConnectionOptions = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.bootstrapHook = options.bootstrap ? options.bootstrap.hook.addRef() : null;
    transport.onMessage((segments) => this.receive(segments));
    transport.onClose((err) => {
      if (err instanceof FrameError) this.abort(`malformed frame: ${err.message}`);
      else this.shutdown(new DisconnectedError(err ? `connection lost: ${err.message}` : 'connection closed by peer'));
    });
  }

  /** The peer's bootstrap capability, typed as `iface`. Usable at once (calls are pipelined). */
  bootstrap<I extends Interface>(iface: I): ClientOf<I> {
    const result = new PendingResult(BOOTSTRAP_RESULTS);
    const q = this.newQuestion(result, BOOTSTRAP_RESULTS, true);
    if (q) {
      this.send((b, root) => {
        const m = variant(b, root, MSG.bootstrap, 1, 1);
        b.dv.setUint32(m.d, q.id, true);
      });
    }
    const hook = result.pipeline([]);
    return makeClient(hook, iface) as ClientOf<I>;
  }

  /** True until the connection is closed or lost. */
  get isOpen(): boolean {
    return this.connected;
  }

  /** Resolves when the connection ends, with the reason (null for a local close()). */
  closed(): Promise<RpcError | null> {
    if (!this.connected) return Promise.resolve(this.closeError);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /** Closes the connection: outstanding calls fail with `disconnected`. */
  close(): void {
    this.shutdown(new DisconnectedError('connection closed'));
  }

  /** Table sizes, for tests and diagnostics. */
  stats(): { questions: number; answers: number; exports: number; imports: number; embargoes: number } {
    return {
      questions: this.questions.size,
      answers: this.answers.size,
      exports: this.exports.size,
      imports: this.imports.size,
      embargoes: this.embargoes.size,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  private send(build: (b: WireBuilder, root: StructBuilder) => void): void {
    if (!this.connected) return;
    // Build in a reused scratch buffer; the transport gets an exact-size copy it may keep.
    let b = this.scratch;
    if (b.used !== 0) b = this.scratch = new WireBuilder(SCRATCH_BYTES); // re-entered (rare): don't clobber
    const root = b.initRoot(1, 1);
    try {
      build(b, root);
    } catch (e) {
      this.resetScratch(b);
      throw e;
    }
    const out = b.buf.subarray(0, b.used);
    if (b.used >= BIG_SEGMENT) {
      // Hand a big message over as it is; build the next one in a fresh buffer.
      if (b === this.scratch) this.scratch = new WireBuilder(SCRATCH_BYTES);
      this.transport.send([out]);
    } else {
      this.transport.send([out]); // copied by the transport
      this.resetScratch(b);
    }
    if (this.afterSend.length > 0) {
      const after = this.afterSend;
      this.afterSend = [];
      for (const f of after) f();
    }
  }

  private resetScratch(b: WireBuilder): void {
    if (b.buf.byteLength > SCRATCH_BYTES * 4) {
      // A big message (a blob) grew it: let that memory go.
      if (b === this.scratch) this.scratch = new WireBuilder(SCRATCH_BYTES);
      return;
    }
    b.buf.fill(0, 0, b.used);
    b.used = 0;
  }

  private newQuestion(result: PendingResult, desc: StructDesc, bootstrap: boolean): Question | null {
    if (!this.connected) {
      result.reject(this.closeError ?? new DisconnectedError('connection closed'));
      return null;
    }
    if (this.questions.size >= this.limits.maxQuestions) {
      result.reject(new OverloadedError(`too many outstanding calls on this connection (limit ${this.limits.maxQuestions})`));
      return null;
    }
    const q: Question = {
      id: 0,
      result,
      desc,
      bootstrap,
      pipelines: null,
      paramExports: [],
      returned: false,
      finishSent: false,
    };
    q.id = this.questions.alloc(q);
    result.remotePipeline = (path) => this.pipelineHook(q, path);
    result.onCancel = () => this.cancelQuestion(q);
    return q;
  }

  /** Sends a Call; `params` is owned by the call. */
  sendCall(target: Target, method: MethodDesc, params: Payload): PendingResult {
    const result = new PendingResult(method.results);
    const q = this.newQuestion(result, method.results, false);
    if (!q) {
      releaseCaps(params, method.params);
      return result;
    }
    try {
      this.send((b, root) => {
        const call = variant(b, root, MSG.call, 3, 3);
        b.dv.setUint32(call.d, q.id, true);
        b.dv.setUint16(call.d + 4, method.ordinal, true);
        b.dv.setBigUint64(call.d + 8, method.interfaceId, true);
        writeTarget(b, call.p, target);
        q.paramExports = this.writePayload(b, call.p + 8, method.params, params);
      });
    } catch (e) {
      this.questions.delete(q.id);
      result.remotePipeline = null;
      result.reject(new FailedError(`could not send ${method.interfaceName}.${method.name}: ${(e as Error).message}`));
    } finally {
      releaseCaps(params, method.params);
    }
    return result;
  }

  /** Writes a payload's content and cap table; returns the export ids it added references to. */
  private writePayload(b: WireBuilder, ptr: number, desc: StructDesc, value: Payload): number[] {
    const hooks: Hook[] = [];
    const io: CapIO = {
      read: () => null,
      write: (v) => {
        const h = hookOf(v);
        if (!h) throw new FailedError('a capability field holds something that is not a capability');
        hooks.push(h);
        return hooks.length - 1;
      },
    };
    const payload = b.initStruct(ptr, 0, 2);
    writeStructAt(b, payload.p, desc, value, io);
    return this.writeCapTable(b, payload.p + 8, hooks);
  }

  private writeCapTable(b: WireBuilder, ptr: number, hooks: Hook[]): number[] {
    const exported: number[] = [];
    if (hooks.length === 0) return exported;
    const first = b.initCompositeList(ptr, hooks.length, 1, 1);
    for (let i = 0; i < hooks.length; i++) {
      const at = first + i * 16;
      const id = this.writeDescriptor(b, { d: at, p: at + 8 }, hooks[i]);
      if (id !== null) exported.push(id);
    }
    return exported;
  }

  /** Describes `hook` to the peer; returns the export id when one gained a reference. */
  private writeDescriptor(b: WireBuilder, d: StructBuilder, hook: Hook): number | null {
    const h = shorten(hook);
    const set = (tag: number, id: number): void => {
      b.dv.setUint16(d.d, tag, true);
      b.dv.setUint32(d.d + 4, id, true);
    };
    if (h instanceof ImportHook && h.conn === this) {
      set(CAP.receiverHosted, h.importId);
      return null;
    }
    if (h instanceof QuestionPipelineHook && h.conn === this && h.unresolved) {
      b.dv.setUint16(d.d, CAP.receiverAnswer, true);
      writePromisedAnswer(b, d.p, h.question.id, h.path);
      return null;
    }
    const { id, fresh } = this.exports.add(h);
    if (fresh) h.addRef();
    const broken = h.brokenWith;
    if (broken) {
      // A broken capability travels as a promise, resolved to its exception right after.
      set(CAP.senderPromise, id);
      if (fresh) this.afterSend.push(() => this.sendResolve(id, h));
    } else if (h.unresolved) {
      set(CAP.senderPromise, id);
      if (fresh) h.whenResolved(() => this.sendResolve(id, h));
    } else {
      set(CAP.senderHosted, id);
    }
    return id;
  }

  private sendResolve(exportId: number, promise: Hook): void {
    if (!this.connected || this.exports.get(exportId) !== promise) return;
    const target = shorten(promise);
    this.send((b, root) => {
      const r = variant(b, root, MSG.resolve, 1, 1);
      b.dv.setUint32(r.d, exportId, true);
      const broken = target.brokenWith;
      if (broken) {
        b.dv.setUint16(r.d + 4, 1, true);
        writeException(b, r.p, broken);
      } else {
        const d = b.initStruct(r.p, 1, 1);
        this.writeDescriptor(b, d, target);
      }
    });
  }

  private sendFinish(q: Question, releaseResultCaps: boolean): void {
    q.finishSent = true;
    this.send((b, root) => {
      const f = variant(b, root, MSG.finish, 1, 0);
      b.dv.setUint32(f.d, q.id, true);
      b.dv.setUint8(f.d + 4, releaseResultCaps ? 0 : 1); // stored XOR its default (true)
    });
  }

  private cancelQuestion(q: Question): void {
    if (q.returned || q.finishSent) return;
    this.sendFinish(q, true);
    q.result.reject(new FailedError('call canceled by the caller'));
  }

  /** A new reference to the pipelined capability at `path` of question q. */
  private pipelineHook(q: Question, path: readonly number[]): Hook {
    const key = path.join('.');
    q.pipelines ??= new Map();
    const existing = q.pipelines.get(key);
    if (existing && existing.refs > 0) return existing.addRef();
    const h = new QuestionPipelineHook(this, q, path);
    q.pipelines.set(key, h);
    return h;
  }

  /** Starts an embargo on `target` (a promise we called through); lift runs when it echoes back. */
  startEmbargo(target: Target, lift: () => void): void {
    const id = this.embargoes.start(lift);
    this.send((b, root) => {
      const d = variant(b, root, MSG.disembargo, 1, 1);
      b.dv.setUint32(d.d, id, true); // context.senderLoopback (union tag 0)
      writeTarget(b, d.p, target);
    });
  }

  /** Our last local reference to an import went: tell the peer how many references we drop. */
  dropImport(hook: ImportHook): void {
    const n = this.imports.drop(hook.importId, hook);
    if (n > 0 && this.connected) {
      this.send((b, root) => {
        const r = variant(b, root, MSG.release, 1, 0);
        b.dv.setUint32(r.d, hook.importId, true);
        b.dv.setUint32(r.d + 4, n, true);
      });
    }
  }

  private releaseExport(id: number, count: number): void {
    const hook = this.exports.release(id, count);
    if (hook) hook.release();
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  private receive(segments: Uint8Array[]): void {
    if (!this.connected) return;
    try {
      const r = new WireReader(segments, this.limits.traversalWords);
      const root = r.root();
      const which = r.u16(root, 0);
      const body = (): StructRef => r.structField(root, 0) ?? EMPTY;
      switch (which) {
        case MSG.unimplemented:
          return this.handleUnimplemented(r, body());
        case MSG.abort:
          return this.handleAbort(r, body());
        case MSG.bootstrap:
          return this.handleBootstrap(r.u32(body(), 0));
        case MSG.call:
          return this.handleCall(r, body());
        case MSG.return:
          return this.handleReturn(r, body());
        case MSG.finish: {
          const f = body();
          return this.handleFinish(r.u32(f, 0), !r.bit(f, 32));
        }
        case MSG.resolve:
          return this.handleResolve(r, body());
        case MSG.release: {
          const rel = body();
          return this.handleRelease(r.u32(rel, 0), r.u32(rel, 4));
        }
        case MSG.disembargo:
          return this.handleDisembargo(r, root, body());
        default:
          return this.replyUnimplemented(r, root);
      }
    } catch (e) {
      if (e instanceof ProtocolError) return this.abort(e.message);
      return this.abort(`bad message: ${(e as Error).message}`);
    }
  }

  private replyUnimplemented(r: WireReader, received: StructRef): void {
    this.send((b, root) => {
      b.dv.setUint16(root.d, MSG.unimplemented, true);
      copyStruct(r, received, b, root.p);
    });
  }

  handleUnimplemented(r: WireReader, echoed: StructRef): void {
    const inner = r.structField(echoed, 0) ?? EMPTY;
    switch (r.u16(echoed, 0)) {
      case MSG.call:
      case MSG.bootstrap: {
        const q = this.questions.get(r.u32(inner, 0));
        if (q && !q.returned) {
          q.returned = true;
          q.finishSent = true;
          this.questions.delete(q.id);
          this.failQuestion(q, new UnimplementedError(q.bootstrap ? 'the peer has no bootstrap interface' : 'the peer does not implement this call'));
        }
        return;
      }
      case MSG.resolve: {
        // The peer ignored our Resolve: drop the reference its descriptor carried.
        if (r.u16(inner, 4) === 0) {
          const c = r.structField(inner, 0) ?? EMPTY;
          const tag = r.u16(c, 0);
          if (tag === CAP.senderHosted || tag === CAP.senderPromise) this.tryReleaseExport(r.u32(c, 4));
        }
        return;
      }
      default:
        return;
    }
  }

  private tryReleaseExport(id: number): void {
    if (this.exports.refs(id) > 0) this.releaseExport(id, 1);
  }

  handleAbort(r: WireReader, ex: StructRef): void {
    const err = rpcErrorFromWire(r.u16(ex, 4), `peer aborted the connection: ${r.textField(ex, 0) ?? ''}`);
    this.shutdown(new DisconnectedError(err.message));
  }

  handleBootstrap(questionId: number): void {
    if (this.answers.has(questionId)) throw new ProtocolError(`Bootstrap reuses question id ${questionId}, which is still in use`);
    this.checkAnswerLimit();
    const hook = this.bootstrapHook ? this.bootstrapHook.addRef() : new BrokenHook(new FailedError('this peer serves no bootstrap capability'));
    const answer: Answer = {
      id: questionId,
      result: null,
      bootstrap: hook,
      resultExports: [],
      returned: true,
      finished: false,
      keepResults: false,
    };
    this.answers.set(questionId, answer);
    this.send((b, root) => {
      const ret = initReturn(b, root, questionId);
      const broken = hook.brokenWith;
      if (broken) {
        b.dv.setUint16(ret.d + 6, RET.exception, true);
        writeException(b, ret.p, broken);
        return;
      }
      const payload = b.initStruct(ret.p, 0, 2);
      b.setCap(payload.p, 0);
      answer.resultExports = this.writeCapTable(b, payload.p + 8, [hook]);
    });
  }

  private checkAnswerLimit(): void {
    if (this.answers.size >= this.limits.maxAnswers) {
      throw new ProtocolError(`peer exceeded ${this.limits.maxAnswers} outstanding calls on this connection`);
    }
  }

  handleCall(r: WireReader, call: StructRef): void {
    const questionId = r.u32(call, 0);
    if (this.answers.has(questionId)) throw new ProtocolError(`Call reuses question id ${questionId}, which is still in use`);
    this.checkAnswerLimit();
    const answer: Answer = {
      id: questionId,
      result: null,
      bootstrap: null,
      resultExports: [],
      returned: false,
      finished: false,
      keepResults: false,
    };
    const methodId = r.u16(call, 4);
    const sendTo = r.u16(call, 6);
    const interfaceId = r.u64(call, 8);
    const params = r.structField(call, 1) ?? EMPTY;
    if (sendTo === 1) answer.keepResults = true;
    else if (sendTo !== 0) {
      this.answers.set(questionId, answer);
      this.releasePayloadCaps(r, params);
      return this.returnException(answer, new UnimplementedError('sendResultsTo.thirdParty needs RPC level 3'));
    }
    const targetRef = r.structField(call, 0);
    if (!targetRef) throw new ProtocolError('Call has no target');
    const target = this.readTarget(r, targetRef);
    this.answers.set(questionId, answer);
    const method = lookupMethod(interfaceId, methodId);
    if (!method) {
      target.release();
      this.releasePayloadCaps(r, params);
      return this.returnException(
        answer,
        new UnimplementedError(`method ${methodId} of interface 0x${interfaceId.toString(16)} is unknown here`),
      );
    }
    let value: Payload;
    try {
      value = this.readPayload(r, params, method.params);
    } catch (e) {
      target.release();
      throw e;
    }
    const result = target.call(method, value);
    target.release();
    answer.result = result;
    result.then(
      (v) => this.returnResults(answer, v),
      (e) => this.returnException(answer, e),
    );
  }

  private returnResults(answer: Answer, value: Payload): void {
    const desc = answer.result!.desc;
    if (!this.connected) return releaseCaps(value, desc);
    if (answer.finished) {
      // The caller sent Finish first: it wants nothing; say so and drop the results.
      releaseCaps(value, desc);
      this.send((b, root) => {
        const ret = initReturn(b, root, answer.id);
        b.dv.setUint16(ret.d + 6, RET.canceled, true);
      });
      this.answers.delete(answer.id);
      return;
    }
    answer.returned = true;
    try {
      this.send((b, root) => {
        const ret = initReturn(b, root, answer.id);
        if (answer.keepResults) {
          b.dv.setUint16(ret.d + 6, RET.resultsSentElsewhere, true);
          return;
        }
        answer.resultExports = this.writePayload(b, ret.p, desc, value);
      });
    } catch (e) {
      answer.returned = false;
      return this.returnException(answer, new FailedError(`could not send results: ${(e as Error).message}`));
    }
  }

  private returnException(answer: Answer, err: RpcError): void {
    if (!this.connected) return;
    answer.returned = true;
    this.send((b, root) => {
      const ret = initReturn(b, root, answer.id);
      if (answer.finished) b.dv.setUint16(ret.d + 6, RET.canceled, true);
      else {
        b.dv.setUint16(ret.d + 6, RET.exception, true);
        writeException(b, ret.p, err);
      }
    });
    if (answer.finished) this.answers.delete(answer.id);
  }

  handleFinish(questionId: number, releaseResultCaps: boolean): void {
    const answer = this.answers.get(questionId);
    if (!answer) throw new ProtocolError(`Finish for question ${questionId}, which is not outstanding`);
    if (answer.finished) throw new ProtocolError(`second Finish for question ${questionId}`);
    answer.finished = true;
    if (!answer.returned) {
      answer.result?.cancel();
      return;
    }
    this.answers.delete(questionId);
    if (releaseResultCaps) for (const id of answer.resultExports) this.tryReleaseExport(id);
    if (answer.bootstrap) answer.bootstrap.release();
    const r = answer.result;
    if (r && r.state === 1) releaseCaps(r.value, r.desc);
  }

  handleReturn(r: WireReader, ret: StructRef): void {
    const answerId = r.u32(ret, 0);
    const q = this.questions.get(answerId);
    if (!q) throw new ProtocolError(`Return for question ${answerId}, which is not outstanding`);
    if (q.returned) throw new ProtocolError(`second Return for question ${answerId}`);
    q.returned = true;
    const releaseParamCaps = !r.bit(ret, 32); // stored XOR its default (true)
    if (releaseParamCaps) for (const id of q.paramExports) this.tryReleaseExport(id);
    if (q.finishSent) {
      // We canceled: the callee released the result caps (releaseResultCaps); ignore the payload.
      this.questions.delete(q.id);
      this.failQuestion(q, new FailedError('call canceled by the caller'));
      return;
    }
    switch (r.u16(ret, 6)) {
      case RET.results: {
        let value: Payload;
        const payload = r.structField(ret, 0) ?? EMPTY;
        try {
          value = q.bootstrap ? this.readBootstrapResult(r, payload) : this.readPayload(r, payload, q.desc);
        } catch (e) {
          this.sendFinish(q, false);
          this.questions.delete(q.id);
          this.failQuestion(q, new FailedError(`malformed results: ${(e as Error).message}`));
          throw e;
        }
        this.completeQuestion(q, value);
        return;
      }
      case RET.exception: {
        const ex = r.structField(ret, 0) ?? EMPTY;
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        this.failQuestion(q, rpcErrorFromWire(r.u16(ex, 4), r.textField(ex, 0) ?? ''));
        return;
      }
      case RET.canceled:
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        this.failQuestion(q, new FailedError('call was canceled by the callee'));
        return;
      case RET.resultsSentElsewhere:
        // We never ask for sendResultsTo.yourself, so there are no results for us anywhere.
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        this.failQuestion(q, new FailedError('the peer sent the results elsewhere, though we asked for them'));
        return;
      case RET.takeFromOtherQuestion: {
        const otherId = r.u32(ret, 8);
        const other = this.answers.get(otherId);
        if (!other || !other.keepResults || !other.returned || !other.result || other.result.state === 0) {
          throw new ProtocolError(`takeFromOtherQuestion names question ${otherId}, which holds no results`);
        }
        const res = other.result;
        if (res.state === 2) {
          this.sendFinish(q, false);
          this.questions.delete(q.id);
          this.failQuestion(q, res.error!);
        } else {
          this.completeQuestion(q, ownCaps(res.value!, q.desc, true));
        }
        return;
      }
      default:
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        this.failQuestion(q, new UnimplementedError('Return.acceptFromThirdParty needs RPC level 3'));
        return;
    }
  }

  private completeQuestion(q: Question, value: Payload): void {
    // Resolve pipelined capabilities first (this may send Disembargos), then Finish, then deliver.
    const pipelines = q.pipelines;
    q.pipelines = null;
    q.result.remotePipeline = null;
    q.result.onCancel = null;
    const bootCap = q.bootstrap ? (value.cap as Hook) : null;
    if (pipelines) {
      for (const [key, ph] of pipelines) {
        if (ph.refs <= 0) continue;
        const path = key === '' ? [] : key.split('.').map(Number);
        if (bootCap) ph.resolveTo(path.length === 0 ? bootCap.addRef() : new BrokenHook(new FailedError('bootstrap capability has no fields')));
        else {
          ph.resolveTo(capAtPath(value, q.desc, path));
          // Under an embargo, the results' own reference must wait behind it too (E-order).
          const gate = ph.embargoGate;
          if (gate) replaceCapAtPath(value, q.desc, path, (old) => {
            capRuntime.release(old);
            return makeClient(gate.addRef(), (old as Client).iface);
          });
        }
      }
    }
    this.sendFinish(q, false);
    this.questions.delete(q.id);
    if (bootCap) {
      bootCap.release();
      q.result.resolve({});
    } else {
      q.result.resolve(value);
    }
  }

  private failQuestion(q: Question, err: RpcError): void {
    const pipelines = q.pipelines;
    q.pipelines = null;
    q.result.remotePipeline = null;
    q.result.onCancel = null;
    if (pipelines) for (const ph of pipelines.values()) if (ph.refs > 0) ph.resolveTo(new BrokenHook(err));
    q.result.reject(err);
  }

  handleResolve(r: WireReader, res: StructRef): void {
    const promiseId = r.u32(res, 0);
    const hook = this.imports.get(promiseId);
    let replacement: Hook;
    const inner = r.structField(res, 0) ?? EMPTY;
    if (r.u16(res, 4) === 1) replacement = new BrokenHook(rpcErrorFromWire(r.u16(inner, 4), r.textField(inner, 0) ?? ''));
    else replacement = this.readDescriptor(r, inner) ?? new BrokenHook(new FailedError('promise resolved to a null capability'));
    if (!(hook instanceof ImportPromiseHook)) {
      // Released already (or never a promise): we do not need what it resolved to.
      replacement.release();
      if (hook && !(hook instanceof ImportPromiseHook)) throw new ProtocolError(`Resolve for import ${promiseId}, which is not a promise`);
      return;
    }
    hook.resolveTo(replacement);
  }

  handleRelease(id: number, count: number): void {
    try {
      this.releaseExport(id, count);
    } catch (e) {
      throw new ProtocolError((e as Error).message);
    }
  }

  handleDisembargo(r: WireReader, root: StructRef, d: StructRef): void {
    const kind = r.u16(d, 4);
    const value = r.u32(d, 0);
    if (kind === 0 /* senderLoopback */) {
      const embargoId = value;
      const targetRef = r.structField(d, 0);
      if (!targetRef) throw new ProtocolError('Disembargo has no target');
      const target = this.readTarget(r, targetRef);
      const h = shorten(target);
      target.release();
      if (!(h instanceof ImportHook) || h.conn !== this) {
        throw new ProtocolError("Disembargo senderLoopback names a capability that does not point back to the sender");
      }
      // Calls that came through the promise were forwarded synchronously, so they are ahead of this.
      this.send((b, rootOut) => {
        const out = variant(b, rootOut, MSG.disembargo, 1, 1);
        b.dv.setUint32(out.d, embargoId, true);
        b.dv.setUint16(out.d + 4, 1, true); // context.receiverLoopback
        writeTarget(b, out.p, { kind: 'import', id: h.importId });
      });
      return;
    }
    if (kind === 1 /* receiverLoopback */) {
      if (!this.embargoes.lift(value)) {
        throw new ProtocolError(`Disembargo receiverLoopback for embargo ${value}, which does not exist`);
      }
      return;
    }
    this.replyUnimplemented(r, root);
  }

  // -------------------------------------------------------------------------------------------
  // Reading payloads, descriptors and targets

  private readTarget(r: WireReader, t: StructRef): Hook {
    if (r.u16(t, 4) === 0) {
      const id = r.u32(t, 0);
      const h = this.exports.get(id);
      if (!h) throw new ProtocolError(`message targets export ${id}, which does not exist`);
      return h.addRef();
    }
    const pa = r.structField(t, 0);
    if (!pa) throw new ProtocolError('promisedAnswer target is missing');
    const questionId = r.u32(pa, 0);
    const answer = this.answers.get(questionId);
    if (!answer) throw new ProtocolError(`message targets answer ${questionId}, which is not outstanding`);
    const path = this.readTransform(r, pa);
    if (answer.bootstrap) {
      return path.length === 0 ? answer.bootstrap.addRef() : new BrokenHook(new FailedError('bootstrap capability has no fields'));
    }
    if (!answer.result) return new BrokenHook(new FailedError('the call this targets failed before it started'));
    return answer.result.pipeline(path);
  }

  private readTransform(r: WireReader, pa: StructRef): number[] {
    const ops = r.listField(pa, 0);
    const path: number[] = [];
    if (!ops) return path;
    if (ops.size !== 7) throw new ProtocolError('transform is not a list of structs');
    if (ops.count > this.limits.maxTransformDepth) {
      throw new ProtocolError(`transform path of ${ops.count} steps exceeds ${this.limits.maxTransformDepth}`);
    }
    for (let i = 0; i < ops.count; i++) {
      const op = r.listStruct(ops, i);
      if (r.u16(op, 0) === 1) path.push(r.u16(op, 2));
    }
    return path;
  }

  private readCapTable(r: WireReader, payload: StructRef): Hook[] {
    const table = r.listField(payload, 1);
    if (!table || table.count === 0) return [];
    if (table.size !== 7) throw new ProtocolError('cap table is not a list of structs');
    const n = table.count;
    if (n > this.limits.maxCapTable) throw new ProtocolError(`cap table of ${n} entries exceeds ${this.limits.maxCapTable}`);
    const hooks: Hook[] = [];
    try {
      for (let i = 0; i < n; i++) {
        hooks.push(this.readDescriptor(r, r.listStruct(table, i)) ?? new BrokenHook(new FailedError('null capability')));
      }
    } catch (e) {
      for (const h of hooks) h.release();
      throw e;
    }
    return hooks;
  }

  private readPayload(r: WireReader, payload: StructRef, desc: StructDesc): Payload {
    const hooks = this.readCapTable(r, payload);
    try {
      const io: CapIO = {
        read: (index, iface) => {
          const h = hooks[index];
          if (!h) throw new ProtocolError(`capability pointer ${index} is outside the cap table`);
          return makeClient(h.addRef(), iface);
        },
        write: () => {
          throw new Error('internal: write during read');
        },
      };
      const content = payload.pc > 0 ? r.structAt(payload.s, payload.p) : null;
      return readStruct(r, content ?? EMPTY, desc, io);
    } finally {
      for (const h of hooks) h.release();
    }
  }

  private readBootstrapResult(r: WireReader, payload: StructRef): Payload {
    const hooks = this.readCapTable(r, payload);
    try {
      const index = r.capField(payload, 0);
      if (index === null) throw new ProtocolError('bootstrap result is not a capability');
      const h = hooks[index];
      if (!h) throw new ProtocolError('bootstrap capability index outside the cap table');
      return { cap: h.addRef() };
    } finally {
      for (const h of hooks) h.release();
    }
  }

  private releasePayloadCaps(r: WireReader, payload: StructRef): void {
    try {
      for (const h of this.readCapTable(r, payload)) h.release();
    } catch {
      // Already failing this call; a bad cap table here changes nothing.
    }
  }

  /** A new reference for a received CapDescriptor (null for `none`). */
  private readDescriptor(r: WireReader, d: StructRef): Hook | null {
    const id = r.u32(d, 4);
    switch (r.u16(d, 0)) {
      case CAP.none:
        return null;
      case CAP.senderHosted:
        return this.importCap(id, false);
      case CAP.senderPromise:
        return this.importCap(id, true);
      case CAP.receiverHosted: {
        const h = this.exports.get(id);
        return h ? h.addRef() : new BrokenHook(new FailedError(`receiverHosted names export ${id}, which does not exist`));
      }
      case CAP.receiverAnswer: {
        const pa = r.structField(d, 0) ?? EMPTY;
        const questionId = r.u32(pa, 0);
        const answer = this.answers.get(questionId);
        if (!answer) return new BrokenHook(new FailedError(`receiverAnswer names question ${questionId}, which is not outstanding`));
        const path = this.readTransform(r, pa);
        if (answer.bootstrap) return path.length === 0 ? answer.bootstrap.addRef() : new BrokenHook(new FailedError('bad path'));
        if (!answer.result) return new BrokenHook(new FailedError('that call failed'));
        return answer.result.pipeline(path);
      }
      case CAP.thirdPartyHosted: {
        // Level 3; in two-party use the vine, which the sender hosts.
        const tp = r.structField(d, 0) ?? EMPTY;
        return this.importCap(r.u32(tp, 0), false);
      }
      default:
        throw new ProtocolError('unknown CapDescriptor kind');
    }
  }

  private importCap(id: number, promise: boolean): Hook {
    const existing = this.imports.received(id);
    if (existing) return existing.addRef();
    const h = promise ? new ImportPromiseHook(this, id) : new ImportHook(this, id);
    this.imports.set(id, h);
    return h;
  }

  // -------------------------------------------------------------------------------------------
  // Ending

  private abort(reason: string): void {
    if (!this.connected) return;
    this.send((b, root) => {
      b.dv.setUint16(root.d, MSG.abort, true);
      writeException(b, root.p, new FailedError(reason));
    });
    this.shutdown(new DisconnectedError(`connection aborted: ${reason}`));
  }

  private shutdown(err: RpcError): void {
    if (!this.connected) return;
    this.connected = false;
    this.closeError = err;
    for (const [id, q] of [...this.questions.entries()]) {
      this.questions.delete(id);
      this.failQuestion(q, err);
    }
    for (const lift of this.embargoes.clear()) lift();
    for (const h of this.imports.clear()) h.disconnect(err);
    for (const h of this.exports.clear()) h.release();
    for (const a of this.answers.values()) {
      if (a.bootstrap) a.bootstrap.release();
      const r = a.result;
      if (r && r.state === 1 && a.returned) releaseCaps(r.value, r.desc);
      else r?.cancel();
    }
    this.answers.clear();
    this.bootstrapHook?.release();
    this.transport.close();
    for (const w of this.closeWaiters.splice(0)) w(err);
  }
}

class ProtocolError extends Error {}

// ---------------------------------------------------------------------------------------------
// Remote hooks

/** A capability the peer hosts (an entry of our import table). */
export class ImportHook extends Hook {
  private lost: RpcError | null = null;
  constructor(
    readonly conn: Connection,
    readonly importId: number,
  ) {
    super();
    this.host = conn;
  }

  call(method: MethodDesc, params: Payload): PendingResult {
    if (this.lost) {
      releaseCaps(params, method.params);
      const r = new PendingResult(method.results);
      r.reject(this.lost);
      return r;
    }
    return this.conn.sendCall({ kind: 'import', id: this.importId }, method, params);
  }

  disconnect(err: RpcError): void {
    this.lost = err;
  }

  override get brokenWith(): RpcError | null {
    return this.lost;
  }

  protected override destroy(): void {
    this.conn.dropImport(this);
  }
}

/** A promise the peer exported (senderPromise): calls go to it until a Resolve replaces it. */
export class ImportPromiseHook extends ImportHook {
  private target: Hook | null = null;
  private calledThrough = false;
  private callbacks: ((h: Hook) => void)[] | null = null;

  override call(method: MethodDesc, params: Payload): PendingResult {
    if (this.target) return this.target.call(method, params);
    this.calledThrough = true;
    return super.call(method, params);
  }

  resolveTo(h: Hook): void {
    if (this.target) return h.release();
    this.target = embargoIfNeeded(this.conn, this.calledThrough, { kind: 'import', id: this.importId }, h);
    const cbs = this.callbacks;
    this.callbacks = null;
    if (cbs) for (const cb of cbs) cb(this.target);
  }

  override disconnect(err: RpcError): void {
    super.disconnect(err);
    if (!this.target) this.resolveTo(new BrokenHook(err));
  }

  override get resolution(): Hook | null {
    return this.target;
  }
  override get unresolved(): boolean {
    return this.target === null;
  }
  override whenResolved(cb: (h: Hook) => void): void {
    if (this.target) cb(this.target);
    else (this.callbacks ??= []).push(cb);
  }

  protected override destroy(): void {
    super.destroy();
    this.target?.release();
  }
}

/** A capability in the results of a question that has not returned: calls are pipelined to the peer. */
export class QuestionPipelineHook extends Hook {
  private target: Hook | null = null;
  /** Set when resolution went through an embargo: the gate that opens when it lifts. */
  embargoGate: Hook | null = null;
  private calledThrough = false;
  private callbacks: ((h: Hook) => void)[] | null = null;

  constructor(
    readonly conn: Connection,
    readonly question: Question,
    readonly path: readonly number[],
  ) {
    super();
    this.host = conn;
  }

  call(method: MethodDesc, params: Payload): PendingResult {
    if (this.target) return this.target.call(method, params);
    this.calledThrough = true;
    return this.conn.sendCall({ kind: 'answer', questionId: this.question.id, path: this.path }, method, params);
  }

  /** The question returned: `h` (owned) is the capability at our path. */
  resolveTo(h: Hook): void {
    if (this.target) return h.release();
    this.target = embargoIfNeeded(this.conn, this.calledThrough, { kind: 'answer', questionId: this.question.id, path: this.path }, h);
    if (this.target !== h) this.embargoGate = this.target;
    const cbs = this.callbacks;
    this.callbacks = null;
    if (cbs) for (const cb of cbs) cb(this.target);
  }

  override get resolution(): Hook | null {
    return this.target;
  }
  override get unresolved(): boolean {
    return this.target === null;
  }
  override whenResolved(cb: (h: Hook) => void): void {
    if (this.target) cb(this.target);
    else (this.callbacks ??= []).push(cb);
  }

  protected override destroy(): void {
    this.target?.release();
  }
}

/**
 * When a promise we called through resolves to something that is not the peer's (a local object,
 * or another connection's), new calls must wait until the old ones, still travelling through the
 * peer, have come back: returns a promise hook that opens when the Disembargo echoes.
 */
function embargoIfNeeded(conn: Connection, calledThrough: boolean, target: Target, h: Hook): Hook {
  const s = shorten(h);
  if (!calledThrough || s.host === conn || s.brokenWith || !conn.isOpen) return h;
  const gate = new PromiseHook();
  conn.startEmbargo(target, () => gate.resolve(h));
  return gate;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const CAP = { none: 0, senderHosted: 1, senderPromise: 2, receiverHosted: 3, receiverAnswer: 4, thirdPartyHosted: 5 };
const RET = { results: 0, exception: 1, canceled: 2, resultsSentElsewhere: 3, takeFromOtherQuestion: 4 };

/** Sets the Message union to `tag` and builds its struct (dataWords, pointers). */
function variant(b: WireBuilder, root: StructBuilder, tag: number, dataWords: number, ptrs: number): StructBuilder {
  b.dv.setUint16(root.d, tag, true);
  return b.initStruct(root.p, dataWords, ptrs);
}

/** A Return with releaseParamCaps = false (we never ask the caller to release its param exports). */
function initReturn(b: WireBuilder, root: StructBuilder, answerId: number): StructBuilder {
  const ret = variant(b, root, MSG.return, 2, 1);
  b.dv.setUint32(ret.d, answerId, true);
  b.dv.setUint8(ret.d + 4, 1); // releaseParamCaps stored XOR its default (true)
  return ret;
}

function writePromisedAnswer(b: WireBuilder, ptr: number, questionId: number, path: readonly number[]): void {
  const pa = b.initStruct(ptr, 1, 1);
  b.dv.setUint32(pa.d, questionId, true);
  if (path.length > 0) {
    const first = b.initCompositeList(pa.p, path.length, 1, 0);
    for (let i = 0; i < path.length; i++) {
      b.dv.setUint16(first + i * 8, 1, true); // getPointerField
      b.dv.setUint16(first + i * 8 + 2, path[i], true);
    }
  }
}

function writeTarget(b: WireBuilder, ptr: number, target: Target): void {
  const t = b.initStruct(ptr, 1, 1);
  if (target.kind === 'import') {
    b.dv.setUint32(t.d, target.id, true);
    return;
  }
  b.dv.setUint16(t.d + 4, 1, true);
  writePromisedAnswer(b, t.p, target.questionId, target.path);
}

function writeException(b: WireBuilder, ptr: number, err: RpcError): void {
  const ex = b.initStruct(ptr, 1, 2);
  b.dv.setUint16(ex.d + 4, exceptionTypeCode(err.type), true);
  b.setText(ex.p, err.message);
}

