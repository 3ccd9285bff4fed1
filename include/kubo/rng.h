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
** seed. Each block yields two doubles: uniforms in [0, 1) with 53
** random bits, or one Box-Muller pair of standard normals. Value i of a
** fill that starts at position p comes from block p + i / 2.
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

void kubo_rng_init(kubo_rng *rng, uint64_t seed, uint64_t stream);

/* Computes the Philox block at (seed, stream, position). */
void kubo_philox_block(uint64_t seed, uint64_t stream, uint64_t position,
                       uint32_t out[4]);

/* Returns the stream number of substream k of stream (an injective mix,
** so substreams of different k never collide with each other). */
uint64_t kubo_rng_substream(uint64_t stream, uint64_t k);

/* Fills x[0..n-1] with standard normals (or uniforms in [0, 1)) starting
** at rng->position and advances it by ceil(n / 2). Large fills run in
** parallel with OpenMP; the result does not depend on the thread count. */
void kubo_rng_normal(kubo_rng *rng, double *x, int64_t n);
void kubo_rng_normal_f32(kubo_rng *rng, float *x, int64_t n);
void kubo_rng_uniform(kubo_rng *rng, double *x, int64_t n);

/* The same fills without state: values from block position + i / 2 of
** (seed, stream). */
void kubo_rng_normal_at(uint64_t seed, uint64_t stream, uint64_t position,
                        double *x, int64_t n);
void kubo_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t position,
                         double *x, int64_t n);

/* One value, using a whole block. */
double kubo_rng_normal1(kubo_rng *rng);
double kubo_rng_uniform1(kubo_rng *rng);

/* Fills any tensor (either dtype, any view) with mean + std * N(0, 1) or
** low + (high - low) * U[0, 1), in row-major order of its elements. */
kubo_status kubo_rng_fill_normal(kubo_rng *rng, kubo_tensor *t,
                                 double mean, double std);
kubo_status kubo_rng_fill_uniform(kubo_rng *rng, kubo_tensor *t,
                                  double low, double high);

#ifdef __cplusplus
}
#endif

#endif
