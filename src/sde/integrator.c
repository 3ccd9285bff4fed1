/*
** integrator.c: creation, state and checkpoints of ensembles; their
** stepping is in integrator_step.c.
*/
#include <math.h>
#include <string.h>

#include "integrator_impl.h"
#include "kubo/alloc.h"

static const char *const method_names[] = {"euler_maruyama", "heun", "rk4"};
static const char *const draw_names[] = {"half", "full"};


int kubo_sim_method_parse(const char *name) {
  for (int i = 0; i < 3; i++)
    if (strcmp(name, method_names[i]) == 0) return i;
  return -1;
}


const char *kubo_sim_method_name(kubo_sim_method method) {
  return (unsigned)method < 3 ? method_names[method] : "?";
}


int kubo_noise_draw_parse(const char *name) {
  for (int i = 0; i < 2; i++)
    if (strcmp(name, draw_names[i]) == 0) return i;
  return -1;
}


const char *kubo_noise_draw_name(kubo_noise_draw draw) {
  return (unsigned)draw < 2 ? draw_names[draw] : "?";
}


void kubo_sim_options_default(kubo_sim_options *opt) {
  opt->method = KUBO_RK4;
  opt->dt = 0;
  opt->members = 1;
  opt->seed = 1234;
  opt->first_member = 0;
  opt->noise_draw = KUBO_NOISE_HALF;
}


/* ---------------------------------------------------------------------
** Creation
** ------------------------------------------------------------------- */

static void free_buffers(kubo_sim *s) {
  kubo_free(s->x, sde_buffer_bytes(s, s->S));
  kubo_free(s->xs, sde_buffer_bytes(s, s->S));
  kubo_free(s->h, sde_buffer_bytes(s, s->Hs));
  kubo_free(s->hs, sde_buffer_bytes(s, s->Hs));
  s->x = s->xs = s->h = s->hs = NULL;
}


static kubo_status check_options(const kubo_model *m,
                                 kubo_sim_options *opt) {
  if ((unsigned)opt->method > KUBO_RK4)
    return kubo_error_set(KUBO_EINVAL, "integrator: unknown method %d "
                          "(expected euler_maruyama, heun or rk4)",
                          (int)opt->method);
  if ((unsigned)opt->noise_draw > KUBO_NOISE_FULL)
    return kubo_error_set(KUBO_EINVAL, "integrator: unknown noise draw %d "
                          "(expected half or full)", (int)opt->noise_draw);
  if (opt->dt == 0) opt->dt = kubo_model_default_dt(m);
  if (opt->dt == 0)
    return kubo_error_set(KUBO_EINVAL, "integrator: dt is missing (the %s "
                          "model has no reference time step)",
                          kubo_model_kind(m));
  if (!(isfinite(opt->dt) && opt->dt > 0))
    return kubo_error_set(KUBO_EINVAL, "integrator: dt must be finite and "
                          "> 0 (got %g)", opt->dt);
  if (opt->members < 1)
    return kubo_error_set(KUBO_EINVAL, "integrator: members must be >= 1 "
                          "(got %lld)", (long long)opt->members);
  if (opt->first_member < 0)
    return kubo_error_set(KUBO_EINVAL, "integrator: first_member must be "
                          ">= 0 (got %lld)", (long long)opt->first_member);
  return KUBO_OK;
}


static kubo_status alloc_buffers(kubo_sim *s) {
  size_t xb, hb;
  if (!kubo_size_mul((size_t)s->members, (size_t)s->S * sizeof(double),
                     &xb) ||
      !kubo_size_mul((size_t)s->members, (size_t)s->Hs * sizeof(double),
                     &hb))
    return kubo_error_set(KUBO_EINVAL, "integrator: %lld members of %lld "
                          "values do not fit in memory",
                          (long long)s->members, (long long)s->S);
  s->x = kubo_calloc(xb);
  s->xs = kubo_calloc(xb);
  s->h = kubo_calloc(hb);
  s->hs = kubo_calloc(hb);
  if (s->x == NULL || s->xs == NULL || s->h == NULL || s->hs == NULL) {
    free_buffers(s);
    return kubo_error_set(KUBO_ENOMEM, "integrator: out of memory for %lld "
                          "members (%.3g MB)", (long long)s->members,
                          2.0 * (double)(xb + hb) / 1e6);
  }
  return KUBO_OK;
}


kubo_status kubo_sim_new(kubo_sim **out, kubo_model *m,
                         const kubo_sim_options *options) {
  *out = NULL;
  kubo_sim_options opt = *options;
  kubo_status status = kubo_model_ready(m);
  if (status != KUBO_OK) return status;
  if ((status = check_options(m, &opt)) != KUBO_OK) return status;

  kubo_sim *s = kubo_calloc(sizeof *s);
  if (s == NULL) return kubo_error_set(KUBO_ENOMEM, "integrator: out of "
                                       "memory");
  s->model = kubo_model_retain(m);
  s->opt = opt;
  s->members = opt.members;
  s->S = m->state_size;
  s->Hs = m->hidden_size;
  s->noise_normals = sde_noise_normals(m, opt.noise_draw);
  s->noise_blocks = (uint64_t)(s->noise_normals + 1) / 2;
  s->hidden_blocks = (uint64_t)(s->Hs + 1) / 2;
  s->chunk = 1;

  if ((status = alloc_buffers(s)) != KUBO_OK ||
      (status = kubo_sim_initialize(s, NULL)) != KUBO_OK) {
    kubo_sim_free(s);
    return status;
  }
  *out = s;
  return KUBO_OK;
}


kubo_status kubo_sim_clone(kubo_sim **out, const kubo_sim *s) {
  *out = NULL;
  kubo_sim *c = kubo_calloc(sizeof *c);
  if (c == NULL) return kubo_error_set(KUBO_ENOMEM, "integrator: out of "
                                       "memory");
  *c = *s;
  c->x = c->xs = c->h = c->hs = NULL;
  kubo_model_retain(c->model);
  kubo_status status = alloc_buffers(c);
  if (status != KUBO_OK) {
    kubo_sim_free(c);
    return status;
  }
  memcpy(c->x, s->x, sde_buffer_bytes(s, s->S));
  memcpy(c->h, s->h, sde_buffer_bytes(s, s->Hs));
  *out = c;
  return KUBO_OK;
}


void kubo_sim_free(kubo_sim *s) {
  if (s == NULL) return;
  free_buffers(s);
  kubo_model_release(s->model);
  kubo_free(s, sizeof *s);
}


/* ---------------------------------------------------------------------
** State
** ------------------------------------------------------------------- */

static kubo_status check_finite(const double *u, int64_t n,
                                const char *what) {
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(u[i]))
      return kubo_error_set(KUBO_EINVAL, "integrator: %s has a non-finite "
                            "value (%g at element %lld)", what, u[i],
                            (long long)i + 1);
  }
  return KUBO_OK;
}


kubo_status kubo_sim_set_state(kubo_sim *s, const double *u) {
  kubo_status status = check_finite(u, s->members * s->model->dim,
                                    "the state");
  if (status != KUBO_OK) return status;
  s->failed = 0;
  return sde_encode_batch(s->model, s->members, u, s->x);
}


kubo_status kubo_sim_initialize(kubo_sim *s, const double *u) {
  const kubo_model *m = s->model;
  kubo_status status;
  if (u != NULL) {
    status = kubo_sim_set_state(s, u);
  } else {
    size_t bytes = sde_buffer_bytes(s, m->dim);
    double *u0 = kubo_alloc(bytes);
    if (u0 == NULL)
      return kubo_error_set(KUBO_ENOMEM, "integrator: out of memory for "
                            "the initial state");
    status = m->ops->default_state(m, s->opt.seed, s->opt.first_member,
                                   s->members, u0);
    if (status == KUBO_OK) status = kubo_sim_set_state(s, u0);
    kubo_free(u0, bytes);
  }
  if (status != KUBO_OK) return status;

  s->step = 0;
  s->failed = 0;
  if (s->Hs > 0 && m->ops->hidden_init != NULL) {
    for (int64_t j = 0; j < s->members; j++)
      m->ops->hidden_init(m, s->opt.seed,
                          (uint64_t)(s->opt.first_member + j),
                          s->h + j * s->Hs);
  }
  return KUBO_OK;
}


kubo_status kubo_sim_state(const kubo_sim *s, double *u) {
  return sde_decode_batch(s->model, s->members, s->x, u);
}


void kubo_sim_hidden(const kubo_sim *s, double *hidden) {
  if (s->Hs > 0) memcpy(hidden, s->h, sde_buffer_bytes(s, s->Hs));
}


kubo_status kubo_sim_set_hidden(kubo_sim *s, const double *hidden) {
  kubo_status status = check_finite(hidden, s->members * s->Hs,
                                    "the hidden state");
  if (status != KUBO_OK) return status;
  if (s->Hs > 0) memcpy(s->h, hidden, sde_buffer_bytes(s, s->Hs));
  return KUBO_OK;
}


kubo_status kubo_sim_add_impulse(kubo_sim *s, int64_t index, double delta) {
  const kubo_model *m = s->model;
  if (index < 0 || index >= m->dim)
    return kubo_error_set(KUBO_EINVAL, "integrator: impulse index %lld is "
                          "out of range (0 to %lld)", (long long)index,
                          (long long)m->dim - 1);
  if (!isfinite(delta))
    return kubo_error_set(KUBO_EINVAL, "integrator: impulse size must be "
                          "finite (got %g)", delta);

  int64_t W = sde_codec_work(m);
  size_t ub = (size_t)m->dim * sizeof(double);
  size_t xb = (size_t)s->S * sizeof(double);
  double *u = kubo_calloc(ub), *dx = kubo_alloc(xb);
  double *work = W > 0 ? sde_work_alloc(W) : NULL;
  kubo_status status = KUBO_OK;
  if (u == NULL || dx == NULL || (W > 0 && work == NULL)) {
    status = kubo_error_set(KUBO_ENOMEM, "integrator: out of memory");
  } else {
    u[index] = delta;
    sde_encode(m, u, dx, work);
    for (int64_t j = 0; j < s->members; j++) {
      double *x = s->x + j * s->S;
      for (int64_t i = 0; i < s->S; i++) x[i] += dx[i];
    }
  }
  kubo_free(u, ub);
  kubo_free(dx, xb);
  sde_work_free(work, W);
  return status;
}


double kubo_sim_max_abs(const kubo_sim *s) {
  int64_t n = s->members * s->model->dim;
  size_t bytes = (size_t)n * sizeof(double);
  double *u = kubo_alloc(bytes);
  if (u == NULL || kubo_sim_state(s, u) != KUBO_OK) {
    kubo_free(u, bytes);
    return -1;
  }
  double top = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(u[i])) {
      top = NAN;
      break;
    }
    top = fmax(top, fabs(u[i]));
  }
  kubo_free(u, bytes);
  return top;
}


/* ---------------------------------------------------------------------
** Queries and checkpoints
** ------------------------------------------------------------------- */

kubo_model *kubo_sim_model(const kubo_sim *s) { return s->model; }

const kubo_sim_options *kubo_sim_get_options(const kubo_sim *s) {
  return &s->opt;
}

int64_t kubo_sim_members(const kubo_sim *s) { return s->members; }

int64_t kubo_sim_step_count(const kubo_sim *s) { return s->step; }

double kubo_sim_time(const kubo_sim *s) {
  return (double)s->step * s->opt.dt;
}

uint64_t kubo_sim_noise_blocks(const kubo_sim *s) {
  return s->noise_blocks;
}

int64_t kubo_sim_raw_size(const kubo_sim *s) { return s->S; }


void kubo_sim_raw(const kubo_sim *s, double *raw) {
  memcpy(raw, s->x, sde_buffer_bytes(s, s->S));
}


kubo_status kubo_sim_set_raw(kubo_sim *s, const double *raw, int64_t step) {
  if (step < 0)
    return kubo_error_set(KUBO_EINVAL, "integrator: step count must be >= "
                          "0 (got %lld)", (long long)step);
  kubo_status status = check_finite(raw, s->members * s->S,
                                    "the internal state");
  if (status != KUBO_OK) return status;
  memcpy(s->x, raw, sde_buffer_bytes(s, s->S));
  s->step = step;
  s->failed = 0;
  return KUBO_OK;
}
