/*
** pointwise.c: activations, the Fourier embedding, per-channel
** conditioning, shape operations and the mean squared error.
*/
#include <math.h>
#include <string.h>

#include "kubo/nn_layers.h"
#include "nn_internal.h"

#define TWO_PI 6.283185307179586


/* ---------------------------------------------------------------------
** Activations
** ------------------------------------------------------------------- */

const char *kubo_activation_name(kubo_activation act) {
  switch (act) {
    case KUBO_ACT_SWISH: return "swish";
    case KUBO_ACT_RELU: return "relu";
    case KUBO_ACT_TANH: return "tanh";
  }
  return "unknown";
}


int kubo_activation_parse(const char *name) {
  if (strcmp(name, "swish") == 0 || strcmp(name, "silu") == 0)
    return KUBO_ACT_SWISH;
  if (strcmp(name, "relu") == 0) return KUBO_ACT_RELU;
  if (strcmp(name, "tanh") == 0) return KUBO_ACT_TANH;
  return -1;
}


/* exp(x) for float32 without branches, so that loops over it vectorize:
** x = n ln 2 + r with |r| <= ln(2) / 2, e^r by its Taylor polynomial of
** degree 6, 2^n from the exponent bits. Its relative error is below
** 2.4e-7 (2 ulp) on a 1e-3 grid of [-87, 88] against the float64 exp.
** x is clamped to [-87, 88], where 2^n stays a normal float. The swish
** uses it only through 1 / (1 + e^-x), which saturates long before the
** clamp matters. */
static inline float exp_approx(float x) {
  const float round = 12582912.0f;   /* 1.5 * 2^23: adds round to int */
  float t, fn, r, p;
  int32_t bits;
  union { int32_t i; float f; } two_n;
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  t = x * 1.44269504f;
  fn = (t + round) - round;
  r = x - fn * 0.693145751953125f - fn * 1.42860677e-06f;
  p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 +
      r * (1.0f / 120 + r * (1.0f / 720))))));
  bits = ((int32_t)fn + 127) << 23;
  two_n.i = bits;
  return p * two_n.f;
}


static inline float sigmoid(float x) {
  return 1.0f / (1.0f + exp_approx(-x));
}


/* The swish loops, compiled for AVX-512, AVX2 and the baseline; the
** loader picks the best one for the CPU. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void swish_range(float *out, const float *inp, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = inp[i] * sigmoid(inp[i]);
}


__attribute__((target_clones("avx512f", "avx2", "default")))
static void swish_grad_range(float *dinp, const float *dout,
                             const float *inp, int64_t n) {
  /* d/dx x s(x) = s(x) (1 + x (1 - s(x))) */
  for (int64_t i = 0; i < n; i++) {
    float s = sigmoid(inp[i]);
    dinp[i] += dout[i] * s * (1.0f + inp[i] * (1.0f - s));
  }
}


/* Elements per task of the parallel elementwise loops. */
#define BLOCK 8192


void kubo_activation_forward(float *out, const float *inp, int64_t n,
                             kubo_activation act) {
  switch (act) {
    case KUBO_ACT_SWISH:
      #pragma omp parallel for schedule(static) if (n >= NN_PARALLEL_MIN)
      for (int64_t i = 0; i < n; i += BLOCK)
        swish_range(out + i, inp + i, n - i < BLOCK ? n - i : BLOCK);
      break;
    case KUBO_ACT_RELU:
      #pragma omp parallel for schedule(static) if (n >= NN_PARALLEL_MIN)
      for (int64_t i = 0; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : 0.0f;
      break;
    case KUBO_ACT_TANH:
      #pragma omp parallel for schedule(static) if (n >= NN_PARALLEL_MIN)
      for (int64_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
      break;
  }
}


void kubo_activation_backward(float *dinp, const float *dout,
                              const float *inp, int64_t n,
                              kubo_activation act) {
  switch (act) {
    case KUBO_ACT_SWISH:
      #pragma omp parallel for schedule(static) if (n >= NN_PARALLEL_MIN)
      for (int64_t i = 0; i < n; i += BLOCK)
        swish_grad_range(dinp + i, dout + i, inp + i,
                         n - i < BLOCK ? n - i : BLOCK);
      break;
    case KUBO_ACT_RELU:
      #pragma omp parallel for schedule(static) if (n >= NN_PARALLEL_MIN)
      for (int64_t i = 0; i < n; i++)
        if (inp[i] > 0) dinp[i] += dout[i];
      break;
    case KUBO_ACT_TANH:
      #pragma omp parallel for schedule(static) if (n >= NN_PARALLEL_MIN)
      for (int64_t i = 0; i < n; i++) {
        float t = tanhf(inp[i]);
        dinp[i] += dout[i] * (1.0f - t * t);
      }
      break;
  }
}


/* ---------------------------------------------------------------------
** Gaussian Fourier embedding (arguments and sines in float64: the
** frequencies reach ~100, so 2 pi f t is large)
** ------------------------------------------------------------------- */

void kubo_fourier_forward(float *out, const float *t, const float *freq,
                          int64_t batch, int nfreq) {
  for (int64_t b = 0; b < batch; b++) {
    float *row = out + b * 2 * nfreq;
    for (int j = 0; j < nfreq; j++) {
      double arg = TWO_PI * (double)freq[j] * (double)t[b];
      row[j] = (float)sin(arg);
      row[nfreq + j] = (float)cos(arg);
    }
  }
}


void kubo_fourier_backward(float *dt, const float *dout, const float *t,
                           const float *freq, int64_t batch, int nfreq) {
  for (int64_t b = 0; b < batch; b++) {
    const float *row = dout + b * 2 * nfreq;
    double sum = 0;
    for (int j = 0; j < nfreq; j++) {
      double w = TWO_PI * (double)freq[j], arg = w * (double)t[b];
      sum += w * (cos(arg) * row[j] - sin(arg) * row[nfreq + j]);
    }
    dt[b] += (float)sum;
  }
}


/* ---------------------------------------------------------------------
** Per-sample and per-channel conditioning
** ------------------------------------------------------------------- */

void kubo_channel_add_forward(float *x, const float *e, float scale,
                              int64_t batch, int channels,
                              int64_t spatial) {
  int64_t planes = batch * channels;
  #pragma omp parallel for schedule(static) if (planes * spatial >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < planes; p++) {
    float add = scale * e[p];
    float *xp = x + p * spatial;
    for (int64_t s = 0; s < spatial; s++) xp[s] += add;
  }
}


void kubo_channel_add_backward(float *de, const float *dout, float scale,
                               int64_t batch, int channels,
                               int64_t spatial) {
  int64_t planes = batch * channels;
  #pragma omp parallel for schedule(static) if (planes * spatial >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < planes; p++) {
    const float *dp = dout + p * spatial;
    double sum = 0;
    for (int64_t s = 0; s < spatial; s++) sum += dp[s];
    de[p] += scale * (float)sum;
  }
}


void kubo_film_forward(float *out, const float *inp, const float *e,
                       int64_t batch, int channels, int64_t spatial) {
  int64_t planes = batch * channels;
  #pragma omp parallel for schedule(static) if (planes * spatial >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < planes; p++) {
    int64_t b = p / channels, c = p % channels;
    float g = 1.0f + e[b * 2 * channels + c];
    float h = e[b * 2 * channels + channels + c];
    const float *x = inp + p * spatial;
    float *y = out + p * spatial;
    for (int64_t s = 0; s < spatial; s++) y[s] = x[s] * g + h;
  }
}


void kubo_film_backward(float *dinp, float *de, const float *dout,
                        const float *inp, const float *e, int64_t batch,
                        int channels, int64_t spatial) {
  int64_t planes = batch * channels;
  #pragma omp parallel for schedule(static) if (planes * spatial >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < planes; p++) {
    int64_t b = p / channels, c = p % channels;
    float g = 1.0f + e[b * 2 * channels + c];
    const float *x = inp + p * spatial, *dy = dout + p * spatial;
    if (dinp != NULL) {
      float *dx = dinp + p * spatial;
      for (int64_t s = 0; s < spatial; s++) dx[s] += dy[s] * g;
    }
    if (de != NULL) {
      double s_dyx = 0, s_dy = 0;
      for (int64_t s = 0; s < spatial; s++) {
        s_dyx += (double)dy[s] * x[s];
        s_dy += dy[s];
      }
      de[b * 2 * channels + c] += (float)s_dyx;
      de[b * 2 * channels + channels + c] += (float)s_dy;
    }
  }
}


void kubo_sample_scale_forward(float *out, const float *inp,
                               const float *factor, int64_t batch,
                               int64_t n) {
  #pragma omp parallel for schedule(static) if (batch * n >= NN_PARALLEL_MIN)
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < n; i++)
      out[b * n + i] = inp[b * n + i] * factor[b];
}


void kubo_sample_scale_backward(float *dinp, const float *dout,
                                const float *factor, int64_t batch,
                                int64_t n) {
  #pragma omp parallel for schedule(static) if (batch * n >= NN_PARALLEL_MIN)
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < n; i++)
      dinp[b * n + i] += dout[b * n + i] * factor[b];
}


/* ---------------------------------------------------------------------
** Shape operations
** ------------------------------------------------------------------- */

void kubo_upsample_forward(float *out, const float *inp, int64_t batch,
                           int channels, int height, int width) {
  int64_t planes = batch * channels, hw = (int64_t)height * width;
  #pragma omp parallel for schedule(static) if (4 * planes * hw >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < planes; p++) {
    const float *x = inp + p * hw;
    float *y = out + p * 4 * hw;
    for (int i = 0; i < 2 * height; i++) {
      const float *src = x + (int64_t)(i / 2) * width;
      float *dst = y + (int64_t)i * 2 * width;
      for (int j = 0; j < 2 * width; j++) dst[j] = src[j / 2];
    }
  }
}


void kubo_upsample_backward(float *dinp, const float *dout, int64_t batch,
                            int channels, int height, int width) {
  int64_t planes = batch * channels, hw = (int64_t)height * width;
  #pragma omp parallel for schedule(static) if (4 * planes * hw >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < planes; p++) {
    float *dx = dinp + p * hw;
    const float *dy = dout + p * 4 * hw;
    for (int i = 0; i < height; i++) {
      const float *r0 = dy + (int64_t)(2 * i) * 2 * width;
      const float *r1 = r0 + 2 * width;
      for (int j = 0; j < width; j++)
        dx[(int64_t)i * width + j] += (r0[2 * j] + r0[2 * j + 1]) +
                                      (r1[2 * j] + r1[2 * j + 1]);
    }
  }
}


void kubo_concat_forward(float *out, const float *a, const float *c,
                         int64_t batch, int ca, int cc, int64_t spatial) {
  int64_t na = (int64_t)ca * spatial, nc = (int64_t)cc * spatial;
  #pragma omp parallel for schedule(static) if (batch * (na + nc) >= NN_PARALLEL_MIN)
  for (int64_t b = 0; b < batch; b++) {
    memcpy(out + b * (na + nc), a + b * na, (size_t)na * sizeof(float));
    memcpy(out + b * (na + nc) + na, c + b * nc,
           (size_t)nc * sizeof(float));
  }
}


void kubo_concat_backward(float *da, float *dc, const float *dout,
                          int64_t batch, int ca, int cc, int64_t spatial) {
  int64_t na = (int64_t)ca * spatial, nc = (int64_t)cc * spatial;
  #pragma omp parallel for schedule(static) if (batch * (na + nc) >= NN_PARALLEL_MIN)
  for (int64_t b = 0; b < batch; b++) {
    const float *dy = dout + b * (na + nc);
    if (da != NULL)
      for (int64_t i = 0; i < na; i++) da[b * na + i] += dy[i];
    if (dc != NULL)
      for (int64_t i = 0; i < nc; i++) dc[b * nc + i] += dy[na + i];
  }
}


void kubo_center_forward(float *out, const float *inp, int64_t n,
                         int64_t spatial) {
  #pragma omp parallel for schedule(static) if (n * spatial >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < n; p++) {
    const float *x = inp + p * spatial;
    float *y = out + p * spatial;
    double sum = 0;
    float m;
    for (int64_t s = 0; s < spatial; s++) sum += x[s];
    m = (float)(sum / (double)spatial);
    for (int64_t s = 0; s < spatial; s++) y[s] = x[s] - m;
  }
}


void kubo_center_backward(float *dinp, const float *dout, int64_t n,
                          int64_t spatial) {
  #pragma omp parallel for schedule(static) if (n * spatial >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < n; p++) {
    const float *dy = dout + p * spatial;
    float *dx = dinp + p * spatial;
    double sum = 0;
    float m;
    for (int64_t s = 0; s < spatial; s++) sum += dy[s];
    m = (float)(sum / (double)spatial);
    for (int64_t s = 0; s < spatial; s++) dx[s] += dy[s] - m;
  }
}


void kubo_spatial_mean_forward(float *out, const float *inp, int64_t n,
                               int64_t spatial) {
  #pragma omp parallel for schedule(static) if (n * spatial >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < n; p++) {
    double sum = 0;
    for (int64_t s = 0; s < spatial; s++) sum += inp[p * spatial + s];
    out[p] = (float)(sum / (double)spatial);
  }
}


void kubo_spatial_mean_backward(float *dinp, const float *dout, int64_t n,
                                int64_t spatial) {
  #pragma omp parallel for schedule(static) if (n * spatial >= NN_PARALLEL_MIN)
  for (int64_t p = 0; p < n; p++) {
    float g = dout[p] / (float)spatial;
    for (int64_t s = 0; s < spatial; s++) dinp[p * spatial + s] += g;
  }
}


void kubo_add_forward(float *x, const float *y, int64_t n) {
  #pragma omp parallel for schedule(static) if (n >= NN_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) x[i] += y[i];
}


/* ---------------------------------------------------------------------
** Loss
** ------------------------------------------------------------------- */

double kubo_mse_loss(float *dy, const float *y, const float *target,
                     int64_t n) {
  double sum = 0;
  if (n == 0) return 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)y[i] - target[i];
    sum += d * d;
    if (dy != NULL) dy[i] = (float)(2.0 * d / (double)n);
  }
  return sum / (double)n;
}
