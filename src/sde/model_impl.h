/*
** model_impl.h: the layout of kubo_model and the operations each kind
** provides, shared by src/sde/ only.
**
** Every model works on an internal representation of one member's state
** with state_size doubles: the half spectrum (2 H doubles, unnormalised
** forward transform) for grid models, the vector itself for the others.
** The integrator steps that representation; sde_encode and sde_decode
** convert from and to real states.
*/
#ifndef KUBO_SDE_MODEL_IMPL_H
#define KUBO_SDE_MODEL_IMPL_H

#include <fftw3.h>

#include "kubo/model.h"

/* Doubles by which work arrays are rounded up, so that every piece of a
** work block starts 64-byte aligned (FFTW needs 16 bytes). */
enum { SDE_PAD = 8 };

static inline int64_t sde_pad(int64_t n) {
  return (n + SDE_PAD - 1) / SDE_PAD * SDE_PAD;
}

typedef struct model_ops {
  const char *kind;
  const char *const *param_names;       /* NULL-terminated */
  const char *const *array_names;       /* NULL-terminated, or NULL */
  int spectral;                         /* state stored as half spectra */

  /* Fills m->params with the reference values (grid set, not ready). */
  void (*defaults)(kubo_model *m);

  /* Checks parameters, sets dim, hidden_size, noise_normals and
  ** work_size, builds tables into m->data. */
  kubo_status (*ready)(kubo_model *m);

  /* Frees m->data. */
  void (*destroy)(kubo_model *m);

  /* out = F(x) for one member in the internal representation. hidden:
  ** the member's hidden values (NULL if the kind has none). fresh: 1 if
  ** hidden may differ from the previous call made with this work block.
  ** work: m->work_size doubles, 64-byte aligned. */
  kubo_status (*drift)(const kubo_model *m, const double *x,
                       const double *hidden, int fresh, double *out,
                       double *work);

  /* Builds one member's noise per unit time, eta, in the internal
  ** representation from the normals z (sde_noise_normals of them).
  ** NULL for a kind without additive noise. */
  void (*noise)(const kubo_model *m, int draw, const double *z,
                double *eta);

  /* Draws the hidden state of member g at the start of a run. NULL for
  ** a kind without one. */
  void (*hidden_init)(const kubo_model *m, uint64_t seed, uint64_t g,
                      double *hidden);

  /* Writes the default initial real state of members first_member ..
  ** first_member + members - 1 into u (members, dim). */
  kubo_status (*default_state)(const kubo_model *m, uint64_t seed,
                               int64_t first_member, int64_t members,
                               double *u);

  /* Analytic score of count real states; NULL if the kind has none. */
  kubo_status (*score)(const kubo_model *m, int64_t count,
                       const double *u, double *out);

  double (*default_dt)(const kubo_model *m);
} model_ops;

typedef struct model_array {
  const char *name;                     /* from ops->array_names */
  kubo_tensor value;                    /* contiguous float64 copy */
} model_array;

enum { SDE_MAX_ARRAYS = 4 };

struct kubo_model {
  long refcount;                        /* atomic updates only */
  const model_ops *ops;
  int ready;
  int nparams;
  double params[KUBO_MODEL_MAX_PARAMS];
  model_array arrays[SDE_MAX_ARRAYS];

  kubo_grid *grid;                      /* grid kinds only */
  int serial;                           /* drift on the calling thread */
  int has_score;
  char score_note[200];                 /* why has_score is 0, if it is */
  int64_t dim;                          /* real components per member */
  int64_t state_size;                   /* internal doubles per member */
  int64_t hidden_size;                  /* hidden values per member */
  double hidden_diffusivity;            /* D of the hidden Brownian
                                        ** motions: <dh^2> = 2 D t */
  int64_t work_size;                    /* doubles of drift work */

  /* Grid kinds: sizes, tables and the model's own FFTW plans (made once
  ** under kubo_fftw_lock, executed on 64-byte aligned arrays). */
  int64_t M, H;                         /* real and spectral sizes */
  fftw_plan r2c, c2r;                   /* one field; c2r destroys its
                                        ** input */
  double *noise_coef;                   /* 3 H: per mode, the noise
                                        ** scales of the draws */
  int64_t *noise_map;                   /* 4 H: per mode, the kind and
                                        ** indices of the draws */

  kubo_model_drift_fn drift_fn;         /* "sde" kind */
  void *drift_userdata;

  void *data;                           /* kind-specific tables */
};

/* The kinds (model_spde.c, model_ns.c, model_vector.c). */
extern const model_ops sde_ou_ops, sde_allen_cahn_ops, sde_ns_ops,
  sde_double_well_ops, sde_linear_ops, sde_custom_ops;

/* Parameter value by name; the name must exist (internal use). */
double sde_param(const kubo_model *m, const char *name);

/* The array parameter `name` if set, else NULL. */
const kubo_tensor *sde_array(const kubo_model *m, const char *name);


/* ---------------------------------------------------------------------
** Spectral helpers (spectral.c), for grid kinds after sde_spectral_ready
** ------------------------------------------------------------------- */

/* Sets M and H, makes the plans and the noise tables for the noise
** spectrum eps2 / (1 + |k|^2) (eps2 <= 0 skips the noise tables). */
kubo_status sde_spectral_ready(kubo_model *m, double eps2);
void sde_spectral_free(kubo_model *m);

/* Doubles of work sde_encode and sde_decode need. */
int64_t sde_codec_work(const kubo_model *m);

/* Converts one real state u (dim doubles, any alignment) to the internal
** representation x, applying the grid's keep mask; and back. */
void sde_encode(const kubo_model *m, const double *u, double *x,
                double *work);
void sde_decode(const kubo_model *m, const double *x, double *u,
                double *work);

/* Batched versions over count members, in parallel when large. Fail
** with KUBO_ENOMEM only. */
kubo_status sde_encode_batch(const kubo_model *m, int64_t count,
                             const double *u, double *x);
kubo_status sde_decode_batch(const kubo_model *m, int64_t count,
                             const double *x, double *u);

/* Normals per member and step for the noise draw (KUBO_NOISE_HALF or
** KUBO_NOISE_FULL; vector kinds ignore it), 0 without noise. */
int64_t sde_noise_normals(const kubo_model *m, int draw);

/* The grid kinds' noise: builds the Hermitian spectrum eta of one member
** from z, as kubo_grid_random_field (half) or kubo_grid_noise (full). */
void sde_spectral_noise(const kubo_model *m, int draw, const double *z,
                        double *eta);

/* The real-to-complex transform of one field (real preserved) and the
** inverse (spec destroyed, no 1/M factor); arrays 16-byte aligned. */
static inline void sde_r2c(const kubo_model *m, double *real,
                           double *spec) {
  fftw_execute_dft_r2c(m->r2c, real, (fftw_complex *)spec);
}

static inline void sde_c2r(const kubo_model *m, double *spec,
                           double *real) {
  fftw_execute_dft_c2r(m->c2r, (fftw_complex *)spec, real);
}

/* The first failure among parallel tasks (lowest task index wins, so the
** report does not depend on the thread count). Error messages are per
** thread, so the failing thread's message is copied here. */
typedef struct sde_failure {
  kubo_status status;                   /* KUBO_OK while none */
  int64_t index;
  char message[1024];
} sde_failure;

void sde_failure_init(sde_failure *f);

/* Records status (with this thread's error message) for task index if
** it is the lowest index so far. Thread-safe. */
void sde_failure_record(sde_failure *f, kubo_status status, int64_t index);

/* Sets the calling thread's error message to the recorded one and returns
** the recorded status. */
kubo_status sde_failure_raise(const sde_failure *f);

/* Per-thread work blocks for batched evaluation: allocates n doubles,
** or returns NULL with the error set. */
double *sde_work_alloc(int64_t n);
void sde_work_free(double *work, int64_t n);

#endif
