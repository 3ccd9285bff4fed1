/*
** mpi.h: the processes of an MPI job (Open MPI) and the collective
** operations that split ensembles, perturbation runs and training
** batches across them.
**
** Ranks: kubo works on MPI_COMM_WORLD. A build without MPI (KUBO_MPI
** off), and an MPI build started without an MPI launcher, is rank 0 of
** 1. Every collective below is then the identity (a copy where it has an
** output), and fails only on invalid arguments.
**
** Determinism: every reduction adds the ranks' values in rank order,
** ((x_0 + x_1) + x_2) + ..., on rank 0 and sends the result to every
** rank. The result is therefore the same on every rank and from run to
** run, and for one rank it is x_0 itself. It does not depend on the
** algorithm the MPI library picks for its own reductions. Results that
** must not depend on the rank count either (ensembles, perturbation
** responses) are gathered per member and reduced in member order.
**
** Errors: MPI failures return KUBO_EIO with MPI's message (the library's
** error handler is set to return). A collective must be entered by
** every rank; kubo_mpi_agree lets all ranks stop together when one of
** them failed. The engine never calls MPI_Abort: a program that ends on
** an error calls kubo_mpi_abort so that the other ranks end too.
**
** Threads: MPI is initialised with MPI_THREAD_FUNNELED. Call these
** functions from the thread that called kubo_mpi_init, never from inside
** an OpenMP region.
*/
#ifndef KUBO_MPI_H
#define KUBO_MPI_H

#include <stdint.h>

#include "kubo/error.h"
#include "kubo/h5.h"
#include "kubo/integrator.h"
#include "kubo/nn.h"
#include "kubo/response.h"
#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------
** Processes
** ------------------------------------------------------------------- */

/* Returns 1 if kubo was built with MPI, else 0. */
int kubo_mpi_built(void);

/* Initialises MPI if kubo was built with it, the process was started by
** an MPI launcher (mpirun or mpiexec of Open MPI, or a launcher that
** sets PMIX_RANK or PMI_RANK) and MPI is not initialised yet. Then, and
** also when the caller initialised MPI before, sets MPI_ERRORS_RETURN on
** MPI_COMM_WORLD. Does nothing else, and is safe to call more than once.
** Fails with KUBO_EIO if MPI_Init_thread fails or the library cannot
** call MPI from the main thread of a multi-threaded program. */
kubo_status kubo_mpi_init(void);

/* Returns 1 between a successful MPI initialisation by kubo_mpi_init
** (or by the caller) and kubo_mpi_finalize, else 0. */
int kubo_mpi_active(void);

/* Finalises MPI if it is active. Every rank must call it. */
void kubo_mpi_finalize(void);

/* Ends every rank of the job with exit status code (MPI_Abort). For
** programs only, on their error path: the engine never calls it. Does
** nothing when MPI is not active. */
void kubo_mpi_abort(int code);

/* The rank of this process (0 .. size - 1) and the number of ranks. */
int kubo_mpi_rank(void);
int kubo_mpi_size(void);

/* Sets *first and *count to the contiguous share of total items that
** rank `rank` of `size` takes: the first total % size ranks take one
** item more than the rest, so shares differ by at most one. */
void kubo_mpi_share(int64_t total, int rank, int size, int64_t *first,
                    int64_t *count);


/* ---------------------------------------------------------------------
** Collectives
** ------------------------------------------------------------------- */

typedef enum kubo_mpi_op {
  KUBO_MPI_SUM = 0,
  KUBO_MPI_PROD,
  KUBO_MPI_MAX,
  KUBO_MPI_MIN
} kubo_mpi_op;

/* Parses "sum", "prod", "max", "min"; returns -1 otherwise. */
int kubo_mpi_op_parse(const char *name);
const char *kubo_mpi_op_name(kubo_mpi_op op);

kubo_status kubo_mpi_barrier(void);

/* Replaces x[0..n-1] on every rank by op over the ranks' values, applied
** in rank order (see Determinism). n must be the same on every rank. */
kubo_status kubo_mpi_allreduce_f64(double *x, int64_t n, kubo_mpi_op op);
kubo_status kubo_mpi_allreduce_f32(float *x, int64_t n, kubo_mpi_op op);
kubo_status kubo_mpi_allreduce_i64(int64_t *x, int64_t n, kubo_mpi_op op);

/* Copies bytes bytes of buf on rank root into buf on every other rank.
** Fails with KUBO_EINVAL for a root outside 0 .. size - 1. */
kubo_status kubo_mpi_bcast(void *buf, int64_t bytes, int root);

/* Gathers rows of every rank into out on every rank (all = 1) or on
** rank 0 only (all = 0; out is not used elsewhere and may be NULL).
** local holds blocks blocks of rows[rank] rows of row_bytes bytes each.
** out receives blocks blocks of (rows[0] + ... + rows[size - 1]) rows,
** rank 0's rows first within each block. rows must be the same array on
** every rank. With blocks = 1 this is an ordered concatenation, and with
** frames as blocks and members as rows it joins (frames, members, ...)
** arrays along the members. */
kubo_status kubo_mpi_gather_rows(const void *local, void *out,
                                 int64_t blocks, const int64_t *rows,
                                 int64_t row_bytes, int all);

/* Makes every rank return the same status: KUBO_OK if status is KUBO_OK
** on every rank, else the status and message of the lowest rank r that
** failed, which every rank then has in kubo_error_message(). Unless every
** rank failed, the message gets the suffix " (on rank r)" (once: a
** message that has one keeps it). */
kubo_status kubo_mpi_agree(kubo_status status);


/* ---------------------------------------------------------------------
** Ensembles split across ranks
**
** A split ensemble of `total` members is one kubo_sim per rank with the
** rank's share of the members (kubo_mpi_share). Its first_member is the
** global index of its first member, so every member draws the noise it
** would draw in one integrator of all members. The functions below are
** collective.
** ------------------------------------------------------------------- */

/* Copies the internal state, hidden state and step count of members
** first .. first + count - 1 of full (on rank 0; NULL elsewhere) into
** every rank's local. local must be on rank `rank` the share of full's
** members (kubo_mpi_share) with the same model kind, method, dt, seed
** and noise draw. On rank 0 full must have the total member count.
** Fails with KUBO_EINVAL if the shapes do not fit; every rank returns
** the same status. */
kubo_status kubo_mpi_sim_scatter(kubo_sim *local, const kubo_sim *full);

/* The reverse of kubo_mpi_sim_scatter: collects every rank's members into
** full on rank 0 (NULL elsewhere), with the step count of rank 0. */
kubo_status kubo_mpi_sim_gather(const kubo_sim *local, kubo_sim *full);

/* Writes the state of the whole ensemble, (total members, ...state
** shape...) float64, into u on every rank, in member order. */
kubo_status kubo_mpi_sim_state(const kubo_sim *local, int64_t total,
                               double *u);

/* The perturbation response of a split ensemble: the same estimate, to
** the bit, as kubo_response_perturbation on one integrator of all total
** members. Each rank advances its own members. At every lag the ranks
** send (perturbed - control) / delta of their members to rank 0 in rank
** order, and rank 0 adds them to the running mean and variance in member
** order. At the end it sends the result to every rank. out->members
** counts every rank's realisations. Fails as kubo_response_perturbation
** on any rank, with every rank returning that status. */
kubo_status kubo_mpi_response_perturbation(const kubo_sim *local,
                                           int64_t total,
                                           const kubo_perturbation_spec *p,
                                           kubo_response *out);


/* ---------------------------------------------------------------------
** Data-parallel training
**
** Every rank has the same network and optimizer state and draws the same
** batch. Each runs the network on its own rows of the batch, and the
** ranks add their gradients before the optimizer step, so every rank
** takes the same step. The gradient differs from a one-rank
** run's only in the order of the float32 additions over the rows.
** ------------------------------------------------------------------- */

/* Sets *first and *count to this rank's rows of a batch of n rows
** (kubo_mpi_share; count is 0 on some ranks when n < size). */
void kubo_mpi_batch_rows(int64_t n, int64_t *first, int64_t *count);

/* Adds the parameter gradients of net (kubo_nn_grads) over the ranks in
** rank order, so that every rank has those of the whole batch.
** Collective. */
kubo_status kubo_mpi_reduce_gradients(kubo_nn *net);


/* ---------------------------------------------------------------------
** Files
** ------------------------------------------------------------------- */

/* Writes the name of rank `rank`'s own file for a file that the ranks
** write together: "run.h5" becomes "run.rank1.h5" ("data" becomes
** "data.rank1"). Fails with KUBO_EINVAL if it does not fit in size
** bytes. */
kubo_status kubo_mpi_rank_path(const char *path, int rank, char *out,
                               size_t size);

/* Joins dataset `name` of the files sources[0 .. count - 1] into one
** HDF5 virtual dataset `name` of the file at path, which a reader sees
** as one dataset: the sources' datasets are laid side by side along
** dimension `axis`, in order. They must agree in dtype, rank and every
** other dimension. An existing object `name` in path is replaced and
** the rest of the file is kept. As in kubo/h5.h, the change is made in a
** temporary copy that replaces the file. attrs (NULL for none) are
** attached to the virtual dataset. The sources must be in path's folder
** and are recorded by their names within it, so the files can be moved
** together. Not collective: call it on one rank after every source is
** closed. Fails with KUBO_EIO if a source cannot be read and with
** KUBO_EINVAL if the sources do not agree. */
kubo_status kubo_mpi_h5_join(const char *path, const char *name,
                             int count, const char *const *sources,
                             int axis, const kubo_h5_attrs *attrs);

#ifdef __cplusplus
}
#endif

#endif
