/*
** rng.c: Philox4x32-10 streams and normal/uniform fills.
*/
#include <math.h>
#include <stdlib.h>

#include <Random123/philox.h>

#include "kubo/rng.h"
#include "tensor_iter.h"

/* Fills of at least PARALLEL_MIN values are split across OpenMP threads
** in chunks of CHUNK values (even, so that each block belongs to one
** chunk). Each chunk is drawn through a stack buffer of BATCH doubles. */
enum { PARALLEL_MIN = 1 << 15, CHUNK = 4096, BATCH = 512 };


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


/* ---------------------------------------------------------------------
** Fills: a description of the values, drawn in batches and stored as
** float64 or float32
** ------------------------------------------------------------------- */

typedef struct fill_spec {
  uint64_t seed, stream, position;  /* value i comes from block
                                    ** position + i / 2 */
  int normal;                       /* 1: normals, 0: uniforms */
  int identity;                     /* mean 0, std 1 or low 0, high 1 */
  double a, b;                      /* (mean, std) or (low, high) */
  double below_b;                   /* uniform: largest double < high */
  float below_b_f32;                /* uniform: largest float < high */
} fill_spec;


static fill_spec spec_make(const kubo_rng *rng, int normal, double a,
                           double b) {
  fill_spec s;
  s.seed = rng->seed;
  s.stream = rng->stream;
  s.position = rng->position;
  s.normal = normal;
  s.identity = (a == 0 && b == 1);
  s.a = a;
  s.b = b;
  s.below_b = nextafter(b, -INFINITY);
  s.below_b_f32 = (float)b;
  if ((double)s.below_b_f32 >= b)
    s.below_b_f32 = nextafterf(s.below_b_f32, -INFINITY);
  return s;
}


/* Draws values [first, last) of the fill, before scaling, into
** buf[0 .. last - first). */
static void draw_range(const fill_spec *s, double *buf, int64_t first,
                       int64_t last) {
  for (int64_t i = first & ~(int64_t)1; i < last; i += 2) {
    uint32_t w[4];
    double v0, v1;
    kubo_philox_block(s->seed, s->stream, s->position + (uint64_t)(i / 2),
                      w);
    if (s->normal) {
      normal_pair(w, &v0, &v1);
    } else {
      v0 = to_unit(w[0], w[1]);
      v1 = to_unit(w[2], w[3]);
    }
    if (i >= first) buf[i - first] = v0;
    if (i + 1 < last) buf[i + 1 - first] = v1;
  }
}


/* Maps raw values in place to mean + std * z or to low + (high - low) * u.
** Rounding can carry a uniform up to high, so those are set just below. */
static void scale_batch(const fill_spec *s, double *buf, int64_t m) {
  if (s->identity) return;
  if (s->normal) {
    for (int64_t j = 0; j < m; j++) buf[j] = s->a + s->b * buf[j];
    return;
  }
  for (int64_t j = 0; j < m; j++) {
    double v = s->a + (s->b - s->a) * buf[j];
    buf[j] = v < s->b ? v : s->below_b;
  }
}


static void store_f32(const fill_spec *s, const double *buf, float *out,
                      int64_t m) {
  for (int64_t j = 0; j < m; j++) {
    float f = (float)buf[j];
    if (!s->normal && (double)f >= s->b) f = s->below_b_f32;
    out[j] = f;
  }
}


/* Writes values [first, last) into contiguous data of the given dtype. */
static void fill_chunk(const fill_spec *s, kubo_dtype dtype, void *data,
                       int64_t first, int64_t last) {
  double buf[BATCH];
  for (int64_t i = first; i < last; i += BATCH) {
    int64_t m = last - i < BATCH ? last - i : BATCH;
    if (dtype == KUBO_FLOAT64) {
      double *out = (double *)data + i;
      draw_range(s, out, i, i + m);
      scale_batch(s, out, m);
    } else {
      draw_range(s, buf, i, i + m);
      scale_batch(s, buf, m);
      store_f32(s, buf, (float *)data + i, m);
    }
  }
}


static void fill_contiguous(const fill_spec *s, kubo_dtype dtype,
                            void *data, int64_t n) {
  int64_t nchunks = (n + CHUNK - 1) / CHUNK;
  if (n <= 0) return;
  if (n < PARALLEL_MIN) {
    fill_chunk(s, dtype, data, 0, n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nchunks; c++) {
    int64_t last = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
    fill_chunk(s, dtype, data, c * CHUNK, last);
  }
}


/* Fills a strided tensor serially through a batch buffer, in row-major
** order of its elements. */
static void fill_strided(const fill_spec *s, kubo_tensor *t) {
  double buf[BATCH];
  int64_t n = kubo_tensor_numel(t);
  kubo_iter it;
  kubo_iter_init(&it, t);
  for (int64_t i = 0; i < n; i += BATCH) {
    int64_t m = n - i < BATCH ? n - i : BATCH;
    draw_range(s, buf, i, i + m);
    scale_batch(s, buf, m);
    if (t->dtype == KUBO_FLOAT32) {
      float f[BATCH];
      store_f32(s, buf, f, m);
      for (int64_t j = 0; j < m; j++) buf[j] = (double)f[j];
    }
    for (int64_t j = 0; j < m; j++) {
      kubo_iter_write(&it, t, buf[j]);
      kubo_iter_step(&it, t);
    }
  }
}


static void advance(kubo_rng *rng, int64_t n) {
  if (n > 0) rng->position += (uint64_t)((n + 1) / 2);
}


/* ---------------------------------------------------------------------
** Public fills
** ------------------------------------------------------------------- */

void kubo_rng_normal_at(uint64_t seed, uint64_t stream, uint64_t position,
                        double *x, int64_t n) {
  kubo_rng r = {seed, stream, position};
  fill_spec s = spec_make(&r, 1, 0, 1);
  fill_contiguous(&s, KUBO_FLOAT64, x, n);
}


void kubo_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t position,
                         double *x, int64_t n) {
  kubo_rng r = {seed, stream, position};
  fill_spec s = spec_make(&r, 0, 0, 1);
  fill_contiguous(&s, KUBO_FLOAT64, x, n);
}


void kubo_rng_normal(kubo_rng *rng, double *x, int64_t n) {
  fill_spec s = spec_make(rng, 1, 0, 1);
  fill_contiguous(&s, KUBO_FLOAT64, x, n);
  advance(rng, n);
}


void kubo_rng_normal_f32(kubo_rng *rng, float *x, int64_t n) {
  fill_spec s = spec_make(rng, 1, 0, 1);
  fill_contiguous(&s, KUBO_FLOAT32, x, n);
  advance(rng, n);
}


void kubo_rng_uniform(kubo_rng *rng, double *x, int64_t n) {
  fill_spec s = spec_make(rng, 0, 0, 1);
  fill_contiguous(&s, KUBO_FLOAT64, x, n);
  advance(rng, n);
}


void kubo_rng_uniform_f32(kubo_rng *rng, float *x, int64_t n) {
  fill_spec s = spec_make(rng, 0, 0, 1);
  fill_contiguous(&s, KUBO_FLOAT32, x, n);
  advance(rng, n);
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


static kubo_status fill_tensor(kubo_rng *rng, kubo_tensor *t,
                               const fill_spec *s) {
  int64_t n;
  if (t->storage == NULL)
    return kubo_error_set(KUBO_ESTATE, "rng: tensor is empty or freed");
  n = kubo_tensor_numel(t);
  if (kubo_tensor_is_contiguous(t))
    fill_contiguous(s, t->dtype, t->data, n);
  else
    fill_strided(s, t);
  advance(rng, n);
  return KUBO_OK;
}


kubo_status kubo_rng_fill_normal(kubo_rng *rng, kubo_tensor *t,
                                 double mean, double std) {
  fill_spec s;
  if (!isfinite(mean))
    return kubo_error_set(KUBO_EINVAL, "rng: mean must be finite (got "
                          "%g)", mean);
  if (!isfinite(std) || std < 0)
    return kubo_error_set(KUBO_EINVAL, "rng: std must be finite and "
                          "non-negative (got %g)", std);
  s = spec_make(rng, 1, mean, std);
  return fill_tensor(rng, t, &s);
}


kubo_status kubo_rng_fill_uniform(kubo_rng *rng, kubo_tensor *t,
                                  double low, double high) {
  fill_spec s;
  if (!isfinite(low) || !isfinite(high))
    return kubo_error_set(KUBO_EINVAL, "rng: uniform bounds must be finite "
                          "(got low %g, high %g)", low, high);
  if (!(low < high))
    return kubo_error_set(KUBO_EINVAL, "rng: uniform bounds need low < "
                          "high (got low %g, high %g)", low, high);
  s = spec_make(rng, 0, low, high);
  if (t->storage != NULL && t->dtype == KUBO_FLOAT32 &&
      (double)s.below_b_f32 < low)
    return kubo_error_set(KUBO_EINVAL, "rng: no float32 value lies in "
                          "[%.17g, %.17g); widen the bounds or use a "
                          "float64 tensor", low, high);
  return fill_tensor(rng, t, &s);
}
