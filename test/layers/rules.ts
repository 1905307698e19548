// The layer rules: what each folder may import. This table is the one place they are enforced
// (test/layers/layers.test.ts runs it on every import); docs/ARCHITECTURE.md explains them and
// each folder's README repeats its own line for the reader who starts there.
//
// Spelling of targets (check.ts): a repository path (`src/rpc`, or one file), `node:net` or `node:*`,
// `package:capnp-es` or `package:*`, `(computed)` for an import whose specifier is not a literal.
// A rule with `only` also allows its own `files`. Folders that do not exist yet are simply empty.

import type { LayerRule } from './check.js';

/** Every folder whose imports are read. */
export const SCANNED_FOLDERS = ['src', 'cli', 'bench', 'test', 'tools', 'fixtures', 'scripts', 'bin', 'cluster-tests'] as const;

/** Network modules of Node: a layer that must not touch the network must not import these. */
const NETWORK = ['node:net', 'node:tls', 'node:dgram', 'node:http', 'node:https', 'node:http2'];

export const LAYER_RULES: readonly LayerRule[] = [
  {
    name: 'stands-alone',
    files: ['.'],
    forbid: ['(outside)'],
    why: 'the repository builds and runs from itself alone: a relative import must stay inside it',
  },
  {
    name: 'src-is-the-library',
    files: ['src'],
    forbid: ['test', 'bench', 'tools', 'fixtures', 'scripts', 'examples', 'guest-sdk', 'cluster-tests'],
    why: 'src/ is what the CLI, tests, benchmarks and tools are built on; it never reaches back up to them',
  },
  {
    name: 'nothing-imports-the-cli',
    files: ['.'],
    except: ['cli', 'test'],
    forbid: ['cli'],
    why: 'the CLI is the top: the library, benchmarks and tools never depend on it (tests may test its parts)',
  },
  {
    name: 'imports-are-visible',
    files: ['src', 'cli', 'tools', 'bench', 'fixtures'],
    forbid: ['(computed)', 'node:module'],
    why: 'a specifier computed at run time (or a require made with node:module\'s createRequire) hides a dependency from this check: write it as a literal',
  },
  {
    name: 'no-node-wasi',
    files: ['src'],
    forbid: ['node:wasi'],
    why: 'ww runs guests on its own WASI host (src/wasm/wasi); node:wasi is only a baseline for tests and benchmarks',
  },
  {
    name: 'rpc-stands-alone',
    files: ['src/rpc'],
    only: ['node:*', 'src/capnp-gen/rpc.layout.ts'],
    why: 'the Cap\'n Proto RPC engine knows no Wasm, no schema of ours, no libp2p and no package (only rpc.capnp\'s own layout, generated): code generation and the interop peer are tools/',
  },
  {
    name: 'rpc-network-in-transports',
    files: ['src/rpc'],
    except: ['src/rpc/transport'],
    forbid: NETWORK,
    why: 'the engine speaks over any framed byte stream; only transport/ opens sockets',
  },
  {
    name: 'capnp-gen-over-rpc',
    files: ['src/capnp-gen'],
    only: ['src/rpc'],
    why: 'the generated code is typed clients and servers over the engine, nothing else',
  },
  {
    name: 'wasm-knows-no-rpc',
    files: ['src/wasm'],
    only: ['node:*', 'package:binaryen'],
    why: 'the process runtime knows nothing of RPC, capabilities, executors or peers: the executor builds on it',
  },
  {
    name: 'wasm-network-in-sockets',
    files: ['src/wasm'],
    except: ['src/wasm/sockets'],
    forbid: NETWORK,
    why: 'a guest reaches the network only through the sockets pre-opened for it (src/wasm/sockets)',
  },
  {
    name: 'wasi-below-runtime',
    files: ['src/wasm/wasi'],
    only: ['src/wasm/blocked.ts', 'node:*'],
    why: 'the runtime uses the WASI host, not the other way round; blocked.ts, a leaf, counts its blocking waits as blocked time',
  },
  {
    name: 'wasi-knows-no-workers',
    files: ['src/wasm/wasi'],
    forbid: ['node:worker_threads'],
    why: 'the WASI host runs inside a worker but is plain synchronous code; the worker and the pool are the runtime\'s',
  },
  {
    name: 'sockets-guest-side',
    files: ['src/wasm/sockets/guest.ts'],
    forbid: ['src/wasm/sockets/listen.ts', 'src/wasm/sockets/owner.ts', ...NETWORK],
    why: 'guest.ts runs in the process\'s worker; the real sockets live on the main thread and are reached by host calls',
  },
  {
    name: 'executor-imports',
    files: ['src/executor'],
    only: ['src/wasm', 'src/rpc', 'src/capnp-gen', 'node:*'],
    why: 'the executor builds on the runtime and the RPC engine; the node, the cluster and the gateway build on it',
  },
  {
    name: 'cluster-imports',
    files: ['src/cluster'],
    forbid: ['src/wasm', 'src/node', 'src/gateway'],
    why: 'the cluster connects executors (src/executor, src/rpc) across peers; it runs no Wasm itself and is wired by the node',
  },
  {
    name: 'raft-stands-alone',
    files: ['src/cluster/raft'],
    only: ['node:*'],
    why: 'the Raft core, its storage and the registry are pure and testable alone; the cluster wires them to peers through a transport adapter',
  },
  {
    name: 'gateway-imports',
    files: ['src/gateway'],
    only: ['src/executor/wire.ts', 'src/rpc', 'src/capnp-gen', 'src/argo/images.ts', 'node:*'],
    why: 'the gateway turns workflow steps into calls on a node\'s Executor over its wire (the node\'s connection is given to it), never on the runtime, the executor\'s core or the node directly; an image name maps to a module by the Argo engine\'s one image map',
  },
  {
    name: 'argo-imports',
    files: ['src/argo'],
    only: ['src/executor', 'src/wasm', 'node:*', 'package:yaml', 'package:ajv'],
    why: 'the Argo engine reads workflow files and runs steps on an executor (in-process like ww run, or a node\'s through an injected spawner); the CLI wires it, never the reverse',
  },
  {
    name: 'cli-on-top',
    files: ['cli'],
    forbid: ['test', 'bench', 'tools', 'fixtures', 'scripts', 'cluster-tests'],
    why: 'the ww commands are built on src/ alone; tests, benchmarks and tools are not shipped',
  },
  {
    name: 'cli-lib-through-the-node',
    files: ['cli/lib'],
    only: ['cli', 'src/node', 'src/rpc', 'src/capnp-gen', 'src/executor/wire.ts', 'src/executor/reasons.ts', 'src/executor/errors.ts', 'node:*', 'package:@oclif/core'],
    why: 'the node commands reach processes over the node\'s socket, not by running the runtime themselves; of the executor they use only the words of its wire (wire.ts, and the leaves reasons.ts and errors.ts)',
  },
  {
    name: 'tools-imports',
    files: ['tools'],
    only: ['src/rpc', 'src/capnp-gen', 'package:capnp-es', 'node:*'],
    why: 'developer tools (the schema compiler, the interop peer) stand beside the library on the engine and the generated code',
  },
  {
    name: 'fixtures-for-tests-and-benchmarks',
    files: ['.'],
    except: ['test', 'bench', 'fixtures', 'cluster-tests'],
    forbid: ['fixtures'],
    why: 'fixtures/ holds inputs that tests and benchmarks share; nothing that ships loads them',
  },
  {
    name: 'cluster-tests-from-outside',
    files: ['cluster-tests'],
    forbid: ['test', 'bench', 'src/wasm', 'src/executor'],
    why: 'cluster tests drive real peers as a user does (the ww command, a node\'s socket, the cluster layer), not the runtime or executor in-process; helpers they share with unit tests live in fixtures/',
  },
  {
    name: 'bench-not-on-tests',
    files: ['bench', 'fixtures'],
    forbid: ['test'],
    why: 'benchmarks do not depend on tests\' helpers: what both need lives in fixtures/, which stands on src/ alone',
  },
];
