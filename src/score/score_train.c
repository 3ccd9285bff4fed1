/*
** score_train.c: training a noise-conditional network by denoising score
** matching on the variance-exploding schedule.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubo/alloc.h"
#include "kubo/mpi.h"
#include "kubo/rng.h"
#include "score_internal.h"


void kubo_score_config_default(kubo_score_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->sigma_min = 0.01;
  cfg->sigma_max = 0;
  cfg->t_low = KUBO_SCORE_T_FLOOR;
  cfg->t_high = KUBO_SCORE_T_RESPONSE;
  cfg->epochs = 10;
  cfg->steps = 0;
  cfg->batch = 32;
  cfg->split = 0.8;
  cfg->seed = 123;
  cfg->ema_rate = 0.999;
  cfg->ema_warmup = true;
  kubo_optim_config_default(&cfg->optim, KUBO_OPTIM_ADAM);
  cfg->optim.lr = 2e-4;
  cfg->optim.clip = 1.0;
  cfg->scale = 1.0;
  cfg->eval_batch = 64;
  cfg->checkpoint = NULL;
  cfg->checkpoint_every = 0;
  cfg->output = KUBO_SCORE_OUT_EPSILON;
  cfg->data_std = 0;
}


int kubo_score_output_parse(const char *name) {
  if (strcmp(name, "epsilon") == 0) return KUBO_SCORE_OUT_EPSILON;
  if (strcmp(name, "score") == 0) return KUBO_SCORE_OUT_SCORE;
  return -1;
}


const char *kubo_score_output_name(kubo_score_output output) {
  return output == KUBO_SCORE_OUT_SCORE ? "score" : "epsilon";
}


double score_output_factor(const kubo_score_config *c, double sigma) {
  if (c->output != KUBO_SCORE_OUT_SCORE) return 1.0;
  return sigma / sqrt(sigma * sigma + c->data_std * c->data_std);
}


static kubo_status check_config(const kubo_score_config *c) {
  if (!(c->sigma_min > 0) || !isfinite(c->sigma_min))
    return kubo_error_set(KUBO_EINVAL, "score: sigma_min must be positive "
                          "and finite (got %g)", c->sigma_min);
  if (c->sigma_max > 0 && !(c->sigma_max > c->sigma_min && isfinite(
                              c->sigma_max)))
    return kubo_error_set(KUBO_EINVAL, "score: sigma_max must be finite "
                          "and larger than sigma_min = %g (got %g)",
                          c->sigma_min, c->sigma_max);

  if (!(c->t_low >= 0 && c->t_high <= 1 && c->t_low < c->t_high))
    return kubo_error_set(KUBO_EINVAL, "score: noise_range must be {t_low, "
                          "t_high} with 0 <= t_low < t_high <= 1 (got {%g, "
                          "%g})", c->t_low, c->t_high);

  if (c->epochs < 1 && c->steps < 1)
    return kubo_error_set(KUBO_EINVAL, "score: give epochs >= 1 or steps "
                          ">= 1 (got epochs = %lld, steps = %lld)",
                          (long long)c->epochs, (long long)c->steps);
  if (c->epochs < 0 || c->steps < 0)
    return kubo_error_set(KUBO_EINVAL, "score: epochs and steps must not "
                          "be negative (got %lld and %lld)",
                          (long long)c->epochs, (long long)c->steps);
  if (c->batch < 1)
    return kubo_error_set(KUBO_EINVAL, "score: batch must be at least 1 "
                          "(got %lld)", (long long)c->batch);
  if (c->eval_batch < 1)
    return kubo_error_set(KUBO_EINVAL, "score: eval_batch must be at least "
                          "1 (got %lld)", (long long)c->eval_batch);

  if (!(c->split > 0 && c->split <= 1))
    return kubo_error_set(KUBO_EINVAL, "score: split must be in (0, 1], "
                          "the share of samples used for training (got %g)",
                          c->split);
  if (!(c->scale > 0) || !isfinite(c->scale))
    return kubo_error_set(KUBO_EINVAL, "score: scale must be positive and "
                          "finite (got %g)", c->scale);
  if (!(c->ema_rate >= 0 && c->ema_rate < 1))
    return kubo_error_set(KUBO_EINVAL, "score: ema must be a rate in [0, "
                          "1), 0 for no averaging (got %g)", c->ema_rate);

  if (c->output != KUBO_SCORE_OUT_EPSILON &&
      c->output != KUBO_SCORE_OUT_SCORE)
    return kubo_error_set(KUBO_EINVAL, "score: unknown output kind %d",
                          (int)c->output);
  if (c->data_std < 0 || !isfinite(c->data_std))
    return kubo_error_set(KUBO_EINVAL, "score: data_std must be finite and "
                          ">= 0, 0 for the data's own (got %g)",
                          c->data_std);
  if (c->checkpoint_every < 0)
    return kubo_error_set(KUBO_EINVAL, "score: checkpoint_every must not "
                          "be negative (got %lld)",
                          (long long)c->checkpoint_every);
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Running the network
** ------------------------------------------------------------------- */

int score_net_shape(bool flatten, int frame_ndim, const int64_t *frame,
                    int64_t dim, int64_t n, int64_t *shape) {
  shape[0] = n;
  if (flatten || frame_ndim == 1) {
    shape[1] = dim;
    return 2;
  }
  if (frame_ndim == 2) {
    shape[1] = 1;
    shape[2] = frame[0];
    shape[3] = frame[1];
    return 4;
  }
  for (int i = 0; i < 3; i++) shape[i + 1] = frame[i];
  return 4;
}


kubo_status score_net_forward(kubo_nn *net, bool flatten, int frame_ndim,
                              const int64_t *frame, int64_t dim,
                              const kubo_tensor *y,
                              const kubo_tensor *sigma, kubo_tensor *out) {
  int64_t shape[5], flat[2];
  int ndim;
  kubo_tensor in = {0}, raw = {0};
  kubo_status st;
  int64_t n = y->shape[0];
  memset(out, 0, sizeof *out);
  ndim = score_net_shape(flatten, frame_ndim, frame, dim, n, shape);
  st = kubo_tensor_reshape(&in, y, ndim, shape);
  if (st == KUBO_OK) st = kubo_nn_forward(net, 1, &in, sigma, &raw);
  kubo_tensor_release(&in);
  if (st != KUBO_OK) return kubo_error_prefix(st, "score");
  if (kubo_tensor_numel(&raw) != n * dim) {
    char a[96], b[96];
    kubo_tensor in_shape = {0};
    in_shape.ndim = ndim;
    for (int i = 0; i < ndim; i++) in_shape.shape[i] = shape[i];
    kubo_tensor_shape_string(&in_shape, a, sizeof a);
    kubo_tensor_shape_string(&raw, b, sizeof b);
    kubo_tensor_release(&raw);
    return kubo_error_set(KUBO_EINVAL, "score: the network maps an input "
                          "of shape %s to %s; a score network must return "
                          "the shape of its input", a, b);
  }
  flat[0] = n;
  flat[1] = dim;
  st = kubo_tensor_reshape(out, &raw, 2, flat);
  kubo_tensor_release(&raw);
  return st;
}


/* ---------------------------------------------------------------------
** Creation
** ------------------------------------------------------------------- */

kubo_status score_trainer_layout(kubo_score_trainer *tr) {
  const kubo_score_config *c = &tr->cfg;
  free(tr->order);
  free(tr->perm);
  tr->perm = NULL;
  tr->perm_epoch = -1;
  tr->order = malloc((size_t)tr->count * sizeof *tr->order);
  if (tr->order == NULL)
    return kubo_error_set(KUBO_ENOMEM, "score: out of memory");
  score_permutation(c->seed, KUBO_SCORE_KEY_SPLIT, 0, tr->count,
                    tr->order);
  tr->ntrain = (int64_t)floor(c->split * (double)tr->count);
  if (tr->ntrain > tr->count) tr->ntrain = tr->count;
  tr->ntest = tr->count - tr->ntrain;
  if (tr->ntrain < 2)
    return kubo_error_set(KUBO_EINVAL, "score: split = %g of %lld samples "
                          "leaves %lld for training, expected at least 2",
                          c->split, (long long)tr->count,
                          (long long)tr->ntrain);
  tr->batch = c->batch < tr->ntrain ? c->batch : tr->ntrain;
  tr->batches_per_epoch = (tr->ntrain + tr->batch - 1) / tr->batch;
  tr->perm = malloc((size_t)tr->ntrain * sizeof *tr->perm);
  if (tr->perm == NULL)
    return kubo_error_set(KUBO_ENOMEM, "score: out of memory");
  return KUBO_OK;
}


kubo_status score_trainer_sync_eval(kubo_score_trainer *tr) {
  if (tr->ema != NULL) return kubo_ema_copy_to(tr->ema, tr->eval);
  memcpy(kubo_nn_params(tr->eval), kubo_nn_params(tr->net),
         (size_t)kubo_nn_num_parameters(tr->net) * sizeof(float));
  return KUBO_OK;
}


kubo_status kubo_score_trainer_new(kubo_score_trainer **out,
                                   const kubo_nn *net, kubo_score_data *data,
                                   const kubo_score_config *cfg) {
  kubo_score_trainer *tr;
  kubo_status st;
  *out = NULL;
  st = check_config(cfg);
  if (st != KUBO_OK) return st;
  if (!kubo_nn_is_conditioned(net))
    return kubo_error_set(KUBO_EINVAL, "score: the %s network takes no "
                          "noise level; build it with a noise embedding "
                          "(nn.local_score, nn.unet, or nn.mlp with embed "
                          "> 0)", kubo_nn_kind(net));
  tr = calloc(1, sizeof *tr);
  if (tr == NULL) return kubo_error_set(KUBO_ENOMEM, "score: out of memory");
  tr->cfg = *cfg;
  tr->perm_epoch = -1;
  tr->count = kubo_score_data_count(data);
  tr->frame_ndim = kubo_score_data_frame_shape(data, tr->frame_shape);
  tr->dim = data->dim;
  tr->flatten = strcmp(kubo_nn_kind(net), "mlp") == 0;
  tr->sigma_max_auto = !(cfg->sigma_max > 0);
  tr->cfg.checkpoint = NULL;
  if (cfg->checkpoint != NULL) {
    tr->checkpoint = score_strdup(cfg->checkpoint);
    if (tr->checkpoint == NULL) st = KUBO_ENOMEM;
    tr->cfg.checkpoint = tr->checkpoint;
  }

  if (st == KUBO_OK) st = score_trainer_layout(tr);
  if (st == KUBO_OK && (tr->sigma_max_auto || !(cfg->data_std > 0))) {
    double smax = 0, std = 0;
    st = score_sample_stats(data, tr->ntrain, tr->order, cfg->scale,
                            cfg->seed, &smax, &std);
    if (tr->sigma_max_auto) tr->cfg.sigma_max = smax;
    if (!(cfg->data_std > 0)) tr->cfg.data_std = std;
    if (st == KUBO_OK && !(tr->cfg.sigma_max > cfg->sigma_min))
      st = kubo_error_set(KUBO_EINVAL, "score: sigma_max \"auto\" = %g is "
                          "not above sigma_min = %g; the data spread is "
                          "tiny, so scale the data up or give sigma_max",
                          tr->cfg.sigma_max, cfg->sigma_min);
  }
  if (st == KUBO_OK) st = kubo_nn_clone(&tr->net, net);
  if (st == KUBO_OK) st = kubo_nn_clone(&tr->eval, net);
  if (st == KUBO_OK) st = kubo_optim_new(&tr->opt, tr->net, &cfg->optim);
  if (st == KUBO_OK && cfg->ema_rate > 0)
    st = kubo_ema_new(&tr->ema, tr->net, cfg->ema_rate, cfg->ema_warmup);
  if (st != KUBO_OK) {
    kubo_score_trainer_free(tr);
    return kubo_error_prefix(st, "score.train");
  }
  *out = tr;
  return KUBO_OK;
}


void kubo_score_trainer_free(kubo_score_trainer *tr) {
  if (tr == NULL) return;
  kubo_ema_free(tr->ema);
  kubo_optim_free(tr->opt);
  kubo_nn_free(tr->eval);
  kubo_nn_free(tr->net);
  free(tr->order);
  free(tr->perm);
  free(tr->history);
  free(tr->checkpoint);
  free(tr);
}


/* ---------------------------------------------------------------------
** Accessors
** ------------------------------------------------------------------- */

const kubo_score_config *kubo_score_trainer_config(
    const kubo_score_trainer *tr) {
  return &tr->cfg;
}

int64_t kubo_score_trainer_step(const kubo_score_trainer *tr) {
  return tr->step;
}

int64_t kubo_score_trainer_epoch(const kubo_score_trainer *tr) {
  return tr->epoch;
}

int64_t kubo_score_trainer_total_steps(const kubo_score_trainer *tr) {
  if (tr->cfg.steps > 0) return tr->cfg.steps;
  return tr->cfg.epochs * tr->batches_per_epoch;
}

int64_t kubo_score_trainer_train_count(const kubo_score_trainer *tr) {
  return tr->ntrain;
}

int64_t kubo_score_trainer_data_count(const kubo_score_trainer *tr) {
  return tr->count;
}

void kubo_score_trainer_indices(const kubo_score_trainer *tr, bool test,
                                int64_t *idx) {
  int64_t first = test ? tr->ntrain : 0;
  int64_t n = test ? tr->ntest : tr->ntrain;
  memcpy(idx, tr->order + first, (size_t)n * sizeof *idx);
}

kubo_nn *kubo_score_trainer_net(const kubo_score_trainer *tr) {
  return tr->net;
}

kubo_ema *kubo_score_trainer_ema(const kubo_score_trainer *tr) {
  return tr->ema;
}

const double *kubo_score_trainer_history(const kubo_score_trainer *tr,
                                         int64_t *rows) {
  *rows = tr->hist_rows;
  return tr->history;
}


kubo_status score_history_push(kubo_score_trainer *tr, const double *row) {
  if (tr->hist_rows == tr->hist_cap) {
    int64_t cap = tr->hist_cap ? 2 * tr->hist_cap : 64;
    double *h = realloc(tr->history,
                        (size_t)(cap * HIST_COLUMNS) * sizeof *h);
    if (h == NULL) return kubo_error_set(KUBO_ENOMEM, "score: out of "
                                         "memory");
    tr->history = h;
    tr->hist_cap = cap;
  }
  memcpy(tr->history + tr->hist_rows * HIST_COLUMNS, row,
         HIST_COLUMNS * sizeof *row);
  tr->hist_rows++;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** One step and the test loss
** ------------------------------------------------------------------- */

typedef struct work {
  int64_t rows;             /* capacity in samples */
  kubo_tensor x0, z, xt;    /* (rows, dim) float32 */
  kubo_tensor sigma;        /* (rows) float64 */
  kubo_tensor dout;         /* (rows, dim) float32 */
  int64_t *idx;
} work;


static void work_free(work *w) {
  kubo_tensor_release(&w->x0);
  kubo_tensor_release(&w->z);
  kubo_tensor_release(&w->xt);
  kubo_tensor_release(&w->sigma);
  kubo_tensor_release(&w->dout);
  free(w->idx);
  memset(w, 0, sizeof *w);
}


static kubo_status work_init(work *w, int64_t rows, int64_t dim) {
  int64_t shape[2] = {rows, dim};
  kubo_status st;
  memset(w, 0, sizeof *w);
  w->rows = rows;
  if ((st = kubo_tensor_init(&w->x0, KUBO_FLOAT32, 2, shape)) != KUBO_OK ||
      (st = kubo_tensor_init(&w->z, KUBO_FLOAT32, 2, shape)) != KUBO_OK ||
      (st = kubo_tensor_init(&w->xt, KUBO_FLOAT32, 2, shape)) != KUBO_OK ||
      (st = kubo_tensor_init(&w->dout, KUBO_FLOAT32, 2, shape)) !=
        KUBO_OK ||
      (st = kubo_tensor_init(&w->sigma, KUBO_FLOAT64, 1, shape)) !=
        KUBO_OK) {
    work_free(w);
    return st;
  }
  w->idx = malloc((size_t)rows * sizeof *w->idx);
  if (w->idx == NULL) {
    work_free(w);
    return kubo_error_set(KUBO_ENOMEM, "score: out of memory");
  }
  return KUBO_OK;
}


/* x_t = x0 + sigma z for the first n rows of w. */
static void noise_inputs(work *w, int64_t n, int64_t dim) {
  const float *x0 = w->x0.data, *z = w->z.data;
  const double *sigma = w->sigma.data;
  float *xt = w->xt.data;
  #pragma omp parallel for schedule(static) if (n * dim >= 65536)
  for (int64_t b = 0; b < n; b++) {
    float s = (float)sigma[b];
    for (int64_t i = b * dim; i < (b + 1) * dim; i++)
      xt[i] = x0[i] + s * z[i];
  }
}


/* Makes views of the first n rows of the work tensors. */
static kubo_status work_views(work *w, int64_t n, kubo_tensor *xt,
                              kubo_tensor *sigma, kubo_tensor *dout) {
  kubo_status st = kubo_tensor_narrow(xt, &w->xt, 0, 0, n);
  if (st == KUBO_OK) st = kubo_tensor_narrow(sigma, &w->sigma, 0, 0, n);
  if (st == KUBO_OK && dout != NULL)
    st = kubo_tensor_narrow(dout, &w->dout, 0, 0, n);
  return st;
}


/* Narrows the batch views to rows lo .. lo + rows - 1, the rows of this
** MPI rank (data parallelism, kubo/mpi.h). */
static kubo_status narrow_to_rows(kubo_tensor *xt, kubo_tensor *sigma,
                                  kubo_tensor *dout, int64_t lo,
                                  int64_t rows) {
  kubo_tensor *views[3] = {xt, sigma, dout};
  for (int k = 0; k < 3; k++) {
    kubo_tensor part = {0};
    kubo_status st = kubo_tensor_narrow(&part, views[k], 0, lo, lo + rows);
    if (st != KUBO_OK) return st;
    kubo_tensor_release(views[k]);
    *views[k] = part;
  }
  return KUBO_OK;
}


/* One optimizer step on the samples w->idx[0..n-1]; *loss is the batch's
** mean loss per value. */
static kubo_status train_step(kubo_score_trainer *tr, kubo_score_data *data,
                              work *w, int64_t n, double *loss) {
  const kubo_score_config *c = &tr->cfg;
  kubo_tensor xt = {0}, sigma = {0}, dout = {0}, out = {0};
  kubo_rng rng;
  double *u = w->sigma.data, sum = 0;
  const float *z = w->z.data, *o;
  float *g = w->dout.data;
  float gscale = (float)(2.0 / ((double)n * (double)tr->dim));
  kubo_status st;

  st = kubo_score_data_gather(data, n, w->idx, c->scale, w->x0.data);
  if (st != KUBO_OK) return st;
  kubo_rng_init(&rng, c->seed, kubo_rng_substream(KUBO_SCORE_KEY_NOISE,
                                                  (uint64_t)tr->step));
  kubo_rng_uniform(&rng, u, n);
  for (int64_t b = 0; b < n; b++)
    u[b] = kubo_score_sigma(c->sigma_min, c->sigma_max,
                            c->t_low + (c->t_high - c->t_low) * u[b]);
  kubo_rng_normal_f32(&rng, w->z.data, n * tr->dim);
  noise_inputs(w, n, tr->dim);

  /* Data parallelism (kubo/mpi.h): with several MPI ranks every rank has
  ** drawn the noise of the whole batch but runs the network on its own
  ** rows lo .. lo + rows - 1 only, and the ranks add their loss sums and
  ** gradients, so that the step is the same on every rank. With one
  ** rank, lo = 0 and rows = n. */
  int64_t lo = 0, rows = n;
  kubo_mpi_batch_rows(n, &lo, &rows);
  st = work_views(w, n, &xt, &sigma, &dout);
  if (st == KUBO_OK && rows < n && rows > 0)
    st = narrow_to_rows(&xt, &sigma, &dout, lo, rows);
  if (st == KUBO_OK && rows > 0)
    st = score_net_forward(tr->net, tr->flatten, tr->frame_ndim,
                           tr->frame_shape, tr->dim, &xt, &sigma, &out);
  if (st == KUBO_OK) {
    const double *sg = w->sigma.data;
    o = out.data;
    for (int64_t b = lo; b < lo + rows; b++) {
      float m = (float)score_output_factor(c, sg[b]);
      for (int64_t i = b * tr->dim; i < (b + 1) * tr->dim; i++) {
        float r = z[i] + m * o[i - lo * tr->dim];
        sum += (double)r * (double)r;
        g[i] = gscale * m * r;
      }
    }
    st = kubo_mpi_allreduce_f64(&sum, 1, KUBO_MPI_SUM);
  }
  if (st == KUBO_OK) {
    *loss = sum / ((double)n * (double)tr->dim);
    if (!isfinite(*loss))
      st = kubo_error_set(KUBO_ENUMERIC, "score.train: the loss is %g at "
                          "step %lld (epoch %lld); lower the learning rate "
                          "or check the data scale", *loss,
                          (long long)tr->step + 1,
                          (long long)tr->epoch + 1);
  }
  if (st == KUBO_OK) {
    /* backward wants the gradient in the network's output shape */
    kubo_tensor dshaped = {0};
    int64_t shape[5];
    int ndim = score_net_shape(tr->flatten, tr->frame_ndim, tr->frame_shape,
                               tr->dim, rows, shape);
    kubo_nn_zero_grad(tr->net);
    if (rows > 0) {
      st = kubo_tensor_reshape(&dshaped, &dout, ndim, shape);
      if (st == KUBO_OK) st = kubo_nn_backward(tr->net, &dshaped, 1, NULL);
    }
    kubo_tensor_release(&dshaped);
    if (st == KUBO_OK) st = kubo_mpi_reduce_gradients(tr->net);
  }
  if (st == KUBO_OK) {
    st = kubo_optim_step(tr->opt);
    if (st != KUBO_OK)
      kubo_error_prefix(st, "score.train: step %lld (epoch %lld)",
                        (long long)tr->step + 1, (long long)tr->epoch + 1);
  }
  if (st == KUBO_OK && tr->ema != NULL) kubo_ema_update(tr->ema);
  kubo_tensor_release(&out);
  kubo_tensor_release(&xt);
  kubo_tensor_release(&sigma);
  kubo_tensor_release(&dout);
  return st;
}


/* The loss of the EMA weights on the test set, with noise fixed per test
** sample so that epochs compare. */
static kubo_status test_loss(kubo_score_trainer *tr, kubo_score_data *data,
                             work *w, double *loss) {
  const kubo_score_config *c = &tr->cfg;
  double sum = 0;
  kubo_status st = score_trainer_sync_eval(tr);
  for (int64_t first = 0; first < tr->ntest && st == KUBO_OK;
       first += w->rows) {
    int64_t n = tr->ntest - first < w->rows ? tr->ntest - first : w->rows;
    kubo_tensor xt = {0}, sigma = {0}, out = {0};
    double *s = w->sigma.data;
    for (int64_t b = 0; b < n; b++)
      w->idx[b] = tr->order[tr->ntrain + first + b];
    st = kubo_score_data_gather(data, n, w->idx, c->scale, w->x0.data);
    for (int64_t b = 0; b < n && st == KUBO_OK; b++) {
      kubo_rng rng;
      double t;
      kubo_rng_init(&rng, c->seed, kubo_rng_substream(
                      KUBO_SCORE_KEY_TEST, (uint64_t)(first + b)));
      t = c->t_low + (c->t_high - c->t_low) * kubo_rng_uniform1(&rng);
      s[b] = kubo_score_sigma(c->sigma_min, c->sigma_max, t);
      kubo_rng_normal_f32(&rng, (float *)w->z.data + b * tr->dim, tr->dim);
    }
    if (st == KUBO_OK) {
      noise_inputs(w, n, tr->dim);
      st = work_views(w, n, &xt, &sigma, NULL);
    }
    if (st == KUBO_OK)
      st = score_net_forward(tr->eval, tr->flatten, tr->frame_ndim,
                             tr->frame_shape, tr->dim, &xt, &sigma, &out);
    if (st == KUBO_OK) {
      const float *z = w->z.data, *o = out.data;
      for (int64_t b = 0; b < n; b++) {
        double m = score_output_factor(c, s[b]);
        for (int64_t i = b * tr->dim; i < (b + 1) * tr->dim; i++) {
          double r = (double)z[i] + m * (double)o[i];
          sum += r * r;
        }
      }
    }
    kubo_tensor_release(&out);
    kubo_tensor_release(&xt);
    kubo_tensor_release(&sigma);
  }
  kubo_nn_release_activations(tr->eval);
  if (st == KUBO_OK) *loss = sum / ((double)tr->ntest * (double)tr->dim);
  return st;
}


/* ---------------------------------------------------------------------
** The training loop
** ------------------------------------------------------------------- */

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


/* Writes the checkpoint if one is configured. */
static kubo_status write_checkpoint(kubo_score_trainer *tr) {
  if (tr->checkpoint == NULL) return KUBO_OK;
  return kubo_score_trainer_save(tr, tr->checkpoint);
}


/* Ends the current epoch (or, if partial, the run inside it): test loss,
** history row, progress call and checkpoint. */
static kubo_status end_epoch(kubo_score_trainer *tr, kubo_score_data *data,
                             work *ew, bool partial, double epoch_start,
                             double run_start, int64_t run_first_step,
                             int64_t epoch_samples,
                             kubo_score_progress_fn progress,
                             void *userdata) {
  kubo_score_progress p;
  double row[HIST_COLUMNS], elapsed = now_seconds() - epoch_start;
  int64_t total = kubo_score_trainer_total_steps(tr);
  int64_t run_steps = tr->step - run_first_step;
  kubo_status st = KUBO_OK;

  memset(&p, 0, sizeof p);
  p.epoch = tr->epoch + 1;
  p.epochs = (total + tr->batches_per_epoch - 1) / tr->batches_per_epoch;
  p.step = tr->step;
  p.steps = total;
  p.train_loss = tr->loss_count > 0 ? tr->loss_sum / (double)tr->loss_count
                                    : NAN;
  p.test_loss = NAN;
  if (tr->ntest > 0) st = test_loss(tr, data, ew, &p.test_loss);
  if (st != KUBO_OK) return st;
  p.samples_per_second = elapsed > 0 ? (double)epoch_samples / elapsed : 0;
  p.eta_seconds = run_steps > 0 ? (now_seconds() - run_start) /
                    (double)run_steps * (double)(total - tr->step) : 0;
  p.partial = partial;

  row[HIST_EPOCH] = partial ? (double)tr->epoch + (double)tr->batch_pos /
                                (double)tr->batches_per_epoch
                            : (double)(tr->epoch + 1);
  row[HIST_TRAIN] = p.train_loss;
  row[HIST_TEST] = p.test_loss;
  row[HIST_STEP] = (double)tr->step;
  row[HIST_PARTIAL] = partial ? 1 : 0;
  st = score_history_push(tr, row);
  if (st != KUBO_OK) return st;

  if (!partial) {
    tr->epoch++;
    tr->batch_pos = 0;
    tr->loss_sum = 0;
    tr->loss_count = 0;
  }
  if (progress != NULL) {
    st = progress(&p, userdata);
    if (st != KUBO_OK) return st;
  }
  if (tr->step >= total ||
      (!partial && tr->cfg.checkpoint_every > 0 &&
       tr->epoch % tr->cfg.checkpoint_every == 0))
    st = write_checkpoint(tr);
  return st;
}


kubo_status kubo_score_trainer_run(kubo_score_trainer *tr,
                                   kubo_score_data *data,
                                   kubo_score_progress_fn progress,
                                   void *userdata) {
  int64_t total = kubo_score_trainer_total_steps(tr);
  int64_t run_first_step = tr->step, epoch_samples = 0;
  double run_start = now_seconds(), epoch_start = run_start;
  work w, ew;
  kubo_status st;

  if (kubo_score_data_count(data) != tr->count || data->dim != tr->dim)
    return kubo_error_set(KUBO_EINVAL, "score.train: the data have %lld "
                          "samples of %lld values, but the model was set "
                          "up for %lld samples of %lld values",
                          (long long)kubo_score_data_count(data),
                          (long long)data->dim, (long long)tr->count,
                          (long long)tr->dim);
  if (tr->step >= total) return KUBO_OK;
  /* a partial epoch ended the last run; it continues now */
  if (tr->hist_rows > 0 &&
      tr->history[(tr->hist_rows - 1) * HIST_COLUMNS + HIST_PARTIAL] != 0)
    tr->hist_rows--;

  st = work_init(&w, tr->batch, tr->dim);
  if (st != KUBO_OK) return st;
  st = work_init(&ew, tr->cfg.eval_batch, tr->dim);
  if (st != KUBO_OK) {
    work_free(&w);
    return st;
  }

  while (tr->step < total && st == KUBO_OK) {
    int64_t first = tr->batch_pos * tr->batch, n;
    double loss = 0;
    st = kubo_interrupt_check("score.train");
    if (st != KUBO_OK) {
      kubo_status cst = write_checkpoint(tr);
      if (cst != KUBO_OK) st = cst;
      break;
    }
    if (tr->perm_epoch != tr->epoch) {
      score_permutation(tr->cfg.seed, KUBO_SCORE_KEY_SHUFFLE,
                        (uint64_t)tr->epoch, tr->ntrain, tr->perm);
      tr->perm_epoch = tr->epoch;
    }
    n = tr->ntrain - first < tr->batch ? tr->ntrain - first : tr->batch;
    for (int64_t b = 0; b < n; b++) w.idx[b] = tr->order[tr->perm[first + b]];
    st = train_step(tr, data, &w, n, &loss);
    if (st != KUBO_OK) break;
    tr->step++;
    tr->batch_pos++;
    tr->loss_sum += loss * (double)n;
    tr->loss_count += n;
    epoch_samples += n;
    if (tr->batch_pos == tr->batches_per_epoch || tr->step == total) {
      bool partial = tr->batch_pos < tr->batches_per_epoch;
      st = end_epoch(tr, data, &ew, partial, epoch_start, run_start,
                     run_first_step, epoch_samples, progress, userdata);
      epoch_start = now_seconds();
      epoch_samples = 0;
    }
  }
  kubo_nn_release_activations(tr->net);
  work_free(&ew);
  work_free(&w);
  return st;
}
