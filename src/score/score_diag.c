/*
** score_diag.c: diagnostics that expose a bad score without a reference:
** Stein values per Fourier mode or as a matrix, and the denoising loss
** at one noise level.
*/
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/rng.h"
#include "score_internal.h"

#define CHUNK 512


/* Checks that x and s are (samples, ...) of one shape with at least 2
** samples, and makes contiguous views of both. */
static kubo_status pair_inputs(const kubo_tensor *x, const kubo_tensor *s,
                               const char *fname, kubo_tensor *xc,
                               kubo_tensor *sc) {
  char a[96], b[96];
  kubo_status st;
  if (kubo_tensor_is_empty(x) || kubo_tensor_is_empty(s))
    return kubo_error_set(KUBO_ESTATE, "%s: an input tensor is empty or "
                          "freed", fname);
  if (!kubo_tensor_same_shape(x, s)) {
    kubo_tensor_shape_string(x, a, sizeof a);
    kubo_tensor_shape_string(s, b, sizeof b);
    return kubo_error_set(KUBO_EINVAL, "%s: samples have shape %s but their "
                          "scores %s, expected equal shapes", fname, a, b);
  }
  if (x->ndim < 2 || x->shape[0] < 2)
    return kubo_error_set(KUBO_EINVAL, "%s: expected (samples, ...) with at "
                          "least 2 samples", fname);
  st = kubo_tensor_contiguous(xc, x);
  if (st == KUBO_OK) st = kubo_tensor_contiguous(sc, s);
  return st;
}


static void read_rows(const kubo_tensor *t, int64_t dim, int64_t first,
                      int64_t m, double *out) {
  int64_t off = first * dim;
  if (t->dtype == KUBO_FLOAT64)
    memcpy(out, (const double *)t->data + off,
           (size_t)(m * dim) * sizeof(double));
  else
    for (int64_t i = 0; i < m * dim; i++)
      out[i] = (double)((const float *)t->data)[off + i];
}


/* Per-value sample mean of the contiguous (count, dim) tensor t. */
static void column_mean(const kubo_tensor *t, int64_t count, int64_t dim,
                        double *mean, double *row) {
  memset(mean, 0, (size_t)dim * sizeof *mean);
  for (int64_t r = 0; r < count; r++) {
    read_rows(t, dim, r, 1, row);
    for (int64_t i = 0; i < dim; i++) mean[i] += row[i];
  }
  for (int64_t i = 0; i < dim; i++) mean[i] /= (double)count;
}


kubo_status kubo_score_stein_spectral(const kubo_tensor *x,
                                      const kubo_tensor *s,
                                      kubo_tensor *values,
                                      kubo_tensor *stderr_out) {
  const char *fname = "score.stein";
  kubo_tensor xc = {0}, sc = {0};
  kubo_grid *grid = NULL;
  int64_t n[2], count, dim, H, shape[3];
  double *mean = NULL, *xb = NULL, *sb = NULL, *xs = NULL, *ss = NULL;
  double *sum = NULL, *sumsq = NULL;
  size_t bbytes = 0, sbytes = 0;
  int ndim;
  kubo_status st;

  memset(values, 0, sizeof *values);
  memset(stderr_out, 0, sizeof *stderr_out);
  st = pair_inputs(x, s, fname, &xc, &sc);
  if (st != KUBO_OK) goto done;
  if (x->ndim != 2 && x->ndim != 3) {
    st = kubo_error_set(KUBO_EINVAL, "%s: expected samples of shape "
                        "(samples, n) or (samples, ny, nx), got %d "
                        "dimensions", fname, x->ndim);
    goto done;
  }
  ndim = x->ndim - 1;
  count = x->shape[0];
  if (ndim == 1) {
    n[0] = x->shape[1];
  } else {
    n[0] = x->shape[2];
    n[1] = x->shape[1];
  }
  dim = kubo_tensor_numel(x) / count;
  st = kubo_grid_new(&grid, ndim, n, NULL, KUBO_NYQUIST_ZERO_K);
  if (st != KUBO_OK) goto done;
  H = kubo_grid_spectral_size(grid);
  bbytes = (size_t)(CHUNK * dim) * sizeof(double);
  sbytes = (size_t)(CHUNK * 2 * H) * sizeof(double);
  mean = calloc((size_t)dim, sizeof *mean);
  sum = calloc((size_t)H, sizeof *sum);
  sumsq = calloc((size_t)H, sizeof *sumsq);
  xb = kubo_alloc(bbytes);
  sb = kubo_alloc(bbytes);
  xs = kubo_alloc(sbytes);
  ss = kubo_alloc(sbytes);
  if (mean == NULL || sum == NULL || sumsq == NULL || xb == NULL ||
      sb == NULL || xs == NULL || ss == NULL) {
    st = kubo_error_set(KUBO_ENOMEM, "%s: out of memory", fname);
    goto done;
  }
  column_mean(&xc, count, dim, mean, xb);

  for (int64_t first = 0; first < count && st == KUBO_OK; first += CHUNK) {
    int64_t m = count - first < CHUNK ? count - first : CHUNK;
    read_rows(&xc, dim, first, m, xb);
    read_rows(&sc, dim, first, m, sb);
    for (int64_t r = 0; r < m; r++)
      for (int64_t i = 0; i < dim; i++) xb[r * dim + i] -= mean[i];
    st = kubo_grid_fft(grid, m, xb, xs);
    if (st == KUBO_OK) st = kubo_grid_fft(grid, m, sb, ss);
    for (int64_t r = 0; r < m && st == KUBO_OK; r++)
      for (int64_t k = 0; k < H; k++) {
        int64_t o = 2 * (r * H + k);
        double v = -(xs[o] * ss[o] + xs[o + 1] * ss[o + 1]) / (double)dim;
        sum[k] += v;
        sumsq[k] += v * v;
      }
  }
  if (st != KUBO_OK) goto done;

  ndim = kubo_grid_spectral_shape(grid, shape) - 1;
  st = kubo_tensor_init(values, KUBO_FLOAT64, ndim, shape);
  if (st == KUBO_OK)
    st = kubo_tensor_init(stderr_out, KUBO_FLOAT64, ndim, shape);
  if (st == KUBO_OK) {
    double *v = values->data, *e = stderr_out->data, N = (double)count;
    for (int64_t k = 0; k < H; k++) {
      double mu = sum[k] / N;
      double var = (sumsq[k] - N * mu * mu) / (N - 1);
      v[k] = mu;
      e[k] = sqrt(var > 0 ? var / N : 0);
    }
  }

done:
  if (st != KUBO_OK) {
    kubo_tensor_release(values);
    kubo_tensor_release(stderr_out);
  }
  kubo_grid_release(grid);
  kubo_tensor_release(&xc);
  kubo_tensor_release(&sc);
  free(mean);
  free(sum);
  free(sumsq);
  kubo_free(xb, bbytes);
  kubo_free(sb, bbytes);
  kubo_free(xs, sbytes);
  kubo_free(ss, sbytes);
  return st;
}


kubo_status kubo_score_stein_dense(const kubo_tensor *x,
                                   const kubo_tensor *s, kubo_tensor *out) {
  kubo_tensor xc = {0}, sc = {0};
  int64_t count, dim, shape[2];
  double *mean = NULL, *xb = NULL, *sb = NULL;
  size_t bbytes = 0;
  kubo_status st;

  memset(out, 0, sizeof *out);
  st = pair_inputs(x, s, "score.stein", &xc, &sc);
  if (st != KUBO_OK) goto done;
  count = x->shape[0];
  dim = kubo_tensor_numel(x) / count;
  shape[0] = shape[1] = dim;
  bbytes = (size_t)(CHUNK * dim) * sizeof(double);
  mean = calloc((size_t)dim, sizeof *mean);
  xb = kubo_alloc(bbytes);
  sb = kubo_alloc(bbytes);
  if (mean == NULL || xb == NULL || sb == NULL) {
    st = kubo_error_set(KUBO_ENOMEM, "score.stein: out of memory");
    goto done;
  }
  st = kubo_tensor_init(out, KUBO_FLOAT64, 2, shape);
  if (st != KUBO_OK) goto done;
  column_mean(&xc, count, dim, mean, xb);
  for (int64_t first = 0; first < count; first += CHUNK) {
    int64_t m = count - first < CHUNK ? count - first : CHUNK;
    read_rows(&xc, dim, first, m, xb);
    read_rows(&sc, dim, first, m, sb);
    for (int64_t r = 0; r < m; r++)
      for (int64_t i = 0; i < dim; i++) xb[r * dim + i] -= mean[i];
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dim, (int)dim,
                (int)m, -1.0 / (double)count, xb, (int)dim, sb, (int)dim,
                1.0, out->data, (int)dim);
  }

done:
  if (st != KUBO_OK) kubo_tensor_release(out);
  kubo_tensor_release(&xc);
  kubo_tensor_release(&sc);
  free(mean);
  kubo_free(xb, bbytes);
  kubo_free(sb, bbytes);
  return st;
}


kubo_status kubo_score_dsm_loss(kubo_score *s, const kubo_tensor *x,
                                double sigma, uint64_t seed, double *loss,
                                double *stderr_out) {
  kubo_tensor xc = {0};
  double scale = kubo_score_scale(s), sum = 0, sumsq = 0;
  double *y = NULL, *z = NULL, *o = NULL;
  int64_t count, dim = s->dim;
  size_t bytes;
  kubo_status st;

  if (!(sigma > 0) || !isfinite(sigma))
    return kubo_error_set(KUBO_EINVAL, "score.loss: sigma must be positive "
                          "and finite (got %g)", sigma);
  if (kubo_tensor_is_empty(x))
    return kubo_error_set(KUBO_ESTATE, "score.loss: the data tensor is "
                          "empty or freed");
  {
    bool fits = x->ndim > s->frame_ndim;
    for (int i = 0; fits && i < s->frame_ndim; i++)
      fits = x->shape[x->ndim - s->frame_ndim + i] == s->frame_shape[i];
    if (!fits)
      return kubo_error_set(KUBO_EINVAL, "score.loss: the data do not end "
                            "in the score's sample shape");
  }
  count = kubo_tensor_numel(x) / dim;
  if (count < 2)
    return kubo_error_set(KUBO_EINVAL, "score.loss: needs at least 2 "
                          "samples (got %lld)", (long long)count);
  st = kubo_tensor_contiguous(&xc, x);
  if (st != KUBO_OK) return st;
  bytes = (size_t)(CHUNK * dim) * sizeof(double);
  y = kubo_alloc(bytes);
  z = kubo_alloc(bytes);
  o = kubo_alloc(bytes);
  if (y == NULL || z == NULL || o == NULL) st = KUBO_ENOMEM;

  for (int64_t first = 0; first < count && st == KUBO_OK; first += CHUNK) {
    int64_t m = count - first < CHUNK ? count - first : CHUNK;
    read_rows(&xc, dim, first, m, y);
    for (int64_t r = 0; r < m; r++) {
      kubo_rng rng;
      kubo_rng_init(&rng, seed, kubo_rng_substream(KUBO_SCORE_KEY_LOSS,
                                                   (uint64_t)(first + r)));
      kubo_rng_normal(&rng, z + r * dim, dim);
      for (int64_t i = r * dim; i < (r + 1) * dim; i++)
        y[i] = scale * y[i] + sigma * z[i];
    }
    st = score_eval_units(s, m, y, s->kind == KUBO_SCORE_ANALYTIC ? 0
                                                                  : sigma,
                          o);
    for (int64_t r = 0; r < m && st == KUBO_OK; r++) {
      double l = 0;
      for (int64_t i = r * dim; i < (r + 1) * dim; i++) {
        double res = z[i] + sigma * o[i];
        l += res * res;
      }
      l /= (double)dim;
      sum += l;
      sumsq += l * l;
    }
  }
  if (st == KUBO_OK) {
    double N = (double)count, mu = sum / N;
    double var = (sumsq - N * mu * mu) / (N - 1);
    *loss = mu;
    if (stderr_out != NULL) *stderr_out = sqrt(var > 0 ? var / N : 0);
  }
  kubo_free(y, bytes);
  kubo_free(z, bytes);
  kubo_free(o, bytes);
  kubo_tensor_release(&xc);
  return st;
}
