// A process tree in AssemblyScript with the guest SDK: the parent spawns N children running this
// same module, links to them, and collects one result from each over a channel.
//   ww run examples/tree/tree.wasm -- 3            # 3 children
//   ww run examples/tree/tree.wasm -- 3 5000       # each child lingers 5 s first: see `ww ps --tree`
// Each child computes fib(10 + i) and sends "i<TAB>line" on the shared results channel. The parent
// prints the lines in child order once every child has answered; the channel reports closed (EPIPE)
// when the last child ends, because the parent gave its own send end away.
import {
  args, Channel, dispatchEvents, Errno, errnoText, eprintln, Executor, exit, initialHandle, monotonicNs, Process,
  println, Sender, sleep, SpawnOptions,
} from "../../guest-sdk/assembly";

const argv = args();
if (argv.length > 1 && argv[1] == "child") {
  child(I32.parseInt(argv[2]), U64.parseInt(argv[3]));
} else {
  parent(argv.length > 1 ? I32.parseInt(argv[1]) : 3, argv.length > 2 ? argv[2] : "0");
}

function parent(count: i32, lingerMs: string): void {
  if (count < 1 || count > 100) {
    eprintln("usage: tree [N (1-100) [LINGER_MS]]");
    exit(2);
  }
  const executor = Executor.initial();
  if (executor === null) {
    eprintln("tree: no Executor handle; run it with `ww run` (a node gives one)");
    exit(1);
    return;
  }
  const results = Channel.create().value;
  const children = new Array<Process>(0);
  for (let i = 0; i < count; i++) {
    // Each child gets its own handle to the send end (a duplicate: handles given away are moved),
    // and is linked to the parent before it runs: if either fails, the other ends too.
    const child = executor.spawnSelf({
      argv: ["tree", "child", i.toString(), lingerMs],
      handles: [results.sender.dup().value],
      link: true,
    } as SpawnOptions).value;
    children.push(child);
  }
  results.sender.drop(); // now only the children hold send ends: EPIPE once they have all ended
  println("parent " + Process.self().pid.toString() + ": spawned " + count.toString() + " children, linked to each");

  const lines = new Array<string>(count);
  let received = 0;
  while (true) {
    const message = results.receiver.recv();
    if (message.errno == Errno.PIPE) break;
    const text = message.value.text();
    const tab = text.indexOf("\t");
    lines[I32.parseInt(text.substring(0, tab))] = text.substring(tab + 1);
    received++;
  }
  for (let i = 0; i < count; i++) println(lines[i]);
  let normal = 0;
  for (let i = 0; i < count; i++) {
    if (children[i].wait().value.normal) normal++;
  }
  println(received.toString() + " results; " + normal.toString() + " of " + count.toString() + " children ended normally");
}

function child(index: i32, lingerMs: u64): void {
  const results = new Sender(initialHandle(0).value);
  // Linger in short sleeps, taking queued events (pause, resume) so the queue stays short.
  const until = monotonicNs() + lingerMs * 1_000_000;
  while (monotonicNs() < until) {
    dispatchEvents();
    sleep(20);
  }
  const n = 10 + index;
  const line = "child " + index.toString() + " (pid " + Process.self().pid.toString() + "): fib(" + n.toString() + ") = " + fib(n).toString();
  const errno = results.sendText(index.toString() + "\t" + line);
  if (errno != 0) {
    eprintln("tree child " + index.toString() + ": send: " + errnoText(errno));
    exit(1);
  }
}

function fib(n: i32): u64 {
  let a: u64 = 0;
  let b: u64 = 1;
  for (let i = 0; i < n; i++) {
    const next = a + b;
    a = b;
    b = next;
  }
  return a;
}
