/*
** conv2d.c: 2-D convolution through im2col and SGEMM, with the naive
** reference beside it.
**
** The fast path groups samples into chunks and writes each chunk's input
** patches as a column matrix cols (K, N) with K = Ci * k * k rows (in the
** weight's (ci, ky, kx) order) and N = samples * Ho * Wo columns. Then
** out (Co, N) = weight (Co, K) cols (K, N) is one SGEMM. A chunk has
** enough samples for N to reach about 256, so that the small feature
** maps deep in a U-Net still give GEMMs of a useful width.
**
** Chunks run in parallel with OpenMP when there are at least as many
** chunks as threads, each thread calling SGEMM on its own (OpenBLAS's
** OpenMP build runs single-threaded inside a parallel region).
** Otherwise they run one after another and OpenBLAS threads each SGEMM.
**
** Backward sums the weight gradient of consecutive chunks into one of at
** most MAX_SLOTS partial sums, then adds the partial sums in order. The
** slot boundaries depend only on the shapes, so the result does not
** depend on the thread count.
*/
#include <omp.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/nn_layers.h"
#include "nn_internal.h"

/* Target GEMM width (columns) per chunk of samples. */
#define TARGET_COLUMNS 256
/* Largest number of partial weight-gradient sums in backward. */
#define MAX_SLOTS 32

/* Longest padded row (in floats) that the row kernels keep on the
** stack: (Wo - 1) * stride + kernel. Wider rows fail in make_plan. */
#define ROW_MAX 4096

typedef struct conv_plan {
  int ho, wo;          /* output size */
  int hin, win;        /* input size as read (doubled when upsampling) */
  int pad;
  int64_t hwo;         /* ho * wo */
  int64_t hw;          /* stored input plane size */
  int64_t K;           /* rows of the column matrix: ci * k * k */
  int64_t chunk;       /* samples per GEMM */
  int64_t nchunks;
  int64_t nslots;      /* partial weight-gradient sums in backward */
  bool direct;         /* 1x1, stride 1, one sample: cols is the input */
  int nthreads;
  bool parallel;       /* chunks in parallel, single-threaded GEMMs */
} conv_plan;


kubo_status kubo_conv2d_output_size(const kubo_conv2d_geometry *g,
                                    int *out_height, int *out_width) {
  int hin, win, pad;
  if (g->kernel < 1 || g->kernel % 2 == 0)
    return kubo_error_set(KUBO_EINVAL, "conv2d: kernel must be odd and "
                          "positive (got %d)", g->kernel);
  if (g->stride < 1)
    return kubo_error_set(KUBO_EINVAL, "conv2d: stride must be at least 1 "
                          "(got %d)", g->stride);
  if (g->in_channels < 1 || g->out_channels < 1)
    return kubo_error_set(KUBO_EINVAL, "conv2d: channel counts must be "
                          "positive (got %d in, %d out)", g->in_channels,
                          g->out_channels);
  if (g->height < 1 || g->width < 1 || g->batch < 0)
    return kubo_error_set(KUBO_EINVAL, "conv2d: input size %dx%d (batch "
                          "%lld) is empty", g->height, g->width,
                          (long long)g->batch);
  if (g->height > (1 << 14) || g->width > (1 << 14))
    return kubo_error_set(KUBO_EINVAL, "conv2d: input size %dx%d is above "
                          "the supported 16384x16384", g->height, g->width);
  hin = g->upsample ? 2 * g->height : g->height;
  win = g->upsample ? 2 * g->width : g->width;
  pad = g->kernel / 2;
  if (g->periodic && (pad > hin || pad > win))
    return kubo_error_set(KUBO_EINVAL, "conv2d: circular padding of %d "
                          "needs an input of at least %dx%d (got %dx%d)",
                          pad, pad, pad, hin, win);
  *out_height = (hin + 2 * pad - g->kernel) / g->stride + 1;
  *out_width = (win + 2 * pad - g->kernel) / g->stride + 1;
  return KUBO_OK;
}


static kubo_status make_plan(const kubo_conv2d_geometry *g, conv_plan *p) {
  kubo_status st = kubo_conv2d_output_size(g, &p->ho, &p->wo);
  if (st != KUBO_OK) return st;
  p->hin = g->upsample ? 2 * g->height : g->height;
  p->win = g->upsample ? 2 * g->width : g->width;
  p->pad = g->kernel / 2;
  p->hwo = (int64_t)p->ho * p->wo;
  p->hw = (int64_t)g->height * g->width;
  p->K = (int64_t)g->in_channels * g->kernel * g->kernel;
  p->chunk = p->hwo >= TARGET_COLUMNS
               ? 1 : (TARGET_COLUMNS + p->hwo - 1) / p->hwo;
  if (p->chunk > g->batch) p->chunk = g->batch > 0 ? g->batch : 1;
  p->nchunks = (g->batch + p->chunk - 1) / p->chunk;
  p->nslots = p->nchunks < MAX_SLOTS ? p->nchunks : MAX_SLOTS;
  p->direct = g->kernel == 1 && g->stride == 1 && !g->upsample &&
              p->chunk == 1;
  p->nthreads = omp_get_max_threads();
  p->parallel = p->nthreads > 1 && p->nchunks >= p->nthreads;
  if ((p->wo - 1) * g->stride + g->kernel > ROW_MAX)
    return kubo_error_set(KUBO_EINVAL, "conv2d: output rows of %d columns "
                          "at stride %d exceed the supported padded width "
                          "of %d", p->wo, g->stride, ROW_MAX);
  if (p->K > (1 << 30) || p->chunk * p->hwo > (1 << 30))
    return kubo_error_set(KUBO_EINVAL, "conv2d: %lld input channels at "
                          "%dx%d give a column matrix too large for SGEMM",
                          (long long)g->in_channels, p->ho, p->wo);
  return KUBO_OK;
}


/* The row kernels copy rows of 4 to 32 floats, where a call to memcpy
** costs more than the copy: keep GCC from turning their loops into
** calls. */
#if defined(__GNUC__) && !defined(__clang__)
#define ROW_KERNEL __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define ROW_KERNEL
#endif


/* Fills row[j], j < len, with the padded (and, if up, upsampled) input
** row src at column j - pad: wrapped around or zero outside [0, win). */
ROW_KERNEL
static void pad_row(float *row, const float *src, int len, int pad, int win,
                    int up, bool periodic) {
  int lo = pad < len ? pad : len;            /* first column inside */
  int hi = pad + win < len ? pad + win : len;
  for (int j = 0; j < lo; j++)
    row[j] = periodic ? src[(j - pad + win) >> up] : 0.0f;
  if (up == 0) {
    const float *s = src - pad;
    for (int j = lo; j < hi; j++) row[j] = s[j];
  } else {
    for (int j = lo; j + 1 < hi; j += 2)
      row[j] = row[j + 1] = src[(j - pad) >> 1];
    if ((hi - lo) % 2) row[hi - 1] = src[(hi - 1 - pad) >> 1];
  }
  for (int j = hi; j < len; j++)
    row[j] = periodic ? src[(j - pad - win) >> up] : 0.0f;
}


/* The transpose of pad_row: adds row[j] into the input column it was
** read from (dropping zero-padded columns). */
static void unpad_row(float *dst, const float *row, int len, int pad,
                      int win, int up, bool periodic) {
  int lo = pad < len ? pad : len;
  int hi = pad + win < len ? pad + win : len;
  if (periodic)
    for (int j = 0; j < lo; j++) dst[(j - pad + win) >> up] += row[j];
  if (up == 0) {
    float *d = dst - pad;
    for (int j = lo; j < hi; j++) d[j] += row[j];
  } else {
    for (int j = lo; j + 1 < hi; j += 2)
      dst[(j - pad) >> 1] += row[j] + row[j + 1];
    if ((hi - lo) % 2) dst[(hi - 1 - pad) >> 1] += row[hi - 1];
  }
  if (periodic)
    for (int j = hi; j < len; j++) dst[(j - pad - win) >> up] += row[j];
}


/* The input row read by output row oy at kernel row ky, or -1 for a row
** of zero padding. */
static inline int source_row(int oy, int ky, const kubo_conv2d_geometry *g,
                             const conv_plan *p) {
  int iy = oy * g->stride + ky - p->pad;
  if (iy < 0 || iy >= p->hin) {
    if (!g->periodic) return -1;
    iy = iy < 0 ? iy + p->hin : iy - p->hin;
  }
  return iy >> (g->upsample ? 1 : 0);
}


/* Writes the column matrix (K, n * hwo) of samples inp[0..n-1]: each
** padded input row is built once and the kernel's k columns are copied
** out of it. */
ROW_KERNEL
static void im2col(float *cols, const float *inp, int64_t n,
                   const kubo_conv2d_geometry *g, const conv_plan *p) {
  const int k = g->kernel, s = g->stride, up = g->upsample ? 1 : 0;
  const int len = (p->wo - 1) * s + k;
  const int64_t N = n * p->hwo;
  float row[ROW_MAX];
  for (int ci = 0; ci < g->in_channels; ci++) {
    for (int ky = 0; ky < k; ky++) {
      float *rows = cols + (int64_t)(ci * k + ky) * k * N;
      for (int64_t bb = 0; bb < n; bb++) {
        const float *plane = inp + (bb * g->in_channels + ci) * p->hw;
        for (int oy = 0; oy < p->ho; oy++) {
          int iy = source_row(oy, ky, g, p);
          int64_t at = bb * p->hwo + (int64_t)oy * p->wo;
          if (iy < 0) {
            for (int kx = 0; kx < k; kx++) {
              float *d = rows + kx * N + at;
              for (int ox = 0; ox < p->wo; ox++) d[ox] = 0.0f;
            }
            continue;
          }
          pad_row(row, plane + (int64_t)iy * g->width, len, p->pad, p->win,
                  up, g->periodic);
          for (int kx = 0; kx < k; kx++) {
            float *d = rows + kx * N + at;
            if (s == 1) {
              const float *r = row + kx;
              for (int ox = 0; ox < p->wo; ox++) d[ox] = r[ox];
            } else {
              for (int ox = 0; ox < p->wo; ox++) d[ox] = row[kx + ox * s];
            }
          }
        }
      }
    }
  }
}


/* Adds the column-matrix gradient dcols (K, n * hwo) into dinp: the k
** kernel columns of a row are summed into one padded row, which is then
** folded back onto the input row. */
ROW_KERNEL
static void col2im(float *dinp, const float *dcols, int64_t n,
                   const kubo_conv2d_geometry *g, const conv_plan *p) {
  const int k = g->kernel, s = g->stride, up = g->upsample ? 1 : 0;
  const int len = (p->wo - 1) * s + k;
  const int64_t N = n * p->hwo;
  float row[ROW_MAX];
  for (int ci = 0; ci < g->in_channels; ci++) {
    for (int ky = 0; ky < k; ky++) {
      const float *rows = dcols + (int64_t)(ci * k + ky) * k * N;
      for (int64_t bb = 0; bb < n; bb++) {
        float *plane = dinp + (bb * g->in_channels + ci) * p->hw;
        for (int oy = 0; oy < p->ho; oy++) {
          int iy = source_row(oy, ky, g, p);
          int64_t at = bb * p->hwo + (int64_t)oy * p->wo;
          if (iy < 0) continue;
          for (int j = 0; j < len; j++) row[j] = 0.0f;
          for (int kx = 0; kx < k; kx++) {
            const float *d = rows + kx * N + at;
            if (s == 1) {
              float *r = row + kx;
              for (int ox = 0; ox < p->wo; ox++) r[ox] += d[ox];
            } else {
              for (int ox = 0; ox < p->wo; ox++) row[kx + ox * s] += d[ox];
            }
          }
          unpad_row(plane + (int64_t)iy * g->width, row, len, p->pad,
                    p->win, up, g->periodic);
        }
      }
    }
  }
}


/* ---------------------------------------------------------------------
** Forward
** ------------------------------------------------------------------- */

/* Floats of scratch one chunk needs in forward: the column matrix
** (unless direct) and the GEMM output of a multi-sample chunk. */
static int64_t forward_scratch(const kubo_conv2d_geometry *g,
                               const conv_plan *p) {
  int64_t N = p->chunk * p->hwo, n = 0;
  if (!p->direct) n += p->K * N;
  if (p->chunk > 1) n += (int64_t)g->out_channels * N;
  return n;
}


static void forward_chunk(float *out, const float *inp, const float *weight,
                          const float *bias, const kubo_conv2d_geometry *g,
                          const conv_plan *p, int64_t c, float *scratch) {
  const int co_n = g->out_channels;
  int64_t b0 = c * p->chunk;
  int64_t n = g->batch - b0 < p->chunk ? g->batch - b0 : p->chunk;
  int64_t N = n * p->hwo;
  const float *x = inp + b0 * g->in_channels * p->hw;
  const float *cols = x;
  float *y = out + b0 * co_n * p->hwo;
  if (!p->direct) {
    im2col(scratch, x, n, g, p);
    cols = scratch;
  }
  if (n == 1) {
    nn_sgemm(false, false, co_n, N, p->K, 1.0f, weight, p->K, cols, N,
             0.0f, y, N);
    if (bias != NULL)
      for (int co = 0; co < co_n; co++)
        for (int64_t i = 0; i < N; i++) y[co * N + i] += bias[co];
    return;
  }
  float *tmp = scratch + (p->direct ? 0 : p->K * p->chunk * p->hwo);
  nn_sgemm(false, false, co_n, N, p->K, 1.0f, weight, p->K, cols, N, 0.0f,
           tmp, N);
  for (int64_t bb = 0; bb < n; bb++) {
    for (int co = 0; co < co_n; co++) {
      float *dst = y + (bb * co_n + co) * p->hwo;
      const float *src = tmp + co * N + bb * p->hwo;
      float add = bias != NULL ? bias[co] : 0.0f;
      for (int64_t i = 0; i < p->hwo; i++) dst[i] = src[i] + add;
    }
  }
}


kubo_status kubo_conv2d_forward(float *out, const float *inp,
                                const float *weight, const float *bias,
                                const kubo_conv2d_geometry *g,
                                kubo_nn_workspace *ws) {
  conv_plan p;
  kubo_nn_workspace local = {NULL, 0};
  kubo_status st = make_plan(g, &p);
  int64_t per;
  if (st != KUBO_OK) return st;
  if (g->batch == 0) return KUBO_OK;
  if (ws == NULL) ws = &local;
  per = forward_scratch(g, &p);
  st = kubo_nn_workspace_reserve(ws, (size_t)(per * (p.parallel ?
                                                     p.nthreads : 1)));
  if (st != KUBO_OK) return st;

  if (p.parallel) {
    #pragma omp parallel
    {
      float *scratch = ws->data + per * omp_get_thread_num();
      #pragma omp for schedule(static)
      for (int64_t c = 0; c < p.nchunks; c++)
        forward_chunk(out, inp, weight, bias, g, &p, c, scratch);
    }
  } else {
    for (int64_t c = 0; c < p.nchunks; c++)
      forward_chunk(out, inp, weight, bias, g, &p, c, ws->data);
  }
  kubo_nn_workspace_free(&local);
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Backward
** ------------------------------------------------------------------- */

/* Floats of per-thread scratch in backward: columns, their gradient and
** the gathered output gradient of a multi-sample chunk. */
static int64_t backward_scratch(const kubo_conv2d_geometry *g,
                                const conv_plan *p, bool want_dinp) {
  int64_t N = p->chunk * p->hwo, n = 0;
  if (!p->direct) {
    n += p->K * N;
    if (want_dinp) n += p->K * N;
  }
  if (p->chunk > 1) n += (int64_t)g->out_channels * N;
  return n;
}


static void backward_chunk(float *dinp, float *dw_slot, double *db_slot,
                           const float *dout, const float *inp,
                           const float *weight,
                           const kubo_conv2d_geometry *g,
                           const conv_plan *p, int64_t c, float *scratch) {
  const int co_n = g->out_channels;
  int64_t b0 = c * p->chunk;
  int64_t n = g->batch - b0 < p->chunk ? g->batch - b0 : p->chunk;
  int64_t N = n * p->hwo, Nmax = p->chunk * p->hwo;
  const float *x = inp + b0 * g->in_channels * p->hw;
  const float *dy = dout + b0 * co_n * p->hwo;
  const float *cols = x;
  float *cols_buf = scratch;
  float *dcols = scratch + (p->direct ? 0 : p->K * Nmax);
  float *dyc = scratch + (p->direct ? 0 : (dinp != NULL ? 2 : 1) *
                                          p->K * Nmax);

  if (n > 1) {
    /* gather the output gradient into (Co, n * hwo) */
    for (int64_t bb = 0; bb < n; bb++)
      for (int co = 0; co < co_n; co++)
        memcpy(dyc + co * N + bb * p->hwo, dy + (bb * co_n + co) * p->hwo,
               (size_t)p->hwo * sizeof(float));
    dy = dyc;
  }
  if (!p->direct) {
    im2col(cols_buf, x, n, g, p);
    cols = cols_buf;
  }

  nn_sgemm(false, true, co_n, p->K, N, 1.0f, dy, N, cols, N, 1.0f, dw_slot,
           p->K);
  if (db_slot != NULL) {
    for (int co = 0; co < co_n; co++) {
      double sum = 0;
      for (int64_t i = 0; i < N; i++) sum += dy[co * N + i];
      db_slot[co] += sum;
    }
  }

  if (dinp == NULL) return;
  if (p->direct) {
    nn_sgemm(true, false, p->K, N, co_n, 1.0f, weight, p->K, dy, N, 1.0f,
             dinp + b0 * g->in_channels * p->hw, N);
  } else {
    nn_sgemm(true, false, p->K, N, co_n, 1.0f, weight, p->K, dy, N, 0.0f,
             dcols, N);
    col2im(dinp + b0 * g->in_channels * p->hw, dcols, n, g, p);
  }
}


/* Runs the chunks of slot s, summing into its partial gradients. */
static void backward_slot(float *dinp, float *dw_slot, double *db_slot,
                          const float *dout, const float *inp,
                          const float *weight,
                          const kubo_conv2d_geometry *g, const conv_plan *p,
                          int64_t s, float *scratch) {
  int64_t first = s * p->nchunks / p->nslots;
  int64_t last = (s + 1) * p->nchunks / p->nslots;
  memset(dw_slot, 0, (size_t)(g->out_channels * p->K) * sizeof(float));
  if (db_slot != NULL)
    memset(db_slot, 0, (size_t)g->out_channels * sizeof(double));
  for (int64_t c = first; c < last; c++)
    backward_chunk(dinp, dw_slot, db_slot, dout, inp, weight, g, p, c,
                   scratch);
}


kubo_status kubo_conv2d_backward(float *dinp, float *dweight, float *dbias,
                                 const float *dout, const float *inp,
                                 const float *weight,
                                 const kubo_conv2d_geometry *g,
                                 kubo_nn_workspace *ws) {
  conv_plan p;
  kubo_nn_workspace local = {NULL, 0};
  kubo_status st = make_plan(g, &p);
  int64_t per, wsize, dbsize;
  int64_t nw;
  float *dw_slots;
  double *db_slots;
  if (st != KUBO_OK) return st;
  if (g->batch == 0) return KUBO_OK;
  if (ws == NULL) ws = &local;

  nw = (int64_t)g->out_channels * p.K;
  per = backward_scratch(g, &p, dinp != NULL);
  /* doubles of the bias partial sums, counted in floats (2 per double) */
  dbsize = 2 * (int64_t)g->out_channels * p.nslots;
  wsize = p.nslots * nw + dbsize + per * (p.parallel ? p.nthreads : 1);
  st = kubo_nn_workspace_reserve(ws, (size_t)wsize);
  if (st != KUBO_OK) return st;
  /* the double array comes first: the workspace is 64-byte aligned */
  db_slots = (double *)ws->data;
  dw_slots = ws->data + dbsize;

  if (p.parallel) {
    float *scratch0 = dw_slots + p.nslots * nw;
    #pragma omp parallel
    {
      float *scratch = scratch0 + per * omp_get_thread_num();
      #pragma omp for schedule(static)
      for (int64_t s = 0; s < p.nslots; s++)
        backward_slot(dinp, dw_slots + s * nw,
                      dbias != NULL ? db_slots + s * g->out_channels : NULL,
                      dout, inp, weight, g, &p, s, scratch);
    }
  } else {
    float *scratch = dw_slots + p.nslots * nw;
    for (int64_t s = 0; s < p.nslots; s++)
      backward_slot(dinp, dw_slots + s * nw,
                    dbias != NULL ? db_slots + s * g->out_channels : NULL,
                    dout, inp, weight, g, &p, s, scratch);
  }

  #pragma omp parallel for schedule(static) if (nw * p.nslots >= NN_PARALLEL_MIN)
  for (int64_t i = 0; i < nw; i++) {
    float sum = 0.0f;
    for (int64_t s = 0; s < p.nslots; s++) sum += dw_slots[s * nw + i];
    dweight[i] += sum;
  }
  if (dbias != NULL) {
    for (int co = 0; co < g->out_channels; co++) {
      double sum = 0;
      for (int64_t s = 0; s < p.nslots; s++)
        sum += db_slots[s * g->out_channels + co];
      dbias[co] += (float)sum;
    }
  }
  kubo_nn_workspace_free(&local);
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** The naive reference
** ------------------------------------------------------------------- */

/* Maps an output coordinate and kernel offset to a stored input index,
** or -1 for a zero-padded position. */
static int source_index(int o, int kk, int stride, int pad, int n_in,
                        bool periodic, int up) {
  int i = o * stride + kk - pad;
  if (i < 0 || i >= n_in) {
    if (!periodic) return -1;
    i = ((i % n_in) + n_in) % n_in;
  }
  return i >> up;
}


kubo_status kubo_conv2d_forward_naive(float *out, const float *inp,
                                      const float *weight,
                                      const float *bias,
                                      const kubo_conv2d_geometry *g) {
  int ho, wo, k = g->kernel, pad = g->kernel / 2, up = g->upsample;
  int hin = g->height << up, win = g->width << up;
  kubo_status st = kubo_conv2d_output_size(g, &ho, &wo);
  if (st != KUBO_OK) return st;
  for (int64_t b = 0; b < g->batch; b++) {
    for (int co = 0; co < g->out_channels; co++) {
      for (int oy = 0; oy < ho; oy++) {
        for (int ox = 0; ox < wo; ox++) {
          double sum = bias != NULL ? bias[co] : 0.0;
          for (int ci = 0; ci < g->in_channels; ci++) {
            const float *plane =
              inp + (b * g->in_channels + ci) * g->height * g->width;
            for (int ky = 0; ky < k; ky++) {
              int iy = source_index(oy, ky, g->stride, pad, hin,
                                    g->periodic, up);
              if (iy < 0) continue;
              for (int kx = 0; kx < k; kx++) {
                int ix = source_index(ox, kx, g->stride, pad, win,
                                      g->periodic, up);
                if (ix < 0) continue;
                sum += (double)weight[((co * g->in_channels + ci) * k +
                                       ky) * k + kx] *
                       plane[iy * g->width + ix];
              }
            }
          }
          out[((b * g->out_channels + co) * ho + oy) * wo + ox] =
            (float)sum;
        }
      }
    }
  }
  return KUBO_OK;
}


kubo_status kubo_conv2d_backward_naive(float *dinp, float *dweight,
                                       float *dbias, const float *dout,
                                       const float *inp,
                                       const float *weight,
                                       const kubo_conv2d_geometry *g) {
  int ho, wo, k = g->kernel, pad = g->kernel / 2, up = g->upsample;
  int hin = g->height << up, win = g->width << up;
  int64_t nin = g->batch * g->in_channels * g->height * g->width;
  double *acc = NULL;
  kubo_status st = kubo_conv2d_output_size(g, &ho, &wo);
  if (st != KUBO_OK) return st;
  if (dinp != NULL) {
    acc = kubo_calloc((size_t)nin * sizeof(double));
    if (acc == NULL) return KUBO_ENOMEM;
  }
  for (int co = 0; co < g->out_channels; co++) {
    if (dbias != NULL) {
      double sum = 0;
      for (int64_t b = 0; b < g->batch; b++)
        for (int i = 0; i < ho * wo; i++)
          sum += dout[(b * g->out_channels + co) * ho * wo + i];
      dbias[co] += (float)sum;
    }
    for (int ci = 0; ci < g->in_channels; ci++) {
      for (int ky = 0; ky < k; ky++) {
        for (int kx = 0; kx < k; kx++) {
          int64_t wi = ((co * g->in_channels + ci) * k + ky) * k + kx;
          double sum = 0;
          for (int64_t b = 0; b < g->batch; b++) {
            int64_t pin = (b * g->in_channels + ci) * g->height * g->width;
            const float *dy = dout + (b * g->out_channels + co) * ho * wo;
            for (int oy = 0; oy < ho; oy++) {
              int iy = source_index(oy, ky, g->stride, pad, hin,
                                    g->periodic, up);
              if (iy < 0) continue;
              for (int ox = 0; ox < wo; ox++) {
                int ix = source_index(ox, kx, g->stride, pad, win,
                                      g->periodic, up);
                if (ix < 0) continue;
                int64_t at = pin + iy * g->width + ix;
                sum += (double)dy[oy * wo + ox] * inp[at];
                if (acc != NULL)
                  acc[at] += (double)dy[oy * wo + ox] * weight[wi];
              }
            }
          }
          dweight[wi] += (float)sum;
        }
      }
    }
  }
  if (acc != NULL) {
    for (int64_t i = 0; i < nin; i++) dinp[i] += (float)acc[i];
    kubo_free(acc, (size_t)nin * sizeof(double));
  }
  return KUBO_OK;
}
