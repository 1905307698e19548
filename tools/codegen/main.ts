// The code generator's command line (scripts/capnp-gen.sh runs it; needs the `capnp` tool):
//   node dist/tools/codegen/main.js [--runtime IMPORT_PATH] OUT_DIR FILE.capnp...   typed RPC layer: <name>.rpc.ts
//   node dist/tools/codegen/main.js --layout OUT_DIR FILE.capnp...                  struct layouts: <name>.layout.ts
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTypes } from './codegen.js';
import { generateLayouts } from './layout.js';
import { readRequest } from './schema.js';

const USAGE = 'usage: node dist/tools/codegen/main.js [--runtime IMPORT_PATH | --layout] OUT_DIR FILE.capnp...';

function main(argv: string[]): void {
  let runtimeImport = '../rpc';
  let layout = false;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runtime') runtimeImport = argv[++i];
    else if (argv[i] === '--layout') layout = true;
    else args.push(argv[i]);
  }
  const [outDir, ...schemas] = args;
  if (!outDir || schemas.length === 0 || runtimeImport === undefined) {
    console.error(USAGE);
    process.exit(2);
  }
  mkdirSync(outDir, { recursive: true });
  for (const schema of schemas) {
    const request = readRequest(new Uint8Array(execFileSync('capnp', ['compile', '-o-', schema], { maxBuffer: 64 << 20 })));
    const files = layout ? generateLayouts(request) : generateTypes(request, runtimeImport);
    for (const [name, text] of files) writeFileSync(join(outDir, name), text);
  }
}

main(process.argv.slice(2));
