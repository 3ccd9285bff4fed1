/*
** score.h: score models learned by denoising score matching, analytic
** and Gaussian scores, reverse-SDE sampling and score diagnostics.
**
** Noise schedule (variance exploding): sigma(t) = sigma_min (sigma_max /
** sigma_min)^t for t in [0, 1]; the noised data are x_t = x + sigma(t) z
** with z ~ N(0, I).
**
** Loss: one training step draws t ~ U(t_low, t_high) per sample and
** minimises the sigma^2-weighted denoising loss (z + sigma s(x_t,
** sigma))^2, averaged over every value of the batch (per pixel). For
** Gaussian data with covariance eigenvalues c_k the smallest achievable
** loss at one noise level is (1/D) sum_k c_k / (c_k + sigma^2), D values
** per sample. The network's output becomes the score in one of two ways:
**   KUBO_SCORE_OUT_EPSILON (default, as in the reference score model):
**     the network outputs epsilon-like values, s = net(x, sigma) / sigma;
**   KUBO_SCORE_OUT_SCORE: s = net(x, sigma) / sqrt(sigma^2 + s_d^2) with
**     s_d the data's standard deviation, so the output is of order 1 at
**     every noise level and need not shrink in proportion to sigma near
**     sigma_min. In the double-well case of test_score_learn_mlp.c (an
**     mlp, 3000 steps of 128, t from the response range) it lowered the
**     relative error of the score at sigma_min from 0.55 to 0.18.
**
** Noise ranges. The fluctuation-response estimators use the score at
** sigma_min only. Drawing t from [1e-5, 0.25] ("response", the default)
** spends the training on the noise levels near sigma_min. In a CPU
** re-implementation of the Allen-Cahn response experiment of Giorgini,
** Deck, Bischoff and Souza (Phys. Rev. Lett. 133, 267302 (2024)) this
** gave a learned score whose responses were as accurate as those of the
** analytic score. With t from
** [1e-5, 1] ("full") the responses barely beat the Gaussian estimate. Sampling integrates the reverse SDE from t = 1, so it needs
** a model trained on the full range.
**
** Data: samples of shape (samples, dim) for vector states, (samples, ny,
** nx) for fields on a grid, or (samples, channels, ny, nx), float32 or
** float64, from a tensor or an HDF5 dataset that is read in batches. A
** network receives (batch, dim), (batch, 1, ny, nx) or (batch, channels,
** ny, nx), except that an "mlp" receives every sample flattened to
** (batch, values per sample). An optional scale multiplies the data
** before training. It is recorded with the model, and scores are
** returned in the units of the unscaled data: s_x(x) = scale s_y(scale
** x). Noise levels (sigma_min, sigma_max, the sigma of
** kubo_score_eval_at) are in the scaled units of the network's input.
**
** Random numbers are Philox draws keyed by the seed and a stream that
** names their purpose (KUBO_SCORE_KEY_*) and an index (kubo/rng.h):
**   train/test split:      (KEY_SPLIT, 0), one permutation of the data
**   shuffle of epoch e:    (KEY_SHUFFLE, e), a permutation of the train set
**   noise of step n:       (KEY_NOISE, n), batch uniforms for t, then the
**                          normals z of the batch in row-major order
**   test noise of test sample j:  (KEY_TEST, j), one uniform then z
**   sigma_max "auto" sample:      (KEY_AUTO, 0)
** so a run resumed from a checkpoint draws the same bits as an
** uninterrupted one, and the bits never depend on the thread count.
*/
#ifndef KUBO_SCORE_H
#define KUBO_SCORE_H

#include <stdbool.h>
#include <stdint.h>

#include "kubo/error.h"
#include "kubo/model.h"
#include "kubo/nn.h"
#include "kubo/optim.h"
#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The smallest t of every noise range. */
#define KUBO_SCORE_T_FLOOR 1e-5
/* The upper end of t of the "response" range. */
#define KUBO_SCORE_T_RESPONSE 0.25

/* Purposes of the random streams (see the header comment). */
enum {
  KUBO_SCORE_KEY_SPLIT = 0,
  KUBO_SCORE_KEY_SHUFFLE = 1,
  KUBO_SCORE_KEY_NOISE = 2,
  KUBO_SCORE_KEY_TEST = 3,
  KUBO_SCORE_KEY_AUTO = 4,
  KUBO_SCORE_KEY_SAMPLE = 5,
  KUBO_SCORE_KEY_LOSS = 6
};

/* Fields drawn for sigma_max = "auto": the largest distance is taken
** over all pairs of this many training samples (fewer if the training
** set is smaller), 130 816 pairs. */
enum { KUBO_SCORE_AUTO_SAMPLES = 512 };

/* Largest number of dimensions of one sample (channels, ny, nx). */
enum { KUBO_SCORE_MAX_FRAME_DIM = 3 };

/* Returns sigma_min (sigma_max / sigma_min)^t. */
double kubo_score_sigma(double sigma_min, double sigma_max, double t);


/* ---------------------------------------------------------------------
** Training data
** ------------------------------------------------------------------- */

typedef struct kubo_score_data kubo_score_data;

/* Makes a data source over the samples of t, shape (samples, dim),
** (samples, ny, nx) or (samples, channels, ny, nx), float32 or float64,
** any layout. The source keeps a reference to t's storage. Fails with
** KUBO_EINVAL for another number of dimensions, no samples, or an empty
** tensor. */
kubo_status kubo_score_data_from_tensor(kubo_score_data **out,
                                        const kubo_tensor *t);

/* Makes a data source over the dataset `dataset` of the HDF5 file at
** path (the same shapes, any floating-point type). Samples are read when
** a batch needs them; the file stays closed in between. Fails with
** KUBO_EIO if the file or dataset cannot be read and with KUBO_EINVAL
** for a shape that is not one of the above. */
kubo_status kubo_score_data_from_h5(kubo_score_data **out, const char *path,
                                    const char *dataset);

void kubo_score_data_free(kubo_score_data *d);

int64_t kubo_score_data_count(const kubo_score_data *d);

/* Writes the shape of one sample and returns its number of dimensions
** (1 to 3). */
int kubo_score_data_frame_shape(const kubo_score_data *d, int64_t *shape);

/* Copies samples idx[0..n-1] (0-based, any order) times scale into out
** (n * values per sample floats, row-major). Fails with KUBO_EINVAL for
** an index out of range or a sample with a NaN or infinite value (the
** message names the sample), and with KUBO_EIO if the file cannot be
** read. */
kubo_status kubo_score_data_gather(kubo_score_data *d, int64_t n,
                                   const int64_t *idx, double scale,
                                   float *out);

/* Sets *value to 1.2 times the largest Euclidean distance between two of
** the samples idx[0..n-1] times scale, taken over all pairs of up to
** KUBO_SCORE_AUTO_SAMPLES of them drawn with the (KEY_AUTO, 0) stream
** of seed. Fails as kubo_score_data_gather, and with KUBO_EINVAL if
** fewer than two samples are given or all of them are equal. */
kubo_status kubo_score_sigma_max_auto(kubo_score_data *d, int64_t n,
                                      const int64_t *idx, double scale,
                                      uint64_t seed, double *value);


/* ---------------------------------------------------------------------
** Training
** ------------------------------------------------------------------- */

typedef enum kubo_score_output {
  KUBO_SCORE_OUT_EPSILON = 0,  /* s = net / sigma */
  KUBO_SCORE_OUT_SCORE         /* s = net / sqrt(sigma^2 + data_std^2) */
} kubo_score_output;

/* Parses "epsilon" or "score"; returns -1 for anything else. */
int kubo_score_output_parse(const char *name);
const char *kubo_score_output_name(kubo_score_output output);

typedef struct kubo_score_config {
  double sigma_min;           /* 0.01 */
  double sigma_max;           /* <= 0: "auto" (the default) */
  double t_low, t_high;       /* 1e-5 and 0.25 ("response") */
  int64_t epochs;             /* passes over the training set (10) */
  int64_t steps;              /* if > 0, the total number of optimizer
                                 steps instead of epochs */
  int64_t batch;              /* samples per step (32); a larger value
                                 is lowered to the training set size */
  double split;               /* share of samples for training (0.8),
                                 in (0, 1]; the rest is the test set */
  uint64_t seed;              /* 123 */
  double ema_rate;            /* 0.999; 0: no averaging */
  bool ema_warmup;            /* true: rate min(rate, (1 + n)/(10 + n)) */
  kubo_optim_config optim;    /* Adam, lr 2e-4, clip 1 (global) */
  double scale;               /* 1: data are used as given */
  kubo_score_output output;   /* epsilon */
  double data_std;            /* s_d of KUBO_SCORE_OUT_SCORE, in scaled
                                 units; <= 0: the standard deviation of
                                 all values of the sigma_max sample */
  int64_t eval_batch;         /* samples per forward pass when
                                 evaluating (64); the network spreads
                                 each batch over the OpenMP threads, and
                                 its activations grow with this size */
  const char *checkpoint;     /* file written every checkpoint_every
                                 epochs, at the end and on interrupt;
                                 NULL: none. Copied by the trainer. */
  int64_t checkpoint_every;   /* epochs between checkpoints; 0: only at
                                 the end and on interrupt */
} kubo_score_config;

void kubo_score_config_default(kubo_score_config *cfg);

/* Passed to the progress function after every epoch. */
typedef struct kubo_score_progress {
  int64_t epoch;              /* epochs finished, from 1 */
  int64_t epochs;             /* epochs planned (the last one may stop
                                 early when a step budget is given) */
  int64_t step, steps;        /* optimizer steps done and planned */
  double train_loss;          /* mean loss of this epoch's batches */
  double test_loss;           /* loss on the test set (EMA weights, fixed
                                 noise); NaN without a test set */
  double samples_per_second;  /* training samples of this epoch */
  double eta_seconds;         /* estimate for the remaining steps */
  bool partial;               /* the step budget ended the epoch */
} kubo_score_progress;

/* Returns KUBO_OK to continue; any other status stops training with it
** (the message must be set). */
typedef kubo_status (*kubo_score_progress_fn)(const kubo_score_progress *p,
                                              void *userdata);

typedef struct kubo_score_trainer kubo_score_trainer;

/* Creates a trainer for a copy of net (net itself is never modified) on
** the samples of data: splits them into training and test sets, finds
** sigma_max if it is "auto", and sets up Adam (or SGD) and the EMA.
** data is used during this call only. Fails with KUBO_EINVAL, naming the
** option, for a bad configuration (sigma_min <= 0, sigma_max <=
** sigma_min, t range outside [0, 1] or empty, no epochs and no steps,
** batch < 1, split outside (0, 1], scale <= 0 or not finite, ema_rate
** outside [0, 1)), for a network without a noise embedding, or for data
** with fewer than 2 training samples; with the status of a failed data
** read. */
kubo_status kubo_score_trainer_new(kubo_score_trainer **out,
                                   const kubo_nn *net, kubo_score_data *data,
                                   const kubo_score_config *cfg);

/* Restores the training state of a checkpoint written by this module
** (weights, optimizer and EMA state, step, epoch, position in the epoch,
** loss history and sigma_max), so that kubo_score_trainer_run continues
** to the same bits as an uninterrupted run. The optimizer settings come
** from the checkpoint; the budget (epochs or steps) and the checkpoint
** options stay those of tr. Fails with KUBO_EIO if the file cannot be
** read. Fails with KUBO_EINVAL, naming the difference, if the checkpoint
** was made for another network spec, data count, seed, split, batch,
** sigma_min, noise range, scale or output, or for another sigma_max when
** tr's was given as a number. On failure tr is unchanged. */
kubo_status kubo_score_trainer_resume(kubo_score_trainer *tr,
                                      const char *path);

/* Trains until the budget is spent, on the same data (the same count of
** samples) that tr was created with. Calls progress (if not NULL) after
** every epoch and writes checkpoints as configured. Checks
** kubo_interrupt_check() before every batch: on an interrupt it writes
** the checkpoint (if one is configured) and returns KUBO_EINTERRUPTED,
** leaving a usable model. Fails with KUBO_ENUMERIC if the loss or a
** gradient becomes NaN or infinite, and keeps the weights of the last
** good step. Fails with KUBO_EINVAL if data has another number of
** samples than at creation, and with the status of a failed read,
** checkpoint write or progress call.
** A trainer whose budget is spent returns KUBO_OK at once. */
kubo_status kubo_score_trainer_run(kubo_score_trainer *tr,
                                   kubo_score_data *data,
                                   kubo_score_progress_fn progress,
                                   void *userdata);

/* Writes the whole training state to path (HDF5, replacing the file
** atomically). The layout, readable from h5py:
**   root attributes: format = "kubo.score", kubo_version; score.* (the
**     configuration, sigma_max, step, epoch, position in the epoch, the
**     frame shape and data count); the network's spec, kind,
**     num_parameters, num_buffers; optimizer.* and ema.* (optim.h)
**   /network/parameters/<name>, /network/buffers/<name>: raw weights
**   /optimizer/m, /optimizer/v: Adam's moments
**   /ema/parameters/<name>: the averaged weights
**   /score/history: (epochs, 5) float64 rows of epoch, train loss, test
**     loss, step at the end of the epoch, and 1 for a partial epoch
** Fails with KUBO_EIO if the file cannot be written (it is then
** unchanged). */
kubo_status kubo_score_trainer_save(const kubo_score_trainer *tr,
                                    const char *path);

/* Reads a file written by kubo_score_trainer_save into a new trainer
** (for evaluation, or to continue with kubo_score_trainer_run on the same
** data). Fails with KUBO_EIO if it cannot be read and with KUBO_EINVAL if
** it is not a score file. */
kubo_status kubo_score_trainer_load(kubo_score_trainer **out,
                                    const char *path);

void kubo_score_trainer_free(kubo_score_trainer *tr);

/* The trainer's configuration (sigma_max resolved) and state. */
const kubo_score_config *kubo_score_trainer_config(
  const kubo_score_trainer *tr);
int64_t kubo_score_trainer_step(const kubo_score_trainer *tr);
int64_t kubo_score_trainer_epoch(const kubo_score_trainer *tr);
/* Planned optimizer steps of the current budget. */
int64_t kubo_score_trainer_total_steps(const kubo_score_trainer *tr);
int64_t kubo_score_trainer_train_count(const kubo_score_trainer *tr);
/* Copies the 0-based indices of the training (or test) samples into idx
** (kubo_score_trainer_train_count or data count minus that entries) in
** their split order. */
void kubo_score_trainer_indices(const kubo_score_trainer *tr, bool test,
                                int64_t *idx);
int64_t kubo_score_trainer_data_count(const kubo_score_trainer *tr);

/* The network being trained (raw weights) and the EMA (NULL without
** averaging); owned by the trainer. */
kubo_nn *kubo_score_trainer_net(const kubo_score_trainer *tr);
kubo_ema *kubo_score_trainer_ema(const kubo_score_trainer *tr);

/* The loss history: *rows entries of 5 doubles (see the file layout),
** owned by the trainer and valid until it runs again. */
const double *kubo_score_trainer_history(const kubo_score_trainer *tr,
                                         int64_t *rows);


/* ---------------------------------------------------------------------
** Score functions: one interface for learned, analytic and Gaussian
** scores
**
** x: (..., sample shape), float32 or float64, any layout; the result out
** (which must be empty) has x's shape and dtype. Leading dimensions may
** be anything (a whole trajectory (frames, members, ny, nx)).
** ------------------------------------------------------------------- */

typedef enum kubo_score_kind {
  KUBO_SCORE_NETWORK = 0,
  KUBO_SCORE_ANALYTIC,
  KUBO_SCORE_GAUSSIAN
} kubo_score_kind;

typedef struct kubo_score kubo_score;

/* A learned score from a trainer, which it takes over (the trainer is
** freed with the score, also on failure). It evaluates the EMA weights
** (the raw ones without averaging). */
kubo_status kubo_score_from_trainer(kubo_score **out,
                                    kubo_score_trainer *tr);

/* kubo_score_trainer_load, then kubo_score_from_trainer. */
kubo_status kubo_score_load(kubo_score **out, const char *path);

/* The exact score of model m (kubo_model_score; made ready here if it is
** not), for data stored as scale times the model's state: s_y(y) = (1 /
** scale) s(y / scale). Retains m. Fails with KUBO_EINVAL if the model has
** no analytic score or scale is not finite and positive. */
kubo_status kubo_score_analytic(kubo_score **out, kubo_model *m,
                                double scale);

typedef enum kubo_score_cov {
  KUBO_SCORE_COV_DENSE = 0,   /* the full sample covariance */
  KUBO_SCORE_COV_CIRCULANT    /* translation invariant on a periodic
                                 grid: one variance per Fourier mode */
} kubo_score_cov;

/* The score of the Gaussian fit to samples (samples, ...sample
** shape...): -(C + sigma^2 I)^-1 (x - mean), with sigma = 0 for
** kubo_score_eval. Dense: mean and covariance per value (eigen-
** decomposed once). Circulant (samples of shape (n) or (ny, nx) only):
** one mean for all points and the covariance eigenvalues c_k =
** <|x^_k|^2> / M per mode of M points. Also records sigma_max as
** kubo_score_sigma_max_auto of all samples (seed 0), for sampling.
** Along eigenvalues below 1e-12 of the largest (fewer samples than
** values, or modes that the data never excite) the score at sigma = 0
** is 0, as with a pseudo-inverse; a warning is logged. Fails with
** KUBO_EINVAL for fewer than 2 samples or a bad shape. */
kubo_status kubo_score_gaussian(kubo_score **out, const kubo_tensor *data,
                                kubo_score_cov cov);

void kubo_score_free(kubo_score *s);

kubo_score_kind kubo_score_get_kind(const kubo_score *s);
const char *kubo_score_kind_name(kubo_score_kind kind);

/* Writes the shape of one sample into shape and returns its number of
** dimensions (1 to 3). */
int kubo_score_frame_shape(const kubo_score *s, int64_t *shape);

/* The trainer of a learned score (owned by s), else NULL. */
kubo_score_trainer *kubo_score_get_trainer(const kubo_score *s);

/* Evaluates the score at its default noise level: sigma_min for a learned
** score, 0 (the exact density) for analytic and Gaussian ones. Frames
** are evaluated in batches of the trainer's eval_batch. Fails with
** KUBO_EINVAL if x does not end in the sample shape. */
kubo_status kubo_score_eval(kubo_score *s, const kubo_tensor *x,
                            kubo_tensor *out);

/* Evaluates the score of the data convolved with N(0, sigma^2 I), sigma
** >= 0 in the units of the network's input (scaled data). Fails with
** KUBO_EINVAL for an analytic score at sigma > 0 (not available) or for
** a learned score at sigma <= 0. */
kubo_status kubo_score_eval_at(kubo_score *s, const kubo_tensor *x,
                               double sigma, kubo_tensor *out);

/* Reads the noise schedule of a learned score. A Gaussian score gives
** its sigma_max with sigma_min 0.01, t_low 0 and t_high 1. Fails with
** KUBO_EINVAL for an analytic score. */
kubo_status kubo_score_schedule(const kubo_score *s, double *sigma_min,
                                double *sigma_max, double *t_low,
                                double *t_high);

/* The factor from data units to the units of sigma: the training scale
** of a learned score, 1 for analytic and Gaussian scores (whose inputs
** are in data units already). */
double kubo_score_scale(const kubo_score *s);


/* ---------------------------------------------------------------------
** Sampling
** ------------------------------------------------------------------- */

typedef struct kubo_score_sample_config {
  int64_t n;          /* samples (1000) */
  int64_t steps;      /* Euler-Maruyama steps (250), >= 2 */
  double t_end;       /* last time of the grid (1e-3) */
  uint64_t seed;      /* 0 */
  double sigma_min;   /* Gaussian scores only: the schedule (0.01; 0 */
  double sigma_max;   /* keeps the score's own sigma_max) */
} kubo_score_sample_config;

void kubo_score_sample_config_default(kubo_score_sample_config *cfg);

/* Draws samples by integrating the reverse SDE of the variance-exploding
** process with Euler-Maruyama, as the reference score model's sampler
** does: x starts from N(0, sigma_max^2 I), then at each of the steps
** times t_i = 1 - i dt, dt = (1 - t_end) / (steps - 1), i = 0 .. steps -
** 1, x += g(t_i)^2 s(x, sigma(t_i)) dt + g(t_i) sqrt(dt) z with g(t) =
** sigma(t) sqrt(2 ln(sigma_max / sigma_min)). Returns x in data units as
** a new float64 tensor (n, ...sample shape...). The start draws from
** stream (KEY_SAMPLE, 0) and step i from (KEY_SAMPLE, i + 1).
** Checks kubo_interrupt_check() before every step. Fails with
** KUBO_EINVAL for a learned score trained on a range that does not
** reach t = 1 (such as "response"), for an analytic score, and for a bad
** configuration. */
kubo_status kubo_score_sample(kubo_score *s,
                              const kubo_score_sample_config *cfg,
                              kubo_tensor *out);


/* ---------------------------------------------------------------------
** Diagnostics
** ------------------------------------------------------------------- */

/* Stein values per Fourier mode: with x and s the samples and their
** scores, shape (samples, n) or (samples, ny, nx), and x' = x minus its
** per-point sample mean, values_k = -Re <x'^_k conj(s^_k)> / M with M
** points: 1 at every mode for an exact score (Stein's identity). values
** and stderr (which must be empty) become float64 tensors of the half
** spectrum, (n/2 + 1) or (ny, nx/2 + 1). stderr is the standard error of
** the mean over samples. Fails with KUBO_EINVAL for other shapes, fewer
** than 2 samples or x and s of different shapes. */
kubo_status kubo_score_stein_spectral(const kubo_tensor *x,
                                      const kubo_tensor *s,
                                      kubo_tensor *values,
                                      kubo_tensor *stderr_out);

/* The dense Stein matrix -<x' s^T> of samples (samples, ...) flattened
** to D values: (D, D) float64 in *out, the identity for an exact score.
** Fails as above. */
kubo_status kubo_score_stein_dense(const kubo_tensor *x,
                                   const kubo_tensor *s, kubo_tensor *out);

/* The denoising loss (1/D) <|z + sigma s(y + sigma z, sigma)|^2> per
** value on the samples x (..., sample shape) in data units, scaled as the
** score expects (y = scale x), with z from the (KEY_LOSS, j) stream of
** seed for sample j, and its standard error over samples. An analytic
** score is used at sigma = 0, which approximates s(., sigma) when sigma
** is far below the data's scales. Fails with KUBO_EINVAL for sigma <= 0,
** fewer than 2 samples or another sample shape. */
kubo_status kubo_score_dsm_loss(kubo_score *s, const kubo_tensor *x,
                                double sigma, uint64_t seed, double *loss,
                                double *stderr_out);

/* The smallest denoising loss per value at sigma for Gaussian data with
** the covariance of the Gaussian score g scaled by scale^2: (1/D)
** sum_k c_k / (c_k + sigma^2) over the covariance eigenvalues c_k. Fails
** with KUBO_EINVAL if g is not a Gaussian score. */
kubo_status kubo_score_gaussian_ideal_loss(const kubo_score *g, double sigma,
                                           double scale, double *loss);

#ifdef __cplusplus
}
#endif

#endif
