// An ordinary C program using wasi-libc (stdio, dirent, stat, unistd) against
// the pre-open /sb. The test runs it under ww's host and under node:wasi and
// expects the same output, exit code and resulting files.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
  printf("GREETING=%s\n", getenv("GREETING") ? getenv("GREETING") : "(unset)");

  FILE *f = fopen("/sb/out.txt", "w");
  if (!f) return 10;
  fprintf(f, "line one\nline two\n");
  fclose(f);
  f = fopen("/sb/out.txt", "a");
  fputs("line three\n", f);
  fclose(f);
  char line[64];
  f = fopen("/sb/out.txt", "r");
  while (fgets(line, sizeof line, f)) printf("read: %s", line);
  fseek(f, 5, SEEK_SET);
  printf("ftell=%ld\n", ftell(f));
  fclose(f);

  struct stat st;
  printf("stat=%d size=%lld isreg=%d\n", stat("/sb/out.txt", &st), (long long)st.st_size, S_ISREG(st.st_mode));
  printf("mkdir=%d\n", mkdir("/sb/dir", 0755));
  printf("mkdir_again=%d errno=%d\n", mkdir("/sb/dir", 0755), errno);
  printf("rename=%d\n", rename("/sb/out.txt", "/sb/dir/moved.txt"));
  printf("stat_old=%d errno=%d\n", stat("/sb/out.txt", &st), errno);
  printf("symlink=%d\n", symlink("dir/moved.txt", "/sb/link"));
  char buf[64] = {0};
  ssize_t n = readlink("/sb/link", buf, sizeof buf - 1);
  printf("readlink=%zd %s\n", n, buf);
  printf("lstat=%d islnk=%d\n", lstat("/sb/link", &st), S_ISLNK(st.st_mode));
  int fd = open("/sb/link", O_RDONLY);
  n = read(fd, buf, 8);
  buf[n] = 0;
  printf("read_via_link=%zd %s\n", n, buf);
  printf("lseek_end=%lld\n", (long long)lseek(fd, 0, SEEK_END));
  close(fd);
  printf("link=%d\n", link("/sb/dir/moved.txt", "/sb/hard.txt"));
  printf("nlink=%d\n", stat("/sb/hard.txt", &st) == 0 ? (int)st.st_nlink : -1);
  printf("unlink=%d\n", unlink("/sb/hard.txt"));
  printf("open_missing=%d errno=%d\n", open("/sb/missing", O_RDONLY), errno);

  DIR *d = opendir("/sb");
  char *names[32];
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d)) && count < 32) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    names[count++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, count, sizeof *names, cmp);
  for (int i = 0; i < count; i++) printf("entry: %s\n", names[i]);

  struct timespec ts;
  printf("clock=%d\n", clock_gettime(CLOCK_MONOTONIC, &ts));
  printf("rmdir_nonempty=%d errno=%d\n", rmdir("/sb/dir"), errno);
  fflush(stdout);
  return 3;
}
