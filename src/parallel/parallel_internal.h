/*
** parallel_internal.h: transfers shared by the files of src/parallel.
** Like the collectives of kubo/mpi.h, they are the one-rank identity
** without MPI.
*/
#ifndef KUBO_PARALLEL_INTERNAL_H
#define KUBO_PARALLEL_INTERNAL_H

#include <stdint.h>

#include "kubo/error.h"

/* Sends rows[r] rows of row_bytes bytes from full on rank 0 (contiguous,
** rank 0's rows first) to local on each rank r. Collective. */
kubo_status parallel_scatter_rows(const void *full, void *local,
                                  const int64_t *rows, int64_t row_bytes);

/* Sends bytes bytes to rank 0, which receives them with
** parallel_recv_rows(buf, bytes, rank of the sender). */
kubo_status parallel_send_rows(const void *buf, int64_t bytes);
kubo_status parallel_recv_rows(void *buf, int64_t bytes, int from);

#endif
