@0xb2d103e2b082d727;
# The ww node's contracts: a node's bootstrap capability, its Executor, and
# processes as capabilities. Designed to grow: the cluster adds peers by adding
# methods and fields (never renumbering), and `peerId` fields are already here
# so a process can be named globally as (peerId, pid).

# Errors. A call these interfaces refuse fails with an exception (type `failed`)
# whose reason is written for people and whose details (rpc.capnp
# Exception.details, Cap'n Proto 1.0) hold one detail with detailId
# 0xc353051d1ffccaf4 and, as UTF-8 data, the refusal's code: no-such-process,
# module-not-found, invalid-module, limits, cannot-listen, bad-request,
# not-permitted, shutting-down or unreachable. Clients act on the code, never
# on the reason text. (A peer that predates details sees only the reason.)

# Authority. What a connection may do is decided by who it is (its
# principal) and what the node's operator granted that principal, never by a
# number it names. The node's owner (a connection on its unix socket, which
# only the node's own uid and root can open) gets everything, including
# `admin`. A PID is a name for display: acting on a process needs its Process
# capability or the Admin capability.

interface Node {
  # The bootstrap capability a ww node serves to each connection.
  identity @0 () -> (info :NodeInfo);

  executor @1 () -> (executor :Executor);
  # This connection's Executor: what the operator granted its principal,
  # scoped to this connection (its `ps` lists what was spawned through it).
  # The same Executor each time it is asked on one connection.

  admin @2 () -> (admin :Admin);
  # The whole node, for its owner; anyone else is refused (not-permitted).

  cluster @3 () -> (peers :List(PeerInfo));
  # The live peers of this node's cluster as it sees them (their signed
  # heartbeats, each live until its TTL runs out), this node first, then the
  # others by peer ID. A node in no cluster lists itself alone. Any principal
  # may ask: every allowed peer hears these heartbeats anyway.

  peer @4 (peerId :Text) -> (node :Node);
  # Another peer's Node, reached through this node's RPC session with it:
  # `peerId` is a peer ID or a unique prefix of one among the peers of
  # `cluster` (this node included: then this Node itself). The owner's only
  # (not-permitted for anyone else). What the returned Node grants is what
  # that peer's operator grants THIS node's peer ID (by default an Executor
  # with no host directories, no listening sockets, default limits, no
  # admin), not what this node's owner may do here. Fails bad-request for an
  # unknown or ambiguous prefix (the reason lists the candidates),
  # unreachable when the peer cannot be reached.

  registry @5 () -> (registry :Registry);
  # The cluster registry: names replicated by Raft among the peers started
  # with `ww start --raft`. The owner reads and writes (as this node's peer
  # ID); a remote peer only reads (writes fail not-permitted). A node without
  # --raft refuses (bad-request).
}

interface Registry {
  # Writes go through the Raft leader; reads are linearizable (ReadIndex).
  # Refusals fail with an exception whose details hold one detail with
  # detailId 0x9a41c3e6d2b7f018 and the code as UTF-8: no-leader, timeout
  # (the outcome is unknown), registry-bound (a name, value or TTL too large,
  # or the registry full), not-member (this node is not a voter),
  # proposal-queue-full, uncommitted-log-full, not-permitted.
  get @0 (name :Text) -> (found :Bool, record :RegistryRecord);
  put @1 (name :Text, value :Text) -> (version :UInt64);
  delete @2 (name :Text) -> (deleted :Bool);
  ls @3 (prefix :Text, max :UInt32) -> (records :List(RegistryRecord));
  # Names starting with `prefix`, by name, at most `max` (0: 1,000).
  claim @4 (name :Text, value :Text, ttlMs :UInt32) -> (won :Bool, holder :RegistryRecord);
  # Set if absent, lapsed, or already the caller's (then renewed for ttlMs).
  release @5 (name :Text) -> (released :Bool);
  status @6 () -> (status :RegistryStatus);
}

struct RegistryRecord {
  name @0 :Text;
  owner @1 :Text;        # the peer ID that wrote it
  value @2 :Text;
  expiresAtMs @3 :Int64; # a claim's expiry in the leader's unix ms; 0 for a put
  version @4 :UInt64;    # the log index of the write
}

struct RegistryStatus {
  peerId @0 :Text;
  role @1 :Text;         # follower, pre-candidate, candidate or leader
  leader @2 :Text;       # the leader this replica knows; empty if none
  term @3 :UInt64;
  commit @4 :UInt64;
  applied @5 :UInt64;
  voters @6 :List(Text);
}

struct PeerInfo {
  peerId @0 :Text;             # the peer's libp2p peer ID
  addresses @1 :List(Text);    # the multiaddrs it listens on (at most 16)
  running @2 :UInt32;          # its processes running or paused
  queued @3 :UInt32;           # its processes spawned and waiting for a worker
  freeMemoryBytes @4 :UInt64;  # its node memory budget not in use
  lastSeenMs @5 :Int64;        # unix ms its last heartbeat arrived (this node: now)
  self @6 :Bool;               # this node itself
}

interface Admin {
  # The node's owner's capability: every process, by PID.
  ps @0 (after :UInt32, max :UInt32) -> (processes :List(ProcessInfo), more :Bool);
  # Every process on the node, init (pid 1) included, live and recently ended,
  # in pid order, one page at a time: those with a pid above `after`, at most
  # `max` (0 or more than the node's page: 4,096) and about 4 MiB of reply.
  # `more`: further ones follow (ask again with `after` = the last pid).

  process @1 (pid :UInt32) -> (process :Process);
  # A capability for any process; fails "no such process: <pid>".
}

struct NodeInfo {
  peerId @0 :Text;        # the node's libp2p peer ID (12D3KooW...), stable across restarts with a data dir
  version @1 :Text;       # ww version
  startedAtMs @2 :Int64;  # unix ms
  osPid @3 :UInt32;       # the node's OS process id
  addresses @4 :List(Text);
  # Where other peers reach it: its libp2p listen multiaddrs, each ending /p2p/<peerId>.
}

interface Executor {
  spawn @0 (spec :SpawnSpec) -> (process :Process, pid :UInt32, listening :List(Text));
  # Starts a process. Fails (exception "module not found: <cid>") when
  # spec.moduleCid names a module that is not in the cache; fails with a
  # module error when the bytes are not a runnable WASI module; fails
  # (no-such-process) when spec.parent has ended or is not this node's;
  # fails ("cannot listen on ...") when a spec.listen address cannot be
  # bound; fails (not-permitted) when the spec asks for more than this
  # Executor was granted (limits, directories, listening addresses) or its
  # principal has used up a quota (live processes, spawns in progress).
  # `listening`: the addresses of spec.listen as bound (HOST:PORT, the real
  # port where 0 was asked), in the same order.

  ps @1 (after :UInt32, max :UInt32) -> (processes :List(ProcessInfo), more :Bool);
  # The processes spawned through this Executor (or an Executor restricted
  # from it) and their descendants, live and recently ended; paged as Admin.ps.

  obsoleteProcess @2 (pid :UInt32) -> (process :Process);
  # Refused (not-permitted): a PID is not authority. Use the Process
  # capability spawn returned, or Admin.process.

  modules @3 () -> (cache :ModuleCache);

  restrict @4 (restriction :Restriction) -> (executor :Executor);
  # A weaker Executor: its spawns obey this one's grant and the restriction.
  # Its processes appear in this Executor's ps too.

  process @5 (pid :UInt32) -> (process :Process);
  # A process this Executor's ps lists (spawned through it or an Executor
  # restricted from it, or a descendant of one): what its spawner already
  # held, found again by pid (a client that lost the capability, or a peer
  # acting for its owner's CLI). Any other pid fails no-such-process, as one
  # that does not exist: others' processes are not this one's to learn of.
}

struct Restriction {
  limits @0 :Limits;         # ceilings for every spawn (0: keep this Executor's)
  limitDirs @1 :Bool;        # true: spawns may pre-open only under `dirs`
  dirs @2 :List(DirGrant);   # each within this Executor's own grant
  limitListen @3 :Bool;      # true: spawns may listen only on `listen`
  listen @4 :List(Text);     # HOST:PORT; port 0 allows any port on HOST
}

struct DirGrant {
  hostPath @0 :Text;         # a host directory; everything under it is granted
  readOnly @1 :Bool;         # pre-opens under it must be read-only
}

interface ModuleCache {
  put @0 (bytes :Data) -> (cid :Text);   # validates and compiles; returns the sha256 content ID
  get @1 (cid :Text) -> (bytes :Data);   # fails "module not found: <cid>"
  has @2 (cid :Text) -> (present :Bool);
}

struct SpawnSpec {
  moduleBytes @0 :Data;      # the module itself, or
  moduleCid @1 :Text;        # a content ID already in the cache (used when moduleBytes is empty)
  argv @2 :List(Text);       # argv[0] is the program name
  env @3 :List(EnvVar);
  dirs @4 :List(PreopenDir);
  limits @5 :Limits;
  obsoletePpid @6 :UInt32;   # must be 0: a parent is named by its capability (parent)
  stdin @7 :Data;            # bytes the guest reads from stdin, then EOF (small input; a stream: stdinSource)
  stdout @8 :Output;
  stderr @9 :Output;
  listen @10 :List(Text);    # HOST:PORT ([::1]:PORT for IPv6; port 0: a free one): a listening TCP
                             # socket for each, pre-opened in the guest at fds 3, 4, ... in this
                             # order (before --dir directories); closed when the process ends
  parent @11 :Process;       # the parent, one of this node's processes; null: a child of init
  stdinSource @12 :ByteSource;
  # The guest's stdin as a stream, pulled as the guest reads: the node calls
  # read only while the guest waits in fd_read, one call at a time, asking for
  # at most 64 KiB; a guest that never reads never calls it. Any size; the
  # client reads its own input only when asked (backpressure). The node drops
  # the capability at end of input and when the process ends. A source that
  # fails (its client went away) or answers more than asked gives the guest
  # EIO. Null: stdin is `stdin` (bytes, then EOF). Giving both is refused
  # (bad-request).
  attached @13 :Bool;
  # true: the process is killed (reason `killed`, with its subtree) when the
  # connection it was spawned on closes, for whatever reason (the client
  # exited, was killed, lost the node). What `ww run` sets unless --detach.
  # false (the default, as before this field): the node owns the process
  # until it ends, whoever is connected.
}

struct EnvVar {
  key @0 :Text;
  value @1 :Text;
}

struct PreopenDir {
  hostPath @0 :Text;
  guestPath @1 :Text;
  readOnly @2 :Bool;         # the guest may read, never create, write, rename, link or remove
}

struct Limits {
  # 0 means no limit.
  maxMemoryBytes @0 :UInt64;
  fuel @1 :UInt64;
  timeoutMs @2 :UInt64;      # wall time while running; time paused does not count
}

struct Output {
  mode @0 :OutputMode;
  sink @1 :ByteSink;         # used when mode is sink
}

enum OutputMode {
  discard @0;
  capture @1;                # returned in ExitStatus by wait
  sink @2;                   # streamed to `sink` as the guest writes
}

interface ByteSource {
  read @0 (max :UInt32) -> (data :Data, eof :Bool);
  # The next bytes of the stream, at most `max` (the caller treats more as a
  # failure). Returns once there is at least one byte, or at end of input.
  # `eof` true: nothing follows `data` (it may come with the last bytes). An
  # empty `data` also means end of input. One call at a time.
}

interface ByteSink {
  write @0 (data :Data) -> ();
  # Called in order, once per chunk the guest writes. Every write is
  # delivered before the process's wait returns.
}

interface Process {
  wait @0 () -> (status :ExitStatus);
  # Returns when the process has ended (at once if it already has).

  kill @1 () -> ();
  # Ends the process and its whole subtree with reason `killed`.

  pause @2 () -> ();
  # Tells the guest, then after a grace period freezes it preemptively.
  # Returns once frozen.

  resume @3 () -> ();

  monitor @4 () -> (monitor :Monitor);
  # One-way: monitor.reason() returns the exit reason once the process ends.
  # Dropping the Monitor cancels it.

  link @5 (other :Process, oneWay :Bool) -> ();
  # Bidirectional and idempotent: when either side ends abnormally the other
  # ends with reason `link: <pid>`; a side whose peer is lost ends with
  # `peerLost`. With another peer's Process, this node watches it and asks it
  # to link back with `oneWay` set. `oneWay`: only this process follows
  # `other` (ends when it ends abnormally, or when its peer is lost); `other`
  # is not told. Remote links are bounded per process and per principal
  # (error code `quota`).

  unlink @6 (other :Process, oneWay :Bool) -> ();
  # Removes the link both ways (with another peer's Process, asks it to
  # unlink too); `oneWay`: this side only.

  info @7 () -> (info :ProcessInfo);

  output @8 (stream :StdStream, offset :UInt64, max :UInt32) -> (data :Data);
  # Captured output (OutputMode capture) from byte `offset`, at most `max`
  # bytes and never more than 4 MiB: wait() returns the first 4 MiB of each
  # stream and the totals, this the rest, so every reply fits a frame.
  # Empty at and past the end; before the process ended, what it wrote so far
  # is not available (wait first).
}

enum StdStream {
  stdout @0;
  stderr @1;
}

interface Monitor {
  reason @0 () -> (reason :ExitReason, code :UInt32);
}

struct ExitStatus {
  code @0 :UInt32;           # as a shell sees it: guest code (proc_exit's u32), 134 trap, 137 killed/limit/link/peer-lost
  reason @1 :ExitReason;
  stdout @2 :Data;           # with OutputMode capture: its first 4 MiB (Process.output has the rest)
  stderr @3 :Data;
  stdoutBytes @4 :UInt64;    # all the captured stdout, in bytes
  stderrBytes @5 :UInt64;
  outputDropped @6 :Bool;    # the captured output was dropped: the node keeps ended processes' output within a byte bound
}

struct ExitReason {
  # Why a process ended: `kind`, and the fields that kind names. A closed set;
  # clients read the fields, never a rendering of them.
  kind @0 :ExitKind;
  code @1 :UInt32;           # exit: the guest's exit code, as proc_exit gave it (not 0: that is `normal`)
  message @2 :Text;          # trap: the engine's message, e.g. "unreachable"
  function @3 :Text;         # trap: the guest function it happened in, when the module names it
  limit @4 :LimitKind;       # limit: which limit ended it
  pid @5 :UInt32;            # link: the linked process whose abnormal end ended this one
}

enum ExitKind {
  normal @0;                 # returned from _start, or proc_exit(0)
  exit @1;                   # proc_exit(code), code != 0
  killed @2;                 # kill(), or its parent's subtree was killed
  trap @3;
  limit @4;
  link @5;
  peerLost @6;               # the peer that ran it is gone (a remote process)
}

enum LimitKind {
  cpu @0;                    # fuel
  memory @1;
  wall @2;                   # wall time while running (timeoutMs)
}

enum ProcessState {
  running @0;
  paused @1;
  exited @2;
  queued @3;                 # spawned, waiting for a worker: it has not run yet
}

struct ProcessInfo {
  pid @0 :UInt32;
  ppid @1 :UInt32;
  cid @2 :Text;
  argv @3 :List(Text);
  createdAtMs @4 :Int64;
  state @5 :ProcessState;
  fuelUsed @6 :UInt64;
  cpuMs @7 :Float64;         # time spent running
  memoryBytes @8 :UInt64;
  reason @9 :ExitReason;     # when exited
  exitCode @10 :UInt32;      # when exited
  peerId @11 :Text;
  links @12 :List(UInt32);   # pids of this node's processes linked to it
  monitors @13 :UInt32;      # monitors currently held on it (dropped ones are gone)
}
