// Word count over the files of a directory, like `wc` (lines, words, bytes), in C with wasi-libc.
// The directory must be pre-opened by the host:
//   ww run --dir examples/wordcount/data::/data examples/wordcount/wordcount.wasm -- /data
// Files are listed in name order so the output does not depend on the directory's order.
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct counts {
  unsigned long long lines, words, bytes;
};

static int count_file(const char *path, struct counts *out) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  struct counts c = {0, 0, 0};
  int in_word = 0;
  int ch;
  while ((ch = fgetc(f)) != EOF) {
    c.bytes++;
    if (ch == '\n') c.lines++;
    if (isspace(ch)) {
      in_word = 0;
    } else if (!in_word) {
      in_word = 1;
      c.words++;
    }
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) return -1;
  *out = c;
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argc > 0 ? argv[0] : "wordcount");
    return 2;
  }
  const char *dir = argv[1];
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "%s: cannot open directory %s: %s (is it pre-opened with --dir?)\n", argv[0], dir, strerror(errno));
    return 1;
  }
  char **names = NULL;
  size_t count = 0;
  struct dirent *entry;
  while ((entry = readdir(d)) != NULL) {
    if (entry->d_name[0] == '.') continue;  // ., .. and hidden files
    names = realloc(names, (count + 1) * sizeof *names);
    names[count++] = strdup(entry->d_name);
  }
  closedir(d);
  qsort(names, count, sizeof *names, by_name);

  struct counts total = {0, 0, 0};
  int status = 0;
  for (size_t i = 0; i < count; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;  // only regular files
    struct counts c;
    if (count_file(path, &c) != 0) {
      fprintf(stderr, "%s: %s: %s\n", argv[0], path, strerror(errno));
      status = 1;
      continue;
    }
    printf("%7llu %7llu %7llu %s\n", c.lines, c.words, c.bytes, path);
    total.lines += c.lines;
    total.words += c.words;
    total.bytes += c.bytes;
    free(names[i]);
  }
  free(names);
  printf("%7llu %7llu %7llu total\n", total.lines, total.words, total.bytes);
  return status;
}
