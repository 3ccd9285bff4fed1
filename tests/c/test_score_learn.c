/*
** test_score_learn.c: scores learned on fields of a periodic grid by
** denoising score matching, against exact results. Gaussian fields must
** approach the optimal loss sum_k c_k / (c_k + sigma^2), and the OU SPDE
** on a small grid (exact samples of its stationary Gaussian law) its
** analytic score. test_score_learn_mlp.c covers vector data.
*/
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "score_fixtures.h"
#include "kubo/grid.h"
#include "kubo/model.h"
#include "kubo/rng.h"
#include "kubo/score.h"


/* ---------------------------------------------------------------------
** Gaussian fields on an 8 x 8 periodic grid
** ------------------------------------------------------------------- */

static double field_spectrum(double k2, void *userdata) {
  (void)userdata;
  return 1.0 / (1.0 + k2);
}


static void test_gaussian_loss(void) {
  int64_t n[2] = {8, 8}, count = 3000, shape[3] = {count, 8, 8};
  kubo_grid *g = NULL;
  kubo_rng rng;
  kubo_tensor data = {0}, test = {0};
  kubo_score_data *d = NULL;
  kubo_score_trainer *tr = NULL;
  kubo_score *s = NULL;
  kubo_score_config cfg;
  double *spec, *eig, var = 0, t0 = seconds();
  int64_t H, M = 64;
  const double levels[3] = {0.3, 1.0, 3.0};

  CHECK_OK(kubo_grid_new(&g, 2, n, NULL, KUBO_NYQUIST_ZERO_K));
  H = kubo_grid_spectral_size(g);
  spec = malloc((size_t)H * sizeof *spec);
  eig = malloc((size_t)H * sizeof *eig);
  kubo_grid_radial_table(g, field_spectrum, NULL, spec);
  /* scale to unit variance per point: the half spectrum counts every
  ** mode with 0 < ix < 4 for itself and its conjugate partner */
  for (int64_t k = 0; k < H; k++) {
    int64_t ix = k % 5;
    var += (ix == 0 || ix == 4 ? 1 : 2) * spec[k];
  }
  for (int64_t k = 0; k < H; k++) {
    spec[k] /= var;
    eig[k] = (double)M * spec[k];
  }
  CHECK_OK(kubo_tensor_init(&data, KUBO_FLOAT64, 3, shape));
  kubo_rng_init(&rng, 7, 0);
  CHECK_OK(kubo_grid_random_field(g, spec, &rng, count, data.data));

  kubo_score_config_default(&cfg);
  cfg.t_low = KUBO_SCORE_T_FLOOR;
  cfg.t_high = 1.0;
  cfg.steps = 800;
  cfg.batch = 32;
  cfg.optim.lr = 2e-3;
  cfg.seed = 11;
  {
    kubo_nn *net = local_net(8, 2, 16, 1.0, 3);
    CHECK_OK(kubo_score_data_from_tensor(&d, &data));
    CHECK_OK(kubo_score_trainer_new(&tr, net, d, &cfg));
    CHECK_OK(kubo_score_trainer_run(tr, d, NULL, NULL));
    CHECK_OK(kubo_score_from_trainer(&s, tr));
    kubo_nn_free(net);
  }
  held_out(s, &data, &test);
  for (int i = 0; i < 3; i++) {
    double loss = 0, se = 0, ideal = 0, s2 = levels[i] * levels[i];
    for (int64_t k = 0; k < H; k++) {
      int64_t ix = k % 5;
      ideal += (ix == 0 || ix == 4 ? 1 : 2) * eig[k] / (eig[k] + s2);
    }
    ideal /= (double)M;
    CHECK_OK(kubo_score_dsm_loss(s, &test, levels[i], 5, &loss, &se));
    printf("gaussian grid: sigma %.2f loss %.4f ideal %.4f (se %.4f)\n",
           levels[i], loss, ideal, se);
    /* measured excess 0.002 to 0.03: a zero score gives 1, and the
    ** local network cannot represent the non-local optimum exactly */
    CHECK(loss < ideal + 0.05);
    CHECK(loss > ideal - 4 * se);
  }
  printf("gaussian grid: %.2f s\n", seconds() - t0);
  kubo_score_free(s);
  kubo_score_data_free(d);
  kubo_tensor_release(&data);
  kubo_tensor_release(&test);
  kubo_grid_release(g);
  free(spec);
  free(eig);
}


/* ---------------------------------------------------------------------
** OU SPDE on an 8 x 8 grid: each mode is an OU process with drift rate
** a_k = lambda / (1 + |k|^2) + kappa |k|^2 and noise spectrum S_k = eps2
** / (1 + |k|^2), so the stationary field has spectrum S_k / (2 a_k)
** ------------------------------------------------------------------- */

typedef struct ou_params { double lambda, kappa, eps2; } ou_params;

static double ou_spectrum(double k2, void *userdata) {
  const ou_params *p = userdata;
  double s = p->eps2 / (1 + k2);
  return s / (2 * (p->lambda / (1 + k2) + p->kappa * k2));
}


static void test_ou(void) {
  ou_params p = {0.04, 2.5e-4, 0.004};
  int64_t n[2] = {8, 8}, count = 4000, shape[3] = {count, 8, 8};
  kubo_grid *g = NULL;
  kubo_model *m = NULL;
  kubo_rng rng;
  kubo_tensor data = {0}, test = {0}, learned = {0}, exact = {0};
  kubo_score *a = NULL, *s = NULL;
  kubo_score_data *d = NULL;
  kubo_score_trainer *tr = NULL;
  kubo_score_config cfg;
  double *spec, err, corr, var = 0, t0 = seconds();
  int64_t H;

  CHECK_OK(kubo_grid_new(&g, 2, n, NULL, KUBO_NYQUIST_ZERO_K));
  H = kubo_grid_spectral_size(g);
  spec = malloc((size_t)H * sizeof *spec);
  kubo_grid_radial_table(g, ou_spectrum, &p, spec);
  for (int64_t k = 0; k < H; k++) {
    int64_t ix = k % 5;
    var += (ix == 0 || ix == 4 ? 1 : 2) * spec[k];
  }
  CHECK_OK(kubo_tensor_init(&data, KUBO_FLOAT64, 3, shape));
  kubo_rng_init(&rng, 9, 0);
  CHECK_OK(kubo_grid_random_field(g, spec, &rng, count, data.data));

  kubo_score_config_default(&cfg);
  cfg.steps = 1000;
  cfg.batch = 32;
  cfg.optim.lr = 2e-3;
  cfg.output = KUBO_SCORE_OUT_SCORE;
  {
    kubo_nn *net = local_net(8, 2, 16, sqrt(var), 3);
    CHECK_OK(kubo_score_data_from_tensor(&d, &data));
    CHECK_OK(kubo_score_trainer_new(&tr, net, d, &cfg));
    CHECK_OK(kubo_score_trainer_run(tr, d, NULL, NULL));
    CHECK_OK(kubo_score_from_trainer(&s, tr));
    kubo_nn_free(net);
  }
  CHECK_OK(kubo_model_new(&m, "ou", g));
  CHECK_OK(kubo_score_analytic(&a, m, 1.0));
  held_out(s, &data, &test);
  CHECK_OK(kubo_score_eval(s, &test, &learned));
  CHECK_OK(kubo_score_eval(a, &test, &exact));
  err = relative_error(&learned, &exact, &corr);
  printf("ou: pixel variance %.3f, relative error %.4f, correlation %.4f, "
         "%.2f s\n", var, err, corr, seconds() - t0);
  /* measured 0.41 and 0.935 with this budget, with a learned amplitude
  ** of about 0.73 of the exact one. test_score_learn_slow.c checks a
  ** longer run against a tighter bound. */
  CHECK(err < 0.5);
  CHECK(corr > 0.9);

  kubo_score_free(a);
  kubo_score_free(s);
  kubo_model_release(m);
  kubo_score_data_free(d);
  kubo_grid_release(g);
  kubo_tensor_release(&data);
  kubo_tensor_release(&test);
  kubo_tensor_release(&learned);
  kubo_tensor_release(&exact);
  free(spec);
}


int main(void) {
  /* The batches here are small (8 x 8 fields, 1-D data), so threads gain
  ** little, and spinning OpenMP threads slow the run badly on a machine
  ** shared with other work. Results do not depend on the thread count. */
  omp_set_num_threads(1);
  test_gaussian_loss();
  test_ou();
  return check_summary();
}
