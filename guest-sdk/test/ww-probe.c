// Test guest for guest-sdk/include/ww.h (built with clang and run by test/guest-sdk/c-header.test.ts).
// `ww-probe-c` alone runs every check and prints one fact per line; the other roles are its children.
// Checks the header's struct layouts (spawn spec, event record) against the host as much as its calls.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ww.h>

static const char *name(int err) {
  switch (err) {
    case 0: return "ok";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EDEADLK: return "EDEADLK";
    case EINVAL: return "EINVAL";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOENT: return "ENOENT";
    case ENOEXEC: return "ENOEXEC";
    case EPIPE: return "EPIPE";
    default: return "other";
  }
}

static ww_handle executor;

static ww_handle spawn_role(const char *role, const char *arg, const ww_handle *handles, uint32_t count) {
  const char *argv[] = {"ww-probe-c", role, arg, NULL};
  ww_handle child = 0;
  int err = ww_spawn_self(executor, argv, handles, count, 0, &child);
  if (err != 0) {
    char msg[256];
    fprintf(stderr, "spawn %s: %s (%s)\n", role, strerror(err), ww_last_error_text(msg, sizeof msg));
    exit(1);
  }
  return child;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

// A child that reports its PAUSE and RESUME events over the channel it was given, then exits.
static int pausable(void) {
  ww_handle reports;
  ww_initial(0, &reports);
  ww_send_text(reports, "ready");
  for (;;) {
    ww_event ev;
    while (ww_event_poll(WW_NONBLOCK, &ev) == 0) {
      char line[64];
      if (ev.kind == WW_EVENT_PAUSE) {
        snprintf(line, sizeof line, "PAUSE grace %lld", (long long)ev.value);
        ww_send_text(reports, line);
      } else if (ev.kind == WW_EVENT_RESUME) {
        ww_send_text(reports, "RESUME");
        return 0;
      }
    }
    sleep_ms(5);
  }
}

int main(int argc, char **argv) {
  // Each line goes out as it is printed, so a child's output (which shares stdout) cannot overtake
  // lines printed before it was spawned.
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
  if (argc > 1 && strcmp(argv[1], "sleep") == 0) {
    sleep_ms(atol(argv[2]));
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "spin") == 0) {
    volatile unsigned long long x = 1;
    while (x) x = x * 6364136223846793005ULL + 1;
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "env") == 0) {
    const char *g = getenv("GREETING");
    printf("child env GREETING=%s argv[2]=%s\n", g ? g : "(unset)", argv[2]);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "pausable") == 0) return pausable();

  // Handles: initial handles, kinds, dup, drop, forgery.
  executor = ww_initial_of_kind(WW_KIND_EXECUTOR);
  ww_handle store = ww_initial_of_kind(WW_KIND_STORE);
  printf("pid>0 %d executor %d store %d\n", ww_my_pid() > 0, executor != 0, store != 0);
  ww_handle me, dup;
  ww_self(&me);
  uint32_t kind = 0;
  ww_handle_kind(me, &kind);
  printf("self kind %u\n", kind);
  printf("dup %s\n", name(ww_handle_dup(me, &dup)));
  printf("drop %s then %s\n", name(ww_handle_drop(dup)), name(ww_handle_drop(dup)));
  printf("forged %s\n", name(ww_proc_kill(12345)));
  char msg[256];
  printf("last_error says something %d\n", strlen(ww_last_error_text(msg, sizeof msg)) > 0);

  // Channels: backpressure, peeking at a message's size, handles in a message.
  ww_handle tx, rx;
  printf("chan_create %s\n", name(ww_chan_create(1, &tx, &rx)));
  printf("send %s\n", name(ww_send_text(tx, "hello")));
  printf("full %s\n", name(ww_chan_send(tx, WW_NONBLOCK, "x", 1, NULL, 0)));
  uint32_t len = 0, nh = 0;
  printf("peek %s len %u\n", name(ww_chan_recv(rx, 0, NULL, 0, &len, NULL, 0, &nh)), len);
  char buf[64];
  printf("recv %s %s\n", name(ww_recv_text(rx, buf, sizeof buf, NULL)), buf);
  printf("empty %s\n", name(ww_chan_recv(rx, WW_NONBLOCK, buf, sizeof buf, &len, NULL, 0, &nh)));
  ww_handle_dup(me, &dup);
  printf("send handle %s\n", name(ww_chan_send(tx, 0, "p", 1, &dup, 1)));
  ww_handle got[4];
  printf("recv handle %s count %u", name(ww_chan_recv(rx, 0, buf, sizeof buf, &len, got, 4, &nh)), nh);
  uint32_t pid = 0;
  ww_proc_pid(got[0], &pid);
  printf(" same pid %d\n", pid == ww_my_pid());

  // The store.
  printf("store_set %s\n", name(ww_store_set(store, "c/tx", 4, tx)));
  ww_handle tx2;
  printf("store_get %s missing %s\n", name(ww_store_get(store, "c/tx", 4, &tx2)), name(ww_store_get(store, "c/none", 6, &tx2)));

  // Spawn: argv and env through the spec struct; limits end children with their reason.
  {
    ww_spawn_spec spec;
    memset(&spec, 0, sizeof spec);
    static const char args[] = "ww-probe-c\0env\0two words";
    static const char env[] = "GREETING=hi from C";
    spec.flags = WW_SPAWN_SELF;
    spec.argv = args;
    spec.argv_len = sizeof args;  // includes the final NUL
    spec.env = env;
    spec.env_len = sizeof env;
    ww_handle child;
    int err = ww_spawn(executor, &spec, sizeof spec, &child);
    int32_t code;
    char reason[128];
    ww_wait(child, &code, reason, sizeof reason);  // its line comes first
    printf("spawn spec %s, env child %s\n", name(err), reason);

    memset(&spec, 0, sizeof spec);
    static const char spin[] = "ww-probe-c\0spin";
    spec.flags = WW_SPAWN_SELF;
    spec.argv = spin;
    spec.argv_len = sizeof spin;
    spec.fuel = 1000;
    ww_spawn(executor, &spec, sizeof spec, &child);
    ww_wait(child, &code, reason, sizeof reason);
    printf("fuel child %d %s\n", code, reason);
    spec.fuel = 0;
    spec.timeout_ms = 50;
    ww_spawn(executor, &spec, sizeof spec, &child);
    ww_wait(child, &code, reason, sizeof reason);
    printf("timeout child %d %s\n", code, reason);
    printf("bad spec size %s\n", name(ww_spawn(executor, &spec, 32, &child)));
    printf("bad module %s\n", name(ww_spawn_module(executor, "nope", 4, NULL, NULL, 0, 0, &child)));
  }

  // Monitors and the DOWN event.
  {
    ww_handle child = spawn_role("exit", "5", NULL, 0), mon;
    printf("monitor %s\n", name(ww_proc_monitor(child, &mon)));
    int32_t code = 0;
    char reason[64];
    uint32_t rlen = 0;
    printf("monitor_wait %s", name(ww_monitor_wait(mon, 0, &code, reason, sizeof reason - 1, &rlen)));
    reason[rlen] = '\0';
    printf(" %d %s\n", code, reason);
    ww_event ev;
    printf("event %s", name(ww_event_poll(WW_NONBLOCK, &ev)));
    printf(" kind %u same monitor %d value %lld\n", ev.kind, ev.handle == mon, (long long)ev.value);
  }

  // Kill and wait.
  {
    ww_handle child = spawn_role("sleep", "60000", NULL, 0);
    int32_t code;
    char reason[64];
    uint32_t rlen;
    printf("running %s\n", name(ww_proc_wait(child, WW_NONBLOCK, &code, reason, sizeof reason, &rlen)));
    printf("kill %s\n", name(ww_proc_kill(child)));
    ww_wait(child, &code, reason, sizeof reason);
    printf("killed %d %s\n", code, reason);
    printf("wait self %s\n", name(ww_proc_wait(me, 0, &code, reason, sizeof reason, &rlen)));
  }

  // Pause and resume: the child reports the events it polls.
  {
    ww_handle ptx, prx;
    ww_chan_create(0, &ptx, &prx);
    ww_handle child = spawn_role("pausable", "", &ptx, 1);
    char line[64];
    ww_recv_text(prx, line, sizeof line, NULL);
    printf("child %s\n", line);
    printf("pause %s\n", name(ww_proc_pause(child)));
    ww_recv_text(prx, line, sizeof line, NULL);
    printf("child %s\n", line);
    printf("resume %s\n", name(ww_proc_resume(child)));
    ww_recv_text(prx, line, sizeof line, NULL);
    printf("child %s\n", line);
    int32_t code;
    char reason[64];
    ww_wait(child, &code, reason, sizeof reason);
    printf("pausable child %s\n", reason);
  }
  return 0;
}
