/*
** norm.c: group normalisation with a per-channel affine map.
*/
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/nn_layers.h"
#include "nn_internal.h"


void kubo_group_norm_forward(float *out, float *mean, float *rstd,
                             const float *inp, const float *gamma,
                             const float *beta, int64_t batch, int channels,
                             int64_t spatial, int groups, float eps) {
  const int cpg = channels / groups;
  const int64_t n = (int64_t)cpg * spatial;
  #pragma omp parallel for schedule(static) if (batch * channels * spatial >= NN_PARALLEL_MIN)
  for (int64_t bg = 0; bg < batch * groups; bg++) {
    int64_t b = bg / groups;
    int g = (int)(bg % groups);
    const float *x = inp + (b * channels + (int64_t)g * cpg) * spatial;
    float *y = out + (b * channels + (int64_t)g * cpg) * spatial;
    double sum = 0, var = 0, mu;
    float m, r;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    mu = sum / (double)n;
    for (int64_t i = 0; i < n; i++) {
      double d = x[i] - mu;
      var += d * d;
    }
    var /= (double)n;
    m = (float)mu;
    r = (float)(1.0 / sqrt(var + eps));
    mean[bg] = m;
    rstd[bg] = r;
    for (int c = 0; c < cpg; c++) {
      int ch = g * cpg + c;
      float scale = gamma[ch] * r, shift = beta[ch] - m * scale;
      const float *xc = x + (int64_t)c * spatial;
      float *yc = y + (int64_t)c * spatial;
      for (int64_t s = 0; s < spatial; s++) yc[s] = xc[s] * scale + shift;
    }
  }
}


kubo_status kubo_group_norm_backward(float *dinp, float *dgamma,
                                     float *dbeta, const float *dout,
                                     const float *inp, const float *mean,
                                     const float *rstd, const float *gamma,
                                     int64_t batch, int channels,
                                     int64_t spatial, int groups) {
  const int cpg = channels / groups;
  const int64_t n = (int64_t)cpg * spatial;
  const size_t nbytes = (size_t)(2 * batch * channels) * sizeof(double);
  /* per (sample, channel): sum of dout and of dout * xhat */
  double *sums = kubo_alloc(nbytes);
  if (sums == NULL) return KUBO_ENOMEM;

  #pragma omp parallel for schedule(static) if (batch * channels * spatial >= NN_PARALLEL_MIN)
  for (int64_t bg = 0; bg < batch * groups; bg++) {
    int64_t b = bg / groups;
    int g = (int)(bg % groups);
    int64_t base = (b * channels + (int64_t)g * cpg) * spatial;
    const float *x = inp + base, *dy = dout + base;
    double *sum_dy = sums + 2 * (b * channels + (int64_t)g * cpg);
    float m = mean[bg], r = rstd[bg];
    double group_dy = 0, group_dyx = 0;
    for (int c = 0; c < cpg; c++) {
      const float *xc = x + (int64_t)c * spatial;
      const float *dyc = dy + (int64_t)c * spatial;
      double s_dy = 0, s_dyx = 0;
      for (int64_t s = 0; s < spatial; s++) {
        s_dy += dyc[s];
        s_dyx += (double)dyc[s] * ((xc[s] - m) * r);
      }
      sum_dy[2 * c] = s_dy;
      sum_dy[2 * c + 1] = s_dyx;
      group_dy += gamma[g * cpg + c] * s_dy;
      group_dyx += gamma[g * cpg + c] * s_dyx;
    }
    if (dinp != NULL) {
      /* dx = rstd (gamma dy - mean(gamma dy) - xhat mean(gamma dy xhat)) */
      float a = (float)(group_dy / (double)n);
      float bcoef = (float)(group_dyx / (double)n);
      float *dx = dinp + base;
      for (int c = 0; c < cpg; c++) {
        float gm = gamma[g * cpg + c];
        const float *xc = x + (int64_t)c * spatial;
        const float *dyc = dy + (int64_t)c * spatial;
        float *dxc = dx + (int64_t)c * spatial;
        for (int64_t s = 0; s < spatial; s++) {
          float xhat = (xc[s] - m) * r;
          dxc[s] += r * (gm * dyc[s] - a - xhat * bcoef);
        }
      }
    }
  }

  /* parameter gradients sum over the batch in order */
  for (int c = 0; c < channels; c++) {
    double s_dy = 0, s_dyx = 0;
    for (int64_t b = 0; b < batch; b++) {
      s_dy += sums[2 * (b * channels + c)];
      s_dyx += sums[2 * (b * channels + c) + 1];
    }
    dbeta[c] += (float)s_dy;
    dgamma[c] += (float)s_dyx;
  }
  kubo_free(sums, nbytes);
  return KUBO_OK;
}
