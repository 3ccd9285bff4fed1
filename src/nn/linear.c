/*
** linear.c: the fully connected layer, out = inp weight^T + bias.
*/
#include "kubo/nn_layers.h"
#include "nn_internal.h"


void kubo_linear_forward(float *out, const float *inp, const float *weight,
                         const float *bias, int64_t batch, int64_t in,
                         int64_t outf) {
  nn_sgemm(false, true, batch, outf, in, 1.0f, inp, in, weight, in, 0.0f,
           out, outf);
  if (bias == NULL) return;
  #pragma omp parallel for schedule(static) if (batch * outf >= NN_PARALLEL_MIN)
  for (int64_t b = 0; b < batch; b++) {
    float *row = out + b * outf;
    for (int64_t o = 0; o < outf; o++) row[o] += bias[o];
  }
}


void kubo_linear_backward(float *dinp, float *dweight, float *dbias,
                          const float *dout, const float *inp,
                          const float *weight, int64_t batch, int64_t in,
                          int64_t outf) {
  if (dinp != NULL)
    nn_sgemm(false, false, batch, in, outf, 1.0f, dout, outf, weight, in,
             1.0f, dinp, in);
  nn_sgemm(true, false, outf, in, batch, 1.0f, dout, outf, inp, in, 1.0f,
           dweight, in);
  if (dbias == NULL) return;
  /* each output feature sums over the batch in order, on one thread */
  #pragma omp parallel for schedule(static) if (batch * outf >= NN_PARALLEL_MIN)
  for (int64_t o = 0; o < outf; o++) {
    double sum = 0;
    for (int64_t b = 0; b < batch; b++) sum += dout[b * outf + o];
    dbias[o] += (float)sum;
  }
}
