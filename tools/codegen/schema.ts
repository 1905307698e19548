// Reading a CodeGeneratorRequest (`capnp compile -o- file.capnp`) with capnp-es's schema classes, and
// the TypeScript names both generators give its nodes.
import * as $ from 'capnp-es';
import { CodeGeneratorRequest, Field, Node, Type } from 'capnp-es/capnp/schema';

export { Field, Node, Type } from 'capnp-es/capnp/schema';

export interface RequestedFile {
  readonly id: bigint;
  readonly filename: string;
  /** Every node of the file's scope (nested ones and groups too), by id, with its TypeScript name. */
  readonly names: Map<bigint, string>;
}

export interface Request {
  readonly nodes: Map<bigint, Node>;
  readonly files: RequestedFile[];
}

export const hex = (id: bigint): string => id.toString(16).padStart(16, '0');
export const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Parses a request and names the nodes of each file it asks for. */
export function readRequest(requestBytes: Uint8Array): Request {
  const req = new $.Message(requestBytes, false).getRoot(CodeGeneratorRequest);
  const nodes = new Map<bigint, Node>();
  for (const n of req.nodes) nodes.set(n.id, n);
  const files = [...req.requestedFiles].map((rf) => {
    const names = new Map<bigint, string>();
    nameScope(nodes, names, rf.id, '');
    return { id: rf.id, filename: rf.filename, names };
  });
  return { nodes, files };
}

/**
 * Names nested nodes `Outer_Inner`, groups `Struct_FieldName`, and the implicit parameter and result
 * structs of a method `Interface_Method$Params` / `$Results`.
 */
function nameScope(nodes: Map<bigint, Node>, names: Map<bigint, string>, scopeId: bigint, prefix: string): void {
  const scope = nodes.get(scopeId);
  if (!scope) return;
  for (const nn of scope.nestedNodes) {
    const name = prefix ? `${prefix}_${nn.name}` : nn.name;
    names.set(nn.id, name);
    nameScope(nodes, names, nn.id, name);
    const node = nodes.get(nn.id);
    if (node && node.which() === Node.INTERFACE) {
      for (const m of node.interface.methods) {
        for (const [sid, suffix] of [
          [m.paramStructType, 'Params'],
          [m.resultStructType, 'Results'],
        ] as const) {
          const sn = nodes.get(sid);
          if (sn && sn.scopeId === 0n) names.set(sid, `${name}_${capitalize(m.name)}$${suffix}`);
        }
      }
    }
    if (node && node.which() === Node.STRUCT) nameGroups(nodes, names, node, name);
  }
}

function nameGroups(nodes: Map<bigint, Node>, names: Map<bigint, string>, node: Node, name: string): void {
  for (const f of node.struct.fields) {
    if (f.which() === Field.GROUP) {
      const gname = `${name}_${capitalize(f.name)}`;
      names.set(f.group.typeId, gname);
      const g = nodes.get(f.group.typeId);
      if (g) nameGroups(nodes, names, g, gname);
    }
  }
}

export function nameOf(names: Map<bigint, string>, id: bigint): string {
  const n = names.get(id);
  if (!n) throw new Error(`schema node ${hex(id)} has no name (imported from another file? imports are not supported yet)`);
  return n;
}

/** The file's node ids, ordered by name (so generated files do not depend on the compiler's order). */
export function idsByName(names: Map<bigint, string>): bigint[] {
  return [...names.keys()].sort((a, b) => nameOf(names, a).localeCompare(nameOf(names, b)));
}

/** The field's non-zero default as a TS literal (primitives, enums, text, data), or null. */
export function defaultLiteral(f: Field): string | null {
  if (!f.slot.hadExplicitDefault) return null;
  const v = f.slot.defaultValue;
  switch (f.slot.type.which()) {
    case Type.BOOL:
      return v.bool ? 'true' : null;
    case Type.INT8:
      return v.int8 !== 0 ? String(v.int8) : null;
    case Type.INT16:
      return v.int16 !== 0 ? String(v.int16) : null;
    case Type.INT32:
      return v.int32 !== 0 ? String(v.int32) : null;
    case Type.UINT8:
      return v.uint8 !== 0 ? String(v.uint8) : null;
    case Type.UINT16:
      return v.uint16 !== 0 ? String(v.uint16) : null;
    case Type.UINT32:
      return v.uint32 !== 0 ? String(v.uint32) : null;
    case Type.INT64:
      return v.int64 !== 0n ? `${v.int64}n` : null;
    case Type.UINT64:
      return v.uint64 !== 0n ? `${v.uint64}n` : null;
    case Type.FLOAT32:
      return v.float32 !== 0 || Object.is(v.float32, -0) ? floatLiteral(v.float32) : null;
    case Type.FLOAT64:
      return v.float64 !== 0 || Object.is(v.float64, -0) ? floatLiteral(v.float64) : null;
    case Type.ENUM:
      return v.enum !== 0 ? String(v.enum) : null;
    case Type.TEXT:
      return v.text !== '' ? JSON.stringify(v.text) : null;
    case Type.DATA: {
      const bytes = [...v.data.toUint8Array()];
      return bytes.length > 0 ? `new Uint8Array([${bytes.join(', ')}])` : null;
    }
    default:
      throw new Error(`field ${f.name}: default values of this type are not supported by the codec yet`);
  }
}

function floatLiteral(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return Object.is(x, -0) ? '-0' : String(x);
}
