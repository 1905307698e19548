// @ts-nocheck -- AssemblyScript, compiled by asc (test/wasi/build.sh), not by tsc.
// An AssemblyScript guest (through @assemblyscript/wasi-shim) that prints its
// argv and environment, then exits 3. Under node:wasi an empty environment
// makes environ_get fail and the shim abort; ww must report 0 variables.
const args = process.argv;
for (let i = 0; i < args.length; i++) console.log("arg " + args[i]);
const env = process.env;
const keys = env.keys();
console.log("env count " + keys.length.toString());
for (let i = 0; i < keys.length; i++) console.log("env " + keys[i] + "=" + env.get(keys[i]));
process.exit(3);
