/*
** test_response_sde.c: the response estimators on ensembles from kubo's
** own integrators. The perturbation response of the OU SPDE is held to
** the exact response of its Fourier modes. On the double well the score
** estimate matches the perturbation estimate and the Gaussian one does
** not. Statistical checks use fixed seeds, and
** tolerances are stated in standard errors.
*/
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/integrator.h"
#include "kubo/model.h"
#include "kubo/response.h"

#ifndef RESPONSE_SDE_SLOW
#define RESPONSE_SDE_SLOW 0
#endif

enum { N = 32, M = N * N };
static const double LAMBDA = 0.04, KAPPA = 2.5e-4, U = 0.02;

/* The reference wavenumber table: the Nyquist index gets k = 0. */
static double wavenumber(int index) {
  if (index == N / 2) return 0.0;
  return index < N / 2 ? index : index - N;
}


/* Exact response of the OU SPDE at offset (dy, dx) cells downstream of
** the impulse after time tau: the sum over modes of exp(-(a_k +
** i U kx) tau) with a_k = lambda / (1 + |k|^2) + kappa |k|^2. */
static double ou_exact(int dy, int dx, double tau) {
  double complex sum = 0;
  for (int iy = 0; iy < N; iy++)
    for (int ix = 0; ix < N; ix++) {
      double kx = wavenumber(ix), ky = wavenumber(iy);
      double k2 = kx * kx + ky * ky;
      double a = LAMBDA / (1 + k2) + KAPPA * k2;
      sum += cexp(-a * tau - I * U * kx * tau +
                  2 * I * M_PI * (ix * dx + iy * dy) / N);
    }
  return creal(sum) / M;
}


static kubo_sim *new_sim(const char *kind, int64_t members, double dt,
                         uint64_t seed, kubo_sim_method method) {
  kubo_model *m = NULL;
  kubo_sim *s = NULL;
  kubo_sim_options opt;
  CHECK_OK(kubo_model_new(&m, kind, NULL));
  if (m == NULL) return NULL;
  kubo_sim_options_default(&opt);
  opt.members = members;
  opt.dt = dt;
  opt.seed = seed;
  opt.method = method;
  CHECK_OK(kubo_sim_new(&s, m, &opt));
  kubo_model_release(m);
  return s;
}


/* ---------------------------------------------------------------------
** OU SPDE: the perturbation response is the exact propagator
** ------------------------------------------------------------------- */

static void test_ou_perturbation(void) {
  /* A linear system's perturbed-minus-control difference does not
  ** depend on the noise, so one member and one block give the response
  ** up to the RK4 error, far below the table's 4 decimals. */
  static const int taus[6] = {0, 5, 10, 20, 30, 50};
  kubo_sim *sim = new_sim("ou", 2, 1.0 / 32, 7, KUBO_RK4);
  kubo_perturbation_spec p = {0, 1.0 / 16, 51, 32, 1};
  kubo_response r;
  double worst = 0.0;

  if (sim == NULL) return;
  CHECK_OK(kubo_sim_advance(sim, 64));
  CHECK_OK(kubo_response_perturbation(sim, &p, &r));
  CHECK(kubo_sim_step_count(sim) == 64);      /* sim is not advanced */
  CHECK(r.members == 2);
  CHECK(r.values.ndim == 3);
  CHECK(r.values.shape[0] == 51);
  CHECK(r.values.shape[1] == N);
  CHECK(r.values.shape[2] == N);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 6; j++) {
      int at = taus[j] * M + i;               /* pixel (i + 1, 1) */
      double v = ((double *)r.values.data)[at];
      double err = fabs(v - ou_exact(0, i, taus[j]));
      CHECK_NEAR(v, ou_exact(0, i, taus[j]), 1e-4);
      if (err > worst) worst = err;
      /* both members give the same difference: no spread */
      CHECK_NEAR(((double *)r.std_error.data)[at], 0.0, 1e-9);
    }
  printf("OU SPDE perturbation: max error against the exact table "
         "%.2e\n", worst);
  kubo_response_release(&r);

  /* bad options */
  p.index = M;
  CHECK(kubo_response_perturbation(sim, &p, &r) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "site index") != NULL);
  p.index = 0;
  p.delta = 0.0;
  CHECK(kubo_response_perturbation(sim, &p, &r) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "delta") != NULL);
  p.delta = 0.1;
  p.every = 0;
  CHECK(kubo_response_perturbation(sim, &p, &r) == KUBO_EINVAL);
  kubo_sim_free(sim);
}


/* ---------------------------------------------------------------------
** Double well: score = perturbation, Gaussian visibly off
** ------------------------------------------------------------------- */

typedef struct score_ctx {
  const kubo_model *m;
} score_ctx;


static kubo_status model_score(void *userdata, int64_t member,
                               int64_t frames, const double *x, double *y) {
  score_ctx *c = userdata;
  return kubo_model_score(c->m, frames, x, y);
}


/* Records frames states of every member of sim, every `every` steps, as
** a tensor (frames, members, 1). */
static void record(kubo_sim *sim, int64_t frames, int64_t every,
                   kubo_tensor *out) {
  int64_t members = kubo_sim_members(sim);
  int64_t shape[3] = {frames, members, 1};
  CHECK_OK(kubo_tensor_init(out, KUBO_FLOAT64, 3, shape));
  for (int64_t t = 0; t < frames; t++) {
    CHECK_OK(kubo_sim_state(sim, (double *)out->data + t * members));
    CHECK_OK(kubo_sim_advance(sim, every));
  }
}


/* Plain 2-norm over lags of a - b for (lags, 1, 1)-like arrays. */
static double l2_over_lags(const kubo_response *a, const kubo_response *b,
                           int64_t lags) {
  double sq = 0.0;
  for (int64_t t = 0; t < lags; t++) {
    double d = ((double *)a->values.data)[t] -
               ((double *)b->values.data)[t];
    sq += d * d;
  }
  return sqrt(sq);
}


static void test_double_well(void) {
  const int64_t members = RESPONSE_SDE_SLOW ? 256 : 64;
  const int64_t frames = RESPONSE_SDE_SLOW ? 6000 : 1500;
  const int64_t every = 10, lags = 40;
  kubo_sim *sim = new_sim("double_well", members, 0.01, 11,
                          KUBO_EULER_MARUYAMA);
  kubo_perturbation_spec p = {0, 0.1, lags, every,
                              RESPONSE_SDE_SLOW ? 50 : 20};
  kubo_response_spec spec = {0};
  kubo_tensor traj = {0};
  kubo_traj *src = NULL;
  kubo_response rp, rs, rg;
  score_ctx ctx;
  double err_s, err_g, worst_z = 0.0;

  if (sim == NULL) return;
  ctx.m = kubo_sim_model(sim);
  CHECK_OK(kubo_sim_advance(sim, 2000));        /* 20 time units */
  CHECK_OK(kubo_response_perturbation(sim, &p, &rp));
  record(sim, frames, every, &traj);
  CHECK_OK(kubo_traj_from_tensor(&src, &traj));

  spec.frames = frames;
  spec.lags = lags;
  spec.ndim = 1;
  spec.shape[0] = 1;
  spec.mode = KUBO_CORR_PADDED;
  spec.kind = KUBO_RESPONSE_SCORE;
  CHECK_OK(kubo_response_run(src, &spec, model_score, &ctx, &rs));
  spec.kind = KUBO_RESPONSE_GAUSSIAN;
  CHECK_OK(kubo_response_run(src, &spec, NULL, NULL, &rg));

  /* the score estimate agrees with the perturbation estimate lag by lag
  ** within 5 combined standard errors, plus 0.02 for the O(delta) and
  ** O(dt) biases of the two methods */
  for (int64_t t = 0; t < lags; t++) {
    double s = ((double *)rs.values.data)[t];
    double q = ((double *)rp.values.data)[t];
    double se = hypot(((double *)rs.std_error.data)[t],
                      ((double *)rp.std_error.data)[t]);
    CHECK_NEAR(s, q, 5 * se + 0.02);
    if (fabs(s - q) / se > worst_z) worst_z = fabs(s - q) / se;
  }
  err_s = l2_over_lags(&rs, &rp, lags);
  err_g = l2_over_lags(&rg, &rp, lags);
  printf("double well, %lld x %lld frames, %lld x %lld perturbation "
         "realisations: l2 error over %lld lags: score %.3f, Gaussian "
         "%.3f (largest score deviation %.1f standard errors); Stein "
         "S(0) = %.3f\n", (long long)members, (long long)frames,
         (long long)members, (long long)p.resets, (long long)lags, err_s,
         err_g, worst_z, rs.stein_diagonal);
  /* the Gaussian estimate misses the response visibly: its error is
  ** several times the score estimate's */
  CHECK(err_g > 3 * err_s);
  CHECK(err_g > 0.3);
  /* Stein: S(0) = 1 within sampling error and the O(dt) bias */
  CHECK_NEAR(rs.stein_diagonal, 1.0,
             5 * ((double *)rs.std_error.data)[0] + 0.02);

  kubo_response_release(&rp);
  kubo_response_release(&rs);
  kubo_response_release(&rg);
  kubo_traj_free(src);
  kubo_tensor_release(&traj);
  kubo_sim_free(sim);
}


/* ---------------------------------------------------------------------
** OU SPDE from the integrator: Gaussian and analytic-score estimates
** ------------------------------------------------------------------- */

typedef struct grid_score_ctx {
  const kubo_model *m;
} grid_score_ctx;


static kubo_status grid_score(void *userdata, int64_t member,
                              int64_t frames, const double *x, double *y) {
  grid_score_ctx *c = userdata;
  return kubo_model_score(c->m, frames, x, y);
}


static void test_ou_pipeline(void) {
  /* 16 members x 2000 frames, one per time unit, after 800 time units
  ** of spin-up (about five times the slowest relaxation time) */
  static const int taus[6] = {0, 5, 10, 20, 30, 50};
  const int64_t members = 16, frames = 2000, lags = 51;
  kubo_sim *sim = new_sim("ou", members, 1.0 / 32, 3, KUBO_RK4);
  int64_t shape[4] = {frames, members, N, N};
  kubo_tensor traj = {0};
  kubo_traj *src = NULL;
  kubo_response_spec spec = {0};
  kubo_response rg, rs;
  grid_score_ctx ctx;
  double worst_g = 0.0, worst_s = 0.0;

  if (sim == NULL) return;
  ctx.m = kubo_sim_model(sim);
  CHECK_OK(kubo_sim_advance(sim, 800 * 32));
  CHECK_OK(kubo_tensor_init(&traj, KUBO_FLOAT64, 4, shape));
  for (int64_t t = 0; t < frames; t++) {
    CHECK_OK(kubo_sim_state(sim, (double *)traj.data + t * members * M));
    CHECK_OK(kubo_sim_advance(sim, 32));
  }
  CHECK_OK(kubo_traj_from_tensor(&src, &traj));

  spec.frames = frames;
  spec.lags = lags;
  spec.ndim = 2;
  spec.shape[0] = spec.shape[1] = N;
  spec.grid = 1;
  spec.mode = KUBO_CORR_CIRCULAR;
  spec.kind = KUBO_RESPONSE_GAUSSIAN;
  CHECK_OK(kubo_response_run(src, &spec, NULL, NULL, &rg));
  spec.kind = KUBO_RESPONSE_SCORE;
  spec.normalize = 1;
  CHECK_OK(kubo_response_run(src, &spec, grid_score, &ctx, &rs));

  /* within 5 standard errors plus the circular bias, at most the
  ** fraction tau / T = 0.025 of |R| <= 1 (and round-off at lag 0,
  ** where the ratio is exact and its spread is 0) */
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 6; j++) {
      int at = taus[j] * M + i;
      double exact = ou_exact(0, i, taus[j]);
      double g = ((double *)rg.values.data)[at];
      double sc = ((double *)rs.values.data)[at];
      CHECK_NEAR(g, exact, 5 * ((double *)rg.std_error.data)[at] +
                 taus[j] / (double)frames + 1e-12);
      CHECK_NEAR(sc, exact, 5 * ((double *)rs.std_error.data)[at] +
                 taus[j] / (double)frames + 1e-12);
      if (fabs(g - exact) > worst_g) worst_g = fabs(g - exact);
      if (fabs(sc - exact) > worst_s) worst_s = fabs(sc - exact);
    }
  printf("OU SPDE from RK4, %lld x %lld frames: max error Gaussian %.4f, "
         "analytic score (normalised) %.4f; raw Stein S(0) = %.4f\n",
         (long long)members, (long long)frames, worst_g, worst_s,
         rs.stein_diagonal);
  CHECK(worst_g < 0.02);
  CHECK(worst_s < 0.02);
  CHECK_NEAR(rs.stein_diagonal, 1.0, 0.02);

  kubo_response_release(&rg);
  kubo_response_release(&rs);
  kubo_traj_free(src);
  kubo_tensor_release(&traj);
  kubo_sim_free(sim);
}


int main(void) {
  test_ou_perturbation();
  test_double_well();
  if (RESPONSE_SDE_SLOW) test_ou_pipeline();
  return check_summary();
}
