/*
** corr.c: lagged cross-correlations of one member's trajectory through
** FFTs, translation-averaged on periodic grids or dense between vector
** components, in time-circular or zero-padded form.
**
** Grid path: every frame goes through the grid's spatial real-to-complex
** transform (kubo_grid_fft), which gives one complex time series per
** mode of the half spectrum. Each series is transformed along time
** (length T when circular, a smooth size >= T + L - 1 when padded), the
** product x^ conj(y^) is transformed back, and lags 0..L-1 are kept.
** Modes are handled in blocks of BLOCK series so that one FFTW plan with
** howmany = BLOCK serves every block, each thread with its own buffers.
** This is the 3-D (time, y, x) transform of the reference, split into
** its spatial and temporal halves.
**
** Dense path: each component's series is transformed once (real-to-
** complex), and each pair (i, j) is multiplied and transformed back.
*/
#include <complex.h>
#include <fftw3.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/grid.h"
#include "kubo/response.h"

/* Mode series per time-transform plan (grid path). */
enum { BLOCK = 8 };

struct kubo_corr {
  int grid;                  /* 1: grid path, 0: dense path */
  kubo_corr_mode mode;
  int64_t frames;            /* T */
  int64_t lags;              /* L */
  int64_t length;            /* P: time-transform length */

  /* grid path */
  kubo_grid *g;
  int ndim;
  int64_t shape[3];          /* row-major, x last */
  int64_t points;            /* M */
  int64_t modes;             /* H */
  fftw_plan time_forward;    /* BLOCK complex series of P, in place */
  fftw_plan time_backward;
  fftw_complex *xs, *ys;     /* (frames, H) spatial spectra, kept from
                             ** member to member (NULL until first use) */

  /* dense path */
  int64_t dim_x, dim_y;
  fftw_plan real_forward;    /* one real series of P -> P/2+1 complex */
  fftw_plan real_backward;   /* P/2+1 complex -> P real */
};


/* Returns the smallest n' >= n whose only prime factors are 2, 3, 5 and
** 7, a size FFTW transforms fast. */
static int64_t smooth_size(int64_t n) {
  for (int64_t m = n > 1 ? n : 1;; m++) {
    int64_t r = m;
    static const int primes[] = {2, 3, 5, 7};
    for (int i = 0; i < 4; i++)
      while (r % primes[i] == 0) r /= primes[i];
    if (r == 1) return m;
  }
}


static kubo_status check_sizes(int64_t frames, int64_t lags,
                               kubo_corr_mode mode) {
  if (frames < 1)
    return kubo_error_set(KUBO_EINVAL, "correlation: frames must be at "
                          "least 1 (got %lld)", (long long)frames);
  if (lags < 1 || lags > frames)
    return kubo_error_set(KUBO_EINVAL, "correlation: lags must be between "
                          "1 and the number of frames %lld (got %lld)",
                          (long long)frames, (long long)lags);
  if (mode != KUBO_CORR_CIRCULAR && mode != KUBO_CORR_PADDED)
    return kubo_error_set(KUBO_EINVAL, "correlation: unknown mode %d",
                          (int)mode);
  /* FFTW takes int sizes; 2^30 frames is far beyond any record */
  if (frames > ((int64_t)1 << 30))
    return kubo_error_set(KUBO_EINVAL, "correlation: %lld frames exceed "
                          "the limit of 2^30", (long long)frames);
  return KUBO_OK;
}


static int64_t transform_length(int64_t frames, int64_t lags,
                                kubo_corr_mode mode) {
  return mode == KUBO_CORR_CIRCULAR ? frames
                                    : smooth_size(frames + lags - 1);
}


void kubo_corr_free(kubo_corr *c) {
  if (c == NULL) return;
  kubo_fftw_lock();
  if (c->time_forward) fftw_destroy_plan(c->time_forward);
  if (c->time_backward) fftw_destroy_plan(c->time_backward);
  if (c->real_forward) fftw_destroy_plan(c->real_forward);
  if (c->real_backward) fftw_destroy_plan(c->real_backward);
  kubo_fftw_unlock();
  kubo_grid_release(c->g);
  if (c->grid) {
    size_t bytes = (size_t)c->frames * (size_t)c->modes *
                   sizeof(fftw_complex);
    kubo_free(c->xs, bytes);
    kubo_free(c->ys, bytes);
  }
  kubo_free(c, sizeof *c);
}


int64_t kubo_corr_modes(const kubo_corr *c) {
  return c->grid ? c->modes : 0;
}


kubo_status kubo_corr_new_grid(kubo_corr **out, int64_t frames,
                               int ndim, const int64_t *shape,
                               int64_t lags, kubo_corr_mode mode) {
  kubo_corr *c;
  int64_t n[3];
  fftw_complex *buf;
  int len;
  size_t nbytes;
  kubo_status status;

  *out = NULL;
  if ((status = check_sizes(frames, lags, mode)) != KUBO_OK) return status;
  if (ndim < 1 || ndim > 3)
    return kubo_error_set(KUBO_EINVAL, "correlation: a grid has 1 to 3 "
                          "dimensions (got %d)", ndim);
  for (int a = 0; a < ndim; a++)
    if (shape[a] < 2)
      return kubo_error_set(KUBO_EINVAL, "correlation: grid size %lld "
                            "along dimension %d is below 2",
                            (long long)shape[a], a + 1);

  if ((c = kubo_calloc(sizeof *c)) == NULL) return KUBO_ENOMEM;
  c->grid = 1;
  c->mode = mode;
  c->frames = frames;
  c->lags = lags;
  c->length = transform_length(frames, lags, mode);
  c->ndim = ndim;
  for (int a = 0; a < ndim; a++) {
    c->shape[a] = shape[a];
    n[a] = shape[ndim - 1 - a];         /* kubo_grid: axis 0 is x */
  }
  if ((status = kubo_grid_new(&c->g, ndim, n, NULL, KUBO_NYQUIST_DROP))
      != KUBO_OK) {
    kubo_corr_free(c);
    return status;
  }
  c->points = kubo_grid_real_size(c->g);
  c->modes = kubo_grid_spectral_size(c->g);

  /* plan on a scratch buffer; FFTW_ESTIMATE never reads it */
  len = (int)c->length;
  nbytes = (size_t)BLOCK * (size_t)c->length * sizeof(fftw_complex);
  if ((buf = kubo_alloc(nbytes)) == NULL) {
    kubo_corr_free(c);
    return KUBO_ENOMEM;
  }
  kubo_fftw_lock();
  c->time_forward = fftw_plan_many_dft(1, &len, BLOCK, buf, NULL, 1, len,
                                       buf, NULL, 1, len, FFTW_FORWARD,
                                       FFTW_ESTIMATE);
  c->time_backward = fftw_plan_many_dft(1, &len, BLOCK, buf, NULL, 1, len,
                                        buf, NULL, 1, len, FFTW_BACKWARD,
                                        FFTW_ESTIMATE);
  kubo_fftw_unlock();
  kubo_free(buf, nbytes);
  if (c->time_forward == NULL || c->time_backward == NULL) {
    kubo_corr_free(c);
    return kubo_error_set(KUBO_ENOMEM, "correlation: FFTW could not plan "
                          "a time transform of length %lld",
                          (long long)c->length);
  }
  *out = c;
  return KUBO_OK;
}


kubo_status kubo_corr_new_dense(kubo_corr **out, int64_t frames,
                                int64_t dim_x, int64_t dim_y,
                                int64_t lags, kubo_corr_mode mode) {
  kubo_corr *c;
  double *real;
  fftw_complex *spec;
  int len;
  size_t real_bytes, spec_bytes;
  kubo_status status;

  *out = NULL;
  if ((status = check_sizes(frames, lags, mode)) != KUBO_OK) return status;
  if (dim_x < 1 || dim_y < 1)
    return kubo_error_set(KUBO_EINVAL, "correlation: dimensions must be "
                          "at least 1 (got %lld and %lld)",
                          (long long)dim_x, (long long)dim_y);

  if ((c = kubo_calloc(sizeof *c)) == NULL) return KUBO_ENOMEM;
  c->mode = mode;
  c->frames = frames;
  c->lags = lags;
  c->length = transform_length(frames, lags, mode);
  c->dim_x = dim_x;
  c->dim_y = dim_y;

  len = (int)c->length;
  real_bytes = (size_t)c->length * sizeof(double);
  spec_bytes = (size_t)(c->length / 2 + 1) * sizeof(fftw_complex);
  real = kubo_alloc(real_bytes);
  spec = kubo_alloc(spec_bytes);
  if (real == NULL || spec == NULL) {
    kubo_free(real, real_bytes);
    kubo_free(spec, spec_bytes);
    kubo_corr_free(c);
    return KUBO_ENOMEM;
  }
  kubo_fftw_lock();
  c->real_forward = fftw_plan_dft_r2c_1d(len, real, spec, FFTW_ESTIMATE);
  c->real_backward = fftw_plan_dft_c2r_1d(len, spec, real, FFTW_ESTIMATE);
  kubo_fftw_unlock();
  kubo_free(real, real_bytes);
  kubo_free(spec, spec_bytes);
  if (c->real_forward == NULL || c->real_backward == NULL) {
    kubo_corr_free(c);
    return kubo_error_set(KUBO_ENOMEM, "correlation: FFTW could not plan "
                          "a time transform of length %lld",
                          (long long)c->length);
  }
  *out = c;
  return KUBO_OK;
}


/* Number of (t, t + tau) pairs behind lag tau. */
static double pair_count(const kubo_corr *c, int64_t tau) {
  return c->mode == KUBO_CORR_CIRCULAR ? (double)c->frames
                                       : (double)(c->frames - tau);
}


/* ---------------------------------------------------------------------
** Grid path
** ------------------------------------------------------------------- */

/* Transforms the frames of x over space into spec (frames, H complex)
** and subtracts the shift from the mean mode. */
static kubo_status space_transform(const kubo_corr *c, const double *x,
                                   const double *shift,
                                   fftw_complex *spec) {
  kubo_status status = kubo_grid_fft(c->g, c->frames, x, (double *)spec);
  if (status != KUBO_OK) return status;
  if (shift != NULL) {
    /* a constant field s has the spectrum M s at k = 0 only */
    double s = *shift * (double)c->points;
    for (int64_t t = 0; t < c->frames; t++)
      spec[t * c->modes] -= s;
  }
  return KUBO_OK;
}


/* Copies modes first .. first + BLOCK - 1 of spec (frames, H) into buf
** as BLOCK series of P values, zero beyond the frames or the modes. */
static void gather_block(const kubo_corr *c, const fftw_complex *spec,
                         int64_t first, fftw_complex *buf) {
  int64_t T = c->frames, P = c->length, H = c->modes;
  memset(buf, 0, (size_t)BLOCK * (size_t)P * sizeof *buf);
  for (int64_t t = 0; t < T; t++) {
    const fftw_complex *row = spec + t * H + first;
    int64_t n = H - first < BLOCK ? H - first : BLOCK;
    for (int64_t b = 0; b < n; b++) buf[b * P + t] = row[b];
  }
}


static kubo_status grid_member(kubo_corr *c, const double *x,
                               const double *shift_x, const double *y,
                               const double *shift_y, double *out) {
  int64_t T = c->frames, P = c->length, H = c->modes, L = c->lags;
  int64_t blocks = (H + BLOCK - 1) / BLOCK;
  size_t spec_bytes = (size_t)T * (size_t)H * sizeof(fftw_complex);
  size_t buf_bytes = (size_t)BLOCK * (size_t)P * sizeof(fftw_complex);
  fftw_complex *xs, *ys = NULL;
  fftw_complex *res = (fftw_complex *)out;
  int failed = 0;
  kubo_status status;

  if (c->xs == NULL && (c->xs = kubo_alloc(spec_bytes)) == NULL)
    return KUBO_ENOMEM;
  if (y != NULL && c->ys == NULL && (c->ys = kubo_alloc(spec_bytes)) == NULL)
    return KUBO_ENOMEM;
  xs = c->xs;
  status = space_transform(c, x, shift_x, xs);
  if (status == KUBO_OK && y != NULL) {
    ys = c->ys;
    status = space_transform(c, y, shift_y, ys);
  }
  if (status != KUBO_OK) return status;

  #pragma omp parallel reduction(| : failed)
  {
    fftw_complex *a = kubo_alloc(buf_bytes);
    fftw_complex *b = ys != NULL ? kubo_alloc(buf_bytes) : NULL;
    int ok = a != NULL && (ys == NULL || b != NULL);
    failed |= !ok;

    #pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
      int64_t first = blk * BLOCK;
      int64_t n = H - first < BLOCK ? H - first : BLOCK;
      if (!ok) continue;

      gather_block(c, xs, first, a);
      fftw_execute_dft(c->time_forward, a, a);
      if (ys != NULL) {
        gather_block(c, ys, first, b);
        fftw_execute_dft(c->time_forward, b, b);
        for (int64_t i = 0; i < BLOCK * P; i++) a[i] *= conj(b[i]);
      } else {
        for (int64_t i = 0; i < BLOCK * P; i++) {
          double re = creal(a[i]), im = cimag(a[i]);
          a[i] = re * re + im * im;
        }
      }
      fftw_execute_dft(c->time_backward, a, a);

      for (int64_t bi = 0; bi < n; bi++)
        for (int64_t tau = 0; tau < L; tau++)
          res[tau * H + first + bi] =
              a[bi * P + tau] /
              ((double)P * (double)c->points * pair_count(c, tau));
    }
    kubo_free(a, buf_bytes);
    kubo_free(b, buf_bytes);
  }

  if (failed)
    return kubo_error_set(KUBO_ENOMEM, "correlation: out of memory for "
                          "time-transform buffers");
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Dense path
** ------------------------------------------------------------------- */

/* Transforms each of the dim columns of x (frames, dim), minus shift,
** into spec (dim, P/2+1 complex). */
static int dense_transform(const kubo_corr *c, const double *x,
                           const double *shift, int64_t dim,
                           fftw_complex *spec) {
  int64_t T = c->frames, P = c->length, W = P / 2 + 1;
  size_t real_bytes = (size_t)P * sizeof(double);
  size_t out_bytes = (size_t)W * sizeof(fftw_complex);
  int failed = 0;

  #pragma omp parallel reduction(| : failed)
  {
    double *in = kubo_alloc(real_bytes);
    fftw_complex *o = kubo_alloc(out_bytes);
    int ok = in != NULL && o != NULL;
    failed |= !ok;

    #pragma omp for schedule(static)
    for (int64_t i = 0; i < dim; i++) {
      double s = shift != NULL ? shift[i] : 0.0;
      if (!ok) continue;
      for (int64_t t = 0; t < T; t++) in[t] = x[t * dim + i] - s;
      for (int64_t t = T; t < P; t++) in[t] = 0.0;
      fftw_execute_dft_r2c(c->real_forward, in, o);
      memcpy(spec + i * W, o, out_bytes);
    }
    kubo_free(in, real_bytes);
    kubo_free(o, out_bytes);
  }
  return failed;
}


static kubo_status dense_member(kubo_corr *c, const double *x,
                                const double *shift_x, const double *y,
                                const double *shift_y, double *out) {
  int64_t P = c->length, W = P / 2 + 1, L = c->lags;
  int64_t dx = c->dim_x, dy = c->dim_y;
  size_t xs_bytes = (size_t)dx * (size_t)W * sizeof(fftw_complex);
  size_t ys_bytes = (size_t)dy * (size_t)W * sizeof(fftw_complex);
  size_t real_bytes = (size_t)P * sizeof(double);
  size_t prod_bytes = (size_t)W * sizeof(fftw_complex);
  fftw_complex *xs, *ys;
  int failed;

  if ((xs = kubo_alloc(xs_bytes)) == NULL) return KUBO_ENOMEM;
  failed = dense_transform(c, x, shift_x, dx, xs);
  ys = xs;
  if (!failed && y != NULL) {
    if ((ys = kubo_alloc(ys_bytes)) == NULL) failed = 1;
    else failed = dense_transform(c, y, shift_y, dy, ys);
  }

  if (!failed) {
    #pragma omp parallel reduction(| : failed)
    {
      double *r = kubo_alloc(real_bytes);
      fftw_complex *p = kubo_alloc(prod_bytes);
      int ok = r != NULL && p != NULL;
      failed |= !ok;

      #pragma omp for schedule(static)
      for (int64_t ij = 0; ij < dx * dy; ij++) {
        int64_t i = ij / dy, j = ij % dy;
        const fftw_complex *a = xs + i * W, *b = ys + j * W;
        if (!ok) continue;
        for (int64_t w = 0; w < W; w++) p[w] = a[w] * conj(b[w]);
        fftw_execute_dft_c2r(c->real_backward, p, r);
        for (int64_t tau = 0; tau < L; tau++)
          out[(tau * dx + i) * dy + j] =
              r[tau] / ((double)P * pair_count(c, tau));
      }
      kubo_free(r, real_bytes);
      kubo_free(p, prod_bytes);
    }
  }

  if (ys != xs) kubo_free(ys, ys_bytes);
  kubo_free(xs, xs_bytes);
  if (failed)
    return kubo_error_set(KUBO_ENOMEM, "correlation: out of memory for "
                          "time-transform buffers");
  return KUBO_OK;
}


kubo_status kubo_corr_member(kubo_corr *c, const double *x,
                             const double *shift_x, const double *y,
                             const double *shift_y, double *out) {
  if (c == NULL || x == NULL || out == NULL)
    return kubo_error_set(KUBO_EINVAL, "correlation: NULL argument");
  if (!c->grid && y == NULL && c->dim_x != c->dim_y)
    return kubo_error_set(KUBO_EINVAL, "correlation: an autocorrelation "
                          "needs dim_x = dim_y (got %lld and %lld)",
                          (long long)c->dim_x, (long long)c->dim_y);
  if (y == NULL && shift_y != NULL && shift_y != shift_x)
    return kubo_error_set(KUBO_EINVAL, "correlation: shift_y given "
                          "without y");
  return c->grid ? grid_member(c, x, shift_x, y, shift_y, out)
                 : dense_member(c, x, shift_x, y, shift_y, out);
}


/* ---------------------------------------------------------------------
** Naive reference
** ------------------------------------------------------------------- */

/* Returns the flat index of point p moved by offset d on the periodic
** grid (both flat, row-major). */
static int64_t shift_point(const kubo_corr *c, int64_t p, int64_t d) {
  int64_t index = 0;
  int64_t pc[3], dc[3];
  for (int a = c->ndim - 1; a >= 0; a--) {
    pc[a] = p % c->shape[a];
    dc[a] = d % c->shape[a];
    p /= c->shape[a];
    d /= c->shape[a];
  }
  for (int a = 0; a < c->ndim; a++)
    index = index * c->shape[a] + (pc[a] + dc[a]) % c->shape[a];
  return index;
}


kubo_status kubo_corr_member_naive(const kubo_corr *c, const double *x,
                                   const double *shift_x, const double *y,
                                   const double *shift_y, double *out) {
  int64_t T, L, dx, dy;

  if (c == NULL || x == NULL || out == NULL)
    return kubo_error_set(KUBO_EINVAL, "correlation: NULL argument");
  T = c->frames;
  L = c->lags;
  dx = c->grid ? c->points : c->dim_x;
  dy = c->grid ? c->points : c->dim_y;
  if (y == NULL) {
    y = x;
    shift_y = shift_x;
  }
  for (int64_t tau = 0; tau < L; tau++) {
    int64_t pairs = c->mode == KUBO_CORR_CIRCULAR ? T : T - tau;
    if (c->grid) {
      double sx = shift_x ? *shift_x : 0.0, sy = shift_y ? *shift_y : 0.0;
      for (int64_t d = 0; d < dx; d++) {
        double sum = 0.0;
        for (int64_t t = 0; t < pairs; t++) {
          const double *xt = x + ((t + tau) % T) * dx, *yt = y + t * dy;
          for (int64_t p = 0; p < dx; p++)
            sum += (xt[shift_point(c, p, d)] - sx) * (yt[p] - sy);
        }
        out[tau * dx + d] = sum / ((double)dx * pair_count(c, tau));
      }
    } else {
      for (int64_t i = 0; i < dx; i++)
        for (int64_t j = 0; j < dy; j++) {
          double sx = shift_x ? shift_x[i] : 0.0;
          double sy = shift_y ? shift_y[j] : 0.0;
          double sum = 0.0;
          for (int64_t t = 0; t < pairs; t++)
            sum += (x[((t + tau) % T) * dx + i] - sx) * (y[t * dy + j] - sy);
          out[(tau * dx + i) * dy + j] = sum / pair_count(c, tau);
        }
    }
  }
  return KUBO_OK;
}
