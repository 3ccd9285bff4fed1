/*
** test_nn_conv.c: the im2col + SGEMM convolution against the naive
** reference, forward and backward, on random shapes, kernels, strides,
** paddings and upsampling. Also checks that results are bit-identical
** for 1 and 2 threads.
*/
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kubo/nn.h"
#include "kubo/rng.h"

static kubo_rng rng;


static float *random_array(int64_t n) {
  float *a = malloc((size_t)(n > 0 ? n : 1) * sizeof *a);
  for (int64_t i = 0; i < n; i++) a[i] = (float)kubo_rng_normal1(&rng);
  return a;
}


static int pick(int lo, int hi) {
  return lo + (int)(kubo_rng_uniform1(&rng) * (hi - lo + 1));
}


/* Largest |a - b| relative to the largest |b|. */
static double rel_diff(const float *a, const float *b, int64_t n) {
  double scale = 1e-30, worst = 0;
  for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
  for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(a[i] - b[i]));
  return worst / scale;
}


/* Runs the fast and naive pairs on g and compares every output; both
** backward passes add into gradients that start from the same values. */
static void compare_once(const kubo_conv2d_geometry *g,
                         kubo_nn_workspace *ws) {
  int ho, wo;
  int64_t nin, nout, nw;
  float *x, *w, *b, *dy, *y1, *y2, *dx1, *dx2, *dw1, *dw2, *db1, *db2;
  bool bias = kubo_rng_uniform1(&rng) < 0.7;
  CHECK_OK(kubo_conv2d_output_size(g, &ho, &wo));
  nin = g->batch * g->in_channels * g->height * g->width;
  nout = g->batch * g->out_channels * ho * wo;
  nw = (int64_t)g->out_channels * g->in_channels * g->kernel * g->kernel;
  x = random_array(nin);
  w = random_array(nw);
  b = random_array(g->out_channels);
  dy = random_array(nout);
  y1 = random_array(nout);
  y2 = random_array(nout);
  dx1 = random_array(nin);
  dx2 = malloc((size_t)(nin > 0 ? nin : 1) * sizeof(float));
  memcpy(dx2, dx1, (size_t)nin * sizeof(float));
  dw1 = random_array(nw);
  dw2 = malloc((size_t)nw * sizeof(float));
  memcpy(dw2, dw1, (size_t)nw * sizeof(float));
  db1 = random_array(g->out_channels);
  db2 = malloc((size_t)g->out_channels * sizeof(float));
  memcpy(db2, db1, (size_t)g->out_channels * sizeof(float));

  CHECK_OK(kubo_conv2d_forward(y1, x, w, bias ? b : NULL, g, ws));
  CHECK_OK(kubo_conv2d_forward_naive(y2, x, w, bias ? b : NULL, g));
  CHECK(rel_diff(y1, y2, nout) < 1e-5);
  CHECK_OK(kubo_conv2d_backward(dx1, dw1, bias ? db1 : NULL, dy, x, w, g,
                                ws));
  CHECK_OK(kubo_conv2d_backward_naive(dx2, dw2, bias ? db2 : NULL, dy, x, w,
                                      g));
  CHECK(rel_diff(dx1, dx2, nin) < 1e-5);
  CHECK(rel_diff(dw1, dw2, nw) < 1e-5);
  CHECK(rel_diff(db1, db2, g->out_channels) < 1e-5);
  if (rel_diff(y1, y2, nout) >= 1e-5 || rel_diff(dx1, dx2, nin) >= 1e-5 ||
      rel_diff(dw1, dw2, nw) >= 1e-5)
    fprintf(stderr, "  geometry: batch %lld, %d -> %d channels, %dx%d, "
            "kernel %d, stride %d, %s%s\n", (long long)g->batch,
            g->in_channels, g->out_channels, g->height, g->width,
            g->kernel, g->stride, g->periodic ? "circular" : "zeros",
            g->upsample ? ", upsampled" : "");

  free(x); free(w); free(b); free(dy); free(y1); free(y2);
  free(dx1); free(dx2); free(dw1); free(dw2); free(db1); free(db2);
}


static void test_random_geometries(int threads) {
  kubo_nn_workspace ws = {NULL, 0};
  omp_set_num_threads(threads);
  for (int trial = 0; trial < 60; trial++) {
    kubo_conv2d_geometry g;
    int ho, wo;
    static const int kernels[3] = {1, 3, 5};
    g.batch = pick(1, 5);
    g.in_channels = pick(1, 6);
    g.out_channels = pick(1, 7);
    g.height = pick(1, 11);
    g.width = pick(1, 11);
    g.kernel = kernels[pick(0, 2)];
    g.stride = pick(1, 3);
    g.periodic = kubo_rng_uniform1(&rng) < 0.5;
    g.upsample = kubo_rng_uniform1(&rng) < 0.3;
    if (kubo_conv2d_output_size(&g, &ho, &wo) != KUBO_OK) {
      /* circular padding wider than the input, which the size check
      ** rejects */
      CHECK(g.periodic);
      continue;
    }
    compare_once(&g, &ws);
  }
  kubo_nn_workspace_free(&ws);
}


/* Geometries that exercise multi-sample chunks (small outputs) and
** several chunks per partial weight-gradient sum (large batches). */
static void test_chunked(void) {
  kubo_nn_workspace ws = {NULL, 0};
  const int cases[][6] = {
    /* batch, cin, cout, size, kernel, stride */
    {70, 3, 5, 4, 3, 1},
    {37, 2, 4, 8, 3, 2},
    {40, 2, 3, 16, 3, 1},
    {9, 4, 4, 1, 1, 1},
    {130, 2, 2, 16, 1, 1},
  };
  for (int threads = 1; threads <= 2; threads++) {
    omp_set_num_threads(threads);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
      kubo_conv2d_geometry g = {cases[c][0], cases[c][1], cases[c][2],
                                cases[c][3], cases[c][3], cases[c][4],
                                cases[c][5], true, false};
      compare_once(&g, &ws);
      g.periodic = false;
      g.upsample = true;
      compare_once(&g, &ws);
    }
  }
  kubo_nn_workspace_free(&ws);
}


/* A kernel with a single 1 at (ky, kx) = (0, 0) reads the input at
** (stride y - 1, stride x - 1): a circular shift, or zeros off the edge.
** This pins the padding and weight-layout conventions independently of
** the naive reference. */
static void test_delta_kernel(void) {
  for (int stride = 1; stride <= 2; stride++) {
    for (int periodic = 0; periodic <= 1; periodic++) {
      kubo_conv2d_geometry g = {1, 1, 1, 6, 5, 3, stride, periodic, false};
      float x[30], y[30], w[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
      int ho, wo, bad = 0;
      for (int i = 0; i < 30; i++) x[i] = (float)(i + 1);
      CHECK_OK(kubo_conv2d_output_size(&g, &ho, &wo));
      CHECK_OK(kubo_conv2d_forward(y, x, w, NULL, &g, NULL));
      for (int oy = 0; oy < ho; oy++) {
        for (int ox = 0; ox < wo; ox++) {
          int iy = stride * oy - 1, ix = stride * ox - 1;
          float want;
          if (iy >= 0 && ix >= 0) want = x[iy * 5 + ix];
          else if (!periodic) want = 0;
          else want = x[((iy + 6) % 6) * 5 + (ix + 5) % 5];
          if (y[oy * wo + ox] != want) bad++;
        }
      }
      CHECK(bad == 0);
    }
  }
}


static void test_bad_geometry(void) {
  kubo_conv2d_geometry g = {1, 1, 1, 4, 4, 2, 1, true, false};
  int ho, wo;
  CHECK(kubo_conv2d_output_size(&g, &ho, &wo) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "kernel must be odd") != NULL);
  g.kernel = 5;
  g.height = 1;
  CHECK(kubo_conv2d_output_size(&g, &ho, &wo) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "circular padding") != NULL);
  g.periodic = false;
  CHECK_OK(kubo_conv2d_output_size(&g, &ho, &wo));
  CHECK(ho == 1);
  CHECK(wo == 4);
}


/* One forward and backward of a small U-Net with 1 and with 2 threads:
** outputs and every gradient must be equal to the bit. */
static void test_thread_count_independence(void) {
  kubo_nn_unet_config cfg;
  kubo_nn *net;
  kubo_tensor x, sigma, y[2], dx[2], dout;
  int64_t shape[4] = {33, 1, 16, 16}, sshape[1] = {33};
  float *grads[2];
  int64_t n;
  kubo_nn_unet_config_default(&cfg);
  cfg.nlevels = 3;
  cfg.channels[0] = 8;
  cfg.channels[1] = 16;
  cfg.channels[2] = 16;
  cfg.blocks = 1;
  cfg.embed = 16;
  CHECK_OK(kubo_nn_unet(&net, &cfg, 5));
  n = kubo_nn_num_parameters(net);

  kubo_tensor_init(&x, KUBO_FLOAT32, 4, shape);
  kubo_tensor_init(&dout, KUBO_FLOAT32, 4, shape);
  kubo_tensor_init(&sigma, KUBO_FLOAT32, 1, sshape);
  kubo_rng_fill_normal(&rng, &x, 0, 1);
  kubo_rng_fill_normal(&rng, &dout, 0, 1);
  kubo_rng_fill_uniform(&rng, &sigma, 0.01, 5);

  for (int t = 0; t < 2; t++) {
    omp_set_num_threads(t + 1);
    kubo_nn_zero_grad(net);
    CHECK_OK(kubo_nn_forward(net, 1, &x, &sigma, &y[t]));
    CHECK_OK(kubo_nn_backward(net, &dout, 1, &dx[t]));
    grads[t] = malloc((size_t)n * sizeof(float));
    memcpy(grads[t], kubo_nn_grads(net), (size_t)n * sizeof(float));
  }

  CHECK(memcmp(y[0].data, y[1].data, 33 * 256 * sizeof(float)) == 0);
  CHECK(memcmp(dx[0].data, dx[1].data, 33 * 256 * sizeof(float)) == 0);
  CHECK(memcmp(grads[0], grads[1], (size_t)n * sizeof(float)) == 0);

  for (int t = 0; t < 2; t++) {
    kubo_tensor_release(&y[t]);
    kubo_tensor_release(&dx[t]);
    free(grads[t]);
  }
  kubo_tensor_release(&x);
  kubo_tensor_release(&dout);
  kubo_tensor_release(&sigma);
  kubo_nn_free(net);
}


int main(void) {
  kubo_rng_init(&rng, 77, 0);
  test_random_geometries(1);
  test_random_geometries(2);
  test_chunked();
  test_delta_kernel();
  test_bad_geometry();
  test_thread_count_independence();
  return check_summary();
}
