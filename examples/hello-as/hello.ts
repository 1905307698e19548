// Hello world for ww in AssemblyScript, using the guest SDK (guest-sdk/).
// Prints a greeting, its arguments and the environment it was given (only what --env passed).
//   ww run --env NAME=ww examples/hello-as/hello.wasm -- one two
import { args, environ, println } from "../../guest-sdk/assembly";

const argv = args();
println("hello from AssemblyScript on ww");
for (let i = 0; i < argv.length; i++) {
  println("argv[" + i.toString() + "] = " + argv[i]);
}
const vars = environ();
for (let i = 0; i < vars.length; i++) {
  println("env " + vars[i]);
}
