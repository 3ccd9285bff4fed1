/*
** fft.c: batched real-to-complex and complex-to-real transforms.
**
** Every field of a batch goes through the grid's one-field plan, so a
** field's bits do not depend on the batch size, its place in the batch
** or the thread count. A multi-transform (howmany) plan would not give
** that: with FFTW 3.3.10 and FFTW_ESTIMATE, a 1-D howmany plan of 32
** points rounds differently from the one-field plan. The loop costs
** little, because for 32 x 32 and 256 x 256 it ran no slower than a
** howmany plan (scripts/bench/fft.sh).
*/
#include <string.h>

#include "kubo/alloc.h"
#include "grid_impl.h"

/* Batches whose total size reaches this many doubles run in parallel. */
enum { PARALLEL_MIN = 1 << 14 };

/* Per-thread work arrays, allocated on first need. */
typedef struct scratch {
  double *real;             /* M doubles */
  fftw_complex *spec;       /* H complex */
  int failed;
} scratch;


static double *scratch_real(scratch *s, const kubo_grid *g) {
  if (s->real == NULL)
    s->real = kubo_alloc((size_t)g->real_size * sizeof(double));
  if (s->real == NULL) s->failed = 1;
  return s->real;
}


static fftw_complex *scratch_spec(scratch *s, const kubo_grid *g) {
  if (s->spec == NULL)
    s->spec = kubo_alloc((size_t)g->spectral_size * sizeof(fftw_complex));
  if (s->spec == NULL) s->failed = 1;
  return s->spec;
}


static void scratch_free(scratch *s, const kubo_grid *g) {
  kubo_free(s->real, (size_t)g->real_size * sizeof(double));
  kubo_free(s->spec, (size_t)g->spectral_size * sizeof(fftw_complex));
}


/* Transforms one field, copying through scratch where an array does not
** have the plans' alignment. */
static void forward_one(const kubo_grid *g, scratch *s, const double *in,
                        double *out) {
  double *src = (double *)in;      /* r2c plan preserves its input */
  fftw_complex *dst = (fftw_complex *)out;

  if (!kubo_grid_aligned(src)) {
    if ((src = scratch_real(s, g)) == NULL) return;
    memcpy(src, in, (size_t)g->real_size * sizeof(double));
  }
  if (!kubo_grid_aligned(dst) && (dst = scratch_spec(s, g)) == NULL)
    return;

  fftw_execute_dft_r2c(g->forward, src, dst);

  if ((double *)dst != out)
    memcpy(out, dst, (size_t)g->spectral_size * sizeof(fftw_complex));
}


/* Inverse-transforms one spectrum. With overwrite set (and in aligned),
** in itself is scaled and consumed, else a scaled copy in scratch is. */
static void inverse_one(const kubo_grid *g, scratch *s, double *in,
                        int overwrite, double *out) {
  double scale = 1.0 / (double)g->real_size;
  int64_t count = 2 * g->spectral_size;
  double *work = in;

  if (!overwrite || !kubo_grid_aligned(in)) {
    if ((work = (double *)scratch_spec(s, g)) == NULL) return;
  }
  for (int64_t i = 0; i < count; i++) work[i] = in[i] * scale;

  double *dst = out;
  if (!kubo_grid_aligned(dst) && (dst = scratch_real(s, g)) == NULL)
    return;

  fftw_execute_dft_c2r(g->inverse, (fftw_complex *)work, dst);

  if (dst != out)
    memcpy(out, dst, (size_t)g->real_size * sizeof(double));
}


/* Transforms fields first..last-1 of a batch with one thread's scratch. */
static void run_range(const kubo_grid *g, scratch *s, int inverse,
                      int overwrite, int64_t first, int64_t last,
                      const double *in, double *out) {
  int64_t M = g->real_size, H2 = 2 * g->spectral_size;
  for (int64_t f = first; f < last && !s->failed; f++) {
    if (inverse)
      inverse_one(g, s, (double *)in + f * H2, overwrite, out + f * M);
    else
      forward_one(g, s, in + f * M, out + f * H2);
  }
}


/* Runs one direction over a batch, in parallel when it is large. Small
** batches skip the OpenMP region, whose start-up costs about as much as
** a 32 x 32 transform. */
static kubo_status run_batch(const kubo_grid *g, int inverse, int overwrite,
                             int64_t count, const double *in, double *out) {
  if (count < 0)
    return kubo_error_set(KUBO_EINVAL,
                          "grid: batch count must be >= 0 (got %lld)",
                          (long long)count);
  int failed = 0;

  if (count < 2 || count * g->real_size < PARALLEL_MIN) {
    scratch s = {NULL, NULL, 0};
    run_range(g, &s, inverse, overwrite, 0, count, in, out);
    failed = s.failed;
    scratch_free(&s, g);
  } else {
    #pragma omp parallel reduction(| : failed)
    {
      scratch s = {NULL, NULL, 0};

      #pragma omp for schedule(static)
      for (int64_t f = 0; f < count; f++)
        run_range(g, &s, inverse, overwrite, f, f + 1, in, out);
      failed |= s.failed;
      scratch_free(&s, g);
    }
  }

  if (failed)
    return kubo_error_set(KUBO_ENOMEM,
                          "grid: out of memory for transform work arrays");
  return KUBO_OK;
}


kubo_status kubo_grid_fft(const kubo_grid *g, int64_t count,
                          const double *real, double *spec) {
  return run_batch(g, 0, 0, count, real, spec);
}


kubo_status kubo_grid_ifft(const kubo_grid *g, int64_t count,
                           const double *spec, double *real) {
  return run_batch(g, 1, 0, count, spec, real);
}


kubo_status kubo_grid_ifft_overwrite(const kubo_grid *g, int64_t count,
                                     double *spec, double *real) {
  return run_batch(g, 1, 1, count, spec, real);
}
