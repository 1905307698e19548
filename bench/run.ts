// `npm run bench`: runs every part's benchmark in one process, one after another,
// so each comparison (ww vs. its baseline) is measured side by side on the same machine state.
// Each part prints JSON lines; pass part names to run only some: `npm run bench -- rpc`.

// Each part by name, imported only when it runs (literal specifiers: the layer check sees them).
const PART_MODULES = {
  runtime: () => import('./runtime.js'),
  rpc: () => import('./rpc.js'),
  executor: () => import('./executor.js'),
  guest: () => import('./guest.js'),
  sockets: () => import('./sockets.js'),
  cli: () => import('./cli.js'),
  mn: () => import('./mn.js'),
} satisfies Record<string, () => Promise<{ main(): Promise<void> }>>;
const PARTS = Object.keys(PART_MODULES) as (keyof typeof PART_MODULES)[];
/** Parts run only when named: `mn` (the M:N prototype, docs/mn-findings.md) takes several minutes. */
const BY_NAME_ONLY: readonly string[] = ['mn'];

const wanted = process.argv.slice(2);
const parts = wanted.length > 0 ? PARTS.filter((p) => wanted.includes(p)) : PARTS.filter((p) => !BY_NAME_ONLY.includes(p));
if (wanted.length > 0 && parts.length !== wanted.length) {
  console.error(`unknown bench part in ${JSON.stringify(wanted)}; known: ${PARTS.join(', ')}`);
  process.exit(2);
}

for (const part of parts) {
  const mod = await PART_MODULES[part]();
  const started = Date.now();
  await mod.main();
  console.log(JSON.stringify({ bench: 'part-done', part, seconds: (Date.now() - started) / 1000 }));
}
