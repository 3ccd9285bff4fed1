/*
** test_rng.c: Philox known answers, the layout of values in blocks,
** thread-count independence, split fills, float32 rounding, strided
** tensor fills, invalid parameters, the Box-Muller transform against
** libm, the distribution of the normals, and equal bits from every SIMD
** variant.
*/
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/rng.h"

/* Large enough to take the parallel path (2^15 values and up) with an
** odd length, so the last chunk is partial and ends inside a block. */
enum { NBIG = 100001 };


/* Uniform [0, 1) from two words, written from the layout in rng.h. */
static double ref_unit(uint32_t hi, uint32_t lo) {
  return (double)((((uint64_t)hi) << 21) | (lo >> 11)) / 9007199254740992.0;
}


/* Value i of a fill at (seed, stream, position), computed one block at a
** time as rng.h describes it. Normals come from kubo_rng_block_normals,
** which test_transform_matches_libm checks against libm. */
static double ref_value(int normal, uint64_t seed, uint64_t stream,
                        uint64_t position, int64_t i) {
  uint32_t w[4];
  double z[2];
  kubo_philox_block(seed, stream, position + (uint64_t)(i / 2), w);
  if (!normal) return i % 2 == 0 ? ref_unit(w[0], w[1])
                                 : ref_unit(w[2], w[3]);
  kubo_rng_block_normals(w, z);
  return z[i % 2];
}


static void test_philox_known_answers(void) {
  /* Known-answer vectors of Philox4x32-10 published with Random123
  ** (kat_vectors), here as (counter, key) -> output. */
  static const struct {
    uint32_t ctr[4], key[2], out[4];
  } kat[3] = {
    {{0, 0, 0, 0}, {0, 0},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (int k = 0; k < 3; k++) {
    uint64_t position = kat[k].ctr[0] | (uint64_t)kat[k].ctr[1] << 32;
    uint64_t stream = kat[k].ctr[2] | (uint64_t)kat[k].ctr[3] << 32;
    uint64_t seed = kat[k].key[0] | (uint64_t)kat[k].key[1] << 32;
    uint32_t w[4];
    kubo_philox_block(seed, stream, position, w);
    for (int j = 0; j < 4; j++) CHECK(w[j] == kat[k].out[j]);
  }
}


static void test_values_follow_layout(void) {
  double x[7], u[7];
  kubo_rng rng;
  kubo_rng_init(&rng, 42, 3);
  rng.position = 10;
  kubo_rng_normal(&rng, x, 7);
  CHECK(rng.position == 14);
  kubo_rng_uniform(&rng, u, 7);
  CHECK(rng.position == 18);
  for (int i = 0; i < 7; i++) {
    CHECK(x[i] == ref_value(1, 42, 3, 10, i));
    CHECK(u[i] == ref_value(0, 42, 3, 14, i));
  }
  kubo_rng_init(&rng, 42, 3);
  CHECK(kubo_rng_uniform1(&rng) == ref_value(0, 42, 3, 0, 0));
  CHECK(kubo_rng_normal1(&rng) == ref_value(1, 42, 3, 1, 0));
  CHECK(rng.position == 2);
}


/* Fills every kind of output with nthreads OpenMP threads. */
static void fill_all(int nthreads, double *normal, double *uniform,
                     float *normal32, float *uniform32) {
  kubo_rng rng;
  omp_set_num_threads(nthreads);
  kubo_rng_init(&rng, 7, 11);
  kubo_rng_normal(&rng, normal, NBIG);
  kubo_rng_uniform(&rng, uniform, NBIG);
  kubo_rng_normal_f32(&rng, normal32, NBIG);
  kubo_rng_uniform_f32(&rng, uniform32, NBIG);
}


static void test_thread_count_independence(void) {
  size_t nd = NBIG * sizeof(double), nf = NBIG * sizeof(float);
  double *n1 = malloc(nd), *u1 = malloc(nd), *n2 = malloc(nd);
  double *u2 = malloc(nd);
  float *nf1 = malloc(nf), *uf1 = malloc(nf), *nf2 = malloc(nf);
  float *uf2 = malloc(nf);
  int threads_before = omp_get_max_threads(), team = 0;
  omp_set_num_threads(2);
#pragma omp parallel
  {
#pragma omp single
    team = omp_get_num_threads();
  }
  CHECK(team == 2);   /* else the second fill below would not differ */
  fill_all(1, n1, u1, nf1, uf1);
  fill_all(2, n2, u2, nf2, uf2);
  omp_set_num_threads(threads_before);
  CHECK(memcmp(n1, n2, nd) == 0);
  CHECK(memcmp(u1, u2, nd) == 0);
  CHECK(memcmp(nf1, nf2, nf) == 0);
  CHECK(memcmp(uf1, uf2, nf) == 0);

  /* The parallel fill agrees with the one-block-at-a-time reference at
  ** chunk edges and at the partial end. */
  int64_t probe[] = {0, 1, 4095, 4096, 4097, 8191, 50000, NBIG - 2,
                     NBIG - 1};
  for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
    int64_t i = probe[k];
    CHECK(n1[i] == ref_value(1, 7, 11, 0, i));
    CHECK(u1[i] == ref_value(0, 7, 11, (NBIG + 1) / 2, i));
  }
  free(n1); free(u1); free(n2); free(u2);
  free(nf1); free(uf1); free(nf2); free(uf2);
}


static void test_split_fill_equals_one_fill(void) {
  const int64_t first = 40000, total = NBIG;   /* first is even */
  double *whole = malloc(total * sizeof(double));
  double *parts = malloc(total * sizeof(double));
  double odd[3], rest[2];
  kubo_rng a, b;
  kubo_rng_init(&a, 99, 0);
  kubo_rng_init(&b, 99, 0);
  kubo_rng_normal(&a, whole, total);
  kubo_rng_normal(&b, parts, first);
  kubo_rng_normal(&b, parts + first, total - first);
  CHECK(memcmp(whole, parts, total * sizeof(double)) == 0);
  CHECK(a.position == b.position);

  /* An odd first fill skips the second value of its last block. */
  kubo_rng_init(&b, 99, 0);
  kubo_rng_normal(&b, odd, 3);
  kubo_rng_normal(&b, rest, 2);
  CHECK(odd[2] == whole[2]);
  CHECK(rest[0] == whole[4]);
  CHECK(rest[1] == whole[5]);
  free(whole);
  free(parts);
}


static void test_float32_is_rounded_float64(void) {
  double *x = malloc(NBIG * sizeof(double));
  float *f = malloc(NBIG * sizeof(float));
  kubo_rng a, b;
  int64_t mismatches = 0;
  kubo_rng_init(&a, 5, 1);
  kubo_rng_init(&b, 5, 1);
  kubo_rng_normal(&a, x, NBIG);
  kubo_rng_normal_f32(&b, f, NBIG);
  for (int64_t i = 0; i < NBIG; i++) mismatches += f[i] != (float)x[i];
  CHECK(mismatches == 0);
  CHECK(a.position == b.position);

  kubo_rng_uniform(&a, x, NBIG);
  kubo_rng_uniform_f32(&b, f, NBIG);
  mismatches = 0;
  for (int64_t i = 0; i < NBIG; i++) {
    float want = (float)x[i] < 1.0f ? (float)x[i] : nextafterf(1.0f, 0);
    mismatches += f[i] != want;
  }
  CHECK(mismatches == 0);
  free(x);
  free(f);
}


static void test_tensor_fills(void) {
  int64_t shape[2] = {6, 5}, tshape[2] = {5, 6};
  kubo_tensor base, view, ref, ref32, base32, view32;
  kubo_rng a, b;
  double v, w;
  int64_t idx[2];

  /* A transposed (strided) view is filled in its own row-major order. */
  CHECK_OK(kubo_tensor_init(&base, KUBO_FLOAT64, 2, shape));
  CHECK_OK(kubo_tensor_transpose(&view, &base, 0, 1));
  CHECK(!kubo_tensor_is_contiguous(&view));
  CHECK_OK(kubo_tensor_init(&ref, KUBO_FLOAT64, 2, tshape));
  kubo_rng_init(&a, 3, 4);
  kubo_rng_init(&b, 3, 4);
  CHECK_OK(kubo_rng_fill_normal(&a, &view, 2, 0.5));
  CHECK_OK(kubo_rng_fill_normal(&b, &ref, 2, 0.5));
  CHECK(a.position == 15);
  CHECK(b.position == 15);
  for (idx[0] = 0; idx[0] < 5; idx[0]++)
    for (idx[1] = 0; idx[1] < 6; idx[1]++) {
      CHECK_OK(kubo_tensor_get(&view, idx, &v));
      CHECK_OK(kubo_tensor_get(&ref, idx, &w));
      CHECK(v == w);
      CHECK(w == 2 + 0.5 * ref_value(1, 3, 4, 0, idx[0] * 6 + idx[1]));
    }

  /* float32, strided and contiguous, is the float64 fill rounded. */
  CHECK_OK(kubo_tensor_init(&base32, KUBO_FLOAT32, 2, shape));
  CHECK_OK(kubo_tensor_transpose(&view32, &base32, 0, 1));
  CHECK_OK(kubo_tensor_init(&ref32, KUBO_FLOAT32, 2, tshape));
  kubo_rng_init(&a, 3, 4);
  kubo_rng_init(&b, 3, 4);
  CHECK_OK(kubo_rng_fill_uniform(&a, &view32, -1, 3));
  CHECK_OK(kubo_rng_fill_uniform(&b, &ref32, -1, 3));
  for (idx[0] = 0; idx[0] < 5; idx[0]++)
    for (idx[1] = 0; idx[1] < 6; idx[1]++) {
      double u = ref_value(0, 3, 4, 0, idx[0] * 6 + idx[1]);
      CHECK_OK(kubo_tensor_get(&view32, idx, &v));
      CHECK_OK(kubo_tensor_get(&ref32, idx, &w));
      CHECK(v == w);
      CHECK(w == (double)(float)(-1 + 4 * u));
    }
  kubo_tensor_release(&view);
  kubo_tensor_release(&base);
  kubo_tensor_release(&ref);
  kubo_tensor_release(&view32);
  kubo_tensor_release(&base32);
  kubo_tensor_release(&ref32);
}


static void test_uniform_stays_below_high(void) {
  /* With high one ulp above low, about half of low + (high - low) * u
  ** rounds to high before the clamp. */
  int64_t shape[1] = {4000};
  kubo_tensor t, t32;
  kubo_rng rng;
  int64_t outside = 0;
  double high = nextafter(1.0, 2.0);
  float high32 = nextafterf(1.0f, 2.0f);
  kubo_rng_init(&rng, 1, 0);
  CHECK_OK(kubo_tensor_init(&t, KUBO_FLOAT64, 1, shape));
  CHECK_OK(kubo_rng_fill_uniform(&rng, &t, 1.0, high));
  for (int64_t i = 0; i < 4000; i++) {
    double v = kubo_tensor_at(&t, i);
    outside += !(v >= 1.0 && v < high);
  }
  CHECK(outside == 0);

  CHECK_OK(kubo_tensor_init(&t32, KUBO_FLOAT32, 1, shape));
  CHECK_OK(kubo_rng_fill_uniform(&rng, &t32, 1.0, high32));
  outside = 0;
  for (int64_t i = 0; i < 4000; i++) {
    double v = kubo_tensor_at(&t32, i);
    outside += !(v >= 1.0 && v < high32);
  }
  CHECK(outside == 0);
  kubo_tensor_release(&t);
  kubo_tensor_release(&t32);
}


static void test_invalid_parameters(void) {
  int64_t shape[1] = {8};
  kubo_tensor t, t32, empty;
  kubo_rng rng;
  memset(&empty, 0, sizeof empty);
  kubo_rng_init(&rng, 1, 0);
  CHECK_OK(kubo_tensor_init(&t, KUBO_FLOAT64, 1, shape));
  CHECK_OK(kubo_tensor_init(&t32, KUBO_FLOAT32, 1, shape));
  kubo_tensor_fill(&t, 5);

  CHECK(kubo_rng_fill_normal(&rng, &t, NAN, 1) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "mean must be finite") != NULL);
  CHECK(kubo_rng_fill_normal(&rng, &t, 0, -1) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "std must be finite and "
                                     "non-negative (got -1)") != NULL);
  CHECK(kubo_rng_fill_normal(&rng, &t, 0, INFINITY) == KUBO_EINVAL);
  CHECK(kubo_rng_fill_uniform(&rng, &t, 2, 1) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "low < high") != NULL);
  CHECK(kubo_rng_fill_uniform(&rng, &t, 1, 1) == KUBO_EINVAL);
  CHECK(kubo_rng_fill_uniform(&rng, &t, -INFINITY, 0) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "must be finite") != NULL);
  CHECK(kubo_rng_fill_uniform(&rng, &t32, 1 + 0x1p-30, 1 + 0x1p-29) ==
        KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "no float32 value") != NULL);
  CHECK(kubo_rng_fill_normal(&rng, &empty, 0, 1) == KUBO_ESTATE);
  CHECK(strstr(kubo_error_message(), "empty or freed") != NULL);

  /* Failed calls leave the tensor and the position as they were. */
  CHECK(rng.position == 0);
  CHECK(kubo_tensor_at(&t, 0) == 5);
  kubo_tensor_release(&t);
  kubo_tensor_release(&t32);
}


static void test_substreams_differ(void) {
  /* Injective in k for a fixed stream: check a range of k directly. */
  enum { K = 1000 };
  uint64_t ids[K];
  int collisions = 0;
  for (int k = 0; k < K; k++) ids[k] = kubo_rng_substream(0, (uint64_t)k);
  for (int i = 0; i < K; i++)
    for (int j = i + 1; j < K; j++) collisions += ids[i] == ids[j];
  CHECK(collisions == 0);
  CHECK(kubo_rng_substream(0, 1) != kubo_rng_substream(1, 1));
}


/* Words whose uniforms are U(w0, w1) = u1_bits * 2^-53 and
** U(w2, w3) = u2_bits * 2^-53 (53-bit integers). */
static void words_of(uint64_t u1_bits, uint64_t u2_bits, uint32_t w[4]) {
  w[0] = (uint32_t)(u1_bits >> 21);
  w[1] = (uint32_t)(u1_bits << 11);
  w[2] = (uint32_t)(u2_bits >> 21);
  w[3] = (uint32_t)(u2_bits << 11);
}


/* Largest |z - z_ref| / r over the pair and |r - r_ref| / r_ref of a
** block against a reference pair (z0, z1) with radius r_ref. */
static void pair_errors(const double z[2], double z0, double z1,
                        double r_ref, double *err_z, double *err_r) {
  double r = hypot(z[0], z[1]);
  *err_z = fmax(fabs(z[0] - z0), fabs(z[1] - z1)) / r_ref;
  *err_r = fabs(r - r_ref) / r_ref;
}


static void test_transform_matches_libm(void) {
  /* Box-Muller with libm's log, sqrt, cos and sin on the same uniforms.
  ** libm rounds the angle 2 pi u2 to double first, an absolute error of
  ** up to 4.4e-16 in (cos, sin), so errors are relative to r, and r is
  ** measured as hypot(z0, z1). On x86-64 with glibc 2.36 these blocks
  ** give 7.4e-16 in z / r and 4.4e-16 in r against double libm, and
  ** 3.0e-16 and 4.4e-16 against x87 long double libm (64-bit mantissa).
  ** 2e7 Philox blocks gave at most 8.4e-16, 4.4e-16, 3.3e-16 and
  ** 4.0e-16. */
  enum { NBLOCKS = 1 << 16 };
  double max_z = 0, max_r = 0, max_z_ld = 0, max_r_ld = 0;
  for (int64_t b = 0; b < NBLOCKS; b++) {
    uint32_t w[4];
    double z[2], err_z, err_r;
    kubo_philox_block(17, 5, (uint64_t)b, w);
    /* The first blocks take u1 near 2^-53 and just below 1, the ends
    ** of its range, where the logarithm is hardest. */
    if (b < 64) words_of(b < 32 ? (1ull << 53) - 1 - (uint64_t)b
                                : (uint64_t)b,
                         ((uint64_t)w[2] << 21) | (w[3] >> 11), w);
    kubo_rng_block_normals(w, z);
    double u1 = 1 - ref_unit(w[0], w[1]), u2 = ref_unit(w[2], w[3]);
    double r = sqrt(-2 * log(u1)), angle = 2 * M_PI * u2;
    pair_errors(z, r * cos(angle), r * sin(angle), r, &err_z, &err_r);
    max_z = fmax(max_z, err_z);
    max_r = fmax(max_r, err_r);
#if LDBL_MANT_DIG >= 64
    long double r_ld = sqrtl(-2 * logl((long double)u1));
    long double angle_ld = 2 * 3.14159265358979323846264338327950288L * u2;
    pair_errors(z, (double)(r_ld * cosl(angle_ld)),
                (double)(r_ld * sinl(angle_ld)), (double)r_ld, &err_z,
                &err_r);
    max_z_ld = fmax(max_z_ld, err_z);
    max_r_ld = fmax(max_r_ld, err_r);
#endif
  }
  CHECK(max_z <= 1.5e-15);
  CHECK(max_r <= 1e-15);
  CHECK(max_z_ld <= 6e-16);
  CHECK(max_r_ld <= 8e-16);
  printf("transform against libm: z/r %.2g, r %.2g; long double: z/r "
         "%.2g, r %.2g\n", max_z, max_r, max_z_ld, max_r_ld);
}


static void test_transform_edges(void) {
  const uint64_t top = (1ull << 53) - 1;   /* U = 1 - 2^-53 */
  uint32_t w[4];
  double z[2], r_max = sqrt(106 * log(2.0));

  /* u1 = 1 gives r = 0. */
  words_of(0, 12345, w);
  kubo_rng_block_normals(w, z);
  CHECK(z[0] == 0);
  CHECK(z[1] == 0);

  /* u1 = 2^-53 gives the largest radius, sqrt(-2 ln 2^-53). */
  words_of(top, 0, w);
  kubo_rng_block_normals(w, z);
  CHECK_NEAR(z[0], r_max, 1e-15 * r_max);
  CHECK(z[1] == 0);

  /* Quarter turns are exact: u2 = 1/4, 1/2, 3/4. */
  words_of(top, 1ull << 51, w);
  kubo_rng_block_normals(w, z);
  CHECK(z[0] == 0);
  CHECK_NEAR(z[1], r_max, 1e-15 * r_max);
  words_of(top, 1ull << 52, w);
  kubo_rng_block_normals(w, z);
  CHECK_NEAR(z[0], -r_max, 1e-15 * r_max);
  CHECK(z[1] == 0);
  words_of(top, 3ull << 51, w);
  kubo_rng_block_normals(w, z);
  CHECK(z[0] == 0);
  CHECK_NEAR(z[1], -r_max, 1e-15 * r_max);

  /* u2 = 1/8: cos = sin = sqrt(1/2). */
  words_of(top, 1ull << 50, w);
  kubo_rng_block_normals(w, z);
  CHECK_NEAR(z[0], r_max * sqrt(0.5), 2e-16 * r_max);
  CHECK_NEAR(z[1], r_max * sqrt(0.5), 2e-16 * r_max);

  /* u2 = 1 - 2^-53: sin(2 pi u2) = -sin(2 pi 2^-53), which is
  ** -2 pi 2^-53 to 1e-31, with a small relative error. */
  words_of(top, top, w);
  kubo_rng_block_normals(w, z);
  CHECK_NEAR(z[0], r_max, 1e-15 * r_max);
  CHECK_NEAR(z[1] / r_max / (-2 * M_PI * 0x1p-53), 1, 1e-15);
}


static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}


/* Kolmogorov-Smirnov statistic sqrt(n) D of x[0..n-1] (sorted in place)
** against the distribution function cdf. */
static double ks_statistic(double *x, int64_t n, double (*cdf)(double)) {
  double d = 0;
  qsort(x, (size_t)n, sizeof *x, compare_doubles);
  for (int64_t i = 0; i < n; i++) {
    double f = cdf(x[i]);
    d = fmax(d, fmax(f - (double)i / (double)n,
                     (double)(i + 1) / (double)n - f));
  }
  return sqrt((double)n) * d;
}


static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double exp2_cdf(double x) { return 1 - exp(-x / 2); }
static double turn_cdf(double x) { return (x + M_PI) / (2 * M_PI); }


static void test_normal_distribution(void) {
  /* 2^20 normals of one fixed seed. Moments and tail counts are checked
  ** to 5 standard errors; each KS statistic sqrt(n) D to 1.95, its
  ** 0.1% quantile. */
  enum { N = 1 << 20 };
  double *z = malloc(N * sizeof(double));
  double *radius2 = malloc(N / 2 * sizeof(double));
  double *angle = malloc(N / 2 * sizeof(double));
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0, pair = 0, largest = 0;
  int64_t beyond3 = 0, beyond4 = 0;
  kubo_rng rng;
  kubo_rng_init(&rng, 2024, 9);
  kubo_rng_normal(&rng, z, N);
  for (int64_t i = 0; i < N; i++) {
    double x = z[i], x2 = x * x;
    m1 += x;
    m2 += x2;
    m3 += x2 * x;
    m4 += x2 * x2;
    beyond3 += fabs(x) > 3;
    beyond4 += fabs(x) > 4;
    largest = fmax(largest, fabs(x));
  }
  for (int64_t b = 0; b < N / 2; b++) {
    pair += z[2 * b] * z[2 * b + 1];
    radius2[b] = z[2 * b] * z[2 * b] + z[2 * b + 1] * z[2 * b + 1];
    angle[b] = atan2(z[2 * b + 1], z[2 * b]);
  }
  double n = N, half = N / 2;
  CHECK_NEAR(m1 / n, 0, 5 / sqrt(n));
  CHECK_NEAR(m2 / n, 1, 5 * sqrt(2 / n));
  CHECK_NEAR(m3 / n, 0, 5 * sqrt(15 / n));
  CHECK_NEAR(m4 / n, 3, 5 * sqrt(96 / n));
  CHECK_NEAR(pair / half, 0, 5 / sqrt(half));

  /* P(|z| > 3) = 2.6998e-3 and P(|z| > 4) = 6.3342e-5; counts are
  ** binomial. */
  double p3 = erfc(3 / sqrt(2.0)), p4 = erfc(4 / sqrt(2.0));
  CHECK_NEAR((double)beyond3, n * p3, 5 * sqrt(n * p3 * (1 - p3)));
  CHECK_NEAR((double)beyond4, n * p4, 5 * sqrt(n * p4 * (1 - p4)));
  CHECK(largest <= sqrt(106 * log(2.0)));

  /* The values, the squared radius (chi-squared with 2 degrees of
  ** freedom) and the angle (uniform on (-pi, pi]). */
  CHECK(ks_statistic(z, N, normal_cdf) < 1.95);
  CHECK(ks_statistic(radius2, N / 2, exp2_cdf) < 1.95);
  CHECK(ks_statistic(angle, N / 2, turn_cdf) < 1.95);
  free(z);
  free(radius2);
  free(angle);
}


/* Normals and uniforms at positions that carry into the high counter
** word and wrap around 2^64, from the variant in use. */
static void fill_probe(double *normal, double *uniform, int64_t n) {
  kubo_rng_normal_at(31, 7, 0xffffffffull - 100, normal, n);
  kubo_rng_normal_at(31, 7, UINT64_MAX - 100, normal + n, n);
  kubo_rng_uniform_at(31, 7, 0xffffffffull - 100, uniform, n);
  kubo_rng_uniform_at(31, 7, UINT64_MAX - 100, uniform + n, n);
}


static void test_simd_variants_agree(void) {
  /* Each variant the CPU supports gives the bits of the one-block path.
  ** The fill length is odd and not a multiple of any batch size. */
  enum { N = 999 };
  static const char *names[] = {"generic", "sse2", "avx2", "avx512f"};
  double *normal = malloc(2 * N * sizeof(double));
  double *uniform = malloc(2 * N * sizeof(double));
  int tried = 0;
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    int64_t bad = 0;
    if (kubo_rng_simd_set(names[k]) != KUBO_OK) continue;
    CHECK(strcmp(kubo_rng_simd_get(), names[k]) == 0);
    tried++;
    fill_probe(normal, uniform, N);
    for (int64_t i = 0; i < N; i++) {
      bad += normal[i] != ref_value(1, 31, 7, 0xffffffffull - 100, i);
      bad += normal[N + i] != ref_value(1, 31, 7, UINT64_MAX - 100, i);
      bad += uniform[i] != ref_value(0, 31, 7, 0xffffffffull - 100, i);
      bad += uniform[N + i] != ref_value(0, 31, 7, UINT64_MAX - 100, i);
    }
    if (bad != 0)
      fprintf(stderr, "variant %s: %lld values differ\n", names[k],
              (long long)bad);
    CHECK(bad == 0);
  }
  CHECK(tried >= 1);   /* "generic" exists everywhere */
  CHECK_OK(kubo_rng_simd_set("auto"));
  CHECK(strcmp(kubo_rng_simd_get(), "auto") != 0);

  CHECK(kubo_rng_simd_set("sse9") == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "unknown SIMD variant 'sse9'") !=
        NULL);
  CHECK(kubo_rng_simd_set(NULL) == KUBO_EINVAL);
  free(normal);
  free(uniform);
}


int main(void) {
  test_philox_known_answers();
  test_values_follow_layout();
  test_thread_count_independence();
  test_split_fill_equals_one_fill();
  test_float32_is_rounded_float64();
  test_tensor_fills();
  test_uniform_stays_below_high();
  test_invalid_parameters();
  test_substreams_differ();
  test_transform_matches_libm();
  test_transform_edges();
  test_normal_distribution();
  test_simd_variants_agree();
  CHECK(kubo_alloc_live_bytes() == 0);
  return check_summary();
}
