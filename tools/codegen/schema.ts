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

/** One of Cap'n Proto's primitive types, as both generators and the engine's codec name it. */
export interface Primitive {
  /** The schema's name: `UInt16`. */
  readonly name: string;
  /** The codec's TypeDesc kind, which is also the name of capnp-es's default-value getter: `uint16`. */
  readonly kind: string;
  /** Size in bytes; 0 for Bool, which is one bit. */
  readonly bytes: 0 | 1 | 2 | 4 | 8;
  readonly ts: 'boolean' | 'number' | 'bigint';
}

const PRIMITIVE_SIZES = [
  [Type.BOOL, 'Bool', 0], [Type.INT8, 'Int8', 1], [Type.INT16, 'Int16', 2], [Type.INT32, 'Int32', 4], [Type.INT64, 'Int64', 8],
  [Type.UINT8, 'UInt8', 1], [Type.UINT16, 'UInt16', 2], [Type.UINT32, 'UInt32', 4], [Type.UINT64, 'UInt64', 8],
  [Type.FLOAT32, 'Float32', 4], [Type.FLOAT64, 'Float64', 8],
] as const;

/** The primitive types by their schema `Type.which()`. */
export const PRIMITIVES = new Map<number, Primitive>(
  PRIMITIVE_SIZES.map(([which, name, bytes]) => {
    const ts = bytes === 0 ? 'boolean' : /^U?Int64$/.test(name) ? 'bigint' : 'number';
    return [which, { name, kind: name.toLowerCase(), bytes, ts }];
  }),
);

/** The field's non-zero default as a TS literal (primitives, enums, text, data), or null. */
export function defaultLiteral(f: Field): string | null {
  if (!f.slot.hadExplicitDefault) return null;
  const v = f.slot.defaultValue;
  const which = f.slot.type.which();
  const p = PRIMITIVES.get(which);
  if (p) {
    const x = (v as unknown as Record<string, number | bigint | boolean>)[p.kind];
    if (p.ts === 'boolean') return x ? 'true' : null;
    if (p.ts === 'bigint') return x !== 0n ? `${x}n` : null;
    return x !== 0 || Object.is(x, -0) ? numberLiteral(x as number) : null;
  }
  switch (which) {
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

function numberLiteral(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return Object.is(x, -0) ? '-0' : String(x);
}
