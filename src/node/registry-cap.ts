// The cluster registry served as the Registry capability (capnp/ww.capnp): a node's RegistryPeer
// (src/cluster/raft) seen by one principal. The owner reads and writes as this node's peer ID; a
// remote peer reads only. Refusals cross the wire with their code in the exception's details, the
// message written for people (the CLI prints it as its one line).
import type {
  Registry$Server,
  Registry_Claim$Params,
  Registry_Delete$Params,
  Registry_Get$Params,
  Registry_Ls$Params,
  Registry_Put$Params,
  Registry_Release$Params,
  RegistryRecord$Init,
  RegistryStatus$Init,
} from '../capnp-gen/ww.rpc.js';
import { RaftError } from '../cluster/raft/errors.js';
import type { RegistryPeer } from '../cluster/raft/peer.js';
import type { RegistryRecord, RegistryResult } from '../cluster/raft/registry.js';
import { FailedError, RpcError } from '../rpc/index.js';

/** Exception.details id of a registry refusal; its data is the code as UTF-8 (capnp/ww.capnp, Registry). */
export const REGISTRY_ERROR_DETAIL = 0x9a41c3e6d2b7f018n;

export type RegistryRefusalCode = RaftError['code'] | 'not-member' | 'not-permitted';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** The refusal code an RPC exception from a Registry carries, or undefined for any other failure. */
export function registryRefusalCode(e: unknown): string | undefined {
  if (!(e instanceof RpcError)) return undefined;
  const data = e.detail(REGISTRY_ERROR_DETAIL);
  return data ? fromUtf8.decode(data) : undefined;
}

function refuse(code: RegistryRefusalCode, message: string): never {
  throw new FailedError(message, [{ id: REGISTRY_ERROR_DETAIL, data: utf8.encode(code) }]);
}

/** What a RaftError means to the person who asked. */
function refusalOf(e: unknown): never {
  if (!(e instanceof RaftError)) throw e;
  switch (e.code) {
    case 'no-leader':
      return refuse('no-leader', 'registry: no leader yet (an election is under way, or too few members are up): retry in a few seconds');
    case 'timeout':
      return refuse('timeout', `${e.message} (ww registry get tells whether a write took effect)`);
    default:
      return refuse(e.code, e.message);
  }
}

export class RegistryCap implements Registry$Server {
  constructor(
    private readonly peer: RegistryPeer,
    /** Who writes: the owner's writes are recorded under this node's peer ID. Null: reads only. */
    private readonly writer: string | null,
    private readonly who: string,
  ) {}

  async get({ name }: Registry_Get$Params): Promise<{ found: boolean; record?: RegistryRecord$Init }> {
    this.ready();
    const r = await this.peer.get(name).catch(refusalOf);
    return r ? { found: true, record: toWire(r) } : { found: false };
  }

  async ls({ prefix, max }: Registry_Ls$Params): Promise<{ records: RegistryRecord$Init[] }> {
    this.ready();
    const records = await this.peer.ls(prefix, max === 0 || max > 1000 ? 1000 : max).catch(refusalOf);
    return { records: records.map(toWire) };
  }

  async put({ name, value }: Registry_Put$Params): Promise<{ version: bigint }> {
    const owner = this.writable('put');
    const r = ok(await this.peer.put(name, owner, value).catch(refusalOf));
    return { version: BigInt(r.op === 'put' ? r.version : 0) };
  }

  async delete({ name }: Registry_Delete$Params): Promise<{ deleted: boolean }> {
    this.writable('delete');
    const r = ok(await this.peer.delete(name).catch(refusalOf));
    return { deleted: r.op === 'delete' && r.deleted };
  }

  async claim({ name, value, ttlMs }: Registry_Claim$Params): Promise<{ won: boolean; holder: RegistryRecord$Init }> {
    const owner = this.writable('claim');
    const r = ok(await this.peer.claim(name, owner, value, ttlMs).catch(refusalOf));
    return r.op === 'claim' ? { won: r.won, holder: toWire(r.holder) } : { won: false, holder: {} };
  }

  async release({ name }: Registry_Release$Params): Promise<{ released: boolean }> {
    const owner = this.writable('release');
    const r = ok(await this.peer.release(name, owner).catch(refusalOf));
    return { released: r.op === 'release' && r.released };
  }

  status(): { status: RegistryStatus$Init } {
    const s = this.peer.status();
    return {
      status: { peerId: s.id, role: s.role, leader: s.leader ?? '', term: BigInt(s.term), commit: BigInt(s.commit), applied: BigInt(s.applied), voters: [...s.voters] },
    };
  }

  /** Refuses at once what could only time out: this node is no voter, or no leader is known. */
  private ready(): void {
    const s = this.peer.status();
    if (!s.voters.includes(s.id)) {
      refuse('not-member', `registry: this node (${s.id}) is not a member (the members are ${s.voters.join(', ') || 'not known yet'}): ask a member, or start this node with --raft-member naming it on every member`);
    }
    if (s.leader === null) refusalOf(new RaftError('no-leader', ''));
  }

  private writable(op: string): string {
    if (this.writer === null) refuse('not-permitted', `registry: ${this.who} may read this node's registry but not ${op}: only the node's owner writes`);
    this.ready();
    return this.writer;
  }
}

function ok(r: RegistryResult): RegistryResult & { ok: true } {
  if (!r.ok) refuse('registry-bound', r.error);
  return r;
}

function toWire(r: RegistryRecord): RegistryRecord$Init {
  return { name: r.name, owner: r.owner, value: r.value, expiresAtMs: BigInt(r.expiresAt ?? 0), version: BigInt(r.version) };
}
