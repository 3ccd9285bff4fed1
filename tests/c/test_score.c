/*
** test_score.c: the score module apart from learning quality. Gaussian
** scores are checked against dense solves of -(C + sigma^2 I)^-1 (x -
** mean), Stein's identity and the optimal denoising loss. Sampling runs
** with an exact score. Training resumes from checkpoints to the same bits
** (also after an interrupt and from an HDF5 data set), and bad input
** gives clear errors.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "kubo/h5.h"
#include "kubo/linalg.h"
#include "kubo/model.h"
#include "kubo/rng.h"
#include "kubo/score.h"


static void normals(kubo_tensor *t, int ndim, const int64_t *shape,
                    uint64_t seed) {
  kubo_rng rng;
  CHECK_OK(kubo_tensor_init(t, KUBO_FLOAT64, ndim, shape));
  kubo_rng_init(&rng, seed, 0);
  kubo_rng_normal(&rng, t->data, kubo_tensor_numel(t));
}


static bool contains(const char *text, const char *part) {
  return strstr(text, part) != NULL;
}


static double max_abs_diff(const double *a, const double *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++)
    if (fabs(a[i] - b[i]) > m) m = fabs(a[i] - b[i]);
  return m;
}


/* Solves (C + sigma^2 I) s = -(x - mean) for every sample with a dense
** LAPACK solve: the reference for the Gaussian scores. */
static void reference_score(const double *cov, const double *mean,
                            int64_t dim, const kubo_tensor *x, double sigma,
                            double *out) {
  kubo_tensor a = {0}, b = {0}, sol = {0};
  int64_t n = kubo_tensor_numel(x) / dim, ashape[2] = {dim, dim};
  int64_t bshape[2] = {dim, n};
  CHECK_OK(kubo_tensor_init(&a, KUBO_FLOAT64, 2, ashape));
  CHECK_OK(kubo_tensor_init(&b, KUBO_FLOAT64, 2, bshape));
  for (int64_t i = 0; i < dim * dim; i++) ((double *)a.data)[i] = cov[i];
  for (int64_t i = 0; i < dim; i++)
    ((double *)a.data)[i * dim + i] += sigma * sigma;
  for (int64_t r = 0; r < n; r++)
    for (int64_t i = 0; i < dim; i++)
      ((double *)b.data)[i * n + r] =
        -(((const double *)x->data)[r * dim + i] - mean[i]);
  CHECK_OK(kubo_linalg_solve(&sol, &a, &b));
  for (int64_t r = 0; r < n; r++)
    for (int64_t i = 0; i < dim; i++)
      out[r * dim + i] = ((double *)sol.data)[i * n + r];
  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
  kubo_tensor_release(&sol);
}


/* ---------------------------------------------------------------------
** Gaussian scores
** ------------------------------------------------------------------- */

static void test_gaussian_dense(void) {
  int64_t shape[2] = {400, 5}, dim = 5, n = 400;
  kubo_tensor data = {0}, s = {0}, stein = {0};
  kubo_score *g = NULL;
  double mean[5] = {0}, cov[25] = {0}, *ref;
  const double *x;
  const double sigmas[2] = {0.0, 0.7};

  normals(&data, 2, shape, 1);
  x = data.data;
  /* correlate the components: x_i += 0.6 x_{i-1} */
  for (int64_t r = 0; r < n; r++)
    for (int64_t i = 1; i < dim; i++)
      ((double *)data.data)[r * dim + i] += 0.6 * x[r * dim + i - 1] + i;
  for (int64_t r = 0; r < n; r++)
    for (int64_t i = 0; i < dim; i++) mean[i] += x[r * dim + i] / (double)n;
  for (int64_t r = 0; r < n; r++)
    for (int64_t i = 0; i < dim; i++)
      for (int64_t j = 0; j < dim; j++)
        cov[i * dim + j] += (x[r * dim + i] - mean[i]) *
                            (x[r * dim + j] - mean[j]) / (double)(n - 1);

  CHECK_OK(kubo_score_gaussian(&g, &data, KUBO_SCORE_COV_DENSE));
  ref = malloc((size_t)(n * dim) * sizeof *ref);
  for (int k = 0; k < 2; k++) {
    reference_score(cov, mean, dim, &data, sigmas[k], ref);
    CHECK_OK(kubo_score_eval_at(g, &data, sigmas[k], &s));
    CHECK(max_abs_diff(s.data, ref, n * dim) < 1e-9);
    kubo_tensor_release(&s);
  }

  /* Stein: -<x' s^T> = (n - 1)/n I exactly for the fit to these data */
  CHECK_OK(kubo_score_eval(g, &data, &s));
  CHECK_OK(kubo_score_stein_dense(&data, &s, &stein));
  for (int64_t i = 0; i < dim; i++)
    for (int64_t j = 0; j < dim; j++)
      CHECK_NEAR(((double *)stein.data)[i * dim + j],
                 i == j ? (double)(n - 1) / (double)n : 0.0, 1e-10);

  kubo_tensor_release(&stein);
  kubo_tensor_release(&s);
  kubo_tensor_release(&data);
  kubo_score_free(g);
  free(ref);
}


/* The circulant fit against a dense solve with the translation-averaged
** covariance c(p - q) computed pairwise from the samples. */
static void check_circulant(int ndim, const int64_t *frame, int64_t n) {
  int64_t shape[3], dim = 1, ny = ndim == 2 ? frame[0] : 1;
  int64_t nx = frame[ndim - 1];
  kubo_tensor data = {0}, s = {0}, values = {0}, se = {0};
  kubo_score *g = NULL;
  double mean = 0, *lag, *cov, *mvec, *ref;
  const double *x;

  shape[0] = n;
  for (int i = 0; i < ndim; i++) {
    shape[i + 1] = frame[i];
    dim *= frame[i];
  }
  normals(&data, ndim + 1, shape, 4);
  /* smooth along x so that the modes have different variances */
  x = data.data;
  for (int64_t r = 0; r < n; r++)
    for (int64_t p = dim - 1; p > 0; p--)
      ((double *)data.data)[r * dim + p] += 0.8 * x[r * dim + p - 1];
  for (int64_t i = 0; i < n * dim; i++) mean += x[i];
  mean /= (double)(n * dim);

  lag = calloc((size_t)dim, sizeof *lag);
  cov = malloc((size_t)(dim * dim) * sizeof *cov);
  mvec = malloc((size_t)dim * sizeof *mvec);
  ref = malloc((size_t)(n * dim) * sizeof *ref);
  for (int64_t dy = 0; dy < ny; dy++)
    for (int64_t dx = 0; dx < nx; dx++) {
      double sum = 0;
      for (int64_t r = 0; r < n; r++)
        for (int64_t y = 0; y < ny; y++)
          for (int64_t xx = 0; xx < nx; xx++) {
            int64_t p = y * nx + xx;
            int64_t q = ((y + dy) % ny) * nx + (xx + dx) % nx;
            sum += (x[r * dim + p] - mean) * (x[r * dim + q] - mean);
          }
      lag[dy * nx + dx] = sum / ((double)(n - 1) * (double)dim);
    }
  for (int64_t p = 0; p < dim; p++)
    for (int64_t q = 0; q < dim; q++) {
      int64_t dy = ((q / nx - p / nx) % ny + ny) % ny;
      int64_t dx = ((q % nx - p % nx) % nx + nx) % nx;
      cov[p * dim + q] = lag[dy * nx + dx];
    }
  for (int64_t p = 0; p < dim; p++) mvec[p] = mean;

  CHECK_OK(kubo_score_gaussian(&g, &data, KUBO_SCORE_COV_CIRCULANT));
  reference_score(cov, mvec, dim, &data, 0.3, ref);
  CHECK_OK(kubo_score_eval_at(g, &data, 0.3, &s));
  CHECK(max_abs_diff(s.data, ref, n * dim) < 1e-9);
  kubo_tensor_release(&s);

  /* Stein values per mode: 1 up to the per-point demeaning and the
  ** (n - 1)/n of the fit */
  CHECK_OK(kubo_score_eval(g, &data, &s));
  CHECK_OK(kubo_score_stein_spectral(&data, &s, &values, &se));
  for (int64_t k = 0; k < kubo_tensor_numel(&values); k++)
    CHECK_NEAR(((double *)values.data)[k], 1.0, 0.05 + 5 *
               ((double *)se.data)[k]);

  kubo_tensor_release(&values);
  kubo_tensor_release(&se);
  kubo_tensor_release(&s);
  kubo_tensor_release(&data);
  kubo_score_free(g);
  free(lag);
  free(cov);
  free(mvec);
  free(ref);
}


static void test_gaussian_circulant(void) {
  int64_t grid2[2] = {4, 6}, grid1[1] = {7};
  check_circulant(2, grid2, 300);
  check_circulant(1, grid1, 300);
}


/* The denoising loss of the exact Gaussian score equals the optimum
** (1/D) sum_k c_k / (c_k + sigma^2). */
static void test_ideal_loss(void) {
  int64_t shape[3] = {4000, 4, 4};
  kubo_tensor data = {0};
  kubo_score *g = NULL;
  const double levels[3] = {0.1, 0.5, 2.0};
  normals(&data, 3, shape, 8);
  for (int64_t i = kubo_tensor_numel(&data) - 1; i > 0; i--)
    ((double *)data.data)[i] += 0.7 * ((double *)data.data)[i - 1];
  CHECK_OK(kubo_score_gaussian(&g, &data, KUBO_SCORE_COV_CIRCULANT));
  for (int i = 0; i < 3; i++) {
    double loss = 0, se = 0, ideal = 0;
    CHECK_OK(kubo_score_dsm_loss(g, &data, levels[i], 3, &loss, &se));
    CHECK_OK(kubo_score_gaussian_ideal_loss(g, levels[i], 1.0, &ideal));
    CHECK(ideal > 0);
    CHECK(ideal < 1);
    CHECK_NEAR(loss, ideal, 4 * se);
  }
  kubo_tensor_release(&data);
  kubo_score_free(g);
}


/* Sampling with the exact score of Gaussian data reproduces its mean and
** covariance. */
static void test_sample_gaussian(void) {
  int64_t shape[2] = {4000, 2}, n = 4000;
  kubo_tensor data = {0}, smp = {0};
  kubo_score *g = NULL;
  kubo_score_sample_config sc;
  kubo_rng rng;
  double *x, m[2] = {0, 0}, c[3] = {0, 0, 0};
  CHECK_OK(kubo_tensor_init(&data, KUBO_FLOAT64, 2, shape));
  kubo_rng_init(&rng, 3, 0);
  x = data.data;
  for (int64_t i = 0; i < n; i++) {
    double a = kubo_rng_normal1(&rng), b = kubo_rng_normal1(&rng);
    x[2 * i] = 1.0 + a;
    x[2 * i + 1] = -0.5 + 0.5 * a + 0.5 * b;
  }

  CHECK_OK(kubo_score_gaussian(&g, &data, KUBO_SCORE_COV_DENSE));
  kubo_score_sample_config_default(&sc);
  sc.n = n;
  sc.seed = 9;
  CHECK_OK(kubo_score_sample(g, &sc, &smp));
  CHECK(smp.ndim == 2);
  CHECK(smp.shape[0] == n);
  CHECK(smp.shape[1] == 2);

  x = smp.data;
  for (int64_t i = 0; i < n; i++) {
    m[0] += x[2 * i] / (double)n;
    m[1] += x[2 * i + 1] / (double)n;
  }
  for (int64_t i = 0; i < n; i++) {
    double a = x[2 * i] - m[0], b = x[2 * i + 1] - m[1];
    c[0] += a * a / (double)(n - 1);
    c[1] += a * b / (double)(n - 1);
    c[2] += b * b / (double)(n - 1);
  }
  /* standard errors with 4000 samples: mean 0.016 and 0.011, variance
  ** 2.2 % relative; tolerances are about 4 of them */
  CHECK_NEAR(m[0], 1.0, 0.065);
  CHECK_NEAR(m[1], -0.5, 0.045);
  CHECK_NEAR(c[0], 1.0, 0.09);
  CHECK_NEAR(c[2], 0.5, 0.045);
  CHECK_NEAR(c[1], 0.5, 0.06);
  kubo_tensor_release(&smp);
  kubo_tensor_release(&data);
  kubo_score_free(g);
}


static void test_analytic(void) {
  kubo_model *m = NULL;
  kubo_score *a = NULL, *a4 = NULL;
  int64_t shape[2] = {3, 1};
  kubo_tensor x = {0}, s = {0}, s4 = {0};
  const double xs[3] = {-1.3, 0.2, 0.9};
  CHECK_OK(kubo_model_new(&m, "double_well", NULL));
  CHECK_OK(kubo_model_set(m, "eps", 0.5));
  CHECK_OK(kubo_score_analytic(&a, m, 1.0));
  CHECK_OK(kubo_score_analytic(&a4, m, 0.25));
  CHECK_OK(kubo_tensor_init(&x, KUBO_FLOAT64, 2, shape));
  for (int i = 0; i < 3; i++) ((double *)x.data)[i] = xs[i];
  CHECK_OK(kubo_score_eval(a, &x, &s));
  /* data stored as y = 0.25 x have the score s_y(y) = 4 s(4 y) */
  for (int i = 0; i < 3; i++) ((double *)x.data)[i] = 0.25 * xs[i];
  CHECK_OK(kubo_score_eval(a4, &x, &s4));
  for (int i = 0; i < 3; i++) {
    double v = xs[i], want = -(v * v * v - v) / 0.25;
    CHECK_NEAR(((double *)s.data)[i], want, 1e-12);
    CHECK_NEAR(((double *)s4.data)[i], 4 * want, 1e-11);
  }
  kubo_tensor_release(&x);
  kubo_tensor_release(&s);
  kubo_tensor_release(&s4);
  kubo_score_free(a);
  kubo_score_free(a4);
  kubo_model_release(m);
}


/* ---------------------------------------------------------------------
** Training runs: resume, interrupt and HDF5 data give the same bits
** ------------------------------------------------------------------- */

enum { RUN_SAMPLES = 300, RUN_DIM = 3, RUN_STEPS = 30 };

static kubo_nn *small_mlp(void) {
  kubo_nn_mlp_config cfg;
  kubo_nn *net = NULL;
  kubo_nn_mlp_config_default(&cfg);
  cfg.nsizes = 3;
  cfg.sizes[0] = RUN_DIM;
  cfg.sizes[1] = 16;
  cfg.sizes[2] = RUN_DIM;
  cfg.embed = 8;
  CHECK_OK(kubo_nn_mlp(&net, &cfg, 2));
  return net;
}


static void run_config(kubo_score_config *cfg, int64_t steps,
                       const char *checkpoint) {
  kubo_score_config_default(cfg);
  cfg->steps = steps;
  cfg->batch = 32;
  cfg->optim.lr = 1e-2;
  cfg->optim.warmup = 5;
  cfg->checkpoint = checkpoint;
  cfg->checkpoint_every = 1;
}


typedef struct interrupt_at {
  int64_t epoch;
} interrupt_at;

static kubo_status interrupt_after(const kubo_score_progress *p,
                                   void *userdata) {
  const interrupt_at *at = userdata;
  if (p->epoch == at->epoch) kubo_interrupt_request();
  return KUBO_OK;
}


/* Trains RUN_STEPS steps, first to stop_step and then resumed from the
** checkpoint when stop_step > 0, or stopped by an interrupt after epoch
** interrupt_epoch when that is > 0. */
static kubo_score_trainer *train_run(kubo_score_data *d, int64_t stop_step,
                                     int64_t interrupt_epoch,
                                     const char *path) {
  kubo_score_trainer *tr = NULL;
  kubo_score_config cfg;
  kubo_nn *net = small_mlp();
  if (stop_step > 0 || interrupt_epoch > 0) {
    interrupt_at at = {interrupt_epoch};
    run_config(&cfg, stop_step > 0 ? stop_step : RUN_STEPS, path);
    CHECK_OK(kubo_score_trainer_new(&tr, net, d, &cfg));
    if (interrupt_epoch > 0) {
      CHECK(kubo_score_trainer_run(tr, d, interrupt_after, &at) ==
            KUBO_EINTERRUPTED);
      CHECK(contains(kubo_error_message(), "interrupted"));
      kubo_interrupt_clear();
    } else {
      CHECK_OK(kubo_score_trainer_run(tr, d, NULL, NULL));
    }
    kubo_score_trainer_free(tr);
    tr = NULL;
  }
  run_config(&cfg, RUN_STEPS, NULL);
  CHECK_OK(kubo_score_trainer_new(&tr, net, d, &cfg));
  if (stop_step > 0 || interrupt_epoch > 0) {
    /* the interrupt stops before the first step of the next epoch */
    int64_t want = stop_step > 0 ? stop_step : 8 * interrupt_epoch;
    CHECK_OK(kubo_score_trainer_resume(tr, path));
    CHECK(kubo_score_trainer_step(tr) == want);
  }
  CHECK_OK(kubo_score_trainer_run(tr, d, NULL, NULL));
  kubo_nn_free(net);
  return tr;
}


static bool same_state(const kubo_score_trainer *a,
                       const kubo_score_trainer *b) {
  int64_t n = kubo_nn_num_parameters(kubo_score_trainer_net(a));
  int64_t ra = 0, rb = 0;
  const double *ha = kubo_score_trainer_history(a, &ra);
  const double *hb = kubo_score_trainer_history(b, &rb);
  return kubo_score_trainer_step(a) == kubo_score_trainer_step(b) &&
         memcmp(kubo_nn_params(kubo_score_trainer_net(a)),
                kubo_nn_params(kubo_score_trainer_net(b)),
                (size_t)n * sizeof(float)) == 0 &&
         memcmp(kubo_ema_weights(kubo_score_trainer_ema(a)),
                kubo_ema_weights(kubo_score_trainer_ema(b)),
                (size_t)n * sizeof(float)) == 0 &&
         ra == rb && memcmp(ha, hb, (size_t)ra * 5 * sizeof(double)) == 0;
}


static void test_resume(void) {
  int64_t shape[2] = {RUN_SAMPLES, RUN_DIM};
  char path[64], h5path[64];
  kubo_tensor data = {0};
  kubo_score_data *d = NULL, *df = NULL;
  kubo_score_trainer *a, *b, *c, *f;
  kubo_score *loaded = NULL;
  int64_t rows = 0;

  snprintf(path, sizeof path, "test_score_ckpt_%ld.h5", (long)getpid());
  snprintf(h5path, sizeof h5path, "test_score_data_%ld.h5", (long)getpid());
  normals(&data, 2, shape, 12);
  CHECK_OK(kubo_score_data_from_tensor(&d, &data));

  a = train_run(d, 0, 0, NULL);
  /* 240 training samples in batches of 32: 8 steps per epoch, so step
  ** 13 stops in the middle of epoch 2 */
  b = train_run(d, 13, 0, path);
  c = train_run(d, 0, 2, path);
  CHECK(kubo_score_trainer_step(a) == RUN_STEPS);
  CHECK(same_state(a, b));
  CHECK(same_state(a, c));
  kubo_score_trainer_history(a, &rows);
  CHECK(rows == 4);   /* 3 epochs and the partial fourth */

  /* the same samples from an HDF5 file */
  CHECK_OK(kubo_h5_write(h5path, "/snapshots", &data, NULL, 0));
  CHECK_OK(kubo_score_data_from_h5(&df, h5path, "snapshots"));
  CHECK(kubo_score_data_count(df) == RUN_SAMPLES);
  f = train_run(df, 0, 0, NULL);
  CHECK(same_state(a, f));

  /* a saved model evaluates like the trainer it came from */
  CHECK_OK(kubo_score_trainer_save(a, path));
  CHECK_OK(kubo_score_load(&loaded, path));
  {
    kubo_score *direct = NULL;
    kubo_tensor s1 = {0}, s2 = {0};
    kubo_score_trainer *again = NULL;
    CHECK_OK(kubo_score_trainer_load(&again, path));
    CHECK(same_state(a, again));
    CHECK_OK(kubo_score_from_trainer(&direct, again));
    CHECK_OK(kubo_score_eval(loaded, &data, &s1));
    CHECK_OK(kubo_score_eval(direct, &data, &s2));
    CHECK(max_abs_diff(s1.data, s2.data, kubo_tensor_numel(&s1)) == 0);
    kubo_tensor_release(&s1);
    kubo_tensor_release(&s2);
    kubo_score_free(direct);
  }

  kubo_score_free(loaded);
  kubo_score_trainer_free(a);
  kubo_score_trainer_free(b);
  kubo_score_trainer_free(c);
  kubo_score_trainer_free(f);
  kubo_score_data_free(d);
  kubo_score_data_free(df);
  kubo_tensor_release(&data);
  unlink(path);
  unlink(h5path);
}


/* ---------------------------------------------------------------------
** Bad input
** ------------------------------------------------------------------- */

static void expect_error(kubo_status st, const char *part) {
  CHECK(st != KUBO_OK);
  if (st != KUBO_OK && !contains(kubo_error_message(), part))
    fprintf(stderr, "message '%s' lacks '%s'\n", kubo_error_message(), part);
  CHECK(st == KUBO_OK || contains(kubo_error_message(), part));
}


static void test_bad_input(void) {
  int64_t shape[2] = {100, RUN_DIM}, shape5[5] = {2, 2, 2, 2, 2};
  kubo_tensor data = {0}, bad = {0}, x = {0}, out = {0};
  kubo_score_data *d = NULL, *dbad = NULL;
  kubo_score_trainer *tr = NULL;
  kubo_score_config cfg;
  kubo_nn *net = small_mlp(), *plain = NULL;
  kubo_nn_mlp_config mc;
  kubo_score *s = NULL;
  kubo_score_sample_config sc;
  kubo_model *m = NULL;
  kubo_score *a = NULL;

  normals(&data, 2, shape, 3);
  CHECK_OK(kubo_score_data_from_tensor(&d, &data));
  CHECK_OK(kubo_tensor_init(&bad, KUBO_FLOAT64, 5, shape5));
  expect_error(kubo_score_data_from_tensor(&dbad, &bad),
               "data has 5 dimensions, expected (samples, dim)");
  expect_error(kubo_score_data_from_h5(&dbad, "missing_file.h5", "x"),
               "missing_file.h5");

  run_config(&cfg, 5, NULL);
  cfg.sigma_min = 0;
  expect_error(kubo_score_trainer_new(&tr, net, d, &cfg),
               "sigma_min must be positive");
  run_config(&cfg, 5, NULL);
  cfg.sigma_max = 0.001;
  expect_error(kubo_score_trainer_new(&tr, net, d, &cfg),
               "sigma_max must be finite and larger than sigma_min");
  run_config(&cfg, 5, NULL);
  cfg.t_low = 0.5;
  cfg.t_high = 0.2;
  expect_error(kubo_score_trainer_new(&tr, net, d, &cfg),
               "noise_range must be {t_low, t_high}");
  run_config(&cfg, 0, NULL);
  cfg.epochs = 0;
  expect_error(kubo_score_trainer_new(&tr, net, d, &cfg),
               "give epochs >= 1 or steps >= 1");
  run_config(&cfg, 5, NULL);
  cfg.split = 0;
  expect_error(kubo_score_trainer_new(&tr, net, d, &cfg),
               "split must be in (0, 1]");
  run_config(&cfg, 5, NULL);
  cfg.split = 0.01;
  expect_error(kubo_score_trainer_new(&tr, net, d, &cfg),
               "leaves 1 for training");
  run_config(&cfg, 5, NULL);
  cfg.batch = 0;
  expect_error(kubo_score_trainer_new(&tr, net, d, &cfg),
               "batch must be at least 1");
  run_config(&cfg, 5, NULL);
  cfg.ema_rate = 1.5;
  expect_error(kubo_score_trainer_new(&tr, net, d, &cfg), "ema must be");

  kubo_nn_mlp_config_default(&mc);
  mc.sizes[0] = RUN_DIM;
  mc.sizes[2] = RUN_DIM;
  CHECK_OK(kubo_nn_mlp(&plain, &mc, 1));
  run_config(&cfg, 5, NULL);
  expect_error(kubo_score_trainer_new(&tr, plain, d, &cfg),
               "takes no noise level");

  /* a model trained on the response range cannot sample */
  run_config(&cfg, 3, NULL);
  CHECK_OK(kubo_score_trainer_new(&tr, net, d, &cfg));
  CHECK_OK(kubo_score_trainer_run(tr, d, NULL, NULL));
  CHECK_OK(kubo_score_from_trainer(&s, tr));
  kubo_score_sample_config_default(&sc);
  sc.n = 10;
  expect_error(kubo_score_sample(s, &sc, &out),
               "noise_range \"response\"");
  {
    int64_t xs[2] = {4, RUN_DIM + 1};
    CHECK_OK(kubo_tensor_init(&x, KUBO_FLOAT64, 2, xs));
    expect_error(kubo_score_eval(s, &x, &out), "input has shape (4, 4)");
    kubo_tensor_release(&x);
  }
  expect_error(kubo_score_eval_at(s, &data, 0, &out), "needs sigma > 0");

  /* resume with another batch size */
  {
    char path[64];
    kubo_score_trainer *other = NULL;
    snprintf(path, sizeof path, "test_score_bad_%ld.h5", (long)getpid());
    CHECK_OK(kubo_score_trainer_save(kubo_score_get_trainer(s), path));
    run_config(&cfg, 5, NULL);
    cfg.batch = 16;
    CHECK_OK(kubo_score_trainer_new(&other, net, d, &cfg));
    expect_error(kubo_score_trainer_resume(other, path),
                 "another batch: 32, not 16");
    kubo_score_trainer_free(other);
    expect_error(kubo_score_load(&a, "test_score_no_such_file.h5"),
                 "test_score_no_such_file.h5");
    unlink(path);
  }

  CHECK_OK(kubo_model_new(&m, "double_well", NULL));
  CHECK_OK(kubo_score_analytic(&a, m, 1.0));
  {
    int64_t xs[2] = {2, 1};
    CHECK_OK(kubo_tensor_init(&x, KUBO_FLOAT64, 2, xs));
    expect_error(kubo_score_eval_at(a, &x, 0.1, &out),
                 "known at sigma = 0 only");
    expect_error(kubo_score_sample(a, &sc, &out), "analytic");
    kubo_tensor_release(&x);
  }

  kubo_score_free(a);
  kubo_model_release(m);
  kubo_score_free(s);
  kubo_nn_free(plain);
  kubo_nn_free(net);
  kubo_score_data_free(d);
  kubo_tensor_release(&data);
  kubo_tensor_release(&bad);
}


int main(void) {
  test_gaussian_dense();
  test_gaussian_circulant();
  test_ideal_loss();
  test_sample_gaussian();
  test_analytic();
  test_resume();
  test_bad_input();
  return check_summary();
}
