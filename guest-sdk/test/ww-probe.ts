// Test guest for the SDK's `ww` API (built and run by test/guest-sdk/sdk.test.ts in the ww repository).
// Usage: ww-probe ROLE [ARGS...]; each role prints what it observed, one fact per line, so the test
// can compare the lines. Children are this same module (spawnSelf) in a child role.
import {
  args, Channel, check, dispatchEvents, environ, Errno, errnoText, Executor, exit, initialHandle, lastError, Monitor,
  monotonicNs, onDown, onPause, onResume, Process, println, readFile, Receiver, Sender, sleep, SpawnOptions, Store, waitEvent,
} from "../assembly";

let reports: Sender | null = null;
let resumed = false;

const argv = args();
const role = argv.length > 1 ? argv[1] : "";

function say(line: string): void {
  println(line);
}

function err(errno: Errno): string {
  return errno == 0 ? "ok" : errnoText(errno).split(" ")[0];
}

function executor(): Executor {
  const e = Executor.initial();
  if (e === null) {
    say("no executor");
    exit(3);
  }
  return e!;
}

if (role == "self") {
  const me = Process.self();
  say("pid>0 " + (me.pid > 0).toString());
  say("self stable " + (Process.self().handle == me.handle).toString());
  say("self kind " + me.kind().value.toString());
  const e = Executor.initial();
  say("executor " + (e !== null ? e.kind().value.toString() : "none"));
  const s = Store.initial();
  say("store " + (s !== null ? s.kind().value.toString() : "none"));
} else if (role == "forgery") {
  // Numbers this process does not hold: guessed, zero, negative, dropped.
  say("guess " + err(new Process(12345).pidOf().errno));
  say("zero " + err(new Process(0).kill()));
  say("negative " + err(new Process(-7).pause()));
  say("message " + (lastError().length > 0).toString());
  const ch = Channel.create().value;
  const sender = ch.sender.handle;
  say("wrong kind " + err(new Process(sender).pidOf().errno));
  say("drop " + err(ch.sender.drop()));
  say("dropped " + err(new Sender(sender).sendText("x")));
  say("drop twice " + err(new Sender(sender).drop()));
  say("receiver after last sender dropped " + err(ch.receiver.recv().errno));
} else if (role == "channel") {
  const ch = Channel.create(2).value;
  say("send " + err(ch.sender.sendText("one")));
  say("send " + err(ch.sender.send(Uint8Array.wrap(String.UTF8.encode("two")))));
  say("full trySend " + err(ch.sender.trySend(Uint8Array.wrap(String.UTF8.encode("three")))));
  say("recv " + ch.receiver.recv().value.text());
  say("trySend " + err(ch.sender.trySend(Uint8Array.wrap(String.UTF8.encode("three")))));
  say("recv " + ch.receiver.recv().value.text());
  say("recv " + ch.receiver.tryRecv().value.text());
  say("empty tryRecv " + err(ch.receiver.tryRecv().errno));
  // A large message grows the receive buffer; bytes arrive unchanged.
  const big = new Uint8Array(200_000);
  for (let i = 0; i < big.length; i++) big[i] = <u8>(i * 7);
  say("send big " + err(ch.sender.send(big)));
  const got = ch.receiver.recv().value.data;
  let same = got.length == big.length;
  for (let i = 0; same && i < big.length; i++) same = got[i] == big[i];
  say("big intact " + same.toString());
  say("empty message " + err(ch.sender.send(new Uint8Array(0))) + " " + ch.receiver.recv().value.data.length.toString());
  // Handles move with a message: the sender loses its handle, the receiver gets a working one.
  const me = Process.self();
  const copy = me.dup().value;
  const passed = copy.handle;
  say("send handle " + err(ch.sender.sendText("pid", [copy])));
  say("moved away " + (copy.handle == 0).toString() + " " + err(new Process(passed).pidOf().errno));
  const msg = ch.receiver.recv().value;
  say("got handles " + msg.handles.length.toString() + " same pid " + (msg.process(0).pid == me.pid).toString());
  // Close the send end: queued messages still arrive, then EPIPE.
  ch.sender.sendText("last");
  say("close sender " + err(ch.sender.close()));
  say("send after close " + err(ch.sender.sendText("x")));
  say("recv " + ch.receiver.recv().value.text());
  say("recv after close " + err(ch.receiver.recv().errno));
  // Close the receive end: senders get EPIPE.
  const other = Channel.create().value;
  say("close receiver " + err(other.receiver.close()));
  say("send to closed " + err(other.sender.sendText("x")));
} else if (role == "spawn") {
  // spawnSelf with a channel: the child reports its pid; the parent waits for it.
  const ch = Channel.create().value;
  const child = executor().spawnSelf({ argv: ["ww-probe", "child-report"], handles: [ch.sender] } as SpawnOptions).value;
  say("sender moved " + (ch.sender.handle == 0).toString());
  const report = ch.receiver.recv().value.text();
  say("child says its pid is mine " + (report == child.pid.toString()).toString());
  const status = child.wait().value;
  say("child " + status.code.toString() + " " + status.reason);
  say("after child ended " + err(ch.receiver.recv().errno));
  const failing = executor().spawnSelf({ argv: ["ww-probe", "exit", "3"] } as SpawnOptions).value;
  const st = failing.wait().value;
  say("exit child " + st.code.toString() + " " + st.reason + " normal " + st.normal.toString());
  say("wait self " + err(Process.self().wait().errno));
  say("bad module " + err(executor().spawn(Uint8Array.wrap(String.UTF8.encode("not wasm"))).errno));
  say("bad cid " + err(executor().spawnCid("00".repeat(32)).errno));
} else if (role == "spawn-bytes") {
  // ARGS: a module path in a pre-opened dir, then its content ID: spawn it from bytes, then by cid.
  const bytes = readFile(argv[2]).value;
  const a = executor().spawn(bytes, { argv: ["from-bytes", "x"] } as SpawnOptions).value;
  say("bytes child " + a.wait().value.reason);
  const b = executor().spawnCid(argv[3], { argv: ["from-cid", "y"] } as SpawnOptions).value;
  say("cid child " + b.wait().value.reason);
} else if (role == "kill") {
  const child = executor().spawnSelf({ argv: ["ww-probe", "sleep", "60000"] } as SpawnOptions).value;
  say("running " + err(child.tryWait().errno));
  say("kill " + err(child.kill()));
  const st = child.wait().value;
  say("killed " + st.code.toString() + " " + st.reason);
  say("kill again " + err(child.kill()));
} else if (role == "monitor") {
  onDown(onChildDown);
  const child = executor().spawnSelf({ argv: ["ww-probe", "exit", "5"] } as SpawnOptions).value;
  const monitor = child.monitor().value;
  const st = monitor.wait().value;
  say("monitor " + st.code.toString() + " " + st.reason);
  say("down events " + dispatchEvents().toString());
  say("tryWait after " + monitor.tryWait().value.reason);
} else if (role == "link") {
  // The linked child exits 7: this process ends with `link: <child pid>` before it prints "survived".
  const child = executor().spawnSelf({ argv: ["ww-probe", "exit-after", "7", "200"], link: true } as SpawnOptions).value;
  say("child " + child.pid.toString());
  child.wait();
  sleep(5000);
  say("survived");
} else if (role == "unlink") {
  // The child exits 7 only when told, after the link is gone.
  const go = Channel.create().value;
  const child = executor().spawnSelf({ argv: ["ww-probe", "exit-when-told", "7"], handles: [go.receiver] } as SpawnOptions).value;
  say("link " + err(child.link()));
  say("unlink " + err(child.unlink()));
  check(go.sender.sendText("go"), "send");
  say("child " + child.wait().value.reason);
  say("survived");
} else if (role == "store") {
  const store = Store.initial();
  if (store === null) {
    say("no store");
    exit(3);
  }
  const s = store!;
  const ch = Channel.create().value;
  say("set " + err(s.set("probe/jobs", ch.sender)));
  const again = s.get<Sender>("probe/jobs").value;
  say("kind " + again.kind().value.toString());
  say("send through stored " + err(again.sendText("via store")));
  say("recv " + ch.receiver.recv().value.text());
  say("missing " + err(s.get<Sender>("probe/none").errno));
  say("remove " + err(s.remove("probe/jobs")));
  say("removed " + err(s.get<Sender>("probe/jobs").errno));
  say("bad name " + err(s.set("", ch.sender)));
} else if (role == "pause") {
  // The child reports PAUSE and RESUME events over a channel; the parent pauses and resumes it.
  const ch = Channel.create().value;
  const child = executor().spawnSelf({ argv: ["ww-probe", "pausable"], handles: [ch.sender] } as SpawnOptions).value;
  say("child " + ch.receiver.recv().value.text());
  say("pause " + err(child.pause()));
  say("child " + ch.receiver.recv().value.text());
  say("resume " + err(child.resume()));
  say("child " + ch.receiver.recv().value.text());
  say("child " + child.wait().value.reason);
} else if (role == "limits") {
  // Limits given to a child end it with the limit's reason; argv and env reach it.
  const spin = executor().spawnSelf({ argv: ["ww-probe", "spin"], fuel: 1000 } as SpawnOptions).value;
  say("fuel " + spin.wait().value.reason);
  const slow = executor().spawnSelf({ argv: ["ww-probe", "busy"], timeoutMs: 100 } as SpawnOptions).value;
  say("timeout " + slow.wait().value.reason);
  const big = executor().spawnSelf({ argv: ["ww-probe", "grow"], maxMemoryBytes: 1 << 20 } as SpawnOptions).value;
  say("memory " + big.wait().value.reason);
  const env = executor().spawnSelf({ argv: ["ww-probe", "print-env", "a b"], env: ["GREETING=hi", "EMPTY="] } as SpawnOptions).value;
  say("env child " + env.wait().value.reason);
} else if (role == "store-share") {
  // A capability stored by one process is found by another that holds the store.
  const s = Store.initial()!;
  const ch = Channel.create().value;
  check(s.set("probe/reply", ch.sender), "store_set");
  const child = executor().spawnSelf({ argv: ["ww-probe", "store-child"], handles: [s.dup().value] } as SpawnOptions).value;
  say("from child " + ch.receiver.recv().value.text());
  say("child " + child.wait().value.reason);
  s.remove("probe/reply");
} else if (role == "wait-event") {
  // waitEvent blocks until the monitored child ends, then runs onDown.
  onDown(onChildDown);
  const child = executor().spawnSelf({ argv: ["ww-probe", "exit-after", "4", "50"] } as SpawnOptions).value;
  const monitor = child.monitor().value;
  say("event kind " + waitEvent().toString());
  say("monitor dropped " + err(monitor.drop()));
} else if (role == "spin") {
  let x: u64 = 1;
  while (x != 0) x = x * 6364136223846793005 + 1;
} else if (role == "busy") {
  const until = monotonicNs() + 60_000_000_000;
  while (monotonicNs() < until) {}
} else if (role == "grow") {
  let chunks = new Array<Uint8Array>(0);
  for (let i = 0; i < 1000; i++) chunks.push(new Uint8Array(1 << 20));
  say(chunks.length.toString());
} else if (role == "print-env") {
  say("child argv " + argv.slice(1).join("|") + " env " + environ().join("|"));
} else if (role == "store-child") {
  const s = Store.initial()!;
  check(s.get<Sender>("probe/reply").value.sendText("found it"), "send");
} else if (role == "value-of-error") {
  say(new Process(12345).pid.toString()); // exits before printing
} else if (role == "child-report") {
  const out = new Sender(initialHandle(0).value);
  out.sendText(Process.self().pid.toString());
} else if (role == "exit") {
  exit(I32.parseInt(argv[2]));
} else if (role == "exit-when-told") {
  new Receiver(initialHandle(0).value).recv();
  exit(I32.parseInt(argv[2]));
} else if (role == "exit-after") {
  sleep(U64.parseInt(argv[3]));
  exit(I32.parseInt(argv[2]));
} else if (role == "sleep") {
  sleep(U64.parseInt(argv[2]));
} else if (role == "pausable") {
  reports = new Sender(initialHandle(0).value);
  onPause(reportPause);
  onResume(reportResume);
  reports!.sendText("ready");
  while (!resumed) {
    dispatchEvents();
    sleep(5);
  }
} else {
  say("unknown role " + role);
  exit(2);
}

function reportPause(graceMs: i64): void {
  reports!.sendText("PAUSE grace " + graceMs.toString());
}

function reportResume(): void {
  reports!.sendText("RESUME");
  resumed = true;
}

function onChildDown(monitor: Monitor, code: i32): void {
  say("DOWN " + code.toString());
}
