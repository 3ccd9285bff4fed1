/*
** score_eval.c: score objects (learned, analytic, Gaussian) evaluated
** batch by batch over samples with any leading dimensions.
*/
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kubo/alloc.h"
#include "score_internal.h"


const char *kubo_score_kind_name(kubo_score_kind kind) {
  switch (kind) {
    case KUBO_SCORE_NETWORK: return "network";
    case KUBO_SCORE_ANALYTIC: return "analytic";
    case KUBO_SCORE_GAUSSIAN: return "gaussian";
  }
  return "unknown";
}


kubo_score_kind kubo_score_get_kind(const kubo_score *s) { return s->kind; }


int kubo_score_frame_shape(const kubo_score *s, int64_t *shape) {
  for (int i = 0; i < s->frame_ndim; i++) shape[i] = s->frame_shape[i];
  return s->frame_ndim;
}


kubo_score_trainer *kubo_score_get_trainer(const kubo_score *s) {
  return s->tr;
}


double kubo_score_scale(const kubo_score *s) {
  return s->kind == KUBO_SCORE_NETWORK ? s->tr->cfg.scale : 1.0;
}


kubo_status kubo_score_schedule(const kubo_score *s, double *sigma_min,
                                double *sigma_max, double *t_low,
                                double *t_high) {
  if (s->kind == KUBO_SCORE_NETWORK) {
    *sigma_min = s->tr->cfg.sigma_min;
    *sigma_max = s->tr->cfg.sigma_max;
    *t_low = s->tr->cfg.t_low;
    *t_high = s->tr->cfg.t_high;
    return KUBO_OK;
  }
  if (s->kind == KUBO_SCORE_GAUSSIAN) {
    *sigma_min = 0.01;
    *sigma_max = s->sigma_max;
    *t_low = 0;
    *t_high = 1;
    return KUBO_OK;
  }
  return kubo_error_set(KUBO_EINVAL, "score: an analytic score has no noise "
                        "schedule");
}


void kubo_score_free(kubo_score *s) {
  if (s == NULL) return;
  kubo_score_trainer_free(s->tr);
  kubo_model_release(s->model);
  kubo_grid_release(s->grid);
  free(s->mean);
  free(s->eig);
  free(s->vec);
  free(s);
}


static kubo_score *score_alloc(kubo_score_kind kind) {
  kubo_score *s = calloc(1, sizeof *s);
  if (s == NULL) {
    kubo_error_set(KUBO_ENOMEM, "score: out of memory");
    return NULL;
  }
  s->kind = kind;
  s->synced_step = -1;
  return s;
}


/* ---------------------------------------------------------------------
** Constructors
** ------------------------------------------------------------------- */

kubo_status kubo_score_from_trainer(kubo_score **out,
                                    kubo_score_trainer *tr) {
  kubo_score *s;
  *out = NULL;
  s = score_alloc(KUBO_SCORE_NETWORK);
  if (s == NULL) {
    kubo_score_trainer_free(tr);
    return KUBO_ENOMEM;
  }
  s->tr = tr;
  s->frame_ndim = tr->frame_ndim;
  for (int i = 0; i < tr->frame_ndim; i++)
    s->frame_shape[i] = tr->frame_shape[i];
  s->dim = tr->dim;
  *out = s;
  return KUBO_OK;
}


kubo_status kubo_score_load(kubo_score **out, const char *path) {
  kubo_score_trainer *tr = NULL;
  kubo_status st = kubo_score_trainer_load(&tr, path);
  *out = NULL;
  if (st != KUBO_OK) return st;
  return kubo_score_from_trainer(out, tr);
}


kubo_status kubo_score_analytic(kubo_score **out, kubo_model *m,
                                double scale) {
  kubo_score *s;
  int64_t shape[KUBO_MAX_DIM];
  int ndim;
  kubo_status st;
  *out = NULL;
  if (!(scale > 0) || !isfinite(scale))
    return kubo_error_set(KUBO_EINVAL, "score.analytic: scale must be "
                          "positive and finite (got %g)", scale);
  st = kubo_model_ready(m);
  if (st != KUBO_OK) return kubo_error_prefix(st, "score.analytic");
  if (!kubo_model_has_score(m))
    return kubo_error_set(KUBO_EINVAL, "score.analytic: the %s model has no "
                          "analytic score", kubo_model_kind(m));
  ndim = kubo_model_state_shape(m, shape);
  if (ndim < 1 || ndim > KUBO_SCORE_MAX_FRAME_DIM)
    return kubo_error_set(KUBO_EINVAL, "score.analytic: the %s model's "
                          "state has %d dimensions, expected 1 to %d",
                          kubo_model_kind(m), ndim,
                          KUBO_SCORE_MAX_FRAME_DIM);
  s = score_alloc(KUBO_SCORE_ANALYTIC);
  if (s == NULL) return KUBO_ENOMEM;
  s->model = kubo_model_retain(m);
  s->model_scale = scale;
  s->frame_ndim = ndim;
  s->dim = 1;
  for (int i = 0; i < ndim; i++) {
    s->frame_shape[i] = shape[i];
    s->dim *= shape[i];
  }
  *out = s;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Batches
** ------------------------------------------------------------------- */

/* Checks that x ends in the sample shape of s and sets *n to the number
** of samples. */
static kubo_status check_input(const kubo_score *s, const kubo_tensor *x,
                               int64_t *n) {
  char got[128], want[128];
  bool fits = !kubo_tensor_is_empty(x) && x->ndim >= s->frame_ndim;
  for (int i = 0; fits && i < s->frame_ndim; i++)
    fits = x->shape[x->ndim - s->frame_ndim + i] == s->frame_shape[i];
  if (kubo_tensor_is_empty(x))
    return kubo_error_set(KUBO_ESTATE, "score: the input tensor is empty or "
                          "freed");
  if (!fits) {
    kubo_tensor frame = {0};
    frame.ndim = s->frame_ndim;
    for (int i = 0; i < s->frame_ndim; i++) frame.shape[i] = s->frame_shape[i];
    kubo_tensor_shape_string(x, got, sizeof got);
    kubo_tensor_shape_string(&frame, want, sizeof want);
    return kubo_error_set(KUBO_EINVAL, "score: input has shape %s, expected "
                          "(..., %s) ending in the sample shape %s of the "
                          "%s score", got, want + 1, want,
                          kubo_score_kind_name(s->kind));
  }
  *n = kubo_tensor_numel(x) / (s->dim > 0 ? s->dim : 1);
  return KUBO_OK;
}


static kubo_status sync_network(kubo_score *s) {
  kubo_status st;
  if (s->synced_step == s->tr->step) return KUBO_OK;
  st = score_trainer_sync_eval(s->tr);
  if (st == KUBO_OK) s->synced_step = s->tr->step;
  return st;
}


/* Network scores of n samples y in network units at one noise level. */
static kubo_status chunk_network(kubo_score *s, int64_t n, const double *y,
                                 double sigma, double *out) {
  kubo_score_trainer *tr = s->tr;
  kubo_tensor yt = {0}, st_sigma = {0}, res = {0};
  int64_t shape[2] = {n, s->dim}, one[1] = {1};
  kubo_status st = kubo_tensor_init(&yt, KUBO_FLOAT32, 2, shape);
  if (st == KUBO_OK) st = kubo_tensor_init(&st_sigma, KUBO_FLOAT64, 1, one);
  if (st == KUBO_OK) {
    float *f = yt.data;
    for (int64_t i = 0; i < n * s->dim; i++) f[i] = (float)y[i];
    ((double *)st_sigma.data)[0] = sigma;
    st = score_net_forward(tr->eval, tr->flatten, tr->frame_ndim,
                           tr->frame_shape, tr->dim, &yt, &st_sigma, &res);
  }
  if (st == KUBO_OK) {
    const float *o = res.data;
    double k = score_output_factor(&tr->cfg, sigma) / sigma;
    for (int64_t i = 0; i < n * s->dim; i++) out[i] = (double)o[i] * k;
  }
  kubo_tensor_release(&res);
  kubo_tensor_release(&st_sigma);
  kubo_tensor_release(&yt);
  return st;
}


static kubo_status chunk_analytic(kubo_score *s, int64_t n, const double *y,
                                  double *out, double *work) {
  double a = s->model_scale;
  kubo_status st;
  for (int64_t i = 0; i < n * s->dim; i++) work[i] = y[i] / a;
  st = kubo_model_score(s->model, n, work, out);
  if (st != KUBO_OK) return kubo_error_prefix(st, "score.analytic");
  for (int64_t i = 0; i < n * s->dim; i++) out[i] /= a;
  return KUBO_OK;
}


kubo_status score_eval_units(kubo_score *s, int64_t n, const double *y,
                             double sigma, double *out) {
  int64_t rows = s->kind == KUBO_SCORE_NETWORK ? s->tr->cfg.eval_batch
                                                : 1024;
  double *work = NULL;
  size_t wbytes = 0;
  kubo_status st = KUBO_OK;
  if (s->kind == KUBO_SCORE_NETWORK) st = sync_network(s);
  if (st == KUBO_OK && s->kind != KUBO_SCORE_NETWORK) {
    wbytes = (size_t)((rows < n ? rows : n) * s->dim) * sizeof(double);
    work = kubo_alloc(wbytes);
    if (work == NULL) st = KUBO_ENOMEM;
  }
  for (int64_t first = 0; first < n && st == KUBO_OK; first += rows) {
    int64_t m = n - first < rows ? n - first : rows;
    const double *yb = y + first * s->dim;
    double *ob = out + first * s->dim;
    switch (s->kind) {
      case KUBO_SCORE_NETWORK:
        st = chunk_network(s, m, yb, sigma, ob);
        break;
      case KUBO_SCORE_ANALYTIC:
        st = chunk_analytic(s, m, yb, ob, work);
        break;
      case KUBO_SCORE_GAUSSIAN:
        st = score_gaussian_chunk(s, m, yb, sigma, ob, work);
        break;
    }
  }
  if (s->kind == KUBO_SCORE_NETWORK) kubo_nn_release_activations(s->tr->eval);
  kubo_free(work, wbytes);
  return st;
}


/* Evaluates at sigma (network units): x in data units is converted to
** y = scale x and the score back to data units. */
static kubo_status eval_common(kubo_score *s, const kubo_tensor *x,
                               double sigma, kubo_tensor *out) {
  kubo_tensor xc = {0}, res = {0};
  double scale = kubo_score_scale(s);
  int64_t n = 0, block = 4096;
  double *y = NULL, *o = NULL;
  size_t bytes = 0;
  kubo_status st;
  memset(out, 0, sizeof *out);
  st = check_input(s, x, &n);
  if (st != KUBO_OK) return st;
  st = kubo_tensor_contiguous(&xc, x);
  if (st == KUBO_OK) st = kubo_tensor_init(&res, x->dtype, x->ndim, x->shape);
  if (st == KUBO_OK && n > 0) {
    if (block > n) block = n;
    bytes = (size_t)(block * s->dim) * sizeof(double);
    y = kubo_alloc(bytes);
    o = kubo_alloc(bytes);
    if (y == NULL || o == NULL) st = KUBO_ENOMEM;
  }
  for (int64_t first = 0; first < n && st == KUBO_OK; first += block) {
    int64_t m = n - first < block ? n - first : block;
    int64_t off = first * s->dim, count = m * s->dim;
    if (xc.dtype == KUBO_FLOAT64)
      for (int64_t i = 0; i < count; i++)
        y[i] = scale * ((const double *)xc.data)[off + i];
    else
      for (int64_t i = 0; i < count; i++)
        y[i] = scale * (double)((const float *)xc.data)[off + i];
    st = score_eval_units(s, m, y, sigma, o);
    if (st != KUBO_OK) break;
    if (res.dtype == KUBO_FLOAT64)
      for (int64_t i = 0; i < count; i++)
        ((double *)res.data)[off + i] = scale * o[i];
    else
      for (int64_t i = 0; i < count; i++)
        ((float *)res.data)[off + i] = (float)(scale * o[i]);
  }
  kubo_free(y, bytes);
  kubo_free(o, bytes);
  kubo_tensor_release(&xc);
  if (st != KUBO_OK) {
    kubo_tensor_release(&res);
    return st;
  }
  *out = res;
  return KUBO_OK;
}


kubo_status kubo_score_eval(kubo_score *s, const kubo_tensor *x,
                            kubo_tensor *out) {
  double sigma = s->kind == KUBO_SCORE_NETWORK ? s->tr->cfg.sigma_min : 0.0;
  return eval_common(s, x, sigma, out);
}


kubo_status kubo_score_eval_at(kubo_score *s, const kubo_tensor *x,
                               double sigma, kubo_tensor *out) {
  memset(out, 0, sizeof *out);
  if (!(sigma >= 0) || !isfinite(sigma))
    return kubo_error_set(KUBO_EINVAL, "score.at: sigma must be finite and "
                          ">= 0 (got %g)", sigma);
  if (s->kind == KUBO_SCORE_ANALYTIC && sigma > 0)
    return kubo_error_set(KUBO_EINVAL, "score.at: an analytic score is "
                          "known at sigma = 0 only (got sigma = %g)", sigma);
  if (s->kind == KUBO_SCORE_NETWORK && sigma <= 0)
    return kubo_error_set(KUBO_EINVAL, "score.at: a learned score needs "
                          "sigma > 0 (got %g); its smallest trained level "
                          "is sigma_min = %g", sigma, s->tr->cfg.sigma_min);
  return eval_common(s, x, sigma, out);
}
