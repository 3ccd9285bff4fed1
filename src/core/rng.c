/*
** rng.c: Philox4x32-10 streams and normal/uniform fills.
**
** Fills draw whole blocks in batches through kernels that the compiler
** vectorises: the Philox rounds run over LANES counters at once
** (structure of arrays), then Box-Muller uses this file's own logarithm,
** sine and cosine (polynomials without branches). On x86-64 each kernel
** is compiled for SSE2, AVX2 and AVX-512, and the loader picks one for
** the CPU. The transform uses only IEEE-754 additions, multiplications,
** divisions and square roots, never a fused multiply-add, so every
** variant and the one-block path give the same bits.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <Random123/philox.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kubo/rng.h"
#include "tensor_iter.h"

/* No contraction of a * b + c into a fused multiply-add, which the
** AVX-512 variant would otherwise do (GCC's default for GNU C is
** -ffp-contract=fast) and the SSE2 one cannot. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* One variant of a kernel per x86-64 SIMD level, chosen at load time. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define SIMD_VARIANTS \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef SIMD_VARIANTS
#define SIMD_VARIANTS
#endif

/* Fills of at least PARALLEL_MIN values are split across OpenMP threads
** in chunks of CHUNK values (even, so that each block belongs to one
** chunk). Each chunk is drawn through a stack buffer of BATCH doubles.
** The kernels draw at most LANES blocks per pass. */
enum { PARALLEL_MIN = 1 << 15, CHUNK = 4096, BATCH = 512, LANES = 64 };


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


/* ---------------------------------------------------------------------
** Batched Philox: the rounds of Random123's philox4x32_R(10, ...) over
** arrays of counters
** ------------------------------------------------------------------- */

/* Words of the blocks position + i, i < n <= LANES, of (seed, stream):
** word j of block i goes to w[j][i]. */
static inline void philox_lanes(uint64_t seed, uint64_t stream,
                                uint64_t position, int n,
                                uint32_t w[4][LANES]) {
  uint32_t key0[10], key1[10];
  key0[0] = (uint32_t)seed;
  key1[0] = (uint32_t)(seed >> 32);
  for (int r = 1; r < 10; r++) {
    key0[r] = key0[r - 1] + PHILOX_W32_0;
    key1[r] = key1[r - 1] + PHILOX_W32_1;
  }
  for (int i = 0; i < n; i++) {
    uint64_t p = position + (uint64_t)i;
    uint32_t c0 = (uint32_t)p, c1 = (uint32_t)(p >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    for (int r = 0; r < 10; r++) {
      uint64_t p0 = (uint64_t)PHILOX_M4x32_0 * c0;
      uint64_t p1 = (uint64_t)PHILOX_M4x32_1 * c2;
      c0 = (uint32_t)(p1 >> 32) ^ c1 ^ key0[r];
      c1 = (uint32_t)p1;
      c2 = (uint32_t)(p0 >> 32) ^ c3 ^ key1[r];
      c3 = (uint32_t)p0;
    }
    w[0][i] = c0;
    w[1][i] = c1;
    w[2][i] = c2;
    w[3][i] = c3;
  }
}


/* ---------------------------------------------------------------------
** Block words to doubles. The helpers work on bit patterns, so that SSE2
** can vectorise them (it has no conversion between 64-bit integers and
** doubles).
** ------------------------------------------------------------------- */

static inline uint64_t bits_of(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}


static inline double double_of(uint64_t b) {
  double x;
  memcpy(&x, &b, sizeof x);
  return x;
}


/* Bits of 2^52: 2^52 + j has the bits TWO52_BITS | j for j < 2^52. */
#define TWO52_BITS 0x4330000000000000ull


/* ((uint64_t)hi << 21 ^ lo >> 11) * 2^-53: 53 random bits as a double in
** [0, 1). Each step is exact, so the value equals the plain conversion. */
static inline double unit_from_words(uint32_t hi, uint32_t lo) {
  double h = double_of(TWO52_BITS | hi) - 0x1p52;
  double l = double_of(TWO52_BITS | (lo >> 11)) - 0x1p52;
  return h * 0x1p-32 + l * 0x1p-53;
}


/* ln(x) for x in [2^-53, 1], within about one ulp. With x = 2^k m, m in
** [sqrt(1/2), sqrt(2)), f = m - 1 (exact) and s = f / (2 + f),
** ln(m) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 + R(s^2))), where
** R(z) = z Q(z) is 2 atanh(s) / s - 2 over z = s^2 in [0, 0.0295]. Q is
** mpmath.chebyfit's degree-6 fit of that function over z, error 3e-16
** (so 5e-18 relative in ln). ln 2 is split into LN2_HI, whose 41
** significant bits make k LN2_HI exact, and LN2_LO. */
static inline double log_unit(double x) {
  const double LN2_HI = 0x1.62e42fefa3000p-1, LN2_LO = 0x1.3de6af278ece6p-42;
  const double Q0 = 0x1.5555555555558p-1, Q1 = 0x1.99999999952e2p-2;
  const double Q2 = 0x1.2492492df148dp-2, Q3 = 0x1.c71c62e5800a1p-3;
  const double Q4 = 0x1.7462b4ab2ef6bp-3, Q5 = 0x1.39fe606542ddep-3;
  const double Q6 = 0x1.2b584aae78a57p-3;
  const uint64_t ONE_BITS = 0x3ff0000000000000ull;
  const uint64_t SQRT_HALF_BITS = 0x3fe6a09e667f3bcdull;
  const uint64_t MANTISSA = 0x000fffffffffffffull;

  /* Adding 1.0 - sqrt(1/2) in bits carries into the exponent exactly when
  ** the mantissa is at least sqrt(2), so the exponent field of t is that
  ** of x / sqrt(1/2) and its mantissa gives m once sqrt(1/2) is added
  ** back. */
  uint64_t t = bits_of(x) + (ONE_BITS - SQRT_HALF_BITS);
  double k = double_of(TWO52_BITS | (t >> 52)) - (0x1p52 + 1023);
  double m = double_of((t & MANTISSA) + SQRT_HALF_BITS);
  double f = m - 1;
  double s = f / (2 + f);
  double z = s * s;
  double R = z * (Q0 + z * (Q1 + z * (Q2 + z * (Q3 + z * (Q4 + z * (Q5 +
             z * Q6))))));
  double hfsq = 0.5 * f * f;
  return k * LN2_HI - ((hfsq - (s * (hfsq + R) + k * LN2_LO)) - f);
}


/* cos(2 pi u) and sin(2 pi u) for u in [0, 1), within about one ulp.
** The reduction is exact in units of a turn: 4 u = q + y with q an
** integer and y in [-1/2, 1/2], so the angle is (pi/2) (q + y). P and C
** are mpmath.chebyfit's degree-6 fits over z = y^2 in [0, 1/4] of
** sin(pi/2 y) / y (error 5e-18) and (cos(pi/2 y) - 1) / z (error 5e-19);
** quadrant q then swaps the two and sets their signs. */
static inline void cos_sin_turn(double u, double *c, double *s) {
  const double P0 = 0x1.921fb54442d18p+0, P1 = -0x1.4abbce625be41p-1;
  const double P2 = 0x1.466bc677587f8p-4, P3 = -0x1.32d2cce2e5b19p-8;
  const double P4 = 0x1.50782fda12d96p-13, P5 = -0x1.e30071afc3e59p-19;
  const double P6 = 0x1.e3f38399551bfp-25;
  const double C0 = -0x1.3bd3cc9be45dep+0, C1 = 0x1.03c1f081b5ac0p-2;
  const double C2 = -0x1.55d3c7e3cb241p-6, C3 = 0x1.e1f5068688d5bp-11;
  const double C4 = -0x1.a6d1eef479be1p-16, C5 = 0x1.f9ce245cada0bp-22;
  const double C6 = -0x1.b2f3eb054afcdp-28;

  /* Adding 1.5 * 2^52 rounds 4 u to the nearest integer q, whose low
  ** bits are those of the sum. */
  double v = 4 * u;
  double shifted = v + 0x1.8p52;
  uint64_t q = bits_of(shifted);
  double y = v - (shifted - 0x1.8p52);
  double z = y * y;
  double sin_y = y * (P0 + z * (P1 + z * (P2 + z * (P3 + z * (P4 + z * (P5 +
                 z * P6))))));
  double cos_y = 1 + z * (C0 + z * (C1 + z * (C2 + z * (C3 + z * (C4 + z *
                 (C5 + z * C6))))));

  /* Quadrants 1 and 3 swap sine and cosine. The cosine is negative in
  ** quadrants 1 and 2, the sine in 2 and 3. */
  uint64_t swap = 0 - (q & 1), sb = bits_of(sin_y), cb = bits_of(cos_y);
  uint64_t cos_bits = ((cb & ~swap) | (sb & swap)) ^ (((q + 1) & 2) << 62);
  uint64_t sin_bits = ((sb & ~swap) | (cb & swap)) ^ ((q & 2) << 62);
  *c = double_of(cos_bits);
  *s = double_of(sin_bits);
}


/* Square roots of x[0..n-1] in place. GCC vectorises sqrt only under
** -fno-math-errno, which no pragma can set for one file, so SSE2 does
** pairs explicitly. Both give the correctly rounded root. */
static inline void sqrt_lanes(double *x, int n) {
  int i = 0;
#if defined(__SSE2__)
  for (; i + 2 <= n; i += 2)
    _mm_storeu_pd(x + i, _mm_sqrt_pd(_mm_loadu_pd(x + i)));
#endif
  for (; i < n; i++) x[i] = sqrt(x[i]);
}


/* Box-Muller on n blocks of words: u1 = 1 - U(w0, w1) in (0, 1] and
** u2 = U(w2, w3) give out[2 i] = r cos(2 pi u2) and
** out[2 i + 1] = r sin(2 pi u2), with r = sqrt(-2 ln u1). */
static inline void normals_from_words(int n, const uint32_t *w0,
                                      const uint32_t *w1,
                                      const uint32_t *w2,
                                      const uint32_t *w3, double *out) {
  double r[LANES], c[LANES], s[LANES];
  for (int i = 0; i < n; i++) {
    double u1 = 1 - unit_from_words(w0[i], w1[i]);
    r[i] = -2 * log_unit(u1);
    cos_sin_turn(unit_from_words(w2[i], w3[i]), &c[i], &s[i]);
  }
  sqrt_lanes(r, n);
  for (int i = 0; i < n; i++) {
    out[2 * i] = r[i] * c[i];
    out[2 * i + 1] = r[i] * s[i];
  }
}


static inline void uniforms_from_words(int n, const uint32_t *w0,
                                       const uint32_t *w1,
                                       const uint32_t *w2,
                                       const uint32_t *w3, double *out) {
  for (int i = 0; i < n; i++) {
    out[2 * i] = unit_from_words(w0[i], w1[i]);
    out[2 * i + 1] = unit_from_words(w2[i], w3[i]);
  }
}


void kubo_rng_block_normals(const uint32_t w[4], double z[2]) {
  normals_from_words(1, &w[0], &w[1], &w[2], &w[3], z);
}


/* The 2 * count values of blocks position .. position + count - 1 of
** (seed, stream), into out[0 .. 2 count). */
SIMD_VARIANTS
static void draw_blocks(uint64_t seed, uint64_t stream, uint64_t position,
                        int64_t count, int normal, double *out) {
  uint32_t w[4][LANES];
  for (int64_t b = 0; b < count; b += LANES) {
    int n = count - b < LANES ? (int)(count - b) : LANES;
    philox_lanes(seed, stream, position + (uint64_t)b, n, w);
    if (normal)
      normals_from_words(n, w[0], w[1], w[2], w[3], out + 2 * b);
    else
      uniforms_from_words(n, w[0], w[1], w[2], w[3], out + 2 * b);
  }
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


/* The two values of one block of the fill, without the batched kernel. */
static void draw_one_block(const fill_spec *s, uint64_t block,
                           double v[2]) {
  uint32_t w[4];
  kubo_philox_block(s->seed, s->stream, s->position + block, w);
  if (s->normal)
    normals_from_words(1, &w[0], &w[1], &w[2], &w[3], v);
  else
    uniforms_from_words(1, &w[0], &w[1], &w[2], &w[3], v);
}


/* Draws values [first, last) of the fill, before scaling, into
** buf[0 .. last - first). A value that shares its block with one outside
** the range goes through draw_one_block. */
static void draw_range(const fill_spec *s, double *buf, int64_t first,
                       int64_t last) {
  int64_t i = first, whole;
  double v[2];
  if (first >= last) return;
  if (i % 2 == 1) {
    draw_one_block(s, (uint64_t)(i / 2), v);
    buf[0] = v[1];
    i++;
  }
  whole = (last - i) / 2;
  draw_blocks(s->seed, s->stream, s->position + (uint64_t)(i / 2), whole,
              s->normal, buf + (i - first));
  i += 2 * whole;
  if (i < last) {
    draw_one_block(s, (uint64_t)(i / 2), v);
    buf[i - first] = v[0];
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
  double z[2];
  kubo_philox_block(rng->seed, rng->stream, rng->position++, w);
  kubo_rng_block_normals(w, z);
  return z[0];
}


double kubo_rng_uniform1(kubo_rng *rng) {
  uint32_t w[4];
  kubo_philox_block(rng->seed, rng->stream, rng->position++, w);
  return unit_from_words(w[0], w[1]);
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
