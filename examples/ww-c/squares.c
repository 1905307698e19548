// A parent and a child talking over channels, in C with guest-sdk/include/ww.h.
//   ww run examples/ww-c/squares.wasm -- 1 2 3
// The parent creates two channels (requests, replies), spawns a child running this same module
// and moves the request receiver and the reply sender into it. It sends each argument, prints the
// child's answer (the square), closes the request channel and waits: the child sees the channel
// closed (EPIPE) and exits normally.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ww.h>

static char message[256];

static int fail(const char *what, int err) {
  fprintf(stderr, "squares: %s: %s (%s)\n", what, strerror(err), ww_last_error_text(message, sizeof message));
  return 1;
}

// The child: its initial handles are [request receiver, reply sender].
static int child(void) {
  ww_handle requests, replies;
  if (ww_initial(0, &requests) != 0 || ww_initial(1, &replies) != 0) {
    fprintf(stderr, "squares: the child needs two initial handles (run it as `squares`, not `squares child`)\n");
    return 2;
  }
  char buf[64];
  int err;
  while ((err = ww_recv_text(requests, buf, sizeof buf, NULL)) == 0) {
    long long n = strtoll(buf, NULL, 10);
    char answer[64];
    snprintf(answer, sizeof answer, "%lld", n * n);
    if ((err = ww_send_text(replies, answer)) != 0) return fail("send", err);
  }
  return err == EPIPE ? 0 : fail("receive", err);  // EPIPE: the parent closed the requests
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return child();

  ww_handle executor = ww_initial_of_kind(WW_KIND_EXECUTOR);
  if (executor == 0) {
    fprintf(stderr, "squares: no Executor handle; run it with `ww run` (a node gives one)\n");
    return 1;
  }
  ww_handle req_send, req_recv, rep_send, rep_recv;
  int err;
  if ((err = ww_chan_create(0, &req_send, &req_recv)) != 0) return fail("chan_create", err);
  if ((err = ww_chan_create(0, &rep_send, &rep_recv)) != 0) return fail("chan_create", err);

  // The child's ends are moved into it: they leave this process's table.
  const char *child_argv[] = {"squares", "child", NULL};
  ww_handle given[] = {req_recv, rep_send};
  ww_handle proc;
  if ((err = ww_spawn_self(executor, child_argv, given, 2, 0, &proc)) != 0) return fail("spawn", err);
  uint32_t child_pid = 0;
  ww_proc_pid(proc, &child_pid);
  printf("parent %u: spawned child %u\n", ww_my_pid(), child_pid);

  for (int i = 1; i < argc; i++) {
    if ((err = ww_send_text(req_send, argv[i])) != 0) return fail("send", err);
    char answer[64];
    if ((err = ww_recv_text(rep_recv, answer, sizeof answer, NULL)) != 0) return fail("receive", err);
    printf("%s squared is %s\n", argv[i], answer);
  }
  ww_chan_close(req_send);

  int32_t code;
  char reason[128];
  if ((err = ww_wait(proc, &code, reason, sizeof reason)) != 0) return fail("wait", err);
  printf("child %u ended: %s (exit code %d)\n", child_pid, reason, code);
  return code;
}
