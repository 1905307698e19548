// A stand-in for Argo's agent (argo-workflows v4.1.2, workflow/executor/agent.go and
// workflow/util/plugin/plugin.go), as it calls an executor plugin, for the gateway's tests:
// - POST {address}/api/v1/template.execute, JSON, `Authorization: Bearer <token>`, 30 s timeout;
// - retried with backoff (1 s, x2, jitter 0.2, 5 steps) on 503, refused connections and timeouts;
// - 404: the method is never called again (the node then fails: no plugin executed the template);
// - any other status: the node fails with "<status>: <body>" (Go's resp.Status, e.g. "400 Bad Request");
// - `{}`/null: not this plugin's; a Succeeded task is never called again; any other phase is called
//   again only if `requeue` > 0 (without it the node stays as it is: `stuck`).
import { STATUS_CODES } from 'node:http';

export interface AgentNode {
  phase: string;
  message?: string;
  outputs?: { parameters?: { name: string; value: string }[]; result?: string; exitCode?: string; artifacts?: unknown[] };
}

export interface AgentOutcome {
  node: AgentNode;
  /** Calls that got an HTTP answer, and each reply's body as received. */
  calls: number;
  replies: unknown[];
  /** A non-final phase answered without requeue: Argo would leave the node there for ever. */
  stuck: boolean;
}

export const BACKOFF = { durationMs: 1000, factor: 2, jitter: 0.2, steps: 5 } as const;
export const CALL_TIMEOUT_MS = 30_000;
const FINAL = new Set(['Succeeded', 'Failed', 'Error', 'Skipped', 'Omitted']);

export class ArgoAgent {
  /** Methods answered 404: never called again (plugin.go's `invalid`). */
  private readonly invalid = new Set<string>();
  /** Every HTTP answer's status, in order (for tests that check retries). */
  readonly statuses: number[] = [];

  constructor(
    public address: string,
    private readonly token: string | undefined,
    private readonly options: { backoff?: typeof BACKOFF; timeoutMs?: number } = {},
  ) {}

  /** Runs one task to the end as the agent does: call, requeue while asked, stop at a final phase. */
  async runTask(args: unknown): Promise<AgentOutcome> {
    const replies: unknown[] = [];
    let calls = 0;
    for (;;) {
      const answer = await this.call('template.execute', args);
      if (answer.kind === 'error') return { node: { phase: 'Failed', message: answer.message }, calls, replies, stuck: false };
      if (answer.kind === 'invalid') return { node: { phase: 'Failed', message: 'no plugin executed the template' }, calls, replies, stuck: false };
      calls++;
      replies.push(answer.reply);
      const reply = answer.reply as { node?: AgentNode; requeue?: string } | null;
      if (reply === null || reply.node === undefined) return { node: { phase: 'Failed', message: 'no plugin executed the template' }, calls, replies, stuck: false };
      const node = reply.node;
      if (node.phase === 'Succeeded') return { node, calls, replies, stuck: false };
      const requeue = reply.requeue !== undefined ? parseGoDuration(reply.requeue) : 0;
      if (requeue <= 0) return { node, calls, replies, stuck: !FINAL.has(node.phase) };
      await sleep(requeue);
    }
  }

  /** One call with plugin.go's retry rule. */
  async call(method: string, args: unknown): Promise<{ kind: 'reply'; reply: unknown } | { kind: 'invalid' } | { kind: 'error'; message: string }> {
    if (this.invalid.has(method)) return { kind: 'invalid' };
    const backoff = this.options.backoff ?? BACKOFF;
    let delay = backoff.durationMs;
    let last = '';
    for (let step = 0; step < backoff.steps; step++) {
      if (step > 0) {
        await sleep(delay + Math.random() * backoff.jitter * delay);
        delay *= backoff.factor;
      }
      let res: Response;
      try {
        res = await fetch(`${this.address}/api/v1/${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}) },
          body: JSON.stringify(args),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? CALL_TIMEOUT_MS),
        });
      } catch (e) {
        const code = (e as { cause?: { code?: string } }).cause?.code;
        last = `${(e as Error).name}: ${code ?? (e as Error).message}`;
        if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || (e as Error).name === 'TimeoutError') continue;
        return { kind: 'error', message: last };
      }
      const text = await res.text();
      this.statuses.push(res.status);
      if (res.status === 200) return { kind: 'reply', reply: JSON.parse(text) as unknown };
      if (res.status === 404) {
        this.invalid.add(method);
        return { kind: 'invalid' };
      }
      if (res.status === 503) {
        last = text;
        continue;
      }
      return { kind: 'error', message: `${res.status} ${STATUS_CODES[res.status] ?? ''}: ${text}` };
    }
    return { kind: 'error', message: `retries exhausted: ${last}` };
  }
}

/** Go's time.ParseDuration for the units a requeue uses. */
export function parseGoDuration(text: string): number {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) throw new Error(`not a Go duration: ${JSON.stringify(text)}`);
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return total;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A request in Argo's shape: the workflow's metadata and a full, substituted template. */
export function executeArgs(opts: { uid: string; plugin: unknown; name?: string; outputs?: unknown; workflow?: string }): unknown {
  return {
    workflow: { metadata: { name: opts.workflow ?? 'hello-ww-x7k2p', namespace: 'argo', uid: opts.uid } },
    template: {
      name: opts.name ?? 'main',
      inputs: {},
      outputs: opts.outputs ?? {},
      metadata: {},
      plugin: opts.plugin,
    },
  };
}
