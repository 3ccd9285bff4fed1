/*
** model_vector.c: models whose state is a plain vector: the double well,
** linear SDEs dx = A x dt + B dW, and drifts given as a callback.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lapacke.h>

#include "kubo/alloc.h"
#include "model_impl.h"

typedef struct vector_data {
  int64_t n;
  double *a;         /* (n, n) drift matrix (linear) */
  double *b;         /* (n, n) noise factor with B B^T = Q, or NULL */
  double *amp;       /* (n) noise amplitudes when B is diagonal */
  double *precision; /* (n, n) Sigma^-1 (linear with a score), or NULL */
} vector_data;


static double *alloc_doubles(int64_t n) {
  return kubo_calloc((size_t)n * sizeof(double));
}


static void free_doubles(double *p, int64_t n) {
  kubo_free(p, (size_t)n * sizeof(double));
}


static void vector_destroy(kubo_model *m) {
  vector_data *d = m->data;
  if (d == NULL) return;
  int64_t n = d->n;
  free_doubles(d->a, n * n);
  free_doubles(d->b, n * n);
  free_doubles(d->amp, n);
  free_doubles(d->precision, n * n);
  kubo_free(d, sizeof *d);
  m->data = NULL;
}


static kubo_status vector_alloc(kubo_model *m, int64_t n) {
  vector_data *d = kubo_calloc(sizeof *d);
  if (d == NULL) return kubo_error_set(KUBO_ENOMEM, "%s: out of memory",
                                       m->ops->kind);
  d->n = n;
  m->data = d;
  m->dim = n;
  m->state_size = n;
  m->hidden_size = 0;
  m->work_size = 0;
  return KUBO_OK;
}


/* Reads an integer-valued parameter >= 1. */
static kubo_status check_dim(const kubo_model *m, const char *name,
                             int64_t *n) {
  double v = sde_param(m, name);
  if (!(v >= 1 && v == floor(v) && v <= 1e9))
    return kubo_error_set(KUBO_EINVAL, "%s: %s must be a whole number >= 1 "
                          "(got %g)", m->ops->kind, name, v);
  *n = (int64_t)v;
  return KUBO_OK;
}


/* Checks that t is (n, n) (n from t if *n is 0). */
static kubo_status check_square(const kubo_model *m, const char *name,
                                const kubo_tensor *t, int64_t *n) {
  if (t->ndim != 2 || t->shape[0] != t->shape[1] ||
      (*n != 0 && t->shape[0] != *n)) {
    char buf[64];
    kubo_tensor_shape_string(t, buf, sizeof buf);
    if (*n != 0)
      return kubo_error_set(KUBO_EINVAL, "%s: %s must be a (%lld, %lld) "
                            "matrix (got %s)", m->ops->kind, name,
                            (long long)*n, (long long)*n, buf);
    return kubo_error_set(KUBO_EINVAL, "%s: %s must be a square matrix "
                          "(got %s)", m->ops->kind, name, buf);
  }
  *n = t->shape[0];
  return KUBO_OK;
}


/* Factors the covariance q (n, n) as B B^T with B = V diag(sqrt(w)) from
** its eigen-decomposition, so that a positive semi-definite q of any
** rank works. Fails if q is not symmetric or has a negative eigenvalue
** beyond rounding. */
static kubo_status factor_covariance(const kubo_model *m, const char *name,
                                     const double *q, int64_t n,
                                     double *b) {
  double top = 0;
  for (int64_t i = 0; i < n * n; i++) top = fmax(top, fabs(q[i]));
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j < i; j++) {
      if (fabs(q[i * n + j] - q[j * n + i]) > 1e-12 * top)
        return kubo_error_set(KUBO_EINVAL, "%s: %s must be symmetric "
                              "(element (%lld, %lld) is %g, (%lld, %lld) "
                              "is %g)", m->ops->kind, name, (long long)i + 1,
                              (long long)j + 1, q[i * n + j],
                              (long long)j + 1, (long long)i + 1,
                              q[j * n + i]);
    }
  }
  double *w = alloc_doubles(n);
  if (w == NULL) return kubo_error_set(KUBO_ENOMEM, "%s: out of memory",
                                       m->ops->kind);
  memcpy(b, q, (size_t)(n * n) * sizeof(double));
  lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U',
                                  (lapack_int)n, b, (lapack_int)n, w);
  kubo_status status = KUBO_OK;
  if (info != 0) {
    status = kubo_error_set(KUBO_ENUMERIC, "%s: the eigen-decomposition of "
                            "%s failed (LAPACK dsyev info %d)",
                            m->ops->kind, name, (int)info);
  } else if (w[0] < -1e-10 * fmax(fabs(w[n - 1]), 1e-300)) {
    status = kubo_error_set(KUBO_EINVAL, "%s: %s must be positive "
                            "semi-definite (smallest eigenvalue %g)",
                            m->ops->kind, name, w[0]);
  } else {
    for (int64_t j = 0; j < n; j++) {
      double s = sqrt(fmax(w[j], 0));
      for (int64_t i = 0; i < n; i++) b[i * n + j] *= s;
    }
  }
  free_doubles(w, n);
  return status;
}


/* ---------------------------------------------------------------------
** Noise, shared by the kinds: eta = B z, or amp * z per component
** ------------------------------------------------------------------- */

static void vector_noise(const kubo_model *m, int draw, const double *z,
                         double *eta) {
  const vector_data *d = m->data;
  int64_t n = d->n;
  if (d->b != NULL) {
    for (int64_t i = 0; i < n; i++) {
      double s = 0;
      for (int64_t j = 0; j < n; j++) s += d->b[i * n + j] * z[j];
      eta[i] = s;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) eta[i] = d->amp[i] * z[i];
}


static kubo_status zero_state(const kubo_model *m, uint64_t seed,
                              int64_t first_member, int64_t members,
                              double *u) {
  memset(u, 0, (size_t)(members * m->dim) * sizeof(double));
  return KUBO_OK;
}


static double no_default_dt(const kubo_model *m) { return 0; }


/* ---------------------------------------------------------------------
** double_well: dx = (x - x^3) dt + eps sqrt(2) dW per component
** ------------------------------------------------------------------- */

static const char *const dw_params[] = {"eps", "dim", NULL};

static void dw_defaults(kubo_model *m) {
  m->params[0] = 0.4;
  m->params[1] = 1;
}


static kubo_status dw_ready(kubo_model *m) {
  double eps = m->params[0];
  int64_t n = 0;
  if (eps < 0)
    return kubo_error_set(KUBO_EINVAL, "double_well: eps must be >= 0 "
                          "(got %g)", eps);
  kubo_status status = check_dim(m, "dim", &n);
  if (status == KUBO_OK) status = vector_alloc(m, n);
  if (status != KUBO_OK) return status;
  vector_data *d = m->data;
  if ((d->amp = alloc_doubles(n)) == NULL)
    return kubo_error_set(KUBO_ENOMEM, "double_well: out of memory");
  for (int64_t i = 0; i < n; i++) d->amp[i] = eps * sqrt(2.0);
  m->has_score = eps > 0;
  if (!m->has_score)
    snprintf(m->score_note, sizeof m->score_note, "eps is 0, so the "
             "stationary density is not smooth");
  return KUBO_OK;
}


static kubo_status dw_drift(const kubo_model *m, const double *x,
                            const double *hidden, int fresh, double *out,
                            double *work) {
  for (int64_t i = 0; i < m->dim; i++) out[i] = x[i] - x[i] * x[i] * x[i];
  return KUBO_OK;
}


static kubo_status dw_score(const kubo_model *m, int64_t count,
                            const double *u, double *out) {
  double eps2 = m->params[0] * m->params[0];
  for (int64_t i = 0; i < count * m->dim; i++)
    out[i] = -(u[i] * u[i] * u[i] - u[i]) / eps2;
  return KUBO_OK;
}


static double dw_default_dt(const kubo_model *m) { return 0.01; }


/* ---------------------------------------------------------------------
** linear: dx = A x dt + B dW with B B^T = Q
** ------------------------------------------------------------------- */

static const char *const linear_params[] = {NULL};
static const char *const linear_arrays[] = {"A", "Q", NULL};

static void linear_defaults(kubo_model *m) {}


/* Solves A S + S A^T + Q = 0 by the Bartels-Stewart method: the Schur
** form A = U T U^T turns it into T X + X T^T = -U^T Q U (LAPACK dtrsyl),
** and S = U X U^T. Sets has_score and the precision S^-1 when A is
** stable and S positive definite. */
static kubo_status linear_precision(kubo_model *m, const double *q) {
  vector_data *d = m->data;
  int64_t n = d->n;
  lapack_int ln = (lapack_int)n, sdim = 0;
  double *t = alloc_doubles(n * n), *u = alloc_doubles(n * n);
  double *c = alloc_doubles(n * n), *w = alloc_doubles(n * n);
  double *wr = alloc_doubles(n), *wi = alloc_doubles(n);
  kubo_status status = KUBO_OK;
  if (!t || !u || !c || !w || !wr || !wi) {
    status = kubo_error_set(KUBO_ENOMEM, "linear: out of memory");
    goto done;
  }

  memcpy(t, d->a, (size_t)(n * n) * sizeof(double));
  if (LAPACKE_dgees(LAPACK_ROW_MAJOR, 'V', 'N', NULL, ln, t, ln, &sdim, wr,
                    wi, u, ln) != 0) {
    snprintf(m->score_note, sizeof m->score_note, "the Schur "
             "decomposition of A failed");
    goto done;
  }
  double worst = -INFINITY;
  for (int64_t i = 0; i < n; i++) worst = fmax(worst, wr[i]);
  if (!(worst < 0)) {
    snprintf(m->score_note, sizeof m->score_note, "A is not stable: an "
             "eigenvalue has real part %g >= 0", worst);
    goto done;
  }

  /* c = -U^T Q U */
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += q[i * n + k] * u[k * n + j];
      w[i * n + j] = s;
    }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += u[k * n + i] * w[k * n + j];
      c[i * n + j] = -s;
    }
  double scale = 1;
  if (LAPACKE_dtrsyl(LAPACK_ROW_MAJOR, 'N', 'T', 1, ln, ln, t, ln, t, ln,
                     c, ln, &scale) < 0) {
    snprintf(m->score_note, sizeof m->score_note, "the Lyapunov solve "
             "failed");
    goto done;
  }

  /* Sigma = U (c / scale) U^T, symmetrised, into t */
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += u[i * n + k] * c[k * n + j];
      w[i * n + j] = s / scale;
    }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += w[i * n + k] * u[j * n + k];
      t[i * n + j] = s;
    }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < i; j++) {
      double s = 0.5 * (t[i * n + j] + t[j * n + i]);
      t[i * n + j] = t[j * n + i] = s;
    }

  if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', ln, t, ln) != 0 ||
      LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', ln, t, ln) != 0) {
    snprintf(m->score_note, sizeof m->score_note, "the stationary "
             "covariance is singular (Q does not reach every direction)");
    goto done;
  }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) t[i * n + j] = t[j * n + i];
  d->precision = t;
  t = NULL;
  m->has_score = 1;

done:
  free_doubles(t, n * n);
  free_doubles(u, n * n);
  free_doubles(c, n * n);
  free_doubles(w, n * n);
  free_doubles(wr, n);
  free_doubles(wi, n);
  return status;
}


static kubo_status linear_ready(kubo_model *m) {
  const kubo_tensor *a = sde_array(m, "A"), *q = sde_array(m, "Q");
  if (a == NULL)
    return kubo_error_set(KUBO_EINVAL, "linear: the drift matrix A is "
                          "missing");
  if (q == NULL)
    return kubo_error_set(KUBO_EINVAL, "linear: the noise covariance Q is "
                          "missing (use zeros for a deterministic system)");
  int64_t n = 0;
  kubo_status status = check_square(m, "A", a, &n);
  if (status == KUBO_OK) status = check_square(m, "Q", q, &n);
  if (status == KUBO_OK) status = vector_alloc(m, n);
  if (status != KUBO_OK) return status;

  vector_data *d = m->data;
  d->a = alloc_doubles(n * n);
  d->b = alloc_doubles(n * n);
  if (d->a == NULL || d->b == NULL)
    return kubo_error_set(KUBO_ENOMEM, "linear: out of memory");
  memcpy(d->a, a->data, (size_t)(n * n) * sizeof(double));
  status = factor_covariance(m, "Q", q->data, n, d->b);
  if (status != KUBO_OK) return status;
  return linear_precision(m, q->data);
}


static kubo_status linear_drift(const kubo_model *m, const double *x,
                                const double *hidden, int fresh,
                                double *out, double *work) {
  const vector_data *d = m->data;
  int64_t n = d->n;
  for (int64_t i = 0; i < n; i++) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += d->a[i * n + j] * x[j];
    out[i] = s;
  }
  return KUBO_OK;
}


static kubo_status linear_score(const kubo_model *m, int64_t count,
                                const double *u, double *out) {
  const vector_data *d = m->data;
  int64_t n = d->n;
  for (int64_t k = 0; k < count; k++) {
    const double *x = u + k * n;
    for (int64_t i = 0; i < n; i++) {
      double s = 0;
      for (int64_t j = 0; j < n; j++) s += d->precision[i * n + j] * x[j];
      out[k * n + i] = -s;
    }
  }
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** sde: a drift callback with additive noise
** ------------------------------------------------------------------- */

static const char *const custom_params[] = {"dim", "noise", NULL};
static const char *const custom_arrays[] = {"noise", "Q", NULL};

static void custom_defaults(kubo_model *m) {
  m->params[0] = 0;      /* dim: required */
  m->params[1] = 0;      /* noise amplitude */
}


static kubo_status custom_ready(kubo_model *m) {
  int64_t n = 0;
  if (m->params[0] == 0)
    return kubo_error_set(KUBO_EINVAL, "sde: dim is missing (the number of "
                          "components of the state)");
  kubo_status status = check_dim(m, "dim", &n);
  if (status != KUBO_OK) return status;
  if (m->drift_fn == NULL)
    return kubo_error_set(KUBO_EINVAL, "sde: the drift function is "
                          "missing");
  if (m->params[1] < 0)
    return kubo_error_set(KUBO_EINVAL, "sde: noise must be >= 0 (got %g)",
                          m->params[1]);
  const kubo_tensor *amp = sde_array(m, "noise"), *q = sde_array(m, "Q");
  if (amp != NULL && q != NULL)
    return kubo_error_set(KUBO_EINVAL, "sde: give the noise as amplitudes "
                          "(noise) or as a covariance (Q), not both");
  if (amp != NULL && (amp->ndim != 1 || amp->shape[0] != n))
    return kubo_error_set(KUBO_EINVAL, "sde: noise must be a number or a "
                          "vector of %lld amplitudes", (long long)n);
  if (q != NULL && (status = check_square(m, "Q", q, &n)) != KUBO_OK)
    return status;

  if ((status = vector_alloc(m, n)) != KUBO_OK) return status;
  vector_data *d = m->data;
  m->serial = 1;
  m->has_score = 0;
  snprintf(m->score_note, sizeof m->score_note, "an sde model has none");
  if (q != NULL) {
    if ((d->b = alloc_doubles(n * n)) == NULL)
      return kubo_error_set(KUBO_ENOMEM, "sde: out of memory");
    return factor_covariance(m, "Q", q->data, n, d->b);
  }
  if ((d->amp = alloc_doubles(n)) == NULL)
    return kubo_error_set(KUBO_ENOMEM, "sde: out of memory");
  for (int64_t i = 0; i < n; i++) {
    double a = amp != NULL ? ((const double *)amp->data)[i] : m->params[1];
    if (a < 0)
      return kubo_error_set(KUBO_EINVAL, "sde: noise amplitudes must be "
                            ">= 0 (got %g at %lld)", a, (long long)i + 1);
    d->amp[i] = a;
  }
  return KUBO_OK;
}


static kubo_status custom_drift(const kubo_model *m, const double *x,
                                const double *hidden, int fresh,
                                double *out, double *work) {
  return m->drift_fn(m->dim, x, out, m->drift_userdata);
}


const model_ops sde_double_well_ops = {
  "double_well", dw_params, NULL, 0, dw_defaults, dw_ready, vector_destroy,
  dw_drift, vector_noise, NULL, zero_state, dw_score, dw_default_dt
};

const model_ops sde_linear_ops = {
  "linear", linear_params, linear_arrays, 0, linear_defaults, linear_ready,
  vector_destroy, linear_drift, vector_noise, NULL, zero_state,
  linear_score, no_default_dt
};

const model_ops sde_custom_ops = {
  "sde", custom_params, custom_arrays, 0, custom_defaults, custom_ready,
  vector_destroy, custom_drift, vector_noise, NULL, zero_state, NULL,
  no_default_dt
};
