// Listening TCP sockets opened on the main thread before a process starts, so that a bind error
// (address in use, not an address of this machine) is an error of the caller's, with a message, and
// port 0 works: the caller reads the bound port from the Listener before spawning.
import { createServer, type Server, type Socket } from 'node:net';
import { MAX_PENDING } from './protocol.js';

/** Where to listen: an IP address or host name, and a TCP port (0 = any free port). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Opening a listener failed; `message` says why and what to do, `code` is Node's (EADDRINUSE, ...). */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

/** Parses `HOST:PORT` (`[::1]:PORT` for IPv6). Throws ListenError with what is wrong. */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/.exec(text);
  if (!m) {
    throw new ListenError(`listen address '${text}' must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080 (port 0 picks a free one)`, undefined);
  }
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (host === '') throw new ListenError(`listen address '${text}' has no host; write e.g. 127.0.0.1:${m[3]} or 0.0.0.0:${m[3]}`, undefined);
  if (port > 65535) throw new ListenError(`listen address '${text}': port ${port} is out of range (0-65535)`, undefined);
  return { host, port };
}

/** A listening socket. Connections that arrive before its process accepts them wait (paused). */
export class Listener {
  private readonly pending: Socket[] = [];
  private onConnection: (() => void) | undefined;
  private owned = false;
  private closed = false;

  private constructor(
    private readonly server: Server,
    /** As given when opened. */
    readonly host: string,
    /** The bound port (the one the system chose when 0 was asked). */
    readonly port: number,
  ) {
    server.on('connection', (socket: Socket) => {
      if (this.closed || this.pending.length >= MAX_PENDING) {
        socket.resetAndDestroy();
        return;
      }
      socket.on('error', () => {}); // a reset while pending is seen by the guest after accept
      this.pending.push(socket);
      this.onConnection?.();
    });
  }

  /** HOST:PORT with the bound port ([HOST]:PORT for IPv6). */
  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  static async open(addr: ListenAddress): Promise<Listener> {
    if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
      throw new ListenError(`cannot listen on port ${addr.port}: a port is an integer 0-65535 (0 picks a free one)`, undefined);
    }
    // allowHalfOpen: a client that shuts down its writing side still gets its answer; the guest decides
    // when to close. pauseOnConnect: nothing is read before the guest accepts the connection.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: addr.host, port: addr.port, exclusive: true, backlog: 511 }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      server.close();
      throw new ListenError(listenFailure(addr, err), err.code);
    });
    server.on('error', () => {}); // after listening, errors concern single connections
    const bound = server.address();
    const port = bound && typeof bound === 'object' ? bound.port : addr.port;
    return new Listener(server, addr.host, port);
  }

  /** The owner of this listener (one process) takes it; a listener serves one process only. */
  own(onConnection: () => void): void {
    if (this.owned) throw new Error(`listener ${this.address} is already given to a process; open one per process`);
    if (this.closed) throw new Error(`listener ${this.address} is closed`);
    this.owned = true;
    this.onConnection = onConnection;
  }

  /** Whether a process already owns it. */
  get taken(): boolean {
    return this.owned;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** The oldest connection not yet accepted. */
  takePending(): Socket | undefined {
    return this.pending.shift();
  }

  /** Stops listening and resets the connections not yet accepted. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onConnection = undefined;
    this.server.close();
    for (const s of this.pending.splice(0)) s.resetAndDestroy();
  }
}

/** Opens every address, or none: if one fails, those already open are closed and the error is thrown. */
export async function openListeners(addrs: readonly ListenAddress[]): Promise<Listener[]> {
  const results = await Promise.allSettled(addrs.map((a) => Listener.open(a)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of results) if (r.status === 'fulfilled') r.value.close();
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<Listener>).value);
}

function listenFailure(addr: ListenAddress, err: NodeJS.ErrnoException): string {
  const where = `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where}: the address is already in use; pick another port (0 picks a free one) or stop what listens there`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: ${addr.host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its own addresses`;
    case 'EACCES':
    case 'EPERM':
      return `cannot listen on ${where}: permission denied (ports below 1024 need privileges); pick a port of 1024 or above`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `cannot listen on ${where}: host '${addr.host}' does not resolve; use an IP address such as 127.0.0.1`;
    default:
      return `cannot listen on ${where}: ${err.message}`;
  }
}
