/*
** mpi_sim.c: moving the members of an ensemble split across ranks
** between the ranks and one integrator of all members on rank 0.
**
** The internal state (kubo_sim_raw) is copied, not the real fields, so
** that a member has the same bits on its rank as in one integrator: the
** conversion to real fields and back is not exact.
*/
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/mpi.h"
#include "parallel_internal.h"


/* The sizes of every rank's share, known on every rank. */
typedef struct layout {
  int size;
  int64_t *rows;        /* members per rank */
  int64_t total;
  int64_t raw, hidden;  /* doubles per member */
} layout;


static void layout_free(layout *l) {
  kubo_free(l->rows, (size_t)l->size * sizeof *l->rows);
  l->rows = NULL;
}


/* Collects every rank's member count. Collective. */
static kubo_status layout_make(layout *l, const kubo_sim *local) {
  memset(l, 0, sizeof *l);
  l->size = kubo_mpi_size();
  l->rows = kubo_calloc((size_t)l->size * sizeof *l->rows);
  kubo_status st = l->rows == NULL ? kubo_error_set(
    KUBO_ENOMEM, "mpi: out of memory") : KUBO_OK;
  st = kubo_mpi_agree(st);
  if (st != KUBO_OK) return st;
  l->rows[kubo_mpi_rank()] = kubo_sim_members(local);
  st = kubo_mpi_allreduce_i64(l->rows, l->size, KUBO_MPI_SUM);
  if (st != KUBO_OK) {
    layout_free(l);
    return st;
  }
  for (int r = 0; r < l->size; r++) l->total += l->rows[r];
  l->raw = kubo_sim_raw_size(local);
  l->hidden = kubo_model_hidden_size(kubo_sim_model(local));
  return KUBO_OK;
}


/* Checks on rank 0 that full fits the layout; every rank returns the
** verdict. */
static kubo_status check_full(const layout *l, const kubo_sim *local,
                              const kubo_sim *full, const char *what) {
  kubo_status st = KUBO_OK;
  if (kubo_mpi_rank() == 0) {
    if (full == NULL)
      st = kubo_error_set(KUBO_EINVAL, "%s: rank 0 has no integrator of "
                          "all members", what);
    else if (kubo_sim_members(full) != l->total ||
             kubo_sim_raw_size(full) != l->raw ||
             strcmp(kubo_model_kind(kubo_sim_model(full)),
                    kubo_model_kind(kubo_sim_model(local))) != 0)
      st = kubo_error_set(KUBO_EINVAL, "%s: the integrator of all members "
                          "has %lld members of %lld values (%s), the "
                          "ranks %lld members of %lld values (%s)", what,
                          (long long)kubo_sim_members(full),
                          (long long)kubo_sim_raw_size(full),
                          kubo_model_kind(kubo_sim_model(full)),
                          (long long)l->total, (long long)l->raw,
                          kubo_model_kind(kubo_sim_model(local)));
  }
  return kubo_mpi_agree(st);
}


kubo_status kubo_mpi_sim_scatter(kubo_sim *local, const kubo_sim *full) {
  layout l;
  kubo_status st = layout_make(&l, local);
  if (st != KUBO_OK) return st;
  st = check_full(&l, local, full, "mpi: scatter");
  int root = kubo_mpi_rank() == 0;
  int64_t n = kubo_sim_members(local);
  size_t full_bytes = root ? (size_t)(l.total * (l.raw + l.hidden)) *
                               sizeof(double) : 0;
  size_t local_bytes = (size_t)(n * (l.raw + l.hidden)) * sizeof(double);
  double *all = root ? kubo_alloc(full_bytes) : NULL;
  double *mine = kubo_alloc(local_bytes);
  int64_t step = 0;
  if (st == KUBO_OK && ((root && all == NULL) || mine == NULL))
    st = kubo_error_set(KUBO_ENOMEM, "mpi: out of memory for the states "
                        "of %lld members", (long long)l.total);
  st = kubo_mpi_agree(st);

  if (st == KUBO_OK && root) {
    kubo_sim_raw(full, all);
    kubo_sim_hidden(full, all + l.total * l.raw);
    step = kubo_sim_step_count(full);
  }
  if (st == KUBO_OK) st = kubo_mpi_bcast(&step, sizeof step, 0);
  if (st == KUBO_OK)
    st = parallel_scatter_rows(all, mine, l.rows,
                               l.raw * (int64_t)sizeof(double));
  if (st == KUBO_OK && l.hidden > 0)
    st = parallel_scatter_rows(root ? all + l.total * l.raw : NULL,
                               mine + n * l.raw, l.rows,
                               l.hidden * (int64_t)sizeof(double));
  if (st == KUBO_OK) {
    st = kubo_sim_set_raw(local, mine, step);
    if (st == KUBO_OK && l.hidden > 0)
      st = kubo_sim_set_hidden(local, mine + n * l.raw);
    st = kubo_mpi_agree(st);
  }
  kubo_free(all, full_bytes);
  kubo_free(mine, local_bytes);
  layout_free(&l);
  return st;
}


kubo_status kubo_mpi_sim_gather(const kubo_sim *local, kubo_sim *full) {
  layout l;
  kubo_status st = layout_make(&l, local);
  if (st != KUBO_OK) return st;
  st = check_full(&l, local, full, "mpi: gather");
  int root = kubo_mpi_rank() == 0;
  int64_t n = kubo_sim_members(local);
  size_t full_bytes = root ? (size_t)(l.total * (l.raw + l.hidden)) *
                               sizeof(double) : 0;
  size_t local_bytes = (size_t)(n * (l.raw + l.hidden)) * sizeof(double);
  double *all = root ? kubo_alloc(full_bytes) : NULL;
  double *mine = kubo_alloc(local_bytes);
  if (st == KUBO_OK && ((root && all == NULL) || mine == NULL))
    st = kubo_error_set(KUBO_ENOMEM, "mpi: out of memory for the states "
                        "of %lld members", (long long)l.total);
  st = kubo_mpi_agree(st);

  if (st == KUBO_OK) {
    kubo_sim_raw(local, mine);
    kubo_sim_hidden(local, mine + n * l.raw);
    st = kubo_mpi_gather_rows(mine, all, 1, l.rows,
                              l.raw * (int64_t)sizeof(double), 0);
  }
  if (st == KUBO_OK && l.hidden > 0)
    st = kubo_mpi_gather_rows(mine + n * l.raw,
                              root ? all + l.total * l.raw : NULL, 1,
                              l.rows, l.hidden * (int64_t)sizeof(double),
                              0);
  if (st == KUBO_OK) {
    if (root) {
      st = kubo_sim_set_raw(full, all, kubo_sim_step_count(local));
      if (st == KUBO_OK && l.hidden > 0)
        st = kubo_sim_set_hidden(full, all + l.total * l.raw);
    }
    st = kubo_mpi_agree(st);
  }
  kubo_free(all, full_bytes);
  kubo_free(mine, local_bytes);
  layout_free(&l);
  return st;
}


kubo_status kubo_mpi_sim_state(const kubo_sim *local, int64_t total,
                               double *u) {
  layout l;
  kubo_status st = layout_make(&l, local);
  if (st != KUBO_OK) return st;
  if (l.total != total)
    st = kubo_error_set(KUBO_EINVAL, "mpi: the ranks have %lld members, "
                        "expected %lld", (long long)l.total,
                        (long long)total);
  int64_t dim = kubo_model_dim(kubo_sim_model(local));
  int64_t n = kubo_sim_members(local);
  size_t bytes = (size_t)(n * dim) * sizeof(double);
  double *mine = st == KUBO_OK ? kubo_alloc(bytes) : NULL;
  if (st == KUBO_OK && mine == NULL)
    st = kubo_error_set(KUBO_ENOMEM, "mpi: out of memory for a state");
  if (st == KUBO_OK) st = kubo_sim_state(local, mine);
  st = kubo_mpi_agree(st);
  if (st == KUBO_OK)
    st = kubo_mpi_gather_rows(mine, u, 1, l.rows,
                              dim * (int64_t)sizeof(double), 1);
  kubo_free(mine, bytes);
  layout_free(&l);
  return st;
}
