/*
** score_data.c: training samples from a tensor or an HDF5 dataset, the
** seeded permutations and sigma_max = "auto".
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "kubo/alloc.h"
#include "kubo/h5.h"
#include "kubo/rng.h"
#include "score_internal.h"


double kubo_score_sigma(double sigma_min, double sigma_max, double t) {
  return sigma_min * pow(sigma_max / sigma_min, t);
}


char *score_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = malloc(n);
  if (copy == NULL) {
    kubo_error_set(KUBO_ENOMEM, "score: out of memory");
    return NULL;
  }
  memcpy(copy, s, n);
  return copy;
}


void score_permutation(uint64_t seed, uint64_t key, uint64_t index,
                       int64_t n, int64_t *perm) {
  kubo_rng rng;
  kubo_rng_init(&rng, seed, kubo_rng_substream(key, index));
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(kubo_rng_uniform1(&rng) * (double)(i + 1));
    int64_t tmp;
    if (j > i) j = i;
    tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
}


/* ---------------------------------------------------------------------
** Sources
** ------------------------------------------------------------------- */

static kubo_status check_shape(kubo_score_data *d, int ndim,
                               const int64_t *shape, const char *what) {
  if (ndim < 2 || ndim > 4)
    return kubo_error_set(KUBO_EINVAL, "score: %s has %d dimensions, "
                          "expected (samples, dim), (samples, ny, nx) or "
                          "(samples, channels, ny, nx)", what, ndim);
  if (shape[0] < 1)
    return kubo_error_set(KUBO_EINVAL, "score: %s has no samples", what);
  d->count = shape[0];
  d->frame_ndim = ndim - 1;
  d->dim = 1;
  for (int i = 1; i < ndim; i++) {
    if (shape[i] < 1)
      return kubo_error_set(KUBO_EINVAL, "score: %s has an empty "
                            "dimension %d", what, i + 1);
    d->frame_shape[i - 1] = shape[i];
    d->dim *= shape[i];
  }
  return KUBO_OK;
}


kubo_status kubo_score_data_from_tensor(kubo_score_data **out,
                                        const kubo_tensor *t) {
  kubo_score_data *d;
  kubo_status st;
  *out = NULL;
  if (t == NULL || kubo_tensor_is_empty(t))
    return kubo_error_set(KUBO_ESTATE, "score: the data tensor is empty or "
                          "freed");
  d = calloc(1, sizeof *d);
  if (d == NULL) return kubo_error_set(KUBO_ENOMEM, "score: out of memory");
  st = check_shape(d, t->ndim, t->shape, "data");
  if (st == KUBO_OK) st = kubo_tensor_contiguous(&d->t, t);
  if (st != KUBO_OK) {
    free(d);
    return st;
  }
  *out = d;
  return KUBO_OK;
}


kubo_status kubo_score_data_from_h5(kubo_score_data **out, const char *path,
                                    const char *dataset) {
  kubo_h5_list list = {0};
  const kubo_h5_entry *entry = NULL;
  kubo_score_data *d;
  char want[1024];
  kubo_status st;
  *out = NULL;
  if (path == NULL || dataset == NULL || dataset[0] == '\0')
    return kubo_error_set(KUBO_EINVAL, "score: data needs a file and a "
                          "dataset name");
  snprintf(want, sizeof want, "%s%s", dataset[0] == '/' ? "" : "/",
           dataset);
  st = kubo_h5_list_file(path, &list);
  if (st != KUBO_OK) return st;
  for (int i = 0; i < list.count; i++)
    if (strcmp(list.items[i].name, want) == 0) entry = &list.items[i];
  if (entry == NULL || entry->is_group) {
    kubo_h5_list_free(&list);
    return kubo_error_set(KUBO_EIO, "score: '%s' has no dataset '%s'", path,
                          dataset);
  }
  if (strcmp(entry->dtype, "float64") != 0 &&
      strcmp(entry->dtype, "float32") != 0) {
    st = kubo_error_set(KUBO_EINVAL, "score: dataset '%s' of '%s' holds %s "
                        "values, expected float32 or float64", dataset,
                        path, entry->dtype);
    kubo_h5_list_free(&list);
    return st;
  }
  d = calloc(1, sizeof *d);
  if (d == NULL) {
    kubo_h5_list_free(&list);
    return kubo_error_set(KUBO_ENOMEM, "score: out of memory");
  }
  st = check_shape(d, entry->ndim, entry->shape, "the data set");
  kubo_h5_list_free(&list);
  d->from_file = true;
  if (st == KUBO_OK) {
    d->path = score_strdup(path);
    d->dataset = score_strdup(want);
    if (d->path == NULL || d->dataset == NULL) st = KUBO_ENOMEM;
  }
  if (st != KUBO_OK) {
    kubo_score_data_free(d);
    return st;
  }
  *out = d;
  return KUBO_OK;
}


void kubo_score_data_free(kubo_score_data *d) {
  if (d == NULL) return;
  kubo_tensor_release(&d->t);
  free(d->path);
  free(d->dataset);
  free(d);
}


int64_t kubo_score_data_count(const kubo_score_data *d) { return d->count; }


int kubo_score_data_frame_shape(const kubo_score_data *d, int64_t *shape) {
  for (int i = 0; i < d->frame_ndim; i++) shape[i] = d->frame_shape[i];
  return d->frame_ndim;
}


/* ---------------------------------------------------------------------
** Reading samples
** ------------------------------------------------------------------- */

/* Scales one sample into out and checks that every value is finite. */
static kubo_status put_sample(const kubo_score_data *d, int64_t index,
                              const double *src64, const float *src32,
                              double scale, float *out) {
  for (int64_t i = 0; i < d->dim; i++) {
    double v = src64 != NULL ? src64[i] : (double)src32[i];
    if (!isfinite(v))
      return kubo_error_set(KUBO_EINVAL, "score: sample %lld of the data "
                            "has a NaN or infinite value (at value %lld)",
                            (long long)index + 1, (long long)i + 1);
    out[i] = (float)(v * scale);
  }
  return KUBO_OK;
}


static kubo_status gather_tensor(kubo_score_data *d, int64_t n,
                                 const int64_t *idx, double scale,
                                 float *out) {
  kubo_status st = KUBO_OK;
  for (int64_t k = 0; k < n && st == KUBO_OK; k++) {
    int64_t i = idx[k];
    const double *s64 = NULL;
    const float *s32 = NULL;
    if (d->t.dtype == KUBO_FLOAT64)
      s64 = (const double *)d->t.data + i * d->dim;
    else
      s32 = (const float *)d->t.data + i * d->dim;
    st = put_sample(d, i, s64, s32, scale, out + k * d->dim);
  }
  return st;
}


static int compare_pairs(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  return (x[0] > y[0]) - (x[0] < y[0]);
}


/* Reads the samples of a file source run by run: the indices are sorted,
** every run of consecutive indices is one hyperslab read, and the values
** are placed at their requested positions. */
static kubo_status gather_file(kubo_score_data *d, int64_t n,
                               const int64_t *idx, double scale,
                               float *out) {
  hid_t file = H5I_INVALID_HID, dset = H5I_INVALID_HID;
  hid_t fspace = H5I_INVALID_HID;
  int64_t *pairs = NULL;
  double *buf = NULL;
  size_t bufbytes = 0;
  int64_t maxrun = 1;
  kubo_status st = KUBO_OK;
  hsize_t start[4] = {0}, count[4];

  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  pairs = malloc((size_t)(2 * n) * sizeof *pairs);
  if (pairs == NULL) return kubo_error_set(KUBO_ENOMEM, "score: out of "
                                           "memory");
  for (int64_t k = 0; k < n; k++) {
    pairs[2 * k] = idx[k];
    pairs[2 * k + 1] = k;
  }
  qsort(pairs, (size_t)n, 2 * sizeof *pairs, compare_pairs);
  for (int64_t k = 0, run = 1; k + 1 < n; k++) {
    run = pairs[2 * k + 2] == pairs[2 * k] + 1 ? run + 1 : 1;
    if (run > maxrun) maxrun = run;
  }
  bufbytes = (size_t)(maxrun * d->dim) * sizeof(double);
  buf = kubo_alloc(bufbytes);
  if (buf == NULL) st = KUBO_ENOMEM;

  if (st == KUBO_OK) {
    file = H5Fopen(d->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file >= 0) dset = H5Dopen2(file, d->dataset, H5P_DEFAULT);
    if (dset >= 0) fspace = H5Dget_space(dset);
    if (fspace < 0)
      st = kubo_error_set(KUBO_EIO, "score: cannot read dataset '%s' of "
                          "'%s'", d->dataset, d->path);
  }
  for (int a = 1; a <= d->frame_ndim; a++)
    count[a] = (hsize_t)d->frame_shape[a - 1];

  for (int64_t k = 0; k < n && st == KUBO_OK;) {
    int64_t first = pairs[2 * k], len = 1;
    hid_t mspace;
    hsize_t mdims[1];
    while (k + len < n && pairs[2 * (k + len)] == first + len) len++;
    start[0] = (hsize_t)first;
    count[0] = (hsize_t)len;
    mdims[0] = (hsize_t)(len * d->dim);
    mspace = H5Screate_simple(1, mdims, NULL);
    if (mspace < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count,
                            NULL) < 0 ||
        H5Dread(dset, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT,
                buf) < 0)
      st = kubo_error_set(KUBO_EIO, "score: cannot read samples %lld to "
                          "%lld of dataset '%s' of '%s'",
                          (long long)first + 1, (long long)(first + len),
                          d->dataset, d->path);
    if (mspace >= 0) H5Sclose(mspace);
    for (int64_t r = 0; r < len && st == KUBO_OK; r++)
      st = put_sample(d, first + r, buf + r * d->dim, NULL, scale,
                      out + pairs[2 * (k + r) + 1] * d->dim);
    k += len;
  }
  if (fspace >= 0) H5Sclose(fspace);
  if (dset >= 0) H5Dclose(dset);
  if (file >= 0) H5Fclose(file);
  kubo_free(buf, bufbytes);
  free(pairs);
  return st;
}


kubo_status kubo_score_data_gather(kubo_score_data *d, int64_t n,
                                   const int64_t *idx, double scale,
                                   float *out) {
  for (int64_t k = 0; k < n; k++)
    if (idx[k] < 0 || idx[k] >= d->count)
      return kubo_error_set(KUBO_EINVAL, "score: sample index %lld is "
                            "outside the data (%lld samples)",
                            (long long)idx[k] + 1, (long long)d->count);
  if (n <= 0) return KUBO_OK;
  return d->from_file ? gather_file(d, n, idx, scale, out)
                      : gather_tensor(d, n, idx, scale, out);
}


/* ---------------------------------------------------------------------
** sigma_max = "auto"
** ------------------------------------------------------------------- */

kubo_status score_sample_stats(kubo_score_data *d, int64_t n,
                               const int64_t *idx, double scale,
                               uint64_t seed, double *sigma_max,
                               double *std) {
  int64_t m = n < KUBO_SCORE_AUTO_SAMPLES ? n : KUBO_SCORE_AUTO_SAMPLES;
  int64_t *perm = NULL, *pick = NULL;
  float *x = NULL;
  size_t xbytes;
  double best = 0;
  kubo_status st;

  if (n < 2)
    return kubo_error_set(KUBO_EINVAL, "score: sigma_max \"auto\" needs at "
                          "least 2 training samples (got %lld)",
                          (long long)n);
  perm = malloc((size_t)n * sizeof *perm);
  pick = malloc((size_t)m * sizeof *pick);
  xbytes = (size_t)(m * d->dim) * sizeof(float);
  x = kubo_alloc(xbytes);
  if (perm == NULL || pick == NULL || x == NULL) {
    st = kubo_error_set(KUBO_ENOMEM, "score: out of memory");
    goto done;
  }
  score_permutation(seed, KUBO_SCORE_KEY_AUTO, 0, n, perm);
  for (int64_t i = 0; i < m; i++) pick[i] = idx[perm[i]];
  st = kubo_score_data_gather(d, m, pick, scale, x);
  if (st != KUBO_OK) goto done;

  #pragma omp parallel for schedule(dynamic, 8) reduction(max : best)
  for (int64_t i = 0; i < m; i++) {
    for (int64_t j = i + 1; j < m; j++) {
      const float *a = x + i * d->dim, *b = x + j * d->dim;
      double sum = 0;
      for (int64_t k = 0; k < d->dim; k++) {
        double diff = (double)a[k] - (double)b[k];
        sum += diff * diff;
      }
      if (sum > best) best = sum;
    }
  }
  if (!(best > 0)) {
    st = kubo_error_set(KUBO_EINVAL, "score: sigma_max \"auto\" found all "
                        "%lld sampled training samples equal; give "
                        "sigma_max as a number", (long long)m);
    goto done;
  }
  *sigma_max = 1.2 * sqrt(best);
  if (std != NULL) {
    double sum = 0, sumsq = 0, count = (double)(m * d->dim), mean;
    for (int64_t i = 0; i < m * d->dim; i++) sum += (double)x[i];
    mean = sum / count;
    for (int64_t i = 0; i < m * d->dim; i++)
      sumsq += ((double)x[i] - mean) * ((double)x[i] - mean);
    *std = sqrt(sumsq / count);
  }

done:
  kubo_free(x, xbytes);
  free(pick);
  free(perm);
  return st;
}


kubo_status kubo_score_sigma_max_auto(kubo_score_data *d, int64_t n,
                                      const int64_t *idx, double scale,
                                      uint64_t seed, double *value) {
  return score_sample_stats(d, n, idx, scale, seed, value, NULL);
}
