/*
** mpi.c: MPI start-up, ranks and the deterministic collectives of
** kubo/mpi.h. Without MPI (KUBO_HAVE_MPI undefined) every function is the
** one-rank identity.
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/mpi.h"
#include "parallel_internal.h"

#ifdef KUBO_HAVE_MPI
#include <mpi.h>
#endif


int kubo_mpi_built(void) {
#ifdef KUBO_HAVE_MPI
  return 1;
#else
  return 0;
#endif
}


void kubo_mpi_share(int64_t total, int rank, int size, int64_t *first,
                    int64_t *count) {
  int64_t base = total / size, extra = total % size;
  *count = base + (rank < extra ? 1 : 0);
  *first = (int64_t)rank * base + (rank < extra ? rank : extra);
}


int kubo_mpi_op_parse(const char *name) {
  if (strcmp(name, "sum") == 0) return KUBO_MPI_SUM;
  if (strcmp(name, "prod") == 0) return KUBO_MPI_PROD;
  if (strcmp(name, "max") == 0) return KUBO_MPI_MAX;
  if (strcmp(name, "min") == 0) return KUBO_MPI_MIN;
  return -1;
}


const char *kubo_mpi_op_name(kubo_mpi_op op) {
  switch (op) {
  case KUBO_MPI_SUM: return "sum";
  case KUBO_MPI_PROD: return "prod";
  case KUBO_MPI_MAX: return "max";
  case KUBO_MPI_MIN: return "min";
  }
  return "?";
}




#ifndef KUBO_HAVE_MPI

/* ---------------------------------------------------------------------
** One rank: identities
** ------------------------------------------------------------------- */

kubo_status kubo_mpi_init(void) { return KUBO_OK; }
int kubo_mpi_active(void) { return 0; }
void kubo_mpi_finalize(void) {}
void kubo_mpi_abort(int code) { (void)code; }
int kubo_mpi_rank(void) { return 0; }
int kubo_mpi_size(void) { return 1; }
kubo_status kubo_mpi_barrier(void) { return KUBO_OK; }

kubo_status kubo_mpi_allreduce_f64(double *x, int64_t n, kubo_mpi_op op) {
  return KUBO_OK;
}

kubo_status kubo_mpi_allreduce_f32(float *x, int64_t n, kubo_mpi_op op) {
  return KUBO_OK;
}

kubo_status kubo_mpi_allreduce_i64(int64_t *x, int64_t n, kubo_mpi_op op) {
  return KUBO_OK;
}


kubo_status kubo_mpi_bcast(void *buf, int64_t bytes, int root) {
  if (root != 0)
    return kubo_error_set(KUBO_EINVAL, "mpi.bcast: root must be a rank "
                          "from 0 to 0 (got %d)", root);
  return KUBO_OK;
}


kubo_status kubo_mpi_gather_rows(const void *local, void *out,
                                 int64_t blocks, const int64_t *rows,
                                 int64_t row_bytes, int all) {
  if (out != NULL && out != local)
    memmove(out, local, (size_t)(blocks * rows[0] * row_bytes));
  return KUBO_OK;
}


kubo_status parallel_scatter_rows(const void *full, void *local,
                                  const int64_t *rows, int64_t row_bytes) {
  if (local != full)
    memmove(local, full, (size_t)(rows[0] * row_bytes));
  return KUBO_OK;
}


kubo_status parallel_send_rows(const void *buf, int64_t bytes) {
  return KUBO_OK;
}


kubo_status parallel_recv_rows(void *buf, int64_t bytes, int from) {
  return kubo_error_set(KUBO_EINVAL, "mpi: no rank %d to receive from",
                        from);
}


kubo_status kubo_mpi_agree(kubo_status status) { return status; }

#else

/* ---------------------------------------------------------------------
** Start-up and ranks
** ------------------------------------------------------------------- */

/* Elements per message: MPI counts are ints. */
enum { CHUNK_BYTES = 1 << 28 };


/* Sets a KUBO_EIO message from an MPI error code and returns it. */
static kubo_status mpi_fail(int code, const char *call) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  text[len] = '\0';
  return kubo_error_set(KUBO_EIO, "mpi: %s failed: %s", call,
                        len > 0 ? text : "unknown MPI error");
}


/* Returns 1 if a launcher started this process as part of an MPI job. */
static int launched_by_mpi(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") != NULL ||
         getenv("PMIX_RANK") != NULL || getenv("PMI_RANK") != NULL;
}


int kubo_mpi_active(void) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return 0;
  MPI_Finalized(&finalized);
  return !finalized;
}


kubo_status kubo_mpi_init(void) {
  int initialized = 0, provided = 0, code;
  MPI_Initialized(&initialized);
  if (!initialized) {
    if (!launched_by_mpi()) return KUBO_OK;
    code = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (code != MPI_SUCCESS) return mpi_fail(code, "MPI_Init_thread");
    if (provided < MPI_THREAD_FUNNELED)
      return kubo_error_set(KUBO_EIO, "mpi: the MPI library does not "
                            "support calls from the main thread of a "
                            "threaded program (MPI_THREAD_FUNNELED)");
  }
  if (kubo_mpi_active())
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  return KUBO_OK;
}


void kubo_mpi_finalize(void) {
  if (kubo_mpi_active()) MPI_Finalize();
}


void kubo_mpi_abort(int code) {
  if (kubo_mpi_active()) MPI_Abort(MPI_COMM_WORLD, code);
}


int kubo_mpi_rank(void) {
  int rank = 0;
  if (kubo_mpi_active()) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}


int kubo_mpi_size(void) {
  int size = 1;
  if (kubo_mpi_active()) MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}


kubo_status kubo_mpi_barrier(void) {
  if (kubo_mpi_size() == 1) return KUBO_OK;
  int code = MPI_Barrier(MPI_COMM_WORLD);
  return code == MPI_SUCCESS ? KUBO_OK : mpi_fail(code, "MPI_Barrier");
}


/* ---------------------------------------------------------------------
** Broadcast and reductions in rank order
** ------------------------------------------------------------------- */

kubo_status kubo_mpi_bcast(void *buf, int64_t bytes, int root) {
  int size = kubo_mpi_size();
  if (root < 0 || root >= size)
    return kubo_error_set(KUBO_EINVAL, "mpi.bcast: root must be a rank "
                          "from 0 to %d (got %d)", size - 1, root);
  if (size == 1) return KUBO_OK;
  for (int64_t done = 0; done < bytes; done += CHUNK_BYTES) {
    int64_t n = bytes - done < CHUNK_BYTES ? bytes - done : CHUNK_BYTES;
    int code = MPI_Bcast((char *)buf + done, (int)n, MPI_BYTE, root,
                         MPI_COMM_WORLD);
    if (code != MPI_SUCCESS) return mpi_fail(code, "MPI_Bcast");
  }
  return KUBO_OK;
}


/* Reduces n elements of esize bytes in x: rank 0 gathers chunks of every
** rank's values, folds them in rank order with fold, and broadcasts the
** result. */
static kubo_status allreduce_ordered(void *x, int64_t n, size_t esize,
                                     MPI_Datatype type, kubo_mpi_op op,
                                     void (*fold)(void *, const void *,
                                                  int64_t, kubo_mpi_op)) {
  int size = kubo_mpi_size(), rank = kubo_mpi_rank();
  if (size == 1 || n == 0) return KUBO_OK;
  /* rank 0 receives size chunks at once: keep that near CHUNK_BYTES */
  int64_t chunk = CHUNK_BYTES / (int64_t)esize / size;
  if (chunk < 1) chunk = 1;
  if (chunk > n) chunk = n;
  size_t gbytes = rank == 0 ? (size_t)chunk * esize * (size_t)size : 0;
  char *gathered = rank == 0 ? kubo_alloc(gbytes) : NULL;
  int failed = rank == 0 && gathered == NULL;
  kubo_status st = kubo_mpi_agree(failed ? kubo_error_set(
    KUBO_ENOMEM, "mpi.allreduce: out of memory") : KUBO_OK);
  if (st != KUBO_OK) {
    kubo_free(gathered, gbytes);
    return st;
  }

  for (int64_t done = 0; done < n && st == KUBO_OK; done += chunk) {
    int64_t m = n - done < chunk ? n - done : chunk;
    char *mine = (char *)x + (size_t)done * esize;
    int code = MPI_Gather(mine, (int)m, type, gathered, (int)m, type, 0,
                          MPI_COMM_WORLD);
    if (code != MPI_SUCCESS) {
      st = mpi_fail(code, "MPI_Gather");
      break;
    }
    if (rank == 0) {
      memcpy(mine, gathered, (size_t)m * esize);
      for (int r = 1; r < size; r++)
        fold(mine, gathered + (size_t)r * (size_t)m * esize, m, op);
    }
    code = MPI_Bcast(mine, (int)m, type, 0, MPI_COMM_WORLD);
    if (code != MPI_SUCCESS) st = mpi_fail(code, "MPI_Bcast");
  }
  kubo_free(gathered, gbytes);
  return st;
}


/* acc[i] = op(acc[i], x[i]) for float64, float32 and int64 values. */
static void fold_f64(void *acc_, const void *x_, int64_t n,
                     kubo_mpi_op op) {
  double *acc = acc_;
  const double *x = x_;
  for (int64_t i = 0; i < n; i++) {
    if (op == KUBO_MPI_SUM) acc[i] = acc[i] + x[i];
    else if (op == KUBO_MPI_PROD) acc[i] = acc[i] * x[i];
    else if (op == KUBO_MPI_MAX ? x[i] > acc[i] : x[i] < acc[i])
      acc[i] = x[i];
  }
}


static void fold_f32(void *acc_, const void *x_, int64_t n,
                     kubo_mpi_op op) {
  float *acc = acc_;
  const float *x = x_;
  for (int64_t i = 0; i < n; i++) {
    if (op == KUBO_MPI_SUM) acc[i] = acc[i] + x[i];
    else if (op == KUBO_MPI_PROD) acc[i] = acc[i] * x[i];
    else if (op == KUBO_MPI_MAX ? x[i] > acc[i] : x[i] < acc[i])
      acc[i] = x[i];
  }
}


static void fold_i64(void *acc_, const void *x_, int64_t n,
                     kubo_mpi_op op) {
  int64_t *acc = acc_;
  const int64_t *x = x_;
  for (int64_t i = 0; i < n; i++) {
    if (op == KUBO_MPI_SUM) acc[i] = acc[i] + x[i];
    else if (op == KUBO_MPI_PROD) acc[i] = acc[i] * x[i];
    else if (op == KUBO_MPI_MAX ? x[i] > acc[i] : x[i] < acc[i])
      acc[i] = x[i];
  }
}


kubo_status kubo_mpi_allreduce_f64(double *x, int64_t n, kubo_mpi_op op) {
  return allreduce_ordered(x, n, sizeof *x, MPI_DOUBLE, op, fold_f64);
}

kubo_status kubo_mpi_allreduce_f32(float *x, int64_t n, kubo_mpi_op op) {
  return allreduce_ordered(x, n, sizeof *x, MPI_FLOAT, op, fold_f32);
}

kubo_status kubo_mpi_allreduce_i64(int64_t *x, int64_t n, kubo_mpi_op op) {
  return allreduce_ordered(x, n, sizeof *x, MPI_INT64_T, op, fold_i64);
}


/* ---------------------------------------------------------------------
** Rows: gathers, scatters and ordered point-to-point transfers
** ------------------------------------------------------------------- */

/* Makes *type a datatype of one row of row_bytes bytes. */
static kubo_status row_type(int64_t row_bytes, MPI_Datatype *type) {
  if (row_bytes < 1 || row_bytes > INT_MAX)
    return kubo_error_set(KUBO_EINVAL, "mpi: a row of %lld bytes cannot "
                          "be sent (1 to %d)", (long long)row_bytes,
                          INT_MAX);
  int code = MPI_Type_contiguous((int)row_bytes, MPI_BYTE, type);
  if (code == MPI_SUCCESS) code = MPI_Type_commit(type);
  return code == MPI_SUCCESS ? KUBO_OK : mpi_fail(code, "MPI_Type_commit");
}


kubo_status kubo_mpi_gather_rows(const void *local, void *out,
                                 int64_t blocks, const int64_t *rows,
                                 int64_t row_bytes, int all) {
  int size = kubo_mpi_size(), rank = kubo_mpi_rank();
  if (size == 1) {
    if (out != NULL && out != local)
      memmove(out, local, (size_t)(blocks * rows[0] * row_bytes));
    return KUBO_OK;
  }
  int64_t total = 0;
  for (int r = 0; r < size; r++) total += rows[r];
  if (blocks == 0 || total == 0) return KUBO_OK;

  /* blocks per message, so that one message stays near CHUNK_BYTES and
  ** its counts fit in ints */
  int64_t per = CHUNK_BYTES / (total * row_bytes);
  if (per < 1) per = 1;
  if (per > blocks) per = blocks;
  if (per * total > INT_MAX)
    return kubo_error_set(KUBO_EINVAL, "mpi: %lld rows per block are too "
                          "many to gather", (long long)total);

  int receives = all || rank == 0;
  size_t tbytes = receives && blocks > 1 ?
                    (size_t)(per * total * row_bytes) : 0;
  char *tmp = tbytes > 0 ? kubo_alloc(tbytes) : NULL;
  int *counts = malloc((size_t)size * sizeof *counts);
  int *displs = malloc((size_t)size * sizeof *displs);
  MPI_Datatype type = MPI_DATATYPE_NULL;
  kubo_status st = KUBO_OK;
  if ((tbytes > 0 && tmp == NULL) || counts == NULL || displs == NULL)
    st = kubo_error_set(KUBO_ENOMEM, "mpi: out of memory for a gather");
  if (st == KUBO_OK) st = row_type(row_bytes, &type);
  st = kubo_mpi_agree(st);

  for (int64_t b0 = 0; b0 < blocks && st == KUBO_OK; b0 += per) {
    int64_t nb = blocks - b0 < per ? blocks - b0 : per;
    int64_t offset = 0;
    for (int r = 0; r < size; r++) {
      counts[r] = (int)(nb * rows[r]);
      displs[r] = (int)(nb * offset);
      offset += rows[r];
    }
    const char *send = (const char *)local + b0 * rows[rank] * row_bytes;
    /* one block lands in place; several go through tmp, rank by rank */
    char *recv = blocks == 1 ? out : tmp;
    int code = all ? MPI_Allgatherv(send, counts[rank], type, recv, counts,
                                    displs, type, MPI_COMM_WORLD)
                   : MPI_Gatherv(send, counts[rank], type, recv, counts,
                                 displs, type, 0, MPI_COMM_WORLD);
    if (code != MPI_SUCCESS) {
      st = mpi_fail(code, all ? "MPI_Allgatherv" : "MPI_Gatherv");
      break;
    }
    if (!receives || blocks == 1) continue;
    for (int r = 0; r < size; r++) {
      for (int64_t b = 0; b < nb; b++) {
        char *dst = (char *)out + ((b0 + b) * total +
                                   (int64_t)displs[r] / nb) * row_bytes;
        const char *src = tmp + ((int64_t)displs[r] + b * rows[r]) *
                                  row_bytes;
        memcpy(dst, src, (size_t)(rows[r] * row_bytes));
      }
    }
  }
  if (type != MPI_DATATYPE_NULL) MPI_Type_free(&type);
  kubo_free(tmp, tbytes);
  free(counts);
  free(displs);
  return st;
}


kubo_status parallel_scatter_rows(const void *full, void *local,
                                  const int64_t *rows, int64_t row_bytes) {
  int size = kubo_mpi_size(), rank = kubo_mpi_rank();
  if (size == 1) {
    if (local != full)
      memmove(local, full, (size_t)(rows[0] * row_bytes));
    return KUBO_OK;
  }
  int *counts = malloc((size_t)size * sizeof *counts);
  int *displs = malloc((size_t)size * sizeof *displs);
  MPI_Datatype type = MPI_DATATYPE_NULL;
  kubo_status st = KUBO_OK;
  int64_t offset = 0;
  if (counts == NULL || displs == NULL)
    st = kubo_error_set(KUBO_ENOMEM, "mpi: out of memory for a scatter");
  for (int r = 0; st == KUBO_OK && r < size; r++) {
    if (offset + rows[r] > INT_MAX)
      st = kubo_error_set(KUBO_EINVAL, "mpi: %lld rows are too many to "
                          "scatter", (long long)(offset + rows[r]));
    else {
      counts[r] = (int)rows[r];
      displs[r] = (int)offset;
    }
    offset += rows[r];
  }
  if (st == KUBO_OK) st = row_type(row_bytes, &type);
  st = kubo_mpi_agree(st);
  if (st == KUBO_OK) {
    int code = MPI_Scatterv(full, counts, displs, type, local, counts[rank],
                            type, 0, MPI_COMM_WORLD);
    if (code != MPI_SUCCESS) st = mpi_fail(code, "MPI_Scatterv");
  }
  if (type != MPI_DATATYPE_NULL) MPI_Type_free(&type);
  free(counts);
  free(displs);
  return st;
}


kubo_status parallel_send_rows(const void *buf, int64_t bytes) {
  for (int64_t done = 0; done < bytes; done += CHUNK_BYTES) {
    int64_t n = bytes - done < CHUNK_BYTES ? bytes - done : CHUNK_BYTES;
    int code = MPI_Send((const char *)buf + done, (int)n, MPI_BYTE, 0, 0,
                        MPI_COMM_WORLD);
    if (code != MPI_SUCCESS) return mpi_fail(code, "MPI_Send");
  }
  return KUBO_OK;
}


kubo_status parallel_recv_rows(void *buf, int64_t bytes, int from) {
  for (int64_t done = 0; done < bytes; done += CHUNK_BYTES) {
    int64_t n = bytes - done < CHUNK_BYTES ? bytes - done : CHUNK_BYTES;
    int code = MPI_Recv((char *)buf + done, (int)n, MPI_BYTE, from, 0,
                        MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (code != MPI_SUCCESS) return mpi_fail(code, "MPI_Recv");
  }
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Agreeing on a status
** ------------------------------------------------------------------- */

kubo_status kubo_mpi_agree(kubo_status status) {
  int size = kubo_mpi_size(), rank = kubo_mpi_rank();
  if (size == 1) return status;
  /* the lowest failing rank, and -1 if some rank succeeded */
  int ok = status == KUBO_OK;
  int mine[2] = {ok ? size : rank, ok ? -1 : 0};
  int both[2] = {size, 0};
  int code = MPI_Allreduce(mine, both, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) return mpi_fail(code, "MPI_Allreduce");
  int first = both[0], all_failed = both[1] == 0;
  if (first == size) return KUBO_OK;

  /* the status and message of the lowest failing rank, for everyone */
  struct {
    int status;
    char message[1024];
  } report;
  memset(&report, 0, sizeof report);
  if (rank == first) {
    report.status = (int)status;
    snprintf(report.message, sizeof report.message, "%s",
             kubo_error_message());
  }
  code = MPI_Bcast(&report, (int)sizeof report, MPI_BYTE, first,
                   MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) return mpi_fail(code, "MPI_Bcast");
  /* name the rank unless every rank failed, or the message agreed on
  ** before already names it */
  if (all_failed || strstr(report.message, " (on rank ") != NULL)
    return kubo_error_set((kubo_status)report.status, "%s",
                          report.message);
  return kubo_error_set((kubo_status)report.status, "%s (on rank %d)",
                        report.message, first);
}

#endif
