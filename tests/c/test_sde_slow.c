/* label: slow
**
** test_sde_slow.c: the stationary pixel variance of the OU SPDE, 3.7816
** in continuous time on 32 x 32 (zero_k), from a long ensemble run.
*/
#include <complex.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "check.h"
#include "kubo/integrator.h"
#include "kubo/model.h"

static double complex rk4_factor(double complex z) {
  return 1 + z + z * z / 2 + z * z * z / 6 + z * z * z * z / 24;
}


static double wavenumber(int64_t i, int64_t n) {
  if (2 * i == n) return 0;
  return (double)(i <= n / 2 ? i : i - n);
}


/* Exact per-point variance after n RK4 steps of size h from zero (n < 0:
** the stationary value), summing the independent Fourier modes:
** Var_n = sum_k h S_k (1 - |P_k|^2n) / (1 - |P_k|^2). */
static double exact_variance(int64_t n, double h) {
  double total = 0;
  for (int iy = 0; iy < 32; iy++)
    for (int ix = 0; ix < 32; ix++) {
      double kx = wavenumber(ix, 32), ky = wavenumber(iy, 32);
      double k2 = kx * kx + ky * ky, S = 0.004 / (1 + k2);
      double complex s = -0.04 / (1 + k2) - 2.5e-4 * k2 - I * 0.02 * kx;
      double r2 = pow(cabs(rk4_factor(h * s)), 2);
      double sum = n < 0 ? 1 / (1 - r2)
                         : (1 - pow(r2, (double)n)) / (1 - r2);
      total += h * S * sum;
    }
  return total;
}


/* 64 members from zero for 700 time units; the spatial variance is
** averaged over frames every 10 time units from t = 400 on. The standard
** error comes from the scatter of the members' averages. The expected
** value is the exact one at those frames (it still lacks 0.2 % of the
** stationary value at t = 400 through the slowest modes); the continuum
** value 3.7816 differs from it by the time step and that remainder. */
static void test_ou_stationary_variance(void) {
  enum { MEMBERS = 64, FRAMES = 30 };
  double h = 1.0 / 32;
  kubo_model *m = NULL;
  CHECK_OK(kubo_model_new(&m, "ou", NULL));
  kubo_sim_options opt;
  kubo_sim_options_default(&opt);
  opt.members = MEMBERS;
  opt.seed = 2024;
  kubo_sim *s = NULL;
  CHECK_OK(kubo_sim_new(&s, m, &opt));
  double *u = calloc(MEMBERS * 1024, sizeof(double));
  CHECK_OK(kubo_sim_initialize(s, u));
  CHECK_OK(kubo_sim_advance(s, 400 * 32));

  double member_avg[MEMBERS] = {0}, expected = 0;
  for (int f = 0; f < FRAMES; f++) {
    if (f > 0) CHECK_OK(kubo_sim_advance(s, 320));
    CHECK_OK(kubo_sim_state(s, u));
    expected += exact_variance(kubo_sim_step_count(s), h) / FRAMES;
    for (int j = 0; j < MEMBERS; j++) {
      double v = 0;
      for (int i = 0; i < 1024; i++) v += u[j * 1024 + i] * u[j * 1024 + i];
      member_avg[j] += v / 1024 / FRAMES;
    }
  }
  double mean = 0, var = 0;
  for (int j = 0; j < MEMBERS; j++) mean += member_avg[j] / MEMBERS;
  for (int j = 0; j < MEMBERS; j++)
    var += (member_avg[j] - mean) * (member_avg[j] - mean) / (MEMBERS - 1);
  double se = sqrt(var / MEMBERS);
  double stationary = exact_variance(-1, h);
  printf("pixel variance %.4f +- %.4f (exact at these frames %.4f, "
         "stationary RK4 %.4f, continuum 3.7816)\n", mean, se, expected,
         stationary);
  CHECK_NEAR(mean, expected, 4 * se);
  CHECK_NEAR(mean, 3.7816, 4 * se + fabs(expected - 3.7816));
  CHECK(se < 0.02 * 3.7816);
  free(u);
  kubo_sim_free(s);
  kubo_model_release(m);
}


int main(void) {
  omp_set_num_threads(2);
  test_ou_stationary_variance();
  return check_summary();
}
