// A guest for the socket tests: drives the pre-opened listener at fd 3 with the raw WASI calls and
// prints one line per step on stdout (flushed), so the test can follow it and act in between.
//   sockprobe script [FILE]  accept EAGAIN, poll timeouts, peek/recv/send, non-blocking recv,
//                            shutdown, hangup; FILE (in a directory pre-opened after the socket) is
//                            opened to show wasi-libc still finds that directory
//   sockprobe block-accept   fd 3 made blocking, then sock_accept blocks (for kill)
//   sockprobe epipe          accept, read to end of stream, then send until the send fails
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define LISTENER 3

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static void fail(const char *what, __wasi_errno_t e) {
  say("FAIL %s: errno %d", what, e);
  exit(1);
}

/* Polls one fd (read or write) and, if timeout_ns > 0, a relative monotonic clock.
 * Returns "fd", "clock", "both"; sets *hangup from the fd event's flags. */
static const char *poll_fd(__wasi_fd_t fd, __wasi_eventtype_t type, __wasi_timestamp_t timeout_ns, int *hangup) {
  __wasi_subscription_t subs[2];
  __wasi_event_t events[2];
  memset(subs, 0, sizeof subs);
  subs[0].userdata = 1;
  subs[0].u.tag = type;
  if (type == __WASI_EVENTTYPE_FD_READ) subs[0].u.u.fd_read.file_descriptor = fd;
  else subs[0].u.u.fd_write.file_descriptor = fd;
  subs[1].userdata = 2;
  subs[1].u.tag = __WASI_EVENTTYPE_CLOCK;
  subs[1].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
  subs[1].u.u.clock.timeout = timeout_ns;
  __wasi_size_t n = 0;
  __wasi_errno_t e = __wasi_poll_oneoff(subs, events, timeout_ns > 0 ? 2 : 1, &n);
  if (e) fail("poll_oneoff", e);
  int fdReady = 0, clockFired = 0;
  *hangup = 0;
  for (__wasi_size_t i = 0; i < n; i++) {
    if (events[i].error) fail("poll event", events[i].error);
    if (events[i].userdata == 1) {
      fdReady = 1;
      *hangup = (events[i].fd_readwrite.flags & __WASI_EVENTRWFLAGS_FD_READWRITE_HANGUP) != 0;
    } else {
      clockFired = 1;
    }
  }
  return fdReady && clockFired ? "both" : fdReady ? "fd" : "clock";
}

static __wasi_errno_t recv_some(__wasi_fd_t fd, char *buf, size_t cap, __wasi_riflags_t flags, size_t *n) {
  __wasi_iovec_t iov = {(uint8_t *)buf, cap};
  __wasi_size_t got = 0;
  __wasi_roflags_t ro = 0;
  __wasi_errno_t e = __wasi_sock_recv(fd, &iov, 1, flags, &got, &ro);
  *n = got;
  return e;
}

static __wasi_errno_t send_all(__wasi_fd_t fd, const char *text) {
  __wasi_ciovec_t iov = {(const uint8_t *)text, strlen(text)};
  __wasi_size_t sent = 0;
  return __wasi_sock_send(fd, &iov, 1, 0, &sent);
}

static int script(const char *file) {
  __wasi_fdstat_t st;
  __wasi_errno_t e = __wasi_fd_fdstat_get(LISTENER, &st);
  if (e) fail("fd_fdstat_get(3)", e);
  say("listener filetype=%d nonblock=%d accept-right=%d", st.fs_filetype, (st.fs_flags & __WASI_FDFLAGS_NONBLOCK) != 0,
      (st.fs_rights_base & __WASI_RIGHTS_SOCK_ACCEPT) != 0);
  __wasi_prestat_t pre;
  e = __wasi_fd_prestat_get(LISTENER, &pre);
  say("prestat 3: errno %d tag %d", e, pre.tag);
  if (file) {
    FILE *f = fopen(file, "r");
    say("open %s: %s", file, f ? "ok" : strerror(errno));
    if (f) fclose(f);
  }

  __wasi_fd_t conn = 0;
  e = __wasi_sock_accept(LISTENER, 0, &conn);
  say("accept with none pending: errno %d", e);
  int hangup = 0;
  say("poll listener 20ms: %s", poll_fd(LISTENER, __WASI_EVENTTYPE_FD_READ, 20000000, &hangup));
  say("connect now");
  say("poll listener: %s", poll_fd(LISTENER, __WASI_EVENTTYPE_FD_READ, 0, &hangup));
  e = __wasi_sock_accept(LISTENER, 0, &conn);
  if (e) fail("sock_accept", e);
  e = __wasi_fd_fdstat_get(conn, &st);
  if (e) fail("fd_fdstat_get(conn)", e);
  say("accepted fd %d filetype=%d nonblock=%d read-right=%d shutdown-right=%d", conn, st.fs_filetype,
      (st.fs_flags & __WASI_FDFLAGS_NONBLOCK) != 0, (st.fs_rights_base & __WASI_RIGHTS_FD_READ) != 0,
      (st.fs_rights_base & __WASI_RIGHTS_SOCK_SHUTDOWN) != 0);
  say("poll conn read 20ms: %s", poll_fd(conn, __WASI_EVENTTYPE_FD_READ, 20000000, &hangup));
  say("poll conn write 20ms: %s", poll_fd(conn, __WASI_EVENTTYPE_FD_WRITE, 20000000, &hangup));
  say("send hello");

  char buf[64];
  size_t n = 0;
  e = recv_some(conn, buf, sizeof buf, __WASI_RIFLAGS_RECV_PEEK, &n); // blocking: waits for the data
  if (e) fail("sock_recv peek", e);
  say("peek: %.*s", (int)n, buf);
  e = recv_some(conn, buf, sizeof buf, 0, &n);
  if (e) fail("sock_recv", e);
  say("recv: %.*s", (int)n, buf);
  for (size_t i = 0; i < n; i++) buf[i] = (char)(buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i]);
  buf[n] = 0;
  e = send_all(conn, buf);
  if (e) fail("sock_send", e);
  __wasi_ciovec_t iov = {(const uint8_t *)"+fd_write", 9};
  __wasi_size_t written = 0;
  e = __wasi_fd_write(conn, &iov, 1, &written);
  if (e) fail("fd_write", e);

  e = __wasi_fd_fdstat_set_flags(conn, __WASI_FDFLAGS_NONBLOCK);
  if (e) fail("fd_fdstat_set_flags", e);
  e = recv_some(conn, buf, sizeof buf, 0, &n);
  say("non-blocking recv with nothing there: errno %d", e);
  e = __wasi_sock_shutdown(conn, __WASI_SDFLAGS_WR);
  say("shutdown write: errno %d", e);
  say("close your side");
  const char *what = poll_fd(conn, __WASI_EVENTTYPE_FD_READ, 0, &hangup);
  e = recv_some(conn, buf, sizeof buf, 0, &n);
  say("poll conn read: %s hangup=%d, then recv: errno %d, %zu bytes", what, hangup, e, n);
  e = __wasi_fd_close(conn);
  say("close: errno %d", e);
  e = __wasi_sock_recv(conn, 0, 0, 0, 0, 0);
  say("recv after close: errno %d", e);
  return 0;
}

static int block_accept(void) {
  __wasi_errno_t e = __wasi_fd_fdstat_set_flags(LISTENER, 0);
  if (e) fail("fd_fdstat_set_flags(3, 0)", e);
  say("blocking in accept");
  __wasi_fd_t conn = 0;
  e = __wasi_sock_accept(LISTENER, 0, &conn);
  say("accept: errno %d fd %d", e, conn);
  return 0;
}

static int epipe(void) {
  int hangup = 0;
  poll_fd(LISTENER, __WASI_EVENTTYPE_FD_READ, 0, &hangup);
  __wasi_fd_t conn = 0;
  __wasi_errno_t e = __wasi_sock_accept(LISTENER, 0, &conn);
  if (e) fail("sock_accept", e);
  say("accepted");
  char buf[256];
  size_t n = 0, total = 0;
  do {
    e = recv_some(conn, buf, sizeof buf, 0, &n); // blocking
    total += n;
  } while (e == 0 && n > 0);
  say("end of stream after %zu bytes: errno %d", total, e);
  // The peer is gone: the first sends may still be taken (sends are posted; the host learns of the
  // reset from the network, on its own time), then every send fails. A 10 ms pause between sends
  // (poll on a clock: the connection itself is always ready, hung up) gives it up to 5 s.
  for (int i = 0; i < 500; i++) {
    e = send_all(conn, "are you there?\n");
    if (e) {
      say("send failed: errno %d", e);
      return 0;
    }
    __wasi_subscription_t sub = {.u = {.tag = __WASI_EVENTTYPE_CLOCK, .u = {.clock = {.id = __WASI_CLOCKID_MONOTONIC, .timeout = 10000000}}}};
    __wasi_event_t ev;
    __wasi_size_t nev = 0;
    (void)!__wasi_poll_oneoff(&sub, &ev, 1, &nev);
  }
  say("FAIL every send succeeded");
  return 1;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "script")) return script(argc > 2 ? argv[2] : NULL);
  if (!strcmp(mode, "block-accept")) return block_accept();
  if (!strcmp(mode, "epipe")) return epipe();
  say("usage: sockprobe script [FILE] | block-accept | epipe");
  return 2;
}
