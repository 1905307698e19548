#!/usr/bin/env node
// The ww command line. The commands are TypeScript in cli/, compiled to dist/cli by `npm run build`
// (npm ci and npm install run it through the "prepare" script).
let main;
try {
  ({ main } = await import('../dist/cli/main.js'));
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/cli/main.js')) throw err;
  process.stderr.write('ww: not built yet (dist/cli/main.js is missing); run `npm run build` in the ww package\n');
  process.exit(1);
}
const status = await main(process.argv.slice(2));
// Exit explicitly: the command has finished and reported; nothing left may keep the process alive.
process.exit(status);
