/*
** mpi_perturb.c: the perturbation (dynamical) response of an ensemble
** split across ranks, bit-identical to kubo_response_perturbation on one
** integrator of all members.
**
** The estimator (src/response/perturb.c) adds the realisations of each
** lag to a running mean and sum of squared deviations by Welford's
** update, in the order (block, member). A sum of per-rank partial
** results would round differently for every rank count. Instead every
** rank computes (perturbed - control) / delta for its own members, and
** these values do not depend on the split. Rank 0 receives them rank by
** rank and applies the update of the one-integrator estimator in the
** same member order. It keeps one rank's values at a time.
*/
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/mpi.h"
#include "parallel_internal.h"


/* The checks of kubo_response_perturbation, with its messages. */
static kubo_status check_options(const kubo_sim *sim,
                                 const kubo_perturbation_spec *p) {
  int64_t dim = kubo_model_dim(kubo_sim_model(sim));
  if (p->index < 0 || p->index >= dim)
    return kubo_error_set(KUBO_EINVAL, "perturbation: site index %lld is "
                          "outside the state of %lld values",
                          (long long)p->index + 1, (long long)dim);
  if (!isfinite(p->delta) || p->delta == 0.0)
    return kubo_error_set(KUBO_EINVAL, "perturbation: delta must be "
                          "finite and non-zero (got %g)", p->delta);
  if (p->lags < 1 || p->every < 1 || p->resets < 1)
    return kubo_error_set(KUBO_EINVAL, "perturbation: lags, every and "
                          "resets must be at least 1 (got %lld, %lld, "
                          "%lld)", (long long)p->lags, (long long)p->every,
                          (long long)p->resets);
  return KUBO_OK;
}


/* Writes (b - a) / delta of n values into r, the realisation values
** that the one-integrator estimator computes inside its update. */
static void differences(const double *a, const double *b, int64_t n,
                        double delta, double *r) {
  for (int64_t i = 0; i < n; i++) r[i] = (b[i] - a[i]) / delta;
}


/* Adds the realisations r of `members` members to lag slot tau of the
** running mean and sum of squared deviations ((lags, dim) each). The
** slot already contains `before` realisations. These are the operations
** of the update in src/response/perturb.c, in the same order. */
static void record(const double *r, int64_t members, int64_t dim,
                   int64_t tau, int64_t before, double *mean, double *m2) {
  double *mu = mean + tau * dim, *q = m2 + tau * dim;
  for (int64_t m = 0; m < members; m++) {
    double n = (double)(before + m + 1);
    for (int64_t i = 0; i < dim; i++) {
      double x = r[m * dim + i];
      double d = x - mu[i];
      mu[i] += d / n;
      q[i] += d * (x - mu[i]);
    }
  }
}


/* Buffers of one run. Rank 0 alone has mean, m2 and incoming. */
typedef struct run {
  int size, rank;
  int64_t *rows;                 /* members per rank */
  int64_t total, dim, members;   /* members: this rank's */
  int64_t max_rows;
  double *ua, *ub, *r;           /* (members, dim) */
  double *incoming;              /* (max_rows, dim) */
  double *mean, *m2;             /* (lags, dim) */
  size_t state_bytes, in_bytes, acc_bytes;
} run;


static void run_free(run *w) {
  kubo_free(w->rows, (size_t)w->size * sizeof *w->rows);
  kubo_free(w->ua, w->state_bytes);
  kubo_free(w->ub, w->state_bytes);
  kubo_free(w->r, w->state_bytes);
  kubo_free(w->incoming, w->in_bytes);
  kubo_free(w->mean, w->acc_bytes);
  kubo_free(w->m2, w->acc_bytes);
  memset(w, 0, sizeof *w);
}


/* Allocates the buffers. Every rank returns the same status. */
static kubo_status run_init(run *w, const kubo_sim *local, int64_t total,
                            int64_t lags) {
  kubo_status st = KUBO_OK;
  memset(w, 0, sizeof *w);
  w->size = kubo_mpi_size();
  w->rank = kubo_mpi_rank();
  w->dim = kubo_model_dim(kubo_sim_model(local));
  w->members = kubo_sim_members(local);
  w->rows = kubo_calloc((size_t)w->size * sizeof *w->rows);
  if (w->rows == NULL) st = KUBO_ENOMEM;
  st = kubo_mpi_agree(st == KUBO_OK ? st : kubo_error_set(
    st, "perturbation: out of memory"));
  if (st != KUBO_OK) return st;
  w->rows[w->rank] = w->members;
  st = kubo_mpi_allreduce_i64(w->rows, w->size, KUBO_MPI_SUM);
  if (st != KUBO_OK) return st;
  for (int q = 0; q < w->size; q++) {
    w->total += w->rows[q];
    if (w->rows[q] > w->max_rows) w->max_rows = w->rows[q];
  }
  if (w->total != total)
    return kubo_error_set(KUBO_EINVAL, "perturbation: the ranks have %lld "
                          "members, expected %lld", (long long)w->total,
                          (long long)total);

  w->state_bytes = (size_t)(w->members * w->dim) * sizeof(double);
  w->ua = kubo_alloc(w->state_bytes);
  w->ub = kubo_alloc(w->state_bytes);
  w->r = kubo_alloc(w->state_bytes);
  if (w->ua == NULL || w->ub == NULL || w->r == NULL) st = KUBO_ENOMEM;
  if (w->rank == 0) {
    w->in_bytes = (size_t)(w->max_rows * w->dim) * sizeof(double);
    w->acc_bytes = (size_t)(lags * w->dim) * sizeof(double);
    w->incoming = kubo_alloc(w->in_bytes);
    w->mean = kubo_calloc(w->acc_bytes);
    w->m2 = kubo_calloc(w->acc_bytes);
    if (w->incoming == NULL || w->mean == NULL || w->m2 == NULL)
      st = KUBO_ENOMEM;
  }
  if (st != KUBO_OK)
    st = kubo_error_set(st, "perturbation: out of memory for %lld members "
                        "of %lld values", (long long)w->members,
                        (long long)w->dim);
  return kubo_mpi_agree(st);
}


/* Records one lag: every rank's realisations reach rank 0 in rank order,
** which adds them in member order. */
static kubo_status record_lag(run *w, double delta, int64_t tau,
                              int64_t block, const kubo_sim *control,
                              const kubo_sim *perturbed) {
  kubo_status st = kubo_sim_state(control, w->ua);
  if (st == KUBO_OK) st = kubo_sim_state(perturbed, w->ub);
  if (st == KUBO_OK)
    differences(w->ua, w->ub, w->members * w->dim, delta, w->r);
  st = kubo_mpi_agree(st);
  if (st != KUBO_OK) return st;

  if (w->rank != 0)
    return parallel_send_rows(w->r, (int64_t)w->state_bytes);
  int64_t before = block * w->total;
  record(w->r, w->rows[0], w->dim, tau, before, w->mean, w->m2);
  before += w->rows[0];
  for (int q = 1; q < w->size && st == KUBO_OK; q++) {
    st = parallel_recv_rows(w->incoming, w->rows[q] * w->dim *
                            (int64_t)sizeof(double), q);
    if (st == KUBO_OK)
      record(w->incoming, w->rows[q], w->dim, tau, before, w->mean, w->m2);
    before += w->rows[q];
  }
  return st;
}


/* Runs one block, as run_block of src/response/perturb.c. */
static kubo_status run_block(run *w, kubo_sim *control,
                             const kubo_perturbation_spec *p,
                             int64_t block) {
  kubo_sim *perturbed = NULL;
  kubo_status st = kubo_sim_clone(&perturbed, control);
  if (st == KUBO_OK) st = kubo_sim_add_impulse(perturbed, p->index,
                                               p->delta);
  st = kubo_mpi_agree(st);
  for (int64_t tau = 0; st == KUBO_OK && tau < p->lags; tau++) {
    st = record_lag(w, p->delta, tau, block, control, perturbed);
    if (st == KUBO_OK)
      st = kubo_sim_advance_pair(control, perturbed, p->every);
    st = kubo_mpi_agree(st);
  }
  kubo_sim_free(perturbed);
  return st;
}


/* Makes out on every rank from rank 0's accumulators. */
static kubo_status finish(run *w, const kubo_sim *local,
                          const kubo_perturbation_spec *p,
                          kubo_response *out) {
  kubo_model *m = kubo_sim_model(local);
  int64_t shape[KUBO_MAX_DIM];
  int ndim = kubo_model_state_shape(m, shape + 1);
  shape[0] = p->lags;
  out->kind = KUBO_RESPONSE_PERTURBATION;
  out->grid = kubo_model_grid(m) != NULL;
  out->members = w->total * p->resets;
  kubo_status st = kubo_tensor_init(&out->values, KUBO_FLOAT64, ndim + 1,
                                    shape);
  if (st == KUBO_OK && out->members >= 2)
    st = kubo_tensor_init(&out->std_error, KUBO_FLOAT64, ndim + 1, shape);
  st = kubo_mpi_agree(st);
  if (st != KUBO_OK) return st;

  int64_t count = p->lags * w->dim;
  if (w->rank == 0) {
    double n = (double)out->members;
    memcpy(out->values.data, w->mean, w->acc_bytes);
    if (out->members >= 2)
      for (int64_t i = 0; i < count; i++)
        ((double *)out->std_error.data)[i] = sqrt(w->m2[i] / (n - 1.0) /
                                                  n);
  }
  st = kubo_mpi_bcast(out->values.data, count * (int64_t)sizeof(double),
                      0);
  if (st == KUBO_OK && out->members >= 2)
    st = kubo_mpi_bcast(out->std_error.data,
                        count * (int64_t)sizeof(double), 0);
  return st;
}


kubo_status kubo_mpi_response_perturbation(const kubo_sim *local,
                                           int64_t total,
                                           const kubo_perturbation_spec *p,
                                           kubo_response *out) {
  run w;
  kubo_sim *control = NULL;
  memset(out, 0, sizeof *out);
  kubo_status st = kubo_mpi_agree(check_options(local, p));
  if (st != KUBO_OK) return st;
  st = run_init(&w, local, total, p->lags);

  /* the caller's integrator is left as it was */
  if (st == KUBO_OK) st = kubo_mpi_agree(kubo_sim_clone(&control, local));
  for (int64_t b = 0; st == KUBO_OK && b < p->resets; b++) {
    st = kubo_mpi_agree(kubo_interrupt_check("perturbation"));
    if (st != KUBO_OK) break;
    st = run_block(&w, control, p, b);
    if (st != KUBO_OK)
      kubo_error_prefix(st, "perturbation: block %lld", (long long)b + 1);
  }
  if (st == KUBO_OK) st = finish(&w, local, p, out);
  kubo_sim_free(control);
  run_free(&w);
  if (st != KUBO_OK) kubo_response_release(out);
  return st;
}
