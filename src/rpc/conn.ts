// One two-party Cap'n Proto RPC connection (level 1). Organised like rpc.capnp: the four tables,
// embargoes, and one handler per message type (handleCall, handleReturn, ...).
import * as $ from 'capnp-es';
import {
  Message as RpcMessage,
  type CapDescriptor,
  type MessageTarget,
  type Payload as RpcPayload,
  type Exception as RpcException,
} from 'capnp-es/capnp/rpc';
import { type CapIO, type InterfaceDesc, type MethodDesc, ReadBudget, type StructDesc, readStruct, structClass, writeStruct } from './codec.js';
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
  forEachCap,
  replaceCapAtPath,
  hookOf,
  ownCaps,
  releaseCaps,
  shorten,
} from './hooks.js';
import { ExportTable, IdTable, ImportTable } from './tables.js';
import type { Transport } from './transport/types.js';

const u = $.utils;

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

const BOOTSTRAP_RESULTS: StructDesc = { name: 'Bootstrap', id: '0', dataWords: 0, pointers: 1, fields: [] };

let nextConnectionId = 1;

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
  /** Messages to send right after the one being built (Resolve of broken capabilities). */
  private afterSend: (() => void)[] = [];

  constructor(
    private readonly transport: Transport,
    options: ConnectionOptions = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.bootstrapHook = options.bootstrap ? options.bootstrap.hook.addRef() : null;
    transport.onMessage((segments) => this.receive(segments));
    transport.onClose((err) =>
      this.shutdown(new DisconnectedError(err ? `connection lost: ${err.message}` : 'connection closed by peer'), false),
    );
  }

  /** The peer's bootstrap capability, typed as `iface`. Usable at once (calls are pipelined). */
  bootstrap<I extends Interface>(iface: I): ClientOf<I> {
    const result = new PendingResult(BOOTSTRAP_RESULTS);
    const q = this.newQuestion(result, BOOTSTRAP_RESULTS, true);
    if (q) {
      this.send((root) => {
        root._initBootstrap().questionId = q.id;
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
    this.shutdown(new DisconnectedError('connection closed'), false);
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

  private send(build: (root: RpcMessage) => void): void {
    if (!this.connected) return;
    // Most RPC messages are a few hundred bytes: start small instead of capnp-es's 4 KiB segment.
    const arena = { kind: 0, buffer: new ArrayBuffer(512) } as unknown as ConstructorParameters<typeof $.Message>[0];
    const msg = new $.Message(arena, false);
    const root = msg.initRoot(RpcMessage);
    build(root);
    this.transport.send(segmentsOf(msg));
    if (this.afterSend.length > 0) {
      const after = this.afterSend;
      this.afterSend = [];
      for (const f of after) f();
    }
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
      this.send((root) => {
        const call = root._initCall();
        call.questionId = q.id;
        writeTarget(call._initTarget(), target);
        call.interfaceId = method.interfaceId;
        call.methodId = method.ordinal;
        q.paramExports = this.writePayload(call._initParams(), method.params, params);
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
  private writePayload(payload: RpcPayload, desc: StructDesc, value: Payload): number[] {
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
    const content = u.initStructAt(0, structClass(desc), payload);
    writeStruct(content, desc, value, io);
    return this.writeCapTable(payload, hooks);
  }

  private writeCapTable(payload: RpcPayload, hooks: Hook[]): number[] {
    const exported: number[] = [];
    if (hooks.length === 0) return exported;
    const table = payload._initCapTable(hooks.length);
    for (let i = 0; i < hooks.length; i++) {
      const id = this.writeDescriptor(table.get(i), hooks[i]);
      if (id !== null) exported.push(id);
    }
    return exported;
  }

  /** Describes `hook` to the peer; returns the export id when one gained a reference. */
  private writeDescriptor(d: CapDescriptor, hook: Hook): number | null {
    const h = shorten(hook);
    if (h instanceof ImportHook && h.conn === this) {
      d.receiverHosted = h.importId;
      return null;
    }
    if (h instanceof QuestionPipelineHook && h.conn === this && h.unresolved) {
      const pa = d._initReceiverAnswer();
      pa.questionId = h.question.id;
      const ops = pa._initTransform(h.path.length);
      for (let i = 0; i < h.path.length; i++) ops.get(i).getPointerField = h.path[i];
      return null;
    }
    const { id, fresh } = this.exports.add(h);
    if (fresh) h.addRef();
    const broken = h.brokenWith;
    if (broken) {
      // A broken capability travels as a promise, resolved to its exception right after.
      d.senderPromise = id;
      if (fresh) this.afterSend.push(() => this.sendResolve(id, h));
    } else if (h.unresolved) {
      d.senderPromise = id;
      if (fresh) h.whenResolved(() => this.sendResolve(id, h));
    } else {
      d.senderHosted = id;
    }
    return id;
  }

  private sendResolve(exportId: number, promise: Hook): void {
    if (!this.connected || this.exports.get(exportId) !== promise) return;
    const target = shorten(promise);
    this.send((root) => {
      const r = root._initResolve();
      r.promiseId = exportId;
      const broken = target.brokenWith;
      if (broken) writeException(r._initException(), broken);
      else this.writeDescriptor(r._initCap(), target);
    });
  }

  private sendFinish(q: Question, releaseResultCaps: boolean): void {
    q.finishSent = true;
    this.send((root) => {
      const f = root._initFinish();
      f.questionId = q.id;
      f.releaseResultCaps = releaseResultCaps;
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
    this.send((root) => {
      const d = root._initDisembargo();
      writeTarget(d._initTarget(), target);
      d._initContext().senderLoopback = id;
    });
  }

  /** Our last local reference to an import went: tell the peer how many references we drop. */
  dropImport(hook: ImportHook): void {
    const n = this.imports.drop(hook.importId, hook);
    if (n > 0 && this.connected) {
      this.send((root) => {
        const r = root._initRelease();
        r.id = hook.importId;
        r.referenceCount = n;
      });
    }
  }

  private releaseExport(id: number, count: number): void {
    const hook = this.exports.release(id, count);
    if (hook) hook.release();
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  private receive(segments: ArrayBuffer[]): void {
    if (!this.connected) return;
    let root: RpcMessage;
    try {
      // A duck-typed capnp-es MultiSegmentArena (kind 1): reads the segments without copying them.
      const arena = { kind: 1, buffers: segments } as unknown as ConstructorParameters<typeof $.Message>[0];
      const msg = new $.Message(arena, false);
      root = msg.getRoot(RpcMessage);
    } catch (e) {
      return this.abort(`malformed message: ${(e as Error).message}`);
    }
    try {
      const which = root.which();
      switch (which) {
        case RpcMessage.UNIMPLEMENTED:
          return this.handleUnimplemented(root.unimplemented);
        case RpcMessage.ABORT:
          return this.handleAbort(root.abort);
        case RpcMessage.BOOTSTRAP:
          return this.handleBootstrap(root.bootstrap.questionId);
        case RpcMessage.CALL:
          return this.handleCall(root);
        case RpcMessage.RETURN:
          return this.handleReturn(root);
        case RpcMessage.FINISH:
          return this.handleFinish(root.finish.questionId, root.finish.releaseResultCaps);
        case RpcMessage.RESOLVE:
          return this.handleResolve(root);
        case RpcMessage.RELEASE:
          return this.handleRelease(root.release.id, root.release.referenceCount);
        case RpcMessage.DISEMBARGO:
          return this.handleDisembargo(root);
        default:
          return this.replyUnimplemented(root);
      }
    } catch (e) {
      if (e instanceof ProtocolError) return this.abort(e.message);
      return this.abort(`bad message: ${(e as Error).message}`);
    }
  }

  private replyUnimplemented(received: RpcMessage): void {
    this.send((root) => {
      root.unimplemented = received;
    });
  }

  handleUnimplemented(echoed: RpcMessage): void {
    switch (echoed.which()) {
      case RpcMessage.CALL: {
        const q = this.questions.get(echoed.call.questionId);
        if (q && !q.returned) {
          q.returned = true;
          q.finishSent = true;
          this.questions.delete(q.id);
          this.failQuestion(q, new UnimplementedError('the peer does not implement this call'));
        }
        return;
      }
      case RpcMessage.BOOTSTRAP: {
        const q = this.questions.get(echoed.bootstrap.questionId);
        if (q && !q.returned) {
          q.returned = true;
          q.finishSent = true;
          this.questions.delete(q.id);
          this.failQuestion(q, new UnimplementedError('the peer has no bootstrap interface'));
        }
        return;
      }
      case RpcMessage.RESOLVE: {
        // The peer ignored our Resolve: drop the reference the descriptor carried.
        const r = echoed.resolve;
        if (r._isCap) {
          const c = r.cap;
          if (c._isSenderHosted) this.tryReleaseExport(c.senderHosted);
          else if (c._isSenderPromise) this.tryReleaseExport(c.senderPromise);
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

  handleAbort(ex: RpcException): void {
    const err = rpcErrorFromWire(ex.type, `peer aborted the connection: ${ex.reason}`);
    this.shutdown(new DisconnectedError(err.message), false);
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
    this.send((root) => {
      const ret = root._initReturn();
      ret.answerId = questionId;
      ret.releaseParamCaps = false;
      const broken = hook.brokenWith;
      if (broken) {
        writeException(ret._initException(), broken);
        return;
      }
      const payload = ret._initResults();
      u.setInterfacePointer(0, u.getPointer(0, payload));
      answer.resultExports = this.writeCapTable(payload, [hook]);
    });
  }

  private checkAnswerLimit(): void {
    if (this.answers.size >= this.limits.maxAnswers) {
      throw new ProtocolError(`peer exceeded ${this.limits.maxAnswers} outstanding calls on this connection`);
    }
  }

  handleCall(root: RpcMessage): void {
    const call = root.call;
    const questionId = call.questionId;
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
    const sendTo = call.sendResultsTo;
    if (sendTo._isYourself) answer.keepResults = true;
    else if (sendTo._isThirdParty) {
      this.answers.set(questionId, answer);
      this.releasePayloadCaps(call.params);
      return this.returnException(answer, new UnimplementedError('sendResultsTo.thirdParty needs RPC level 3'));
    }
    const target = this.readTarget(call.target);
    this.answers.set(questionId, answer);
    const method = lookupMethod(call.interfaceId, call.methodId);
    if (!method) {
      target.release();
      this.releasePayloadCaps(call.params);
      return this.returnException(
        answer,
        new UnimplementedError(`method ${call.methodId} of interface 0x${call.interfaceId.toString(16)} is unknown here`),
      );
    }
    let params: Payload;
    try {
      params = this.readPayload(call.params, method.params);
    } catch (e) {
      target.release();
      throw e;
    }
    const result = target.call(method, params);
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
      this.send((root) => {
        const ret = root._initReturn();
        ret.answerId = answer.id;
        ret.releaseParamCaps = false;
        ret.canceled = true;
      });
      this.answers.delete(answer.id);
      return;
    }
    answer.returned = true;
    try {
      this.send((root) => {
        const ret = root._initReturn();
        ret.answerId = answer.id;
        ret.releaseParamCaps = false;
        if (answer.keepResults) {
          ret.resultsSentElsewhere = true;
          return;
        }
        answer.resultExports = this.writePayload(ret._initResults(), desc, value);
      });
    } catch (e) {
      answer.returned = false;
      return this.returnException(answer, new FailedError(`could not send results: ${(e as Error).message}`));
    }
  }

  private returnException(answer: Answer, err: RpcError): void {
    if (!this.connected) return;
    answer.returned = true;
    this.send((root) => {
      const ret = root._initReturn();
      ret.answerId = answer.id;
      ret.releaseParamCaps = false;
      if (answer.finished) ret.canceled = true;
      else writeException(ret._initException(), err);
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

  handleReturn(root: RpcMessage): void {
    const ret = root.return;
    const q = this.questions.get(ret.answerId);
    if (!q) throw new ProtocolError(`Return for question ${ret.answerId}, which is not outstanding`);
    if (q.returned) throw new ProtocolError(`second Return for question ${ret.answerId}`);
    q.returned = true;
    if (ret.releaseParamCaps) for (const id of q.paramExports) this.tryReleaseExport(id);
    if (q.finishSent) {
      // We canceled: the callee released the result caps (releaseResultCaps); ignore the payload.
      this.questions.delete(q.id);
      this.failQuestion(q, new FailedError('call canceled by the caller'));
      return;
    }
    switch (ret.which()) {
      case 0 /* results */: {
        let value: Payload;
        try {
          value = q.bootstrap ? this.readBootstrapResult(ret.results) : this.readPayload(ret.results, q.desc);
        } catch (e) {
          this.sendFinish(q, false);
          this.questions.delete(q.id);
          this.failQuestion(q, new FailedError(`malformed results: ${(e as Error).message}`));
          throw e;
        }
        this.completeQuestion(q, value);
        return;
      }
      case 1 /* exception */:
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        this.failQuestion(q, rpcErrorFromWire(ret.exception.type, ret.exception.reason));
        return;
      case 2 /* canceled */:
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        this.failQuestion(q, new FailedError('call was canceled by the callee'));
        return;
      case 3 /* resultsSentElsewhere */:
        // We never ask for sendResultsTo.yourself, so there are no results for us anywhere.
        this.sendFinish(q, false);
        this.questions.delete(q.id);
        this.failQuestion(q, new FailedError('the peer sent the results elsewhere, though we asked for them'));
        return;
      case 4 /* takeFromOtherQuestion */: {
        const other = this.answers.get(ret.takeFromOtherQuestion);
        if (!other || !other.keepResults || !other.returned || !other.result || other.result.state === 0) {
          throw new ProtocolError(`takeFromOtherQuestion names question ${ret.takeFromOtherQuestion}, which holds no results`);
        }
        const r = other.result;
        if (r.state === 2) {
          this.sendFinish(q, false);
          this.questions.delete(q.id);
          this.failQuestion(q, r.error!);
        } else {
          this.completeQuestion(q, ownCaps(r.value!, q.desc, true));
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
            return capRuntime.own(makeClient(gate.addRef(), (old as Client).iface), (old as Client).iface, false);
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

  handleResolve(root: RpcMessage): void {
    const r = root.resolve;
    const hook = this.imports.get(r.promiseId);
    let replacement: Hook;
    if (r._isException) replacement = new BrokenHook(rpcErrorFromWire(r.exception.type, r.exception.reason));
    else replacement = this.readDescriptor(r.cap) ?? new BrokenHook(new FailedError('promise resolved to a null capability'));
    if (!(hook instanceof ImportPromiseHook)) {
      // Released already (or never a promise): we do not need what it resolved to.
      replacement.release();
      if (hook && !(hook instanceof ImportPromiseHook)) throw new ProtocolError(`Resolve for import ${r.promiseId}, which is not a promise`);
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

  handleDisembargo(root: RpcMessage): void {
    const d = root.disembargo;
    const ctx = d.context;
    if (ctx._isSenderLoopback) {
      const embargoId = ctx.senderLoopback;
      const target = this.readTarget(d.target);
      const h = shorten(target);
      target.release();
      if (!(h instanceof ImportHook) || h.conn !== this) {
        throw new ProtocolError("Disembargo senderLoopback names a capability that does not point back to the sender");
      }
      // Calls that came through the promise were forwarded synchronously, so they are ahead of this.
      this.send((rootOut) => {
        const out = rootOut._initDisembargo();
        writeTarget(out._initTarget(), { kind: 'import', id: h.importId });
        out._initContext().receiverLoopback = embargoId;
      });
      return;
    }
    if (ctx._isReceiverLoopback) {
      if (!this.embargoes.lift(ctx.receiverLoopback)) {
        throw new ProtocolError(`Disembargo receiverLoopback for embargo ${ctx.receiverLoopback}, which does not exist`);
      }
      return;
    }
    this.replyUnimplemented(root);
  }

  // -------------------------------------------------------------------------------------------
  // Reading payloads, descriptors and targets

  private readTarget(t: MessageTarget): Hook {
    if (t._isImportedCap) {
      const h = this.exports.get(t.importedCap);
      if (!h) throw new ProtocolError(`message targets export ${t.importedCap}, which does not exist`);
      return h.addRef();
    }
    const pa = t.promisedAnswer;
    const answer = this.answers.get(pa.questionId);
    if (!answer) throw new ProtocolError(`message targets answer ${pa.questionId}, which is not outstanding`);
    const path = this.readTransform(pa.transform);
    if (answer.bootstrap) {
      return path.length === 0 ? answer.bootstrap.addRef() : new BrokenHook(new FailedError('bootstrap capability has no fields'));
    }
    if (!answer.result) return new BrokenHook(new FailedError('the call this targets failed before it started'));
    return answer.result.pipeline(path);
  }

  private readTransform(ops: $.List<{ _isNoop: boolean; getPointerField: number }>): number[] {
    const n = ops.length;
    if (n > this.limits.maxTransformDepth) throw new ProtocolError(`transform path of ${n} steps exceeds ${this.limits.maxTransformDepth}`);
    const path: number[] = [];
    for (let i = 0; i < n; i++) {
      const op = ops.get(i);
      if (!op._isNoop) path.push(op.getPointerField);
    }
    return path;
  }

  private readCapTable(payload: RpcPayload): Hook[] {
    if (!payload._hasCapTable()) return [];
    const table = payload.capTable;
    const n = table.length;
    if (n > this.limits.maxCapTable) throw new ProtocolError(`cap table of ${n} entries exceeds ${this.limits.maxCapTable}`);
    const hooks: Hook[] = [];
    try {
      for (let i = 0; i < n; i++) hooks.push(this.readDescriptor(table.get(i)) ?? new BrokenHook(new FailedError('null capability')));
    } catch (e) {
      for (const h of hooks) h.release();
      throw e;
    }
    return hooks;
  }

  private readPayload(payload: RpcPayload, desc: StructDesc): Payload {
    const hooks = this.readCapTable(payload);
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
      const p = u.getPointer(0, payload);
      const budget = new ReadBudget(this.limits.traversalWords);
      const Cls = structClass(desc);
      let s: $.Struct;
      if (u.isNull(p)) s = new $.Message().initRoot(Cls);
      else {
        s = new Cls(p.segment, p.byteOffset, p._capnp.depthLimit);
        u.validate($.PointerType.STRUCT, s);
      }
      const value = readStruct(s, desc, io, budget);
      return value;
    } finally {
      for (const h of hooks) h.release();
    }
  }

  private readBootstrapResult(payload: RpcPayload): Payload {
    const hooks = this.readCapTable(payload);
    try {
      const p = u.getPointer(0, payload);
      if (p.segment.getUint32(p.byteOffset) !== 3) throw new ProtocolError('bootstrap result is not a capability');
      const index = u.getCapabilityId(p);
      const h = hooks[index];
      if (!h) throw new ProtocolError('bootstrap capability index outside the cap table');
      return { cap: h.addRef() };
    } finally {
      for (const h of hooks) h.release();
    }
  }

  private releasePayloadCaps(payload: RpcPayload): void {
    try {
      for (const h of this.readCapTable(payload)) h.release();
    } catch {
      // Already failing this call; a bad cap table here changes nothing.
    }
  }

  /** A new reference for a received CapDescriptor (null for `none`). */
  private readDescriptor(d: CapDescriptor): Hook | null {
    switch (d.which()) {
      case 0 /* none */:
        return null;
      case 1 /* senderHosted */:
        return this.importCap(d.senderHosted, false);
      case 2 /* senderPromise */:
        return this.importCap(d.senderPromise, true);
      case 3 /* receiverHosted */: {
        const h = this.exports.get(d.receiverHosted);
        return h ? h.addRef() : new BrokenHook(new FailedError(`receiverHosted names export ${d.receiverHosted}, which does not exist`));
      }
      case 4 /* receiverAnswer */: {
        const pa = d.receiverAnswer;
        const answer = this.answers.get(pa.questionId);
        if (!answer) return new BrokenHook(new FailedError(`receiverAnswer names question ${pa.questionId}, which is not outstanding`));
        const path = this.readTransform(pa.transform);
        if (answer.bootstrap) return path.length === 0 ? answer.bootstrap.addRef() : new BrokenHook(new FailedError('bad path'));
        if (!answer.result) return new BrokenHook(new FailedError('that call failed'));
        return answer.result.pipeline(path);
      }
      case 5 /* thirdPartyHosted: level 3; use the vine */:
        return this.importCap(d.thirdPartyHosted.vineId, false);
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
    this.send((root) => {
      const ex = root._initAbort();
      ex.reason = reason;
      ex.type = exceptionTypeCode('failed') as 0;
    });
    this.shutdown(new DisconnectedError(`connection aborted: ${reason}`), true);
  }

  private shutdown(err: RpcError, local: boolean): void {
    if (!this.connected) return;
    this.connected = false;
    this.closeError = err;
    void local;
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

function writeTarget(t: MessageTarget, target: Target): void {
  if (target.kind === 'import') {
    t.importedCap = target.id;
    return;
  }
  const pa = t._initPromisedAnswer();
  pa.questionId = target.questionId;
  if (target.path.length > 0) {
    const ops = pa._initTransform(target.path.length);
    for (let i = 0; i < target.path.length; i++) ops.get(i).getPointerField = target.path[i];
  }
}

function writeException(ex: RpcException, err: RpcError): void {
  ex.reason = err.message;
  ex.type = exceptionTypeCode(err.type) as 0;
}

function segmentsOf(msg: $.Message): Uint8Array[] {
  const segs = msg._capnp.segments;
  const out: Uint8Array[] = [];
  for (const s of segs) {
    const len = (s.byteLength + 7) & ~7;
    if (len <= s.buffer.byteLength) out.push(new Uint8Array(s.buffer, 0, len));
    else {
      const copy = new Uint8Array(len);
      copy.set(new Uint8Array(s.buffer, 0, s.byteLength));
      out.push(copy);
    }
  }
  return out;
}

export { forEachCap as _forEachCap };
export type { InterfaceDesc };
