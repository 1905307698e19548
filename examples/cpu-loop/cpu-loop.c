// A CPU-bound loop for limits and pause: runs N rounds of a 64-bit LCG + xorshift mix (argv[1],
// default 100000000) and prints a checksum, so the result depends on every iteration.
//   ww run examples/cpu-loop/cpu-loop.wasm -- 1000000
//   ww run --fuel 1000000 examples/cpu-loop/cpu-loop.wasm -- 1000000000   # exit 137: limit cpu
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

// noinline keeps a named function in the module, so traps and profiles name it.
__attribute__((noinline)) static uint64_t spin(uint64_t rounds) {
  uint64_t x = 0x9E3779B97F4A7C15ull, sum = 0;
  for (uint64_t i = 0; i < rounds; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    sum ^= (x >> 29) ^ (sum << 7) ^ (sum >> 3);
  }
  return sum;
}

int main(int argc, char **argv) {
  uint64_t rounds = 100000000ull;
  if (argc > 1) {
    char *end;
    rounds = strtoull(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0') {
      fprintf(stderr, "usage: %s [ROUNDS]\n", argv[0]);
      return 2;
    }
  }
  printf("rounds %" PRIu64 " checksum %016" PRIx64 "\n", rounds, spin(rounds));
  return 0;
}
