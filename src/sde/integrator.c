/*
** integrator.c: ensembles stepped with Euler-Maruyama, Heun or RK4.
**
** Members are independent, so the ensemble advances in chunks of steps:
** within a chunk each member runs all its steps as one OpenMP task, and
** threads meet only at the end of the chunk (a barrier per step costs
** milliseconds when the machine is oversubscribed). A chunk starts by
** saving the ensemble; if a member fails, the ensemble is restored and
** replayed to the step before the earliest failure, which gives the same
** bits because every draw is keyed by (seed, member, step).
*/
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/integrator.h"
#include "kubo/rng.h"
#include "model_impl.h"

struct kubo_sim {
  kubo_model *model;
  kubo_sim_options opt;
  int64_t members;
  int64_t S;                 /* internal doubles per member */
  int64_t Hs;                /* hidden values per member */
  int64_t noise_normals;     /* normals per member and step */
  uint64_t noise_blocks;     /* Philox blocks per member and step */
  uint64_t hidden_blocks;    /* Philox blocks per hidden half step */
  double *x, *xs;            /* (members, S): current, and saved at the
                             ** start of a chunk */
  double *h, *hs;            /* (members, Hs) */
  int64_t step;
  int64_t chunk;             /* steps per chunk, adapted to its time */

  int failed;                /* the last advance hit a non-finite state */
  int64_t fail_step, fail_member;
  double fail_time;
};

/* Ensembles with at least this many values per step run in parallel. */
enum { PARALLEL_MIN = 512 };

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

static size_t buffer_bytes(const kubo_sim *s, int64_t per_member) {
  return (size_t)(s->members * per_member) * sizeof(double);
}


static void free_buffers(kubo_sim *s) {
  kubo_free(s->x, buffer_bytes(s, s->S));
  kubo_free(s->xs, buffer_bytes(s, s->S));
  kubo_free(s->h, buffer_bytes(s, s->Hs));
  kubo_free(s->hs, buffer_bytes(s, s->Hs));
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
  memcpy(c->x, s->x, buffer_bytes(s, s->S));
  memcpy(c->h, s->h, buffer_bytes(s, s->Hs));
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
    size_t bytes = buffer_bytes(s, m->dim);
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
  if (s->Hs > 0) memcpy(hidden, s->h, buffer_bytes(s, s->Hs));
}


kubo_status kubo_sim_set_hidden(kubo_sim *s, const double *hidden) {
  kubo_status status = check_finite(hidden, s->members * s->Hs,
                                    "the hidden state");
  if (status != KUBO_OK) return status;
  if (s->Hs > 0) memcpy(s->h, hidden, buffer_bytes(s, s->Hs));
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
** One member's step
** ------------------------------------------------------------------- */

/* Per-thread work: stage buffers, the member's next state, its noise and
** hidden increments for one step, and the model's drift work. */
typedef struct step_work {
  double *k1, *k, *y, *eta, *xn, *z, *zh0, *zh1, *hn, *drift;
} step_work;


/* Returns the doubles of work one thread needs; with base, also points
** the buffers of w into base. */
static int64_t work_layout(const kubo_sim *s, step_work *w, double *base) {
  int64_t sp = sde_pad(s->S), hp = sde_pad(s->Hs);
  int64_t np = sde_pad(s->noise_normals);
  if (base != NULL) {
    w->k1 = base;
    w->k = base + sp;
    w->y = base + 2 * sp;
    w->eta = base + 3 * sp;
    w->xn = base + 4 * sp;
    w->z = base + 5 * sp;
    w->zh0 = w->z + np;
    w->zh1 = w->zh0 + hp;
    w->hn = w->zh1 + hp;
    w->drift = w->hn + hp;
  }
  return 5 * sp + np + 3 * hp + sde_pad(s->model->work_size);
}


/* Draws member j's additive noise (eta, per unit time) and hidden
** increments for step n. */
static void draw_member(const kubo_sim *s, int64_t j, int64_t n,
                        step_work *w) {
  const kubo_model *m = s->model;
  uint64_t g = (uint64_t)(s->opt.first_member + j);
  if (s->noise_normals > 0) {
    uint64_t stream = kubo_rng_substream(g, KUBO_SIM_KEY_NOISE);
    kubo_rng_normal_at(s->opt.seed, stream, (uint64_t)n * s->noise_blocks,
                       w->z, s->noise_normals);
    m->ops->noise(m, s->opt.noise_draw, w->z, w->eta);
  }
  if (s->Hs > 0) {
    uint64_t stream = kubo_rng_substream(g, KUBO_SIM_KEY_HIDDEN);
    uint64_t first = 2 * (uint64_t)n * s->hidden_blocks;
    kubo_rng_normal_at(s->opt.seed, stream, first, w->zh0, s->Hs);
    kubo_rng_normal_at(s->opt.seed, stream, first + s->hidden_blocks,
                       w->zh1, s->Hs);
  }
}


static void hidden_add(double *h, int64_t n, double scale, const double *z) {
  for (int64_t i = 0; i < n; i++) h[i] += scale * z[i];
}


static int all_finite(const double *v, int64_t n) {
  uint64_t bad = 0;
  for (int64_t i = 0; i < n; i++) {
    uint64_t bits;
    memcpy(&bits, &v[i], sizeof bits);
    bad |= (~bits & 0x7ff0000000000000ull) == 0;
  }
  return !bad;
}


#define DRIFT(in, hid, fresh, outbuf)                                   \
  do {                                                                  \
    kubo_status st_ = m->ops->drift(m, (in), (hid), (fresh), (outbuf),  \
                                    w->drift);                          \
    if (st_ != KUBO_OK) return st_;                                     \
  } while (0)


/* Computes member j's next state into w->xn (and w->hn) with the noise in
** w. Returns KUBO_ENUMERIC if it is not finite. */
static kubo_status member_step(const kubo_sim *s, int64_t j,
                               const step_work *w) {
  const kubo_model *m = s->model;
  int64_t S = s->S, Hs = s->Hs;
  const double *x = s->x + j * S;
  const double *h = Hs > 0 ? s->h + j * Hs : NULL;
  double *xn = w->xn, *hn = Hs > 0 ? w->hn : NULL;
  double *k1 = w->k1, *k = w->k, *y = w->y;
  const double *eta = w->eta;
  int noise = s->noise_normals > 0;
  double dt = s->opt.dt, sq = sqrt(dt);
  double sd = sqrt(m->hidden_diffusivity * dt);

  if (Hs > 0) memcpy(hn, h, (size_t)Hs * sizeof(double));

  switch (s->opt.method) {
  case KUBO_RK4: {
    double dt2 = 0.5 * dt, dt3 = dt / 3, dt6 = dt / 6;
    DRIFT(x, h, 1, k);
    for (int64_t i = 0; i < S; i++) {
      xn[i] = x[i] + dt6 * k[i];
      y[i] = x[i] + dt2 * k[i];
    }
    if (Hs > 0) hidden_add(hn, Hs, sd, w->zh0);
    DRIFT(y, hn, 1, k);
    for (int64_t i = 0; i < S; i++) {
      xn[i] += dt3 * k[i];
      y[i] = x[i] + dt2 * k[i];
    }
    DRIFT(y, hn, 0, k);
    for (int64_t i = 0; i < S; i++) {
      xn[i] += dt3 * k[i];
      y[i] = x[i] + dt * k[i];
    }
    if (Hs > 0) hidden_add(hn, Hs, sd, w->zh1);
    DRIFT(y, hn, 1, k);
    for (int64_t i = 0; i < S; i++) xn[i] += dt6 * k[i];
    if (noise)
      for (int64_t i = 0; i < S; i++) xn[i] += sq * eta[i];
    break;
  }
  case KUBO_EULER_MARUYAMA:
    DRIFT(x, h, 1, k);
    for (int64_t i = 0; i < S; i++) xn[i] = x[i] + dt * k[i];
    if (noise)
      for (int64_t i = 0; i < S; i++) xn[i] += sq * eta[i];
    if (Hs > 0) {
      hidden_add(hn, Hs, sd, w->zh0);
      hidden_add(hn, Hs, sd, w->zh1);
    }
    break;
  case KUBO_HEUN:
    DRIFT(x, h, 1, k1);
    for (int64_t i = 0; i < S; i++) y[i] = x[i] + dt * k1[i];
    if (noise)
      for (int64_t i = 0; i < S; i++) y[i] += sq * eta[i];
    if (Hs > 0) {
      hidden_add(hn, Hs, sd, w->zh0);
      hidden_add(hn, Hs, sd, w->zh1);
    }
    DRIFT(y, hn, 1, k);
    for (int64_t i = 0; i < S; i++)
      xn[i] = x[i] + 0.5 * dt * (k1[i] + k[i]);
    if (noise)
      for (int64_t i = 0; i < S; i++) xn[i] += sq * eta[i];
    break;
  }
  return all_finite(xn, S) ? KUBO_OK : KUBO_ENUMERIC;
}

#undef DRIFT


static void member_commit(kubo_sim *s, int64_t j, const step_work *w) {
  memcpy(s->x + j * s->S, w->xn, (size_t)s->S * sizeof(double));
  if (s->Hs > 0)
    memcpy(s->h + j * s->Hs, w->hn, (size_t)s->Hs * sizeof(double));
}


/* ---------------------------------------------------------------------
** Chunks of steps for a group of integrators that share noise
** ------------------------------------------------------------------- */

/* A chunk's time is kept between these (seconds), so that an interrupt
** is seen within a fraction of a second. */
#define CHUNK_FAST 0.02
#define CHUNK_SLOW 0.2
enum { CHUNK_MAX = 1 << 20 };

/* Failures are ordered by (step, member, integrator) through this key, so
** the one reported does not depend on the thread count. */
static int64_t failure_key(int64_t r, int64_t j, int i, int64_t members,
                           int nsims) {
  return (r * members + j) * nsims + i;
}


/* Runs `count` steps of every member from the group's step count without
** changing it. A failure is recorded in *failure (the earliest by
** failure_key); members then stand at different steps. */
static void run_members(kubo_sim **sims, int nsims, int64_t count,
                        sde_failure *failure, int *alloc_failed) {
  kubo_sim *s0 = sims[0];
  const kubo_model *m = s0->model;
  int64_t members = s0->members, step0 = s0->step;
  int64_t W = work_layout(s0, NULL, NULL);
  int parallel = !m->serial && members > 1 &&
                 members * count * (s0->S + s0->noise_normals) >=
                 PARALLEL_MIN;
  int64_t limit = count;     /* no member needs to go past a failure */

  #pragma omp parallel if (parallel)
  {
    step_work w = {0};
    double *block = sde_work_alloc(W);
    if (block == NULL) {
      #pragma omp atomic write
      *alloc_failed = 1;
    } else {
      work_layout(s0, &w, block);
    }

    #pragma omp for schedule(static)
    for (int64_t j = 0; j < members; j++) {
      if (block == NULL) continue;
      for (int64_t r = 0; r < count; r++) {
        int64_t stop;
        #pragma omp atomic read
        stop = limit;
        if (r >= stop) break;

        draw_member(s0, j, step0 + r, &w);
        int failed = 0;
        for (int i = 0; i < nsims && !failed; i++) {
          kubo_status st = member_step(sims[i], j, &w);
          if (st == KUBO_OK) {
            member_commit(sims[i], j, &w);
            continue;
          }
          failed = 1;
          sde_failure_record(failure, st,
                             failure_key(r, j, i, members, nsims));
          #pragma omp critical(kubo_sde_limit)
          {
            if (r < limit) {
              #pragma omp atomic write
              limit = r;
            }
          }
        }
        if (failed) break;
      }
    }
    sde_work_free(block, W);
  }
}


static void save_group(kubo_sim **sims, int nsims, int restore) {
  for (int i = 0; i < nsims; i++) {
    kubo_sim *s = sims[i];
    size_t xb = buffer_bytes(s, s->S), hb = buffer_bytes(s, s->Hs);
    if (restore) {
      memcpy(s->x, s->xs, xb);
      memcpy(s->h, s->hs, hb);
    } else {
      memcpy(s->xs, s->x, xb);
      memcpy(s->hs, s->h, hb);
    }
  }
}


/* Sets the message and failure record of a non-finite state produced
** by step `step` of member j in integrator i of the group. */
static kubo_status report_nonfinite(kubo_sim **sims, int nsims, int i,
                                    int64_t j, int64_t step) {
  kubo_sim *s = sims[i];
  s->failed = 1;
  s->fail_step = step;
  s->fail_member = j;
  s->fail_time = (double)step * s->opt.dt;
  return kubo_error_set(KUBO_ENUMERIC, "integrator: the state of member "
                        "%lld (0-based) became NaN or Inf at step %lld "
                        "(time %g)%s; every member is kept at step %lld. "
                        "Reduce dt (now %g) or check the model parameters",
                        (long long)j, (long long)step, s->fail_time,
                        nsims == 1 ? "" : i == 0 ? " in the first ensemble"
                                                 : " in the second ensemble",
                        (long long)step - 1, s->opt.dt);
}


/* Handles a failed chunk: restores the ensembles, replays them to the step
** before the failure and reports it. */
static kubo_status fail_chunk(kubo_sim **sims, int nsims,
                              const sde_failure *failure) {
  kubo_sim *s0 = sims[0];
  int64_t members = s0->members, step0 = s0->step;
  int i = (int)(failure->index % nsims);
  int64_t j = (failure->index / nsims) % members;
  int64_t r = failure->index / nsims / members;

  save_group(sims, nsims, 1);
  if (r > 0) {
    sde_failure again;
    int alloc_failed = 0;
    sde_failure_init(&again);
    run_members(sims, nsims, r, &again, &alloc_failed);
    if (again.status != KUBO_OK || alloc_failed) {
      /* a drift that is not deterministic; stay at the chunk's start */
      save_group(sims, nsims, 1);
      return sde_failure_raise(failure);
    }
  }
  for (int k = 0; k < nsims; k++) sims[k]->step = step0 + r;
  if (failure->status == KUBO_ENUMERIC)
    return report_nonfinite(sims, nsims, i, j, step0 + r + 1);
  return sde_failure_raise(failure);
}


static kubo_status advance_group(kubo_sim **sims, int nsims, int64_t steps) {
  kubo_sim *s0 = sims[0];
  if (steps < 0)
    return kubo_error_set(KUBO_EINVAL, "integrator: steps must be >= 0 "
                          "(got %lld)", (long long)steps);
  for (int i = 0; i < nsims; i++) sims[i]->failed = 0;

  int64_t done = 0;
  while (done < steps) {
    if (kubo_interrupt_pending()) return kubo_interrupt_check("integrator");
    int64_t count = steps - done < s0->chunk ? steps - done : s0->chunk;
    sde_failure failure;
    int alloc_failed = 0;
    sde_failure_init(&failure);
    save_group(sims, nsims, 0);

    double start = omp_get_wtime();
    run_members(sims, nsims, count, &failure, &alloc_failed);
    double elapsed = omp_get_wtime() - start;

    if (alloc_failed) {
      save_group(sims, nsims, 1);
      return kubo_error_set(KUBO_ENOMEM, "integrator: out of memory for "
                            "step work arrays");
    }
    if (failure.status != KUBO_OK) return fail_chunk(sims, nsims, &failure);
    for (int i = 0; i < nsims; i++) sims[i]->step += count;
    done += count;

    if (elapsed < CHUNK_FAST && count == s0->chunk && s0->chunk < CHUNK_MAX)
      s0->chunk *= 2;
    else if (elapsed > CHUNK_SLOW && s0->chunk > 1)
      s0->chunk /= 2;
  }
  return KUBO_OK;
}


kubo_status kubo_sim_advance(kubo_sim *s, int64_t steps) {
  return advance_group(&s, 1, steps);
}


kubo_status kubo_sim_advance_pair(kubo_sim *a, kubo_sim *b, int64_t steps) {
  const kubo_sim_options *p = &a->opt, *q = &b->opt;
  if (a == b)
    return kubo_error_set(KUBO_EINVAL, "integrator: a pair needs two "
                          "different integrators");
  if (a->model != b->model || p->method != q->method || p->dt != q->dt ||
      a->members != b->members || p->first_member != q->first_member ||
      p->seed != q->seed || p->noise_draw != q->noise_draw)
    return kubo_error_set(KUBO_EINVAL, "integrator: a pair must share the "
                          "model, method, dt, members, first member, seed "
                          "and noise draw (make the second with "
                          "kubo_sim_clone)");
  if (a->step != b->step)
    return kubo_error_set(KUBO_EINVAL, "integrator: a pair must be at the "
                          "same step (%lld and %lld)", (long long)a->step,
                          (long long)b->step);
  kubo_sim *sims[2] = {a, b};
  return advance_group(sims, 2, steps);
}


int kubo_sim_failure(const kubo_sim *s, int64_t *step, int64_t *member,
                     double *time) {
  if (!s->failed) return 0;
  if (step != NULL) *step = s->fail_step;
  if (member != NULL) *member = s->fail_member;
  if (time != NULL) *time = s->fail_time;
  return 1;
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
  memcpy(raw, s->x, buffer_bytes(s, s->S));
}


kubo_status kubo_sim_set_raw(kubo_sim *s, const double *raw, int64_t step) {
  if (step < 0)
    return kubo_error_set(KUBO_EINVAL, "integrator: step count must be >= "
                          "0 (got %lld)", (long long)step);
  kubo_status status = check_finite(raw, s->members * s->S,
                                    "the internal state");
  if (status != KUBO_OK) return status;
  memcpy(s->x, raw, buffer_bytes(s, s->S));
  s->step = step;
  s->failed = 0;
  return KUBO_OK;
}
