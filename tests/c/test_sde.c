/*
** test_sde.c: models and integrators against exact results: the noise
** of the reference SPDEs, the exact OU variance and impulse response,
** Euler-Maruyama's discrete variance, Navier-Stokes invariants, thread
** independence, shared noise of perturbation pairs, and failures.
*/
#include <complex.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/grid.h"
#include "kubo/integrator.h"
#include "kubo/model.h"
#include "kubo/rng.h"

static kubo_grid *grid2(int64_t n, kubo_nyquist nyq) {
  kubo_grid *g = NULL;
  int64_t sizes[2] = {n, n};
  if (kubo_grid_new(&g, 2, sizes, NULL, nyq) != KUBO_OK) return NULL;
  return g;
}


static kubo_model *make_model(const char *kind, kubo_grid *g) {
  kubo_model *m = NULL;
  if (kubo_model_new(&m, kind, g) != KUBO_OK) return NULL;
  return m;
}


static kubo_sim *make_sim(kubo_model *m, kubo_sim_method method, double dt,
                          int64_t members, uint64_t seed) {
  kubo_sim_options opt;
  kubo_sim_options_default(&opt);
  opt.method = method;
  opt.dt = dt;
  opt.members = members;
  opt.seed = seed;
  kubo_sim *s = NULL;
  if (kubo_sim_new(&s, m, &opt) != KUBO_OK) {
    fprintf(stderr, "kubo_sim_new: %s\n", kubo_error_message());
    return NULL;
  }
  return s;
}


static double *state_of(const kubo_sim *s) {
  int64_t n = kubo_sim_members(s) * kubo_model_dim(kubo_sim_model(s));
  double *u = malloc((size_t)n * sizeof(double));
  if (kubo_sim_state(s, u) != KUBO_OK) {
    free(u);
    return NULL;
  }
  return u;
}


/* The RK4 amplification factor of dx/dt = s x over one step h. */
static double complex rk4_factor(double complex z) {
  return 1 + z + z * z / 2 + z * z * z / 6 + z * z * z * z / 24;
}


/* Wavenumber of index i on an axis of n points, zero_k convention. */
static double wavenumber(int64_t i, int64_t n) {
  if (2 * i == n) return 0;
  return (double)(i <= n / 2 ? i : i - n);
}


/* ---------------------------------------------------------------------
** Models: creation and parameters
** ------------------------------------------------------------------- */

static void test_model_errors(void) {
  kubo_model *m = NULL;
  CHECK(kubo_model_new(&m, "heat", NULL) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "unknown kind 'heat'") != NULL);

  m = make_model("allen_cahn", NULL);
  CHECK(m != NULL);
  CHECK(kubo_model_set(m, "beta", 1) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "unknown parameter 'beta'") != NULL);
  CHECK(kubo_model_set(m, "kappa", NAN) == KUBO_EINVAL);
  CHECK_OK(kubo_model_set(m, "eps2", -1));
  CHECK(kubo_model_ready(m) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "eps2 must be > 0") != NULL);
  CHECK_OK(kubo_model_set(m, "eps2", 0.004));
  CHECK_OK(kubo_model_ready(m));
  CHECK(kubo_model_set(m, "kappa", 1) == KUBO_ESTATE);
  double v = 0;
  CHECK_OK(kubo_model_get(m, "alpha", &v));
  CHECK(v == 16);
  CHECK(kubo_model_dim(m) == 1024);
  CHECK_NEAR(kubo_model_default_dt(m), 1.0 / 32, 0);
  kubo_model_release(m);

  m = make_model("linear", NULL);
  CHECK(kubo_model_ready(m) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "drift matrix A is missing") != NULL);
  kubo_model_release(m);
}


/* ---------------------------------------------------------------------
** Noise of the reference SPDEs
** ------------------------------------------------------------------- */

/* One Euler-Maruyama step with zero drift from zero gives sqrt(dt) eta.
** It must equal the grid module's random field (half draw) or reference
** noise (full draw) made from the same stream. */
static void test_noise_matches_grid(int draw) {
  kubo_grid *g = grid2(16, KUBO_NYQUIST_ZERO_K);
  kubo_model *m = make_model("ou", g);
  kubo_model_set(m, "lambda", 0);
  kubo_model_set(m, "kappa", 0);
  kubo_model_set(m, "advection", 0);
  kubo_sim_options opt;
  kubo_sim_options_default(&opt);
  opt.method = KUBO_EULER_MARUYAMA;
  opt.dt = 0.25;
  opt.members = 3;
  opt.seed = 77;
  opt.first_member = 5;
  opt.noise_draw = draw;
  kubo_sim *s = NULL;
  CHECK_OK(kubo_sim_new(&s, m, &opt));
  double zeros[3 * 256] = {0};
  CHECK_OK(kubo_sim_initialize(s, zeros));
  CHECK_OK(kubo_sim_advance(s, 1));
  double *u = state_of(s);

  int64_t H = kubo_grid_spectral_size(g);
  double *amp = malloc((size_t)H * sizeof(double));
  double *spectrum = malloc((size_t)H * sizeof(double));
  kubo_grid_noise_amplitude(g, 0.004, amp);
  for (int64_t p = 0; p < H; p++) spectrum[p] = amp[p] * amp[p];
  double want[3 * 256];
  for (int j = 0; j < 3; j++) {
    kubo_rng rng;
    kubo_rng_init(&rng, 77, kubo_rng_substream(5 + j, KUBO_SIM_KEY_NOISE));
    if (draw == KUBO_NOISE_FULL)
      CHECK_OK(kubo_grid_noise(g, amp, 1, &rng, want + 256 * j));
    else
      CHECK_OK(kubo_grid_random_field(g, spectrum, &rng, 1,
                                       want + 256 * j));
  }
  double worst = 0;
  for (int i = 0; i < 3 * 256; i++)
    worst = fmax(worst, fabs(u[i] - 0.5 * want[i]));
  CHECK(worst < 1e-13);

  free(u);
  free(amp);
  free(spectrum);
  kubo_sim_free(s);
  kubo_model_release(m);
  kubo_grid_release(g);
}


/* Per-point noise variance per unit time on 32 x 32 (zero_k): 0.099994.
** 256 members give 256 x 1024 correlated values; the standard error is
** taken from the scatter of the members' spatial means of eta^2. */
static void test_noise_variance(void) {
  kubo_model *m = make_model("ou", NULL);
  kubo_model_set(m, "lambda", 0);
  kubo_model_set(m, "kappa", 0);
  kubo_model_set(m, "advection", 0);
  kubo_sim *s = make_sim(m, KUBO_EULER_MARUYAMA, 1, 256, 3);
  double *zeros = calloc(256 * 1024, sizeof(double));
  CHECK_OK(kubo_sim_initialize(s, zeros));
  CHECK_OK(kubo_sim_advance(s, 1));
  double *u = state_of(s);
  double sum = 0, sum2 = 0;
  for (int j = 0; j < 256; j++) {
    double v = 0;
    for (int i = 0; i < 1024; i++) v += u[j * 1024 + i] * u[j * 1024 + i];
    v /= 1024;
    sum += v;
    sum2 += v * v;
  }
  double mean = sum / 256, se = sqrt((sum2 / 256 - mean * mean) / 255);
  CHECK_NEAR(mean, 0.099994, 4 * se);
  CHECK(se < 0.002);
  free(u);
  free(zeros);
  kubo_sim_free(s);
  kubo_model_release(m);
}


/* ---------------------------------------------------------------------
** Ornstein-Uhlenbeck SPDE
** ------------------------------------------------------------------- */

/* The exact per-point variance after n RK4 steps from zero: every mode k
** of the full spectrum is a complex OU process with x' = P_k x + sqrt(h)
** eta_k, so Var_n = sum_k h S_k (1 - |P_k|^2n) / (1 - |P_k|^2). n < 0
** gives the stationary value. */
static double ou_exact_variance(int64_t n, double h) {
  double lambda = 0.04, kappa = 2.5e-4, U = 0.02, eps2 = 0.004;
  double total = 0;
  for (int iy = 0; iy < 32; iy++) {
    for (int ix = 0; ix < 32; ix++) {
      double kx = wavenumber(ix, 32), ky = wavenumber(iy, 32);
      double k2 = kx * kx + ky * ky, S = eps2 / (1 + k2);
      double complex s = -lambda / (1 + k2) - kappa * k2 - I * U * kx;
      double r = cabs(rk4_factor(h * s));
      double r2 = r * r;
      double sum = n < 0 ? 1 / (1 - r2) : (1 - pow(r2, (double)n)) /
                                           (1 - r2);
      total += h * S * sum;
    }
  }
  return total;
}


/* The continuum stationary variance (eps2/2) sum_k 1/(lambda + kappa
** |k|^2 (1 + |k|^2)) is 3.7816; the RK4 value at h = 1/32 is a little
** larger. */
static void test_ou_variance_formula(void) {
  double eps2 = 0.004, lambda = 0.04, kappa = 2.5e-4, cont = 0;
  for (int iy = 0; iy < 32; iy++)
    for (int ix = 0; ix < 32; ix++) {
      double kx = wavenumber(ix, 32), ky = wavenumber(iy, 32);
      double k2 = kx * kx + ky * ky;
      cont += eps2 / 2 / (lambda + kappa * k2 * (1 + k2));
    }
  CHECK_NEAR(cont, 3.7816, 5e-5);
  double disc = ou_exact_variance(-1, 1.0 / 32);
  CHECK(disc > cont);
  CHECK(disc - cont < 0.01);
}


/* 64 members from zero for 160 steps (5 time units): the ensemble
** variance must match the exact transient value within 4 standard
** errors (from the scatter of the members' spatial means). */
static void test_ou_transient_variance(void) {
  kubo_model *m = make_model("ou", NULL);
  kubo_sim *s = make_sim(m, KUBO_RK4, 1.0 / 32, 64, 11);
  double *zeros = calloc(64 * 1024, sizeof(double));
  CHECK_OK(kubo_sim_initialize(s, zeros));
  CHECK_OK(kubo_sim_advance(s, 160));
  double *u = state_of(s);
  double sum = 0, sum2 = 0;
  for (int j = 0; j < 64; j++) {
    double v = 0;
    for (int i = 0; i < 1024; i++) v += u[j * 1024 + i] * u[j * 1024 + i];
    v /= 1024;
    sum += v;
    sum2 += v * v;
  }
  double mean = sum / 64, se = sqrt((sum2 / 64 - mean * mean) / 63);
  double want = ou_exact_variance(160, 1.0 / 32);
  CHECK_NEAR(mean, want, 4 * se);
  CHECK(se < 0.03 * want);
  free(u);
  free(zeros);
  kubo_sim_free(s);
  kubo_model_release(m);
}


/* The exact continuous-time response of pixel (i, 1) to an impulse at
** pixel (1, 1): R(tau) = N^-2 sum_k exp(-a_k tau - i U kx tau)
** exp(i 2 pi idx.(x_p - x_1) / N), a_k = lambda/(1+|k|^2) + kappa|k|^2. */
static double ou_exact_response(int dx, double tau) {
  double lambda = 0.04, kappa = 2.5e-4, U = 0.02;
  double complex total = 0;
  for (int iy = 0; iy < 32; iy++)
    for (int ix = 0; ix < 32; ix++) {
      double kx = wavenumber(ix, 32), ky = wavenumber(iy, 32);
      double k2 = kx * kx + ky * ky;
      double a = lambda / (1 + k2) + kappa * k2;
      total += cexp(-a * tau - I * U * kx * tau) *
               cexp(I * 2 * M_PI * ix * dx / 32.0);
    }
  return creal(total) / 1024;
}


/* A perturbation run of the OU SPDE with shared noise: the response is
** noise-free (the system is linear) and must match the published table
** (4 decimals) and the exact formula (RK4 error at h = 1/32 is below
** 1e-8 over 50 time units). */
static void test_ou_impulse_response(void) {
  static const double taus[] = {5, 10, 20, 30, 50};
  static const double table[4][5] = {
    {0.5627, 0.1069, -0.0013, 0.0161, 0.0091},
    {0.5240, 0.6417, 0.0782, -0.0314, -0.0183},
    {-0.1147, 0.1312, 0.5025, 0.1161, 0.0055},
    {0.0531, -0.0615, 0.1116, 0.3479, -0.0170},
  };
  kubo_model *m = make_model("ou", NULL);
  kubo_sim *control = make_sim(m, KUBO_RK4, 1.0 / 32, 2, 5);
  CHECK_OK(kubo_sim_advance(control, 64));
  kubo_sim *perturbed = NULL;
  CHECK_OK(kubo_sim_clone(&perturbed, control));
  double delta = 1.0 / 16;
  CHECK_OK(kubo_sim_add_impulse(perturbed, 0, delta));

  int64_t done = 0;
  for (int t = 0; t < 5; t++) {
    int64_t target = (int64_t)(taus[t] * 32);
    CHECK_OK(kubo_sim_advance_pair(control, perturbed, target - done));
    done = target;
    double *a = state_of(control), *b = state_of(perturbed);
    for (int i = 0; i < 4; i++) {
      for (int j = 0; j < 2; j++) {
        double r = (b[j * 1024 + i] - a[j * 1024 + i]) / delta;
        CHECK_NEAR(r, table[i][t], 6e-5);
        CHECK_NEAR(r, ou_exact_response(i, taus[t]), 1e-7);
      }
    }
    free(a);
    free(b);
  }
  kubo_sim_free(control);
  kubo_sim_free(perturbed);
  kubo_model_release(m);
}


/* ---------------------------------------------------------------------
** Scalar OU dx = -lambda x dt + s dW: each method is a linear recursion
** x' = a x + b sqrt(h) s z with stationary variance b^2 h s^2 / (1 - a^2):
**   Euler-Maruyama  a = 1 - lambda h, b = 1, which is s^2 / (lambda (2 -
**                   lambda h)), not s^2 / (2 lambda);
**   Heun            a = 1 - lambda h + (lambda h)^2 / 2, b = 1 - lambda h/2;
**   RK4             a = the RK4 factor P(-lambda h), b = 1 (noise after
**                   the stages).
** ------------------------------------------------------------------- */

static kubo_model *scalar_linear(double lambda, double s2) {
  kubo_model *m = make_model("linear", NULL);
  kubo_tensor a = {0}, q = {0};
  int64_t shape[2] = {1, 1};
  kubo_tensor_init(&a, KUBO_FLOAT64, 2, shape);
  kubo_tensor_init(&q, KUBO_FLOAT64, 2, shape);
  ((double *)a.data)[0] = -lambda;
  ((double *)q.data)[0] = s2;
  CHECK_OK(kubo_model_set_array(m, "A", &a));
  CHECK_OK(kubo_model_set_array(m, "Q", &q));
  kubo_tensor_release(&a);
  kubo_tensor_release(&q);
  return m;
}


/* 10000 members, 40 steps to forget the start, then 10 samples 10 steps
** apart (correlation at most 0.5^10) per member; 4 standard errors. */
static void test_discrete_variance(kubo_sim_method method) {
  double lambda = 1, s2 = 2, h = 0.5, lh = lambda * h;
  int64_t members = 10000;
  double a = 1 - lh, b = 1;
  if (method == KUBO_HEUN) {
    a = 1 - lh + lh * lh / 2;
    b = 1 - lh / 2;
  } else if (method == KUBO_RK4) {
    a = creal(rk4_factor(-lh));
  }
  double want = b * b * h * s2 / (1 - a * a);
  if (method == KUBO_EULER_MARUYAMA)
    CHECK_NEAR(want, s2 / (lambda * (2 - lambda * h)), 1e-12);

  kubo_model *m = scalar_linear(lambda, s2);
  kubo_sim *s = make_sim(m, method, h, members, 21);
  CHECK_OK(kubo_sim_advance(s, 40));
  double sum = 0, sum2 = 0;
  double *u = malloc((size_t)members * sizeof(double));
  for (int r = 0; r < 10; r++) {
    CHECK_OK(kubo_sim_advance(s, 10));
    CHECK_OK(kubo_sim_state(s, u));
    for (int64_t j = 0; j < members; j++) {
      sum += u[j] * u[j];
      sum2 += u[j] * u[j] * u[j] * u[j];
    }
  }
  double n = 10.0 * (double)members;
  double var = sum / n, se = sqrt((sum2 / n - var * var) / (n - 1));
  CHECK_NEAR(var, want, 4 * se);
  if (method == KUBO_EULER_MARUYAMA)
    CHECK(fabs(var - s2 / (2 * lambda)) > 10 * se);
  free(u);
  kubo_sim_free(s);
  kubo_model_release(m);
}


/* One Euler-Maruyama step of dt = 1 from zero with A = 0 gives B z, whose
** covariance must be Q; the standard error of an entry of the sample
** covariance of n pairs is sqrt((Q_ii Q_jj + Q_ij^2) / n). */
static void test_linear_noise_covariance(void) {
  static const double q[4] = {2, 0.6, 0.6, 1};
  int64_t members = 20000;
  kubo_model *m = make_model("linear", NULL);
  kubo_tensor a = {0}, qt = {0};
  int64_t shape[2] = {2, 2};
  kubo_tensor_init(&a, KUBO_FLOAT64, 2, shape);
  kubo_tensor_init(&qt, KUBO_FLOAT64, 2, shape);
  memcpy(qt.data, q, sizeof q);
  CHECK_OK(kubo_model_set_array(m, "A", &a));
  CHECK_OK(kubo_model_set_array(m, "Q", &qt));
  kubo_sim *s = make_sim(m, KUBO_EULER_MARUYAMA, 1, members, 5);
  CHECK_OK(kubo_sim_advance(s, 1));
  double *u = malloc((size_t)(2 * members) * sizeof(double));
  CHECK_OK(kubo_sim_state(s, u));
  double c[4] = {0};
  for (int64_t j = 0; j < members; j++)
    for (int k = 0; k < 4; k++)
      c[k] += u[2 * j + k / 2] * u[2 * j + k % 2] / (double)members;
  for (int k = 0; k < 4; k++) {
    double se = sqrt((q[3 * (k / 2)] * q[3 * (k % 2)] + q[k] * q[k]) /
                     (double)members);
    CHECK_NEAR(c[k], q[k], 4 * se);
  }
  free(u);
  kubo_sim_free(s);
  kubo_model_release(m);
  kubo_tensor_release(&a);
  kubo_tensor_release(&qt);
}


/* ---------------------------------------------------------------------
** Navier-Stokes
** ------------------------------------------------------------------- */

static void test_ns_forced_modes(void) {
  kubo_model *m = make_model("navier_stokes", NULL);
  CHECK_OK(kubo_model_ready(m));
  int64_t n = kubo_model_hidden_size(m);
  CHECK(n == 349);
  int64_t *modes = malloc((size_t)(2 * n) * sizeof(int64_t));
  CHECK_OK(kubo_model_forced_modes(m, modes));
  int64_t outside = 0, with_origin = 0;
  for (int64_t j = 0; j < n; j++) {
    int64_t kx = modes[2 * j], ky = modes[2 * j + 1];
    if (kx * kx + ky * ky > 112 || kx == -16 || ky == -16 || kx == 16 ||
        ky == 16)
      outside++;
    if (kx == 0 && ky == 0) with_origin++;
  }
  CHECK(outside == 0);
  CHECK(with_origin == 1);
  double f0 = 0;
  CHECK_OK(kubo_model_get(m, "forcing.amplitude", &f0));
  CHECK_NEAR(f0, 18.75, 0);
  CHECK_NEAR(kubo_model_default_dt(m), 1.0 / 128, 0);
  free(modes);
  kubo_model_release(m);
}


/* A field on one shell |k|^2 = 25 has zeta proportional to psi, so the
** nonlinear term vanishes and each mode follows the linear RK4 factor
** P(h (D_k - i U kx)) exactly (to round-off) and the continuum
** exp((D_k - i U kx) t) within the RK4 error (|z|^5/120 per step with
** |z| <= 0.13, about 3e-5 over 128 steps). */
static void test_ns_single_shell(void) {
  static const int modes[3][2] = {{3, 4}, {5, 0}, {4, -3}};
  static const double amps[3] = {1.0, 0.5, 0.7};
  kubo_model *m = make_model("navier_stokes", NULL);
  kubo_model_set(m, "forcing.amplitude", 0);
  kubo_sim *s = make_sim(m, KUBO_RK4, 0, 1, 1);
  double u0[1024], u[1024];
  for (int j = 0; j < 32; j++)
    for (int i = 0; i < 32; i++) {
      double x = 2 * M_PI * i / 32, y = 2 * M_PI * j / 32, v = 0;
      for (int q = 0; q < 3; q++)
        v += amps[q] * cos(modes[q][0] * x + modes[q][1] * y);
      u0[j * 32 + i] = v;
    }
  CHECK_OK(kubo_sim_initialize(s, u0));
  CHECK_OK(kubo_sim_advance(s, 128));
  CHECK_OK(kubo_sim_state(s, u));

  double nu = 1e-5, nu_h = 1e-2, U = M_PI, h = 1.0 / 128;
  double worst_disc = 0, worst_cont = 0;
  for (int j = 0; j < 32; j++)
    for (int i = 0; i < 32; i++) {
      double x = 2 * M_PI * i / 32, y = 2 * M_PI * j / 32;
      double disc = 0, cont = 0;
      for (int q = 0; q < 3; q++) {
        double k2 = 25, kx = modes[q][0];
        double complex sk = -nu_h / (k2 * k2) - nu * k2 * k2 - I * U * kx;
        double complex e = cexp(I * (modes[q][0] * x + modes[q][1] * y));
        disc += amps[q] * creal(cpow(rk4_factor(h * sk), 128) * e);
        cont += amps[q] * creal(cexp(sk * 1.0) * e);
      }
      worst_disc = fmax(worst_disc, fabs(u[j * 32 + i] - disc));
      worst_cont = fmax(worst_cont, fabs(u[j * 32 + i] - cont));
    }
  CHECK(worst_disc < 1e-11);
  CHECK(worst_cont < 1e-4);
  kubo_sim_free(s);
  kubo_model_release(m);
}


/* zeta_f = cos x + cos 2y with the steady forcing F = -N(zeta_f) -
** D zeta_f, worked out by hand: psi = -cos x - cos(2y)/4, so u.grad
** zeta = 1.5 sin x sin 2y - U sin x and
** F = 1.5 sin x sin 2y - U sin x + (nu_h + nu) cos x
**     + (nu_h/16 + 16 nu) cos 2y. */
static void test_ns_steady_manufactured(void) {
  double nu = 1e-5, nu_h = 1e-2, U = M_PI;
  kubo_model *m = make_model("navier_stokes", NULL);
  kubo_model_set(m, "forcing.amplitude", 0);
  kubo_tensor f = {0};
  int64_t shape[2] = {32, 32};
  kubo_tensor_init(&f, KUBO_FLOAT64, 2, shape);
  double zf[1024], u[1024];
  for (int j = 0; j < 32; j++)
    for (int i = 0; i < 32; i++) {
      double x = 2 * M_PI * i / 32, y = 2 * M_PI * j / 32;
      zf[j * 32 + i] = cos(x) + cos(2 * y);
      ((double *)f.data)[j * 32 + i] =
        1.5 * sin(x) * sin(2 * y) - U * sin(x) + (nu_h + nu) * cos(x) +
        (nu_h / 16 + 16 * nu) * cos(2 * y);
    }
  CHECK_OK(kubo_model_set_array(m, "forcing.steady", &f));
  kubo_sim *s = make_sim(m, KUBO_RK4, 0, 1, 1);
  CHECK_OK(kubo_sim_initialize(s, zf));
  CHECK_OK(kubo_sim_advance(s, 256));
  CHECK_OK(kubo_sim_state(s, u));
  double worst = 0;
  for (int i = 0; i < 1024; i++) worst = fmax(worst, fabs(u[i] - zf[i]));
  CHECK(worst < 1e-10);

  /* the same forcing with nu doubled is not steady */
  kubo_model *m2 = make_model("navier_stokes", NULL);
  kubo_model_set(m2, "forcing.amplitude", 0);
  kubo_model_set(m2, "nu_h", 2 * nu_h);
  kubo_model_set_array(m2, "forcing.steady", &f);
  kubo_sim *s2 = make_sim(m2, KUBO_RK4, 0, 1, 1);
  CHECK_OK(kubo_sim_initialize(s2, zf));
  CHECK_OK(kubo_sim_advance(s2, 256));
  CHECK_OK(kubo_sim_state(s2, u));
  worst = 0;
  for (int i = 0; i < 1024; i++) worst = fmax(worst, fabs(u[i] - zf[i]));
  CHECK(worst > 1e-3);

  kubo_sim_free(s);
  kubo_sim_free(s2);
  kubo_model_release(m);
  kubo_model_release(m2);
  kubo_tensor_release(&f);
}


/* A naive Navier-Stokes tendency built from the grid module's operators
** and a direct sum over the forced modes, for one field on a 16 x 16
** zero_k grid. */
static void naive_tendency(kubo_grid *g, const int64_t *modes, int64_t nf,
                           const double *phase, const double *z,
                           double *out) {
  enum { N = 16, M = 256, H2 = 2 * 16 * 9 };
  double nu = 1e-5, nu_h = 1e-2, U = M_PI, f0 = 300.0 * (16.0 / 128) *
                                                (16.0 / 128);
  double zh[H2], t[H2], psi[H2], f[6][M];
  kubo_grid_fft(g, 1, z, zh);

  memcpy(psi, zh, sizeof psi);
  kubo_grid_spec_apply(g, KUBO_GRID_INVERSE_LAPLACIAN, 1, psi);
  memcpy(t, psi, sizeof t);
  kubo_grid_spec_apply(g, KUBO_GRID_DY, 1, t);
  kubo_grid_ifft(g, 1, t, f[0]);                 /* dpsi/dy */
  memcpy(t, psi, sizeof t);
  kubo_grid_spec_apply(g, KUBO_GRID_DX, 1, t);
  kubo_grid_ifft(g, 1, t, f[1]);                 /* dpsi/dx */
  memcpy(t, zh, sizeof t);
  kubo_grid_spec_apply(g, KUBO_GRID_DX, 1, t);
  kubo_grid_ifft(g, 1, t, f[2]);                 /* dzeta/dx */
  memcpy(t, zh, sizeof t);
  kubo_grid_spec_apply(g, KUBO_GRID_DY, 1, t);
  kubo_grid_ifft(g, 1, t, f[3]);                 /* dzeta/dy */

  double uz[M], vz[M], adv[M];
  for (int i = 0; i < M; i++) {
    double u = f[0][i] + U, v = -f[1][i];
    adv[i] = u * f[2][i] + v * f[3][i];
    uz[i] = u * z[i];
    vz[i] = v * z[i];
  }
  kubo_grid_fft(g, 1, uz, t);
  kubo_grid_spec_apply(g, KUBO_GRID_DX, 1, t);
  kubo_grid_ifft(g, 1, t, f[4]);                 /* d(u zeta)/dx */
  kubo_grid_fft(g, 1, vz, t);
  kubo_grid_spec_apply(g, KUBO_GRID_DY, 1, t);
  kubo_grid_ifft(g, 1, t, f[5]);                 /* d(v zeta)/dy */

  double d1[H2], d2[H2], diss[M];
  memcpy(d1, zh, sizeof d1);
  memcpy(d2, zh, sizeof d2);
  kubo_grid_spec_laplacian_power(g, -2, 1, d1);
  kubo_grid_spec_laplacian_power(g, 2, 1, d2);
  for (int i = 0; i < H2; i++) t[i] = -nu_h * d1[i] - nu * d2[i];
  kubo_grid_ifft(g, 1, t, diss);

  double s[M], smean = 0, zmean = 0;
  for (int j = 0; j < N; j++)
    for (int i = 0; i < N; i++) {
      double v = 0;
      for (int64_t q = 0; q < nf; q++)
        v += cos(phase[q] + 2 * M_PI * (modes[2 * q] * i +
                                        modes[2 * q + 1] * j) / N);
      s[j * N + i] = f0 * v / M;
      smean += s[j * N + i] / M;
      zmean += z[j * N + i] / M;
    }
  for (int i = 0; i < M; i++)
    out[i] = -0.5 * (adv[i] + f[4][i] + f[5][i]) + diss[i] + s[i] -
             0.9 * smean - zmean;
}


/* One and two RK4 steps of a 16 x 16 ensemble against the naive tendency,
** with the phases advanced inside the step as specified. Stage 1 uses the
** phases at t, stages 2 and 3 those after the first half-step increment,
** and stage 4 those after the second. */
static void test_ns_step_reference(void) {
  enum { M = 256 };
  kubo_grid *g = grid2(16, KUBO_NYQUIST_ZERO_K);
  kubo_model *m = make_model("navier_stokes", g);
  kubo_sim_options opt;
  kubo_sim_options_default(&opt);
  opt.members = 2;
  opt.seed = 12;
  opt.first_member = 3;
  kubo_sim *s = NULL;
  CHECK_OK(kubo_sim_new(&s, m, &opt));
  int64_t nf = kubo_model_hidden_size(m);
  int64_t *modes = malloc((size_t)(2 * nf) * sizeof(int64_t));
  CHECK_OK(kubo_model_forced_modes(m, modes));
  double h = 1.0 / 64, sd = sqrt(h);
  uint64_t blocks = (uint64_t)(nf + 1) / 2;

  double z0[2 * M], phase[2 * 64 * 64], zh0[64 * 64], zh1[64 * 64];
  CHECK(nf <= 64 * 64);
  CHECK_OK(kubo_sim_state(s, z0));
  kubo_sim_hidden(s, phase);
  for (int step = 0; step < 2; step++) {
    for (int j = 0; j < 2; j++) {
      double *z = z0 + j * M, *ph = phase + j * nf;
      uint64_t stream = kubo_rng_substream(3 + j, KUBO_SIM_KEY_HIDDEN);
      kubo_rng_normal_at(12, stream, 2 * step * blocks, zh0, nf);
      kubo_rng_normal_at(12, stream, (2 * step + 1) * blocks, zh1, nf);
      double k1[M], k2[M], k3[M], k4[M], y[M];
      naive_tendency(g, modes, nf, ph, z, k1);
      for (int64_t q = 0; q < nf; q++) ph[q] += sd * zh0[q];
      for (int i = 0; i < M; i++) y[i] = z[i] + 0.5 * h * k1[i];
      naive_tendency(g, modes, nf, ph, y, k2);
      for (int i = 0; i < M; i++) y[i] = z[i] + 0.5 * h * k2[i];
      naive_tendency(g, modes, nf, ph, y, k3);
      for (int i = 0; i < M; i++) y[i] = z[i] + h * k3[i];
      for (int64_t q = 0; q < nf; q++) ph[q] += sd * zh1[q];
      naive_tendency(g, modes, nf, ph, y, k4);
      for (int i = 0; i < M; i++)
        z[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    }
    CHECK_OK(kubo_sim_advance(s, 1));
    double got[2 * M], got_phase[2 * 64 * 64];
    CHECK_OK(kubo_sim_state(s, got));
    kubo_sim_hidden(s, got_phase);
    double worst = 0, worst_phase = 0;
    for (int i = 0; i < 2 * M; i++)
      worst = fmax(worst, fabs(got[i] - z0[i]));
    for (int64_t q = 0; q < 2 * nf; q++)
      worst_phase = fmax(worst_phase, fabs(got_phase[q] - phase[q]));
    CHECK(worst < 1e-11);
    CHECK(worst_phase < 1e-13);
  }
  free(modes);
  kubo_sim_free(s);
  kubo_model_release(m);
  kubo_grid_release(g);
}


/* Each phase is a Brownian motion with <dphi^2> = 2 D t (D = 1): over
** 64 steps of dt = 1/64, 16 members x 69 phases give 1104 increments;
** (dphi)^2 has standard deviation sqrt(2) (2 D t). */
static void test_ns_phase_diffusion(void) {
  kubo_grid *g = grid2(16, KUBO_NYQUIST_ZERO_K);
  kubo_model *m = make_model("navier_stokes", g);
  kubo_model_set(m, "forcing.amplitude", 0);
  kubo_sim *s = make_sim(m, KUBO_RK4, 0, 16, 4);
  int64_t nf = kubo_model_hidden_size(m), n = 16 * nf;
  double *p0 = malloc((size_t)n * sizeof(double));
  double *p1 = malloc((size_t)n * sizeof(double));
  kubo_sim_hidden(s, p0);
  CHECK_OK(kubo_sim_advance(s, 64));
  kubo_sim_hidden(s, p1);
  double sum = 0, t = 64.0 / 64;
  for (int64_t i = 0; i < n; i++) sum += (p1[i] - p0[i]) * (p1[i] - p0[i]);
  double want = 2 * t, se = sqrt(2.0) * want / sqrt((double)n);
  CHECK_NEAR(sum / (double)n, want, 4 * se);
  free(p0);
  free(p1);
  kubo_sim_free(s);
  kubo_model_release(m);
  kubo_grid_release(g);
}


/* ---------------------------------------------------------------------
** Ensembles: threads, shared noise, restarts, failures
** ------------------------------------------------------------------- */

static double *raw_after(kubo_model *m, int threads, int64_t members,
                         int64_t steps) {
  omp_set_num_threads(threads);
  kubo_sim *s = make_sim(m, KUBO_RK4, 0, members, 99);
  CHECK_OK(kubo_sim_advance(s, steps));
  int64_t n = members * kubo_sim_raw_size(s);
  double *raw = malloc((size_t)n * sizeof(double));
  kubo_sim_raw(s, raw);
  kubo_sim_free(s);
  return raw;
}


static void test_threads_bit_identical(const char *kind, int64_t n,
                                       int64_t members, int64_t steps) {
  kubo_grid *g = grid2(n, KUBO_NYQUIST_ZERO_K);
  kubo_model *m = make_model(kind, g);
  CHECK_OK(kubo_model_ready(m));
  double *one = raw_after(m, 1, members, steps);
  double *two = raw_after(m, 2, members, steps);
  size_t bytes = (size_t)(members * 2 * kubo_grid_spectral_size(g)) *
                 sizeof(double);
  CHECK(memcmp(one, two, bytes) == 0);
  omp_set_num_threads(2);
  free(one);
  free(two);
  kubo_model_release(m);
  kubo_grid_release(g);
}


/* A clone advanced separately, the pair advanced together and the
** original all agree to the bit; a restart from the raw state as well. */
static void test_clone_pair_restart(void) {
  kubo_model *m = make_model("allen_cahn", NULL);
  kubo_sim *a = make_sim(m, KUBO_RK4, 0, 4, 8);
  CHECK_OK(kubo_sim_advance(a, 5));
  kubo_sim *b = NULL, *c = NULL, *d = NULL;
  CHECK_OK(kubo_sim_clone(&b, a));
  CHECK_OK(kubo_sim_clone(&c, a));
  CHECK_OK(kubo_sim_clone(&d, a));
  CHECK_OK(kubo_sim_advance(a, 7));
  CHECK_OK(kubo_sim_advance_pair(b, c, 7));

  int64_t n = 4 * kubo_sim_raw_size(a);
  double *ra = malloc((size_t)n * sizeof(double));
  double *rb = malloc((size_t)n * sizeof(double));
  double *rc = malloc((size_t)n * sizeof(double));
  kubo_sim_raw(a, ra);
  kubo_sim_raw(b, rb);
  kubo_sim_raw(c, rc);
  CHECK(memcmp(ra, rb, (size_t)n * sizeof(double)) == 0);
  CHECK(memcmp(ra, rc, (size_t)n * sizeof(double)) == 0);
  CHECK(kubo_sim_step_count(b) == 12);
  CHECK_NEAR(kubo_sim_time(b), 12.0 / 32, 0);

  /* restart d from a checkpoint taken at step 5 */
  double *r5 = malloc((size_t)n * sizeof(double));
  kubo_sim_raw(d, r5);
  kubo_sim *e = make_sim(m, KUBO_RK4, 0, 4, 8);
  CHECK_OK(kubo_sim_set_raw(e, r5, 5));
  CHECK_OK(kubo_sim_advance(e, 7));
  kubo_sim_raw(e, rb);
  CHECK(memcmp(ra, rb, (size_t)n * sizeof(double)) == 0);

  /* a pair at different steps, or with different seeds, is rejected */
  CHECK(kubo_sim_advance_pair(a, d, 1) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "same step") != NULL);

  free(ra);
  free(rb);
  free(rc);
  free(r5);
  kubo_sim_free(a);
  kubo_sim_free(b);
  kubo_sim_free(c);
  kubo_sim_free(d);
  kubo_sim_free(e);
  kubo_model_release(m);
}


/* Allen-Cahn with dt = 1 blows up; the run stops with KUBO_ENUMERIC,
** names the step and member, and keeps the last finite state. */
static void test_blow_up(void) {
  kubo_model *m = make_model("allen_cahn", NULL);
  kubo_sim *s = make_sim(m, KUBO_RK4, 1, 3, 2);
  kubo_status status = kubo_sim_advance(s, 200);
  CHECK(status == KUBO_ENUMERIC);
  CHECK(strstr(kubo_error_message(), "became NaN or Inf at step") != NULL);
  int64_t step = -1, member = -1;
  double time = -1;
  CHECK(kubo_sim_failure(s, &step, &member, &time) == 1);
  CHECK(step == kubo_sim_step_count(s) + 1);
  CHECK(member >= 0);
  CHECK(member < 3);
  CHECK_NEAR(time, (double)step, 0);
  double *u = state_of(s);
  int finite = 1;
  for (int i = 0; i < 3 * 1024; i++) finite &= isfinite(u[i]) != 0;
  CHECK(finite);
  free(u);

  /* stepping on from there fails again at the same step */
  CHECK(kubo_sim_advance(s, 1) == KUBO_ENUMERIC);
  int64_t step2 = -1;
  kubo_sim_failure(s, &step2, NULL, NULL);
  CHECK(step2 == step);
  kubo_sim_free(s);
  kubo_model_release(m);
}


static void test_interrupt(void) {
  kubo_model *m = make_model("ou", NULL);
  kubo_sim *s = make_sim(m, KUBO_RK4, 0, 2, 2);
  kubo_interrupt_request();
  CHECK(kubo_sim_advance(s, 10) == KUBO_EINTERRUPTED);
  CHECK(kubo_sim_step_count(s) == 0);
  kubo_interrupt_clear();
  CHECK_OK(kubo_sim_advance(s, 3));
  CHECK(kubo_sim_step_count(s) == 3);
  kubo_sim_free(s);
  kubo_model_release(m);
}


static void test_bad_options(void) {
  kubo_model *m = make_model("linear", NULL);
  kubo_tensor a = {0};
  int64_t shape[2] = {2, 2};
  kubo_tensor_init(&a, KUBO_FLOAT64, 2, shape);
  ((double *)a.data)[0] = ((double *)a.data)[3] = -1;
  kubo_model_set_array(m, "A", &a);
  kubo_model_set_array(m, "Q", &a);
  CHECK(kubo_model_ready(m) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "positive semi-definite") != NULL);
  ((double *)a.data)[0] = ((double *)a.data)[3] = 1;
  kubo_model_set_array(m, "Q", &a);
  ((double *)a.data)[0] = ((double *)a.data)[3] = -1;
  CHECK_OK(kubo_model_ready(m));

  kubo_sim_options opt;
  kubo_sim_options_default(&opt);
  kubo_sim *s = NULL;
  CHECK(kubo_sim_new(&s, m, &opt) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "dt is missing") != NULL);
  opt.dt = -1;
  CHECK(kubo_sim_new(&s, m, &opt) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "dt must be finite") != NULL);
  opt.dt = 0.1;
  opt.members = 0;
  CHECK(kubo_sim_new(&s, m, &opt) == KUBO_EINVAL);
  opt.members = 1;
  CHECK_OK(kubo_sim_new(&s, m, &opt));
  CHECK(kubo_sim_advance(s, -1) == KUBO_EINVAL);
  CHECK(kubo_sim_add_impulse(s, 2, 1) == KUBO_EINVAL);
  double bad[2] = {1, NAN};
  CHECK(kubo_sim_set_state(s, bad) == KUBO_EINVAL);

  /* the analytic score of a stable linear model is -Q^-1... here A = -I,
  ** Q = I, so Sigma = I/2 and s(x) = -2 x */
  double x[2] = {0.5, -1}, sc[2];
  CHECK_OK(kubo_model_score(m, 1, x, sc));
  CHECK_NEAR(sc[0], -1, 1e-12);
  CHECK_NEAR(sc[1], 2, 1e-12);
  kubo_sim_free(s);
  kubo_model_release(m);
  kubo_tensor_release(&a);
}


int main(void) {
  omp_set_num_threads(2);
  test_model_errors();
  test_noise_matches_grid(KUBO_NOISE_HALF);
  test_noise_matches_grid(KUBO_NOISE_FULL);
  test_noise_variance();
  test_ou_variance_formula();
  test_ou_transient_variance();
  test_ou_impulse_response();
  test_discrete_variance(KUBO_EULER_MARUYAMA);
  test_discrete_variance(KUBO_HEUN);
  test_discrete_variance(KUBO_RK4);
  test_linear_noise_covariance();
  test_ns_forced_modes();
  test_ns_single_shell();
  test_ns_steady_manufactured();
  test_ns_step_reference();
  test_ns_phase_diffusion();
  test_threads_bit_identical("allen_cahn", 32, 8, 20);
  test_threads_bit_identical("navier_stokes", 16, 4, 6);
  test_clone_pair_restart();
  test_blow_up();
  test_interrupt();
  test_bad_options();
  return check_summary();
}
