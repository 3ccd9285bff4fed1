/*
** layers.c: constructors of the single layers (linear, conv2d,
** group_norm, activations, fourier_embedding, embed_bias, upsample,
** concat).
*/
#include <stdio.h>
#include <stdlib.h>

#include "graph.h"

/* Largest channel or feature count accepted by a layer. */
#define MAX_FEATURES (1 << 20)


/* Finishes a single-layer net, freeing it on failure. */
static kubo_status finish(kubo_nn **out, kubo_nn *net, int y,
                          const char *spec, bool init, uint64_t seed) {
  kubo_status st = nn_finish(net, y, spec, init, seed);
  if (st != KUBO_OK) {
    kubo_nn_free(net);
    return st;
  }
  *out = net;
  return KUBO_OK;
}


static kubo_status check_count(const char *layer, const char *what,
                               int64_t n) {
  if (n < 1 || n > MAX_FEATURES)
    return kubo_error_set(KUBO_EINVAL, "%s: %s must be between 1 and %d "
                          "(got %lld)", layer, what, MAX_FEATURES,
                          (long long)n);
  return KUBO_OK;
}


kubo_status kubo_nn_linear(kubo_nn **out, int in, int out_features,
                           bool bias, uint64_t seed) {
  kubo_nn *net;
  char spec[128];
  int x, y;
  kubo_status st;
  *out = NULL;
  if ((st = check_count("linear", "in", in)) != KUBO_OK ||
      (st = check_count("linear", "out", out_features)) != KUBO_OK)
    return st;
  if ((st = nn_new(&net, "linear")) != KUBO_OK) return st;
  x = nn_input(net);
  y = nn_linear(net, "", x, in, out_features, bias);
  snprintf(spec, sizeof spec, "linear{in=%d,out=%d,bias=%s}", in,
           out_features, bias ? "true" : "false");
  return finish(out, net, y, spec, true, seed);
}


void kubo_nn_conv2d_config_default(kubo_nn_conv2d_config *cfg) {
  cfg->in_channels = 1;
  cfg->out_channels = 1;
  cfg->kernel = 3;
  cfg->stride = 1;
  cfg->periodic = true;
  cfg->bias = true;
}


kubo_status kubo_nn_conv2d(kubo_nn **out, const kubo_nn_conv2d_config *cfg,
                           uint64_t seed) {
  kubo_nn *net;
  char spec[160];
  int x, y;
  kubo_status st;
  *out = NULL;
  if ((st = check_count("conv2d", "in_channels", cfg->in_channels)) !=
        KUBO_OK ||
      (st = check_count("conv2d", "out_channels", cfg->out_channels)) !=
        KUBO_OK)
    return st;
  if (cfg->kernel < 1 || cfg->kernel % 2 == 0 || cfg->kernel > 31)
    return kubo_error_set(KUBO_EINVAL, "conv2d: kernel must be odd, from 1 "
                          "to 31 (got %d)", cfg->kernel);
  if (cfg->stride < 1 || cfg->stride > 16)
    return kubo_error_set(KUBO_EINVAL, "conv2d: stride must be from 1 to 16 "
                          "(got %d)", cfg->stride);
  if ((st = nn_new(&net, "conv2d")) != KUBO_OK) return st;
  x = nn_input(net);
  y = nn_conv2d(net, "", x, cfg->in_channels, cfg->out_channels,
                cfg->kernel, cfg->stride, cfg->periodic, false, cfg->bias);
  snprintf(spec, sizeof spec, "conv2d{in=%d,out=%d,kernel=%d,stride=%d,"
           "periodic=%s,bias=%s}", cfg->in_channels, cfg->out_channels,
           cfg->kernel, cfg->stride, cfg->periodic ? "true" : "false",
           cfg->bias ? "true" : "false");
  return finish(out, net, y, spec, true, seed);
}


kubo_status kubo_nn_group_norm(kubo_nn **out, int groups, int channels,
                               double eps) {
  kubo_nn *net;
  char spec[128];
  int x, y;
  kubo_status st;
  *out = NULL;
  if (eps <= 0) eps = 1e-5;
  if ((st = check_count("group_norm", "channels", channels)) != KUBO_OK ||
      (st = check_count("group_norm", "groups", groups)) != KUBO_OK)
    return st;
  if (channels % groups != 0)
    return kubo_error_set(KUBO_EINVAL, "group_norm: channels (%d) must be a "
                          "multiple of groups (%d)", channels, groups);
  if ((st = nn_new(&net, "group_norm")) != KUBO_OK) return st;
  x = nn_input(net);
  y = nn_group_norm(net, "", x, groups, channels, (float)eps);
  snprintf(spec, sizeof spec, "group_norm{groups=%d,channels=%d,eps=%.17g}",
           groups, channels, eps);
  return finish(out, net, y, spec, true, 0);
}


kubo_status kubo_nn_activation(kubo_nn **out, kubo_activation act) {
  kubo_nn *net;
  char spec[32];
  int x, y;
  kubo_status st;
  *out = NULL;
  if (act != KUBO_ACT_SWISH && act != KUBO_ACT_RELU && act != KUBO_ACT_TANH)
    return kubo_error_set(KUBO_EINVAL, "activation: unknown kind %d",
                          (int)act);
  if ((st = nn_new(&net, kubo_activation_name(act))) != KUBO_OK) return st;
  x = nn_input(net);
  y = nn_activation(net, "", x, act);
  snprintf(spec, sizeof spec, "%s{}", kubo_activation_name(act));
  return finish(out, net, y, spec, false, 0);
}


kubo_status kubo_nn_fourier_embedding(kubo_nn **out, int size, double scale,
                                      bool dense, uint64_t seed) {
  kubo_nn *net;
  char spec[128];
  int x, y;
  kubo_status st;
  *out = NULL;
  if (size < 2 || size % 2 != 0 || size > MAX_FEATURES)
    return kubo_error_set(KUBO_EINVAL, "fourier_embedding: size must be "
                          "even, from 2 to %d (got %d)", MAX_FEATURES, size);
  if (!(scale > 0) || scale > 1e6)
    return kubo_error_set(KUBO_EINVAL, "fourier_embedding: scale must be "
                          "positive (got %g)", scale);
  if ((st = nn_new(&net, "fourier_embedding")) != KUBO_OK) return st;
  x = nn_input(net);
  y = nn_fourier(net, dense ? "fourier" : "", x, size, scale);
  if (dense) {
    y = nn_linear(net, "dense", y, size, size, true);
    y = nn_activation(net, "dense", y, KUBO_ACT_SWISH);
  }
  snprintf(spec, sizeof spec, "fourier_embedding{size=%d,scale=%.17g,"
           "dense=%s}", size, scale, dense ? "true" : "false");
  return finish(out, net, y, spec, true, seed);
}


kubo_status kubo_nn_embed_bias(kubo_nn **out, int embed, int channels,
                               uint64_t seed) {
  kubo_nn *net;
  char spec[96];
  int x, e, bias, y;
  kubo_status st;
  *out = NULL;
  if ((st = check_count("embed_bias", "embed", embed)) != KUBO_OK ||
      (st = check_count("embed_bias", "channels", channels)) != KUBO_OK)
    return st;
  if ((st = nn_new(&net, "embed_bias")) != KUBO_OK) return st;
  x = nn_input(net);
  e = nn_input(net);
  bias = nn_linear(net, "", e, embed, channels, true);
  y = nn_channel_add(net, "", x, bias, false);
  snprintf(spec, sizeof spec, "embed_bias{embed=%d,channels=%d}", embed,
           channels);
  return finish(out, net, y, spec, true, seed);
}


kubo_status kubo_nn_upsample(kubo_nn **out) {
  kubo_nn *net;
  kubo_status st;
  int x, y;
  *out = NULL;
  if ((st = nn_new(&net, "upsample")) != KUBO_OK) return st;
  x = nn_input(net);
  y = nn_upsample(net, "", x);
  return finish(out, net, y, "upsample{}", false, 0);
}


kubo_status kubo_nn_concat(kubo_nn **out) {
  kubo_nn *net;
  kubo_status st;
  int a, c, y;
  *out = NULL;
  if ((st = nn_new(&net, "concat")) != KUBO_OK) return st;
  a = nn_input(net);
  c = nn_input(net);
  y = nn_concat(net, "", a, c);
  return finish(out, net, y, "concat{}", false, 0);
}
