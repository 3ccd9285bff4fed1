/*
** estimate.c: the Gaussian, score and conjugate-observable response
** estimators, accumulated member by member.
**
** Each member's correlation is added to a pooled sum, from which the
** final estimate is formed. The member's own estimate is formed as well,
** and the running mean and sum of squared deviations of these (Welford's
** update) give the standard error as the spread of per-member
** estimates. On grids everything stays in the spatial
** Fourier domain until the end, where the per-wavenumber response goes
** back to real space and is placed around the impulse site.
*/
#include <complex.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/grid.h"
#include "kubo/response.h"

/* Modes (or pivots) below this fraction of the largest are left out of
** a ratio. */
#define RATIO_CUTOFF 1e-12

/* Reciprocal condition number below which a dense C(0) or S(0) counts
** as singular. */
#define RCOND_MIN 1e-13

struct kubo_response_est {
  kubo_response_spec spec;
  kubo_corr *corr;
  kubo_grid *g;              /* grid kinds except conjugate */
  int spectral;              /* 1: grid path with per-mode ratios */
  int64_t d;                 /* values of one state */
  int64_t modes;             /* H (spectral path) */
  int64_t lag_size;          /* doubles of one lag of the correlation */
  int64_t out_size;          /* doubles of one lag of the estimate */
  int64_t members;
  int member_failed;         /* a member's own estimate was singular */

  double *corr_sum;          /* (lags, lag_size): pooled correlation */
  double *corr_one;          /* (lags, lag_size): one member's */
  double *est_one;           /* (lags, out_size): one member's estimate */
  double *est_mean;          /* (lags, out_size): running mean and */
  double *est_m2;            /* sum of squared deviations (Welford) */
  double *work;              /* (lags, lag_size): ratio spectra */
};


static size_t lag_bytes(const kubo_response_est *e, int64_t per_lag) {
  return (size_t)e->spec.lags * (size_t)per_lag * sizeof(double);
}


void kubo_response_est_free(kubo_response_est *e) {
  if (e == NULL) return;
  kubo_free(e->corr_sum, lag_bytes(e, e->lag_size));
  kubo_free(e->corr_one, lag_bytes(e, e->lag_size));
  kubo_free(e->work, lag_bytes(e, e->lag_size));
  kubo_free(e->est_one, lag_bytes(e, e->out_size));
  kubo_free(e->est_mean, lag_bytes(e, e->out_size));
  kubo_free(e->est_m2, lag_bytes(e, e->out_size));
  kubo_corr_free(e->corr);
  kubo_grid_release(e->g);
  kubo_free(e, sizeof *e);
}


void kubo_response_release(kubo_response *r) {
  kubo_tensor_release(&r->values);
  kubo_tensor_release(&r->std_error);
  kubo_tensor_release(&r->stein);
  memset(r, 0, sizeof *r);
}


static kubo_status check_spec(const kubo_response_spec *s) {
  if (s->kind != KUBO_RESPONSE_GAUSSIAN && s->kind != KUBO_RESPONSE_SCORE &&
      s->kind != KUBO_RESPONSE_CONJUGATE)
    return kubo_error_set(KUBO_EINVAL, "response: unknown estimator kind "
                          "%d", (int)s->kind);
  if (s->ndim < 0 || s->ndim > KUBO_MAX_DIM - 2)
    return kubo_error_set(KUBO_EINVAL, "response: the state has %d "
                          "dimensions, expected 0 to %d", s->ndim,
                          KUBO_MAX_DIM - 2);
  for (int a = 0; a < s->ndim; a++)
    if (s->shape[a] < 1)
      return kubo_error_set(KUBO_EINVAL, "response: state size %lld along "
                            "dimension %d is below 1",
                            (long long)s->shape[a], a + 1);
  if (s->grid) {
    if (s->ndim < 1 || s->ndim > 3)
      return kubo_error_set(KUBO_EINVAL, "response: a grid state has 1 to "
                            "3 dimensions (got %d)", s->ndim);
    for (int a = 0; a < s->ndim; a++)
      if (s->site[a] < 0 || s->site[a] >= s->shape[a])
        return kubo_error_set(KUBO_EINVAL, "response: site index %lld "
                              "along dimension %d is outside 0..%lld",
                              (long long)s->site[a], a + 1,
                              (long long)s->shape[a] - 1);
  }
  if (s->normalize && s->kind != KUBO_RESPONSE_SCORE)
    return kubo_error_set(KUBO_EINVAL, "response: normalize applies to "
                          "the score estimator only");
  return KUBO_OK;
}


kubo_status kubo_response_est_new(kubo_response_est **out,
                                  const kubo_response_spec *spec) {
  kubo_response_est *e;
  kubo_status status;
  int64_t d = 1;

  *out = NULL;
  if ((status = check_spec(spec)) != KUBO_OK) return status;
  for (int a = 0; a < spec->ndim; a++) d *= spec->shape[a];

  if ((e = kubo_calloc(sizeof *e)) == NULL) return KUBO_ENOMEM;
  e->spec = *spec;
  e->d = d;
  e->spectral = spec->grid && spec->kind != KUBO_RESPONSE_CONJUGATE;

  if (e->spectral) {
    int64_t n[3];
    status = kubo_corr_new_grid(&e->corr, spec->frames, spec->ndim,
                                spec->shape, spec->lags, spec->mode);
    for (int a = 0; a < spec->ndim; a++)
      n[a] = spec->shape[spec->ndim - 1 - a];
    if (status == KUBO_OK)
      status = kubo_grid_new(&e->g, spec->ndim, n, NULL, KUBO_NYQUIST_DROP);
    if (status == KUBO_OK) {
      e->modes = kubo_corr_modes(e->corr);
      e->lag_size = 2 * e->modes;
      e->out_size = d;
    }
  } else if (spec->kind == KUBO_RESPONSE_CONJUGATE) {
    status = kubo_corr_new_dense(&e->corr, spec->frames, d, 1, spec->lags,
                                 spec->mode);
    e->lag_size = e->out_size = d;
  } else {
    status = kubo_corr_new_dense(&e->corr, spec->frames, d, d, spec->lags,
                                 spec->mode);
    e->lag_size = e->out_size = d * d;
  }
  if (status != KUBO_OK) {
    kubo_response_est_free(e);
    return kubo_error_prefix(status, "response");
  }

  e->corr_sum = kubo_calloc(lag_bytes(e, e->lag_size));
  e->corr_one = kubo_alloc(lag_bytes(e, e->lag_size));
  e->work = kubo_alloc(lag_bytes(e, e->lag_size));
  e->est_one = kubo_alloc(lag_bytes(e, e->out_size));
  e->est_mean = kubo_calloc(lag_bytes(e, e->out_size));
  e->est_m2 = kubo_calloc(lag_bytes(e, e->out_size));
  if (!e->corr_sum || !e->corr_one || !e->work || !e->est_one ||
      !e->est_mean || !e->est_m2) {
    kubo_response_est_free(e);
    return KUBO_ENOMEM;
  }
  *out = e;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Estimates from a correlation (pooled or one member's)
** ------------------------------------------------------------------- */

/* Grid: turns the correlation spectrum corr (lags, H complex) into the
** estimate r(D, tau) in real space, out (lags, M). */
static kubo_status spectral_estimate(kubo_response_est *e,
                                     const double *corr, double *out) {
  const double complex *c = (const double complex *)corr;
  double complex *w = (double complex *)e->work;
  int64_t H = e->modes, L = e->spec.lags;
  int ratio = e->spec.kind == KUBO_RESPONSE_GAUSSIAN || e->spec.normalize;
  double sign = e->spec.kind == KUBO_RESPONSE_SCORE ? -1.0 : 1.0;

  if (ratio) {
    double largest = 0.0;
    for (int64_t k = 0; k < H; k++)
      if (cabs(c[k]) > largest) largest = cabs(c[k]);
    for (int64_t k = 0; k < H; k++) {
      double complex c0 = c[k];
      int included = largest > 0 && cabs(c0) > RATIO_CUTOFF * largest;
      for (int64_t tau = 0; tau < L; tau++)
        w[tau * H + k] = included ? c[tau * H + k] / c0 : 0.0;
    }
  } else {
    for (int64_t i = 0; i < L * H; i++) w[i] = sign * c[i];
  }
  return kubo_grid_ifft_overwrite(e->g, L, e->work, out);
}


/* Solves R b = a for R (right division) for every lag: a (lags, n, n)
** in place becomes R(tau) = a(tau) b^-1. Fails with KUBO_ENUMERIC if b
** is singular. */
static kubo_status right_divide(int64_t lags, int64_t n, const double *b,
                                double *a, const char *what) {
  size_t mat_bytes = (size_t)n * (size_t)n * sizeof(double);
  size_t rhs_bytes = (size_t)lags * mat_bytes;
  size_t piv_bytes = (size_t)n * sizeof(lapack_int);
  double *bt = kubo_alloc(mat_bytes), *rhs = kubo_alloc(rhs_bytes);
  lapack_int *piv = kubo_alloc(piv_bytes);
  kubo_status status = KUBO_OK;
  lapack_int info;
  double anorm = 0.0, rcond = 0.0;

  if (bt == NULL || rhs == NULL || piv == NULL) {
    status = KUBO_ENOMEM;
    goto done;
  }
  /* R b = a  <=>  b^T R^T = a^T: one solve with lags * n right sides */
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) bt[i * n + j] = b[j * n + i];
  for (int64_t j = 0; j < n; j++) {
    double col = 0.0;
    for (int64_t i = 0; i < n; i++) col += fabs(bt[i * n + j]);
    if (col > anorm) anorm = col;
  }
  for (int64_t tau = 0; tau < lags; tau++)
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++)
        rhs[i * lags * n + tau * n + j] = a[(tau * n + j) * n + i];

  info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, bt,
                        (lapack_int)n, piv);
  if (info == 0)
    info = LAPACKE_dgecon(LAPACK_ROW_MAJOR, '1', (lapack_int)n, bt,
                          (lapack_int)n, anorm, &rcond);
  if (info != 0 || !(rcond >= RCOND_MIN)) {
    status = kubo_error_set(KUBO_ENUMERIC, "response: %s is singular "
                            "(reciprocal condition number %.3g); the data "
                            "may not vary in every component", what,
                            rcond);
    goto done;
  }
  LAPACKE_dgetrs(LAPACK_ROW_MAJOR, 'N', (lapack_int)n,
                 (lapack_int)(lags * n), bt, (lapack_int)n, piv, rhs,
                 (lapack_int)(lags * n));
  for (int64_t tau = 0; tau < lags; tau++)
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++)
        a[(tau * n + j) * n + i] = rhs[i * lags * n + tau * n + j];

done:
  kubo_free(bt, mat_bytes);
  kubo_free(rhs, rhs_bytes);
  kubo_free(piv, piv_bytes);
  return status;
}


/* Dense: turns the correlation corr into the estimate out (both
** (lags, out_size)). */
static kubo_status dense_estimate(kubo_response_est *e, const double *corr,
                                  double *out) {
  int64_t L = e->spec.lags, n = e->d;
  size_t bytes = lag_bytes(e, e->out_size);

  switch (e->spec.kind) {
  case KUBO_RESPONSE_CONJUGATE:
    memcpy(out, corr, bytes);
    return KUBO_OK;
  case KUBO_RESPONSE_SCORE:
    for (int64_t i = 0; i < L * e->out_size; i++) out[i] = -corr[i];
    if (!e->spec.normalize) return KUBO_OK;
    memcpy(e->work, out, (size_t)(n * n) * sizeof(double));
    return right_divide(L, n, e->work, out, "the score correlation S(0)");
  case KUBO_RESPONSE_GAUSSIAN:
  default:
    memcpy(out, corr, bytes);
    memcpy(e->work, corr, (size_t)(n * n) * sizeof(double));
    return right_divide(L, n, e->work, out, "the covariance C(0)");
  }
}


static kubo_status form_estimate(kubo_response_est *e, const double *corr,
                                 double *out) {
  return e->spectral ? spectral_estimate(e, corr, out)
                     : dense_estimate(e, corr, out);
}


/* ---------------------------------------------------------------------
** Accumulation
** ------------------------------------------------------------------- */

static kubo_status check_finite(const double *v, int64_t frames,
                                int64_t per_frame, const char *what) {
  for (int64_t t = 0; t < frames; t++)
    for (int64_t i = 0; i < per_frame; i++)
      if (!isfinite(v[t * per_frame + i]))
        return kubo_error_set(KUBO_ENUMERIC, "response: %s holds %g at "
                              "frame %lld (index %lld)", what,
                              v[t * per_frame + i], (long long)t + 1,
                              (long long)i + 1);
  return KUBO_OK;
}


kubo_status kubo_response_est_add(kubo_response_est *e, const double *x,
                                  const double *y, const double *mean) {
  const kubo_response_spec *s = &e->spec;
  int64_t T = s->frames, L = s->lags;
  const double *shift = s->kind == KUBO_RESPONSE_GAUSSIAN ? mean : NULL;
  kubo_status status;

  if (x == NULL)
    return kubo_error_set(KUBO_EINVAL, "response: NULL states");
  if (s->kind != KUBO_RESPONSE_GAUSSIAN && y == NULL)
    return kubo_error_set(KUBO_EINVAL, "response: the %s estimator needs "
                          "a second series per member",
                          s->kind == KUBO_RESPONSE_SCORE ? "score"
                                                         : "conjugate");
  if ((status = check_finite(x, T, e->d, "the data")) != KUBO_OK)
    return status;
  if (s->kind == KUBO_RESPONSE_SCORE &&
      (status = check_finite(y, T, e->d, "the score")) != KUBO_OK)
    return status;
  if (s->kind == KUBO_RESPONSE_CONJUGATE &&
      (status = check_finite(y, T, 1, "the conjugate observable B"))
      != KUBO_OK)
    return status;

  status = kubo_corr_member(e->corr, x, shift,
                            s->kind == KUBO_RESPONSE_GAUSSIAN ? NULL : y,
                            NULL, e->corr_one);
  if (status != KUBO_OK) return kubo_error_prefix(status, "response");

  for (int64_t i = 0; i < L * e->lag_size; i++)
    e->corr_sum[i] += e->corr_one[i];
  e->members++;

  status = form_estimate(e, e->corr_one, e->est_one);
  if (status == KUBO_ENUMERIC) {
    /* a member too short for its own C(0): no standard error, but the
    ** pooled estimate may still be fine */
    e->member_failed = 1;
    kubo_error_clear();
    return KUBO_OK;
  }
  if (status != KUBO_OK) return status;
  for (int64_t i = 0; i < L * e->out_size; i++) {
    double d = e->est_one[i] - e->est_mean[i];
    e->est_mean[i] += d / (double)e->members;
    e->est_m2[i] += d * (e->est_one[i] - e->est_mean[i]);
  }
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Completion
** ------------------------------------------------------------------- */

/* Returns the flat offset D = p - site of grid point p (row-major,
** periodic in every dimension). */
static int64_t offset_of(const kubo_response_spec *s, int64_t p) {
  int64_t coord[3], index = 0;
  for (int a = s->ndim - 1; a >= 0; a--) {
    coord[a] = p % s->shape[a];
    p /= s->shape[a];
  }
  for (int a = 0; a < s->ndim; a++)
    index = index * s->shape[a] +
            (coord[a] - s->site[a] + s->shape[a]) % s->shape[a];
  return index;
}


/* Copies src (lags, M), indexed by offset, into dst indexed by point:
** dst[tau, p] = src[tau, p - site]. */
static void place_at_site(const kubo_response_est *e, int64_t lags,
                          const double *src, double *dst) {
  int64_t M = e->d;
  for (int64_t p = 0; p < M; p++) {
    int64_t d = offset_of(&e->spec, p);
    for (int64_t tau = 0; tau < lags; tau++)
      dst[tau * M + p] = src[tau * M + d];
  }
}


static kubo_status new_output(const kubo_response_est *e, kubo_tensor *t,
                              int64_t lags) {
  const kubo_response_spec *s = &e->spec;
  int64_t shape[KUBO_MAX_DIM];
  int ndim = 1;
  shape[0] = lags;
  if (e->spectral || s->kind == KUBO_RESPONSE_CONJUGATE) {
    if (s->ndim == 0) shape[ndim++] = 1;
    for (int a = 0; a < s->ndim; a++) shape[ndim++] = s->shape[a];
  } else {
    shape[ndim++] = e->d;
    shape[ndim++] = e->d;
  }
  return kubo_tensor_init(t, KUBO_FLOAT64, ndim, shape);
}


/* Fills the score's Stein summary from the raw pooled S(0). */
static kubo_status fill_stein(kubo_response_est *e, kubo_response *r) {
  int64_t n = e->d;
  double *raw, *st;
  size_t bytes = (size_t)n * (size_t)(e->spectral ? 1 : n) * sizeof(double);
  double diagonal = 0.0, deviation = 0.0;
  kubo_status status;

  if ((raw = kubo_alloc(e->spectral ? 2 * (size_t)e->modes * sizeof(double)
                                    : bytes)) == NULL)
    return KUBO_ENOMEM;
  if (e->spectral) {
    /* S(D, 0) in real space from the lag-0 spectrum */
    double complex *c = (double complex *)raw;
    const double complex *sum = (const double complex *)e->corr_sum;
    double *field = kubo_alloc(bytes);
    for (int64_t k = 0; k < e->modes; k++)
      c[k] = -sum[k] / (double)e->members;
    status = field ? kubo_grid_ifft(e->g, 1, raw, field) : KUBO_ENOMEM;
    if (status == KUBO_OK) {
      int64_t shape[KUBO_MAX_DIM];
      for (int a = 0; a < e->spec.ndim; a++) shape[a] = e->spec.shape[a];
      status = kubo_tensor_init(&r->stein, KUBO_FLOAT64, e->spec.ndim,
                                shape);
    }
    if (status == KUBO_OK) {
      st = r->stein.data;
      place_at_site(e, 1, field, st);
      diagonal = field[0];
      for (int64_t p = 0; p < n; p++) {
        double dev = fabs(field[p] - (p == 0 ? 1.0 : 0.0));
        if (dev > deviation) deviation = dev;
      }
    }
    kubo_free(field, bytes);
  } else {
    int64_t shape[2] = {n, n};
    status = kubo_tensor_init(&r->stein, KUBO_FLOAT64, 2, shape);
    if (status == KUBO_OK) {
      st = r->stein.data;
      for (int64_t i = 0; i < n * n; i++)
        st[i] = -e->corr_sum[i] / (double)e->members;
      for (int64_t i = 0; i < n; i++) {
        diagonal += st[i * n + i] / (double)n;
        for (int64_t j = 0; j < n; j++) {
          double dev = fabs(st[i * n + j] - (i == j ? 1.0 : 0.0));
          if (dev > deviation) deviation = dev;
        }
      }
    }
  }
  kubo_free(raw, e->spectral ? 2 * (size_t)e->modes * sizeof(double)
                             : bytes);
  r->stein_diagonal = diagonal;
  r->stein_deviation = deviation;
  return status;
}


/* Writes std / sqrt(E) of the per-member estimates into se. */
static void standard_error(const kubo_response_est *e, double *se) {
  double m = (double)e->members;
  for (int64_t i = 0; i < e->spec.lags * e->out_size; i++)
    se[i] = sqrt(e->est_m2[i] / (m - 1.0) / m);
}


kubo_status kubo_response_est_finish(kubo_response_est *e,
                                     kubo_response *out) {
  int64_t L = e->spec.lags;
  size_t bytes = lag_bytes(e, e->out_size);
  double *pooled = NULL, *se = NULL;
  kubo_status status;

  memset(out, 0, sizeof *out);
  if (e->members == 0)
    return kubo_error_set(KUBO_ESTATE, "response: no member was added");
  out->kind = e->spec.kind;
  out->grid = e->spec.grid;
  out->members = e->members;

  for (int64_t i = 0; i < L * e->lag_size; i++)
    e->corr_one[i] = e->corr_sum[i] / (double)e->members;
  if ((pooled = kubo_alloc(bytes)) == NULL) return KUBO_ENOMEM;
  status = form_estimate(e, e->corr_one, pooled);
  if (status == KUBO_OK) status = new_output(e, &out->values, L);
  if (status == KUBO_OK) {
    if (e->spectral) place_at_site(e, L, pooled, out->values.data);
    else memcpy(out->values.data, pooled, bytes);
  }

  if (status == KUBO_OK && e->members >= 2 && !e->member_failed) {
    if ((se = kubo_alloc(bytes)) == NULL) status = KUBO_ENOMEM;
    if (status == KUBO_OK) status = new_output(e, &out->std_error, L);
    if (status == KUBO_OK) {
      standard_error(e, se);
      if (e->spectral) place_at_site(e, L, se, out->std_error.data);
      else memcpy(out->std_error.data, se, bytes);
    }
  }
  if (status == KUBO_OK && e->spec.kind == KUBO_RESPONSE_SCORE)
    status = fill_stein(e, out);

  kubo_free(pooled, bytes);
  kubo_free(se, bytes);
  if (status != KUBO_OK) kubo_response_release(out);
  return status;
}
