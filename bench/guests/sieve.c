// Sieve of Eratosthenes over N bytes, R rounds: memory-access bound. Prints primes and compute ms.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoul(argv[1], 0, 10) : 8u << 20;
  int rounds = argc > 2 ? atoi(argv[2]) : 10;
  unsigned char *composite = malloc(n);
  size_t primes = 0;
  double t0 = now_ms();
  for (int r = 0; r < rounds; r++) {
    memset(composite, 0, n);
    primes = 0;
    for (size_t i = 2; i < n; i++) {
      if (composite[i]) continue;
      primes++;
      for (size_t j = i + i; j < n; j += i) composite[j] = 1;
    }
  }
  printf("primes %zu compute_ms %.1f\n", primes, now_ms() - t0);
  return 0;
}
