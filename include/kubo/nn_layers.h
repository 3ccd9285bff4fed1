/*
** nn_layers.h: forward and backward kernels of kubo's network layers.
**
** Every kernel works on contiguous float32 arrays in NCHW order. A
** forward kernel writes its output. The matching backward kernel takes
** the output gradient (d-prefixed names) and ADDS the gradients of its
** input and of its parameters into the arrays it is given, so that a
** value used twice collects both contributions. A gradient pointer may
** be NULL when that gradient is not wanted. Shapes are in the comment
** beside each pointer: B is the batch size, C a channel count and S the
** number of spatial points per channel (H * W for images).
**
** Reductions over the batch (weight and bias gradients) are summed in an
** order that depends only on the shapes, never on the number of OpenMP
** threads, so training gives the same bits for any thread count as long
** as OpenBLAS's SGEMM does (it splits only the output matrix between its
** threads).
*/
#ifndef KUBO_NN_LAYERS_H
#define KUBO_NN_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubo/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch memory that grows on demand and is kept between calls, so that
** the convolution's column buffers are not allocated on every call.
** Start from {NULL, 0}; release with kubo_nn_workspace_free. */
typedef struct kubo_nn_workspace {
  float *data;
  size_t nfloats;
} kubo_nn_workspace;

/* Makes ws hold at least nfloats floats (contents are not kept). Fails
** with KUBO_ENOMEM and leaves ws empty if the allocation fails. */
kubo_status kubo_nn_workspace_reserve(kubo_nn_workspace *ws, size_t nfloats);
void kubo_nn_workspace_free(kubo_nn_workspace *ws);


/* ---------------------------------------------------------------------
** Linear: out = inp weight^T + bias
** ------------------------------------------------------------------- */

void kubo_linear_forward(float *out,           /* (B, O) */
                         const float *inp,     /* (B, I) */
                         const float *weight,  /* (O, I) */
                         const float *bias,    /* (O) or NULL */
                         int64_t batch, int64_t in, int64_t outf);

void kubo_linear_backward(float *dinp,          /* (B, I) or NULL */
                          float *dweight,       /* (O, I) */
                          float *dbias,         /* (O) or NULL */
                          const float *dout,    /* (B, O) */
                          const float *inp,     /* (B, I) */
                          const float *weight,  /* (O, I) */
                          int64_t batch, int64_t in, int64_t outf);


/* ---------------------------------------------------------------------
** Conv2d: square odd kernel, padding kernel / 2 on every side (circular
** when periodic, else zeros), stride 1 or more. With upsample set the
** input is read as if first enlarged x2 by nearest-neighbour
** upsampling, which fuses the U-Net's upsample-then-convolve step.
** Output size: Ho = (H' + 2 * (kernel / 2) - kernel) / stride + 1 with
** H' = H (or 2 H when upsampling), and likewise for Wo. The weight layout
** is PyTorch's: (out_channels, in_channels, kernel, kernel).
** ------------------------------------------------------------------- */

typedef struct kubo_conv2d_geometry {
  int64_t batch;
  int in_channels, out_channels;
  int height, width;        /* of the input as stored */
  int kernel;               /* odd, >= 1 */
  int stride;               /* >= 1 */
  bool periodic;            /* circular padding, else zero padding */
  bool upsample;            /* read the input nearest-upsampled x2 */
} kubo_conv2d_geometry;

/* Checks g and computes the output size. Fails with KUBO_EINVAL (naming
** the bad field) for an even or non-positive kernel, a stride below 1,
** empty sizes, or circular padding wider than the (upsampled) input. */
kubo_status kubo_conv2d_output_size(const kubo_conv2d_geometry *g,
                                    int *out_height, int *out_width);

/* The fast convolution: im2col and cblas_sgemm, OpenMP over groups of
** samples. ws may be NULL (a temporary is allocated). Fails only with
** KUBO_EINVAL for a bad geometry or KUBO_ENOMEM. */
kubo_status kubo_conv2d_forward(float *out,           /* (B, Co, Ho, Wo) */
                                const float *inp,     /* (B, Ci, H, W) */
                                const float *weight,  /* (Co, Ci, k, k) */
                                const float *bias,    /* (Co) or NULL */
                                const kubo_conv2d_geometry *g,
                                kubo_nn_workspace *ws);

kubo_status kubo_conv2d_backward(float *dinp,          /* (B, Ci, H, W)
                                                          or NULL */
                                 float *dweight,       /* (Co, Ci, k, k) */
                                 float *dbias,         /* (Co) or NULL */
                                 const float *dout,    /* (B, Co, Ho, Wo) */
                                 const float *inp,     /* (B, Ci, H, W) */
                                 const float *weight,  /* (Co, Ci, k, k) */
                                 const kubo_conv2d_geometry *g,
                                 kubo_nn_workspace *ws);

/* The reference convolution: direct loops with float64 sums, no BLAS and
** no threads. Same contract as the fast pair; kept for tests. */
kubo_status kubo_conv2d_forward_naive(float *out, const float *inp,
                                      const float *weight,
                                      const float *bias,
                                      const kubo_conv2d_geometry *g);
kubo_status kubo_conv2d_backward_naive(float *dinp, float *dweight,
                                       float *dbias, const float *dout,
                                       const float *inp,
                                       const float *weight,
                                       const kubo_conv2d_geometry *g);


/* ---------------------------------------------------------------------
** Group normalisation with a per-channel affine map. The C channels are
** split into G groups of C / G consecutive channels. Each (sample, group)
** is normalised by its mean and biased variance over (C / G) * S values,
** then out = gamma[c] * xhat + beta[c].
** ------------------------------------------------------------------- */

void kubo_group_norm_forward(float *out,          /* (B, C, S) */
                             float *mean,         /* (B, G) saved */
                             float *rstd,         /* (B, G) saved */
                             const float *inp,    /* (B, C, S) */
                             const float *gamma,  /* (C) */
                             const float *beta,   /* (C) */
                             int64_t batch, int channels, int64_t spatial,
                             int groups, float eps);

/* Fails only with KUBO_ENOMEM (for a (B, C) scratch array). */
kubo_status kubo_group_norm_backward(float *dinp,          /* (B, C, S) */
                                     float *dgamma,        /* (C) */
                                     float *dbeta,         /* (C) */
                                     const float *dout,    /* (B, C, S) */
                                     const float *inp,     /* (B, C, S) */
                                     const float *mean,    /* (B, G) */
                                     const float *rstd,    /* (B, G) */
                                     const float *gamma,   /* (C) */
                                     int64_t batch, int channels,
                                     int64_t spatial, int groups);


/* ---------------------------------------------------------------------
** Elementwise activations: swish(x) = x * sigmoid(x), relu, tanh. The
** backward kernels use the input, so an activation's output may be
** changed in place later without breaking them.
** ------------------------------------------------------------------- */

typedef enum kubo_activation {
  KUBO_ACT_SWISH = 0,
  KUBO_ACT_RELU,
  KUBO_ACT_TANH
} kubo_activation;

const char *kubo_activation_name(kubo_activation act);

/* Parses "swish" (or "silu"), "relu" or "tanh"; returns -1 if unknown. */
int kubo_activation_parse(const char *name);

void kubo_activation_forward(float *out,        /* (n) */
                             const float *inp,  /* (n) */
                             int64_t n, kubo_activation act);
void kubo_activation_backward(float *dinp,        /* (n) */
                              const float *dout,  /* (n) */
                              const float *inp,   /* (n) */
                              int64_t n, kubo_activation act);


/* ---------------------------------------------------------------------
** Gaussian Fourier embedding of a scalar per sample:
** out[b] = [sin(2 pi f_j t_b) for j < F, cos(2 pi f_j t_b) for j < F],
** with fixed frequencies f (drawn once from N(0, scale^2)).
** ------------------------------------------------------------------- */

void kubo_fourier_forward(float *out,         /* (B, 2F) */
                          const float *t,     /* (B) */
                          const float *freq,  /* (F) */
                          int64_t batch, int nfreq);
void kubo_fourier_backward(float *dt,           /* (B) */
                           const float *dout,   /* (B, 2F) */
                           const float *t,      /* (B) */
                           const float *freq,   /* (F) */
                           int64_t batch, int nfreq);


/* ---------------------------------------------------------------------
** Per-sample, per-channel conditioning
** ------------------------------------------------------------------- */

/* x[b, c, s] += scale * e[b, c], in place (the embedding bias). */
void kubo_channel_add_forward(float *x,         /* (B, C, S) */
                              const float *e,   /* (B, C) */
                              float scale, int64_t batch, int channels,
                              int64_t spatial);
/* de[b, c] += scale * sum_s dout[b, c, s]; the gradient of x is dout. */
void kubo_channel_add_backward(float *de,          /* (B, C) */
                               const float *dout,  /* (B, C, S) */
                               float scale, int64_t batch, int channels,
                               int64_t spatial);

/* Feature-wise scale and shift: out = inp * (1 + g) + h, where
** e[b] = [g[b, 0..C-1], h[b, 0..C-1]]. */
void kubo_film_forward(float *out,         /* (B, C, S) */
                       const float *inp,   /* (B, C, S) */
                       const float *e,     /* (B, 2C) */
                       int64_t batch, int channels, int64_t spatial);
void kubo_film_backward(float *dinp,        /* (B, C, S) or NULL */
                        float *de,          /* (B, 2C) or NULL */
                        const float *dout,  /* (B, C, S) */
                        const float *inp,   /* (B, C, S) */
                        const float *e,     /* (B, 2C) */
                        int64_t batch, int channels, int64_t spatial);

/* out[b, i] = factor[b] * inp[b, i]: one factor per sample. */
void kubo_sample_scale_forward(float *out,           /* (B, n) */
                               const float *inp,     /* (B, n) */
                               const float *factor,  /* (B) */
                               int64_t batch, int64_t n);
void kubo_sample_scale_backward(float *dinp,           /* (B, n) */
                                const float *dout,     /* (B, n) */
                                const float *factor,   /* (B) */
                                int64_t batch, int64_t n);


/* ---------------------------------------------------------------------
** Shape operations
** ------------------------------------------------------------------- */

/* Nearest-neighbour upsampling by 2 in both spatial directions. */
void kubo_upsample_forward(float *out,        /* (B, C, 2H, 2W) */
                           const float *inp,  /* (B, C, H, W) */
                           int64_t batch, int channels, int height,
                           int width);
void kubo_upsample_backward(float *dinp,        /* (B, C, H, W) */
                            const float *dout,  /* (B, C, 2H, 2W) */
                            int64_t batch, int channels, int height,
                            int width);

/* Concatenation along channels: out[b] = [a[b], c[b]]. */
void kubo_concat_forward(float *out,      /* (B, Ca + Cc, S) */
                         const float *a,  /* (B, Ca, S) */
                         const float *c,  /* (B, Cc, S) */
                         int64_t batch, int ca, int cc, int64_t spatial);
void kubo_concat_backward(float *da,          /* (B, Ca, S) or NULL */
                          float *dc,          /* (B, Cc, S) or NULL */
                          const float *dout,  /* (B, Ca + Cc, S) */
                          int64_t batch, int ca, int cc, int64_t spatial);

/* out = inp - its mean over S, for each of the n planes. */
void kubo_center_forward(float *out,        /* (n, S) */
                         const float *inp,  /* (n, S) */
                         int64_t n, int64_t spatial);
void kubo_center_backward(float *dinp,        /* (n, S) */
                          const float *dout,  /* (n, S) */
                          int64_t n, int64_t spatial);

/* out[i] = mean over S of inp[i, :]. */
void kubo_spatial_mean_forward(float *out,        /* (n) */
                               const float *inp,  /* (n, S) */
                               int64_t n, int64_t spatial);
void kubo_spatial_mean_backward(float *dinp,        /* (n, S) */
                                const float *dout,  /* (n) */
                                int64_t n, int64_t spatial);

/* x += y (the residual connection), in place. */
void kubo_add_forward(float *x, const float *y, int64_t n);


/* ---------------------------------------------------------------------
** Loss
** ------------------------------------------------------------------- */

/* Returns mean((y - target)^2) over n values, summed in float64, and, if
** dy is not NULL, sets dy = 2 (y - target) / n (overwritten, not added). */
double kubo_mse_loss(float *dy, const float *y, const float *target,
                     int64_t n);


/* ---------------------------------------------------------------------
** Profile: seconds spent in SGEMM calls, for benchmarks. A call made
** inside an OpenMP parallel region adds its own time. A call made outside
** one, where OpenBLAS itself uses every thread, adds its time multiplied
** by omp_get_max_threads(). Dividing the total by the thread count times
** the wall time therefore estimates the share of the cores' time spent
** in GEMM.
** ------------------------------------------------------------------- */

void kubo_nn_profile_enable(bool on);
void kubo_nn_profile_reset(void);
double kubo_nn_profile_gemm_seconds(void);

#ifdef __cplusplus
}
#endif

#endif
