/*
** score_gaussian.c: the score of the Gaussian fit to samples, dense or
** translation invariant (circulant) on a periodic grid.
*/
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kubo/alloc.h"
#include "score_internal.h"

/* Samples per pass when accumulating moments. */
#define CHUNK 1024


/* Copies samples first..first+m-1 of the contiguous tensor t as doubles. */
static void rows_as_double(const kubo_tensor *t, int64_t dim, int64_t first,
                           int64_t m, double *out) {
  int64_t off = first * dim;
  if (t->dtype == KUBO_FLOAT64)
    memcpy(out, (const double *)t->data + off,
           (size_t)(m * dim) * sizeof(double));
  else
    for (int64_t i = 0; i < m * dim; i++)
      out[i] = (double)((const float *)t->data)[off + i];
}


/* 2 for a half-spectrum mode that stands for itself and its conjugate
** partner, 1 for a self-conjugate column (ix = 0, and nx/2 for even nx). */
static double mode_weight(int64_t ix, int64_t nx) {
  if (ix == 0 || (nx % 2 == 0 && ix == nx / 2)) return 1.0;
  return 2.0;
}


static kubo_status fit_dense(kubo_score *s, const kubo_tensor *t,
                             int64_t count) {
  int64_t dim = s->dim;
  size_t ybytes = (size_t)(CHUNK * dim) * sizeof(double);
  double *y = kubo_alloc(ybytes);
  lapack_int info;
  s->mean = calloc((size_t)dim, sizeof(double));
  s->eig = calloc((size_t)dim, sizeof(double));
  s->vec = calloc((size_t)dim * (size_t)dim, sizeof(double));
  if (y == NULL || s->mean == NULL || s->eig == NULL || s->vec == NULL) {
    kubo_free(y, ybytes);
    return kubo_error_set(KUBO_ENOMEM, "score.gaussian: out of memory for "
                          "a (%lld, %lld) covariance", (long long)dim,
                          (long long)dim);
  }
  for (int64_t first = 0; first < count; first += CHUNK) {
    int64_t m = count - first < CHUNK ? count - first : CHUNK;
    rows_as_double(t, dim, first, m, y);
    for (int64_t r = 0; r < m; r++)
      for (int64_t i = 0; i < dim; i++) s->mean[i] += y[r * dim + i];
  }
  for (int64_t i = 0; i < dim; i++) s->mean[i] /= (double)count;
  for (int64_t first = 0; first < count; first += CHUNK) {
    int64_t m = count - first < CHUNK ? count - first : CHUNK;
    rows_as_double(t, dim, first, m, y);
    for (int64_t r = 0; r < m; r++)
      for (int64_t i = 0; i < dim; i++) y[r * dim + i] -= s->mean[i];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dim, (int)m,
                1.0, y, (int)dim, 1.0, s->vec, (int)dim);
  }
  kubo_free(y, ybytes);
  for (int64_t i = 0; i < dim * dim; i++) s->vec[i] /= (double)(count - 1);
  info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)dim, s->vec,
                        (lapack_int)dim, s->eig);
  if (info != 0)
    return kubo_error_set(KUBO_ENUMERIC, "score.gaussian: the eigenvalue "
                          "decomposition of the covariance failed (LAPACK "
                          "dsyevd info %d)", (int)info);
  return KUBO_OK;
}


static kubo_status fit_circulant(kubo_score *s, const kubo_tensor *t,
                                 int64_t count) {
  int64_t n[2], dim = s->dim, H;
  double *y = NULL, *spec = NULL, sum = 0;
  size_t ybytes, sbytes;
  kubo_status st;
  if (s->frame_ndim == 1) {
    n[0] = s->frame_shape[0];
  } else {
    n[0] = s->frame_shape[1];
    n[1] = s->frame_shape[0];
  }
  st = kubo_grid_new(&s->grid, s->frame_ndim, n, NULL, KUBO_NYQUIST_ZERO_K);
  if (st != KUBO_OK) return kubo_error_prefix(st, "score.gaussian");
  H = kubo_grid_spectral_size(s->grid);
  ybytes = (size_t)(CHUNK * dim) * sizeof(double);
  sbytes = (size_t)(CHUNK * 2 * H) * sizeof(double);
  y = kubo_alloc(ybytes);
  spec = kubo_alloc(sbytes);
  s->mean = calloc(1, sizeof(double));
  s->eig = calloc((size_t)H, sizeof(double));
  if (y == NULL || spec == NULL || s->mean == NULL || s->eig == NULL) {
    st = kubo_error_set(KUBO_ENOMEM, "score.gaussian: out of memory");
    goto done;
  }
  for (int64_t first = 0; first < count; first += CHUNK) {
    int64_t m = count - first < CHUNK ? count - first : CHUNK;
    rows_as_double(t, dim, first, m, y);
    for (int64_t i = 0; i < m * dim; i++) sum += y[i];
  }
  s->mean[0] = sum / ((double)count * (double)dim);
  for (int64_t first = 0; first < count && st == KUBO_OK; first += CHUNK) {
    int64_t m = count - first < CHUNK ? count - first : CHUNK;
    rows_as_double(t, dim, first, m, y);
    for (int64_t i = 0; i < m * dim; i++) y[i] -= s->mean[0];
    st = kubo_grid_fft(s->grid, m, y, spec);
    for (int64_t r = 0; r < m && st == KUBO_OK; r++)
      for (int64_t k = 0; k < H; k++) {
        double re = spec[2 * (r * H + k)], im = spec[2 * (r * H + k) + 1];
        s->eig[k] += re * re + im * im;
      }
  }
  for (int64_t k = 0; k < H; k++)
    s->eig[k] /= (double)(count - 1) * (double)dim;

done:
  kubo_free(y, ybytes);
  kubo_free(spec, sbytes);
  return st;
}


/* Sets the floor below which an eigenvalue counts as zero, and logs how
** many there are. */
static void set_floor(kubo_score *s) {
  int64_t n = s->cov == KUBO_SCORE_COV_DENSE
                ? s->dim : kubo_grid_spectral_size(s->grid);
  int64_t zeros = 0;
  double hi = 0;
  for (int64_t k = 0; k < n; k++)
    if (fabs(s->eig[k]) > hi) hi = fabs(s->eig[k]);
  s->eig_floor = 1e-12 * hi;
  for (int64_t k = 0; k < n; k++)
    if (s->eig[k] <= s->eig_floor) zeros++;
  if (zeros > 0)
    kubo_log(KUBO_LOG_WARN, "score.gaussian: %lld of %lld covariance "
             "eigenvalues are zero (below 1e-12 of the largest); at sigma = "
             "0 the score is 0 along them (a pseudo-inverse)",
             (long long)zeros, (long long)n);
}


/* The factor -1 / (c + sigma^2), or 0 along a direction without
** variance. */
static double inverse(const kubo_score *s, double c, double s2) {
  double d = c + s2;
  return d > s->eig_floor ? -1.0 / d : 0.0;
}


kubo_status kubo_score_gaussian(kubo_score **out, const kubo_tensor *data,
                                kubo_score_cov cov) {
  kubo_score_data *d = NULL;
  kubo_score *s = NULL;
  int64_t *idx = NULL;
  kubo_status st;
  *out = NULL;
  st = kubo_score_data_from_tensor(&d, data);
  if (st != KUBO_OK) return kubo_error_prefix(st, "score.gaussian");
  if (d->count < 2) {
    kubo_score_data_free(d);
    return kubo_error_set(KUBO_EINVAL, "score.gaussian: needs at least 2 "
                          "samples (got %lld)", (long long)d->count);
  }
  if (cov == KUBO_SCORE_COV_CIRCULANT && d->frame_ndim > 2) {
    kubo_score_data_free(d);
    return kubo_error_set(KUBO_EINVAL, "score.gaussian: kind \"circulant\" "
                          "needs samples of shape (n) or (ny, nx), one "
                          "channel; use kind \"dense\" for (channels, ny, "
                          "nx)");
  }
  s = calloc(1, sizeof *s);
  idx = malloc((size_t)d->count * sizeof *idx);
  if (s == NULL || idx == NULL) {
    st = kubo_error_set(KUBO_ENOMEM, "score.gaussian: out of memory");
    goto done;
  }
  s->kind = KUBO_SCORE_GAUSSIAN;
  s->cov = cov;
  s->synced_step = -1;
  s->frame_ndim = d->frame_ndim;
  s->dim = d->dim;
  for (int i = 0; i < d->frame_ndim; i++) s->frame_shape[i] =
                                            d->frame_shape[i];
  for (int64_t i = 0; i < d->count; i++) idx[i] = i;
  st = kubo_score_sigma_max_auto(d, d->count, idx, 1.0, 0, &s->sigma_max);
  if (st == KUBO_OK)
    st = cov == KUBO_SCORE_COV_DENSE ? fit_dense(s, &d->t, d->count)
                                     : fit_circulant(s, &d->t, d->count);
  if (st == KUBO_OK) set_floor(s);

done:
  free(idx);
  kubo_score_data_free(d);
  if (st != KUBO_OK) {
    kubo_score_free(s);
    return kubo_error_prefix(st, "score.gaussian");
  }
  *out = s;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Evaluation
** ------------------------------------------------------------------- */

kubo_status score_gaussian_chunk(kubo_score *s, int64_t n, const double *y,
                                 double sigma, double *out, double *work) {
  int64_t dim = s->dim;
  double s2 = sigma * sigma;
  kubo_status st = KUBO_OK;

  if (s->cov == KUBO_SCORE_COV_DENSE) {
    for (int64_t r = 0; r < n; r++)
      for (int64_t i = 0; i < dim; i++)
        work[r * dim + i] = y[r * dim + i] - s->mean[i];
    /* out = (y - mean) V, times -1 / (c_j + sigma^2) per column, then
    ** out V^T */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)dim,
                (int)dim, 1.0, work, (int)dim, s->vec, (int)dim, 0.0, out,
                (int)dim);
    for (int64_t r = 0; r < n; r++)
      for (int64_t j = 0; j < dim; j++)
        out[r * dim + j] *= inverse(s, s->eig[j], s2);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)dim,
                (int)dim, 1.0, out, (int)dim, s->vec, (int)dim, 0.0, work,
                (int)dim);
    memcpy(out, work, (size_t)(n * dim) * sizeof(double));
    return KUBO_OK;
  }

  {
    int64_t H = kubo_grid_spectral_size(s->grid);
    size_t sbytes = (size_t)(n * 2 * H) * sizeof(double);
    double *spec = kubo_alloc(sbytes);
    if (spec == NULL) return KUBO_ENOMEM;
    for (int64_t i = 0; i < n * dim; i++) work[i] = y[i] - s->mean[0];
    st = kubo_grid_fft(s->grid, n, work, spec);
    for (int64_t r = 0; r < n && st == KUBO_OK; r++)
      for (int64_t k = 0; k < H; k++) {
        double f = inverse(s, s->eig[k], s2);
        spec[2 * (r * H + k)] *= f;
        spec[2 * (r * H + k) + 1] *= f;
      }
    if (st == KUBO_OK) st = kubo_grid_ifft_overwrite(s->grid, n, spec, out);
    kubo_free(spec, sbytes);
    return st;
  }
}


kubo_status kubo_score_gaussian_ideal_loss(const kubo_score *g, double sigma,
                                           double scale, double *loss) {
  double sum = 0, s2 = sigma * sigma, a2 = scale * scale;
  if (g->kind != KUBO_SCORE_GAUSSIAN)
    return kubo_error_set(KUBO_EINVAL, "score: the ideal loss needs a "
                          "Gaussian score, not a %s one",
                          kubo_score_kind_name(g->kind));
  if (g->cov == KUBO_SCORE_COV_DENSE) {
    for (int64_t j = 0; j < g->dim; j++) {
      double c = g->eig[j] > 0 ? g->eig[j] * a2 : 0;
      if (c + s2 > 0) sum += c / (c + s2);
    }
  } else {
    int64_t nx = kubo_grid_n(g->grid, 0), hx = nx / 2 + 1;
    int64_t H = kubo_grid_spectral_size(g->grid);
    for (int64_t k = 0; k < H; k++) {
      double c = g->eig[k] > 0 ? g->eig[k] * a2 : 0;
      if (c + s2 > 0) sum += mode_weight(k % hx, nx) * c / (c + s2);
    }
  }
  *loss = sum / (double)g->dim;
  return KUBO_OK;
}
