/*
** bench_rng.c: the time per value of kubo's normal and uniform fills
** against the per-block path that they replaced, in one run, for each
** SIMD variant of the fill kernels that the CPU supports. The reference
** runs Random123's philox4x32 on one block at a time through
** kubo_philox_block, then libm's log, sqrt, cos and sin. Built and run by
** scripts/bench/bench_rng.sh.
**
**   bench_rng [n ...]   fill lengths, default 1088 (the normals of one
**                       Allen-Cahn 32x32 member-step) and 65536
**
** Rounds alternate between the reference and kubo, so load from other
** processes slows both alike. Each figure is the best of 7 rounds of at
** least 0.2 s. Run it on one thread: fills of 2^15 values or more are
** parallel in kubo and serial in the reference.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kubo/rng.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}


static double unit(uint32_t hi, uint32_t lo) {
  return (double)(((uint64_t)hi << 21) ^ (uint64_t)(lo >> 11)) * 0x1p-53;
}


/* The normal fill before the batched kernels: one block at a time. */
static void reference_normal(uint64_t seed, uint64_t stream,
                             uint64_t position, double *x, int64_t n) {
  for (int64_t i = 0; i < n; i += 2) {
    uint32_t w[4];
    kubo_philox_block(seed, stream, position + (uint64_t)(i / 2), w);
    double r = sqrt(-2.0 * log(1.0 - unit(w[0], w[1])));
    double a = 6.283185307179586476925 * unit(w[2], w[3]);
    x[i] = r * cos(a);
    if (i + 1 < n) x[i + 1] = r * sin(a);
  }
}


static void reference_uniform(uint64_t seed, uint64_t stream,
                              uint64_t position, double *x, int64_t n) {
  for (int64_t i = 0; i < n; i += 2) {
    uint32_t w[4];
    kubo_philox_block(seed, stream, position + (uint64_t)(i / 2), w);
    x[i] = unit(w[0], w[1]);
    if (i + 1 < n) x[i + 1] = unit(w[2], w[3]);
  }
}


typedef void fill_fn(uint64_t, uint64_t, uint64_t, double *, int64_t);


/* Seconds per value of one round of fills at successive positions. */
static double round_seconds(fill_fn *fill, double *x, int64_t n,
                            uint64_t *position) {
  long reps = 0;
  double start = now(), elapsed;
  do {
    fill(1, 2, *position, x, n);
    *position += (uint64_t)(n + 1) / 2;
    reps++;
    elapsed = now() - start;
  } while (elapsed < 0.2);
  return elapsed / ((double)reps * (double)n);
}


static void compare(const char *what, fill_fn *reference, fill_fn *fill,
                    int64_t n) {
  double *x = malloc((size_t)n * sizeof(double));
  double best_ref = 1e300, best = 1e300;
  uint64_t position = 0;
  if (x == NULL) {
    fprintf(stderr, "bench_rng: out of memory for n = %lld\n",
            (long long)n);
    exit(1);
  }
  for (int round = 0; round < 7; round++) {
    double t_ref = round_seconds(reference, x, n, &position);
    double t = round_seconds(fill, x, n, &position);
    if (t_ref < best_ref) best_ref = t_ref;
    if (t < best) best = t;
  }
  printf("  %-8s %-8s n = %-7lld per block %6.2f ns/value   kubo %6.2f "
         "ns/value   speed-up %5.2f\n", what, kubo_rng_simd_get(),
         (long long)n, best_ref * 1e9, best * 1e9, best_ref / best);
  free(x);
}


int main(int argc, char **argv) {
  int64_t sizes[16] = {1088, 65536};
  int count = 2;
  if (argc > 1) {
    count = 0;
    for (int i = 1; i < argc && count < 16; i++) {
      char *end;
      long long n = strtoll(argv[i], &end, 10);
      if (*end != '\0' || n < 1) {
        fprintf(stderr, "bench_rng: invalid fill length '%s' (expected a "
                "positive integer)\n", argv[i]);
        return 2;
      }
      sizes[count++] = (int64_t)n;
    }
  }
  static const char *variants[] = {"avx512f", "avx2", "sse2", "generic"};
  for (int k = 0; k < count; k++) {
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
      if (kubo_rng_simd_set(variants[v]) != KUBO_OK) continue;
      compare("normal", reference_normal, kubo_rng_normal_at, sizes[k]);
      compare("uniform", reference_uniform, kubo_rng_uniform_at,
              sizes[k]);
    }
  }
  return 0;
}
