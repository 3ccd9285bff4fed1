/*
** test_response.c: FFT correlations against a naive double loop, and
** the Gaussian and score estimators against exact responses of linear
** systems: a 2-D non-normal Ornstein-Uhlenbeck process (R = exp(A tau))
** and the reference OU SPDE on a 32 x 32 grid, sampled exactly mode by
** mode. Statistical checks use fixed seeds, and tolerances are stated
** in the estimators' own standard errors.
*/
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <omp.h>
#include <unistd.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/grid.h"
#include "kubo/h5.h"
#include "kubo/response.h"
#include "kubo/rng.h"

/* The slow variant (test_response_slow.c) sets this to 1 for a longer
** OU SPDE record and tighter absolute checks. */
#ifndef RESPONSE_SLOW
#define RESPONSE_SLOW 0
#endif


/* ---------------------------------------------------------------------
** FFT correlation against the naive double loop
** ------------------------------------------------------------------- */

static void fill_normal(uint64_t seed, double *x, int64_t n) {
  kubo_rng r;
  kubo_rng_init(&r, seed, 0);
  kubo_rng_normal(&r, x, n);
}


/* Compares the grid FFT path (back in real space) with the naive loop
** for one shape and mode, auto- and cross-correlation, with shifts. */
static void grid_matches_naive(int ndim, const int64_t *shape,
                               int64_t frames, int64_t lags,
                               kubo_corr_mode mode) {
  kubo_corr *c = NULL;
  kubo_grid *g = NULL;
  int64_t M = 1, n[3];
  double *x, *y, *spec, *fast, *slow;
  double sx = 0.3, sy = -0.7;

  for (int a = 0; a < ndim; a++) {
    M *= shape[a];
    n[a] = shape[ndim - 1 - a];
  }
  CHECK_OK(kubo_corr_new_grid(&c, frames, ndim, shape, lags, mode));
  CHECK_OK(kubo_grid_new(&g, ndim, n, NULL, KUBO_NYQUIST_DROP));
  if (c == NULL || g == NULL) return;
  x = kubo_alloc(frames * M * sizeof(double));
  y = kubo_alloc(frames * M * sizeof(double));
  spec = kubo_alloc(lags * 2 * kubo_corr_modes(c) * sizeof(double));
  fast = kubo_alloc(lags * M * sizeof(double));
  slow = kubo_alloc(lags * M * sizeof(double));
  fill_normal(11, x, frames * M);
  fill_normal(12, y, frames * M);

  for (int cross = 0; cross <= 1; cross++) {
    double worst = 0.0;
    CHECK_OK(kubo_corr_member(c, x, &sx, cross ? y : NULL,
                              cross ? &sy : NULL, spec));
    CHECK_OK(kubo_grid_ifft(g, lags, spec, fast));
    CHECK_OK(kubo_corr_member_naive(c, x, &sx, cross ? y : NULL,
                                    cross ? &sy : NULL, slow));
    for (int64_t i = 0; i < lags * M; i++)
      if (fabs(fast[i] - slow[i]) > worst) worst = fabs(fast[i] - slow[i]);
    CHECK_NEAR(worst, 0.0, 1e-12);
  }

  kubo_free(x, frames * M * sizeof(double));
  kubo_free(y, frames * M * sizeof(double));
  kubo_free(spec, lags * 2 * kubo_corr_modes(c) * sizeof(double));
  kubo_free(fast, lags * M * sizeof(double));
  kubo_free(slow, lags * M * sizeof(double));
  kubo_corr_free(c);
  kubo_grid_release(g);
}


static void dense_matches_naive(kubo_corr_mode mode) {
  enum { T = 37, L = 9, DX = 3, DY = 2 };
  kubo_corr *c = NULL;
  double x[T * DX], y[T * DY], fast[L * DX * DY], slow[L * DX * DY];
  double auto_fast[L * DX * DX], auto_slow[L * DX * DX];
  double sx[DX] = {0.1, -0.2, 0.3}, sy[DY] = {1.0, -1.0};
  double worst = 0.0;

  fill_normal(21, x, T * DX);
  fill_normal(22, y, T * DY);
  CHECK_OK(kubo_corr_new_dense(&c, T, DX, DY, L, mode));
  CHECK_OK(kubo_corr_member(c, x, sx, y, sy, fast));
  CHECK_OK(kubo_corr_member_naive(c, x, sx, y, sy, slow));
  for (int i = 0; i < L * DX * DY; i++)
    if (fabs(fast[i] - slow[i]) > worst) worst = fabs(fast[i] - slow[i]);
  CHECK_NEAR(worst, 0.0, 1e-12);
  kubo_corr_free(c);

  worst = 0.0;
  CHECK_OK(kubo_corr_new_dense(&c, T, DX, DX, L, mode));
  CHECK_OK(kubo_corr_member(c, x, sx, NULL, NULL, auto_fast));
  CHECK_OK(kubo_corr_member_naive(c, x, sx, NULL, NULL, auto_slow));
  for (int i = 0; i < L * DX * DX; i++)
    if (fabs(auto_fast[i] - auto_slow[i]) > worst)
      worst = fabs(auto_fast[i] - auto_slow[i]);
  CHECK_NEAR(worst, 0.0, 1e-12);
  kubo_corr_free(c);
}


static void test_fft_matches_naive(void) {
  int64_t s1[1] = {10}, s2[2] = {6, 8}, s3[3] = {3, 4, 5};
  for (int mode = 0; mode <= 1; mode++) {
    grid_matches_naive(1, s1, 17, 6, (kubo_corr_mode)mode);
    grid_matches_naive(2, s2, 13, 5, (kubo_corr_mode)mode);
    grid_matches_naive(3, s3, 7, 7, (kubo_corr_mode)mode);
    dense_matches_naive((kubo_corr_mode)mode);
  }
}


/* The correlation gets the same bits on one thread and on four. */
static void test_thread_count(void) {
  enum { T = 50, L = 10 };
  int64_t shape[2] = {8, 8};
  kubo_corr *c = NULL;
  double x[T * 64], y[T * 64], one[L * 2 * 40], four[L * 2 * 40];
  int saved = omp_get_max_threads();

  fill_normal(31, x, T * 64);
  fill_normal(32, y, T * 64);
  CHECK_OK(kubo_corr_new_grid(&c, T, 2, shape, L, KUBO_CORR_PADDED));
  CHECK(kubo_corr_modes(c) == 40);
  omp_set_num_threads(1);
  CHECK_OK(kubo_corr_member(c, x, NULL, y, NULL, one));
  omp_set_num_threads(4);
  CHECK_OK(kubo_corr_member(c, x, NULL, y, NULL, four));
  omp_set_num_threads(saved);
  CHECK(memcmp(one, four, sizeof one) == 0);
  kubo_corr_free(c);
}


static void test_bad_inputs(void) {
  kubo_corr *c = NULL;
  kubo_response_est *e = NULL;
  kubo_response_spec spec = {0};
  int64_t shape[2] = {4, 4};
  double x[8] = {0, 1, 2, 3, 4, 5, 6, NAN};

  CHECK(kubo_corr_new_grid(&c, 10, 2, shape, 11, KUBO_CORR_CIRCULAR)
        == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "lags must be between 1 and") != NULL);
  CHECK(c == NULL);
  CHECK(kubo_corr_new_grid(&c, 10, 4, shape, 2, KUBO_CORR_CIRCULAR)
        == KUBO_EINVAL);
  CHECK(kubo_corr_new_dense(&c, 0, 1, 1, 1, KUBO_CORR_PADDED)
        == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "frames must be at least 1") != NULL);

  spec.kind = KUBO_RESPONSE_GAUSSIAN;
  spec.frames = 4;
  spec.lags = 2;
  spec.ndim = 2;
  spec.shape[0] = spec.shape[1] = 4;
  spec.grid = 1;
  spec.site[0] = 4;
  CHECK(kubo_response_est_new(&e, &spec) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "site index 4") != NULL);
  spec.site[0] = 0;
  spec.normalize = 1;
  CHECK(kubo_response_est_new(&e, &spec) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "normalize applies") != NULL);

  /* a NaN in the data names its frame */
  spec.normalize = 0;
  spec.grid = 0;
  spec.ndim = 1;
  spec.shape[0] = 2;
  CHECK_OK(kubo_response_est_new(&e, &spec));
  CHECK(kubo_response_est_add(e, x, NULL, NULL) == KUBO_ENUMERIC);
  CHECK(strstr(kubo_error_message(), "frame 4") != NULL);
  {
    kubo_response r;
    CHECK(kubo_response_est_finish(e, &r) == KUBO_ESTATE);
  }
  kubo_response_est_free(e);

  /* a component that never varies makes C(0) singular */
  {
    double flat[16], mean[2] = {0.0, 2.0};
    kubo_response r;
    for (int t = 0; t < 8; t++) {
      flat[2 * t] = sin(t);
      flat[2 * t + 1] = 2.0;
    }
    spec.frames = 8;
    CHECK_OK(kubo_response_est_new(&e, &spec));
    CHECK_OK(kubo_response_est_add(e, flat, NULL, mean));
    CHECK(kubo_response_est_finish(e, &r) == KUBO_ENUMERIC);
    CHECK(strstr(kubo_error_message(), "singular") != NULL);
    kubo_response_est_free(e);
  }
}


/* ---------------------------------------------------------------------
** 2-D non-normal linear system: R(tau) = exp(A tau)
** ------------------------------------------------------------------- */

static const double A2[4] = {-1.0, 2.0, 0.0, -0.5};
static const double Q2[4] = {1.0, 0.3, 0.3, 0.5};

static void matmul2(const double *a, const double *b, double *out) {
  double r[4];
  r[0] = a[0] * b[0] + a[1] * b[2];
  r[1] = a[0] * b[1] + a[1] * b[3];
  r[2] = a[2] * b[0] + a[3] * b[2];
  r[3] = a[2] * b[1] + a[3] * b[3];
  memcpy(out, r, sizeof r);
}


/* exp(A t) by a Taylor series of exp(A t / 2^s), squared s times. */
static void expm2(double t, double *out) {
  int s = 10;
  double b[4], term[4] = {1, 0, 0, 1}, sum[4] = {1, 0, 0, 1};
  for (int i = 0; i < 4; i++) b[i] = A2[i] * t / (double)(1 << s);
  for (int n = 1; n <= 20; n++) {
    matmul2(term, b, term);
    for (int i = 0; i < 4; i++) term[i] /= n;
    for (int i = 0; i < 4; i++) sum[i] += term[i];
  }
  for (int i = 0; i < s; i++) matmul2(sum, sum, sum);
  memcpy(out, sum, sizeof sum);
}


/* Stationary covariance: A S + S A^T + Q = 0, solved for (s11, s12, s22)
** by Cramer's rule. */
static void lyapunov2(double *sig) {
  double a = A2[0], b = A2[1], c = A2[2], d = A2[3];
  double m[3][3] = {{2 * a, 2 * b, 0}, {c, a + d, b}, {0, 2 * c, 2 * d}};
  double r[3] = {-Q2[0], -Q2[1], -Q2[3]}, x[3];
  double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
               m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
               m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  for (int k = 0; k < 3; k++) {
    double mk[3][3];
    memcpy(mk, m, sizeof m);
    for (int i = 0; i < 3; i++) mk[i][k] = r[i];
    x[k] = (mk[0][0] * (mk[1][1] * mk[2][2] - mk[1][2] * mk[2][1]) -
            mk[0][1] * (mk[1][0] * mk[2][2] - mk[1][2] * mk[2][0]) +
            mk[0][2] * (mk[1][0] * mk[2][1] - mk[1][1] * mk[2][0])) / det;
  }
  sig[0] = x[0];
  sig[1] = sig[2] = x[1];
  sig[3] = x[2];
}


static void test_linear_2d(void) {
  enum { T = 20000, E = 8, L = 31 };
  const double h = 0.1;
  double sig[4], sinv[4], phi[4], step_cov[4], chol[3], det;
  double *x = kubo_alloc(T * 2 * sizeof(double));
  double *s = kubo_alloc(T * 2 * sizeof(double));
  kubo_response_spec spec = {0};
  kubo_response_est *gauss = NULL, *score = NULL, *norm = NULL;
  kubo_response rg, rs, rn;

  lyapunov2(sig);
  det = sig[0] * sig[3] - sig[1] * sig[2];
  sinv[0] = sig[3] / det;
  sinv[1] = sinv[2] = -sig[1] / det;
  sinv[3] = sig[0] / det;
  expm2(h, phi);
  {
    /* covariance of one exact step: S - phi S phi^T */
    double ps[4], pspt[4], pt[4] = {phi[0], phi[2], phi[1], phi[3]};
    matmul2(phi, sig, ps);
    matmul2(ps, pt, pspt);
    for (int i = 0; i < 4; i++) step_cov[i] = sig[i] - pspt[i];
    chol[0] = sqrt(step_cov[0]);
    chol[1] = step_cov[2] / chol[0];
    chol[2] = sqrt(step_cov[3] - chol[1] * chol[1]);
  }

  spec.kind = KUBO_RESPONSE_GAUSSIAN;
  spec.frames = T;
  spec.lags = L;
  spec.ndim = 1;
  spec.shape[0] = 2;
  spec.mode = KUBO_CORR_PADDED;
  CHECK_OK(kubo_response_est_new(&gauss, &spec));
  spec.kind = KUBO_RESPONSE_SCORE;
  CHECK_OK(kubo_response_est_new(&score, &spec));
  spec.normalize = 1;
  CHECK_OK(kubo_response_est_new(&norm, &spec));

  for (int e = 0; e < E; e++) {
    kubo_rng r;
    double z[2], zero[2] = {0, 0};
    kubo_rng_init(&r, 2024, (uint64_t)e);
    /* start from the stationary law */
    kubo_rng_normal(&r, z, 2);
    x[0] = sqrt(sig[0]) * z[0];
    x[1] = sig[1] / sqrt(sig[0]) * z[0] +
           sqrt(sig[3] - sig[1] * sig[1] / sig[0]) * z[1];
    for (int t = 1; t < T; t++) {
      const double *p = x + 2 * (t - 1);
      kubo_rng_normal(&r, z, 2);
      x[2 * t] = phi[0] * p[0] + phi[1] * p[1] + chol[0] * z[0];
      x[2 * t + 1] = phi[2] * p[0] + phi[3] * p[1] + chol[1] * z[0] +
                     chol[2] * z[1];
    }
    for (int t = 0; t < T; t++) {
      s[2 * t] = -(sinv[0] * x[2 * t] + sinv[1] * x[2 * t + 1]);
      s[2 * t + 1] = -(sinv[2] * x[2 * t] + sinv[3] * x[2 * t + 1]);
    }
    CHECK_OK(kubo_response_est_add(gauss, x, NULL, zero));
    CHECK_OK(kubo_response_est_add(score, x, s, NULL));
    CHECK_OK(kubo_response_est_add(norm, x, s, NULL));
  }
  CHECK_OK(kubo_response_est_finish(gauss, &rg));
  CHECK_OK(kubo_response_est_finish(score, &rs));
  CHECK_OK(kubo_response_est_finish(norm, &rn));

  {
    const int taus[] = {0, 5, 10, 20, 30};
    double worst_g = 0, worst_s = 0, worst_n = 0;
    for (int k = 0; k < 5; k++) {
      double ex[4];
      expm2(taus[k] * h, ex);
      for (int i = 0; i < 4; i++) {
        int at = taus[k] * 4 + i;
        double g = ((double *)rg.values.data)[at];
        double sg = ((double *)rg.std_error.data)[at];
        double sc = ((double *)rs.values.data)[at];
        double ss = ((double *)rs.std_error.data)[at];
        double nv = ((double *)rn.values.data)[at];
        double ns = ((double *)rn.std_error.data)[at];
        /* 5 standard errors; lag 0 of the ratios is exact */
        CHECK_NEAR(g, ex[i], 5 * sg + 1e-12);
        CHECK_NEAR(sc, ex[i], 5 * ss + 1e-12);
        CHECK_NEAR(nv, ex[i], 5 * ns + 1e-12);
        if (fabs(g - ex[i]) > worst_g) worst_g = fabs(g - ex[i]);
        if (fabs(sc - ex[i]) > worst_s) worst_s = fabs(sc - ex[i]);
        if (fabs(nv - ex[i]) > worst_n) worst_n = fabs(nv - ex[i]);
      }
    }
    printf("linear 2-D: max |R - exp(A tau)|: Gaussian %.4f, score raw "
           "%.4f, score normalised %.4f\n", worst_g, worst_s, worst_n);
    /* the estimate must resolve the non-normal transient: exp(A) has a
    ** large off-diagonal entry that a normal surrogate would miss */
    CHECK(((double *)rg.values.data)[10 * 4 + 1] > 0.4);
  }

  /* Stein: the raw R(0) is the identity within sampling error */
  for (int i = 0; i < 4; i++)
    CHECK_NEAR(((double *)rs.stein.data)[i], (i == 0 || i == 3) ? 1 : 0,
               5 * ((double *)rs.std_error.data)[i]);
  CHECK_NEAR(rs.stein_diagonal, 1.0, 0.05);

  kubo_response_release(&rg);
  kubo_response_release(&rs);
  kubo_response_release(&rn);
  kubo_response_est_free(gauss);
  kubo_response_est_free(score);
  kubo_response_est_free(norm);
  kubo_free(x, T * 2 * sizeof(double));
  kubo_free(s, T * 2 * sizeof(double));
}


/* ---------------------------------------------------------------------
** OU SPDE on a 32 x 32 grid (exact per-mode sampling)
** ------------------------------------------------------------------- */

enum { N = 32, M = N * N, HX = N / 2 + 1, H = N * HX };
static const double LAMBDA = 0.04, KAPPA = 2.5e-4, U = 0.02, EPS2 = 0.004;

/* The reference wavenumber table: the Nyquist index gets k = 0. */
static double wavenumber(int index) {
  if (index == N / 2) return 0.0;
  return index < N / 2 ? index : index - N;
}


static double damping(double kx, double ky) {
  double k2 = kx * kx + ky * ky;
  return LAMBDA / (1 + k2) + KAPPA * k2;
}


/* Exact response at offset (dy, dx) cells from the impulse, time tau. */
static double ou_exact(int dy, int dx, double tau) {
  double complex sum = 0;
  for (int iy = 0; iy < N; iy++)
    for (int ix = 0; ix < N; ix++) {
      double kx = wavenumber(ix), ky = wavenumber(iy);
      sum += cexp(-damping(kx, ky) * tau - I * U * kx * tau +
                  2 * I * M_PI * (ix * dx + iy * dy) / N);
    }
  return creal(sum) / M;
}


static void test_ou_exact_table(void) {
  /* the published table, pixels (1..4, 1) at tau = 0, 5, 10, 20, 30, 50 */
  static const double taus[6] = {0, 5, 10, 20, 30, 50};
  static const double table[4][6] = {
    {1.0000, 0.5627, 0.1069, -0.0013, 0.0161, 0.0091},
    {0, 0.5240, 0.6417, 0.0782, -0.0314, -0.0183},
    {0, -0.1147, 0.1312, 0.5025, 0.1161, 0.0055},
    {0, 0.0531, -0.0615, 0.1116, 0.3479, -0.0170}};
  double var = 0;
  for (int i = 0; i < 4; i++)
    for (int k = 0; k < 6; k++)
      CHECK_NEAR(ou_exact(0, i, taus[k]), table[i][k], 0.6e-4);
  /* the stationary pixel variance 3.7816 */
  for (int iy = 0; iy < N; iy++)
    for (int ix = 0; ix < N; ix++) {
      double kx = wavenumber(ix), ky = wavenumber(iy), k2 = kx * kx + ky * ky;
      var += 0.5 * EPS2 / (LAMBDA + KAPPA * k2 * (1 + k2));
    }
  CHECK_NEAR(var, 3.7816, 1e-4);
}


/* Stationary variance c_k (eigenvalue of the covariance circulant) of
** half-spectrum mode (iy, ix): M times the noise spectrum over 2 a_k. */
static double ou_mode_variance(int iy, int ix) {
  double kx = wavenumber(ix), ky = wavenumber(iy), k2 = kx * kx + ky * ky;
  return M * (EPS2 / (1 + k2)) / (2 * damping(kx, ky));
}


/* Fills x (frames, M) with one member of the OU SPDE sampled every dt
** time units, exactly per Fourier mode, and s with the exact score
** -C^-1 x. Noise comes from the member's own stream. */
static void ou_member(kubo_grid *g, uint64_t member, int64_t frames,
                      double dt, double *x, double *s) {
  double complex *z = kubo_alloc(H * sizeof(double complex));
  double complex *w = kubo_alloc(H * sizeof(double complex));
  double complex *sp = kubo_alloc(H * sizeof(double complex));
  double *white = kubo_alloc(M * sizeof(double));
  kubo_rng r;

  kubo_rng_init(&r, 77, member);
  for (int64_t t = 0; t < frames; t++) {
    kubo_rng_normal(&r, white, M);
    kubo_grid_fft(g, 1, white, (double *)w);
    for (int iy = 0; iy < N; iy++)
      for (int ix = 0; ix < HX; ix++) {
        int k = iy * HX + ix;
        double kx = wavenumber(ix), ky = wavenumber(iy);
        double c = ou_mode_variance(iy, ix);
        double complex phi = cexp(-(damping(kx, ky) + I * U * kx) * dt);
        if (t == 0) z[k] = sqrt(c) * w[k];
        else z[k] = phi * z[k] + sqrt(c * (1 - cabs(phi) * cabs(phi))) * w[k];
        sp[k] = -z[k] / c;
      }
    kubo_grid_ifft(g, 1, (double *)z, x + t * M);
    kubo_grid_ifft(g, 1, (double *)sp, s + t * M);
  }
  kubo_free(z, H * sizeof(double complex));
  kubo_free(w, H * sizeof(double complex));
  kubo_free(sp, H * sizeof(double complex));
  kubo_free(white, M * sizeof(double));
}


typedef struct ou_run {
  kubo_response gauss, circular, raw, norm;
} ou_run;


static void ou_estimate(int64_t frames, int members, int64_t lags,
                        ou_run *out) {
  kubo_grid *g = NULL;
  int64_t n[2] = {N, N};
  double *x = kubo_alloc(frames * M * sizeof(double));
  double *s = kubo_alloc(frames * M * sizeof(double));
  double mean = 0.0;
  kubo_response_spec spec = {0};
  kubo_response_est *eg = NULL, *ec = NULL, *er = NULL, *en = NULL;

  CHECK_OK(kubo_grid_new(&g, 2, n, NULL, KUBO_NYQUIST_ZERO_K));
  spec.kind = KUBO_RESPONSE_GAUSSIAN;
  spec.frames = frames;
  spec.lags = lags;
  spec.ndim = 2;
  spec.shape[0] = spec.shape[1] = N;
  spec.grid = 1;
  spec.mode = KUBO_CORR_PADDED;
  CHECK_OK(kubo_response_est_new(&eg, &spec));
  spec.mode = KUBO_CORR_CIRCULAR;
  CHECK_OK(kubo_response_est_new(&ec, &spec));
  spec.mode = KUBO_CORR_PADDED;
  spec.kind = KUBO_RESPONSE_SCORE;
  CHECK_OK(kubo_response_est_new(&er, &spec));
  spec.normalize = 1;
  CHECK_OK(kubo_response_est_new(&en, &spec));

  for (int e = 0; e < members; e++) {
    ou_member(g, (uint64_t)e, frames, 1.0, x, s);
    /* the process has mean zero, so the known mean is subtracted */
    CHECK_OK(kubo_response_est_add(eg, x, NULL, &mean));
    CHECK_OK(kubo_response_est_add(ec, x, NULL, &mean));
    CHECK_OK(kubo_response_est_add(er, x, s, NULL));
    CHECK_OK(kubo_response_est_add(en, x, s, NULL));
  }
  CHECK_OK(kubo_response_est_finish(eg, &out->gauss));
  CHECK_OK(kubo_response_est_finish(ec, &out->circular));
  CHECK_OK(kubo_response_est_finish(er, &out->raw));
  CHECK_OK(kubo_response_est_finish(en, &out->norm));
  kubo_response_est_free(eg);
  kubo_response_est_free(ec);
  kubo_response_est_free(er);
  kubo_response_est_free(en);
  kubo_grid_release(g);
  kubo_free(x, frames * M * sizeof(double));
  kubo_free(s, frames * M * sizeof(double));
}


static void ou_release(ou_run *run) {
  kubo_response_release(&run->gauss);
  kubo_response_release(&run->circular);
  kubo_response_release(&run->raw);
  kubo_response_release(&run->norm);
}


/* Checks one estimate at pixels (1..4, 1) and the tabulated lags within
** k standard errors; returns the largest error. */
static double ou_check(const kubo_response *r, const char *name, double k) {
  static const int taus[6] = {0, 5, 10, 20, 30, 50};
  const double *v = r->values.data, *se = r->std_error.data;
  double worst = 0.0;
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 6; j++) {
      int at = taus[j] * M + i;            /* site (0, 0), pixel (0, i) */
      double exact = ou_exact(0, i, taus[j]);
      if (fabs(v[at] - exact) > k * se[at] + 1e-9) {
        check_failed++;
        fprintf(stderr, "%s: R(%d, 1) at tau %d = %.4f, exact %.4f, "
                "standard error %.4f\n", name, i + 1, taus[j], v[at],
                exact, se[at]);
      } else {
        check_passed++;
      }
      if (fabs(v[at] - exact) > worst) worst = fabs(v[at] - exact);
    }
  return worst;
}


static void test_ou_spde(void) {
  const int64_t frames = RESPONSE_SLOW ? 2000 : 1000;
  const int members = RESPONSE_SLOW ? 32 : 8;
  double worst_g, worst_r, worst_n;
  ou_run run;
  double diff = 0.0;
  ou_estimate(frames, members, 51, &run);
  worst_g = ou_check(&run.gauss, "Gaussian", 5);
  worst_r = ou_check(&run.raw, "score raw", 5);
  worst_n = ou_check(&run.norm, "score normalised", 5);
  printf("OU SPDE, %d x %lld frames: max error Gaussian %.4f, score raw "
         "%.4f, normalised %.4f\n", members, (long long)frames, worst_g,
         worst_r, worst_n);
  if (RESPONSE_SLOW) {
    /* 64000 time units of data resolve the table to its third decimal */
    CHECK(worst_g < 0.003);
    CHECK(worst_r < 0.003);
    CHECK(worst_n < 0.003);
  }

  /* Stein: S(0) is the identity within sampling error */
  CHECK_NEAR(run.raw.stein_diagonal, 1.0,
             5 * ((double *)run.raw.std_error.data)[0]);
  CHECK(run.raw.stein_deviation < 0.05);

  /* circular and padded agree at short lags: lags 0..10 of 1000 frames
  ** differ by the wrapped pairs, a fraction tau / T of the sum */
  for (int64_t i = 0; i < 11 * M; i++) {
    double d = fabs(((double *)run.gauss.values.data)[i] -
                    ((double *)run.circular.values.data)[i]);
    if (d > diff) diff = d;
  }
  printf("OU SPDE: max |circular - padded| over lags 0..10: %.4f\n", diff);
  CHECK(diff < 0.02);
  ou_release(&run);
}


/* ---------------------------------------------------------------------
** Sources: tensor and HDF5 give the same estimate
** ------------------------------------------------------------------- */

static void test_sources(void) {
  enum { T = 64, E = 3, NY = 4, NX = 6 };
  int64_t shape[4] = {T, E, NY, NX};
  kubo_tensor t = {0};
  kubo_traj *st = NULL, *sh = NULL;
  kubo_response_spec spec = {0};
  kubo_response a, b;
  char path[64];
  double worst = 0.0;

  snprintf(path, sizeof path, "test_response_%d.h5", (int)getpid());
  CHECK_OK(kubo_tensor_init(&t, KUBO_FLOAT32, 4, shape));
  {
    kubo_rng r;
    kubo_rng_init(&r, 5, 0);
    CHECK_OK(kubo_rng_fill_normal(&r, &t, 1.5, 1.0));
  }
  CHECK_OK(kubo_h5_write(path, "traj", &t, NULL, 0));
  CHECK_OK(kubo_traj_from_tensor(&st, &t));
  CHECK_OK(kubo_traj_from_h5(&sh, path, "traj"));
  {
    kubo_traj *missing = NULL;
    CHECK(kubo_traj_from_h5(&missing, path, "missing") == KUBO_EIO);
    CHECK(strstr(kubo_error_message(), "no dataset 'missing'") != NULL);
    CHECK(missing == NULL);
  }

  spec.kind = KUBO_RESPONSE_GAUSSIAN;
  spec.frames = T;
  spec.lags = 8;
  spec.ndim = 2;
  spec.shape[0] = NY;
  spec.shape[1] = NX;
  spec.grid = 1;
  spec.site[0] = 1;
  spec.site[1] = 2;
  CHECK_OK(kubo_response_run(st, &spec, NULL, NULL, &a));
  CHECK_OK(kubo_response_run(sh, &spec, NULL, NULL, &b));
  for (int64_t i = 0; i < 8 * NY * NX; i++) {
    double d = fabs(((double *)a.values.data)[i] -
                    ((double *)b.values.data)[i]);
    if (d > worst) worst = d;
  }
  CHECK_NEAR(worst, 0.0, 1e-14);
  /* lag 0 of the ratio is the identity placed at the site */
  CHECK_NEAR(((double *)a.values.data)[1 * NX + 2], 1.0, 1e-12);
  CHECK_NEAR(((double *)a.values.data)[0], 0.0, 1e-12);
  CHECK(a.std_error.ndim == 3);

  kubo_response_release(&a);
  kubo_response_release(&b);
  spec.frames = T + 1;
  CHECK(kubo_response_run(st, &spec, NULL, NULL, &a) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "frames") != NULL);

  kubo_traj_free(st);
  kubo_traj_free(sh);
  kubo_tensor_release(&t);
  remove(path);
}


int main(void) {
  test_fft_matches_naive();
  test_thread_count();
  test_bad_inputs();
  test_linear_2d();
  test_ou_exact_table();
  test_ou_spde();
  test_sources();
  return check_summary();
}
