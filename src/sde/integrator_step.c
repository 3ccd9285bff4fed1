/*
** integrator_step.c: ensembles stepped with Euler-Maruyama, Heun or RK4.
**
** Members are independent, so the ensemble advances in chunks of steps.
** Within a chunk each member runs all its steps as one OpenMP task, and
** threads meet only at the end of the chunk, because a barrier per step
** costs milliseconds when the machine is oversubscribed. A chunk starts by
** saving the ensemble. If a member fails, the ensemble is restored and
** replayed to the step before the earliest failure. The replay gives the
** same bits because every draw is keyed by (seed, member, step).
*/
#include <math.h>
#include <omp.h>
#include <string.h>

#include "integrator_impl.h"
#include "kubo/rng.h"

/* Chunks with at least this many values to step run in parallel. */
enum { PARALLEL_MIN = 512 };


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
    size_t xb = sde_buffer_bytes(s, s->S), hb = sde_buffer_bytes(s, s->Hs);
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
                          "and noise draw (make the second as a clone "
                          "of the first)");
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
