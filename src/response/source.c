/*
** source.c: trajectories of shape (frames, members, ...state...) from a
** tensor or an HDF5 dataset, read one group of members at a time, and
** kubo_response_run, which feeds them to an estimator.
*/
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/h5.h"
#include "kubo/response.h"

/* Bytes of member data read at once by kubo_response_run and of frames
** read at once from an HDF5 file. */
#define GROUP_BYTES ((int64_t)256 << 20)
#define FRAME_BLOCK_BYTES ((int64_t)64 << 20)

struct kubo_traj {
  kubo_tensor tensor;          /* tensor source; empty for HDF5 */
  char *path, *name;           /* HDF5 source */
  int ndim;                    /* of the whole trajectory, >= 2 */
  int64_t shape[KUBO_H5_MAX_RANK];
  int64_t state_size;          /* d */
};


static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = kubo_alloc(n);
  if (c != NULL) memcpy(c, s, n);
  return c;
}


static void free_string(char *s) {
  if (s != NULL) kubo_free(s, strlen(s) + 1);
}


void kubo_traj_free(kubo_traj *s) {
  if (s == NULL) return;
  kubo_tensor_release(&s->tensor);
  free_string(s->path);
  free_string(s->name);
  kubo_free(s, sizeof *s);
}


static kubo_status set_shape(kubo_traj *s, int ndim, const int64_t *shape,
                             const char *what) {
  if (ndim < 2)
    return kubo_error_set(KUBO_EINVAL, "response: %s has %d dimensions, "
                          "expected (frames, members, ...state shape...)",
                          what, ndim);
  if (ndim - 2 > KUBO_MAX_DIM - 2)
    return kubo_error_set(KUBO_EINVAL, "response: %s has %d dimensions, "
                          "at most %d are supported", what, ndim,
                          KUBO_MAX_DIM);
  s->ndim = ndim;
  s->state_size = 1;
  for (int a = 0; a < ndim; a++) {
    s->shape[a] = shape[a];
    if (a >= 2) s->state_size *= shape[a];
  }
  if (shape[0] < 1 || shape[1] < 1 || s->state_size < 1)
    return kubo_error_set(KUBO_EINVAL, "response: %s is empty (no frames, "
                          "members or state values)", what);
  return KUBO_OK;
}


kubo_status kubo_traj_from_tensor(kubo_traj **out, const kubo_tensor *t) {
  kubo_traj *s;
  kubo_status status;

  *out = NULL;
  if (kubo_tensor_is_empty(t))
    return kubo_error_set(KUBO_ESTATE, "response: the data tensor is "
                          "empty or freed");
  if ((s = kubo_calloc(sizeof *s)) == NULL) return KUBO_ENOMEM;
  if ((status = set_shape(s, t->ndim, t->shape, "the data tensor"))
      != KUBO_OK) {
    kubo_traj_free(s);
    return status;
  }
  kubo_tensor_share(&s->tensor, t);
  *out = s;
  return KUBO_OK;
}


kubo_status kubo_traj_from_h5(kubo_traj **out, const char *path,
                              const char *name) {
  kubo_h5_list list = {0};
  kubo_traj *s;
  const kubo_h5_entry *found = NULL;
  kubo_status status;

  *out = NULL;
  if (path == NULL || name == NULL)
    return kubo_error_set(KUBO_EINVAL, "response: NULL file or dataset "
                          "name");
  if ((status = kubo_h5_list_file(path, &list)) != KUBO_OK) return status;
  for (int i = 0; i < list.count; i++) {
    const char *n = list.items[i].name;
    const char *want = name[0] == '/' ? name + 1 : name;
    if (!list.items[i].is_group && strcmp(n[0] == '/' ? n + 1 : n, want)
        == 0)
      found = &list.items[i];
  }
  if (found == NULL) {
    kubo_h5_list_free(&list);
    return kubo_error_set(KUBO_EIO, "response: no dataset '%s' in '%s'",
                          name, path);
  }
  if ((s = kubo_calloc(sizeof *s)) == NULL) {
    kubo_h5_list_free(&list);
    return KUBO_ENOMEM;
  }
  status = set_shape(s, found->ndim, found->shape, "the dataset");
  kubo_h5_list_free(&list);
  if (status == KUBO_OK) {
    s->path = copy_string(path);
    s->name = copy_string(name);
    if (s->path == NULL || s->name == NULL) status = KUBO_ENOMEM;
  }
  if (status != KUBO_OK) {
    kubo_traj_free(s);
    return status;
  }
  *out = s;
  return KUBO_OK;
}


int64_t kubo_traj_frames(const kubo_traj *s) { return s->shape[0]; }
int64_t kubo_traj_members(const kubo_traj *s) { return s->shape[1]; }
int64_t kubo_traj_state_size(const kubo_traj *s) { return s->state_size; }


int kubo_traj_state_shape(const kubo_traj *s, int64_t *shape) {
  for (int a = 2; a < s->ndim; a++) shape[a - 2] = s->shape[a];
  return s->ndim - 2;
}


/* Copies members first..first+count-1 of the frames f0..f0+nf-1 held in
** block (nf, members, d) into out (count, frames, d). */
static void scatter_frames(const kubo_traj *s, const kubo_tensor *block,
                           int64_t f0, int64_t first, int64_t count,
                           double *out) {
  int64_t T = s->shape[0], d = s->state_size, nf = block->shape[0];
  int64_t idx[KUBO_MAX_DIM] = {0};
  int contiguous = kubo_tensor_is_contiguous(block);

  for (int64_t f = 0; f < nf; f++)
    for (int64_t m = 0; m < count; m++) {
      double *dst = out + (m * T + f0 + f) * d;
      if (contiguous) {
        int64_t base = (f * s->shape[1] + first + m) * d;
        for (int64_t i = 0; i < d; i++)
          dst[i] = kubo_tensor_at(block, base + i);
        continue;
      }
      /* a strided view: walk the state index in row-major order */
      idx[0] = f;
      idx[1] = first + m;
      for (int a = 2; a < block->ndim; a++) idx[a] = 0;
      for (int64_t i = 0; i < d; i++) {
        int64_t off = kubo_tensor_offset(block, idx);
        dst[i] = block->dtype == KUBO_FLOAT64
                     ? ((const double *)block->data)[off]
                     : (double)((const float *)block->data)[off];
        for (int a = block->ndim - 1; a >= 2; a--) {
          if (++idx[a] < block->shape[a]) break;
          idx[a] = 0;
        }
      }
    }
}


kubo_status kubo_traj_read(kubo_traj *s, int64_t first, int64_t count,
                           double *out) {
  int64_t T = s->shape[0], E = s->shape[1];
  int64_t frame_bytes, per_block;

  if (first < 0 || count < 0 || first + count > E)
    return kubo_error_set(KUBO_EINVAL, "response: members %lld..%lld are "
                          "outside 1..%lld", (long long)first + 1,
                          (long long)(first + count), (long long)E);
  if (s->path == NULL) {
    scatter_frames(s, &s->tensor, 0, first, count, out);
    return KUBO_OK;
  }

  frame_bytes = E * s->state_size * 8;
  per_block = FRAME_BLOCK_BYTES / (frame_bytes > 0 ? frame_bytes : 1);
  if (per_block < 1) per_block = 1;
  for (int64_t f0 = 0; f0 < T; f0 += per_block) {
    int64_t nf = T - f0 < per_block ? T - f0 : per_block;
    kubo_tensor block = {0};
    kubo_status status = kubo_h5_read_frames(s->path, s->name, f0, nf,
                                             &block, NULL);
    if (status != KUBO_OK) return status;
    scatter_frames(s, &block, f0, first, count, out);
    kubo_tensor_release(&block);
  }
  return KUBO_OK;
}


/* Returns the number of members read at once for memory of GROUP_BYTES. */
static int64_t group_size(const kubo_traj *s) {
  int64_t member_bytes = s->shape[0] * s->state_size * 8;
  int64_t g = GROUP_BYTES / (member_bytes > 0 ? member_bytes : 1);
  if (g < 1) g = 1;
  return g < s->shape[1] ? g : s->shape[1];
}


/* Returns the (frames, d) values of the only member in place when the
** source is a contiguous float64 tensor of one member, else NULL (the
** values must be copied out). */
static const double *direct_member(const kubo_traj *s) {
  if (s->path != NULL || s->shape[1] != 1) return NULL;
  if (s->tensor.dtype != KUBO_FLOAT64 ||
      !kubo_tensor_is_contiguous(&s->tensor))
    return NULL;
  return s->tensor.data;
}


/* Adds the values of every member, read in groups, to sums (d values). */
static kubo_status sum_by_groups(kubo_traj *s, double *sums) {
  int64_t T = s->shape[0], E = s->shape[1], d = s->state_size;
  int64_t g = group_size(s);
  size_t bytes = (size_t)g * (size_t)T * (size_t)d * sizeof(double);
  double *buf = kubo_alloc(bytes);

  if (buf == NULL) return KUBO_ENOMEM;
  for (int64_t first = 0; first < E; first += g) {
    int64_t count = E - first < g ? E - first : g;
    kubo_status status = kubo_traj_read(s, first, count, buf);
    if (status != KUBO_OK) {
      kubo_free(buf, bytes);
      return status;
    }
    for (int64_t r = 0; r < count * T; r++)
      for (int64_t i = 0; i < d; i++) sums[i] += buf[r * d + i];
  }
  kubo_free(buf, bytes);
  return KUBO_OK;
}


kubo_status kubo_traj_mean(kubo_traj *s, double *mean, double *total) {
  int64_t T = s->shape[0], E = s->shape[1], d = s->state_size;
  double sum = 0.0;

  for (int64_t i = 0; i < d; i++) mean[i] = 0.0;
  if (s->path == NULL && kubo_tensor_is_contiguous(&s->tensor)) {
    /* in place: (frames * members) rows of d values */
    for (int64_t r = 0; r < T * E; r++)
      for (int64_t i = 0; i < d; i++)
        mean[i] += kubo_tensor_at(&s->tensor, r * d + i);
  } else {
    kubo_status status = sum_by_groups(s, mean);
    if (status != KUBO_OK) return status;
  }
  for (int64_t i = 0; i < d; i++) {
    sum += mean[i];
    mean[i] /= (double)(T * E);
  }
  if (total != NULL) *total = sum / (double)(T * E * d);
  return KUBO_OK;
}


static kubo_status check_match(const kubo_traj *s,
                               const kubo_response_spec *spec) {
  int64_t shape[KUBO_MAX_DIM];
  int ndim = kubo_traj_state_shape(s, shape);
  int same = ndim == spec->ndim && spec->frames == s->shape[0];
  for (int a = 0; same && a < ndim; a++) same = shape[a] == spec->shape[a];
  if (!same)
    return kubo_error_set(KUBO_EINVAL, "response: the estimator expects "
                          "%lld frames of a %d-dimensional state, the data "
                          "has %lld frames of a %d-dimensional state (or "
                          "other sizes)", (long long)spec->frames,
                          spec->ndim, (long long)s->shape[0], ndim);
  return KUBO_OK;
}


kubo_status kubo_response_run(kubo_traj *s, const kubo_response_spec *spec,
                              kubo_response_series_fn fn, void *userdata,
                              kubo_response *out) {
  int64_t T = s->shape[0], E = s->shape[1], d = s->state_size;
  int64_t g = group_size(s);
  int64_t y_per_frame = spec->kind == KUBO_RESPONSE_CONJUGATE ? 1 : d;
  size_t buf_bytes = (size_t)g * (size_t)T * (size_t)d * sizeof(double);
  size_t y_bytes = (size_t)T * (size_t)y_per_frame * sizeof(double);
  size_t mean_bytes = (size_t)d * sizeof(double);
  double *buf = NULL, *y = NULL, *mean = NULL, total = 0.0;
  const double *direct;
  kubo_response_est *e = NULL;
  kubo_status status;

  memset(out, 0, sizeof *out);
  if ((status = check_match(s, spec)) != KUBO_OK) return status;
  if (spec->kind != KUBO_RESPONSE_GAUSSIAN && fn == NULL)
    return kubo_error_set(KUBO_EINVAL, "response: the %s estimator needs a "
                          "function for its second series",
                          spec->kind == KUBO_RESPONSE_SCORE ? "score"
                                                            : "conjugate");
  if ((status = kubo_response_est_new(&e, spec)) != KUBO_OK) return status;

  direct = direct_member(s);
  buf = direct == NULL ? kubo_alloc(buf_bytes) : NULL;
  y = spec->kind != KUBO_RESPONSE_GAUSSIAN ? kubo_alloc(y_bytes) : NULL;
  mean = kubo_alloc(mean_bytes);
  if ((direct == NULL && buf == NULL) || mean == NULL ||
      (spec->kind != KUBO_RESPONSE_GAUSSIAN && y == NULL)) {
    status = KUBO_ENOMEM;
    goto done;
  }
  if (spec->kind == KUBO_RESPONSE_GAUSSIAN &&
      (status = kubo_traj_mean(s, mean, &total)) != KUBO_OK)
    goto done;
  if (spec->grid) mean[0] = total;

  for (int64_t first = 0; first < E && status == KUBO_OK; first += g) {
    int64_t count = E - first < g ? E - first : g;
    if (direct == NULL &&
        (status = kubo_traj_read(s, first, count, buf)) != KUBO_OK)
      break;
    for (int64_t m = 0; m < count; m++) {
      const double *x = direct != NULL ? direct : buf + m * T * d;
      if ((status = kubo_interrupt_check("response")) != KUBO_OK) break;
      if (fn != NULL && spec->kind != KUBO_RESPONSE_GAUSSIAN &&
          (status = fn(userdata, first + m, T, x, y)) != KUBO_OK)
        break;
      status = kubo_response_est_add(e, x, y, mean);
      if (status != KUBO_OK) {
        kubo_error_prefix(status, "member %lld", (long long)(first + m + 1));
        break;
      }
    }
  }
  if (status == KUBO_OK) status = kubo_response_est_finish(e, out);

done:
  kubo_free(buf, buf_bytes);
  kubo_free(y, y_bytes);
  kubo_free(mean, mean_bytes);
  kubo_response_est_free(e);
  return status;
}
