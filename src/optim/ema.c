/*
** ema.c: exponential moving average of a network's weights.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"

#define PARALLEL_MIN 32768


kubo_status kubo_ema_new(kubo_ema **out, kubo_nn *net, double rate,
                         bool warmup) {
  kubo_ema *ema;
  int64_t shape[1] = {kubo_nn_num_parameters(net)};
  kubo_status st;
  *out = NULL;
  if (!(rate >= 0 && rate < 1))
    return kubo_error_set(KUBO_EINVAL, "ema: rate must be in [0, 1) (got "
                          "%g)", rate);
  ema = calloc(1, sizeof *ema);
  if (ema == NULL) return kubo_error_set(KUBO_ENOMEM, "ema: out of memory");
  st = kubo_tensor_init(&ema->shadow, KUBO_FLOAT32, 1, shape);
  if (st != KUBO_OK) {
    free(ema);
    return st;
  }
  memcpy(ema->shadow.data, kubo_nn_params(net),
         (size_t)shape[0] * sizeof(float));
  ema->net = net;
  ema->rate = rate;
  ema->warmup = warmup;
  *out = ema;
  return KUBO_OK;
}


void kubo_ema_free(kubo_ema *ema) {
  if (ema == NULL) return;
  kubo_tensor_release(&ema->shadow);
  free(ema);
}


void kubo_ema_update(kubo_ema *ema) {
  double n = (double)ema->updates, d = ema->rate;
  const float *p = kubo_nn_params(ema->net);
  float *s = ema->shadow.data;
  int64_t count = ema->shadow.shape[0];
  float df, rest;
  if (ema->warmup && (1.0 + n) / (10.0 + n) < d) d = (1.0 + n) / (10.0 + n);
  df = (float)d;
  rest = (float)(1.0 - d);
  #pragma omp parallel for schedule(static) if (count >= PARALLEL_MIN)
  for (int64_t i = 0; i < count; i++) s[i] = df * s[i] + rest * p[i];
  ema->updates++;
}


kubo_status kubo_ema_copy_to(const kubo_ema *ema, kubo_nn *target) {
  if (kubo_nn_num_parameters(target) != ema->shadow.shape[0] ||
      strcmp(kubo_nn_spec(target), kubo_nn_spec(ema->net)) != 0)
    return kubo_error_set(KUBO_EINVAL, "ema: target network (%s, %lld "
                          "parameters) differs from the averaged one (%s, "
                          "%lld parameters)", kubo_nn_kind(target),
                          (long long)kubo_nn_num_parameters(target),
                          kubo_nn_kind(ema->net),
                          (long long)ema->shadow.shape[0]);
  memcpy(kubo_nn_params(target), ema->shadow.data,
         (size_t)ema->shadow.shape[0] * sizeof(float));
  return KUBO_OK;
}


void kubo_ema_swap(kubo_ema *ema) {
  float *p = kubo_nn_params(ema->net), *s = ema->shadow.data;
  int64_t count = ema->shadow.shape[0];
  for (int64_t i = 0; i < count; i++) {
    float t = p[i];
    p[i] = s[i];
    s[i] = t;
  }
}


float *kubo_ema_weights(const kubo_ema *ema) { return ema->shadow.data; }
void kubo_ema_view(const kubo_ema *ema, kubo_tensor *out) {
  kubo_tensor_share(out, &ema->shadow);
}
int64_t kubo_ema_updates(const kubo_ema *ema) { return ema->updates; }
double kubo_ema_rate(const kubo_ema *ema) { return ema->rate; }
bool kubo_ema_warmup(const kubo_ema *ema) { return ema->warmup; }
kubo_nn *kubo_ema_net(const kubo_ema *ema) { return ema->net; }
