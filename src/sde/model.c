/*
** model.c: creation, parameters and batched evaluation of the models;
** the kinds themselves are in model_spde.c, model_ns.c and
** model_vector.c.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kubo/alloc.h"
#include "model_impl.h"

/* Batches of at least this many values are evaluated in parallel. */
enum { PARALLEL_MIN = 1 << 14 };

static const model_ops *const kinds[] = {
  &sde_ou_ops, &sde_allen_cahn_ops, &sde_ns_ops, &sde_double_well_ops,
  &sde_linear_ops, &sde_custom_ops, NULL
};


/* ---------------------------------------------------------------------
** Failures of parallel tasks
** ------------------------------------------------------------------- */

void sde_failure_init(sde_failure *f) {
  f->status = KUBO_OK;
  f->index = -1;
  f->message[0] = '\0';
}


void sde_failure_record(sde_failure *f, kubo_status status, int64_t index) {
  #pragma omp critical(kubo_sde_failure)
  {
    if (f->status == KUBO_OK || index < f->index) {
      f->status = status;
      f->index = index;
      snprintf(f->message, sizeof f->message, "%s", kubo_error_message());
    }
  }
}


kubo_status sde_failure_raise(const sde_failure *f) {
  return kubo_error_set(f->status, "%s", f->message);
}


/* ---------------------------------------------------------------------
** Creation and parameters
** ------------------------------------------------------------------- */

static const model_ops *find_kind(const char *kind) {
  for (int i = 0; kinds[i] != NULL; i++)
    if (strcmp(kinds[i]->kind, kind) == 0) return kinds[i];
  return NULL;
}


kubo_status kubo_model_new(kubo_model **out, const char *kind,
                           kubo_grid *grid) {
  *out = NULL;
  const model_ops *ops = find_kind(kind != NULL ? kind : "");
  if (ops == NULL)
    return kubo_error_set(KUBO_EINVAL, "model: unknown kind '%s' (expected "
                          "ou, allen_cahn, navier_stokes, double_well, "
                          "linear or sde)", kind != NULL ? kind : "(null)");

  if (ops->spectral && grid != NULL) {
    int need = ops == &sde_ns_ops ? 2 : 0;
    if (need && kubo_grid_ndim(grid) != need)
      return kubo_error_set(KUBO_EINVAL, "%s: the grid must be 2-D (got "
                            "%d-D)", ops->kind, kubo_grid_ndim(grid));
  }

  kubo_model *m = kubo_calloc(sizeof *m);
  if (m == NULL)
    return kubo_error_set(KUBO_ENOMEM, "%s: out of memory", ops->kind);
  m->refcount = 1;
  m->ops = ops;
  while (ops->param_names[m->nparams] != NULL) m->nparams++;

  if (ops->spectral) {
    if (grid != NULL) {
      m->grid = kubo_grid_retain(grid);
    } else {
      int64_t n[2] = {32, 32};
      kubo_status status = kubo_grid_new(&m->grid, 2, n, NULL,
                                         KUBO_NYQUIST_ZERO_K);
      if (status != KUBO_OK) {
        kubo_free(m, sizeof *m);
        return status;
      }
    }
  }
  ops->defaults(m);
  *out = m;
  return KUBO_OK;
}


static int param_index(const kubo_model *m, const char *name) {
  for (int i = 0; i < m->nparams; i++)
    if (strcmp(m->ops->param_names[i], name) == 0) return i;
  return -1;
}


/* Writes the comma-separated parameter names into buf. */
static const char *param_list(const kubo_model *m, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < m->nparams && used < n; i++)
    used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "",
                             m->ops->param_names[i]);
  if (m->nparams == 0) snprintf(buf, n, "none");
  return buf;
}


double sde_param(const kubo_model *m, const char *name) {
  int i = param_index(m, name);
  return i >= 0 ? m->params[i] : NAN;
}


kubo_status kubo_model_set(kubo_model *m, const char *name, double value) {
  char list[512];
  if (m->ready)
    return kubo_error_set(KUBO_ESTATE, "%s: parameters cannot change "
                          "after the model is in use (set '%s' before)",
                          m->ops->kind, name);
  int i = param_index(m, name);
  if (i < 0)
    return kubo_error_set(KUBO_EINVAL, "%s: unknown parameter '%s' "
                          "(parameters: %s)", m->ops->kind, name,
                          param_list(m, list, sizeof list));
  if (!isfinite(value))
    return kubo_error_set(KUBO_EINVAL, "%s: parameter '%s' must be a "
                          "finite number (got %g)", m->ops->kind, name,
                          value);
  m->params[i] = value;
  return KUBO_OK;
}


kubo_status kubo_model_get(const kubo_model *m, const char *name,
                           double *value) {
  char list[512];
  int i = param_index(m, name);
  if (i < 0)
    return kubo_error_set(KUBO_EINVAL, "%s: unknown parameter '%s' "
                          "(parameters: %s)", m->ops->kind, name,
                          param_list(m, list, sizeof list));
  *value = m->params[i];
  return KUBO_OK;
}


static int array_slot(const kubo_model *m, const char *name) {
  const char *const *names = m->ops->array_names;
  for (int i = 0; names != NULL && names[i] != NULL; i++)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}


kubo_status kubo_model_set_array(kubo_model *m, const char *name,
                                 const kubo_tensor *value) {
  if (m->ready)
    return kubo_error_set(KUBO_ESTATE, "%s: parameters cannot change "
                          "after the model is in use (set '%s' before)",
                          m->ops->kind, name);
  int i = array_slot(m, name);
  if (i < 0)
    return kubo_error_set(KUBO_EINVAL, "%s: unknown array parameter '%s'",
                          m->ops->kind, name);
  if (kubo_tensor_is_empty(value))
    return kubo_error_set(KUBO_EINVAL, "%s: array '%s' is empty or freed",
                          m->ops->kind, name);

  kubo_tensor copy = {0};
  kubo_status status = kubo_tensor_clone(&copy, value, KUBO_FLOAT64);
  if (status != KUBO_OK) return status;
  int64_t n = kubo_tensor_numel(&copy);
  for (int64_t j = 0; j < n; j++) {
    double v = ((double *)copy.data)[j];
    if (!isfinite(v)) {
      kubo_tensor_release(&copy);
      return kubo_error_set(KUBO_EINVAL, "%s: array '%s' has a non-finite "
                            "value (%g at element %lld)", m->ops->kind,
                            name, v, (long long)j + 1);
    }
  }
  kubo_tensor_release(&m->arrays[i].value);
  m->arrays[i].name = m->ops->array_names[i];
  m->arrays[i].value = copy;
  return KUBO_OK;
}


const kubo_tensor *sde_array(const kubo_model *m, const char *name) {
  int i = array_slot(m, name);
  if (i < 0 || kubo_tensor_is_empty(&m->arrays[i].value)) return NULL;
  return &m->arrays[i].value;
}


const kubo_tensor *kubo_model_array(const kubo_model *m, const char *name) {
  return sde_array(m, name);
}


kubo_status kubo_model_set_drift(kubo_model *m, kubo_model_drift_fn fn,
                                 void *userdata) {
  if (m->ops != &sde_custom_ops)
    return kubo_error_set(KUBO_EINVAL, "%s: only an sde model takes a "
                          "drift function", m->ops->kind);
  if (m->ready)
    return kubo_error_set(KUBO_ESTATE, "sde: the drift cannot change after "
                          "the model is in use");
  m->drift_fn = fn;
  m->drift_userdata = userdata;
  return KUBO_OK;
}


kubo_status kubo_model_ready(kubo_model *m) {
  if (m->ready) return KUBO_OK;
  kubo_status status = m->ops->ready(m);
  if (status == KUBO_OK) {
    m->ready = 1;
    return status;
  }
  /* Drop partial tables so that a corrected model can be made ready. */
  if (m->ops->destroy != NULL) m->ops->destroy(m);
  if (m->ops->spectral) sde_spectral_free(m);
  return status;
}


kubo_model *kubo_model_retain(kubo_model *m) {
  __atomic_add_fetch(&m->refcount, 1, __ATOMIC_RELAXED);
  return m;
}


void kubo_model_release(kubo_model *m) {
  if (m == NULL) return;
  if (__atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
  if (m->ops->destroy != NULL) m->ops->destroy(m);
  if (m->ops->spectral) sde_spectral_free(m);
  for (int i = 0; i < SDE_MAX_ARRAYS; i++)
    kubo_tensor_release(&m->arrays[i].value);
  kubo_grid_release(m->grid);
  kubo_free(m, sizeof *m);
}


/* ---------------------------------------------------------------------
** Queries
** ------------------------------------------------------------------- */

const char *kubo_model_kind(const kubo_model *m) { return m->ops->kind; }

kubo_grid *kubo_model_grid(const kubo_model *m) { return m->grid; }

int64_t kubo_model_dim(const kubo_model *m) {
  if (m->grid != NULL) return kubo_grid_real_size(m->grid);
  return m->dim;
}


int kubo_model_state_shape(const kubo_model *m, int64_t *shape) {
  if (m->grid != NULL) return kubo_grid_real_shape(m->grid, shape);
  shape[0] = m->dim;
  return 1;
}


int64_t kubo_model_hidden_size(const kubo_model *m) {
  return m->hidden_size;
}

int kubo_model_param_count(const kubo_model *m) { return m->nparams; }

const char *kubo_model_param_name(const kubo_model *m, int i) {
  return i >= 0 && i < m->nparams ? m->ops->param_names[i] : NULL;
}

double kubo_model_param_value(const kubo_model *m, int i) {
  return i >= 0 && i < m->nparams ? m->params[i] : NAN;
}

double kubo_model_default_dt(const kubo_model *m) {
  return m->ops->default_dt(m);
}

int kubo_model_has_score(const kubo_model *m) {
  return m->ready && m->has_score;
}

int kubo_model_is_serial(const kubo_model *m) { return m->serial; }


/* ---------------------------------------------------------------------
** Batched evaluation
** ------------------------------------------------------------------- */

static kubo_status require_ready(const kubo_model *m, const char *what) {
  if (m->ready) return KUBO_OK;
  return kubo_error_set(KUBO_ESTATE, "%s: the model is not ready (call "
                        "kubo_model_ready before %s)", m->ops->kind, what);
}


kubo_status kubo_model_drift(const kubo_model *m, int64_t count,
                             const double *u, const double *hidden,
                             double *out) {
  kubo_status status = require_ready(m, "the drift");
  if (status != KUBO_OK) return status;
  if (count < 0)
    return kubo_error_set(KUBO_EINVAL, "%s: count must be >= 0 (got %lld)",
                          m->ops->kind, (long long)count);

  int64_t S = sde_pad(m->state_size), C = sde_codec_work(m);
  int64_t Hd = sde_pad(m->hidden_size);
  int64_t W = 2 * S + Hd + C + sde_pad(m->work_size);
  int64_t D = m->dim;
  int parallel = !m->serial && count > 1 && count * D >= PARALLEL_MIN;
  sde_failure failure;
  sde_failure_init(&failure);

  #pragma omp parallel if (parallel)
  {
    double *work = sde_work_alloc(W);
    if (work == NULL) sde_failure_record(&failure, KUBO_ENOMEM, -1);
    else memset(work, 0, (size_t)W * sizeof(double));

    #pragma omp for schedule(static)
    for (int64_t j = 0; j < count; j++) {
      if (work == NULL) continue;
      double *x = work, *f = work + S, *zeros = work + 2 * S;
      double *codec = zeros + Hd, *dwork = codec + C;
      const double *h = hidden != NULL ? hidden + j * m->hidden_size
                                       : zeros;
      sde_encode(m, u + j * D, x, codec);
      kubo_status s = m->ops->drift(m, x, m->hidden_size ? h : NULL, 1, f,
                                    dwork);
      if (s != KUBO_OK) {
        sde_failure_record(&failure, s, j);
        continue;
      }
      sde_decode(m, f, out + j * D, codec);
    }
    sde_work_free(work, W);
  }
  if (failure.status == KUBO_ENOMEM && failure.index < 0)
    return kubo_error_set(KUBO_ENOMEM, "%s: out of memory for drift work "
                          "arrays", m->ops->kind);
  if (failure.status != KUBO_OK) return sde_failure_raise(&failure);
  return KUBO_OK;
}


kubo_status kubo_model_score(const kubo_model *m, int64_t count,
                             const double *u, double *out) {
  kubo_status status = require_ready(m, "the score");
  if (status != KUBO_OK) return status;
  if (m->ops->score == NULL)
    return kubo_error_set(KUBO_EINVAL, "%s: the model has no analytic "
                          "score", m->ops->kind);
  if (!m->has_score)
    return kubo_error_set(KUBO_EINVAL, "%s: no analytic score for these "
                          "parameters (%s)", m->ops->kind, m->score_note);
  if (count < 0)
    return kubo_error_set(KUBO_EINVAL, "%s: count must be >= 0 (got %lld)",
                          m->ops->kind, (long long)count);
  return m->ops->score(m, count, u, out);
}
