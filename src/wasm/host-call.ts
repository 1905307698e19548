// Synchronous calls from a guest's worker to the main thread, which owns everything a guest may
// reach beyond WASI files (sockets, capabilities, the executor). On a worker of its own the guest
// posts the call and waits on a control word; the main thread answers on a dedicated MessagePort
// and wakes it, and the worker takes the answer with receiveMessageOnPort. On a shared worker the
// guest is suspended instead until the answer arrives on that port (routed by pid). Either way
// only the calling process waits.

import { receiveMessageOnPort, type MessagePort, type Transferable } from 'node:worker_threads';
import { CTL_CALL, type CallAnswer, type FromWorker } from './protocol.js';
import { blockingWait, type Suspender } from './blocked.js';
import { Errno } from './wasi/abi/errno.js';

/** An answer that is an error number (WASI errno numbering), with a message for logs and tests. */
export class HostCallError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'HostCallError';
  }
}

/** A call `ns.name` with structured-clonable arguments; returns the answer's value or throws HostCallError. */
export type HostCall = (op: string, args?: unknown, transfer?: Transferable[]) => unknown;

/** Main-thread side of one namespace of calls (SpawnOptions.hostCalls). A Promise keeps the guest
 *  blocked until it settles; throw HostCallError for an errno (anything else answers EIO). */
export type HostCallHandler = (op: string, args: unknown) => unknown;

/** What travels back on the call port. */
export type HostReply = { value: unknown } | { errno: number; message: string };

/** Worker side: a HostCall for the process `pid`. */
export function createHostCall(
  ctl: Int32Array,
  port: MessagePort,
  post: (msg: FromWorker, transfer?: Transferable[]) => void,
  pid: number,
): HostCall {
  return (op, args, transfer) => {
    Atomics.store(ctl, CTL_CALL, 0);
    post({ type: 'call', pid, op, args }, transfer);
    // Bounded waits: a worker being terminated (kill) gets back to JS at least once a second.
    while (Atomics.load(ctl, CTL_CALL) === 0) blockingWait(ctl, CTL_CALL, 0, 1000);
    let received = receiveMessageOnPort(port);
    // The answer is queued on the port before the word is set; this loop only guards that order.
    while (!received) {
      Atomics.wait(ctl, CTL_CALL, 1, 1);
      received = receiveMessageOnPort(port);
    }
    return valueOf((received.message as CallAnswer).reply);
  };
}

function valueOf(reply: HostReply): unknown {
  if ('errno' in reply) throw new HostCallError(reply.errno, reply.message);
  return reply.value;
}

/** Worker side on a shared worker: a HostCall for `pid` that suspends its guest until the answer,
 *  which the worker hands to `answers.get(pid)` when it arrives on the call port. */
export function createSuspendingHostCall(
  suspender: Suspender,
  answers: Map<number, (reply: HostReply) => void>,
  post: (msg: FromWorker, transfer?: Transferable[]) => void,
  pid: number,
): HostCall {
  return (op, args, transfer) =>
    valueOf(
      suspender.suspend(
        op,
        () =>
          new Promise<HostReply>((resolve) => {
            answers.set(pid, resolve);
            post({ type: 'call', pid, op, args }, transfer);
          }),
      ),
    );
}

/** Main side: runs the handler for an op and turns the outcome into a reply. */
export async function answerHostCall(handlers: Record<string, HostCallHandler> | undefined, op: string, args: unknown): Promise<HostReply> {
  const dot = op.indexOf('.');
  const ns = dot > 0 ? op.slice(0, dot) : '';
  const handler = handlers && Object.hasOwn(handlers, ns) ? handlers[ns] : undefined;
  if (!handler) return { errno: Errno.NOSYS, message: `no host calls named ${op} for this process` };
  try {
    return { value: await handler(op, args) };
  } catch (e) {
    if (e instanceof HostCallError) return { errno: e.errno, message: e.message };
    return { errno: Errno.IO, message: `host call ${op} failed: ${(e as Error)?.message ?? String(e)}` };
  }
}

/** A namespace's contract: for each op, what the worker sends and what the main thread answers.
 *  Both sides are typed by the same map, so a new op fails to compile until it is answered. */
export type CallMap = { [op: string]: { args: unknown; answer: unknown } };

/** Worker side of one namespace: `call(op, args)` returns that op's answer (or throws HostCallError). */
export type Caller<M extends CallMap> = <K extends keyof M & string>(op: K, args: M[K]['args'], transfer?: Transferable[]) => M[K]['answer'];

/** Worker side of one namespace's casts: posted, not waited for, never answered. */
export type Caster<M extends CallMap> = <K extends keyof M & string>(op: K, args: M[K]['args'], transfer?: Transferable[]) => void;

/** Main side of one namespace: one handler per op (a Promise keeps the guest blocked until it settles). */
export type Handlers<M extends CallMap> = { [K in keyof M]: (args: M[K]['args']) => M[K]['answer'] | Promise<M[K]['answer']> };

/** The ops of namespace `ns` through the untyped bridge. */
export function callerOf<M extends CallMap>(call: HostCall, ns: string): Caller<M> {
  return (op, args, transfer) => call(`${ns}.${op}`, args, transfer) as never;
}

/** The untyped handler the runtime takes (SpawnOptions.hostCalls[ns]) for typed handlers. `handlers`
 *  may be a function, called per call, for state made lazily; an op of another namespace or
 *  version is ENOSYS. */
export function handlerOf<M extends CallMap>(ns: string, handlers: Handlers<M> | (() => Handlers<M>)): HostCallHandler {
  const prefix = `${ns}.`;
  return (op, args) => {
    const table = typeof handlers === 'function' ? handlers() : handlers;
    const name = op.startsWith(prefix) ? op.slice(prefix.length) : '';
    if (!Object.hasOwn(table, name)) throw new HostCallError(Errno.NOSYS, `${op} is not a call of the '${ns}' host calls`);
    return (table[name] as (a: unknown) => unknown)(args);
  };
}
