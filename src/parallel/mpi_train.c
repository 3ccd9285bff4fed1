/*
** mpi_train.c: the hooks of data-parallel training (kubo/mpi.h).
*/
#include "kubo/mpi.h"


void kubo_mpi_batch_rows(int64_t n, int64_t *first, int64_t *count) {
  kubo_mpi_share(n, kubo_mpi_rank(), kubo_mpi_size(), first, count);
}


kubo_status kubo_mpi_reduce_gradients(kubo_nn *net) {
  return kubo_mpi_allreduce_f32(kubo_nn_grads(net),
                                kubo_nn_num_parameters(net), KUBO_MPI_SUM);
}
