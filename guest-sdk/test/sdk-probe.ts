// Test guest for the SDK (built and run by test/cli/guest-sdk.test.ts in the ww repository).
// Usage: sdk-probe EXIT_CODE [WORDS...]: prints each argument and the environment (in the host's
// order, then as looked up through env()/getenv()), writes one line to stderr, exits with EXIT_CODE.
import { args, env, environ, eprintln, exit, getenv, print, println } from "../assembly";

const argv = args();
println("argc=" + argv.length.toString());
for (let i = 0; i < argv.length; i++) println("arg " + argv[i]);
const vars = environ();
println("envc=" + vars.length.toString());
for (let i = 0; i < vars.length; i++) println("environ " + vars[i]);
const map = env();
const keys = map.keys();
for (let i = 0; i < keys.length; i++) println("env[" + keys[i] + "]=" + map.get(keys[i]));
const greeting = getenv("GREETING");
println("GREETING " + (greeting !== null ? greeting! : "(unset)"));
const unset = getenv("WW_SURELY_UNSET");
println("WW_SURELY_UNSET " + (unset !== null ? unset! : "(unset)"));
print("no newline, then ");
println("unicode: héllo ✓");
eprintln("to stderr");
exit(argv.length > 1 ? I32.parseInt(argv[1]) : 0);
println("not reached");
