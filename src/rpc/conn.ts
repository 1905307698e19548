// One two-party Cap'n Proto RPC connection (level 1). Organised like rpc.capnp: the four tables,
// embargoes, and one handler per message type (handleCall, handleReturn, ...).
import { type CapIO, type MethodDesc, type StructDesc, readStruct, writeStructAt } from './codec.js';
import { type StructBuilder, type StructRef, WireBuilder, WireError, WireReader, copyStruct, elementOf, isStructList, pointerOf } from './wire.js';
import { type Client, type ClientOf, type Interface, lookupMethod, makeClient, ownCaps } from './client.js';
import { EmbargoTable } from './embargo.js';
import {
  DisconnectedError,
  FailedError,
  OverloadedError,
  type RpcError,
  UnimplementedError,
  MAX_EXCEPTION_DETAILS,
  MAX_EXCEPTION_DETAIL_BYTES,
  exceptionTypeCode,
  rpcErrorFromWire,
  type ExceptionDetail,
} from './errors.js';
import {
  BrokenHook,
  type Hook,
  type HookHost,
  type Payload,
  PendingResult,
  PromiseHook,
  capAtPath,
  hasCapFields,
  hookOf,
  releaseCaps,
  replaceCapAtPath,
  shorten,
} from './hooks.js';
import {
  Bootstrap,
  Call,
  Call_SendResultsTo,
  Call_SendResultsTo_Which,
  CapDescriptor,
  CapDescriptor_Which,
  Disembargo,
  Disembargo_Context,
  Disembargo_Context_Which,
  Exception,
  Finish,
  Finish_Defaults,
  Message,
  MessageTarget,
  MessageTarget_Which,
  Message_Which,
  Payload as PayloadLayout,
  PromisedAnswer,
  PromisedAnswer_Op,
  PromisedAnswer_Op_Which,
  Release,
  Resolve,
  Resolve_Which,
  Return,
  Return_Defaults,
  Return_Which,
  ThirdPartyCapDescriptor,
} from '../capnp-gen/rpc.layout.js';
import { ExportTable, IdTable, ImportTable } from './tables.js';
import { BIG_SEGMENT, type Transport, TransportLimitError } from './transport/types.js';
import { FrameError } from './transport/framing.js';


export interface ConnectionLimits {
  /** Most calls we may have outstanding on the peer; more fail with `overloaded` locally. */
  maxQuestions: number;
  /** Most calls of the peer's running here at once (received, not yet returned); more are answered `overloaded`. */
  maxCallsInFlight: number;
  /**
   * Most answers held for the peer: its calls until it sends Finish, running or returned. More abort
   * the connection: a call refused with an exception still holds its answer until Finish, so a peer
   * that never finishes can be stopped only by closing.
   */
  maxAnswers: number;
  /** Most capabilities the peer may hold from us at once; a message that would export more fails with `overloaded`. */
  maxExports: number;
  /** Traversal budget per received payload, in words (roughly: elements and bytes / 8). */
  traversalWords: number;
  /** Longest promised-answer transform path accepted. */
  maxTransformDepth: number;
  /** Most capabilities in one payload. */
  maxCapTable: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxQuestions: 32768,
  maxCallsInFlight: 16384,
  // Twice a peer's maxQuestions of the same default: its Finishes may still be on the way.
  maxAnswers: 65536,
  maxExports: 16384,
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
  /** True from the call's start until its result settles: counted in callsInFlight. */
  running: boolean;
  bootstrap: Hook | null;
  resultExports: number[];
  returned: boolean;
  finished: boolean;
  /** sendResultsTo.yourself: results stay here for a later takeFromOtherQuestion. */
  keepResults: boolean;
}

const EMPTY: StructRef = { s: 0, d: 0, dl: 0, p: 0, pc: 0 };

const BOOTSTRAP_RESULTS: StructDesc = { name: 'Bootstrap', id: '0', dataWords: 0, pointers: 1, fields: [] };
const emptyResults = new WeakMap<StructDesc, PendingResult>();
/** A fulfilled, empty result of type `desc` (which holds no capability): pipelining on it fails as on the real one. */
function returnedWithoutCaps(desc: StructDesc): PendingResult {
  let r = emptyResults.get(desc);
  if (!r) {
    r = new PendingResult(desc);
    r.resolve({});
    emptyResults.set(desc, r);
  }
  return r;
}

/** The results of a call to a method we do not know (it holds nothing to release or pipeline). */
const NO_RESULTS: StructDesc = { name: 'Unknown', id: '0', dataWords: 0, pointers: 0, fields: [] };

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
  /** The peer's calls running here (answers whose result has not settled). */
  private callsInFlight = 0;
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
      else if (err instanceof TransportLimitError) this.abort(new OverloadedError(err.message));
      else this.shutdown(new DisconnectedError(err ? `connection lost: ${err.message}` : 'connection closed by peer'));
    });
  }

  /** The peer's bootstrap capability, typed as `iface`. Usable at once (calls are pipelined). */
  bootstrap<I extends Interface>(iface: I): ClientOf<I> {
    const result = new PendingResult(BOOTSTRAP_RESULTS);
    const q = this.newQuestion(result, BOOTSTRAP_RESULTS, true);
    if (q) {
      this.send((b, root) => {
        const m = initBody(b, root, Message_Which.bootstrap, Message.bootstrap, Bootstrap.dataWords, Bootstrap.pointers);
        b.setU32(m, Bootstrap.questionId, q.id);
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
  stats(): { questions: number; answers: number; callsInFlight: number; exports: number; imports: number; embargoes: number } {
    return {
      questions: this.questions.size,
      answers: this.answers.size,
      callsInFlight: this.callsInFlight,
      exports: this.exports.size,
      imports: this.imports.size,
      embargoes: this.embargoes.size,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** Builds and sends one message; `reply` marks an answer to one of the peer's messages (see Transport.send). */
  private send(build: (b: WireBuilder, root: StructBuilder) => void, reply = false): void {
    if (!this.connected) return;
    // Build in a reused scratch buffer; the transport gets an exact-size copy it may keep.
    let b = this.scratch;
    if (b.used !== 0) b = this.scratch = new WireBuilder(SCRATCH_BYTES); // re-entered (rare): don't clobber
    const root = b.initRoot(1, 1);
    try {
      build(b, root);
    } catch (e) {
      b.extra = [];
      this.resetScratch(b);
      throw e;
    }
    const segments = b.segments();
    b.extra = []; // big Data's own segments: handed over to the transport
    if (b.used >= BIG_SEGMENT) {
      // Hand a big message over as it is; build the next one in a fresh buffer.
      if (b === this.scratch) this.scratch = new WireBuilder(SCRATCH_BYTES);
      this.transport.send(segments, reply);
    } else {
      this.transport.send(segments, reply); // the first copied by the transport
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
        const call = initBody(b, root, Message_Which.call, Message.call, Call.dataWords, Call.pointers);
        b.setU32(call, Call.questionId, q.id);
        b.setU16(call, Call.methodId, method.ordinal);
        b.setU64(call, Call.interfaceId, method.interfaceId);
        writeTarget(b, pointerOf(call, Call.target), target);
        q.paramExports = this.writePayload(b, pointerOf(call, Call.params), method.params, params);
      });
    } catch (e) {
      this.questions.delete(q.id);
      result.remotePipeline = null;
      const why = `could not send ${method.interfaceName}.${method.name}: ${(e as Error).message}`;
      result.reject(e instanceof OverloadedError ? new OverloadedError(why) : new FailedError(why));
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
    const payload = b.initStruct(ptr, PayloadLayout.dataWords, PayloadLayout.pointers);
    writeStructAt(b, pointerOf(payload, PayloadLayout.content), desc, value, io);
    return this.writeCapTable(b, pointerOf(payload, PayloadLayout.capTable), hooks);
  }

  private writeCapTable(b: WireBuilder, ptr: number, hooks: Hook[]): number[] {
    const exported: number[] = [];
    if (hooks.length === 0) return exported;
    // Before any descriptor is written: a refusal half way would leave exports the peer never hears of.
    const refused = this.exportRefusal(hooks);
    if (refused) throw refused;
    const first = b.initCompositeList(ptr, hooks.length, CapDescriptor.dataWords, CapDescriptor.pointers);
    for (let i = 0; i < hooks.length; i++) {
      const id = this.writeDescriptor(b, elementOf(first, i, CapDescriptor.dataWords, CapDescriptor.pointers), hooks[i]);
      if (id !== null) exported.push(id);
    }
    return exported;
  }

  /** Null when describing `hooks` to the peer fits in maxExports; else the OverloadedError to fail with. */
  private exportRefusal(hooks: readonly Hook[]): OverloadedError | null {
    const room = this.limits.maxExports - this.exports.size;
    if (hooks.length <= room) return null;
    const fresh = new Set<Hook>();
    for (const hook of hooks) {
      const h = shorten(hook);
      if (this.describedWithoutExport(h) || this.exports.has(h)) continue;
      fresh.add(h);
    }
    if (fresh.size <= room) return null;
    return new OverloadedError(
      `this would export ${this.exports.size + fresh.size} capabilities to the peer (the bound is ${this.limits.maxExports}, ` +
        'maxExports): the peer must release some first',
    );
  }

  /** True for a capability the peer hosts or will host (ours to point back at, no export needed). */
  private describedWithoutExport(h: Hook): boolean {
    return (h instanceof ImportHook && h.conn === this) || (h instanceof QuestionPipelineHook && h.conn === this && h.unresolved);
  }

  /** Describes `hook` to the peer; returns the export id when one gained a reference. */
  private writeDescriptor(b: WireBuilder, d: StructBuilder, hook: Hook): number | null {
    const h = shorten(hook);
    if (h instanceof ImportHook && h.conn === this) {
      b.setU16(d, CapDescriptor.discriminant, CapDescriptor_Which.receiverHosted);
      b.setU32(d, CapDescriptor.receiverHosted, h.importId);
      return null;
    }
    if (h instanceof QuestionPipelineHook && h.conn === this && h.unresolved) {
      b.setU16(d, CapDescriptor.discriminant, CapDescriptor_Which.receiverAnswer);
      writePromisedAnswer(b, pointerOf(d, CapDescriptor.receiverAnswer), h.question.id, h.path);
      return null;
    }
    const { id, fresh } = this.exports.add(h);
    if (fresh) h.addRef();
    const broken = h.brokenWith;
    if (broken || h.unresolved) {
      // A broken capability travels as a promise, resolved to its exception right after.
      b.setU16(d, CapDescriptor.discriminant, CapDescriptor_Which.senderPromise);
      b.setU32(d, CapDescriptor.senderPromise, id);
      if (fresh && broken) this.afterSend.push(() => this.sendResolve(id, h));
      else if (fresh) h.whenResolved(() => this.sendResolve(id, h));
    } else {
      b.setU16(d, CapDescriptor.discriminant, CapDescriptor_Which.senderHosted);
      b.setU32(d, CapDescriptor.senderHosted, id);
    }
    return id;
  }

  private sendResolve(exportId: number, promise: Hook): void {
    if (!this.connected || this.exports.get(exportId) !== promise) return;
    const target = shorten(promise);
    // Resolving to a capability that would export past the bound resolves to the refusal instead.
    const broken = target.brokenWith ?? this.exportRefusal([target]);
    this.send((b, root) => {
      const r = initBody(b, root, Message_Which.resolve, Message.resolve, Resolve.dataWords, Resolve.pointers);
      b.setU32(r, Resolve.promiseId, exportId);
      if (broken) {
        b.setU16(r, Resolve.discriminant, Resolve_Which.exception);
        writeException(b, pointerOf(r, Resolve.exception), broken);
      } else {
        b.setU16(r, Resolve.discriminant, Resolve_Which.cap);
        const d = b.initStruct(pointerOf(r, Resolve.cap), CapDescriptor.dataWords, CapDescriptor.pointers);
        this.writeDescriptor(b, d, target);
      }
    });
  }

  private sendFinish(q: Question, releaseResultCaps: boolean): void {
    q.finishSent = true;
    this.send((b, root) => {
      const f = initBody(b, root, Message_Which.finish, Message.finish, Finish.dataWords, Finish.pointers);
      b.setU32(f, Finish.questionId, q.id);
      b.setBool(f, Finish.releaseResultCaps, releaseResultCaps, Finish_Defaults.releaseResultCaps);
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
      const d = initBody(b, root, Message_Which.disembargo, Message.disembargo, Disembargo.dataWords, Disembargo.pointers);
      b.setU16(d, Disembargo_Context.discriminant, Disembargo_Context_Which.senderLoopback);
      b.setU32(d, Disembargo_Context.senderLoopback, id);
      writeTarget(b, pointerOf(d, Disembargo.target), target);
    });
  }

  /** Our last local reference to an import went: tell the peer how many references we drop. */
  dropImport(hook: ImportHook): void {
    const n = this.imports.drop(hook.importId, hook);
    if (n > 0 && this.connected) {
      this.send((b, root) => {
        const r = initBody(b, root, Message_Which.release, Message.release, Release.dataWords, Release.pointers);
        b.setU32(r, Release.id, hook.importId);
        b.setU32(r, Release.referenceCount, n);
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
      const body = (pointer: number): StructRef => r.structField(root, pointer) ?? EMPTY;
      switch (r.u16(root, Message.discriminant)) {
        case Message_Which.unimplemented:
          return this.handleUnimplemented(r, body(Message.unimplemented));
        case Message_Which.abort:
          return this.handleAbort(r, body(Message.abort));
        case Message_Which.bootstrap:
          return this.handleBootstrap(r.u32(body(Message.bootstrap), Bootstrap.questionId));
        case Message_Which.call:
          return this.handleCall(r, body(Message.call));
        case Message_Which.return:
          return this.handleReturn(r, body(Message.return));
        case Message_Which.finish: {
          const f = body(Message.finish);
          return this.handleFinish(r.u32(f, Finish.questionId), r.bool(f, Finish.releaseResultCaps, Finish_Defaults.releaseResultCaps));
        }
        case Message_Which.resolve:
          return this.handleResolve(r, body(Message.resolve));
        case Message_Which.release: {
          const rel = body(Message.release);
          return this.handleRelease(r.u32(rel, Release.id), r.u32(rel, Release.referenceCount));
        }
        case Message_Which.disembargo:
          return this.handleDisembargo(r, root, body(Message.disembargo));
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
      b.setU16(root, Message.discriminant, Message_Which.unimplemented);
      copyStruct(r, received, b, pointerOf(root, Message.unimplemented));
    }, true);
  }

  handleUnimplemented(r: WireReader, echoed: StructRef): void {
    const inner = (pointer: number): StructRef => r.structField(echoed, pointer) ?? EMPTY;
    switch (r.u16(echoed, Message.discriminant)) {
      case Message_Which.call:
        return this.questionUnimplemented(r.u32(inner(Message.call), Call.questionId));
      case Message_Which.bootstrap:
        return this.questionUnimplemented(r.u32(inner(Message.bootstrap), Bootstrap.questionId));
      case Message_Which.resolve: {
        // The peer ignored our Resolve: drop the reference its descriptor carried.
        const res = inner(Message.resolve);
        if (r.u16(res, Resolve.discriminant) !== Resolve_Which.cap) return;
        const c = r.structField(res, Resolve.cap) ?? EMPTY;
        const which = r.u16(c, CapDescriptor.discriminant);
        if (which === CapDescriptor_Which.senderHosted) this.tryReleaseExport(r.u32(c, CapDescriptor.senderHosted));
        else if (which === CapDescriptor_Which.senderPromise) this.tryReleaseExport(r.u32(c, CapDescriptor.senderPromise));
        return;
      }
      default:
        return;
    }
  }

  private questionUnimplemented(questionId: number): void {
    const q = this.questions.get(questionId);
    if (!q || q.returned) return;
    q.returned = true;
    q.finishSent = true;
    this.questions.delete(q.id);
    this.failQuestion(q, new UnimplementedError(q.bootstrap ? 'the peer has no bootstrap interface' : 'the peer does not implement this call'));
  }

  private tryReleaseExport(id: number): void {
    if (this.exports.refs(id) > 0) this.releaseExport(id, 1);
  }

  handleAbort(r: WireReader, ex: StructRef): void {
    this.shutdown(new DisconnectedError(`peer aborted the connection: ${readException(r, ex).message}`));
  }

  handleBootstrap(questionId: number): void {
    if (this.answers.has(questionId)) throw new ProtocolError(`Bootstrap reuses question id ${questionId}, which is still in use`);
    if (this.answersFull()) return;
    const hook = this.bootstrapHook ? this.bootstrapHook.addRef() : new BrokenHook(new FailedError('this peer serves no bootstrap capability'));
    const answer: Answer = {
      id: questionId,
      result: null,
      running: false,
      bootstrap: hook,
      resultExports: [],
      returned: true,
      finished: false,
      keepResults: false,
    };
    this.answers.set(questionId, answer);
    this.send((b, root) => {
      const ret = initReturn(b, root, questionId);
      const broken = hook.brokenWith ?? this.exportRefusal([hook]);
      if (broken) return writeReturnException(b, ret, broken);
      const payload = b.initStruct(pointerOf(ret, Return.results), PayloadLayout.dataWords, PayloadLayout.pointers);
      b.setCap(pointerOf(payload, PayloadLayout.content), 0);
      answer.resultExports = this.writeCapTable(b, pointerOf(payload, PayloadLayout.capTable), [hook]);
    }, true);
  }

  /** True (and the connection aborted) when the peer already holds maxAnswers answers. */
  private answersFull(): boolean {
    if (this.answers.size < this.limits.maxAnswers) return false;
    this.abort(
      new OverloadedError(
        `the peer holds ${this.answers.size} answers it has not finished (the bound is ${this.limits.maxAnswers}, maxAnswers): ` +
          'it must send Finish for the calls that returned',
      ),
    );
    return true;
  }

  handleCall(r: WireReader, call: StructRef): void {
    const questionId = r.u32(call, Call.questionId);
    if (this.answers.has(questionId)) throw new ProtocolError(`Call reuses question id ${questionId}, which is still in use`);
    if (this.answersFull()) return;
    const answer: Answer = {
      id: questionId,
      result: null,
      running: false,
      bootstrap: null,
      resultExports: [],
      returned: false,
      finished: false,
      keepResults: false,
    };
    const methodId = r.u16(call, Call.methodId);
    const sendTo = r.u16(call, Call_SendResultsTo.discriminant);
    const interfaceId = r.u64(call, Call.interfaceId);
    const params = r.structField(call, Call.params) ?? EMPTY;
    if (sendTo === Call_SendResultsTo_Which.yourself) answer.keepResults = true;
    else if (sendTo !== Call_SendResultsTo_Which.caller) {
      this.answers.set(questionId, answer);
      this.releasePayloadCaps(r, params);
      return this.returnException(answer, new UnimplementedError('sendResultsTo.thirdParty needs RPC level 3'));
    }
    if (this.callsInFlight >= this.limits.maxCallsInFlight) {
      // Refused before it starts. The answer stays, as a rejected result (the peer's Finish, calls
      // pipelined on it and takeFromOtherQuestion name it); its params' capabilities go back.
      const refusal = new OverloadedError(
        `the peer already has ${this.callsInFlight} calls running here (the bound is ${this.limits.maxCallsInFlight}, maxCallsInFlight): ` +
          'retry when some have returned',
      );
      const refused = new PendingResult(lookupMethod(interfaceId, methodId)?.results ?? NO_RESULTS);
      refused.reject(refusal);
      answer.result = refused;
      this.answers.set(questionId, answer);
      this.releasePayloadCaps(r, params);
      return this.returnException(answer, refusal);
    }
    const targetRef = r.structField(call, Call.target);
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
    answer.running = true;
    this.callsInFlight++;
    const result = target.call(method, value);
    target.release();
    answer.result = result;
    result.then(
      (v) => {
        this.callEnded(answer);
        this.returnResults(answer, v);
      },
      (e) => {
        this.callEnded(answer);
        this.returnException(answer, e);
      },
    );
  }

  private callEnded(answer: Answer): void {
    if (!answer.running) return;
    answer.running = false;
    this.callsInFlight--;
  }

  private returnResults(answer: Answer, value: Payload): void {
    const desc = answer.result!.desc;
    if (!this.connected) return releaseCaps(value, desc);
    if (answer.finished) {
      // The caller sent Finish first: it wants nothing; say so and drop the results.
      releaseCaps(value, desc);
      this.send((b, root) => b.setU16(initReturn(b, root, answer.id), Return.discriminant, Return_Which.canceled), true);
      this.answers.delete(answer.id);
      return;
    }
    answer.returned = true;
    try {
      this.send((b, root) => {
        const ret = initReturn(b, root, answer.id);
        if (answer.keepResults) return b.setU16(ret, Return.discriminant, Return_Which.resultsSentElsewhere);
        answer.resultExports = this.writePayload(b, pointerOf(ret, Return.results), desc, value);
      }, true);
    } catch (e) {
      answer.returned = false;
      const why = `could not send results: ${(e as Error).message}`;
      return this.returnException(answer, e instanceof OverloadedError ? new OverloadedError(why) : new FailedError(why));
    }
    // The answer lives until the peer's Finish, for calls pipelined on it; results without a
    // capability offer nothing to pipeline, so their data need not wait with it (a peer that
    // never sends Finish would otherwise hold every result it got, up to maxAnswers of them).
    if (!answer.keepResults && !hasCapFields(desc)) answer.result = returnedWithoutCaps(desc);
  }

  private returnException(answer: Answer, err: RpcError): void {
    if (!this.connected) return;
    answer.returned = true;
    this.send((b, root) => {
      const ret = initReturn(b, root, answer.id);
      if (answer.finished) b.setU16(ret, Return.discriminant, Return_Which.canceled);
      else writeReturnException(b, ret, err);
    }, true);
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
    if (r && r.state === 'fulfilled') releaseCaps(r.value, r.desc);
  }

  handleReturn(r: WireReader, ret: StructRef): void {
    const answerId = r.u32(ret, Return.answerId);
    const q = this.questions.get(answerId);
    if (!q) throw new ProtocolError(`Return for question ${answerId}, which is not outstanding`);
    if (q.returned) throw new ProtocolError(`second Return for question ${answerId}`);
    q.returned = true;
    const releaseParamCaps = r.bool(ret, Return.releaseParamCaps, Return_Defaults.releaseParamCaps);
    if (releaseParamCaps) for (const id of q.paramExports) this.tryReleaseExport(id);
    if (q.finishSent) {
      // We canceled: the callee released the result caps (releaseResultCaps); ignore the payload.
      this.questions.delete(q.id);
      this.failQuestion(q, new FailedError('call canceled by the caller'));
      return;
    }
    switch (r.u16(ret, Return.discriminant)) {
      case Return_Which.results: {
        let value: Payload;
        const payload = r.structField(ret, Return.results) ?? EMPTY;
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
      case Return_Which.exception: {
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        let err: RpcError;
        try {
          err = readException(r, r.structField(ret, Return.exception) ?? EMPTY);
        } catch (e) {
          // The question is out of the table: fail it here, or nothing (not even the abort) ever settles it.
          this.failQuestion(q, new FailedError(`malformed exception: ${(e as Error).message}`));
          throw e;
        }
        this.failQuestion(q, err);
        return;
      }
      case Return_Which.canceled:
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        this.failQuestion(q, new FailedError('call was canceled by the callee'));
        return;
      case Return_Which.resultsSentElsewhere:
        // We never ask for sendResultsTo.yourself, so there are no results for us anywhere.
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        this.failQuestion(q, new FailedError('the peer sent the results elsewhere, though we asked for them'));
        return;
      case Return_Which.takeFromOtherQuestion: {
        const otherId = r.u32(ret, Return.takeFromOtherQuestion);
        const other = this.answers.get(otherId);
        if (!other || !other.keepResults || !other.returned || !other.result || other.result.state === 'pending') {
          throw new ProtocolError(`takeFromOtherQuestion names question ${otherId}, which holds no results`);
        }
        const res = other.result;
        if (res.state === 'rejected') {
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
      for (const ph of pipelines.values()) {
        if (ph.refs <= 0) continue;
        const path = ph.path;
        if (bootCap) ph.resolve(path.length === 0 ? bootCap.addRef() : bootstrapHasNoFields());
        else {
          ph.resolve(capAtPath(value, q.desc, path));
          // Under an embargo, the results' own reference must wait behind it too (E-order).
          const gate = ph.embargoGate;
          if (gate) replaceCapAtPath(value, q.desc, path, (old) => {
            (old as Client).release();
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
    if (pipelines) for (const ph of pipelines.values()) if (ph.refs > 0) ph.resolve(new BrokenHook(err));
    q.result.reject(err);
  }

  handleResolve(r: WireReader, res: StructRef): void {
    const promiseId = r.u32(res, Resolve.promiseId);
    const hook = this.imports.get(promiseId);
    let replacement: Hook;
    if (r.u16(res, Resolve.discriminant) === Resolve_Which.exception) {
      replacement = new BrokenHook(readException(r, r.structField(res, Resolve.exception) ?? EMPTY));
    } else {
      const cap = r.structField(res, Resolve.cap) ?? EMPTY;
      replacement = this.readDescriptor(r, cap) ?? new BrokenHook(new FailedError('promise resolved to a null capability'));
    }
    if (!hook || !hook.isPromise) {
      // Released already (or never a promise): we do not need what it resolved to.
      replacement.release();
      if (hook) throw new ProtocolError(`Resolve for import ${promiseId}, which is not a promise`);
      return;
    }
    hook.resolve(replacement);
  }

  handleRelease(id: number, count: number): void {
    try {
      this.releaseExport(id, count);
    } catch (e) {
      throw new ProtocolError((e as Error).message);
    }
  }

  handleDisembargo(r: WireReader, root: StructRef, d: StructRef): void {
    const kind = r.u16(d, Disembargo_Context.discriminant);
    if (kind === Disembargo_Context_Which.senderLoopback) {
      const embargoId = r.u32(d, Disembargo_Context.senderLoopback);
      const targetRef = r.structField(d, Disembargo.target);
      if (!targetRef) throw new ProtocolError('Disembargo has no target');
      const target = this.readTarget(r, targetRef);
      const h = shorten(target);
      target.release();
      if (!(h instanceof ImportHook) || h.conn !== this) {
        throw new ProtocolError("Disembargo senderLoopback names a capability that does not point back to the sender");
      }
      // Calls that came through the promise were forwarded synchronously, so they are ahead of this.
      this.send((b, rootOut) => {
        const out = initBody(b, rootOut, Message_Which.disembargo, Message.disembargo, Disembargo.dataWords, Disembargo.pointers);
        b.setU16(out, Disembargo_Context.discriminant, Disembargo_Context_Which.receiverLoopback);
        b.setU32(out, Disembargo_Context.receiverLoopback, embargoId);
        writeTarget(b, pointerOf(out, Disembargo.target), { kind: 'import', id: h.importId });
      }, true);
      return;
    }
    if (kind === Disembargo_Context_Which.receiverLoopback) {
      const embargoId = r.u32(d, Disembargo_Context.receiverLoopback);
      if (!this.embargoes.lift(embargoId)) {
        throw new ProtocolError(`Disembargo receiverLoopback for embargo ${embargoId}, which does not exist`);
      }
      return;
    }
    this.replyUnimplemented(r, root);
  }

  // -------------------------------------------------------------------------------------------
  // Reading payloads, descriptors and targets

  private readTarget(r: WireReader, t: StructRef): Hook {
    if (r.u16(t, MessageTarget.discriminant) === MessageTarget_Which.importedCap) {
      const id = r.u32(t, MessageTarget.importedCap);
      const h = this.exports.get(id);
      if (!h) throw new ProtocolError(`message targets export ${id}, which does not exist`);
      return h.addRef();
    }
    const pa = r.structField(t, MessageTarget.promisedAnswer);
    if (!pa) throw new ProtocolError('promisedAnswer target is missing');
    const questionId = r.u32(pa, PromisedAnswer.questionId);
    const answer = this.answers.get(questionId);
    if (!answer) throw new ProtocolError(`message targets answer ${questionId}, which is not outstanding`);
    return this.answerCap(answer, this.readTransform(r, pa));
  }

  /** A new reference to the capability at `path` in an answer's (future) results. */
  private answerCap(answer: Answer, path: readonly number[]): Hook {
    if (answer.bootstrap) return path.length === 0 ? answer.bootstrap.addRef() : bootstrapHasNoFields();
    if (!answer.result) return new BrokenHook(new FailedError('the call this targets failed before it started'));
    return answer.result.pipeline(path);
  }

  private readTransform(r: WireReader, pa: StructRef): number[] {
    const ops = r.listField(pa, PromisedAnswer.transform);
    const path: number[] = [];
    if (!ops) return path;
    if (!isStructList(ops)) throw new ProtocolError('transform is not a list of structs');
    if (ops.count > this.limits.maxTransformDepth) {
      throw new ProtocolError(`transform path of ${ops.count} steps exceeds ${this.limits.maxTransformDepth}`);
    }
    for (let i = 0; i < ops.count; i++) {
      const op = r.listStruct(ops, i);
      if (r.u16(op, PromisedAnswer_Op.discriminant) === PromisedAnswer_Op_Which.getPointerField) {
        path.push(r.u16(op, PromisedAnswer_Op.getPointerField));
      }
    }
    return path;
  }

  private readCapTable(r: WireReader, payload: StructRef): Hook[] {
    const table = r.listField(payload, PayloadLayout.capTable);
    if (!table || table.count === 0) return [];
    if (!isStructList(table)) throw new ProtocolError('cap table is not a list of structs');
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
      return readStruct(r, r.structField(payload, PayloadLayout.content) ?? EMPTY, desc, io);
    } finally {
      for (const h of hooks) h.release();
    }
  }

  private readBootstrapResult(r: WireReader, payload: StructRef): Payload {
    const hooks = this.readCapTable(r, payload);
    try {
      const index = r.capField(payload, PayloadLayout.content);
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
    switch (r.u16(d, CapDescriptor.discriminant)) {
      case CapDescriptor_Which.none:
        return null;
      case CapDescriptor_Which.senderHosted:
        return this.importCap(r.u32(d, CapDescriptor.senderHosted), false);
      case CapDescriptor_Which.senderPromise:
        return this.importCap(r.u32(d, CapDescriptor.senderPromise), true);
      case CapDescriptor_Which.receiverHosted: {
        const id = r.u32(d, CapDescriptor.receiverHosted);
        const h = this.exports.get(id);
        return h ? h.addRef() : new BrokenHook(new FailedError(`receiverHosted names export ${id}, which does not exist`));
      }
      case CapDescriptor_Which.receiverAnswer: {
        const pa = r.structField(d, CapDescriptor.receiverAnswer) ?? EMPTY;
        const questionId = r.u32(pa, PromisedAnswer.questionId);
        const answer = this.answers.get(questionId);
        if (!answer) return new BrokenHook(new FailedError(`receiverAnswer names question ${questionId}, which is not outstanding`));
        return this.answerCap(answer, this.readTransform(r, pa));
      }
      case CapDescriptor_Which.thirdPartyHosted: {
        // Level 3; in two-party use the vine, which the sender hosts.
        const tp = r.structField(d, CapDescriptor.thirdPartyHosted) ?? EMPTY;
        return this.importCap(r.u32(tp, ThirdPartyCapDescriptor.vineId), false);
      }
      default:
        throw new ProtocolError('unknown CapDescriptor kind');
    }
  }

  private importCap(id: number, promise: boolean): Hook {
    const existing = this.imports.received(id);
    if (existing) return existing.addRef();
    const h = new ImportHook(this, id, promise);
    this.imports.set(id, h);
    return h;
  }

  // -------------------------------------------------------------------------------------------
  // Ending

  /** Tells the peer why (a reason alone is `failed`) and ends the connection. */
  private abort(reason: string | RpcError): void {
    if (!this.connected) return;
    const err = typeof reason === 'string' ? new FailedError(reason) : reason;
    this.send((b, root) => {
      b.setU16(root, Message.discriminant, Message_Which.abort);
      writeException(b, pointerOf(root, Message.abort), err);
    });
    this.shutdown(new DisconnectedError(`connection aborted: ${err.message}`));
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
      if (r && r.state === 'fulfilled' && a.returned) releaseCaps(r.value, r.desc);
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

/**
 * A capability whose calls travel to the peer, at `messageTarget`, until it resolves (if it is a
 * promise at all): PromiseHook's resolution, with early calls sent instead of queued.
 */
abstract class RemoteHook extends PromiseHook {
  constructor(
    readonly conn: Connection,
    readonly messageTarget: Target,
  ) {
    super();
    this.host = conn;
  }

  protected override callEarly(method: MethodDesc, params: Payload): PendingResult {
    return this.conn.sendCall(this.messageTarget, method, params);
  }

  /**
   * When this resolves to something that is not the peer's (a local object, or another connection's)
   * after calls went through it, new calls must wait until those, still travelling through the peer,
   * have come back: the target is then a promise that opens when our Disembargo echoes.
   */
  protected override adopt(h: Hook): Hook {
    const s = shorten(h);
    if (!this.calledEarly || s.host === this.conn || s.brokenWith || !this.conn.isOpen) return h;
    const gate = new PromiseHook();
    this.conn.startEmbargo(this.messageTarget, () => gate.resolve(h));
    return gate;
  }
}

/**
 * A capability the peer hosts (an entry of our import table). One it described as senderPromise
 * (`isPromise`) resolves when its Resolve arrives; any other import never resolves.
 */
export class ImportHook extends RemoteHook {
  private lost: RpcError | null = null;

  constructor(
    conn: Connection,
    readonly importId: number,
    readonly isPromise: boolean,
  ) {
    super(conn, { kind: 'import', id: importId });
  }

  protected override callEarly(method: MethodDesc, params: Payload): PendingResult {
    if (!this.lost) return super.callEarly(method, params);
    releaseCaps(params, method.params);
    const r = new PendingResult(method.results);
    r.reject(this.lost);
    return r;
  }

  /** The connection ended: calls fail with `err`, and a promise resolves to it. */
  disconnect(err: RpcError): void {
    this.lost = err;
    if (this.isPromise) this.resolve(new BrokenHook(err));
  }

  override get brokenWith(): RpcError | null {
    return this.lost;
  }

  override get unresolved(): boolean {
    return this.isPromise && super.unresolved;
  }

  protected override destroy(): void {
    this.conn.dropImport(this);
    super.destroy();
  }
}

/** A capability in the results of a question that has not returned: calls are pipelined to the peer. */
export class QuestionPipelineHook extends RemoteHook {
  /** Set when the resolution went through an embargo: the gate that opens when it lifts. */
  embargoGate: Hook | null = null;

  constructor(
    conn: Connection,
    readonly question: Question,
    readonly path: readonly number[],
  ) {
    super(conn, { kind: 'answer', questionId: question.id, path });
  }

  protected override adopt(h: Hook): Hook {
    const target = super.adopt(h);
    if (target !== h) this.embargoGate = target;
    return target;
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** What a pipelined path into a bootstrap answer leads to: the bootstrap result is a capability, not a struct. */
function bootstrapHasNoFields(): Hook {
  return new BrokenHook(new FailedError('bootstrap capability has no fields'));
}

/** Sets the Message union to `which` and builds its body, a struct of the given size, at `pointer`. */
function initBody(b: WireBuilder, root: StructBuilder, which: Message_Which, pointer: number, dataWords: number, pointers: number): StructBuilder {
  b.setU16(root, Message.discriminant, which);
  return b.initStruct(pointerOf(root, pointer), dataWords, pointers);
}

/** A Return with releaseParamCaps = false (we never ask the caller to release its param exports). */
function initReturn(b: WireBuilder, root: StructBuilder, answerId: number): StructBuilder {
  const ret = initBody(b, root, Message_Which.return, Message.return, Return.dataWords, Return.pointers);
  b.setU32(ret, Return.answerId, answerId);
  b.setBool(ret, Return.releaseParamCaps, false, Return_Defaults.releaseParamCaps);
  return ret;
}

function writeReturnException(b: WireBuilder, ret: StructBuilder, err: RpcError): void {
  b.setU16(ret, Return.discriminant, Return_Which.exception);
  writeException(b, pointerOf(ret, Return.exception), err);
}

function writePromisedAnswer(b: WireBuilder, ptr: number, questionId: number, path: readonly number[]): void {
  const pa = b.initStruct(ptr, PromisedAnswer.dataWords, PromisedAnswer.pointers);
  b.setU32(pa, PromisedAnswer.questionId, questionId);
  if (path.length === 0) return;
  const first = b.initCompositeList(pointerOf(pa, PromisedAnswer.transform), path.length, PromisedAnswer_Op.dataWords, PromisedAnswer_Op.pointers);
  for (let i = 0; i < path.length; i++) {
    const op = elementOf(first, i, PromisedAnswer_Op.dataWords, PromisedAnswer_Op.pointers);
    b.setU16(op, PromisedAnswer_Op.discriminant, PromisedAnswer_Op_Which.getPointerField);
    b.setU16(op, PromisedAnswer_Op.getPointerField, path[i]);
  }
}

function writeTarget(b: WireBuilder, ptr: number, target: Target): void {
  const t = b.initStruct(ptr, MessageTarget.dataWords, MessageTarget.pointers);
  if (target.kind === 'import') {
    b.setU16(t, MessageTarget.discriminant, MessageTarget_Which.importedCap);
    b.setU32(t, MessageTarget.importedCap, target.id);
    return;
  }
  b.setU16(t, MessageTarget.discriminant, MessageTarget_Which.promisedAnswer);
  writePromisedAnswer(b, pointerOf(t, MessageTarget.promisedAnswer), target.questionId, target.path);
}

/**
 * Exception.details @5 :List(Detail), added to rpc.capnp in Cap'n Proto 1.0; the schema
 * rpc.layout.ts is generated from (0.9.2) predates it, so its place is declared here: the pointer
 * after `trace`, and Detail { detailId @0 :UInt64; data @1 :Data }.
 */
const enum ExceptionDetails {
  pointer = Exception.trace + 1,
  pointers = Exception.trace + 2,
  detailDataWords = 1,
  detailPointers = 1,
  /** Detail.detailId: byte offset */
  detailId = 0,
  /** Detail.data: pointer index */
  detailData = 0,
}

function writeException(b: WireBuilder, ptr: number, err: RpcError): void {
  const details = err.details.filter((d) => d.data.byteLength <= MAX_EXCEPTION_DETAIL_BYTES).slice(0, MAX_EXCEPTION_DETAILS);
  const ex = b.initStruct(ptr, Exception.dataWords, details.length > 0 ? ExceptionDetails.pointers : Exception.pointers);
  b.setU16(ex, Exception.type, exceptionTypeCode(err.type));
  b.setText(pointerOf(ex, Exception.reason), err.message);
  if (details.length === 0) return;
  const first = b.initCompositeList(pointerOf(ex, ExceptionDetails.pointer), details.length, ExceptionDetails.detailDataWords, ExceptionDetails.detailPointers);
  details.forEach((d, i) => {
    const st = elementOf(first, i, ExceptionDetails.detailDataWords, ExceptionDetails.detailPointers);
    b.setU64(st, ExceptionDetails.detailId, d.id);
    b.setData(pointerOf(st, ExceptionDetails.detailData), d.data);
  });
}

function readException(r: WireReader, ex: StructRef): RpcError {
  return rpcErrorFromWire(r.u16(ex, Exception.type), r.textField(ex, Exception.reason) ?? '', readDetails(r, ex));
}

/** The details of a received exception, within the bounds (the rest dropped); copies, since the message's
 *  buffer is reused. Details that cannot be read are dropped: the exception itself still arrives. */
function readDetails(r: WireReader, ex: StructRef): ExceptionDetail[] {
  try {
    return readDetailList(r, ex);
  } catch (e) {
    if (e instanceof WireError) return [];
    throw e;
  }
}

function readDetailList(r: WireReader, ex: StructRef): ExceptionDetail[] {
  const list = r.listField(ex, ExceptionDetails.pointer);
  if (!list) return [];
  const out: ExceptionDetail[] = [];
  for (let i = 0; i < Math.min(list.count, MAX_EXCEPTION_DETAILS); i++) {
    const st = r.listStruct(list, i);
    const data = r.listField(st, ExceptionDetails.detailData);
    const bytes = data ? r.dataOf(data) : new Uint8Array(0);
    if (bytes.byteLength > MAX_EXCEPTION_DETAIL_BYTES) continue;
    out.push({ id: r.u64(st, ExceptionDetails.detailId), data: bytes.slice() });
  }
  return out;
}
