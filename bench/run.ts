// `npm run bench`: runs every part's benchmark in one process, one after another,
// so each comparison (ww vs. its baseline) is measured side by side on the same machine state.
// Each part prints JSON lines; pass part names to run only some: `npm run bench -- rpc`. Arguments
// starting with `--` (`--quick`) are passed to each part's main(), for the parts that take them.

// Each part by name, imported only when it runs (literal specifiers: the layer check sees them).
const PART_MODULES = {
  runtime: () => import('./runtime.js'),
  rpc: () => import('./rpc.js'),
  executor: () => import('./executor.js'),
  guest: () => import('./guest.js'),
  sockets: () => import('./sockets.js'),
  cli: () => import('./cli.js'),
  mn: () => import('./mn.js'),
  density: () => import('./density.js'),
  tiering: () => import('./tiering.js'),
  membership: () => import('./membership.js'),
  cluster: () => import('./cluster.js'),
  raft: () => import('./raft.js'),
  argo: () => import('./argo.js'),
  gateway: () => import('./gateway.js'),
} satisfies Record<string, () => Promise<{ main(argv?: string[]): Promise<void> }>>;
const PARTS = Object.keys(PART_MODULES) as (keyof typeof PART_MODULES)[];
/** Parts run only when named: `mn` (the M:N prototype, docs/mn-findings.md) and `density` (processes
 *  per node, shared workers next to dedicated ones and OS processes) take several minutes. */
const BY_NAME_ONLY: readonly string[] = ['mn', 'density'];

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const parts = wanted.length > 0 ? PARTS.filter((p) => wanted.includes(p)) : PARTS.filter((p) => !BY_NAME_ONLY.includes(p));
if (wanted.length > 0 && parts.length !== wanted.length) {
  console.error(`unknown bench part in ${JSON.stringify(wanted)}; known: ${PARTS.join(', ')}`);
  process.exit(2);
}

for (const part of parts) {
  const mod: { main(argv?: string[]): Promise<void> } = await PART_MODULES[part]();
  const started = Date.now();
  await mod.main(flags);
  console.log(JSON.stringify({ bench: 'part-done', part, seconds: (Date.now() - started) / 1000 }));
}
