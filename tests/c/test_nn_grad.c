/*
** test_nn_grad.c: four-point finite-difference checks of backward for
** every layer and for small whole networks, on inputs and parameters.
**
** The loss is L = sum_i r_i y_i with fixed random weights r, so backward
** starts from dout = r. A derivative is estimated as
**   (L(x - 2h) - 8 L(x - h) + 8 L(x + h) - L(x + 2h)) / (12 h),
** whose truncation error is O(h^4). The layers compute in float32, so
** the estimate carries a rounding error of about 1e-7 |L| / h. The
** tolerance, 1% of the largest gradient of each group, is five times the
** largest error seen on these cases (2e-3, a U-Net's first residual
** convolution) and far below the O(1) error of a wrong formula.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kubo/nn.h"
#include "kubo/rng.h"

/* Relative error allowed, measured against the largest gradient of the
** compared group. */
#define TOL 1e-2

static kubo_rng rng;


static void fill_normal(kubo_tensor *t, double scale, double away) {
  float *d = t->data;
  int64_t n = kubo_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) {
    double v = scale * kubo_rng_normal1(&rng);
    /* keep values away from 0 for relu's kink */
    if (fabs(v) < away) v = v < 0 ? v - away : v + away;
    d[i] = (float)v;
  }
}


static kubo_tensor make(int ndim, int64_t a, int64_t b, int64_t c,
                        int64_t d, double scale, double away) {
  kubo_tensor t;
  int64_t shape[4] = {a, b, c, d};
  kubo_tensor_init(&t, KUBO_FLOAT32, ndim, shape);
  fill_normal(&t, scale, away);
  return t;
}


static double loss_of(kubo_nn *net, int nin, kubo_tensor *inputs,
                      const kubo_tensor *sigma, const double *r) {
  kubo_tensor y;
  double sum = 0;
  if (kubo_nn_forward(net, nin, inputs, sigma, &y) != KUBO_OK) {
    fprintf(stderr, "forward failed: %s\n", kubo_error_message());
    return NAN;
  }
  for (int64_t i = 0; i < kubo_tensor_numel(&y); i++)
    sum += r[i] * ((float *)y.data)[i];
  kubo_tensor_release(&y);
  return sum;
}


static double four_point(kubo_nn *net, int nin, kubo_tensor *inputs,
                         const kubo_tensor *sigma, const double *r,
                         float *x, double h) {
  float x0 = *x;
  double l[4];
  const double steps[4] = {-2, -1, 1, 2};
  for (int k = 0; k < 4; k++) {
    *x = (float)(x0 + steps[k] * h);
    l[k] = loss_of(net, nin, inputs, sigma, r);
  }
  *x = x0;
  return (l[0] - 8 * l[1] + 8 * l[2] - l[3]) / (12 * h);
}


/* Compares analytic and estimated derivatives of one group; returns the
** largest error relative to the group's largest derivative. */
static double compare(const double *an, const double *fd, int n) {
  double scale = 1e-6, worst = 0;
  for (int i = 0; i < n; i++) scale = fmax(scale, fabs(an[i]));
  for (int i = 0; i < n; i++)
    worst = fmax(worst, fabs(an[i] - fd[i]) / scale);
  return worst;
}


/* Checks input and parameter gradients of net at the given inputs. Up to
** 24 elements per input and 3 per parameter array are perturbed. */
static void check_net(const char *what, kubo_nn *net, int nin,
                      kubo_tensor *inputs, const kubo_tensor *sigma,
                      double h) {
  kubo_tensor y, dout, dinputs[2];
  double *r, an[512], fd[512];
  int64_t ny;
  float *params;

  CHECK_OK(kubo_nn_forward(net, nin, inputs, sigma, &y));
  ny = kubo_tensor_numel(&y);
  r = malloc((size_t)ny * sizeof *r);
  kubo_tensor_init(&dout, KUBO_FLOAT32, y.ndim, y.shape);
  for (int64_t i = 0; i < ny; i++) {
    r[i] = kubo_rng_normal1(&rng);
    ((float *)dout.data)[i] = (float)r[i];
  }
  kubo_tensor_release(&y);
  kubo_nn_zero_grad(net);
  CHECK_OK(kubo_nn_backward(net, &dout, nin, dinputs));

  for (int k = 0; k < nin; k++) {
    int64_t nx = kubo_tensor_numel(&inputs[k]);
    int n = 0;
    for (int64_t j = 0; j < nx && n < 24; j += nx > 24 ? nx / 24 : 1) {
      an[n] = ((float *)dinputs[k].data)[j];
      fd[n] = four_point(net, nin, inputs, sigma, r,
                         (float *)inputs[k].data + j, h);
      n++;
    }
    double err = compare(an, fd, n);
    if (!(err < TOL))
      fprintf(stderr, "%s: input %d gradient off by %.3g\n", what, k + 1,
              err);
    CHECK(err < TOL);
    kubo_tensor_release(&dinputs[k]);
  }

  params = kubo_nn_params(net);
  for (int a = 0; a < kubo_nn_num_arrays(net); a++) {
    kubo_nn_array info;
    int n = 0;
    kubo_nn_array_info(net, a, &info);
    if (info.buffer) continue;
    for (int64_t j = 0; j < info.size && n < 3; j += info.size > 3 ?
                                                   info.size / 3 : 1) {
      int64_t at = info.offset + j;
      an[n] = kubo_nn_grads(net)[at];
      fd[n] = four_point(net, nin, inputs, sigma, r, params + at, h);
      n++;
    }
    double err = compare(an, fd, n);
    double scale = 0;
    for (int i = 0; i < n; i++) scale = fmax(scale, fabs(an[i]));
    /* an array whose gradients are all ~0 is compared absolutely */
    if (scale < 1e-4) err = fabs(an[0] - fd[0]);
    if (!(err < TOL))
      fprintf(stderr, "%s: gradient of %s off by %.3g (largest %.3g)\n",
              what, info.name, err, scale);
    CHECK(err < TOL);
  }
  kubo_tensor_release(&dout);
  free(r);
}


static void test_linear(void) {
  kubo_nn *net;
  kubo_tensor x = make(2, 5, 7, 1, 1, 1.0, 0);
  CHECK_OK(kubo_nn_linear(&net, 7, 4, true, 11));
  check_net("linear", net, 1, &x, NULL, 1e-2);
  kubo_nn_free(net);
  CHECK_OK(kubo_nn_linear(&net, 7, 3, false, 12));
  check_net("linear without bias", net, 1, &x, NULL, 1e-2);
  kubo_nn_free(net);
  kubo_tensor_release(&x);
}


static void test_conv2d(void) {
  /* kernel, stride, periodic for each case */
  const int cases[][3] = {{3, 1, 1}, {3, 2, 1}, {3, 1, 0}, {3, 2, 0},
                          {1, 1, 1}, {1, 2, 0}, {5, 1, 1}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    kubo_nn_conv2d_config cfg;
    kubo_nn *net;
    char what[64];
    kubo_tensor x = make(4, 2, 3, 6, 5, 1.0, 0);
    kubo_nn_conv2d_config_default(&cfg);
    cfg.in_channels = 3;
    cfg.out_channels = 4;
    cfg.kernel = cases[c][0];
    cfg.stride = cases[c][1];
    cfg.periodic = cases[c][2];
    CHECK_OK(kubo_nn_conv2d(&net, &cfg, 20 + c));
    snprintf(what, sizeof what, "conv2d k%d s%d %s", cfg.kernel, cfg.stride,
             cfg.periodic ? "circular" : "zeros");
    check_net(what, net, 1, &x, NULL, 1e-2);
    kubo_nn_free(net);
    kubo_tensor_release(&x);
  }
}


static void test_group_norm(void) {
  kubo_nn *net;
  kubo_tensor x = make(4, 3, 6, 4, 3, 1.0, 0);
  kubo_tensor x2 = make(2, 4, 6, 1, 1, 1.0, 0);
  float *p;
  CHECK_OK(kubo_nn_group_norm(&net, 2, 6, 1e-5));
  /* move gamma and beta off 1 and 0 so their gradients matter */
  p = kubo_nn_params(net);
  for (int i = 0; i < 12; i++)
    p[i] = (float)(i < 6 ? 1 + 0.3 * kubo_rng_normal1(&rng)
                         : 0.3 * kubo_rng_normal1(&rng));
  check_net("group_norm 4-D", net, 1, &x, NULL, 1e-2);
  check_net("group_norm 2-D", net, 1, &x2, NULL, 1e-2);
  kubo_nn_free(net);
  kubo_tensor_release(&x);
  kubo_tensor_release(&x2);
}


static void test_activations(void) {
  for (int a = 0; a < 3; a++) {
    kubo_nn *net;
    kubo_tensor x = make(3, 3, 4, 5, 1, 1.5, 0.1);
    CHECK_OK(kubo_nn_activation(&net, (kubo_activation)a));
    check_net(kubo_activation_name((kubo_activation)a), net, 1, &x, NULL,
              1e-2);
    kubo_nn_free(net);
    kubo_tensor_release(&x);
  }
}


static void test_fourier_embedding(void) {
  kubo_nn *net;
  kubo_tensor t = make(1, 5, 1, 1, 1, 0.5, 0);
  kubo_tensor t2 = make(2, 5, 1, 1, 1, 0.5, 0);
  /* a small scale keeps the sines smooth on the step h */
  CHECK_OK(kubo_nn_fourier_embedding(&net, 8, 1.0, true, 31));
  check_net("fourier_embedding dense", net, 1, &t, NULL, 1e-3);
  check_net("fourier_embedding (batch, 1)", net, 1, &t2, NULL, 1e-3);
  kubo_nn_free(net);
  CHECK_OK(kubo_nn_fourier_embedding(&net, 6, 1.0, false, 32));
  check_net("fourier_embedding plain", net, 1, &t, NULL, 1e-3);
  kubo_nn_free(net);
  kubo_tensor_release(&t);
  kubo_tensor_release(&t2);
}


static void test_embed_bias(void) {
  kubo_nn *net;
  kubo_tensor in[2] = {make(4, 3, 5, 4, 4, 1.0, 0), make(2, 3, 6, 1, 1, 1.0,
                                                         0)};
  CHECK_OK(kubo_nn_embed_bias(&net, 6, 5, 41));
  check_net("embed_bias", net, 2, in, NULL, 1e-2);
  kubo_nn_free(net);
  kubo_tensor_release(&in[0]);
  kubo_tensor_release(&in[1]);
}


static void test_upsample_concat(void) {
  kubo_nn *net;
  kubo_tensor x = make(4, 2, 3, 3, 4, 1.0, 0);
  kubo_tensor in[2] = {make(4, 2, 3, 4, 5, 1.0, 0), make(4, 2, 2, 4, 5, 1.0,
                                                         0)};
  CHECK_OK(kubo_nn_upsample(&net));
  check_net("upsample", net, 1, &x, NULL, 1e-2);
  kubo_nn_free(net);
  CHECK_OK(kubo_nn_concat(&net));
  check_net("concat", net, 2, in, NULL, 1e-2);
  kubo_nn_free(net);
  kubo_tensor_release(&x);
  kubo_tensor_release(&in[0]);
  kubo_tensor_release(&in[1]);
}


static void test_sequential(void) {
  kubo_nn *layers[4], *seq;
  kubo_nn_conv2d_config cfg;
  kubo_tensor x = make(4, 2, 2, 6, 6, 1.0, 0);
  kubo_nn_conv2d_config_default(&cfg);
  cfg.in_channels = 2;
  cfg.out_channels = 4;
  CHECK_OK(kubo_nn_conv2d(&layers[0], &cfg, 51));
  CHECK_OK(kubo_nn_group_norm(&layers[1], 2, 4, 0));
  CHECK_OK(kubo_nn_activation(&layers[2], KUBO_ACT_TANH));
  CHECK_OK(kubo_nn_upsample(&layers[3]));
  CHECK_OK(kubo_nn_sequential(&seq, 4, layers));
  check_net("sequential", seq, 1, &x, NULL, 1e-2);
  for (int i = 0; i < 4; i++) kubo_nn_free(layers[i]);
  kubo_nn_free(seq);
  kubo_tensor_release(&x);
}


static void test_mlp(void) {
  kubo_nn_mlp_config cfg;
  kubo_nn *net;
  kubo_tensor x = make(2, 4, 3, 1, 1, 1.0, 0);
  kubo_tensor sigma = make(1, 4, 1, 1, 1, 0, 0);
  for (int i = 0; i < 4; i++) ((float *)sigma.data)[i] = 0.1f + 0.3f * i;
  kubo_nn_mlp_config_default(&cfg);
  cfg.nsizes = 4;
  cfg.sizes[0] = 3;
  cfg.sizes[1] = 8;
  cfg.sizes[2] = 6;
  cfg.sizes[3] = 2;
  cfg.activation = KUBO_ACT_TANH;
  CHECK_OK(kubo_nn_mlp(&net, &cfg, 61));
  check_net("mlp", net, 1, &x, NULL, 1e-2);
  kubo_nn_free(net);
  cfg.embed = 8;
  cfg.activation = KUBO_ACT_SWISH;
  CHECK_OK(kubo_nn_mlp(&net, &cfg, 62));
  check_net("mlp with embedding", net, 1, &x, &sigma, 1e-2);
  kubo_nn_free(net);
  kubo_tensor_release(&x);
  kubo_tensor_release(&sigma);
}


static void test_unet(void) {
  kubo_nn_unet_config cfg;
  kubo_nn *net;
  kubo_tensor x = make(4, 2, 1, 8, 8, 1.0, 0);
  kubo_tensor sigma = make(1, 2, 1, 1, 1, 0, 0);
  ((float *)sigma.data)[0] = 0.05f;
  ((float *)sigma.data)[1] = 2.0f;
  kubo_nn_unet_config_default(&cfg);
  cfg.nlevels = 3;
  cfg.channels[0] = 4;
  cfg.channels[1] = 8;
  cfg.channels[2] = 8;
  cfg.blocks = 1;
  cfg.embed = 8;
  CHECK_OK(kubo_nn_unet(&net, &cfg, 71));
  check_net("unet", net, 1, &x, &sigma, 1e-2);
  kubo_nn_free(net);

  /* every option on, zero padding, the schedule's time as input */
  cfg.mean_bypass = cfg.scale_mean_bypass = cfg.gnorm = true;
  cfg.shift_input = cfg.shift_output = true;
  cfg.periodic = false;
  cfg.embed = 16;
  cfg.sigma_min = 0.01;
  cfg.sigma_max = 10;
  CHECK_OK(kubo_nn_unet(&net, &cfg, 72));
  check_net("unet with every option", net, 1, &x, &sigma, 1e-2);
  kubo_nn_free(net);
  kubo_tensor_release(&x);
  kubo_tensor_release(&sigma);
}


static void test_local_score(void) {
  kubo_nn_local_config cfg;
  kubo_nn *net;
  kubo_tensor x = make(4, 2, 2, 6, 6, 1.0, 0);
  kubo_tensor sigma = make(1, 1, 1, 1, 1, 0, 0);
  ((float *)sigma.data)[0] = 0.3f;
  kubo_nn_local_config_default(&cfg);
  cfg.channels = 6;
  cfg.depth = 2;
  cfg.embed = 8;
  cfg.in_channels = 2;
  cfg.data_std = 0.5;
  CHECK_OK(kubo_nn_local_score(&net, &cfg, 81));
  check_net("local_score", net, 1, &x, &sigma, 1e-2);
  kubo_nn_free(net);
  kubo_tensor_release(&x);
  kubo_tensor_release(&sigma);
}


int main(void) {
  kubo_rng_init(&rng, 2024, 0);
  test_linear();
  test_conv2d();
  test_group_norm();
  test_activations();
  test_fourier_embedding();
  test_embed_bias();
  test_upsample_concat();
  test_sequential();
  test_mlp();
  test_unet();
  test_local_score();
  return check_summary();
}
