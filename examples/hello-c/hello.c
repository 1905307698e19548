// Hello world for ww in C (clang + wasi-libc): greets, then prints its arguments, one per line.
//   ww run examples/hello.wasm -- one two
#include <stdio.h>

int main(int argc, char **argv) {
  printf("hello from C on ww\n");
  for (int i = 0; i < argc; i++) {
    printf("argv[%d] = %s\n", i, argv[i]);
  }
  return 0;
}
