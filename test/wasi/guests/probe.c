// A WASI probe for the conformance and sandbox tests. Each argument is one
// command "op:arg1:arg2:..." run with raw wasi_snapshot_preview1 calls on the
// first pre-open (fd 3), so the test sees exactly what the host returned.
// Each command prints one line: "<op> ok <result>" or "<op> err <errno>".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define DIRFD 3
#define R_READ (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_READDIR | __WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_TELL | __WASI_RIGHTS_FD_FILESTAT_GET)
#define R_WRITE (__WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_TELL | __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE)

static char *args[8];

static int split(char *cmd) {
  int n = 0;
  args[n++] = cmd;
  for (char *p = cmd; *p && n < 8; p++) {
    if (*p == ':') {
      *p = 0;
      args[n++] = p + 1;
    }
  }
  return n;
}

static void err(const char *op, __wasi_errno_t e) { printf("%s err %d\n", op, e); }

static void do_read(const char *op, const char *path, __wasi_lookupflags_t follow) {
  __wasi_fd_t fd;
  __wasi_errno_t e = __wasi_path_open(DIRFD, follow, path, 0, R_READ, 0, 0, &fd);
  if (e) return err(op, e);
  char buf[4096];
  size_t total = 0;
  for (;;) {
    __wasi_iovec_t iov = {(uint8_t *)buf + total, sizeof buf - 1 - total};
    __wasi_size_t n;
    e = __wasi_fd_read(fd, &iov, 1, &n);
    if (e) {
      (void)__wasi_fd_close(fd);
      return err(op, e);
    }
    if (n == 0 || total + n >= sizeof buf - 1) {
      total += n;
      break;
    }
    total += n;
  }
  buf[total] = 0;
  (void)__wasi_fd_close(fd);
  printf("%s ok %s\n", op, buf);
}

static void do_write(const char *op, const char *path, const char *text, __wasi_oflags_t oflags, __wasi_fdflags_t fdflags,
                     __wasi_lookupflags_t follow) {
  __wasi_fd_t fd;
  __wasi_errno_t e = __wasi_path_open(DIRFD, follow, path, oflags, R_WRITE, 0, fdflags, &fd);
  if (e) return err(op, e);
  __wasi_ciovec_t iov = {(const uint8_t *)text, strlen(text)};
  __wasi_size_t n;
  e = __wasi_fd_write(fd, &iov, 1, &n);
  (void)__wasi_fd_close(fd);
  if (e) return err(op, e);
  printf("%s ok %u\n", op, (unsigned)n);
}

static void do_stat(const char *op, const char *path, __wasi_lookupflags_t follow) {
  __wasi_filestat_t st;
  __wasi_errno_t e = __wasi_path_filestat_get(DIRFD, follow, path, &st);
  if (e) return err(op, e);
  printf("%s ok type=%d size=%llu nlink=%llu ino=%llu atim=%llu mtim=%llu\n", op, st.filetype, (unsigned long long)st.size,
         (unsigned long long)st.nlink, (unsigned long long)st.ino, (unsigned long long)st.atim, (unsigned long long)st.mtim);
}

// Lists a directory with fd_readdir using a buffer of `bufsize` bytes, following cookies.
static void do_ls(const char *op, const char *path, size_t bufsize) {
  __wasi_fd_t fd;
  __wasi_errno_t e = __wasi_path_open(DIRFD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, __WASI_OFLAGS_DIRECTORY, R_READ, 0, 0, &fd);
  if (e) return err(op, e);
  uint8_t *buf = malloc(bufsize);
  __wasi_dircookie_t cookie = 0;
  printf("%s ok", op);
  int guard = 0;
  for (;;) {
    __wasi_size_t used;
    e = __wasi_fd_readdir(fd, buf, bufsize, cookie, &used);
    if (e) {
      printf(" ERR%d", e);
      break;
    }
    size_t off = 0;
    int progressed = 0;
    while (off + sizeof(__wasi_dirent_t) <= used) {
      __wasi_dirent_t d;
      memcpy(&d, buf + off, sizeof d);
      if (off + sizeof d + d.d_namlen > used) break; // cut off: fetch again from this cookie
      printf(" %.*s/%d/%llu", (int)d.d_namlen, (char *)buf + off + sizeof d, d.d_type, (unsigned long long)d.d_ino);
      off += sizeof d + d.d_namlen;
      cookie = d.d_next;
      progressed = 1;
    }
    if (used < bufsize) break;
    if (!progressed) {
      printf(" SMALLBUF");
      break;
    }
    if (++guard > 10000) break;
  }
  printf("\n");
  free(buf);
  (void)__wasi_fd_close(fd);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    char *cmd = strdup(argv[i]);
    int n = split(cmd);
    const char *op = args[0];
    const char *a = n > 1 ? args[1] : "";
    const char *b = n > 2 ? args[2] : "";
    __wasi_errno_t e;
    if (!strcmp(op, "read")) do_read(op, a, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW);
    else if (!strcmp(op, "readnf")) do_read(op, a, 0);
    else if (!strcmp(op, "write")) do_write(op, a, b, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, 0, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW);
    else if (!strcmp(op, "writenf")) do_write(op, a, b, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, 0, 0);
    else if (!strcmp(op, "append")) do_write(op, a, b, __WASI_OFLAGS_CREAT, __WASI_FDFLAGS_APPEND, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW);
    else if (!strcmp(op, "creatx")) do_write(op, a, b, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW);
    else if (!strcmp(op, "stat")) do_stat(op, a, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW);
    else if (!strcmp(op, "lstat")) do_stat(op, a, 0);
    else if (!strcmp(op, "ls")) do_ls(op, a, n > 2 ? (size_t)atoi(b) : 4096);
    else if (!strcmp(op, "opendir")) {
      __wasi_fd_t fd;
      e = __wasi_path_open(DIRFD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, a, __WASI_OFLAGS_DIRECTORY, R_READ, 0, 0, &fd);
      if (e) err(op, e);
      else {
        (void)__wasi_fd_close(fd);
        printf("%s ok\n", op);
      }
    } else {
      if (!strcmp(op, "mkdir")) e = __wasi_path_create_directory(DIRFD, a);
      else if (!strcmp(op, "rmdir")) e = __wasi_path_remove_directory(DIRFD, a);
      else if (!strcmp(op, "unlink")) e = __wasi_path_unlink_file(DIRFD, a);
      else if (!strcmp(op, "symlink")) e = __wasi_path_symlink(a, DIRFD, b);
      else if (!strcmp(op, "link")) e = __wasi_path_link(DIRFD, 0, a, DIRFD, b);
      else if (!strcmp(op, "linkf")) e = __wasi_path_link(DIRFD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, a, DIRFD, b);
      else if (!strcmp(op, "rename")) e = __wasi_path_rename(DIRFD, a, DIRFD, b);
      else if (!strcmp(op, "settimes") || !strcmp(op, "lsettimes"))
        e = __wasi_path_filestat_set_times(DIRFD, op[0] == 's' ? __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW : 0, a, strtoull(b, 0, 10),
                                           strtoull(n > 3 ? args[3] : "0", 0, 10), __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM);
      else if (!strcmp(op, "touchnow"))
        e = __wasi_path_filestat_set_times(DIRFD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, a, 0, 0, __WASI_FSTFLAGS_MTIM_NOW);
      else if (!strcmp(op, "readlink")) {
        uint8_t buf[256];
        __wasi_size_t cap = n > 2 ? (__wasi_size_t)atoi(b) : sizeof buf, used;
        e = __wasi_path_readlink(DIRFD, a, buf, cap, &used);
        if (!e) {
          printf("%s ok %u %.*s\n", op, (unsigned)used, (int)used, (char *)buf);
          free(cmd);
          continue;
        }
      } else {
        printf("%s unknown\n", op);
        free(cmd);
        continue;
      }
      if (e) err(op, e);
      else printf("%s ok\n", op);
    }
    free(cmd);
  }
  return 0;
}
