/*
** optim.h: optimizers (Adam, SGD with momentum) and the exponential
** moving average (EMA) of a network's weights.
**
** An optimizer updates the parameter block of one kubo_nn from its
** gradient block. Its own state (Adam's two moments, SGD's momentum)
** lives in blocks of the same length, allocated once. The network must
** outlive the optimizer. Every update is elementwise and every norm is
** summed in a fixed order, so a step gives the same bits for any thread
** count.
**
** One step, with t the step number (1 for the first step) and w(t) =
** min(t / warmup, 1) the linear warm-up factor (1 when warmup is 0):
**   order "standard": the gradient is clipped (see clip_mode), then
**     Adam or SGD runs with the learning rate lr * w(t);
**   order "reference": the gradient is multiplied by w(t), then clipped,
**     then Adam runs with lr. This is the order of CliMAgen.jl's Flux
**     chain Optimiser(WarmupSchedule, ClipNorm, Adam). Because Adam
**     normalises the gradient, this warm-up changes little beyond the
**     eps term.
** Clipping to norm clip (0: off) scales a gradient whose Euclidean norm
** exceeds clip down to that norm, either per parameter array
** (KUBO_CLIP_ARRAY, as Flux's ClipNorm does) or over all arrays together
** (KUBO_CLIP_GLOBAL, as PyTorch's clip_grad_norm_ does). The gradient
** block itself is never modified.
** Adam (bias-corrected, as in PyTorch and Flux):
**   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
**   p -= lr m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps).
** SGD: b = momentum b + g; p -= lr (g + momentum b) with nesterov, else
** p -= lr b.
*/
#ifndef KUBO_OPTIM_H
#define KUBO_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "kubo/error.h"
#include "kubo/h5.h"
#include "kubo/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kubo_optim_kind { KUBO_OPTIM_ADAM = 0, KUBO_OPTIM_SGD }
  kubo_optim_kind;

typedef enum kubo_clip_mode {
  KUBO_CLIP_GLOBAL = 0,
  KUBO_CLIP_ARRAY
} kubo_clip_mode;

typedef enum kubo_optim_order {
  KUBO_ORDER_STANDARD = 0,
  KUBO_ORDER_REFERENCE
} kubo_optim_order;

typedef struct kubo_optim_config {
  kubo_optim_kind kind;
  double lr;                  /* 1e-3 */
  double beta1, beta2, eps;   /* Adam: 0.9, 0.999, 1e-8 */
  double momentum;            /* SGD: 0 */
  bool nesterov;              /* SGD: false */
  double clip;                /* maximum gradient norm; 0: no clipping */
  kubo_clip_mode clip_mode;   /* global */
  int64_t warmup;             /* warm-up steps; 0: none */
  kubo_optim_order order;     /* standard */
} kubo_optim_config;

typedef struct kubo_optim kubo_optim;

/* Fills the defaults above for kind. */
void kubo_optim_config_default(kubo_optim_config *cfg, kubo_optim_kind kind);

/* Creates an optimizer for net's parameters. Fails with KUBO_EINVAL for
** a negative or non-finite lr, betas outside [0, 1), eps <= 0, momentum
** outside [0, 1), a negative clip or warmup, or nesterov without
** momentum. Fails with KUBO_ENOMEM if the state cannot be allocated. */
kubo_status kubo_optim_new(kubo_optim **out, kubo_nn *net,
                           const kubo_optim_config *cfg);
void kubo_optim_free(kubo_optim *opt);

/* Updates the parameters from the current gradients and advances the
** step count. Fails with KUBO_ENUMERIC, leaving the parameters and the
** state unchanged, if a gradient is NaN or infinite. */
kubo_status kubo_optim_step(kubo_optim *opt);

/* Sets the base learning rate for the following steps (a schedule). */
kubo_status kubo_optim_set_lr(kubo_optim *opt, double lr);

const kubo_optim_config *kubo_optim_get_config(const kubo_optim *opt);
int64_t kubo_optim_step_count(const kubo_optim *opt);
kubo_nn *kubo_optim_net(const kubo_optim *opt);

/* Norm of the gradient of the last step before clipping (the global
** norm over all arrays, after the reference warm-up factor). */
double kubo_optim_last_grad_norm(const kubo_optim *opt);


/* ---------------------------------------------------------------------
** EMA of the weights: after each update n (counting from 0),
**   shadow = d shadow + (1 - d) params,
** with d = min(rate, (1 + n) / (10 + n)) when warmup is set, else rate.
** The warm-up lets the average follow the weights in short runs, where a
** plain 0.999 average would stay near the initial weights. The shadow
** starts as a copy of the parameters.
** ------------------------------------------------------------------- */

typedef struct kubo_ema kubo_ema;

/* Fails with KUBO_EINVAL for a rate outside [0, 1). net must outlive the
** EMA. */
kubo_status kubo_ema_new(kubo_ema **out, kubo_nn *net, double rate,
                         bool warmup);
void kubo_ema_free(kubo_ema *ema);

void kubo_ema_update(kubo_ema *ema);

/* Copies the averaged weights into target, which must have the spec of
** the EMA's network (KUBO_EINVAL otherwise). */
kubo_status kubo_ema_copy_to(const kubo_ema *ema, kubo_nn *target);

/* Exchanges the averaged weights with the network's weights (call twice
** to restore). */
void kubo_ema_swap(kubo_ema *ema);

float *kubo_ema_weights(const kubo_ema *ema);
/* Makes out (empty) a 1-D float32 view of the averaged weights. */
void kubo_ema_view(const kubo_ema *ema, kubo_tensor *out);
int64_t kubo_ema_updates(const kubo_ema *ema);
double kubo_ema_rate(const kubo_ema *ema);
bool kubo_ema_warmup(const kubo_ema *ema);
kubo_nn *kubo_ema_net(const kubo_ema *ema);


/* ---------------------------------------------------------------------
** Checkpoint pieces (kubo_nn_save writes them). Attributes go into
** root_attrs (the file's root attributes), arrays into w:
**   optimizer.kind, optimizer.step, optimizer.lr, optimizer.beta1,
**   optimizer.beta2, optimizer.eps, optimizer.momentum,
**   optimizer.nesterov, optimizer.clip, optimizer.clip_mode,
**   optimizer.warmup, optimizer.order;
**   /optimizer/m and /optimizer/v (Adam) or /optimizer/momentum (SGD),
**   float32, in the network's parameter order;
**   ema.rate, ema.warmup, ema.updates; /ema/parameters/<name>.
** The readers restore everything written, so training continues to the
** same bits. They fail with KUBO_EIO if the file lacks the state and
** with KUBO_EINVAL if it belongs to another kind or size.
** ------------------------------------------------------------------- */

kubo_status kubo_optim_write_h5(const kubo_optim *opt, kubo_h5_writer *w,
                                kubo_h5_attrs *root_attrs);
kubo_status kubo_optim_read_h5(kubo_optim *opt, const char *path);
kubo_status kubo_ema_write_h5(const kubo_ema *ema, kubo_h5_writer *w,
                              kubo_h5_attrs *root_attrs);
kubo_status kubo_ema_read_h5(kubo_ema *ema, const char *path);

#ifdef __cplusplus
}
#endif

#endif
