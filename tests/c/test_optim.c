/*
** test_optim.c: Adam, SGD and the EMA against float64 implementations of
** their formulas written out here, including clipping (per array and
** global), linear warm-up in both orders, and failure cases.
*/
#include <math.h>
#include <string.h>

#include "check.h"
#include "kubo/optim.h"

/* The test network: linear(3 -> 2) has arrays weight (6) and bias (2). */
enum { N = 8 };
static const int array_first[2] = {0, 6}, array_size[2] = {6, 2};

/* Three steps of gradients; the second is large, so clipping acts. */
static const double grads[3][N] = {
  {0.3, -0.1, 0.2, 0.05, -0.4, 0.1, 0.7, -0.2},
  {3.0, 1.5, -2.0, 0.5, 1.0, -1.2, 4.0, 2.5},
  {-0.2, 0.3, 0.1, -0.6, 0.2, 0.0, -0.3, 0.1},
};


typedef struct ref_state {
  double p[N], m[N], v[N];
} ref_state;


static void set_grads(kubo_nn *net, const double *g) {
  float *dst = kubo_nn_grads(net);
  for (int i = 0; i < N; i++) dst[i] = (float)g[i];
}


/* Gradient factors for clipping (clip <= 0: none) after multiplying by
** pre; per_array selects Flux-style clipping. */
static void clip_factors(const double *g, double pre, double clip,
                         bool per_array, double f[2]) {
  double total = 0, sums[2] = {0, 0};
  for (int a = 0; a < 2; a++)
    for (int i = array_first[a]; i < array_first[a] + array_size[a]; i++)
      sums[a] += pre * g[i] * pre * g[i];
  total = sums[0] + sums[1];
  for (int a = 0; a < 2; a++) {
    double norm = sqrt(per_array ? sums[a] : total);
    f[a] = pre * (clip > 0 && norm > clip ? clip / norm : 1.0);
  }
}


static void ref_adam_step(ref_state *s, const double *g, int t, double lr,
                          double b1, double b2, double eps, const double f[2]) {
  for (int a = 0; a < 2; a++) {
    for (int i = array_first[a]; i < array_first[a] + array_size[a]; i++) {
      double gi = g[i] * f[a];
      s->m[i] = b1 * s->m[i] + (1 - b1) * gi;
      s->v[i] = b2 * s->v[i] + (1 - b2) * gi * gi;
      s->p[i] -= lr * (s->m[i] / (1 - pow(b1, t))) /
                 (sqrt(s->v[i] / (1 - pow(b2, t))) + eps);
    }
  }
}


static kubo_nn *make_net(ref_state *s) {
  kubo_nn *net;
  CHECK_OK(kubo_nn_linear(&net, 3, 2, true, 9));
  memset(s, 0, sizeof *s);
  for (int i = 0; i < N; i++) s->p[i] = kubo_nn_params(net)[i];
  return net;
}


static double max_diff(const kubo_nn *net, const ref_state *s) {
  double worst = 0;
  for (int i = 0; i < N; i++)
    worst = fmax(worst, fabs(kubo_nn_params(net)[i] - s->p[i]));
  return worst;
}


/* Runs three steps of cfg and of the reference; returns the largest
** parameter difference. */
static double run_adam(const kubo_optim_config *cfg) {
  ref_state s;
  kubo_nn *net = make_net(&s);
  kubo_optim *opt;
  double worst;
  CHECK_OK(kubo_optim_new(&opt, net, cfg));
  for (int t = 1; t <= 3; t++) {
    double warm = cfg->warmup > 0 && t < cfg->warmup ?
                  (double)t / cfg->warmup : 1.0, f[2], lr = cfg->lr;
    bool reference = cfg->order == KUBO_ORDER_REFERENCE;
    set_grads(net, grads[t - 1]);
    CHECK_OK(kubo_optim_step(opt));
    clip_factors(grads[t - 1], reference ? warm : 1.0, cfg->clip,
                 cfg->clip_mode == KUBO_CLIP_ARRAY, f);
    if (!reference) lr *= warm;
    ref_adam_step(&s, grads[t - 1], t, lr, cfg->beta1, cfg->beta2, cfg->eps,
                  f);
  }
  CHECK(kubo_optim_step_count(opt) == 3);
  worst = max_diff(net, &s);
  kubo_optim_free(opt);
  kubo_nn_free(net);
  return worst;
}


static void test_adam_first_step(void) {
  /* m and v start at 0, so step 1 moves each parameter by
  ** lr g / (|g| + eps): lr sign(g) up to eps */
  ref_state s;
  kubo_nn *net = make_net(&s);
  kubo_optim_config cfg;
  kubo_optim *opt;
  kubo_optim_config_default(&cfg, KUBO_OPTIM_ADAM);
  cfg.lr = 0.01;
  CHECK_OK(kubo_optim_new(&opt, net, &cfg));
  set_grads(net, grads[0]);
  CHECK_OK(kubo_optim_step(opt));
  for (int i = 0; i < N; i++) {
    double g = grads[0][i];
    double want = s.p[i] - 0.01 * g / (fabs(g) + 1e-8);
    CHECK_NEAR(kubo_nn_params(net)[i], want, 1e-6);
  }
  kubo_optim_free(opt);
  kubo_nn_free(net);
}


static void test_adam_variants(void) {
  kubo_optim_config cfg;
  kubo_optim_config_default(&cfg, KUBO_OPTIM_ADAM);
  cfg.lr = 0.05;
  CHECK(run_adam(&cfg) < 1e-6);

  cfg.clip = 0.5;
  cfg.clip_mode = KUBO_CLIP_GLOBAL;
  CHECK(run_adam(&cfg) < 1e-6);
  cfg.clip_mode = KUBO_CLIP_ARRAY;
  CHECK(run_adam(&cfg) < 1e-6);

  cfg.clip = 0;
  cfg.warmup = 4;
  CHECK(run_adam(&cfg) < 1e-6);

  /* with a large eps the reference order's gradient warm-up shows */
  cfg.order = KUBO_ORDER_REFERENCE;
  cfg.eps = 0.5;
  cfg.clip = 1.0;
  cfg.clip_mode = KUBO_CLIP_ARRAY;
  CHECK(run_adam(&cfg) < 1e-6);
  cfg.clip_mode = KUBO_CLIP_GLOBAL;
  CHECK(run_adam(&cfg) < 1e-6);
}


static void test_clip_changes_the_step(void) {
  /* a reference that ignores the clip must disagree, or the clipped
  ** cases above would pass without clipping */
  ref_state s;
  kubo_nn *net = make_net(&s);
  kubo_optim_config cfg;
  kubo_optim *opt;
  double f[2] = {1, 1};
  kubo_optim_config_default(&cfg, KUBO_OPTIM_ADAM);
  cfg.lr = 0.05;
  cfg.eps = 0.5;
  cfg.clip = 0.5;
  CHECK_OK(kubo_optim_new(&opt, net, &cfg));
  set_grads(net, grads[1]);
  CHECK_OK(kubo_optim_step(opt));
  ref_adam_step(&s, grads[1], 1, 0.05, 0.9, 0.999, 0.5, f);
  CHECK(max_diff(net, &s) > 1e-3);
  /* sqrt(9 + 2.25 + 4 + 0.25 + 1 + 1.44 + 16 + 6.25) */
  CHECK_NEAR(kubo_optim_last_grad_norm(opt), sqrt(40.19), 1e-5);
  kubo_optim_free(opt);
  kubo_nn_free(net);
}


static void test_sgd(void) {
  for (int variant = 0; variant < 3; variant++) {
    ref_state s;
    kubo_nn *net = make_net(&s);
    kubo_optim_config cfg;
    kubo_optim *opt;
    kubo_optim_config_default(&cfg, KUBO_OPTIM_SGD);
    cfg.lr = 0.1;
    cfg.momentum = variant == 0 ? 0 : 0.9;
    cfg.nesterov = variant == 2;
    CHECK_OK(kubo_optim_new(&opt, net, &cfg));
    for (int t = 1; t <= 3; t++) {
      set_grads(net, grads[t - 1]);
      CHECK_OK(kubo_optim_step(opt));
      for (int i = 0; i < N; i++) {
        double g = grads[t - 1][i];
        s.m[i] = cfg.momentum * s.m[i] + g;
        s.p[i] -= 0.1 * (cfg.nesterov ? g + cfg.momentum * s.m[i] : s.m[i]);
      }
    }
    CHECK(max_diff(net, &s) < 1e-6);
    kubo_optim_free(opt);
    kubo_nn_free(net);
  }
}


static void test_ema(void) {
  for (int warm = 0; warm <= 1; warm++) {
    ref_state s;
    kubo_nn *net = make_net(&s);
    kubo_ema *ema;
    double shadow[N], worst = 0;
    float *p = kubo_nn_params(net);
    CHECK_OK(kubo_ema_new(&ema, net, 0.999, warm));
    for (int i = 0; i < N; i++) shadow[i] = p[i];
    for (int n = 0; n < 5; n++) {
      double d = warm ? fmin(0.999, (1.0 + n) / (10.0 + n)) : 0.999;
      for (int i = 0; i < N; i++) p[i] += (float)(0.5 + 0.1 * i);
      kubo_ema_update(ema);
      for (int i = 0; i < N; i++) shadow[i] = d * shadow[i] + (1 - d) * p[i];
    }
    for (int i = 0; i < N; i++)
      worst = fmax(worst, fabs(kubo_ema_weights(ema)[i] - shadow[i]));
    CHECK(worst < 1e-5);
    CHECK(kubo_ema_updates(ema) == 5);
    if (warm) {
      /* the first update's rate is 1/10: the average moved 90% of the
      ** way, far from the initial weights */
      CHECK(fabs(kubo_ema_weights(ema)[0] - p[0]) < 1.0);
    }
    kubo_ema_free(ema);
    kubo_nn_free(net);
  }
}


static void test_ema_swap_and_copy(void) {
  ref_state s;
  kubo_nn *net = make_net(&s), *other;
  kubo_ema *ema;
  float before[N];
  CHECK_OK(kubo_ema_new(&ema, net, 0.5, false));
  for (int i = 0; i < N; i++) kubo_nn_params(net)[i] += 1.0f;
  kubo_ema_update(ema);
  memcpy(before, kubo_nn_params(net), sizeof before);
  kubo_ema_swap(ema);
  CHECK(kubo_nn_params(net)[0] == (float)(s.p[0] + 0.5));
  kubo_ema_swap(ema);
  CHECK(memcmp(kubo_nn_params(net), before, sizeof before) == 0);
  CHECK_OK(kubo_nn_linear(&other, 3, 2, true, 10));
  CHECK_OK(kubo_ema_copy_to(ema, other));
  CHECK(memcmp(kubo_nn_params(other), kubo_ema_weights(ema),
               N * sizeof(float)) == 0);
  kubo_nn_free(other);
  CHECK_OK(kubo_nn_linear(&other, 3, 3, true, 10));
  CHECK(kubo_ema_copy_to(ema, other) == KUBO_EINVAL);
  kubo_nn_free(other);
  kubo_ema_free(ema);
  kubo_nn_free(net);
}


static void test_nan_gradient(void) {
  ref_state s;
  kubo_nn *net = make_net(&s);
  kubo_optim_config cfg;
  kubo_optim *opt;
  float before[N];
  kubo_optim_config_default(&cfg, KUBO_OPTIM_ADAM);
  CHECK_OK(kubo_optim_new(&opt, net, &cfg));
  set_grads(net, grads[0]);
  kubo_nn_grads(net)[7] = NAN;
  memcpy(before, kubo_nn_params(net), sizeof before);
  CHECK(kubo_optim_step(opt) == KUBO_ENUMERIC);
  CHECK(strstr(kubo_error_message(), "'bias'") != NULL);
  CHECK(strstr(kubo_error_message(), "step 1") != NULL);
  CHECK(memcmp(kubo_nn_params(net), before, sizeof before) == 0);
  CHECK(kubo_optim_step_count(opt) == 0);
  kubo_optim_free(opt);
  kubo_nn_free(net);
}


static void test_bad_config(void) {
  ref_state s;
  kubo_nn *net = make_net(&s);
  kubo_optim_config cfg;
  kubo_optim *opt;
  kubo_ema *ema;
  kubo_optim_config_default(&cfg, KUBO_OPTIM_ADAM);
  cfg.beta2 = 1.0;
  CHECK(kubo_optim_new(&opt, net, &cfg) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "betas must be in [0, 1)") != NULL);
  kubo_optim_config_default(&cfg, KUBO_OPTIM_ADAM);
  cfg.lr = -1;
  CHECK(kubo_optim_new(&opt, net, &cfg) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "lr must be") != NULL);
  kubo_optim_config_default(&cfg, KUBO_OPTIM_SGD);
  cfg.nesterov = true;
  CHECK(kubo_optim_new(&opt, net, &cfg) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "nesterov") != NULL);
  CHECK(kubo_ema_new(&ema, net, 1.0, true) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "rate must be in [0, 1)") != NULL);
  kubo_nn_free(net);
}


int main(void) {
  test_adam_first_step();
  test_adam_variants();
  test_clip_changes_the_step();
  test_sgd();
  test_ema();
  test_ema_swap_and_copy();
  test_nan_gradient();
  test_bad_config();
  return check_summary();
}
