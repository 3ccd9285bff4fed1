/*
** rng.c: Philox4x32-10 streams and normal/uniform fills.
**
** Fills draw whole blocks in batches of LANES blocks, as structures of
** arrays: first the Philox words of the batch, then uniforms or
** Box-Muller normals from them. Box-Muller uses this file's own
** logarithm, sine and cosine (polynomials without branches), so the
** compiler vectorises it. On x86-64 the kernel exists for SSE2, AVX2 and
** AVX-512 (Philox written with intrinsics there), and the fills use the
** widest one the CPU supports unless kubo_rng_simd_set chose another.
** The transform uses only IEEE-754 additions, multiplications, divisions
** and square roots, never a fused multiply-add, so every variant and the
** one-block path give the same bits.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <Random123/philox.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "kubo/rng.h"
#include "tensor_iter.h"

/* Keeps a * b + c as a multiply and an add. GCC fuses them by default
** (-ffp-contract=fast) where the target has FMA, as the AVX-512 kernel
** does, and that would change the bits of that variant alone. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

/* Fills of at least PARALLEL_MIN values are split across OpenMP threads
** in chunks of CHUNK values (even, so that each block belongs to one
** chunk). Each chunk is drawn through a stack buffer of BATCH doubles.
** The kernels draw LANES blocks per pass, a multiple of the 32 blocks
** that the AVX-512 Philox loop computes per iteration. */
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
** Batched Philox: Random123's philox4x32_R(10, ...) over arrays of
** counters. Each function writes word j of block position + i to
** w[j][i] for i < n <= LANES, and the SIMD ones also fill the rest of
** their last iteration (up to LANES).
** ------------------------------------------------------------------- */

/* The key of each of the 10 rounds. */
typedef struct philox_keys {
  uint32_t k0[10], k1[10];
} philox_keys;


static philox_keys philox_schedule(uint64_t seed) {
  philox_keys k;
  k.k0[0] = (uint32_t)seed;
  k.k1[0] = (uint32_t)(seed >> 32);
  for (int r = 1; r < 10; r++) {
    k.k0[r] = k.k0[r - 1] + PHILOX_W32_0;
    k.k1[r] = k.k1[r - 1] + PHILOX_W32_1;
  }
  return k;
}


/* Plain C, for targets without a SIMD variant below. */
ALWAYS_INLINE void philox_lanes(const philox_keys *key, uint64_t stream,
                                uint64_t position, int n,
                                uint32_t w[4][LANES]) {
  for (int i = 0; i < n; i++) {
    uint64_t p = position + (uint64_t)i;
    uint32_t c0 = (uint32_t)p, c1 = (uint32_t)(p >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    for (int r = 0; r < 10; r++) {
      uint64_t p0 = (uint64_t)PHILOX_M4x32_0 * c0;
      uint64_t p1 = (uint64_t)PHILOX_M4x32_1 * c2;
      c0 = (uint32_t)(p1 >> 32) ^ c1 ^ key->k0[r];
      c1 = (uint32_t)p1;
      c2 = (uint32_t)(p0 >> 32) ^ c3 ^ key->k1[r];
      c3 = (uint32_t)p0;
    }
    w[0][i] = c0;
    w[1][i] = c1;
    w[2][i] = c2;
    w[3][i] = c3;
  }
}


#if defined(__x86_64__) && defined(__GNUC__)
#define RNG_X86_64 1

/* The x86-64 loops keep each word in a 64-bit lane, because the 32 x 32
** -> 64-bit multiply (pmuludq) works on those. GCC 12 vectorises the
** plain loop above with shuffles that pack the halves back into 32-bit
** lanes after each multiply, and that ran 2.4 times slower than this in
** a micro-benchmark on an AMD EPYC with AVX-512. Only the low 32 bits of
** a lane are a word. The multiply reads only those and the output keeps
** only those, so the upper halves never need clearing. Each iteration
** advances U independent vectors, because the rounds of one vector are a
** chain of dependent multiplies. */

static inline void philox_sse2(const philox_keys *key, uint64_t stream,
                               uint64_t position, int n,
                               uint32_t w[4][LANES]) {
  enum { WIDTH = 2, U = 2 };
  const __m128i m0 = _mm_set1_epi64x(PHILOX_M4x32_0);
  const __m128i m1 = _mm_set1_epi64x(PHILOX_M4x32_1);
  const __m128i lane = _mm_set_epi64x(1, 0);
  for (int i = 0; i < n; i += WIDTH * U) {
    __m128i c0[U], c1[U], c2[U], c3[U];
    for (int u = 0; u < U; u++) {
      __m128i p = _mm_add_epi64(
          _mm_set1_epi64x((long long)(position + (uint64_t)(i + WIDTH * u))),
          lane);
      c0[u] = p;
      c1[u] = _mm_srli_epi64(p, 32);
      c2[u] = _mm_set1_epi64x((long long)(stream & 0xffffffffu));
      c3[u] = _mm_set1_epi64x((long long)(stream >> 32));
    }
    for (int r = 0; r < 10; r++) {
      __m128i k0 = _mm_set1_epi64x(key->k0[r]);
      __m128i k1 = _mm_set1_epi64x(key->k1[r]);
      for (int u = 0; u < U; u++) {
        __m128i p0 = _mm_mul_epu32(c0[u], m0);
        __m128i p1 = _mm_mul_epu32(c2[u], m1);
        c0[u] = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi64(p1, 32), c1[u]),
                              k0);
        c1[u] = p1;
        c2[u] = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi64(p0, 32), c3[u]),
                              k1);
        c3[u] = p0;
      }
    }
    /* Shuffle 8 moves 32-bit lanes 0 and 2 to lanes 0 and 1. */
    for (int u = 0; u < U; u++) {
      int at = i + WIDTH * u;
      _mm_storel_epi64((__m128i *)&w[0][at], _mm_shuffle_epi32(c0[u], 8));
      _mm_storel_epi64((__m128i *)&w[1][at], _mm_shuffle_epi32(c1[u], 8));
      _mm_storel_epi64((__m128i *)&w[2][at], _mm_shuffle_epi32(c2[u], 8));
      _mm_storel_epi64((__m128i *)&w[3][at], _mm_shuffle_epi32(c3[u], 8));
    }
  }
}


__attribute__((target("avx2")))
static inline void philox_avx2(const philox_keys *key, uint64_t stream,
                               uint64_t position, int n,
                               uint32_t w[4][LANES]) {
  enum { WIDTH = 4, U = 2 };
  const __m256i m0 = _mm256_set1_epi64x(PHILOX_M4x32_0);
  const __m256i m1 = _mm256_set1_epi64x(PHILOX_M4x32_1);
  const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0);
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  for (int i = 0; i < n; i += WIDTH * U) {
    __m256i c0[U], c1[U], c2[U], c3[U];
    for (int u = 0; u < U; u++) {
      __m256i p = _mm256_add_epi64(
          _mm256_set1_epi64x((long long)(position +
                                         (uint64_t)(i + WIDTH * u))),
          lane);
      c0[u] = p;
      c1[u] = _mm256_srli_epi64(p, 32);
      c2[u] = _mm256_set1_epi64x((long long)(stream & 0xffffffffu));
      c3[u] = _mm256_set1_epi64x((long long)(stream >> 32));
    }
    for (int r = 0; r < 10; r++) {
      __m256i k0 = _mm256_set1_epi64x(key->k0[r]);
      __m256i k1 = _mm256_set1_epi64x(key->k1[r]);
      for (int u = 0; u < U; u++) {
        __m256i p0 = _mm256_mul_epu32(c0[u], m0);
        __m256i p1 = _mm256_mul_epu32(c2[u], m1);
        c0[u] = _mm256_xor_si256(
            _mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[u]), k0);
        c1[u] = p1;
        c2[u] = _mm256_xor_si256(
            _mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[u]), k1);
        c3[u] = p0;
      }
    }
    for (int u = 0; u < U; u++) {
      int at = i + WIDTH * u;
      __m256i v[4] = {c0[u], c1[u], c2[u], c3[u]};
      for (int j = 0; j < 4; j++)
        _mm_storeu_si128((__m128i *)&w[j][at], _mm256_castsi256_si128(
            _mm256_permutevar8x32_epi32(v[j], even)));
    }
  }
}


__attribute__((target("avx512f")))
static inline void philox_avx512f(const philox_keys *key, uint64_t stream,
                                  uint64_t position, int n,
                                  uint32_t w[4][LANES]) {
  enum { WIDTH = 8, U = 4 };
  const __m512i m0 = _mm512_set1_epi64(PHILOX_M4x32_0);
  const __m512i m1 = _mm512_set1_epi64(PHILOX_M4x32_1);
  const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  for (int i = 0; i < n; i += WIDTH * U) {
    __m512i c0[U], c1[U], c2[U], c3[U];
    for (int u = 0; u < U; u++) {
      __m512i p = _mm512_add_epi64(
          _mm512_set1_epi64((long long)(position +
                                        (uint64_t)(i + WIDTH * u))),
          lane);
      c0[u] = p;
      c1[u] = _mm512_srli_epi64(p, 32);
      c2[u] = _mm512_set1_epi64((long long)(stream & 0xffffffffu));
      c3[u] = _mm512_set1_epi64((long long)(stream >> 32));
    }
    for (int r = 0; r < 10; r++) {
      __m512i k0 = _mm512_set1_epi64(key->k0[r]);
      __m512i k1 = _mm512_set1_epi64(key->k1[r]);
      for (int u = 0; u < U; u++) {
        __m512i p0 = _mm512_mul_epu32(c0[u], m0);
        __m512i p1 = _mm512_mul_epu32(c2[u], m1);
        c0[u] = _mm512_xor_si512(
            _mm512_xor_si512(_mm512_srli_epi64(p1, 32), c1[u]), k0);
        c1[u] = p1;
        c2[u] = _mm512_xor_si512(
            _mm512_xor_si512(_mm512_srli_epi64(p0, 32), c3[u]), k1);
        c3[u] = p0;
      }
    }
    for (int u = 0; u < U; u++) {
      int at = i + WIDTH * u;
      _mm256_storeu_si256((__m256i *)&w[0][at], _mm512_cvtepi64_epi32(c0[u]));
      _mm256_storeu_si256((__m256i *)&w[1][at], _mm512_cvtepi64_epi32(c1[u]));
      _mm256_storeu_si256((__m256i *)&w[2][at], _mm512_cvtepi64_epi32(c2[u]));
      _mm256_storeu_si256((__m256i *)&w[3][at], _mm512_cvtepi64_epi32(c3[u]));
    }
  }
}
#endif


/* ---------------------------------------------------------------------
** Block words to doubles, in loops that the compiler vectorises. The
** helpers work on bit patterns, because SSE2 and AVX2 have no conversion
** between 64-bit integers and doubles.
** ------------------------------------------------------------------- */

ALWAYS_INLINE uint64_t bits_of(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}


ALWAYS_INLINE double double_of(uint64_t b) {
  double x;
  memcpy(&x, &b, sizeof x);
  return x;
}


/* Bits of 2^52: 2^52 + j has the bits TWO52_BITS | j for j < 2^52. */
#define TWO52_BITS 0x4330000000000000ull


/* ((uint64_t)hi << 21 | lo >> 11) * 2^-53: 53 random bits as a double in
** [0, 1). Each step is exact, so the value equals that of the plain
** conversion. */
ALWAYS_INLINE double unit_from_words(uint32_t hi, uint32_t lo) {
  double h = double_of(TWO52_BITS | hi) - 0x1p52;
  double l = double_of(TWO52_BITS | (lo >> 11)) - 0x1p52;
  return h * 0x1p-32 + l * 0x1p-53;
}


/* ln(x) for x in [2^-53, 1], within about one ulp. With x = 2^k m, m in
** [sqrt(1/2), sqrt(2)), f = m - 1 (exact) and s = f / (2 + f),
** ln(m) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 + R)), where
** R = 2 atanh(s) / s - 2 = z Q(z) with z = s^2 in [0, 0.0295]. Q is
** mpmath.chebyfit's degree-6 fit of R / z (error 3e-16, so 5e-18
** relative in ln). ln 2 is split into LN2_HI, whose 41 significant bits
** make k LN2_HI exact, and LN2_LO. */
ALWAYS_INLINE double log_unit(double x) {
  const double LN2_HI = 0x1.62e42fefa3000p-1, LN2_LO = 0x1.3de6af278ece6p-42;
  const double Q0 = 0x1.5555555555558p-1, Q1 = 0x1.99999999952e2p-2;
  const double Q2 = 0x1.2492492df148dp-2, Q3 = 0x1.c71c62e5800a1p-3;
  const double Q4 = 0x1.7462b4ab2ef6bp-3, Q5 = 0x1.39fe606542ddep-3;
  const double Q6 = 0x1.2b584aae78a57p-3;
  const uint64_t ONE_BITS = 0x3ff0000000000000ull;
  const uint64_t SQRT_HALF_BITS = 0x3fe6a09e667f3bcdull;
  const uint64_t MANTISSA = 0x000fffffffffffffull;

  /* Adding the bits of 1 minus those of sqrt(1/2) carries into the
  ** exponent exactly when the mantissa is at least sqrt(2). So the
  ** exponent field of t is k + 1023, and adding the bits of sqrt(1/2)
  ** back to its mantissa gives m. */
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
** sin(pi/2 y) / y (error 5e-18) and (cos(pi/2 y) - 1) / z (error 5e-19).
** Quadrant q then swaps the two and sets their signs. */
ALWAYS_INLINE void cos_sin_turn(double u, double *c, double *s) {
  const double P0 = 0x1.921fb54442d18p+0, P1 = -0x1.4abbce625be41p-1;
  const double P2 = 0x1.466bc677587f8p-4, P3 = -0x1.32d2cce2e5b19p-8;
  const double P4 = 0x1.50782fda12d96p-13, P5 = -0x1.e30071afc3e59p-19;
  const double P6 = 0x1.e3f38399551bfp-25;
  const double C0 = -0x1.3bd3cc9be45dep+0, C1 = 0x1.03c1f081b5ac0p-2;
  const double C2 = -0x1.55d3c7e3cb241p-6, C3 = 0x1.e1f5068688d5bp-11;
  const double C4 = -0x1.a6d1eef479be1p-16, C5 = 0x1.f9ce245cada0bp-22;
  const double C6 = -0x1.b2f3eb054afcdp-28;

  /* Adding 1.5 * 2^52 rounds 4 u to the nearest integer q, whose low
  ** bits become those of the sum. */
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


/* The parts of Box-Muller before the square root: for block i,
** r2[i] = -2 ln u1 with u1 = 1 - U(w0, w1) in (0, 1], and c[i], s[i] the
** cosine and sine of 2 pi U(w2, w3). */
ALWAYS_INLINE void polar_lanes(int n, uint32_t w[4][LANES], double *r2,
                               double *c, double *s) {
  for (int i = 0; i < n; i++) {
    double u1 = 1 - unit_from_words(w[0][i], w[1][i]);
    r2[i] = -2 * log_unit(u1);
    cos_sin_turn(unit_from_words(w[2][i], w[3][i]), &c[i], &s[i]);
  }
}


/* out[2 i] = r[i] c[i], out[2 i + 1] = r[i] s[i]. */
ALWAYS_INLINE void cartesian_lanes(int n, const double *r, const double *c,
                                   const double *s, double *out) {
  for (int i = 0; i < n; i++) {
    out[2 * i] = r[i] * c[i];
    out[2 * i + 1] = r[i] * s[i];
  }
}


ALWAYS_INLINE void uniform_lanes(int n, uint32_t w[4][LANES], double *out) {
  for (int i = 0; i < n; i++) {
    out[2 * i] = unit_from_words(w[0][i], w[1][i]);
    out[2 * i + 1] = unit_from_words(w[2][i], w[3][i]);
  }
}


/* Square roots in place. GCC 12 vectorises sqrt only under
** -fno-math-errno, which #pragma GCC optimize does not give it, so the
** SIMD kernels call the vector square root explicitly. All give the
** correctly rounded root. */
ALWAYS_INLINE void sqrt_lanes(double *x, int n) {
  for (int i = 0; i < n; i++) x[i] = sqrt(x[i]);
}


void kubo_rng_block_normals(const uint32_t w[4], double z[2]) {
  uint32_t words[4][LANES];
  double r[1], c[1], s[1];
  for (int j = 0; j < 4; j++) words[j][0] = w[j];
  polar_lanes(1, words, r, c, s);
  sqrt_lanes(r, 1);
  cartesian_lanes(1, r, c, s, z);
}


/* ---------------------------------------------------------------------
** Kernels: the 2 count values of blocks position .. position + count - 1
** of one stream into out[0 .. 2 count), normals or uniforms. There is
** one per SIMD level, each compiled for its own instruction set from the
** same inline code above, and kernel() picks one.
** ------------------------------------------------------------------- */

typedef void kernel_fn(const philox_keys *key, uint64_t stream,
                       uint64_t position, int64_t count, int normal,
                       double *out);


static void kernel_generic(const philox_keys *key, uint64_t stream,
                           uint64_t position, int64_t count, int normal,
                           double *out) {
  uint32_t w[4][LANES];
  double r[LANES], c[LANES], s[LANES];
  for (int64_t b = 0; b < count; b += LANES) {
    int n = count - b < LANES ? (int)(count - b) : LANES;
    philox_lanes(key, stream, position + (uint64_t)b, n, w);
    if (!normal) {
      uniform_lanes(n, w, out + 2 * b);
      continue;
    }
    polar_lanes(n, w, r, c, s);
    sqrt_lanes(r, n);
    cartesian_lanes(n, r, c, s, out + 2 * b);
  }
}


#ifdef RNG_X86_64
static void kernel_sse2(const philox_keys *key, uint64_t stream,
                        uint64_t position, int64_t count, int normal,
                        double *out) {
  uint32_t w[4][LANES];
  double r[LANES], c[LANES], s[LANES];
  for (int64_t b = 0; b < count; b += LANES) {
    int n = count - b < LANES ? (int)(count - b) : LANES, i = 0;
    philox_sse2(key, stream, position + (uint64_t)b, n, w);
    if (!normal) {
      uniform_lanes(n, w, out + 2 * b);
      continue;
    }
    polar_lanes(n, w, r, c, s);
    for (; i + 2 <= n; i += 2)
      _mm_storeu_pd(r + i, _mm_sqrt_pd(_mm_loadu_pd(r + i)));
    sqrt_lanes(r + i, n - i);
    cartesian_lanes(n, r, c, s, out + 2 * b);
  }
}


__attribute__((target("avx2")))
static void kernel_avx2(const philox_keys *key, uint64_t stream,
                        uint64_t position, int64_t count, int normal,
                        double *out) {
  uint32_t w[4][LANES];
  double r[LANES], c[LANES], s[LANES];
  for (int64_t b = 0; b < count; b += LANES) {
    int n = count - b < LANES ? (int)(count - b) : LANES, i = 0;
    philox_avx2(key, stream, position + (uint64_t)b, n, w);
    if (!normal) {
      uniform_lanes(n, w, out + 2 * b);
      continue;
    }
    polar_lanes(n, w, r, c, s);
    for (; i + 4 <= n; i += 4)
      _mm256_storeu_pd(r + i, _mm256_sqrt_pd(_mm256_loadu_pd(r + i)));
    sqrt_lanes(r + i, n - i);
    cartesian_lanes(n, r, c, s, out + 2 * b);
  }
}


__attribute__((target("avx512f")))
static void kernel_avx512f(const philox_keys *key, uint64_t stream,
                           uint64_t position, int64_t count, int normal,
                           double *out) {
  uint32_t w[4][LANES];
  double r[LANES], c[LANES], s[LANES];
  for (int64_t b = 0; b < count; b += LANES) {
    int n = count - b < LANES ? (int)(count - b) : LANES, i = 0;
    philox_avx512f(key, stream, position + (uint64_t)b, n, w);
    if (!normal) {
      uniform_lanes(n, w, out + 2 * b);
      continue;
    }
    polar_lanes(n, w, r, c, s);
    for (; i + 8 <= n; i += 8)
      _mm512_storeu_pd(r + i, _mm512_sqrt_pd(_mm512_loadu_pd(r + i)));
    sqrt_lanes(r + i, n - i);
    cartesian_lanes(n, r, c, s, out + 2 * b);
  }
}


/* __builtin_cpu_init makes the test valid in a fill that runs before
** libgcc's constructor. After the first call it only tests a flag. */
static int cpu_has_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}


static int cpu_has_avx512f(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
#endif


/* The variants, widest first. supported is NULL where every CPU of the
** architecture has the instructions. */
static const struct simd_variant {
  const char *name;
  kernel_fn *kernel;
  int (*supported)(void);
} variants[] = {
#ifdef RNG_X86_64
  {"avx512f", kernel_avx512f, cpu_has_avx512f},
  {"avx2", kernel_avx2, cpu_has_avx2},
  {"sse2", kernel_sse2, NULL},
#endif
  {"generic", kernel_generic, NULL},
};

enum { NVARIANTS = sizeof variants / sizeof variants[0] };

#ifdef RNG_X86_64
#define VARIANT_NAMES "avx512f, avx2, sse2, generic"
#else
#define VARIANT_NAMES "generic"
#endif

/* Index into variants set by kubo_rng_simd_set, or -1 for the widest
** one the CPU supports. */
static int chosen_variant = -1;


static int variant_supported(int v) {
  return variants[v].supported == NULL || variants[v].supported();
}


static int current_variant(void) {
  int v = 0;
  if (chosen_variant >= 0) return chosen_variant;
  while (!variant_supported(v)) v++;
  return v;
}


static void kernel(uint64_t seed, uint64_t stream, uint64_t position,
                   int64_t count, int normal, double *out) {
  philox_keys key = philox_schedule(seed);
  if (count > 0)
    variants[current_variant()].kernel(&key, stream, position, count,
                                       normal, out);
}


kubo_status kubo_rng_simd_set(const char *name) {
  if (name != NULL && strcmp(name, "auto") == 0) {
    chosen_variant = -1;
    return KUBO_OK;
  }
  for (int v = 0; name != NULL && v < NVARIANTS; v++) {
    if (strcmp(name, variants[v].name) != 0) continue;
    if (!variant_supported(v))
      return kubo_error_set(KUBO_EINVAL, "rng: SIMD variant '%s' is not "
                            "supported by this CPU (use \"auto\")", name);
    chosen_variant = v;
    return KUBO_OK;
  }
  return kubo_error_set(KUBO_EINVAL, "rng: unknown SIMD variant '%s' "
                        "(expected \"auto\" or one of: %s)",
                        name != NULL ? name : "(null)", VARIANT_NAMES);
}


const char *kubo_rng_simd_get(void) {
  return variants[current_variant()].name;
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
  if (s->normal) {
    kubo_rng_block_normals(w, v);
  } else {
    v[0] = unit_from_words(w[0], w[1]);
    v[1] = unit_from_words(w[2], w[3]);
  }
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
  kernel(s->seed, s->stream, s->position + (uint64_t)(i / 2), whole,
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
