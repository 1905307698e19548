// Conformance guest: argv[1] names a scenario; each prints "key=value" lines
// from raw wasi_snapshot_preview1 calls, which the tests compare with what the
// spec and wasmtime give.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define P(key, fmt, ...) printf("%s=" fmt "\n", key, __VA_ARGS__)
#define E(key, call) printf("%s=%d\n", key, (int)(call))
#define ALL_RIGHTS ((__wasi_rights_t)0x3fffffff)

static void scenario_args(void) {
  __wasi_size_t argc, argv_size, envc, env_size;
  E("args_sizes_get", __wasi_args_sizes_get(&argc, &argv_size));
  P("argc", "%u", (unsigned)argc);
  P("argv_size", "%u", (unsigned)argv_size);
  char **argv = malloc((argc + 1) * sizeof(char *));
  char *argv_buf = malloc(argv_size + 1);
  E("args_get", __wasi_args_get((uint8_t **)argv, (uint8_t *)argv_buf));
  for (unsigned i = 0; i < argc; i++) P("arg", "[%s]", argv[i]);
  E("environ_sizes_get", __wasi_environ_sizes_get(&envc, &env_size));
  P("envc", "%u", (unsigned)envc);
  P("env_size", "%u", (unsigned)env_size);
  char **env = malloc((envc + 1) * sizeof(char *));
  char *env_buf = malloc(env_size + 1);
  E("environ_get", __wasi_environ_get((uint8_t **)env, (uint8_t *)env_buf));
  for (unsigned i = 0; i < envc; i++) P("env", "[%s]", env[i]);
  P("getenv_K", "%s", getenv("K") ? getenv("K") : "(null)");
}

static void scenario_clock(void) {
  __wasi_timestamp_t t, r;
  for (int id = 0; id < 4; id++) {
    char key[32];
    snprintf(key, sizeof key, "time_errno_%d", id);
    E(key, __wasi_clock_time_get(id, 1, &t));
    snprintf(key, sizeof key, "time_%d", id);
    P(key, "%llu", (unsigned long long)t);
    snprintf(key, sizeof key, "res_errno_%d", id);
    E(key, __wasi_clock_res_get(id, &r));
    snprintf(key, sizeof key, "res_%d", id);
    P(key, "%llu", (unsigned long long)r);
  }
  E("time_errno_bad", __wasi_clock_time_get(4, 1, &t));
  E("res_errno_bad", __wasi_clock_res_get(99, &r));
  // Monotonic never goes back; sub-microsecond digits show nanosecond precision.
  __wasi_timestamp_t prev = 0, cur;
  int backwards = 0, sub_us = 0;
  for (int i = 0; i < 1000; i++) {
    (void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &cur);
    if (cur < prev) backwards++;
    if (cur % 1000) sub_us++;
    prev = cur;
  }
  P("monotonic_backwards", "%d", backwards);
  P("monotonic_sub_us_samples", "%d", sub_us);
  sub_us = 0;
  for (int i = 0; i < 1000; i++) {
    (void)__wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &cur);
    if (cur % 1000) sub_us++;
  }
  P("realtime_sub_us_samples", "%d", sub_us);
}

static void scenario_random(void) {
  static uint8_t big[200000];
  E("random_big", __wasi_random_get(big, sizeof big));
  unsigned counts[256] = {0};
  for (size_t i = 0; i < sizeof big; i++) counts[big[i]]++;
  unsigned min = ~0u, max = 0;
  for (int i = 0; i < 256; i++) {
    if (counts[i] < min) min = counts[i];
    if (counts[i] > max) max = counts[i];
  }
  P("byte_count_min", "%u", min);
  P("byte_count_max", "%u", max);
  // The tail beyond the first 64 KiB chunk is filled too.
  unsigned tail_zero = 0;
  for (size_t i = sizeof big - 1000; i < sizeof big; i++) tail_zero += big[i] == 0;
  P("tail_zero_bytes", "%u", tail_zero);
  uint8_t a[32], b[32];
  E("random_a", __wasi_random_get(a, sizeof a));
  E("random_b", __wasi_random_get(b, sizeof b));
  P("two_draws_equal", "%d", memcmp(a, b, sizeof a) == 0);
  E("random_zero_len", __wasi_random_get(a, 0));
}

static void print_fdstat(const char *key, __wasi_fd_t fd) {
  __wasi_fdstat_t st;
  __wasi_errno_t e = __wasi_fd_fdstat_get(fd, &st);
  printf("%s=%d type=%d flags=%d base=0x%llx inh=0x%llx\n", key, e, st.fs_filetype, st.fs_flags,
         (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting);
}

static void scenario_stdio(void) {
  print_fdstat("fdstat0", 0);
  print_fdstat("fdstat1", 1);
  print_fdstat("fdstat2", 2);
  __wasi_filesize_t pos;
  E("seek1", __wasi_fd_seek(1, 0, __WASI_WHENCE_CUR, &pos));
  E("tell0", __wasi_fd_tell(0, &pos));
  uint8_t buf[16];
  __wasi_iovec_t iov = {buf, sizeof buf};
  __wasi_ciovec_t ciov = {buf, 1};
  __wasi_size_t n;
  E("pread0", __wasi_fd_pread(0, &iov, 1, 0, &n));
  E("pread1", __wasi_fd_pread(1, &iov, 1, 0, &n));
  E("pwrite1", __wasi_fd_pwrite(1, &ciov, 1, 0, &n));
  E("pwrite0", __wasi_fd_pwrite(0, &ciov, 1, 0, &n));
  E("write0", __wasi_fd_write(0, &ciov, 1, &n));
  E("read1", __wasi_fd_read(1, &iov, 1, &n));
  __wasi_filestat_t fst;

  __wasi_errno_t e = __wasi_fd_filestat_get(1, &fst);
  printf("filestat1=%d type=%d size=%llu\n", e, fst.filetype, (unsigned long long)fst.size);
  E("set_flags1", __wasi_fd_fdstat_set_flags(1, __WASI_FDFLAGS_APPEND));
  E("set_rights1", __wasi_fd_fdstat_set_rights(1, 0, 0));
  E("set_times1", __wasi_fd_filestat_set_times(1, 0, 0, __WASI_FSTFLAGS_MTIM_NOW));
  E("set_size1", __wasi_fd_filestat_set_size(1, 0));
  E("sync1", __wasi_fd_sync(1));
  E("readdir1", __wasi_fd_readdir(1, buf, sizeof buf, 0, &n));
  E("prestat1", __wasi_fd_prestat_get(1, (__wasi_prestat_t *)buf));
  E("prestat_dir_name1", __wasi_fd_prestat_dir_name(1, buf, sizeof buf));
  __wasi_fd_t nfd;
  E("path_open1", __wasi_path_open(1, 0, "x", 0, 0, 0, 0, &nfd));
  // Read all of stdin.
  size_t total = 0;
  char all[256];
  for (;;) {
    __wasi_iovec_t in = {(uint8_t *)all + total, sizeof all - 1 - total};
    e = __wasi_fd_read(0, &in, 1, &n);
    if (e || n == 0) break;
    total += n;
  }
  all[total] = 0;
  P("stdin", "[%s]", all);
  E("read0_errno", e);
  // Bad fds.
  E("write_badfd", __wasi_fd_write(77, &ciov, 1, &n));
  E("close_badfd", __wasi_fd_close(77));
  E("fdstat_badfd", __wasi_fd_fdstat_get(77, (__wasi_fdstat_t *)buf));
  E("write_negfd", __wasi_fd_write(-1, &ciov, 1, &n));
  E("sched_yield", __wasi_sched_yield());
}

static void scenario_sock(void) {
  uint8_t buf[16];
  __wasi_iovec_t iov = {buf, sizeof buf};
  __wasi_ciovec_t ciov = {buf, 1};
  __wasi_size_t n;
  __wasi_roflags_t roflags;
  __wasi_fd_t nfd;
  char key[32];
  for (int fd = 0; fd <= 4; fd++) {
    snprintf(key, sizeof key, "accept%d", fd);
    E(key, __wasi_sock_accept(fd, 0, &nfd));
    snprintf(key, sizeof key, "recv%d", fd);
    E(key, __wasi_sock_recv(fd, &iov, 1, 0, &n, &roflags));
    snprintf(key, sizeof key, "send%d", fd);
    E(key, __wasi_sock_send(fd, &ciov, 1, 0, &n));
    snprintf(key, sizeof key, "shutdown%d", fd);
    E(key, __wasi_sock_shutdown(fd, __WASI_SDFLAGS_RD | __WASI_SDFLAGS_WR));
  }
  E("accept_badfd", __wasi_sock_accept(99, 0, &nfd));
  E("after_sock_write", __wasi_fd_write(1, &ciov, 0, &n));
}

// File descriptor operations on files in the first pre-open (fd 3).
static void scenario_fdops(void) {
  __wasi_fd_t fd, ro, fd2;
  __wasi_size_t n;
  __wasi_filesize_t pos;
  E("open_rw", __wasi_path_open(3, 0, "data.bin", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, ALL_RIGHTS, ALL_RIGHTS, 0, &fd));
  P("fd", "%u", (unsigned)fd);
  const char *text = "0123456789";
  __wasi_ciovec_t two[2] = {{(const uint8_t *)text, 4}, {(const uint8_t *)text + 4, 6}};
  E("write_iovs", __wasi_fd_write(fd, two, 2, &n));
  P("written", "%u", (unsigned)n);
  E("tell", __wasi_fd_tell(fd, &pos));
  P("pos", "%llu", (unsigned long long)pos);
  E("seek_set", __wasi_fd_seek(fd, 2, __WASI_WHENCE_SET, &pos));
  P("pos_set", "%llu", (unsigned long long)pos);
  E("seek_cur", __wasi_fd_seek(fd, 3, __WASI_WHENCE_CUR, &pos));
  P("pos_cur", "%llu", (unsigned long long)pos);
  E("seek_end", __wasi_fd_seek(fd, -1, __WASI_WHENCE_END, &pos));
  P("pos_end", "%llu", (unsigned long long)pos);
  E("seek_negative", __wasi_fd_seek(fd, -100, __WASI_WHENCE_CUR, &pos));
  E("seek_bad_whence", __wasi_fd_seek(fd, 0, 7, &pos));
  char rb[16] = {0};
  __wasi_iovec_t riov[2] = {{(uint8_t *)rb, 3}, {(uint8_t *)rb + 3, 5}};
  E("seek_0", __wasi_fd_seek(fd, 1, __WASI_WHENCE_SET, &pos));
  E("read_iovs", __wasi_fd_read(fd, riov, 2, &n));
  P("read", "%u [%s]", (unsigned)n, rb);
  memset(rb, 0, sizeof rb);
  __wasi_iovec_t one = {(uint8_t *)rb, 4};
  E("pread", __wasi_fd_pread(fd, &one, 1, 6, &n));
  P("pread_data", "%u [%s]", (unsigned)n, rb);
  E("tell_after_pread", __wasi_fd_tell(fd, &pos));
  P("pos_after_pread", "%llu", (unsigned long long)pos);
  __wasi_ciovec_t pw = {(const uint8_t *)"AB", 2};
  E("pwrite", __wasi_fd_pwrite(fd, &pw, 1, 8, &n));
  E("pwrite_past_end", __wasi_fd_pwrite(fd, &pw, 1, 12, &n));
  __wasi_filestat_t st;
  E("filestat", __wasi_fd_filestat_get(fd, &st));
  P("size", "%llu", (unsigned long long)st.size);
  P("filetype", "%d", st.filetype);
  P("nlink", "%llu", (unsigned long long)st.nlink);
  E("set_size", __wasi_fd_filestat_set_size(fd, 5));
  E("filestat2", __wasi_fd_filestat_get(fd, &st));
  P("size_after_truncate", "%llu", (unsigned long long)st.size);
  E("read_at_eof_seek", __wasi_fd_seek(fd, 0, __WASI_WHENCE_END, &pos));
  E("read_at_eof", __wasi_fd_read(fd, &one, 1, &n));
  P("read_at_eof_n", "%u", (unsigned)n);
  E("set_times", __wasi_fd_filestat_set_times(fd, 1111111111123456789ull, 1222222222987654321ull,
                                               __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM));
  E("filestat3", __wasi_fd_filestat_get(fd, &st));
  P("atim", "%llu", (unsigned long long)st.atim);
  P("mtim", "%llu", (unsigned long long)st.mtim);
  E("set_times_only_mtim", __wasi_fd_filestat_set_times(fd, 0, 1333333333000001000ull, __WASI_FSTFLAGS_MTIM));
  E("filestat4", __wasi_fd_filestat_get(fd, &st));
  P("atim_kept", "%llu", (unsigned long long)st.atim);
  P("mtim2", "%llu", (unsigned long long)st.mtim);
  E("set_times_both_and_now", __wasi_fd_filestat_set_times(fd, 5, 0, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW));
  E("sync", __wasi_fd_sync(fd));
  E("datasync", __wasi_fd_datasync(fd));
  E("advise", __wasi_fd_advise(fd, 0, 10, __WASI_ADVICE_SEQUENTIAL));
  E("advise_bad", __wasi_fd_advise(fd, 0, 10, 9));
  E("allocate", __wasi_fd_allocate(fd, 0, 100));
  __wasi_fdstat_t fds;
  E("fdstat", __wasi_fd_fdstat_get(fd, &fds));
  P("fdstat_type", "%d", fds.fs_filetype);
  P("fdstat_flags", "%d", fds.fs_flags);
  P("fdstat_base", "0x%llx", (unsigned long long)fds.fs_rights_base);
  P("fdstat_inh", "0x%llx", (unsigned long long)fds.fs_rights_inheriting);
  E("set_flags_append", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_APPEND));
  E("fdstat2", __wasi_fd_fdstat_get(fd, &fds));
  P("fdstat_flags2", "%d", fds.fs_flags);
  E("seek_start", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos));
  __wasi_ciovec_t ap = {(const uint8_t *)"Z", 1};
  E("append_write", __wasi_fd_write(fd, &ap, 1, &n));
  E("tell_after_append", __wasi_fd_tell(fd, &pos));
  P("pos_after_append", "%llu", (unsigned long long)pos);
  E("set_flags_sync", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_SYNC));
  E("set_rights", __wasi_fd_fdstat_set_rights(fd, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, 0));
  E("fdstat_narrowed", __wasi_fd_fdstat_get(fd, &fds));
  P("narrowed_base", "0x%llx", (unsigned long long)fds.fs_rights_base);
  P("narrowed_inh", "0x%llx", (unsigned long long)fds.fs_rights_inheriting);
  E("set_rights_widen", __wasi_fd_fdstat_set_rights(fd, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK, 0));
  // Read-only open: rights reported without FD_WRITE; writing fails.
  E("open_ro", __wasi_path_open(3, 0, "data.bin", 0, __WASI_RIGHTS_FD_READ, 0, 0, &ro));
  E("fdstat_ro", __wasi_fd_fdstat_get(ro, &fds));
  P("ro_has_write", "%d", (fds.fs_rights_base & __WASI_RIGHTS_FD_WRITE) != 0);
  P("ro_has_read", "%d", (fds.fs_rights_base & __WASI_RIGHTS_FD_READ) != 0);
  memset(rb, 0, sizeof rb);
  __wasi_iovec_t all = {(uint8_t *)rb, 15};
  E("ro_read", __wasi_fd_read(ro, &all, 1, &n));
  P("ro_content", "[%s]", rb);
  E("ro_write", __wasi_fd_write(ro, &ap, 1, &n));
  // Opened with no rights at all: open for reading (as wasmtime), not for writing.
  __wasi_fd_t bare;
  E("open_no_rights", __wasi_path_open(3, 0, "data.bin", 0, 0, 0, 0, &bare));
  E("fdstat_no_rights", __wasi_fd_fdstat_get(bare, &fds));
  P("no_rights_has_read", "%d", (fds.fs_rights_base & __WASI_RIGHTS_FD_READ) != 0);
  P("no_rights_has_write", "%d", (fds.fs_rights_base & __WASI_RIGHTS_FD_WRITE) != 0);
  memset(rb, 0, sizeof rb);
  E("no_rights_read", __wasi_fd_read(bare, &all, 1, &n));
  P("no_rights_content", "[%s]", rb);
  E("no_rights_write", __wasi_fd_write(bare, &ap, 1, &n));
  E("no_rights_filestat", __wasi_fd_filestat_get(bare, &st));
  E("close_bare", __wasi_fd_close(bare));
  // Append-mode open.
  E("open_append", __wasi_path_open(3, 0, "data.bin", 0, ALL_RIGHTS, 0, __WASI_FDFLAGS_APPEND, &fd2));
  E("fdstat_append", __wasi_fd_fdstat_get(fd2, &fds));
  P("append_flags", "%d", fds.fs_flags);
  __wasi_ciovec_t ap2 = {(const uint8_t *)"Y", 1};
  E("append_write2", __wasi_fd_write(fd2, &ap2, 1, &n));
  E("pwrite_on_append", __wasi_fd_pwrite(fd2, &ap2, 1, 0, &n));
  E("filestat5", __wasi_fd_filestat_get(fd2, &st));
  P("size_after_appends", "%llu", (unsigned long long)st.size);
  // Renumber: fd2 takes ro's number; ro's old file is closed.
  E("renumber", __wasi_fd_renumber(fd2, ro));
  E("fdstat_old_fd2", __wasi_fd_fdstat_get(fd2, &fds));
  E("fdstat_renumbered", __wasi_fd_fdstat_get(ro, &fds));
  P("renumbered_flags", "%d", fds.fs_flags);
  E("renumber_bad", __wasi_fd_renumber(77, ro));
  // The target must be open too (as wasmtime): nothing moves, nothing opens at 60.
  E("renumber_to_closed", __wasi_fd_renumber(ro, 60));
  E("fdstat_after_renumber_to_closed", __wasi_fd_fdstat_get(ro, &fds));
  E("fdstat_60", __wasi_fd_fdstat_get(60, &fds));
  E("close", __wasi_fd_close(ro));
  E("close_again", __wasi_fd_close(ro));
  // A directory fd: no reading, seeking or sizing; fdstat like wasmtime.
  __wasi_fd_t dfd;
  E("open_dir_for_writing", __wasi_path_open(3, 0, "sub", __WASI_OFLAGS_DIRECTORY, ALL_RIGHTS, ALL_RIGHTS, 0, &dfd));
  E("open_dir", __wasi_path_open(3, 0, "sub", __WASI_OFLAGS_DIRECTORY, ALL_RIGHTS & ~__WASI_RIGHTS_FD_WRITE, ALL_RIGHTS, 0, &dfd));
  E("dir_read", __wasi_fd_read(dfd, &one, 1, &n));
  E("dir_write", __wasi_fd_write(dfd, &ap, 1, &n));
  E("dir_seek", __wasi_fd_seek(dfd, 0, __WASI_WHENCE_SET, &pos));
  E("dir_set_size", __wasi_fd_filestat_set_size(dfd, 0));
  E("dir_sync", __wasi_fd_sync(dfd));
  E("dir_filestat", __wasi_fd_filestat_get(dfd, &st));
  P("dir_filetype", "%d", st.filetype);
  E("dir_fdstat", __wasi_fd_fdstat_get(dfd, &fds));
  P("dir_base", "0x%llx", (unsigned long long)fds.fs_rights_base);
  E("dir_prestat", __wasi_fd_prestat_get(dfd, (__wasi_prestat_t *)rb));
  E("dir_prestat_dir_name", __wasi_fd_prestat_dir_name(dfd, (uint8_t *)rb, sizeof rb));
  E("path_open_on_file", __wasi_path_open(fd, 0, "x", 0, 0, 0, 0, &fd2));
  E("mkdir_on_file", __wasi_path_create_directory(fd, "x"));
  E("readdir_on_file", __wasi_fd_readdir(fd, (uint8_t *)rb, sizeof rb, 0, &n));
  E("close_dir", __wasi_fd_close(dfd));
  E("close_file", __wasi_fd_close(fd));
  // Pre-open.
  __wasi_prestat_t ps;
  E("prestat3", __wasi_fd_prestat_get(3, &ps));
  P("prestat3_tag", "%d", ps.tag);
  P("prestat3_len", "%u", (unsigned)ps.u.dir.pr_name_len);
  memset(rb, 0, sizeof rb);
  E("prestat_dir_name3", __wasi_fd_prestat_dir_name(3, (uint8_t *)rb, sizeof rb));
  P("prestat3_name", "[%s]", rb);
  E("prestat_dir_name3_short", __wasi_fd_prestat_dir_name(3, (uint8_t *)rb, 2));
  E("fdstat3", __wasi_fd_fdstat_get(3, &fds));
  P("preopen_type", "%d", fds.fs_filetype);
  P("preopen_base", "0x%llx", (unsigned long long)fds.fs_rights_base);
  P("preopen_inh", "0x%llx", (unsigned long long)fds.fs_rights_inheriting);
  E("prestat_next", __wasi_fd_prestat_get(4, &ps));
}

// Path operations and their errnos.
static void scenario_paths(void) {
  __wasi_fd_t fd;
  E("mkdir", __wasi_path_create_directory(3, "d"));
  E("mkdir_exists", __wasi_path_create_directory(3, "d"));
  E("mkdir_trailing_slash", __wasi_path_create_directory(3, "d2/"));
  E("mkdir_missing_parent", __wasi_path_create_directory(3, "nope/d"));
  E("create_file", __wasi_path_open(3, 0, "d/f", __WASI_OFLAGS_CREAT, ALL_RIGHTS, 0, 0, &fd));
  E("close_f", __wasi_fd_close(fd));
  E("creat_excl_exists", __wasi_path_open(3, 0, "d/f", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, ALL_RIGHTS, 0, 0, &fd));
  E("open_missing", __wasi_path_open(3, 0, "missing", 0, ALL_RIGHTS, 0, 0, &fd));
  E("open_file_as_dir", __wasi_path_open(3, 0, "d/f", __WASI_OFLAGS_DIRECTORY, 0, 0, 0, &fd));
  E("open_through_file", __wasi_path_open(3, 0, "d/f/x", 0, ALL_RIGHTS, 0, 0, &fd));
  E("open_file_trailing_slash", __wasi_path_open(3, 0, "d/f/", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
  E("open_empty_path", __wasi_path_open(3, 0, "", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
  E("open_dir_for_write", __wasi_path_open(3, 0, "d", 0, __WASI_RIGHTS_FD_WRITE, 0, 0, &fd));
  E("open_dot", __wasi_path_open(3, 0, ".", __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READDIR, 0, 0, &fd));
  E("close_dot", __wasi_fd_close(fd));
  E("open_dir_no_flag", __wasi_path_open(3, 0, "d", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
  __wasi_fdstat_t fds;
  E("fdstat_dir_no_flag", __wasi_fd_fdstat_get(fd, &fds));
  P("dir_no_flag_type", "%d", fds.fs_filetype);
  E("close_d", __wasi_fd_close(fd));
  E("rmdir_not_empty", __wasi_path_remove_directory(3, "d"));
  E("rmdir_file", __wasi_path_remove_directory(3, "d/f"));
  E("unlink_dir", __wasi_path_unlink_file(3, "d"));
  E("unlink_missing", __wasi_path_unlink_file(3, "d/missing"));
  E("unlink_trailing_slash", __wasi_path_unlink_file(3, "d/f/"));
  E("unlink_dir_trailing_slash", __wasi_path_unlink_file(3, "d/"));
  E("link_new_trailing_slash", __wasi_path_link(3, 0, "d/f", 3, "newlink/"));
  E("link_follow", __wasi_path_link(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "d/f", 3, "x"));
  E("symlink_onto_dir_slash", __wasi_path_symlink("x", 3, "d/"));
  E("symlink_onto_file_slash", __wasi_path_symlink("x", 3, "d/f/"));
  E("link", __wasi_path_link(3, 0, "d/f", 3, "hard"));
  E("link_exists", __wasi_path_link(3, 0, "d/f", 3, "hard"));
  E("link_dir", __wasi_path_link(3, 0, "d", 3, "dlink"));
  __wasi_filestat_t st;
  E("stat_hard", __wasi_path_filestat_get(3, 0, "hard", &st));
  P("hard_nlink", "%llu", (unsigned long long)st.nlink);
  E("rename_file", __wasi_path_rename(3, "hard", 3, "d/moved"));
  E("rename_missing", __wasi_path_rename(3, "hard", 3, "x"));
  E("rename_dir", __wasi_path_rename(3, "d", 3, "e"));
  E("stat_renamed", __wasi_path_filestat_get(3, 0, "e/moved", &st));
  P("renamed_type", "%d", st.filetype);
  E("rename_dir_into_itself", __wasi_path_rename(3, "e", 3, "e/sub"));
  E("mkdir_empty", __wasi_path_create_directory(3, "empty"));
  E("rename_file_onto_dir", __wasi_path_rename(3, "e/moved", 3, "empty"));
  E("rename_dir_onto_file", __wasi_path_rename(3, "empty", 3, "e/moved"));
  E("rename_dir_onto_empty_dir", __wasi_path_rename(3, "e", 3, "empty"));
  E("unlink_moved", __wasi_path_unlink_file(3, "empty/moved"));
  E("unlink_f", __wasi_path_unlink_file(3, "empty/f"));
  E("rmdir", __wasi_path_remove_directory(3, "empty"));
  E("rmdir_again", __wasi_path_remove_directory(3, "empty"));
  E("rmdir_dot", __wasi_path_remove_directory(3, "."));
  E("stat_dot", __wasi_path_filestat_get(3, 0, ".", &st));
  P("dot_type", "%d", st.filetype);
  E("stat_bad_fd", __wasi_path_filestat_get(99, 0, ".", &st));
  E("set_times_path", __wasi_path_filestat_set_times(3, 0, ".", 1000000000123456789ull, 1000000000987654321ull,
                                                       __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM));
  E("stat_dot2", __wasi_path_filestat_get(3, 0, ".", &st));
  P("dot_atim", "%llu", (unsigned long long)st.atim);
  P("dot_mtim", "%llu", (unsigned long long)st.mtim);
}

// Symlinks and readlink.
static void scenario_symlinks(void) {
  __wasi_fd_t fd;
  __wasi_filestat_t st;
  uint8_t buf[64];
  __wasi_size_t used;
  E("symlink", __wasi_path_symlink("target.txt", 3, "link"));
  E("symlink_exists", __wasi_path_symlink("other", 3, "link"));
  E("symlink_dangling", __wasi_path_symlink("nowhere", 3, "dangling"));
  E("readlink", __wasi_path_readlink(3, "link", buf, sizeof buf, &used));
  P("readlink_text", "%u [%.*s]", (unsigned)used, (int)used, (char *)buf);
  memset(buf, '#', sizeof buf);
  E("readlink_short", __wasi_path_readlink(3, "link", buf, 4, &used));
  P("readlink_short_text", "%u [%.*s] next=%c", (unsigned)used, (int)used, (char *)buf, buf[4]);
  E("readlink_zero", __wasi_path_readlink(3, "link", buf, 0, &used));
  P("readlink_zero_used", "%u", (unsigned)used);
  E("readlink_not_link", __wasi_path_readlink(3, "target.txt", buf, sizeof buf, &used));
  E("readlink_missing", __wasi_path_readlink(3, "missing", buf, sizeof buf, &used));
  E("stat_follow", __wasi_path_filestat_get(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link", &st));
  P("stat_follow_type", "%d size=%llu", st.filetype, (unsigned long long)st.size);
  E("stat_nofollow", __wasi_path_filestat_get(3, 0, "link", &st));
  P("stat_nofollow_type", "%d size=%llu", st.filetype, (unsigned long long)st.size);
  E("open_follow", __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
  E("close", __wasi_fd_close(fd));
  E("open_nofollow", __wasi_path_open(3, 0, "link", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
  E("open_dangling", __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "dangling", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
  E("create_through_dangling", __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "dangling", __WASI_OFLAGS_CREAT, ALL_RIGHTS, 0, 0, &fd));
  E("close2", __wasi_fd_close(fd));
  E("stat_nowhere", __wasi_path_filestat_get(3, 0, "nowhere", &st));
  E("excl_through_link", __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, ALL_RIGHTS, 0, 0, &fd));
  E("symlink_dir", __wasi_path_symlink("sub", 3, "sublink"));
  E("open_via_dirlink", __wasi_path_open(3, 0, "sublink/inner.txt", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
  E("close3", __wasi_fd_close(fd));
  E("symlink_trailing_slash", __wasi_path_symlink("target.txt", 3, "slashlink/"));
  E("unlink_link", __wasi_path_unlink_file(3, "link"));
  E("stat_target_after_unlink", __wasi_path_filestat_get(3, 0, "target.txt", &st));
  E("rmdir_dirlink", __wasi_path_remove_directory(3, "sublink"));
  E("unlink_dirlink", __wasi_path_unlink_file(3, "sublink"));
  E("stat_sub_after", __wasi_path_filestat_get(3, 0, "sub", &st));
  P("sub_type", "%d", st.filetype);
  E("lset_times_link", __wasi_path_filestat_set_times(3, 0, "dangling", 3000000000000000007ull, 3000000000000000009ull,
                                                        __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM));
  E("lstat_dangling", __wasi_path_filestat_get(3, 0, "dangling", &st));
  P("dangling_mtim", "%llu", (unsigned long long)st.mtim);
}

// APPEND switched on at open and off with fd_fdstat_set_flags (wasmtime's preview1_fd_flags_set,
// asking for the rights it uses: ww enforces them).
static void scenario_flags(void) {
  __wasi_fd_t fd;
  __wasi_size_t n;
  __wasi_filesize_t pos;
  uint8_t data[100], buf[100];
  E("open_append", __wasi_path_open(3, 0, "flags.bin", __WASI_OFLAGS_CREAT,
                                     __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SEEK |
                                         __WASI_RIGHTS_FD_FDSTAT_SET_FLAGS,
                                     0, __WASI_FDFLAGS_APPEND, &fd));
  __wasi_ciovec_t out = {data, sizeof data};
  __wasi_iovec_t in = {buf, sizeof buf};
  memset(data, 0, sizeof data);
  E("write0", __wasi_fd_write(fd, &out, 1, &n));
  memset(data, 1, sizeof data);
  E("seek_start", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos));
  E("write1_appends", __wasi_fd_write(fd, &out, 1, &n));
  E("seek_100", __wasi_fd_seek(fd, 100, __WASI_WHENCE_SET, &pos));
  E("read1", __wasi_fd_read(fd, &in, 1, &n));
  P("read1_is_ones", "%d", n == 100 && buf[0] == 1 && buf[99] == 1);
  E("clear_flags", __wasi_fd_fdstat_set_flags(fd, 0));
  __wasi_fdstat_t st;
  E("fdstat", __wasi_fd_fdstat_get(fd, &st));
  P("flags_after_clear", "%d", st.fs_flags);
  memset(data, 2, sizeof data);
  E("seek_start2", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos));
  E("write2_overwrites", __wasi_fd_write(fd, &out, 1, &n));
  E("seek_start3", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos));
  E("read2", __wasi_fd_read(fd, &in, 1, &n));
  P("read2_is_twos", "%d", n == 100 && buf[0] == 2 && buf[99] == 2);
  E("set_append_again", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_APPEND));
  E("write3_appends", __wasi_fd_write(fd, &out, 1, &n));
  E("close", __wasi_fd_close(fd));
  __wasi_filestat_t fst;
  E("stat", __wasi_path_filestat_get(3, 0, "flags.bin", &fst));
  P("size", "%llu", (unsigned long long)fst.size);
}

// Rights are enforced: what fd_fdstat_set_rights drops, or a directory does not pass on, is refused.
static void scenario_rights(void) {
  __wasi_fd_t fd, dfd, f2;
  __wasi_size_t n;
  __wasi_filesize_t pos;
  __wasi_fdstat_t fds;
  __wasi_filestat_t st;
  char rb[16] = {0};
  __wasi_iovec_t in = {(uint8_t *)rb, sizeof rb - 1};
  __wasi_ciovec_t out = {(const uint8_t *)"hello", 5};
  E("open", __wasi_path_open(3, 0, "r.txt", __WASI_OFLAGS_CREAT, ALL_RIGHTS, 0, 0, &fd));
  E("write", __wasi_fd_write(fd, &out, 1, &n));
  E("fdstat", __wasi_fd_fdstat_get(fd, &fds));
  __wasi_rights_t base = fds.fs_rights_base;
  // Dropping FD_READ and FD_WRITE: reading and writing fail (EBADF, as POSIX for an fd not open for it).
  E("drop_rw", __wasi_fd_fdstat_set_rights(fd, base & ~(__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE), 0));
  E("read_dropped", __wasi_fd_read(fd, &in, 1, &n));
  E("write_dropped", __wasi_fd_write(fd, &out, 1, &n));
  E("pread_dropped", __wasi_fd_pread(fd, &in, 1, 0, &n));
  E("pwrite_dropped", __wasi_fd_pwrite(fd, &out, 1, 0, &n));
  E("regain", __wasi_fd_fdstat_set_rights(fd, base, 0));
  // Dropping FD_SEEK: seeking fails (EPERM), but reading the position (FD_TELL) still works.
  E("drop_seek", __wasi_fd_fdstat_set_rights(fd, base & ~(__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SEEK), 0));
  E("seek_dropped", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos));
  E("seek_cur_0", __wasi_fd_seek(fd, 0, __WASI_WHENCE_CUR, &pos));
  P("pos", "%llu", (unsigned long long)pos);
  E("tell", __wasi_fd_tell(fd, &pos));
  // Dropping everything: only calls that need no right work.
  E("drop_all", __wasi_fd_fdstat_set_rights(fd, 0, 0));
  E("filestat_dropped", __wasi_fd_filestat_get(fd, &st));
  E("set_size_dropped", __wasi_fd_filestat_set_size(fd, 0));
  E("set_flags_dropped", __wasi_fd_fdstat_set_flags(fd, 0));
  E("sync_dropped", __wasi_fd_sync(fd));
  E("tell_dropped", __wasi_fd_tell(fd, &pos));
  E("fdstat_dropped", __wasi_fd_fdstat_get(fd, &fds));
  P("base_dropped", "0x%llx", (unsigned long long)fds.fs_rights_base);
  E("close", __wasi_fd_close(fd));
  // A directory that no longer passes on FD_READ (WASI testsuite path_open_read_without_rights):
  // a file opened from it, with no rights or asking for FD_READ, cannot be read.
  E("open_dir", __wasi_path_open(3, 0, "sub", __WASI_OFLAGS_DIRECTORY, ALL_RIGHTS & ~__WASI_RIGHTS_FD_WRITE, ALL_RIGHTS, 0, &dfd));
  E("dir_fdstat", __wasi_fd_fdstat_get(dfd, &fds));
  __wasi_rights_t dir_inheriting = fds.fs_rights_inheriting & ~__WASI_RIGHTS_FD_READ;
  E("dir_drop_read", __wasi_fd_fdstat_set_rights(dfd, fds.fs_rights_base, dir_inheriting));
  E("open_no_rights", __wasi_path_open(dfd, 0, "inner.txt", 0, 0, 0, 0, &f2));
  E("no_rights_fdstat", __wasi_fd_fdstat_get(f2, &fds));
  P("no_rights_has_read", "%d", (fds.fs_rights_base & __WASI_RIGHTS_FD_READ) != 0);
  E("no_rights_read", __wasi_fd_read(f2, &in, 1, &n));
  E("close_no_rights", __wasi_fd_close(f2));
  E("open_asking_read", __wasi_path_open(dfd, 0, "inner.txt", 0, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, 0, 0, &f2));
  E("asking_read_fdstat", __wasi_fd_fdstat_get(f2, &fds));
  P("asking_read_has_read", "%d", (fds.fs_rights_base & __WASI_RIGHTS_FD_READ) != 0);
  P("asking_read_has_write", "%d", (fds.fs_rights_base & __WASI_RIGHTS_FD_WRITE) != 0);
  E("asking_read_read", __wasi_fd_read(f2, &in, 1, &n));
  E("close_asking_read", __wasi_fd_close(f2));
  // Directory rights: each path_* call needs its own.
  E("dir_drop_path_rights", __wasi_fd_fdstat_set_rights(dfd, __WASI_RIGHTS_PATH_OPEN, dir_inheriting));
  E("mkdir_dropped", __wasi_path_create_directory(dfd, "newdir"));
  E("stat_dropped", __wasi_path_filestat_get(dfd, 0, "inner.txt", &st));
  E("unlink_dropped", __wasi_path_unlink_file(dfd, "inner.txt"));
  E("readdir_dropped", __wasi_fd_readdir(dfd, (uint8_t *)rb, sizeof rb, 0, &n));
  E("creat_dropped", __wasi_path_open(dfd, 0, "new.txt", __WASI_OFLAGS_CREAT, 0, 0, 0, &f2));
  E("open_kept", __wasi_path_open(dfd, 0, "inner.txt", 0, 0, 0, 0, &f2));
  E("close_kept", __wasi_fd_close(f2));
  E("drop_open", __wasi_fd_fdstat_set_rights(dfd, 0, 0));
  E("open_dropped", __wasi_path_open(dfd, 0, "inner.txt", 0, 0, 0, 0, &f2));
  // A pre-open without PATH_FILESTAT_SET_SIZE cannot truncate through path_open (witx), and the file is untouched.
  E("preopen_fdstat", __wasi_fd_fdstat_get(3, &fds));
  E("preopen_drop_trunc", __wasi_fd_fdstat_set_rights(3, fds.fs_rights_base & ~__WASI_RIGHTS_PATH_FILESTAT_SET_SIZE,
                                                       fds.fs_rights_inheriting));
  E("trunc_dropped", __wasi_path_open(3, 0, "r.txt", __WASI_OFLAGS_TRUNC, ALL_RIGHTS, 0, 0, &f2));
  E("open_without_trunc", __wasi_path_open(3, 0, "r.txt", 0, __WASI_RIGHTS_FD_READ, 0, 0, &f2));
  memset(rb, 0, sizeof rb);
  E("read_untruncated", __wasi_fd_read(f2, &in, 1, &n));
  P("content", "[%s]", rb);
}

static void scenario_exit(int code) {
  printf("before exit\n");
  fflush(stdout);
  __wasi_proc_exit(code);
}

int main(int argc, char **argv) {
  const char *s = argc > 1 ? argv[1] : "";
  if (!strcmp(s, "args")) scenario_args();
  else if (!strcmp(s, "clock")) scenario_clock();
  else if (!strcmp(s, "random")) scenario_random();
  else if (!strcmp(s, "stdio")) scenario_stdio();
  else if (!strcmp(s, "sock")) scenario_sock();
  else if (!strcmp(s, "fdops")) scenario_fdops();
  else if (!strcmp(s, "paths")) scenario_paths();
  else if (!strcmp(s, "symlinks")) scenario_symlinks();
  else if (!strcmp(s, "flags")) scenario_flags();
  else if (!strcmp(s, "rights")) scenario_rights();
  else if (!strcmp(s, "exit")) scenario_exit(atoi(argv[2]));
  else {
    printf("unknown scenario %s\n", s);
    return 2;
  }
  return 0;
}
