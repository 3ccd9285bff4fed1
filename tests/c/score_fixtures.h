/*
** score_fixtures.h: networks, held-out data and error measures shared by
** the score-learning tests.
*/
#ifndef KUBO_SCORE_FIXTURES_H
#define KUBO_SCORE_FIXTURES_H

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "kubo/score.h"

static inline double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


static inline kubo_nn *local_net(int channels, int depth, int embed,
                                 double std, uint64_t seed) {
  kubo_nn_local_config cfg;
  kubo_nn *net = NULL;
  kubo_nn_local_config_default(&cfg);
  cfg.channels = channels;
  cfg.depth = depth;
  cfg.embed = embed;
  cfg.embed_scale = 4;
  cfg.data_std = std;
  CHECK_OK(kubo_nn_local_score(&net, &cfg, seed));
  return net;
}


static inline kubo_nn *mlp_net(int width, int embed, uint64_t seed) {
  kubo_nn_mlp_config cfg;
  kubo_nn *net = NULL;
  kubo_nn_mlp_config_default(&cfg);
  cfg.nsizes = 4;
  cfg.sizes[0] = 1;
  cfg.sizes[1] = width;
  cfg.sizes[2] = width;
  cfg.sizes[3] = 1;
  cfg.embed = embed;
  cfg.embed_scale = 4;
  CHECK_OK(kubo_nn_mlp(&net, &cfg, seed));
  return net;
}


/* Splits data into the trainer's held-out samples: a new (ntest, ...)
** float64 tensor. */
static inline void held_out(const kubo_score *s, const kubo_tensor *data,
                            kubo_tensor *out) {
  kubo_score_trainer *tr = kubo_score_get_trainer(s);
  int64_t count = kubo_score_trainer_data_count(tr);
  int64_t ntest = count - kubo_score_trainer_train_count(tr);
  int64_t dim = kubo_tensor_numel(data) / count;
  int64_t shape[KUBO_MAX_DIM];
  int64_t *idx = malloc((size_t)ntest * sizeof *idx);
  kubo_score_trainer_indices(tr, true, idx);
  for (int d = 0; d < data->ndim; d++) shape[d] = data->shape[d];
  shape[0] = ntest;
  CHECK_OK(kubo_tensor_init(out, KUBO_FLOAT64, data->ndim, shape));
  for (int64_t j = 0; j < ntest; j++)
    memcpy((double *)out->data + j * dim,
           (const double *)data->data + idx[j] * dim,
           (size_t)dim * sizeof(double));
  free(idx);
}


/* ||a - b|| / ||b|| over all values, and the correlation <a, b> / (||a||
** ||b||) in *corr. */
static inline double relative_error(const kubo_tensor *a,
                                    const kubo_tensor *b, double *corr) {
  const double *x = a->data, *y = b->data;
  double num = 0, den = 0, dot = 0, aa = 0;
  for (int64_t i = 0; i < kubo_tensor_numel(a); i++) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
    dot += x[i] * y[i];
    aa += x[i] * x[i];
  }
  *corr = dot / sqrt(aa * den);
  return sqrt(num / den);
}

#endif
