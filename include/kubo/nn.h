/*
** nn.h: layers and networks (float32, NCHW, batched), built once and run
** many times.
**
** A kubo_nn is a layer or a whole network: a fixed list of layer
** operations whose forward and backward kernels (nn_layers.h) are written
** by hand. Forward keeps every activation that backward needs. Backward
** runs the operations in reverse and returns the input gradient. It ADDS
** the parameter gradients into the gradient block, which
** kubo_nn_zero_grad clears. Parameters, their gradients and fixed buffers (the Fourier
** embedding's frequencies) each live in one contiguous float32 block per
** network, allocated once at construction.
**
** Initialisation follows PyTorch's defaults: weights and biases of
** linear and convolution layers are uniform in +-1/sqrt(fan_in) (kaiming
** uniform with a = sqrt(5) for the weights), group-norm scales are 1 and
** shifts 0, and Fourier frequencies are N(0, scale^2). (CliMAgen.jl,
** whose U-Net nn.unet builds, used Flux's Glorot-uniform weights.) Array number k of
** a network is drawn from the Philox stream (seed, k), so a seed fixes
** every value.
**
** Noise conditioning. A network built with a noise embedding (mlp with
** embed > 0, unet, local_score) takes forward(x, sigma) with sigma of
** shape (1) (one value for the batch) or (batch), either dtype, all
** values positive. Its embedding receives c = a ln(sigma) + b:
**   - with sigma_min and sigma_max set (both > 0), c is the time of the
**     variance-exploding schedule sigma(t) = sigma_min (sigma_max /
**     sigma_min)^t, i.e. t = ln(sigma / sigma_min) / ln(sigma_max /
**     sigma_min), as in CliMAgen.jl's score model;
**   - otherwise c = ln(sigma) / 4, which needs no schedule.
** Gradients do not flow back to sigma.
**
** Errors: constructors fail with KUBO_EINVAL on bad sizes and options.
** Forward fails with KUBO_EINVAL when an input's shape does not fit. The
** message names the layer and the shapes, e.g. "unet enc2.conv: input
** has shape (8, 3, 32, 32), expected (batch, 32, height, width)". A
** failed call leaves the network usable.
**
** Threads: one network must not run forward or backward on two threads at
** once; distinct networks may.
*/
#ifndef KUBO_NN_H
#define KUBO_NN_H

#include <stdbool.h>
#include <stdint.h>

#include "kubo/error.h"
#include "kubo/h5.h"
#include "kubo/nn_layers.h"
#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kubo_nn kubo_nn;
struct kubo_optim;
struct kubo_ema;

enum { KUBO_NN_MAX_LEVELS = 8, KUBO_NN_MAX_SIZES = 16 };


/* ---------------------------------------------------------------------
** Single layers. Each returns a new network in *out (free it with
** kubo_nn_free). Layers with parameters take a seed.
** ------------------------------------------------------------------- */

/* (batch, in) -> (batch, out_features). */
kubo_status kubo_nn_linear(kubo_nn **out, int in, int out_features,
                           bool bias, uint64_t seed);

typedef struct kubo_nn_conv2d_config {
  int in_channels, out_channels;
  int kernel;      /* odd; 3 by default */
  int stride;      /* 1 by default */
  bool periodic;   /* circular padding (true by default), else zeros */
  bool bias;       /* true by default */
} kubo_nn_conv2d_config;

void kubo_nn_conv2d_config_default(kubo_nn_conv2d_config *cfg);

/* (batch, in_channels, H, W) -> (batch, out_channels, Ho, Wo). */
kubo_status kubo_nn_conv2d(kubo_nn **out, const kubo_nn_conv2d_config *cfg,
                           uint64_t seed);

/* (batch, channels, ...) -> same shape. eps <= 0 selects 1e-5. */
kubo_status kubo_nn_group_norm(kubo_nn **out, int groups, int channels,
                               double eps);

/* Elementwise, any shape. */
kubo_status kubo_nn_activation(kubo_nn **out, kubo_activation act);

/* (batch) or (batch, 1) -> (batch, size): the Gaussian Fourier features
** of the input with size / 2 frequencies from N(0, scale^2), followed
** (if dense) by linear(size, size) and swish. size must be even. */
kubo_status kubo_nn_fourier_embedding(kubo_nn **out, int size, double scale,
                                      bool dense, uint64_t seed);

/* Two inputs, x (batch, channels, ...) and e (batch, embed) -> x plus
** linear(embed, channels)(e) added to every point of each channel. */
kubo_status kubo_nn_embed_bias(kubo_nn **out, int embed, int channels,
                               uint64_t seed);

/* (batch, C, H, W) -> (batch, C, 2H, 2W), nearest neighbour. */
kubo_status kubo_nn_upsample(kubo_nn **out);

/* Two inputs (batch, Ca, ...) and (batch, Cb, ...) with equal trailing
** sizes -> (batch, Ca + Cb, ...). */
kubo_status kubo_nn_concat(kubo_nn **out);

/* Chains n single-input layers. The container copies each child's
** parameters into its own block, and from then on the child layer reads
** and writes its parameters there. So training the container trains the
** children, and a child still runs on its own. A child may
** belong to one container only (KUBO_EINVAL otherwise); kubo_nn_free on
** a child is allowed at any time. */
kubo_status kubo_nn_sequential(kubo_nn **out, int n,
                               kubo_nn *const *children);


/* ---------------------------------------------------------------------
** Networks
** ------------------------------------------------------------------- */

typedef struct kubo_nn_mlp_config {
  int nsizes;                       /* >= 2 */
  int sizes[KUBO_NN_MAX_SIZES];     /* input, hidden..., output */
  kubo_activation activation;       /* swish by default */
  int embed;                        /* noise embedding size; 0: none */
  double embed_scale;               /* Fourier frequency scale (30) */
  double sigma_min, sigma_max;      /* the embedding's input (see the
                                       top of this file); 0: ln(sigma)/4 */
} kubo_nn_mlp_config;

void kubo_nn_mlp_config_default(kubo_nn_mlp_config *cfg);

/* (batch, sizes[0]) -> (batch, sizes[nsizes - 1]): linear layers with
** the activation between them. With embed > 0, forward needs sigma, and
** every hidden layer adds linear(embed, width)(emb) to its
** pre-activation, where emb = swish(linear(embed, embed)(fourier(c))). */
kubo_status kubo_nn_mlp(kubo_nn **out, const kubo_nn_mlp_config *cfg,
                        uint64_t seed);

typedef struct kubo_nn_unet_config {
  int nlevels;                          /* entries of channels, >= 2 */
  int channels[KUBO_NN_MAX_LEVELS];     /* {32, 64, 128, 256} */
  int blocks;                           /* residual blocks at the bottom
                                           (8) */
  int embed;                            /* embedding size (256), even */
  double embed_scale;                   /* Fourier scale (30) */
  bool periodic;                        /* circular padding (true) */
  int in_channels;                      /* input = output channels (1) */
  int kernel;                           /* every convolution's size (3) */
  bool mean_bypass;                     /* branch on the spatial mean */
  bool scale_mean_bypass;               /* divide it by sqrt(H W) */
  bool shift_input;                     /* remove each input's mean */
  bool shift_output;                    /* remove the output's mean */
  bool gnorm;                           /* group norms in the bypass */
  int groups_first;                     /* group norm groups at level 1
                                           of the encoder (4) */
  int groups;                           /* elsewhere (32) */
  double sigma_min, sigma_max;          /* the embedding's input (see the
                                           top of this file) */
} kubo_nn_unet_config;

/* Fills the default configuration of CliMAgen.jl's
** NoiseConditionalScoreNetwork: channels {32, 64, 128, 256}, 8 blocks,
** embedding 256 with scale 30, one channel, 3x3 kernels, groups 4 and 32,
** every option off. kubo adds circular padding (periodic) and an
** embedding of ln(sigma)/4 as defaults. */
void kubo_nn_unet_config_default(kubo_nn_unet_config *cfg);

/* The noise-conditional U-Net of CliMAgen.jl (its
** NoiseConditionalScoreNetwork, without context channels or dropout):
** (batch, in_channels, H, W) -> the same shape, H and W divisible by
** 2^(nlevels - 1).
**
** Embedding: emb = swish(linear(embed, embed)(fourier(c))).
** Encoder level 1: conv(in -> c1), + linear(emb) per channel, group
** norm (groups_first) and swish -> h1. Level i = 2..L-1: stride-2 conv,
** + linear(emb), group norm, swish -> hi. Level L: stride-2 conv +
** linear(emb), no norm -> hL.
** Residual blocks (cL channels): h + conv(swish(gn(conv(swish(gn(h))) +
** swish(linear(emb))))), with min(cL / 4, 32) groups.
** Decoder: swish(gn(h)); for i = L-1..1: upsample x2, conv to ci,
** + linear(emb), group norm, swish, concatenate hi. Final conv (2 c1 ->
** in_channels).
** Options (off by default): shift_input subtracts each input channel's
** spatial mean first, and shift_output subtracts the output's. With
** mean_bypass, a branch of 1x1 convolutions of width embed on the input's
** spatial means is added (broadcast) to the output. The branch is
** conditioned by linear(emb), has group norms and swish if gnorm, and is
** divided by sqrt(H W) if scale_mean_bypass.
** A group count that does not divide a layer's channels is lowered to
** the largest divisor below it. */
kubo_status kubo_nn_unet(kubo_nn **out, const kubo_nn_unet_config *cfg,
                         uint64_t seed);

typedef struct kubo_nn_local_config {
  int channels;               /* width (32) */
  int depth;                  /* 3x3 convolutions (4) */
  int embed;                  /* embedding size (64), even */
  double embed_scale;         /* Fourier scale (30) */
  bool periodic;              /* circular padding (true) */
  int in_channels;            /* input = output channels (1) */
  double data_std;            /* s in the input scaling (1) */
  double sigma_min, sigma_max;
} kubo_nn_local_config;

void kubo_nn_local_config_default(kubo_nn_local_config *cfg);

/* The small local score network. The input is multiplied by
** 1/sqrt(sigma^2 + data_std^2). Then come depth 3x3 convolutions and one
** 1x1 convolution, each followed by a per-channel scale and shift from
** the embedding (x (1 + g) + h with [g, h] = linear(embed, 2 C)(emb)) and
** swish, and last a 1x1 convolution to in_channels. Each output point
** sees a square of (2 depth + 1) x (2 depth + 1) input points. */
kubo_status kubo_nn_local_score(kubo_nn **out,
                                const kubo_nn_local_config *cfg,
                                uint64_t seed);


/* ---------------------------------------------------------------------
** Specs: a text description of the architecture, such as
** "linear{in=2,out=8,bias=true}" or "sequential{linear{...},swish{}}",
** stored in saved files so that kubo_nn_load can rebuild the network.
** ------------------------------------------------------------------- */

/* Builds a network from a spec. Fails with KUBO_EINVAL, naming the
** position, on a malformed spec or an unknown layer or option. */
kubo_status kubo_nn_from_spec(kubo_nn **out, const char *spec,
                              uint64_t seed);

/* Makes an independent copy with equal parameters and buffers (gradients
** zero). */
kubo_status kubo_nn_clone(kubo_nn **out, const kubo_nn *net);

/* Frees the network; NULL is ignored. */
void kubo_nn_free(kubo_nn *net);


/* ---------------------------------------------------------------------
** Properties
** ------------------------------------------------------------------- */

const char *kubo_nn_spec(const kubo_nn *net);
const char *kubo_nn_kind(const kubo_nn *net);   /* "linear", "unet", ... */
int kubo_nn_num_inputs(const kubo_nn *net);     /* 1 or 2 */
bool kubo_nn_is_conditioned(const kubo_nn *net);   /* takes sigma */
int64_t kubo_nn_num_parameters(const kubo_nn *net);
int64_t kubo_nn_num_buffers(const kubo_nn *net);

/* The network's contiguous blocks: parameters, gradients (both
** kubo_nn_num_parameters long) and fixed buffers. Valid until the network
** is freed. */
float *kubo_nn_params(const kubo_nn *net);
float *kubo_nn_grads(const kubo_nn *net);
float *kubo_nn_buffers(const kubo_nn *net);

/* Makes params and grads 1-D float32 views of the two blocks (sharing
** storage; each must be empty and later released).
** NOTE: views taken before the network joins a container keep the old
** block, which the network no longer uses; take them again afterwards. */
void kubo_nn_param_views(const kubo_nn *net, kubo_tensor *params,
                         kubo_tensor *grads);

/* One named array of the parameter or buffer block. */
typedef struct kubo_nn_array {
  const char *name;       /* e.g. "enc1.conv.weight" */
  int ndim;
  int64_t shape[4];
  int64_t offset;         /* first element in its block */
  int64_t size;
  bool buffer;            /* fixed buffer, not a trained parameter */
} kubo_nn_array;

int kubo_nn_num_arrays(const kubo_nn *net);
/* Fills *info for array i (0 <= i < kubo_nn_num_arrays), parameters
** first in block order, then buffers. */
void kubo_nn_array_info(const kubo_nn *net, int i, kubo_nn_array *info);


/* ---------------------------------------------------------------------
** Running
** ------------------------------------------------------------------- */

/* Runs the network on ninputs inputs (float32 or float64, any strides)
** and makes *out a new float32 tensor. sigma: NULL for networks without
** a noise embedding, else a tensor of 1 or batch positive values. */
kubo_status kubo_nn_forward(kubo_nn *net, int ninputs,
                            const kubo_tensor *inputs,
                            const kubo_tensor *sigma, kubo_tensor *out);

/* Back-propagates dout (the output's shape) through the last forward.
** Adds the parameter gradients into the gradient block and makes
** dinputs[0..ninputs-1] new float32 tensors with the input gradients
** (dinputs may be NULL if they are not wanted). Fails with KUBO_ESTATE
** if forward has not run. May be called more than once per forward. */
kubo_status kubo_nn_backward(kubo_nn *net, const kubo_tensor *dout,
                             int ninputs, kubo_tensor *dinputs);

/* Sets every parameter gradient of net to zero. */
void kubo_nn_zero_grad(kubo_nn *net);

/* Frees the activations kept for backward (they are rebuilt by the next
** forward). */
void kubo_nn_release_activations(kubo_nn *net);


/* ---------------------------------------------------------------------
** Files (HDF5). The layout, readable from h5py:
**   root attributes    format = "kubo.nn", kubo_version, spec, kind,
**                      num_parameters, num_buffers
**   /network/parameters/<name>   float32, the array's shape
**   /network/buffers/<name>      float32 (fixed arrays)
**   optimizer.* attributes and /optimizer/...   when opt is given
**   ema.* attributes and /ema/parameters/...    when ema is given
** (see optim.h for the last two). The file is written under a temporary
** name and renamed, so an interrupted save never damages an existing
** file, and a save replaces the whole file.
** ------------------------------------------------------------------- */

/* Saves net and, if not NULL, the optimizer and EMA state. Fails with
** KUBO_EIO naming the file on any HDF5 or rename failure, and with
** KUBO_EINVAL if opt or ema belongs to a network of another size. */
kubo_status kubo_nn_save(const kubo_nn *net, const char *path,
                         const struct kubo_optim *opt,
                         const struct kubo_ema *ema);

/* Rebuilds the network saved in path with its parameters and buffers.
** Fails with KUBO_EIO if the file cannot be read and with KUBO_EINVAL if
** its layout does not match the spec. */
kubo_status kubo_nn_load(kubo_nn **out, const char *path);

/* The network's part of a save, for other checkpoint writers: adds the
** root attributes spec, kind, num_parameters and num_buffers to
** root_attrs and writes /network/parameters/<name> and
** /network/buffers/<name> through w. */
kubo_status kubo_nn_write_h5(const kubo_nn *net, kubo_h5_writer *w,
                             kubo_h5_attrs *root_attrs);

#ifdef __cplusplus
}
#endif

#endif
