/*
** h5_dataset.c: whole datasets as tensors (write and read), attribute
** reads, and the listing of a file's groups and datasets.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5_internal.h"

/* Chunk size aimed at for compressed whole datasets (bytes). */
enum { CHUNK_BYTES = 1 << 20 };


/* Chooses chunk dimensions of at most about CHUNK_BYTES: full trailing
** dimensions, and the leading ones cut down until the chunk fits. */
static void choose_chunk(int ndim, const int64_t *shape, size_t elem,
                         hsize_t *chunk) {
  for (int d = 0; d < ndim; d++) chunk[d] = (hsize_t)shape[d];
  for (int d = 0; d < ndim; d++) {
    uint64_t rest = elem;
    for (int e = d + 1; e < ndim; e++) rest *= chunk[e];
    if (rest * chunk[d] <= CHUNK_BYTES) break;
    chunk[d] = rest >= CHUNK_BYTES ? 1 : CHUNK_BYTES / rest;
  }
}


/* Removes an existing dataset called name so it can be written anew;
** fails if name is a group. */
static kubo_status remove_old_dataset(hid_t file, const char *name) {
  hid_t obj;
  H5I_type_t type;
  if (!h5_exists(file, name)) return KUBO_OK;
  obj = H5Oopen(file, name, H5P_DEFAULT);
  if (obj < 0) return h5_fail(KUBO_EIO, "h5: cannot open '%s'", name);
  type = H5Iget_type(obj);
  H5Oclose(obj);
  if (type != H5I_DATASET)
    return kubo_error_set(KUBO_EIO, "h5: '%s' is a group, not a dataset; "
                          "choose another name", name);
  if (H5Ldelete(file, name, H5P_DEFAULT) < 0)
    return h5_fail(KUBO_EIO, "h5: cannot replace dataset '%s'", name);
  return KUBO_OK;
}


kubo_status h5_dataset_write(hid_t file, const char *name,
                             const kubo_tensor *t,
                             const kubo_h5_attrs *attrs, int compress) {
  kubo_tensor c;
  hsize_t dims[KUBO_MAX_DIM], chunk[KUBO_MAX_DIM];
  hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
  hid_t lcpl = H5I_INVALID_HID, dset = H5I_INVALID_HID;
  hid_t ftype, mtype;
  int64_t numel;
  kubo_status status;
  memset(&c, 0, sizeof c);
  if (t == NULL || t->storage == NULL)
    return kubo_error_set(KUBO_EINVAL, "h5: the tensor for '%s' is empty "
                          "or freed", name);
  status = h5_check_compress(compress);
  if (status != KUBO_OK) return status;
  status = kubo_tensor_contiguous(&c, t);
  if (status != KUBO_OK) return status;
  status = remove_old_dataset(file, name);
  if (status != KUBO_OK) {
    kubo_tensor_release(&c);
    return status;
  }

  numel = kubo_tensor_numel(&c);
  for (int d = 0; d < c.ndim; d++) dims[d] = (hsize_t)c.shape[d];
  space = c.ndim == 0 ? H5Screate(H5S_SCALAR)
                      : H5Screate_simple(c.ndim, dims, NULL);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  lcpl = H5Pcreate(H5P_LINK_CREATE);
  if (space < 0 || dcpl < 0 || lcpl < 0) {
    status = h5_fail(KUBO_EIO, "h5: cannot set up dataset '%s'", name);
    goto done;
  }
  H5Pset_create_intermediate_group(lcpl, 1);
  /* Chunking needs a rank and no empty dimension. */
  if (compress > 0 && c.ndim > 0 && numel > 0) {
    choose_chunk(c.ndim, c.shape, kubo_dtype_size(c.dtype), chunk);
    if (H5Pset_chunk(dcpl, c.ndim, chunk) < 0) {
      status = h5_fail(KUBO_EIO, "h5: cannot chunk dataset '%s'", name);
      goto done;
    }
    status = h5_set_deflate(dcpl, compress);
    if (status != KUBO_OK) goto done;
  }
  ftype = c.dtype == KUBO_FLOAT64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
  mtype = c.dtype == KUBO_FLOAT64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
  dset = H5Dcreate2(file, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
  if (dset < 0) {
    status = h5_fail(KUBO_EIO, "h5: cannot create dataset '%s'", name);
    goto done;
  }
  if (numel > 0 &&
      H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data) < 0) {
    status = h5_fail(KUBO_EIO, "h5: cannot write dataset '%s'", name);
    goto done;
  }
  status = h5_attrs_write(dset, attrs, name);

done:
  if (dset >= 0) H5Dclose(dset);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  kubo_tensor_release(&c);
  return status;
}


/* ---------------------------------------------------------------------
** Reading
** ------------------------------------------------------------------- */

static void dtype_name(hid_t type, char *buf, size_t size) {
  size_t bits = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      snprintf(buf, size, "float%zu", bits);
      break;
    case H5T_INTEGER:
      snprintf(buf, size, "%sint%zu",
               H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bits);
      break;
    case H5T_STRING: snprintf(buf, size, "string"); break;
    case H5T_ENUM: snprintf(buf, size, "enum"); break;
    case H5T_COMPOUND: snprintf(buf, size, "compound"); break;
    default: snprintf(buf, size, "other"); break;
  }
}


/* Chooses the tensor dtype for an HDF5 type: float32 stays float32, the
** other numeric types become float64; returns -1 for anything else. */
static int tensor_dtype_for(hid_t type) {
  H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_FLOAT)
    return H5Tget_size(type) == 4 ? KUBO_FLOAT32 : KUBO_FLOAT64;
  if (cls == H5T_INTEGER) return KUBO_FLOAT64;
  if (cls == H5T_ENUM) {
    hid_t base = H5Tget_super(type);
    int ok = base >= 0 && H5Tget_class(base) == H5T_INTEGER;
    if (base >= 0) H5Tclose(base);
    return ok ? KUBO_FLOAT64 : -1;
  }
  return -1;
}


/* Opens the object name of file as a dataset. The error message
** distinguishes a missing object from a group. */
static kubo_status open_dataset(hid_t file, const char *path,
                                const char *name, hid_t *dset) {
  *dset = H5I_INVALID_HID;
  if (!h5_exists(file, name))
    return kubo_error_set(KUBO_EIO, "h5: no dataset '%s' in '%s'", name,
                          path);
  hid_t obj = H5Oopen(file, name, H5P_DEFAULT);
  if (obj < 0)
    return h5_fail(KUBO_EIO, "h5: cannot open '%s' in '%s'", name, path);
  if (H5Iget_type(obj) != H5I_DATASET) {
    H5Oclose(obj);
    return kubo_error_set(KUBO_EIO, "h5: '%s' in '%s' is a group, not a "
                          "dataset", name, path);
  }
  *dset = obj;
  return KUBO_OK;
}


/* Reads all of a dataset (ranged == 0) or frames first .. first + count
** - 1 of it into *out. */
static kubo_status read_dataset(hid_t dset, const char *path,
                                const char *name, int ranged, int64_t first,
                                int64_t count, kubo_tensor *out) {
  hid_t space = H5Dget_space(dset), type = H5Dget_type(dset);
  hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
  hsize_t dims[KUBO_H5_MAX_RANK], start[KUBO_H5_MAX_RANK];
  int64_t shape[KUBO_MAX_DIM];
  int ndim, dtype;
  char tname[16];
  kubo_status status = KUBO_OK;
  if (space < 0 || type < 0) {
    status = h5_fail(KUBO_EIO, "h5: cannot inspect '%s' in '%s'", name,
                     path);
    goto done;
  }
  ndim = H5Sget_simple_extent_ndims(space);
  dtype = tensor_dtype_for(type);
  if (dtype < 0) {
    dtype_name(type, tname, sizeof tname);
    status = kubo_error_set(KUBO_EIO, "h5: dataset '%s' in '%s' has type "
                            "%s; kubo reads integer and floating-point "
                            "datasets", name, path, tname);
    goto done;
  }
  if (ndim < 0 || ndim > KUBO_MAX_DIM) {
    status = kubo_error_set(KUBO_EIO, "h5: dataset '%s' in '%s' has %d "
                            "dimensions; tensors have at most %d", name,
                            path, ndim, (int)KUBO_MAX_DIM);
    goto done;
  }
  H5Sget_simple_extent_dims(space, dims, NULL);
  if (ranged) {
    if (ndim == 0) {
      status = kubo_error_set(KUBO_EIO, "h5: dataset '%s' in '%s' is a "
                              "scalar and has no frames", name, path);
      goto done;
    }
    if (count < 0 && first >= 0 && first <= (int64_t)dims[0])
      count = (int64_t)dims[0] - first;
    if (first < 0 || count < 0 || first > (int64_t)dims[0] ||
        count > (int64_t)dims[0] - first) {
      status = kubo_error_set(KUBO_EINVAL, "h5: frames %lld..%lld are "
                              "outside dataset '%s' of %lld frames "
                              "(0-based)", (long long)first,
                              (long long)(first + count - 1), name,
                              (long long)dims[0]);
      goto done;
    }
  }
  for (int d = 0; d < ndim; d++) {
    shape[d] = (int64_t)dims[d];
    start[d] = 0;
  }
  if (ranged) {
    shape[0] = count;
    start[0] = (hsize_t)first;
  }
  status = kubo_tensor_init(out, (kubo_dtype)dtype, ndim, shape);
  if (status != KUBO_OK) goto done;
  if (kubo_tensor_numel(out) == 0) goto done;

  for (int d = 0; d < ndim; d++) dims[d] = (hsize_t)shape[d];
  if (ndim > 0) {
    fspace = H5Scopy(space);
    mspace = H5Screate_simple(ndim, dims, NULL);
    if (fspace < 0 || mspace < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, dims,
                            NULL) < 0) {
      status = h5_fail(KUBO_EIO, "h5: cannot select frames of '%s'", name);
      goto done;
    }
  }
  if (H5Dread(dset, dtype == KUBO_FLOAT32 ? H5T_NATIVE_FLOAT
                                          : H5T_NATIVE_DOUBLE,
              ndim > 0 ? mspace : H5S_ALL, ndim > 0 ? fspace : H5S_ALL,
              H5P_DEFAULT, out->data) < 0)
    status = h5_fail(KUBO_EIO, "h5: cannot read dataset '%s' in '%s'", name,
                     path);

done:
  if (status != KUBO_OK) kubo_tensor_release(out);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  return status;
}


static kubo_status read_common(const char *path, const char *name,
                               int ranged, int64_t first, int64_t count,
                               kubo_tensor *out, kubo_h5_attrs *attrs) {
  char abs[H5_NAME_MAX];
  hid_t file = H5I_INVALID_HID, dset = H5I_INVALID_HID;
  kubo_status status;
  h5_quiet();
  memset(out, 0, sizeof *out);
  if (attrs != NULL) kubo_h5_attrs_init(attrs);
  status = h5_normalize_name(name, abs, 0);
  if (status == KUBO_OK) status = h5_open_read(path, &file);
  if (status == KUBO_OK) status = open_dataset(file, path, abs, &dset);
  if (status == KUBO_OK)
    status = read_dataset(dset, path, abs, ranged, first, count, out);
  if (status == KUBO_OK && attrs != NULL) {
    status = h5_attrs_read(dset, attrs, abs);
    if (status != KUBO_OK) kubo_tensor_release(out);
  }
  if (dset >= 0) H5Dclose(dset);
  if (file >= 0 && H5Fclose(file) < 0 && status == KUBO_OK)
    status = h5_fail(KUBO_EIO, "h5: cannot close '%s'", path);
  if (status != KUBO_OK) {
    kubo_tensor_release(out);
    if (attrs != NULL) kubo_h5_attrs_free(attrs);
  }
  return status;
}


kubo_status kubo_h5_read(const char *path, const char *name,
                         kubo_tensor *out, kubo_h5_attrs *attrs) {
  return read_common(path, name, 0, 0, -1, out, attrs);
}


kubo_status kubo_h5_read_frames(const char *path, const char *name,
                                int64_t first, int64_t count,
                                kubo_tensor *out, kubo_h5_attrs *attrs) {
  return read_common(path, name, 1, first, count, out, attrs);
}


kubo_status kubo_h5_read_attrs(const char *path, const char *name,
                               kubo_h5_attrs *out) {
  char abs[H5_NAME_MAX];
  hid_t file = H5I_INVALID_HID, obj = H5I_INVALID_HID;
  kubo_status status;
  h5_quiet();
  kubo_h5_attrs_init(out);
  status = h5_normalize_name(name, abs, 1);
  if (status == KUBO_OK) status = h5_open_read(path, &file);
  if (status == KUBO_OK && !h5_exists(file, abs))
    status = kubo_error_set(KUBO_EIO, "h5: no object '%s' in '%s'", abs,
                            path);
  if (status == KUBO_OK) {
    obj = H5Oopen(file, abs, H5P_DEFAULT);
    if (obj < 0)
      status = h5_fail(KUBO_EIO, "h5: cannot open '%s' in '%s'", abs, path);
  }
  if (status == KUBO_OK) status = h5_attrs_read(obj, out, abs);
  if (obj >= 0) H5Oclose(obj);
  if (file >= 0) H5Fclose(file);
  return status;
}


/* ---------------------------------------------------------------------
** Listing
** ------------------------------------------------------------------- */

typedef struct list_state {
  kubo_h5_list *list;
  kubo_status status;
} list_state;


static kubo_status list_push(kubo_h5_list *list, kubo_h5_entry *e) {
  if (list->count == list->capacity) {
    int cap = list->capacity ? 2 * list->capacity : 16;
    kubo_h5_entry *items = realloc(list->items, (size_t)cap * sizeof *items);
    if (items == NULL)
      return kubo_error_set(KUBO_ENOMEM, "h5: out of memory while listing");
    list->items = items;
    list->capacity = cap;
  }
  list->items[list->count++] = *e;
  return KUBO_OK;
}


static herr_t list_one(hid_t root, const char *name, const H5L_info_t *info,
                       void *data) {
  list_state *st = data;
  kubo_h5_entry e;
  hid_t obj;
  H5I_type_t type;
  if (info->type != H5L_TYPE_HARD) return 0;
  obj = H5Oopen(root, name, H5P_DEFAULT);
  if (obj < 0) {
    st->status = h5_fail(KUBO_EIO, "h5: cannot open '/%s'", name);
    return -1;
  }
  type = H5Iget_type(obj);
  if (type != H5I_GROUP && type != H5I_DATASET) {
    H5Oclose(obj);
    return 0;
  }
  memset(&e, 0, sizeof e);
  e.is_group = type == H5I_GROUP;
  if (!e.is_group) {
    hid_t space = H5Dget_space(obj), dtype = H5Dget_type(obj);
    hsize_t dims[KUBO_H5_MAX_RANK], maxdims[KUBO_H5_MAX_RANK];
    int ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (ndim > 0) H5Sget_simple_extent_dims(space, dims, maxdims);
    e.ndim = ndim > 0 ? ndim : 0;
    for (int d = 0; d < e.ndim; d++) e.shape[d] = (int64_t)dims[d];
    e.appendable = ndim > 0 && maxdims[0] == H5S_UNLIMITED;
    if (dtype >= 0) dtype_name(dtype, e.dtype, sizeof e.dtype);
    if (dtype >= 0) H5Tclose(dtype);
    if (space >= 0) H5Sclose(space);
  }
  H5Oclose(obj);
  e.name = malloc(strlen(name) + 2);
  if (e.name == NULL) {
    st->status = kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
    return -1;
  }
  e.name[0] = '/';
  strcpy(e.name + 1, name);
  st->status = list_push(st->list, &e);
  if (st->status != KUBO_OK) {
    free(e.name);
    return -1;
  }
  return 0;
}


kubo_status kubo_h5_list_file(const char *path, kubo_h5_list *out) {
  list_state st = {out, KUBO_OK};
  hid_t file;
  kubo_status status;
  h5_quiet();
  memset(out, 0, sizeof *out);
  status = h5_open_read(path, &file);
  if (status != KUBO_OK) return status;
  if (H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, list_one, &st) < 0)
    status = st.status != KUBO_OK
                 ? st.status
                 : h5_fail(KUBO_EIO, "h5: cannot list '%s'", path);
  H5Fclose(file);
  if (status != KUBO_OK) kubo_h5_list_free(out);
  return status;
}


void kubo_h5_list_free(kubo_h5_list *list) {
  for (int i = 0; i < list->count; i++) free(list->items[i].name);
  free(list->items);
  memset(list, 0, sizeof *list);
}
