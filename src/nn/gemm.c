/*
** gemm.c: the SGEMM wrapper with its time profile, and the workspace.
*/
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/nn_layers.h"
#include "nn_internal.h"

enum { PROFILE_SLOTS = 256 };

/* One slot per OpenMP thread, padded to a cache line so that threads do
** not share lines. */
typedef struct profile_slot {
  double seconds;
  char pad[64 - sizeof(double)];
} profile_slot;

static profile_slot profile[PROFILE_SLOTS];
static bool profile_on = false;


void kubo_nn_profile_enable(bool on) {
  profile_on = on;
}


void kubo_nn_profile_reset(void) {
  memset(profile, 0, sizeof profile);
}


double kubo_nn_profile_gemm_seconds(void) {
  double total = 0;
  for (int i = 0; i < PROFILE_SLOTS; i++) total += profile[i].seconds;
  return total;
}


void nn_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda, const float *b,
              int64_t ldb, float beta, float *c, int64_t ldc) {
  double start = 0;
  if (m == 0 || n == 0) return;
  if (profile_on) start = omp_get_wtime();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
  if (profile_on) {
    double elapsed = omp_get_wtime() - start;
    if (omp_in_parallel()) {
      int slot = omp_get_thread_num() % PROFILE_SLOTS;
      profile[slot].seconds += elapsed;
    } else {
      /* OpenBLAS ran this call on every thread of the team */
      #pragma omp atomic
      profile[0].seconds += elapsed * omp_get_max_threads();
    }
  }
}


kubo_status kubo_nn_workspace_reserve(kubo_nn_workspace *ws,
                                      size_t nfloats) {
  size_t nbytes;
  if (ws->nfloats >= nfloats && ws->data != NULL) return KUBO_OK;
  kubo_nn_workspace_free(ws);
  if (!kubo_size_mul(nfloats, sizeof(float), &nbytes))
    return kubo_error_set(KUBO_ENOMEM, "nn: workspace of %zu floats "
                          "overflows", nfloats);
  ws->data = kubo_alloc(nbytes);
  if (ws->data == NULL) return KUBO_ENOMEM;
  ws->nfloats = nfloats;
  return KUBO_OK;
}


void kubo_nn_workspace_free(kubo_nn_workspace *ws) {
  if (ws->data != NULL) kubo_free(ws->data, ws->nfloats * sizeof(float));
  ws->data = NULL;
  ws->nfloats = 0;
}
