/*
** nets.c: the networks conditioned on a noise level: mlp, the U-Net of
** CliMAgen.jl's score model and the small local score network.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "graph.h"

#define MAX_WIDTH (1 << 16)


static kubo_status finish(kubo_nn **out, kubo_nn *net, int y, nn_str *spec,
                          uint64_t seed) {
  char *text = nn_str_take(spec);
  kubo_status st;
  if (text == NULL) {
    kubo_nn_free(net);
    return KUBO_ENOMEM;
  }
  st = nn_finish(net, y, text, true, seed);
  free(text);
  if (st != KUBO_OK) {
    kubo_nn_free(net);
    return st;
  }
  *out = net;
  return KUBO_OK;
}


/* Computes c = a ln(sigma) + b for the embedding (see nn.h). */
static kubo_status noise_map(const char *kind, double sigma_min,
                             double sigma_max, double *a, double *b) {
  if (sigma_min == 0 && sigma_max == 0) {
    *a = 0.25;
    *b = 0;
    return KUBO_OK;
  }
  if (!(sigma_min > 0) || !(sigma_max > sigma_min) || isinf(sigma_max))
    return kubo_error_set(KUBO_EINVAL, "%s: sigma_min and sigma_max must "
                          "satisfy 0 < sigma_min < sigma_max, or both be 0 "
                          "(got %g and %g)", kind, sigma_min, sigma_max);
  *a = 1.0 / log(sigma_max / sigma_min);
  *b = -log(sigma_min) * *a;
  return KUBO_OK;
}


static kubo_status check_embedding(const char *kind, int embed, double scale,
                                   bool required) {
  if ((required && embed < 2) || embed < 0 || embed % 2 != 0 ||
      embed > MAX_WIDTH)
    return kubo_error_set(KUBO_EINVAL, "%s: embed must be an even number "
                          "from %d to %d (got %d)", kind, required ? 2 : 0,
                          MAX_WIDTH, embed);
  if (embed > 0 && (!(scale > 0) || scale > 1e6))
    return kubo_error_set(KUBO_EINVAL, "%s: embed_scale must be positive "
                          "(got %g)", kind, scale);
  return KUBO_OK;
}


/* Builds emb = swish(linear(fourier(a ln(sigma) + b))) and returns it. */
static int noise_embedding(kubo_nn *net, int embed, double scale, double a,
                           double b) {
  int s = nn_sigma(net);
  int c = nn_noise_level(net, "embed.level", s, a, b);
  int f = nn_fourier(net, "embed.fourier", c, embed, scale);
  int e = nn_linear(net, "embed.dense", f, embed, embed, true);
  return nn_activation(net, "embed.act", e, KUBO_ACT_SWISH);
}


static const char *yes(bool b) {
  return b ? "true" : "false";
}


/* ---------------------------------------------------------------------
** mlp
** ------------------------------------------------------------------- */

void kubo_nn_mlp_config_default(kubo_nn_mlp_config *cfg) {
  cfg->nsizes = 3;
  cfg->sizes[0] = 1;
  cfg->sizes[1] = 64;
  cfg->sizes[2] = 1;
  cfg->activation = KUBO_ACT_SWISH;
  cfg->embed = 0;
  cfg->embed_scale = 30;
  cfg->sigma_min = cfg->sigma_max = 0;
}


kubo_status kubo_nn_mlp(kubo_nn **out, const kubo_nn_mlp_config *cfg,
                        uint64_t seed) {
  kubo_nn *net;
  nn_str spec = {0};
  double a = 0, b = 0;
  int x, emb = -1;
  kubo_status st;
  *out = NULL;
  if (cfg->nsizes < 2 || cfg->nsizes > KUBO_NN_MAX_SIZES)
    return kubo_error_set(KUBO_EINVAL, "mlp: sizes must have 2 to %d "
                          "entries (got %d)", KUBO_NN_MAX_SIZES,
                          cfg->nsizes);
  for (int i = 0; i < cfg->nsizes; i++)
    if (cfg->sizes[i] < 1 || cfg->sizes[i] > MAX_WIDTH)
      return kubo_error_set(KUBO_EINVAL, "mlp: sizes[%d] must be from 1 to "
                            "%d (got %d)", i + 1, MAX_WIDTH, cfg->sizes[i]);
  if ((st = check_embedding("mlp", cfg->embed, cfg->embed_scale, false)) !=
      KUBO_OK)
    return st;
  if (cfg->embed > 0 &&
      (st = noise_map("mlp", cfg->sigma_min, cfg->sigma_max, &a, &b)) !=
        KUBO_OK)
    return st;
  if ((st = nn_new(&net, "mlp")) != KUBO_OK) return st;

  x = nn_input(net);
  if (cfg->embed > 0)
    emb = noise_embedding(net, cfg->embed, cfg->embed_scale, a, b);
  for (int i = 0; i + 1 < cfg->nsizes; i++) {
    char name[32];
    snprintf(name, sizeof name, "layer%d", i + 1);
    x = nn_linear(net, name, x, cfg->sizes[i], cfg->sizes[i + 1], true);
    if (i + 2 == cfg->nsizes) break;
    if (emb >= 0) {
      char ename[40];
      snprintf(ename, sizeof ename, "layer%d.embed", i + 1);
      x = nn_channel_add(net, name, x,
                         nn_linear(net, ename, emb, cfg->embed,
                                   cfg->sizes[i + 1], true), false);
    }
    x = nn_activation(net, name, x, cfg->activation);
  }

  nn_str_add(&spec, "mlp{sizes={");
  for (int i = 0; i < cfg->nsizes; i++)
    nn_str_add(&spec, "%s%d", i ? "," : "", cfg->sizes[i]);
  nn_str_add(&spec, "},activation=%s,embed=%d,embed_scale=%.17g,"
             "sigma_min=%.17g,sigma_max=%.17g}",
             kubo_activation_name(cfg->activation), cfg->embed,
             cfg->embed_scale, cfg->sigma_min, cfg->sigma_max);
  return finish(out, net, x, &spec, seed);
}


/* ---------------------------------------------------------------------
** U-Net
** ------------------------------------------------------------------- */

void kubo_nn_unet_config_default(kubo_nn_unet_config *cfg) {
  static const int channels[4] = {32, 64, 128, 256};
  cfg->nlevels = 4;
  for (int i = 0; i < KUBO_NN_MAX_LEVELS; i++)
    cfg->channels[i] = i < 4 ? channels[i] : 0;
  cfg->blocks = 8;
  cfg->embed = 256;
  cfg->embed_scale = 30;
  cfg->periodic = true;
  cfg->in_channels = 1;
  cfg->kernel = 3;
  cfg->mean_bypass = false;
  cfg->scale_mean_bypass = false;
  cfg->shift_input = false;
  cfg->shift_output = false;
  cfg->gnorm = false;
  cfg->groups_first = 4;
  cfg->groups = 32;
  cfg->sigma_min = cfg->sigma_max = 0;
}


static kubo_status check_unet(const kubo_nn_unet_config *cfg) {
  kubo_status st;
  if (cfg->nlevels < 2 || cfg->nlevels > KUBO_NN_MAX_LEVELS)
    return kubo_error_set(KUBO_EINVAL, "unet: channels must have 2 to %d "
                          "entries (got %d)", KUBO_NN_MAX_LEVELS,
                          cfg->nlevels);
  for (int i = 0; i < cfg->nlevels; i++)
    if (cfg->channels[i] < 1 || cfg->channels[i] > MAX_WIDTH)
      return kubo_error_set(KUBO_EINVAL, "unet: channels[%d] must be from 1 "
                            "to %d (got %d)", i + 1, MAX_WIDTH,
                            cfg->channels[i]);
  if (cfg->blocks < 0 || cfg->blocks > 1000)
    return kubo_error_set(KUBO_EINVAL, "unet: blocks must be from 0 to 1000 "
                          "(got %d)", cfg->blocks);
  if (cfg->in_channels < 1 || cfg->in_channels > MAX_WIDTH)
    return kubo_error_set(KUBO_EINVAL, "unet: in_channels must be from 1 to "
                          "%d (got %d)", MAX_WIDTH, cfg->in_channels);
  if (cfg->kernel < 1 || cfg->kernel % 2 == 0 || cfg->kernel > 31)
    return kubo_error_set(KUBO_EINVAL, "unet: kernel must be odd, from 1 to "
                          "31 (got %d)", cfg->kernel);
  if (cfg->groups < 1 || cfg->groups_first < 1)
    return kubo_error_set(KUBO_EINVAL, "unet: groups and groups_first must "
                          "be positive (got %d and %d)", cfg->groups,
                          cfg->groups_first);
  if ((cfg->scale_mean_bypass || cfg->gnorm) && !cfg->mean_bypass)
    return kubo_error_set(KUBO_EINVAL, "unet: scale_mean_bypass and gnorm "
                          "act on the mean bypass; set mean_bypass = true "
                          "too");
  if ((st = check_embedding("unet", cfg->embed, cfg->embed_scale, true)) !=
      KUBO_OK)
    return st;
  return KUBO_OK;
}


/* Adds linear(emb) per channel to x (optionally through swish) and
** returns the result. */
static int embed_add(kubo_nn *net, const char *name, int x, int emb,
                     int embed, int channels, bool act) {
  char lname[48];
  int e;
  nn_format(lname, sizeof lname, "%s.embed", name);
  e = nn_linear(net, lname, emb, embed, channels, true);
  if (act) e = nn_activation(net, lname, e, KUBO_ACT_SWISH);
  return nn_channel_add(net, lname, x, e, false);
}


/* Group norm and swish on x; returns the result. */
static int norm_act(kubo_nn *net, const char *name, int x, int channels,
                    int groups) {
  x = nn_group_norm(net, name, x, nn_groups_for(channels, groups), channels,
                    1e-5f);
  return nn_activation(net, name, x, KUBO_ACT_SWISH);
}


static int residual_block(kubo_nn *net, int j, int h, int emb,
                          const kubo_nn_unet_config *cfg) {
  int c = cfg->channels[cfg->nlevels - 1];
  int groups = c / 4 < 32 ? c / 4 : 32;
  char name[48];
  int a;
  snprintf(name, sizeof name, "res%d.norm1", j);
  a = norm_act(net, name, h, c, groups);
  snprintf(name, sizeof name, "res%d.conv1", j);
  a = nn_conv2d(net, name, a, c, c, cfg->kernel, 1, cfg->periodic, false,
                true);
  snprintf(name, sizeof name, "res%d", j);
  a = embed_add(net, name, a, emb, cfg->embed, c, true);
  snprintf(name, sizeof name, "res%d.norm2", j);
  a = norm_act(net, name, a, c, groups);
  snprintf(name, sizeof name, "res%d.conv2", j);
  a = nn_conv2d(net, name, a, c, c, cfg->kernel, 1, cfg->periodic, false,
                true);
  snprintf(name, sizeof name, "res%d.add", j);
  return nn_add(net, name, a, h);
}


/* The mean bypass: 1x1 convolutions on the spatial means of x; returns
** the (batch, in_channels, 1, 1) branch output. */
static int mean_bypass(kubo_nn *net, int x, int emb,
                       const kubo_nn_unet_config *cfg) {
  int w = cfg->embed, in = cfg->in_channels;
  int m = nn_spatial_mean(net, "bypass.mean", x);
  m = nn_conv2d(net, "bypass.conv1", m, in, w, 1, 1, cfg->periodic, false,
                true);
  m = embed_add(net, "bypass.conv1", m, emb, cfg->embed, w, false);
  if (cfg->gnorm) m = norm_act(net, "bypass.norm1", m, w, cfg->groups);
  m = nn_conv2d(net, "bypass.conv2", m, w, w, 1, 1, cfg->periodic, false,
                true);
  m = embed_add(net, "bypass.conv2", m, emb, cfg->embed, w, false);
  if (cfg->gnorm) m = norm_act(net, "bypass.norm2", m, w, cfg->groups);
  return nn_conv2d(net, "bypass.conv3", m, w, in, 1, 1, cfg->periodic,
                   false, true);
}


kubo_status kubo_nn_unet(kubo_nn **out, const kubo_nn_unet_config *cfg,
                         uint64_t seed) {
  const int L = cfg->nlevels, k = cfg->kernel;
  const int *ch = cfg->channels;
  kubo_nn *net;
  nn_str spec = {0};
  int skip[KUBO_NN_MAX_LEVELS];
  double a = 0, b = 0;
  int x, emb, h;
  char name[48];
  kubo_status st;
  *out = NULL;
  if ((st = check_unet(cfg)) != KUBO_OK) return st;
  if ((st = noise_map("unet", cfg->sigma_min, cfg->sigma_max, &a, &b)) !=
      KUBO_OK)
    return st;
  if ((st = nn_new(&net, "unet")) != KUBO_OK) return st;
  net->spatial_multiple = 1 << (L - 1);

  x = nn_input(net);
  emb = noise_embedding(net, cfg->embed, cfg->embed_scale, a, b);
  h = cfg->shift_input ? nn_center(net, "shift_input", x) : x;

  /* encoder */
  for (int i = 1; i <= L; i++) {
    int cin = i == 1 ? cfg->in_channels : ch[i - 2];
    snprintf(name, sizeof name, "enc%d.conv", i);
    h = nn_conv2d(net, name, h, cin, ch[i - 1], k, i == 1 ? 1 : 2,
                  cfg->periodic, false, true);
    snprintf(name, sizeof name, "enc%d", i);
    h = embed_add(net, name, h, emb, cfg->embed, ch[i - 1], false);
    if (i < L) {
      snprintf(name, sizeof name, "enc%d.norm", i);
      h = norm_act(net, name, h, ch[i - 1],
                   i == 1 ? cfg->groups_first : cfg->groups);
    }
    skip[i - 1] = h;
  }

  for (int j = 1; j <= cfg->blocks; j++)
    h = residual_block(net, j, h, emb, cfg);

  /* decoder */
  h = norm_act(net, "dec.norm", h, ch[L - 1], cfg->groups);
  for (int i = L - 1; i >= 1; i--) {
    int cin = i == L - 1 ? ch[L - 1] : 2 * ch[i];
    snprintf(name, sizeof name, "dec%d.conv", i);
    h = nn_conv2d(net, name, h, cin, ch[i - 1], k, 1, cfg->periodic, true,
                  true);
    snprintf(name, sizeof name, "dec%d", i);
    h = embed_add(net, name, h, emb, cfg->embed, ch[i - 1], false);
    snprintf(name, sizeof name, "dec%d.norm", i);
    h = norm_act(net, name, h, ch[i - 1], cfg->groups);
    snprintf(name, sizeof name, "dec%d.concat", i);
    h = nn_concat(net, name, h, skip[i - 1]);
  }
  h = nn_conv2d(net, "out.conv", h, 2 * ch[0], cfg->in_channels, k, 1,
                cfg->periodic, false, true);
  if (cfg->shift_output) h = nn_center(net, "shift_output", h);
  if (cfg->mean_bypass)
    h = nn_channel_add(net, "bypass.add", h, mean_bypass(net, x, emb, cfg),
                       cfg->scale_mean_bypass);

  nn_str_add(&spec, "unet{channels={");
  for (int i = 0; i < L; i++) nn_str_add(&spec, "%s%d", i ? "," : "", ch[i]);
  nn_str_add(&spec, "},blocks=%d,embed=%d,embed_scale=%.17g,periodic=%s,"
             "in_channels=%d,kernel=%d,mean_bypass=%s,scale_mean_bypass=%s,"
             "shift_input=%s,shift_output=%s,gnorm=%s,groups_first=%d,"
             "groups=%d,sigma_min=%.17g,sigma_max=%.17g}", cfg->blocks,
             cfg->embed, cfg->embed_scale, yes(cfg->periodic),
             cfg->in_channels, cfg->kernel, yes(cfg->mean_bypass),
             yes(cfg->scale_mean_bypass), yes(cfg->shift_input),
             yes(cfg->shift_output), yes(cfg->gnorm), cfg->groups_first,
             cfg->groups, cfg->sigma_min, cfg->sigma_max);
  return finish(out, net, h, &spec, seed);
}


/* ---------------------------------------------------------------------
** Local score network
** ------------------------------------------------------------------- */

void kubo_nn_local_config_default(kubo_nn_local_config *cfg) {
  cfg->channels = 32;
  cfg->depth = 4;
  cfg->embed = 64;
  cfg->embed_scale = 30;
  cfg->periodic = true;
  cfg->in_channels = 1;
  cfg->data_std = 1;
  cfg->sigma_min = cfg->sigma_max = 0;
}


/* conv, then x (1 + g) + h from the embedding, then swish. */
static int conv_film(kubo_nn *net, const char *name, int x, int emb,
                     int cin, int cout, int kernel, bool periodic,
                     int embed) {
  char lname[48];
  int e;
  x = nn_conv2d(net, name, x, cin, cout, kernel, 1, periodic, false, true);
  nn_format(lname, sizeof lname, "%s.film", name);
  e = nn_linear(net, lname, emb, embed, 2 * cout, true);
  x = nn_film(net, lname, x, e);
  return nn_activation(net, name, x, KUBO_ACT_SWISH);
}


kubo_status kubo_nn_local_score(kubo_nn **out,
                                const kubo_nn_local_config *cfg,
                                uint64_t seed) {
  kubo_nn *net;
  nn_str spec = {0};
  double a = 0, b = 0;
  int x, s, emb, h;
  kubo_status st;
  *out = NULL;
  if (cfg->channels < 1 || cfg->channels > MAX_WIDTH)
    return kubo_error_set(KUBO_EINVAL, "local_score: channels must be from "
                          "1 to %d (got %d)", MAX_WIDTH, cfg->channels);
  if (cfg->depth < 1 || cfg->depth > 1000)
    return kubo_error_set(KUBO_EINVAL, "local_score: depth must be from 1 "
                          "to 1000 (got %d)", cfg->depth);
  if (cfg->in_channels < 1 || cfg->in_channels > MAX_WIDTH)
    return kubo_error_set(KUBO_EINVAL, "local_score: in_channels must be "
                          "from 1 to %d (got %d)", MAX_WIDTH,
                          cfg->in_channels);
  if (!(cfg->data_std >= 0) || isinf(cfg->data_std))
    return kubo_error_set(KUBO_EINVAL, "local_score: data_std must be a "
                          "finite number >= 0 (got %g)", cfg->data_std);
  if ((st = check_embedding("local_score", cfg->embed, cfg->embed_scale,
                            true)) != KUBO_OK)
    return st;
  if ((st = noise_map("local_score", cfg->sigma_min, cfg->sigma_max, &a,
                      &b)) != KUBO_OK)
    return st;
  if ((st = nn_new(&net, "local_score")) != KUBO_OK) return st;

  x = nn_input(net);
  emb = noise_embedding(net, cfg->embed, cfg->embed_scale, a, b);
  s = nn_sigma(net);
  h = nn_noise_scale(net, "scale_input", x, s,
                     cfg->data_std * cfg->data_std);
  for (int i = 1; i <= cfg->depth; i++) {
    char name[32];
    snprintf(name, sizeof name, "conv%d", i);
    h = conv_film(net, name, h, emb, i == 1 ? cfg->in_channels :
                  cfg->channels, cfg->channels, 3, cfg->periodic,
                  cfg->embed);
  }
  h = conv_film(net, "mix", h, emb, cfg->channels, cfg->channels, 1,
                cfg->periodic, cfg->embed);
  h = nn_conv2d(net, "out", h, cfg->channels, cfg->in_channels, 1, 1,
                cfg->periodic, false, true);

  nn_str_add(&spec, "local_score{channels=%d,depth=%d,embed=%d,"
             "embed_scale=%.17g,periodic=%s,in_channels=%d,data_std=%.17g,"
             "sigma_min=%.17g,sigma_max=%.17g}", cfg->channels, cfg->depth,
             cfg->embed, cfg->embed_scale, yes(cfg->periodic),
             cfg->in_channels, cfg->data_std, cfg->sigma_min,
             cfg->sigma_max);
  return finish(out, net, h, &spec, seed);
}
