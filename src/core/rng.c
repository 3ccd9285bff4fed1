/*
** rng.c: Philox4x32-10 streams and normal/uniform fills.
*/
#include <math.h>
#include <stdlib.h>

#include <Random123/philox.h>

#include "kubo/alloc.h"
#include "kubo/rng.h"
#include "tensor_iter.h"

/* Fills of at least this many values are split across OpenMP threads. */
enum { PARALLEL_MIN = 1 << 15 };


void kubo_rng_init(kubo_rng *rng, uint64_t seed, uint64_t stream) {
  rng->seed = seed;
  rng->stream = stream;
  rng->position = 0;
}


void kubo_philox_block(uint64_t seed, uint64_t stream, uint64_t position,
                       uint32_t out[4]) {
  philox4x32_ctr_t c = {{(uint32_t)position, (uint32_t)(position >> 32),
                         (uint32_t)stream, (uint32_t)(stream >> 32)}};
  philox4x32_key_t k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
  philox4x32_ctr_t r = philox4x32(c, k);
  out[0] = r.v[0];
  out[1] = r.v[1];
  out[2] = r.v[2];
  out[3] = r.v[3];
}


uint64_t kubo_rng_substream(uint64_t stream, uint64_t k) {
  /* splitmix64 finaliser of (stream, k): a bijection of its input, and
  ** the input is injective in k for a fixed stream. */
  uint64_t z = stream * 0x9E3779B97F4A7C15ull + k + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}


/* 53 random bits as a double in [0, 1). */
static inline double to_unit(uint32_t hi, uint32_t lo) {
  uint64_t bits = ((uint64_t)hi << 21) ^ (uint64_t)(lo >> 11);
  return (double)bits * 0x1.0p-53;
}


static inline void normal_pair(const uint32_t w[4], double *z0,
                               double *z1) {
  /* u1 in (0, 1] keeps the logarithm finite. */
  double u1 = 1.0 - to_unit(w[0], w[1]);
  double u2 = to_unit(w[2], w[3]);
  double r = sqrt(-2.0 * log(u1));
  double a = 6.283185307179586476925 * u2;
  *z0 = r * cos(a);
  *z1 = r * sin(a);
}


static void normal_range(uint64_t seed, uint64_t stream, uint64_t position,
                         double *x, int64_t first, int64_t last) {
  /* values [first, last) of a fill: value i is in block i / 2 */
  for (int64_t i = first & ~(int64_t)1; i < last; i += 2) {
    uint32_t w[4];
    double z0, z1;
    kubo_philox_block(seed, stream, position + (uint64_t)(i / 2), w);
    normal_pair(w, &z0, &z1);
    if (i >= first) x[i] = z0;
    if (i + 1 < last) x[i + 1] = z1;
  }
}


static void uniform_range(uint64_t seed, uint64_t stream, uint64_t position,
                          double *x, int64_t first, int64_t last) {
  for (int64_t i = first & ~(int64_t)1; i < last; i += 2) {
    uint32_t w[4];
    kubo_philox_block(seed, stream, position + (uint64_t)(i / 2), w);
    if (i >= first) x[i] = to_unit(w[0], w[1]);
    if (i + 1 < last) x[i + 1] = to_unit(w[2], w[3]);
  }
}


typedef void (*range_fn)(uint64_t, uint64_t, uint64_t, double *, int64_t,
                         int64_t);

static void fill_parallel(range_fn fn, uint64_t seed, uint64_t stream,
                          uint64_t position, double *x, int64_t n) {
  if (n < PARALLEL_MIN) {
    fn(seed, stream, position, x, 0, n);
    return;
  }
  /* Chunks of an even length, so each block belongs to one chunk. */
  const int64_t chunk = 4096;
  int64_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nchunks; c++) {
    int64_t last = (c + 1) * chunk < n ? (c + 1) * chunk : n;
    fn(seed, stream, position, x, c * chunk, last);
  }
}


void kubo_rng_normal_at(uint64_t seed, uint64_t stream, uint64_t position,
                        double *x, int64_t n) {
  fill_parallel(normal_range, seed, stream, position, x, n);
}


void kubo_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t position,
                         double *x, int64_t n) {
  fill_parallel(uniform_range, seed, stream, position, x, n);
}


void kubo_rng_normal(kubo_rng *rng, double *x, int64_t n) {
  if (n <= 0) return;
  kubo_rng_normal_at(rng->seed, rng->stream, rng->position, x, n);
  rng->position += (uint64_t)((n + 1) / 2);
}


void kubo_rng_uniform(kubo_rng *rng, double *x, int64_t n) {
  if (n <= 0) return;
  kubo_rng_uniform_at(rng->seed, rng->stream, rng->position, x, n);
  rng->position += (uint64_t)((n + 1) / 2);
}


void kubo_rng_normal_f32(kubo_rng *rng, float *x, int64_t n) {
  /* Converts in blocks through a small buffer of doubles, which gives the
  ** same values as kubo_rng_normal rounded to float. */
  double buf[512];
  for (int64_t i = 0; i < n; i += 512) {
    int64_t m = n - i < 512 ? n - i : 512;
    kubo_rng_normal_at(rng->seed, rng->stream,
                       rng->position + (uint64_t)(i / 2), buf, m);
    for (int64_t j = 0; j < m; j++) x[i + j] = (float)buf[j];
  }
  if (n > 0) rng->position += (uint64_t)((n + 1) / 2);
}


double kubo_rng_normal1(kubo_rng *rng) {
  uint32_t w[4];
  double z0, z1;
  kubo_philox_block(rng->seed, rng->stream, rng->position++, w);
  normal_pair(w, &z0, &z1);
  return z0;
}


double kubo_rng_uniform1(kubo_rng *rng) {
  uint32_t w[4];
  kubo_philox_block(rng->seed, rng->stream, rng->position++, w);
  return to_unit(w[0], w[1]);
}


static kubo_status fill_tensor(kubo_rng *rng, kubo_tensor *t, int normal,
                               double a, double b) {
  int64_t n;
  double *tmp;
  kubo_iter it;
  if (t->storage == NULL)
    return kubo_error_set(KUBO_ESTATE, "rng: tensor is empty or freed");
  n = kubo_tensor_numel(t);
  if (t->dtype == KUBO_FLOAT64 && kubo_tensor_is_contiguous(t)) {
    double *x = t->data;
    if (normal) kubo_rng_normal(rng, x, n); else kubo_rng_uniform(rng, x, n);
    for (int64_t i = 0; i < n; i++) x[i] = normal ? a + b * x[i]
                                                  : a + (b - a) * x[i];
    return KUBO_OK;
  }
  tmp = kubo_alloc((size_t)n * sizeof(double));
  if (tmp == NULL) return KUBO_ENOMEM;
  if (normal) kubo_rng_normal(rng, tmp, n); else kubo_rng_uniform(rng, tmp, n);
  kubo_iter_init(&it, t);
  for (int64_t i = 0; i < n; i++) {
    double v = normal ? a + b * tmp[i] : a + (b - a) * tmp[i];
    kubo_iter_write(&it, t, v);
    kubo_iter_step(&it, t);
  }
  kubo_free(tmp, (size_t)n * sizeof(double));
  return KUBO_OK;
}


kubo_status kubo_rng_fill_normal(kubo_rng *rng, kubo_tensor *t,
                                 double mean, double std) {
  return fill_tensor(rng, t, 1, mean, std);
}


kubo_status kubo_rng_fill_uniform(kubo_rng *rng, kubo_tensor *t,
                                  double low, double high) {
  return fill_tensor(rng, t, 0, low, high);
}
