/*
** optim.c: Adam and SGD with momentum, clipping and linear warm-up.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"

/* Arrays shorter than this are updated by one thread. */
#define PARALLEL_MIN 32768


void kubo_optim_config_default(kubo_optim_config *cfg,
                               kubo_optim_kind kind) {
  memset(cfg, 0, sizeof *cfg);
  cfg->kind = kind;
  cfg->lr = 1e-3;
  cfg->beta1 = 0.9;
  cfg->beta2 = 0.999;
  cfg->eps = 1e-8;
  cfg->momentum = 0;
  cfg->nesterov = false;
  cfg->clip = 0;
  cfg->clip_mode = KUBO_CLIP_GLOBAL;
  cfg->warmup = 0;
  cfg->order = KUBO_ORDER_STANDARD;
}


static const char *kind_name(kubo_optim_kind kind) {
  return kind == KUBO_OPTIM_ADAM ? "adam" : "sgd";
}


static kubo_status check_config(const kubo_optim_config *c) {
  const char *name = kind_name(c->kind);
  if (c->kind != KUBO_OPTIM_ADAM && c->kind != KUBO_OPTIM_SGD)
    return kubo_error_set(KUBO_EINVAL, "optim: unknown kind %d",
                          (int)c->kind);
  if (!(c->lr >= 0) || isinf(c->lr))
    return kubo_error_set(KUBO_EINVAL, "%s: lr must be finite and >= 0 "
                          "(got %g)", name, c->lr);
  if (c->kind == KUBO_OPTIM_ADAM) {
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 &&
                                              c->beta2 < 1))
      return kubo_error_set(KUBO_EINVAL, "adam: betas must be in [0, 1) "
                            "(got %g and %g)", c->beta1, c->beta2);
    if (!(c->eps > 0))
      return kubo_error_set(KUBO_EINVAL, "adam: eps must be positive (got "
                            "%g)", c->eps);
  } else {
    if (!(c->momentum >= 0 && c->momentum < 1))
      return kubo_error_set(KUBO_EINVAL, "sgd: momentum must be in [0, 1) "
                            "(got %g)", c->momentum);
    if (c->nesterov && c->momentum == 0)
      return kubo_error_set(KUBO_EINVAL, "sgd: nesterov needs a positive "
                            "momentum");
    if (c->order == KUBO_ORDER_REFERENCE)
      return kubo_error_set(KUBO_EINVAL, "sgd: order \"reference\" is "
                            "defined for adam only");
  }
  if (!(c->clip >= 0) || isinf(c->clip))
    return kubo_error_set(KUBO_EINVAL, "%s: clip must be finite and >= 0 "
                          "(got %g)", name, c->clip);
  if (c->clip_mode != KUBO_CLIP_GLOBAL && c->clip_mode != KUBO_CLIP_ARRAY)
    return kubo_error_set(KUBO_EINVAL, "%s: unknown clip mode %d", name,
                          (int)c->clip_mode);
  if (c->warmup < 0)
    return kubo_error_set(KUBO_EINVAL, "%s: warmup must be >= 0 (got "
                          "%lld)", name, (long long)c->warmup);
  if (c->order != KUBO_ORDER_STANDARD && c->order != KUBO_ORDER_REFERENCE)
    return kubo_error_set(KUBO_EINVAL, "%s: unknown order %d", name,
                          (int)c->order);
  return KUBO_OK;
}


void kubo_optim_free(kubo_optim *opt) {
  if (opt == NULL) return;
  kubo_tensor_release(&opt->m);
  kubo_tensor_release(&opt->v);
  free(opt->offsets);
  free(opt->sizes);
  free(opt->sumsq);
  free(opt->factor);
  free(opt);
}


kubo_status kubo_optim_new(kubo_optim **out, kubo_nn *net,
                           const kubo_optim_config *cfg) {
  kubo_optim *opt;
  int64_t shape[1];
  int narrays = 0, total = kubo_nn_num_arrays(net);
  kubo_status st = check_config(cfg);
  *out = NULL;
  if (st != KUBO_OK) return st;
  opt = calloc(1, sizeof *opt);
  if (opt == NULL) return kubo_error_set(KUBO_ENOMEM, "optim: out of memory");
  opt->config = *cfg;
  opt->net = net;
  opt->n = kubo_nn_num_parameters(net);
  shape[0] = opt->n;
  for (int i = 0; i < total; i++) {
    kubo_nn_array a;
    kubo_nn_array_info(net, i, &a);
    if (!a.buffer) narrays++;
  }
  opt->offsets = calloc((size_t)narrays + 1, sizeof *opt->offsets);
  opt->sizes = calloc((size_t)narrays + 1, sizeof *opt->sizes);
  opt->sumsq = calloc((size_t)narrays + 1, sizeof *opt->sumsq);
  opt->factor = calloc((size_t)narrays + 1, sizeof *opt->factor);
  if (opt->offsets == NULL || opt->sizes == NULL || opt->sumsq == NULL ||
      opt->factor == NULL) {
    kubo_optim_free(opt);
    return kubo_error_set(KUBO_ENOMEM, "optim: out of memory");
  }
  for (int i = 0; i < total; i++) {
    kubo_nn_array a;
    kubo_nn_array_info(net, i, &a);
    if (a.buffer) continue;
    opt->offsets[opt->narrays] = a.offset;
    opt->sizes[opt->narrays] = a.size;
    opt->narrays++;
  }
  st = kubo_tensor_init(&opt->m, KUBO_FLOAT32, 1, shape);
  if (st == KUBO_OK && cfg->kind == KUBO_OPTIM_ADAM)
    st = kubo_tensor_init(&opt->v, KUBO_FLOAT32, 1, shape);
  if (st != KUBO_OK) {
    kubo_optim_free(opt);
    return st;
  }
  *out = opt;
  return KUBO_OK;
}


kubo_status kubo_optim_set_lr(kubo_optim *opt, double lr) {
  if (!(lr >= 0) || isinf(lr))
    return kubo_error_set(KUBO_EINVAL, "%s: lr must be finite and >= 0 "
                          "(got %g)", kind_name(opt->config.kind), lr);
  opt->config.lr = lr;
  return KUBO_OK;
}


const kubo_optim_config *kubo_optim_get_config(const kubo_optim *opt) {
  return &opt->config;
}


int64_t kubo_optim_step_count(const kubo_optim *opt) { return opt->step; }
kubo_nn *kubo_optim_net(const kubo_optim *opt) { return opt->net; }
double kubo_optim_last_grad_norm(const kubo_optim *opt) {
  return opt->last_norm;
}


/* Sums of squares per array, each summed in order by one thread. */
static void array_sums(kubo_optim *opt, const float *g) {
  #pragma omp parallel for schedule(dynamic) if (opt->n >= PARALLEL_MIN)
  for (int a = 0; a < opt->narrays; a++) {
    const float *ga = g + opt->offsets[a];
    double s = 0;
    for (int64_t i = 0; i < opt->sizes[a]; i++)
      s += (double)ga[i] * ga[i];
    opt->sumsq[a] = s;
  }
}


/* Sets the per-array gradient factors (warm-up and clipping) and returns
** the learning rate of this step.
** NOTE: CliMAgen.jl's WarmupSchedule keeps one step counter that every
** parameter array's update advances, so there the warm-up ends after
** warmup / (number of arrays) optimizer steps. kubo's w(t) counts
** optimizer steps. */
static double step_factors(kubo_optim *opt, double warm) {
  const kubo_optim_config *c = &opt->config;
  bool reference = c->order == KUBO_ORDER_REFERENCE;
  double pre = reference ? warm : 1.0, total = 0;
  for (int a = 0; a < opt->narrays; a++) total += opt->sumsq[a];
  opt->last_norm = pre * sqrt(total);
  for (int a = 0; a < opt->narrays; a++) {
    double norm = c->clip_mode == KUBO_CLIP_ARRAY
                    ? pre * sqrt(opt->sumsq[a]) : opt->last_norm;
    double f = pre;
    if (c->clip > 0 && norm > c->clip) f *= c->clip / norm;
    opt->factor[a] = f;
  }
  return reference ? c->lr : c->lr * warm;
}


static void adam_update(kubo_optim *opt, float *p, const float *g,
                        double lr) {
  const kubo_optim_config *c = &opt->config;
  const float b1 = (float)c->beta1, b2 = (float)c->beta2;
  const double t = (double)opt->step;
  const float step_size = (float)(lr / (1.0 - pow(c->beta1, t)));
  const float rbc2 = (float)(1.0 / sqrt(1.0 - pow(c->beta2, t)));
  const float eps = (float)c->eps;
  float *m = opt->m.data, *v = opt->v.data;
  #pragma omp parallel if (opt->n >= PARALLEL_MIN)
  for (int a = 0; a < opt->narrays; a++) {
    const float f = (float)opt->factor[a];
    const int64_t first = opt->offsets[a], end = first + opt->sizes[a];
    #pragma omp for schedule(static)
    for (int64_t i = first; i < end; i++) {
      float gi = g[i] * f;
      m[i] = b1 * m[i] + (1.0f - b1) * gi;
      v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
      p[i] -= step_size * m[i] / (sqrtf(v[i]) * rbc2 + eps);
    }
  }
}


static void sgd_update(kubo_optim *opt, float *p, const float *g,
                       double lr) {
  const float mu = (float)opt->config.momentum, rate = (float)lr;
  const bool nesterov = opt->config.nesterov;
  float *b = opt->m.data;
  #pragma omp parallel if (opt->n >= PARALLEL_MIN)
  for (int a = 0; a < opt->narrays; a++) {
    const float f = (float)opt->factor[a];
    const int64_t first = opt->offsets[a], end = first + opt->sizes[a];
    #pragma omp for schedule(static)
    for (int64_t i = first; i < end; i++) {
      float gi = g[i] * f;
      b[i] = mu * b[i] + gi;
      p[i] -= rate * (nesterov ? gi + mu * b[i] : b[i]);
    }
  }
}


kubo_status kubo_optim_step(kubo_optim *opt) {
  float *p = kubo_nn_params(opt->net);
  const float *g = kubo_nn_grads(opt->net);
  double warm, lr;
  if (kubo_nn_num_parameters(opt->net) != opt->n)
    return kubo_error_set(KUBO_ESTATE, "%s: the network's parameter count "
                          "changed", kind_name(opt->config.kind));
  array_sums(opt, g);
  for (int a = 0; a < opt->narrays; a++)
    if (!isfinite(opt->sumsq[a])) {
      kubo_nn_array info;
      int k = 0;
      /* name the array: the a-th parameter array */
      for (int i = 0; i < kubo_nn_num_arrays(opt->net); i++) {
        kubo_nn_array_info(opt->net, i, &info);
        if (!info.buffer && k++ == a) break;
      }
      return kubo_error_set(KUBO_ENUMERIC, "%s: gradient of '%s' is NaN or "
                            "infinite at step %lld; parameters left "
                            "unchanged", kind_name(opt->config.kind),
                            info.name, (long long)opt->step + 1);
    }
  opt->step++;
  warm = opt->config.warmup > 0 && opt->step < opt->config.warmup
           ? (double)opt->step / (double)opt->config.warmup : 1.0;
  lr = step_factors(opt, warm);
  if (opt->config.kind == KUBO_OPTIM_ADAM)
    adam_update(opt, p, g, lr);
  else
    sgd_update(opt, p, g, lr);
  return KUBO_OK;
}
