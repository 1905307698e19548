// The HTTP face of the gateway: Argo's agent calls `POST /api/v1/template.execute` with a bearer
// token. Statuses as Argo's client reads them: 200 with a reply; 403 for a missing or wrong token;
// 400 for a body that is not ExecuteTemplateArgs (the node fails with "400: <reason>"); 413 for one
// past the size bound; 503 when the gateway is full (Argo retries with backoff); 404 for any other
// path or method (Argo never calls that method again).
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BadRequestError, EXECUTE_PATH, parseExecuteRequest, type ExecuteReply, type ExecuteRequest } from './contract.js';
import { GatewayBusyError } from './tasks.js';

export const SERVER_BOUNDS = {
  /** A request body: a template, fully substituted. */
  bodyBytes: 1024 * 1024,
  /** Connections open at once (Argo's agent keeps a few). */
  connections: 1024,
  /** A request that has not sent its body by then is cut off. */
  requestTimeoutMs: 30_000,
} as const;

export interface ExecuteHandler {
  execute(req: ExecuteRequest): Promise<ExecuteReply>;
}

export interface GatewayServerOptions {
  /** The token Argo's agent presents (the sidecar reads it from /var/run/argo/token). */
  token: string;
  handler: ExecuteHandler;
  bodyBytes?: number;
  log?: (line: string) => void;
}

export interface GatewayServer {
  server: Server;
  /** HOST:PORT as bound. */
  address: string;
  close(): Promise<void>;
}

/** Listens on `host:port` (port 0: a free one). */
export async function listenGateway(host: string, port: number, opts: GatewayServerOptions): Promise<GatewayServer> {
  const expected = digest(opts.token);
  const limit = opts.bodyBytes ?? SERVER_BOUNDS.bodyBytes;
  const log = opts.log ?? (() => {});
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log(`request failed: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) reply(res, 500, { message: 'ww gateway: internal error' });
      else res.destroy();
    });
  });
  server.maxConnections = SERVER_BOUNDS.connections;
  server.requestTimeout = SERVER_BOUNDS.requestTimeoutMs;
  server.headersTimeout = SERVER_BOUNDS.requestTimeoutMs;
  // Longer than Go's idle connection timeout (90 s): the agent, not the gateway, closes an idle
  // kept-alive connection, so a call is never sent on one the gateway has just closed (ECONNRESET).
  server.keepAliveTimeout = 95_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== EXECUTE_PATH) {
      req.resume();
      // Closed after: an unauthenticated client must not hold kept-alive connections (they are bounded) from Argo's agent.
      return reply(res, 404, { message: `ww gateway serves only POST ${EXECUTE_PATH}` }, true);
    }
    if (!authorized(req.headers.authorization, expected)) {
      req.resume();
      return reply(res, 403, { message: 'missing or wrong bearer token' }, true);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      return reply(res, 413, { message: `request body is ${declared} bytes, more than the gateway's ${limit}` }, true);
    }
    const body = await readBody(req, limit);
    if (body === undefined) return reply(res, 413, { message: `request body is more than the gateway's ${limit} bytes` }, true);
    let request: ExecuteRequest;
    try {
      request = parseExecuteRequest(body);
    } catch (e) {
      if (e instanceof BadRequestError) return reply(res, 400, { message: e.reason });
      throw e;
    }
    try {
      reply(res, 200, await opts.handler.execute(request));
    } catch (e) {
      if (e instanceof GatewayBusyError) return reply(res, 503, { message: e.message });
      throw e;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    server,
    address: `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Constant time in the token: both sides are hashed to equal-length digests first. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  const given = digest(m ? m[1]! : '');
  return timingSafeEqual(given, expected) && m !== null;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The body as text, or undefined once it passes `limit` bytes (the rest is not read). */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown, closeAfter = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(closeAfter ? { connection: 'close' } : {}),
  });
  res.end(text);
}
