/*
** score_internal.h: the structures behind kubo/score.h (src/score only).
*/
#ifndef KUBO_SCORE_INTERNAL_H
#define KUBO_SCORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "kubo/grid.h"
#include "kubo/score.h"

struct kubo_score_data {
  bool from_file;
  kubo_tensor t;               /* contiguous samples (tensor source) */
  char *path, *dataset;        /* file source */
  int64_t count;
  int frame_ndim;
  int64_t frame_shape[KUBO_SCORE_MAX_FRAME_DIM];
  int64_t dim;                 /* values per sample */
};

/* Columns of a history row. */
enum {
  HIST_EPOCH = 0, HIST_TRAIN, HIST_TEST, HIST_STEP, HIST_PARTIAL,
  HIST_COLUMNS
};

struct kubo_score_trainer {
  kubo_score_config cfg;       /* cfg.checkpoint points to checkpoint */
  char *checkpoint;
  bool sigma_max_auto;         /* sigma_max was "auto" when created */

  kubo_nn *net;                /* trained copy (raw weights) */
  kubo_optim *opt;
  kubo_ema *ema;               /* NULL without averaging */
  kubo_nn *eval;               /* copy for evaluating the EMA weights */

  int64_t count;               /* samples in the data */
  int frame_ndim;
  int64_t frame_shape[KUBO_SCORE_MAX_FRAME_DIM];
  int64_t dim;
  bool flatten;                /* the network takes (batch, dim) */
  int64_t *order;              /* split permutation: train, then test */
  int64_t ntrain, ntest;
  int64_t batch;               /* effective batch size */
  int64_t batches_per_epoch;

  /* state */
  int64_t step;                /* optimizer steps done */
  int64_t epoch;               /* epochs finished */
  int64_t batch_pos;           /* batches done in the current epoch */
  double loss_sum;             /* sum of batch loss * batch size */
  int64_t loss_count;          /* samples behind loss_sum */
  double *history;             /* rows of HIST_COLUMNS */
  int64_t hist_rows, hist_cap;

  int64_t *perm;               /* shuffle of the current epoch */
  int64_t perm_epoch;          /* epoch of perm, -1 if none */
};

struct kubo_score {
  kubo_score_kind kind;
  int frame_ndim;
  int64_t frame_shape[KUBO_SCORE_MAX_FRAME_DIM];
  int64_t dim;

  /* network */
  kubo_score_trainer *tr;
  int64_t synced_step;         /* step of the weights in tr->eval */

  /* analytic */
  kubo_model *model;
  double model_scale;          /* data = model_scale * state */

  /* gaussian */
  kubo_score_cov cov;
  double *mean;                /* dense: dim values; circulant: 1 */
  double *eig;                 /* dense: dim covariance eigenvalues;
                                  circulant: one per half-spectrum mode */
  double *vec;                 /* dense: (dim, dim) eigenvectors as
                                  columns, row-major */
  double eig_floor;            /* eigenvalues up to this count as 0 */
  kubo_grid *grid;             /* circulant */
  double sigma_max;
};

/* Evaluates the score of s at sigma for n samples y (n * dim values, in
** the units of the network's input) into out (n * dim values). */
kubo_status score_eval_units(kubo_score *s, int64_t n, const double *y,
                             double sigma, double *out);

/* Computes the Gaussian score -(C + sigma^2 I)^-1 (y - mean) of n
** samples. work has room for n * dim doubles. */
kubo_status score_gaussian_chunk(kubo_score *s, int64_t n, const double *y,
                                 double sigma, double *out, double *work);

/* kubo_score_sigma_max_auto, which also sets *std (if not NULL) to the
** standard deviation of all values of the sampled samples. */
kubo_status score_sample_stats(kubo_score_data *d, int64_t n,
                               const int64_t *idx, double scale,
                               uint64_t seed, double *sigma_max,
                               double *std);

/* The factor m with sigma s = m net for a network output net at sigma:
** 1 for epsilon outputs, sigma / sqrt(sigma^2 + data_std^2) for score
** outputs. */
double score_output_factor(const kubo_score_config *c, double sigma);

/* Builds a score network's input shape for n samples into shape and
** returns its number of dimensions. */
int score_net_shape(bool flatten, int frame_ndim, const int64_t *frame,
                    int64_t dim, int64_t n, int64_t *shape);

/* Fills perm[0..n-1] with a permutation of 0..n-1 drawn from the stream
** (key, index) of seed (Fisher-Yates). */
void score_permutation(uint64_t seed, uint64_t key, uint64_t index,
                       int64_t n, int64_t *perm);

/* Runs net on y, an (n, dim) float32 tensor of samples in network
** units, at the noise levels sigma (float64, 1 or n values) and makes
** *out (empty) the raw output as an (n, dim) float32 tensor. Fails with
** KUBO_EINVAL if the network does not return its input's shape. */
kubo_status score_net_forward(kubo_nn *net, bool flatten, int frame_ndim,
                              const int64_t *frame, int64_t dim,
                              const kubo_tensor *y,
                              const kubo_tensor *sigma, kubo_tensor *out);

/* Sets up trainer fields that follow from the configuration and data
** count: the split, batch and batches per epoch. */
kubo_status score_trainer_layout(kubo_score_trainer *tr);

/* Copies the EMA weights (or the raw ones) into tr->eval. */
kubo_status score_trainer_sync_eval(kubo_score_trainer *tr);

/* Adds one history row. */
kubo_status score_history_push(kubo_score_trainer *tr, const double *row);

/* Returns a new string copy, or NULL (with the message set). */
char *score_strdup(const char *s);

#endif
