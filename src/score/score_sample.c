/*
** score_sample.c: samples from a score by the reverse SDE of the
** variance-exploding process (Euler-Maruyama).
*/
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/rng.h"
#include "score_internal.h"


void kubo_score_sample_config_default(kubo_score_sample_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->n = 1000;
  cfg->steps = 250;
  cfg->t_end = 1e-3;
  cfg->seed = 0;
  cfg->sigma_min = 0;
  cfg->sigma_max = 0;
}


static kubo_status check_sample(const kubo_score *s,
                                const kubo_score_sample_config *c) {
  if (s->kind == KUBO_SCORE_ANALYTIC)
    return kubo_error_set(KUBO_EINVAL, "score.sample: sampling needs the "
                          "score at every noise level, and an analytic "
                          "score is known at sigma = 0 only");
  if (s->kind == KUBO_SCORE_NETWORK && s->tr->cfg.t_high < 1.0)
    return kubo_error_set(KUBO_EINVAL, "score.sample: the model was trained "
                          "on t in [%g, %g] (noise_range \"%s\"), but "
                          "sampling starts at t = 1; train with "
                          "noise_range = \"full\" to sample",
                          s->tr->cfg.t_low, s->tr->cfg.t_high,
                          s->tr->cfg.t_high == KUBO_SCORE_T_RESPONSE &&
                          s->tr->cfg.t_low == KUBO_SCORE_T_FLOOR
                            ? "response" : "custom");
  if (c->n < 1)
    return kubo_error_set(KUBO_EINVAL, "score.sample: n must be at least 1 "
                          "(got %lld)", (long long)c->n);
  if (c->steps < 2)
    return kubo_error_set(KUBO_EINVAL, "score.sample: steps must be at "
                          "least 2 (got %lld)", (long long)c->steps);
  if (!(c->t_end > 0 && c->t_end < 1))
    return kubo_error_set(KUBO_EINVAL, "score.sample: t_end must be in (0, "
                          "1) (got %g)", c->t_end);
  if (c->sigma_min < 0 || c->sigma_max < 0 ||
      (c->sigma_min > 0 && c->sigma_max > 0 &&
       !(c->sigma_max > c->sigma_min)))
    return kubo_error_set(KUBO_EINVAL, "score.sample: need 0 < sigma_min < "
                          "sigma_max (got %g and %g)", c->sigma_min,
                          c->sigma_max);
  return KUBO_OK;
}


kubo_status kubo_score_sample(kubo_score *s,
                              const kubo_score_sample_config *c,
                              kubo_tensor *out) {
  double smin, smax, tlo, thi, ln_ratio, dt, scale = kubo_score_scale(s);
  int64_t n = c->n, count, shape[KUBO_MAX_DIM];
  double *y = NULL, *sc = NULL, *z = NULL;
  size_t bytes;
  kubo_tensor res = {0};
  kubo_rng rng;
  kubo_status st;

  memset(out, 0, sizeof *out);
  st = check_sample(s, c);
  if (st != KUBO_OK) return st;
  st = kubo_score_schedule(s, &smin, &smax, &tlo, &thi);
  if (st != KUBO_OK) return st;
  if (s->kind == KUBO_SCORE_GAUSSIAN) {
    if (c->sigma_min > 0) smin = c->sigma_min;
    if (c->sigma_max > 0) smax = c->sigma_max;
    if (!(smax > smin))
      return kubo_error_set(KUBO_EINVAL, "score.sample: sigma_max = %g must "
                            "be above sigma_min = %g", smax, smin);
  }
  ln_ratio = log(smax / smin);
  dt = (1.0 - c->t_end) / (double)(c->steps - 1);
  count = n * s->dim;
  bytes = (size_t)count * sizeof(double);
  y = kubo_alloc(bytes);
  sc = kubo_alloc(bytes);
  z = kubo_alloc(bytes);
  if (y == NULL || sc == NULL || z == NULL) {
    st = KUBO_ENOMEM;
    goto done;
  }

  kubo_rng_init(&rng, c->seed, kubo_rng_substream(KUBO_SCORE_KEY_SAMPLE, 0));
  kubo_rng_normal(&rng, y, count);
  for (int64_t i = 0; i < count; i++) y[i] *= smax;

  for (int64_t i = 0; i < c->steps && st == KUBO_OK; i++) {
    double t = 1.0 - (double)i * dt;
    double sigma = smin * pow(smax / smin, t);
    double g2 = sigma * sigma * 2.0 * ln_ratio, amp = sqrt(g2 * dt);
    st = kubo_interrupt_check("score.sample");
    if (st == KUBO_OK) st = score_eval_units(s, n, y, sigma, sc);
    if (st != KUBO_OK) break;
    kubo_rng_init(&rng, c->seed,
                  kubo_rng_substream(KUBO_SCORE_KEY_SAMPLE, (uint64_t)i + 1));
    kubo_rng_normal(&rng, z, count);
    for (int64_t k = 0; k < count; k++)
      y[k] += g2 * sc[k] * dt + amp * z[k];
  }
  if (st != KUBO_OK) goto done;

  shape[0] = n;
  for (int d = 0; d < s->frame_ndim; d++) shape[d + 1] = s->frame_shape[d];
  st = kubo_tensor_init(&res, KUBO_FLOAT64, s->frame_ndim + 1, shape);
  if (st == KUBO_OK) {
    double *r = res.data;
    for (int64_t k = 0; k < count; k++) r[k] = y[k] / scale;
    *out = res;
  }

done:
  kubo_free(y, bytes);
  kubo_free(sc, bytes);
  kubo_free(z, bytes);
  return st;
}
