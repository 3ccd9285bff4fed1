/*
** rng.h: counter-based random numbers (Philox4x32-10 from Random123).
**
** A draw depends only on its key (seed, stream) and its position, never
** on the order of calls between streams or on the number of threads, so
** ensemble members keyed by (seed, member) and step-indexed positions
** give the same bits for any thread or process count, and a control and
** a perturbed copy of a member can share their noise exactly.
**
** Layout: one Philox block (four 32-bit words) is produced for counter
** (position low, position high, stream low, stream high) under key
** seed. Each block (words w0..w3) yields two doubles: the uniforms
** U(w0, w1) and U(w2, w3) in [0, 1), where U(hi, lo) is the 53 bits
** (hi << 21 | lo >> 11) times 2^-53, or the Box-Muller pair
** r cos(2 pi u2), r sin(2 pi u2) with r = sqrt(-2 ln u1),
** u1 = 1 - U(w0, w1) in (0, 1] and u2 = U(w2, w3). Value i of a fill
** that starts at position p comes from block p + i / 2.
**
** The logarithm, sine and cosine of the normals are kubo's own
** polynomials, within about 1e-15 of libm's Box-Muller relative to r
** (tests/c/test_rng.c measures it), so a normal has the same bits on any
** x86-64 SIMD level and does not depend on the C library's libm.
**
** A fill of n values advances the position by ceil(n / 2) blocks, so a
** fill of odd length leaves the second value of its last block unused.
** Two consecutive fills therefore give the same values as one fill of
** their total length when the first has an even length.
**
** A kubo_rng is plain data (copy it to checkpoint it) and is not safe to
** use from several threads at once; the *_at functions have no state
** and may be called from any thread.
*/
#ifndef KUBO_RNG_H
#define KUBO_RNG_H

#include <stdint.h>

#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kubo_rng {
  uint64_t seed;
  uint64_t stream;
  uint64_t position;   /* next block */
} kubo_rng;

/* Sets rng to (seed, stream) at position 0. */
void kubo_rng_init(kubo_rng *rng, uint64_t seed, uint64_t stream);

/* Computes the Philox block at (seed, stream, position). */
void kubo_philox_block(uint64_t seed, uint64_t stream, uint64_t position,
                       uint32_t out[4]);

/* Computes the two standard normals of one block from its words w, as
** the normal fills do. */
void kubo_rng_block_normals(const uint32_t w[4], double z[2]);

/* Selects the SIMD variant of the fill kernels for the whole process:
** "auto" (the default: the widest one the CPU supports), "generic"
** (plain C), and on x86-64 "sse2", "avx2" or "avx512f". Every variant
** gives the same bits; the choice exists for tests and benchmarks. Not
** thread-safe: call it while no fill runs. Fails with KUBO_EINVAL for an
** unknown name or a variant that the CPU does not support, and then
** keeps the current choice. */
kubo_status kubo_rng_simd_set(const char *name);

/* Returns the name of the variant that fills use now (never "auto"). */
const char *kubo_rng_simd_get(void);

/* Returns the stream number of substream k of stream. For a fixed stream
** the map is injective in k, so substreams with different k never share a
** stream number. A substream may in principle equal an unrelated plain
** stream number (a chance of about 2^-64 per pair). In Lua,
** kubo.rng(seed):stream(k) is the stream (seed, kubo_rng_substream(0, k)),
** so engine code that keys member m as (seed, kubo_rng_substream(0, m))
** draws the same numbers as that Lua stream. */
uint64_t kubo_rng_substream(uint64_t stream, uint64_t k);

/* Fills x[0..n-1] with standard normals (or uniforms in [0, 1)) starting
** at rng->position and advances it by ceil(n / 2). Fills of 2^15 values
** or more run in parallel with OpenMP; the result does not depend on the
** thread count. The float32 variants store the float64 values rounded to
** float, except that a uniform that rounds up to 1 is stored as the
** largest float below 1. n <= 0 does nothing. */
void kubo_rng_normal(kubo_rng *rng, double *x, int64_t n);
void kubo_rng_normal_f32(kubo_rng *rng, float *x, int64_t n);
void kubo_rng_uniform(kubo_rng *rng, double *x, int64_t n);
void kubo_rng_uniform_f32(kubo_rng *rng, float *x, int64_t n);

/* The same fills without state: values from block position + i / 2 of
** (seed, stream). */
void kubo_rng_normal_at(uint64_t seed, uint64_t stream, uint64_t position,
                        double *x, int64_t n);
void kubo_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t position,
                         double *x, int64_t n);

/* Draws one value from a whole block and advances the position by one. */
double kubo_rng_normal1(kubo_rng *rng);
double kubo_rng_uniform1(kubo_rng *rng);

/* Fills any tensor (either dtype, any view) in row-major order of its
** elements. kubo_rng_fill_normal draws mean + std * N(0, 1), and
** kubo_rng_fill_uniform draws low + (high - low) * U[0, 1) kept below
** high. Both advance the position as a fill of numel values. A float32
** tensor receives the float64 values rounded to float (a uniform that
** rounds up to high becomes the largest float below high). Fails with
** KUBO_ESTATE for an empty or freed tensor, and with KUBO_EINVAL for a
** non-finite mean, a negative or non-finite std, non-finite bounds,
** high <= low, or (float32) no float in [low, high). The tensor and the
** position are then unchanged. */
kubo_status kubo_rng_fill_normal(kubo_rng *rng, kubo_tensor *t,
                                 double mean, double std);
kubo_status kubo_rng_fill_uniform(kubo_rng *rng, kubo_tensor *t,
                                  double low, double high);

#ifdef __cplusplus
}
#endif

#endif
