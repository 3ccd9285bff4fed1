/*
** model_spde.c: the Ornstein-Uhlenbeck and Allen-Cahn SPDEs with
** correlated noise, as in FourierCore's allen_cahn solver:
**
**   F(u) = IDFT[ S_k DFT(f(u)) + (-kappa |k|^2 - i U kx) DFT(u) ],
**   S_k = eps2 / (1 + |k|^2),
**
** with f(u) = lambda_c u (1 - u^2), lambda_c = alpha / eps2 (Allen-Cahn)
** or f(u) = -lambda_c u, lambda_c = lambda / eps2 (OU). The OU drift is
** linear and diagonal in Fourier space, so it needs no transforms.
*/
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/integrator.h"
#include "kubo/rng.h"
#include "model_impl.h"

/* Batches of at least this many points are evaluated in parallel. */
enum { PARALLEL_MIN = 1 << 14 };

typedef struct spde_data {
  int allen_cahn;
  double lambda_c;
  double *lin;        /* 2 H: -kappa |k|^2 - i U kx (OU: also
                      ** -lambda_c S_k), times the keep mask */
  double *sig;        /* H: S_k times the keep mask */
  double *score_lin;  /* H: ((1 + |k|^2) / eps2) (-kappa |k|^2) keep / M */
} spde_data;

static const char *const ou_params[] = {
  "lambda", "kappa", "advection", "eps2", NULL
};

static const char *const ac_params[] = {
  "alpha", "kappa", "advection", "eps2", NULL
};


static void ou_defaults(kubo_model *m) {
  m->params[0] = 0.04;      /* lambda */
  m->params[1] = 2.5e-4;    /* kappa */
  m->params[2] = 0.02;      /* advection U */
  m->params[3] = 0.004;     /* eps2 */
}


static void ac_defaults(kubo_model *m) {
  m->params[0] = 16;        /* alpha = eps2 lambda_c */
  m->params[1] = 2.5e-4;
  m->params[2] = 0.02;
  m->params[3] = 0.004;
}


static void spde_destroy(kubo_model *m) {
  spde_data *d = m->data;
  if (d == NULL) return;
  kubo_free(d->lin, (size_t)(2 * m->H) * sizeof(double));
  kubo_free(d->sig, (size_t)m->H * sizeof(double));
  kubo_free(d->score_lin, (size_t)m->H * sizeof(double));
  kubo_free(d, sizeof *d);
  m->data = NULL;
}


static kubo_status spde_ready(kubo_model *m) {
  int ac = m->ops == &sde_allen_cahn_ops;
  const char *kind = m->ops->kind;
  double coef = m->params[0], kappa = m->params[1];
  double U = m->params[2], eps2 = m->params[3];

  if (!(eps2 > 0))
    return kubo_error_set(KUBO_EINVAL, "%s: eps2 must be > 0 (got %g)",
                          kind, eps2);
  if (kappa < 0)
    return kubo_error_set(KUBO_EINVAL, "%s: kappa must be >= 0 (got %g)",
                          kind, kappa);
  if (!ac && coef < 0)
    return kubo_error_set(KUBO_EINVAL, "ou: lambda must be >= 0 (got %g)",
                          coef);

  kubo_status status = sde_spectral_ready(m, eps2);
  if (status != KUBO_OK) return status;

  int64_t H = m->H, nxh = kubo_grid_n(m->grid, 0) / 2 + 1;
  spde_data *d = kubo_calloc(sizeof *d);
  if (d == NULL) return kubo_error_set(KUBO_ENOMEM, "%s: out of memory",
                                       kind);
  m->data = d;
  d->allen_cahn = ac;
  d->lambda_c = coef / eps2;
  d->lin = kubo_alloc((size_t)(2 * H) * sizeof(double));
  d->sig = kubo_alloc((size_t)H * sizeof(double));
  d->score_lin = kubo_alloc((size_t)H * sizeof(double));
  if (d->lin == NULL || d->sig == NULL || d->score_lin == NULL)
    return kubo_error_set(KUBO_ENOMEM, "%s: out of memory", kind);

  const double *k2 = kubo_grid_k2(m->grid), *keep = kubo_grid_keep(m->grid);
  const double *kx = kubo_grid_k(m->grid, 0);
  for (int64_t p = 0; p < H; p++) {
    double s = eps2 / (1 + k2[p]);
    double re = -kappa * k2[p] - (ac ? 0 : d->lambda_c * s);
    d->sig[p] = s * keep[p];
    d->lin[2 * p] = re * keep[p];
    d->lin[2 * p + 1] = -U * kx[p % nxh] * keep[p];
    d->score_lin[p] = (1 + k2[p]) / eps2 * (-kappa * k2[p]) * keep[p] /
                      (double)m->M;
  }

  m->work_size = ac ? sde_pad(2 * H) + sde_pad(m->M) : 0;
  m->hidden_size = 0;
  m->has_score = 1;
  return KUBO_OK;
}


/* OU: out = lin * x, mode by mode. */
static kubo_status ou_drift(const kubo_model *m, const double *x,
                            const double *hidden, int fresh, double *out,
                            double *work) {
  const spde_data *d = m->data;
  const double *lin = d->lin;
  for (int64_t p = 0; p < m->H; p++) {
    double a = lin[2 * p], b = lin[2 * p + 1];
    double xr = x[2 * p], xi = x[2 * p + 1];
    out[2 * p] = a * xr - b * xi;
    out[2 * p + 1] = a * xi + b * xr;
  }
  return KUBO_OK;
}


/* Allen-Cahn: one inverse transform to real space for the reaction, one
** forward transform back. */
static kubo_status ac_drift(const kubo_model *m, const double *x,
                            const double *hidden, int fresh, double *out,
                            double *work) {
  const spde_data *d = m->data;
  int64_t H = m->H, M = m->M;
  double *spec = work, *real = work + sde_pad(2 * H);
  double scale = 1.0 / (double)M, lc = d->lambda_c;

  for (int64_t i = 0; i < 2 * H; i++) spec[i] = x[i] * scale;
  sde_c2r(m, spec, real);
  for (int64_t i = 0; i < M; i++) {
    double v = real[i];
    real[i] = lc * v * (1 - v * v);
  }
  sde_r2c(m, real, spec);

  const double *lin = d->lin, *sig = d->sig;
  for (int64_t p = 0; p < H; p++) {
    double a = lin[2 * p], b = lin[2 * p + 1];
    double xr = x[2 * p], xi = x[2 * p + 1];
    out[2 * p] = a * xr - b * xi + sig[p] * spec[2 * p];
    out[2 * p + 1] = a * xi + b * xr + sig[p] * spec[2 * p + 1];
  }
  return KUBO_OK;
}


static void spde_noise(const kubo_model *m, int draw, const double *z,
                       double *eta) {
  sde_spectral_noise(m, draw, z, eta);
}


/* Filters each of count real fields by S_k in place. */
static void filter_fields(const kubo_model *m, int64_t count, double *u,
                          double *work) {
  const spde_data *d = m->data;
  double *spec = work, *real = work + sde_pad(2 * m->H);
  double scale = 1.0 / (double)m->M;
  for (int64_t j = 0; j < count; j++) {
    memcpy(real, u + j * m->M, (size_t)m->M * sizeof(double));
    sde_r2c(m, real, spec);
    for (int64_t p = 0; p < m->H; p++) {
      spec[2 * p] *= d->sig[p] * scale;
      spec[2 * p + 1] *= d->sig[p] * scale;
    }
    sde_c2r(m, spec, real);
    memcpy(u + j * m->M, real, (size_t)m->M * sizeof(double));
  }
}


/* Divides all values by their maximum. The filtered fields are dominated
** by their mean mode, so a small ensemble (a single member half of the
** time) can be negative everywhere; the maximum magnitude is used then,
** which leaves every ensemble of the reference size unchanged. Fails
** only if all values are zero or one is not finite. */
static kubo_status divide_by_max(const kubo_model *m, int64_t n, double *u) {
  double top = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    if (u[i] > top) top = u[i];
  if (!(top > 0)) {
    top = 0;
    for (int64_t i = 0; i < n; i++)
      if (fabs(u[i]) > top) top = fabs(u[i]);
  }
  if (!(top > 0 && isfinite(top)))
    return kubo_error_set(KUBO_ENUMERIC, "%s: the default initial state "
                          "has no non-zero finite maximum (got %g)", m->ops->kind,
                          top);
  for (int64_t i = 0; i < n; i++) u[i] /= top;
  return KUBO_OK;
}


/* White noise, filtered by S_k and divided by its maximum over the whole
** ensemble, twice (dividing per member leaves some members far below
** -1, from which RK4 at dt = 1/32 blows up).
** NOTE: with a handful of members the maximum can still be small, when
** most members have a negative mean, and the same blow-up follows (2
** members on a 16 x 16 grid reach -12). The reference ran 128. */
static kubo_status spde_default_state(const kubo_model *m, uint64_t seed,
                                      int64_t first_member,
                                      int64_t members, double *u) {
  int64_t M = m->M, W = sde_pad(2 * m->H) + sde_pad(M);
  for (int64_t j = 0; j < members; j++) {
    uint64_t stream = kubo_rng_substream((uint64_t)(first_member + j),
                                         KUBO_SIM_KEY_INIT);
    kubo_rng_normal_at(seed, stream, 0, u + j * M, M);
  }
  double *work = sde_work_alloc(W);
  if (work == NULL)
    return kubo_error_set(KUBO_ENOMEM, "%s: out of memory", m->ops->kind);
  kubo_status status = KUBO_OK;
  for (int pass = 0; pass < 2 && status == KUBO_OK; pass++) {
    filter_fields(m, members, u, work);
    status = divide_by_max(m, members * M, u);
  }
  sde_work_free(work, W);
  return status;
}


/* s(u) = (2/M) { f(u) + IDFT[ score_lin DFT(u) ] } per field. */
static kubo_status spde_score(const kubo_model *m, int64_t count,
                              const double *u, double *out) {
  const spde_data *d = m->data;
  int64_t M = m->M, H = m->H, W = sde_pad(2 * H) + sde_pad(M);
  int parallel = count > 1 && count * M >= PARALLEL_MIN;
  double two_m = 2.0 / (double)M, lc = d->lambda_c;
  int failed = 0;

  #pragma omp parallel if (parallel) reduction(| : failed)
  {
    double *work = sde_work_alloc(W);
    if (work == NULL) failed = 1;

    #pragma omp for schedule(static)
    for (int64_t j = 0; j < count; j++) {
      if (work == NULL) continue;
      double *spec = work, *real = work + sde_pad(2 * H);
      const double *uj = u + j * M;
      double *oj = out + j * M;
      memcpy(real, uj, (size_t)M * sizeof(double));
      sde_r2c(m, real, spec);
      for (int64_t p = 0; p < H; p++) {
        spec[2 * p] *= d->score_lin[p];
        spec[2 * p + 1] *= d->score_lin[p];
      }
      sde_c2r(m, spec, real);
      for (int64_t i = 0; i < M; i++) {
        double v = uj[i];
        double f = d->allen_cahn ? lc * v * (1 - v * v) : -lc * v;
        oj[i] = two_m * (f + real[i]);
      }
    }
    sde_work_free(work, W);
  }
  if (failed)
    return kubo_error_set(KUBO_ENOMEM, "%s: out of memory for score work "
                          "arrays", m->ops->kind);
  return KUBO_OK;
}


/* 1/32 on every grid: the reaction rate, about 2 alpha = 32 near u = +-1,
** limits RK4, and 1/nx would be unstable on a 16 x 16 grid. */
static double spde_default_dt(const kubo_model *m) {
  return 1.0 / 32;
}


const model_ops sde_ou_ops = {
  "ou", ou_params, NULL, 1, ou_defaults, spde_ready, spde_destroy,
  ou_drift, spde_noise, NULL, spde_default_state, spde_score,
  spde_default_dt
};

const model_ops sde_allen_cahn_ops = {
  "allen_cahn", ac_params, NULL, 1, ac_defaults, spde_ready, spde_destroy,
  ac_drift, spde_noise, NULL, spde_default_state, spde_score,
  spde_default_dt
};
