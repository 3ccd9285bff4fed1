/*
** test_nn_train.c: a small MLP learns the double-well score, and a
** save/load round trip gives identical outputs and identical further
** training.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "kubo/nn.h"
#include "kubo/optim.h"
#include "kubo/rng.h"

/* The double-well score s(x) = -(x^3 - x) / eps^2 with eps = 0.4, on
** x in [-1.5, 1.5]; |s| reaches 11.7 at the ends. */
static double well_score(double x) {
  return -(x * x * x - x) / (0.4 * 0.4);
}


/* Trains mlp{1, 32, 32, 1} (swish) by least squares on fresh uniform
** samples for 2000 Adam steps and returns the RMS error over a grid of
** 301 points relative to the RMS of s. */
static double train_double_well(void) {
  kubo_nn_mlp_config cfg;
  kubo_optim_config ocfg;
  kubo_nn *net;
  kubo_optim *opt;
  kubo_rng rng;
  kubo_tensor x, y, dy, grid;
  int64_t shape[2] = {128, 1}, gshape[2] = {301, 1};
  double err = 0, norm = 0;

  kubo_nn_mlp_config_default(&cfg);
  cfg.nsizes = 4;
  cfg.sizes[0] = 1;
  cfg.sizes[1] = 32;
  cfg.sizes[2] = 32;
  cfg.sizes[3] = 1;
  CHECK_OK(kubo_nn_mlp(&net, &cfg, 3));
  kubo_optim_config_default(&ocfg, KUBO_OPTIM_ADAM);
  ocfg.lr = 1e-2;
  CHECK_OK(kubo_optim_new(&opt, net, &ocfg));
  kubo_rng_init(&rng, 17, 0);
  kubo_tensor_init(&x, KUBO_FLOAT32, 2, shape);
  kubo_tensor_init(&dy, KUBO_FLOAT32, 2, shape);

  for (int step = 0; step < 2000; step++) {
    float target[128];
    kubo_rng_fill_uniform(&rng, &x, -1.5, 1.5);
    for (int i = 0; i < 128; i++)
      target[i] = (float)well_score(((float *)x.data)[i]);
    /* a step decay of the learning rate: the schedule */
    if (step == 1000) kubo_optim_set_lr(opt, 3e-3);
    if (step == 1600) kubo_optim_set_lr(opt, 1e-3);
    CHECK_OK(kubo_nn_forward(net, 1, &x, NULL, &y));
    kubo_mse_loss(dy.data, y.data, target, 128);
    kubo_tensor_release(&y);
    kubo_nn_zero_grad(net);
    CHECK_OK(kubo_nn_backward(net, &dy, 1, NULL));
    CHECK_OK(kubo_optim_step(opt));
  }

  kubo_tensor_init(&grid, KUBO_FLOAT32, 2, gshape);
  for (int i = 0; i < 301; i++)
    ((float *)grid.data)[i] = (float)(-1.5 + 0.01 * i);
  CHECK_OK(kubo_nn_forward(net, 1, &grid, NULL, &y));
  for (int i = 0; i < 301; i++) {
    double s = well_score(-1.5 + 0.01 * i);
    double d = ((float *)y.data)[i] - s;
    err += d * d;
    norm += s * s;
  }
  kubo_tensor_release(&y);
  kubo_tensor_release(&grid);
  kubo_tensor_release(&x);
  kubo_tensor_release(&dy);
  kubo_optim_free(opt);
  kubo_nn_free(net);
  return sqrt(err / norm);
}


static void test_mlp_learns_double_well(void) {
  double rel = train_double_well();
  printf("double-well score: relative RMS error %.4f\n", rel);
  /* an MLP that learned nothing has error 1, the best linear fit 0.86;
  ** this run reaches 0.005 */
  CHECK(rel < 0.02);
}


/* ---------------------------------------------------------------------
** Save and load
** ------------------------------------------------------------------- */

typedef struct trainer {
  kubo_nn *net;
  kubo_optim *opt;
  kubo_ema *ema;
} trainer;


/* One denoising-style step on fixed pseudo-random data of step k. */
static void train_step(trainer *t, int k) {
  kubo_tensor x, sigma, y, dy;
  int64_t shape[4] = {3, 1, 8, 8}, sshape[1] = {3};
  kubo_rng rng;
  kubo_rng_init(&rng, 99, (uint64_t)k);
  kubo_tensor_init(&x, KUBO_FLOAT32, 4, shape);
  kubo_tensor_init(&sigma, KUBO_FLOAT64, 1, sshape);
  kubo_rng_fill_normal(&rng, &x, 0, 1);
  kubo_rng_fill_uniform(&rng, &sigma, 0.01, 1);
  CHECK_OK(kubo_nn_forward(t->net, 1, &x, &sigma, &y));
  kubo_tensor_init(&dy, KUBO_FLOAT32, 4, shape);
  kubo_mse_loss(dy.data, y.data, x.data, 192);
  kubo_nn_zero_grad(t->net);
  CHECK_OK(kubo_nn_backward(t->net, &dy, 1, NULL));
  CHECK_OK(kubo_optim_step(t->opt));
  kubo_ema_update(t->ema);
  kubo_tensor_release(&x);
  kubo_tensor_release(&sigma);
  kubo_tensor_release(&y);
  kubo_tensor_release(&dy);
}


static kubo_tensor eval(kubo_nn *net) {
  kubo_tensor x, sigma, y;
  int64_t shape[4] = {2, 1, 8, 8}, sshape[1] = {1};
  kubo_rng rng;
  kubo_rng_init(&rng, 5, 5);
  kubo_tensor_init(&x, KUBO_FLOAT32, 4, shape);
  kubo_tensor_init(&sigma, KUBO_FLOAT32, 1, sshape);
  kubo_rng_fill_normal(&rng, &x, 0, 1);
  ((float *)sigma.data)[0] = 0.05f;
  CHECK_OK(kubo_nn_forward(net, 1, &x, &sigma, &y));
  kubo_tensor_release(&x);
  kubo_tensor_release(&sigma);
  return y;
}


static bool same_bits(const float *a, const float *b, int64_t n) {
  return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}


static void test_save_load_round_trip(kubo_nn *net, const char *label) {
  char path[64];
  trainer a = {net, NULL, NULL}, b = {NULL, NULL, NULL};
  kubo_optim_config cfg, other;
  kubo_tensor ya, yb;
  int64_t n = kubo_nn_num_parameters(net);

  snprintf(path, sizeof path, "nn_round_trip_%ld.h5", (long)getpid());
  kubo_optim_config_default(&cfg, KUBO_OPTIM_ADAM);
  cfg.lr = 1e-3;
  cfg.clip = 1.0;
  cfg.clip_mode = KUBO_CLIP_ARRAY;
  cfg.warmup = 10;
  cfg.order = KUBO_ORDER_REFERENCE;
  CHECK_OK(kubo_optim_new(&a.opt, a.net, &cfg));
  CHECK_OK(kubo_ema_new(&a.ema, a.net, 0.999, true));
  for (int k = 0; k < 3; k++) train_step(&a, k);
  CHECK_OK(kubo_nn_save(a.net, path, a.opt, a.ema));

  /* the loaded side starts from other settings; loading overwrites them */
  CHECK_OK(kubo_nn_load(&b.net, path));
  CHECK(strcmp(kubo_nn_spec(a.net), kubo_nn_spec(b.net)) == 0);
  kubo_optim_config_default(&other, KUBO_OPTIM_ADAM);
  CHECK_OK(kubo_optim_new(&b.opt, b.net, &other));
  CHECK_OK(kubo_ema_new(&b.ema, b.net, 0.9, false));
  CHECK_OK(kubo_optim_read_h5(b.opt, path));
  CHECK_OK(kubo_ema_read_h5(b.ema, path));
  CHECK(kubo_optim_step_count(b.opt) == 3);
  CHECK(kubo_ema_updates(b.ema) == 3);

  ya = eval(a.net);
  yb = eval(b.net);
  CHECK(same_bits(ya.data, yb.data, kubo_tensor_numel(&ya)));
  kubo_tensor_release(&ya);
  kubo_tensor_release(&yb);

  for (int k = 3; k < 6; k++) {
    train_step(&a, k);
    train_step(&b, k);
  }
  CHECK(same_bits(kubo_nn_params(a.net), kubo_nn_params(b.net), n));
  CHECK(same_bits(kubo_ema_weights(a.ema), kubo_ema_weights(b.ema), n));
  if (!same_bits(kubo_nn_params(a.net), kubo_nn_params(b.net), n))
    fprintf(stderr, "%s: training diverged after load\n", label);

  kubo_optim_free(a.opt);
  kubo_ema_free(a.ema);
  kubo_optim_free(b.opt);
  kubo_ema_free(b.ema);
  kubo_nn_free(b.net);
  unlink(path);
}


static void test_round_trips(void) {
  kubo_nn_local_config lc;
  kubo_nn_unet_config uc;
  kubo_nn *net;
  kubo_nn_local_config_default(&lc);
  lc.channels = 8;
  lc.depth = 2;
  lc.embed = 16;
  CHECK_OK(kubo_nn_local_score(&net, &lc, 1));
  test_save_load_round_trip(net, "local_score");
  kubo_nn_free(net);

  kubo_nn_unet_config_default(&uc);
  uc.nlevels = 2;
  uc.channels[0] = 4;
  uc.channels[1] = 8;
  uc.blocks = 1;
  uc.embed = 8;
  uc.mean_bypass = true;
  uc.sigma_min = 0.01;
  uc.sigma_max = 5;
  CHECK_OK(kubo_nn_unet(&net, &uc, 2));
  test_save_load_round_trip(net, "unet");
  kubo_nn_free(net);
}


static void test_load_failures(void) {
  kubo_nn *net;
  kubo_nn_mlp_config cfg;
  kubo_optim_config ocfg;
  kubo_optim *opt;
  char path[64];
  snprintf(path, sizeof path, "nn_fail_%ld.h5", (long)getpid());
  CHECK(kubo_nn_load(&net, "no_such_file.h5") == KUBO_EIO);
  CHECK(net == NULL);

  /* a network file without optimizer state */
  kubo_nn_mlp_config_default(&cfg);
  CHECK_OK(kubo_nn_mlp(&net, &cfg, 1));
  CHECK_OK(kubo_nn_save(net, path, NULL, NULL));
  kubo_optim_config_default(&ocfg, KUBO_OPTIM_SGD);
  CHECK_OK(kubo_optim_new(&opt, net, &ocfg));
  CHECK(kubo_optim_read_h5(opt, path) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "optimizer.kind") != NULL);
  kubo_optim_free(opt);
  kubo_nn_free(net);
  unlink(path);
}


int main(void) {
  test_mlp_learns_double_well();
  test_round_trips();
  test_load_failures();
  return check_summary();
}
