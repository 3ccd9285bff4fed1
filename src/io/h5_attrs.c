/*
** h5_attrs.c: lists of named attribute values, and their reading from
** and writing to HDF5 objects.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h5_internal.h"

/* HDF5 keeps attributes in the object header, whose messages hold at
** most 64 KiB with the default (earliest) file format. */
enum { ATTR_MAX_BYTES = 65536 };


/* ---------------------------------------------------------------------
** The attribute list
** ------------------------------------------------------------------- */

void kubo_h5_attrs_init(kubo_h5_attrs *attrs) {
  memset(attrs, 0, sizeof *attrs);
}


static void attr_free(kubo_h5_attr *a) {
  if (a->strings != NULL)
    for (int64_t i = 0; i < a->count; i++) free(a->strings[i]);
  free(a->strings);
  free(a->floats);
  free(a->ints);
  free(a->name);
  memset(a, 0, sizeof *a);
}


void kubo_h5_attrs_free(kubo_h5_attrs *attrs) {
  for (int i = 0; i < attrs->count; i++) attr_free(&attrs->items[i]);
  free(attrs->items);
  memset(attrs, 0, sizeof *attrs);
}


const kubo_h5_attr *kubo_h5_attrs_find(const kubo_h5_attrs *attrs,
                                       const char *name) {
  for (int i = 0; i < attrs->count; i++)
    if (strcmp(attrs->items[i].name, name) == 0) return &attrs->items[i];
  return NULL;
}


static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = malloc(n);
  if (c != NULL) memcpy(c, s, n);
  return c;
}


/* Copies name and values into a new attribute, then puts it into attrs
** in place of an attribute of the same name or at the end. */
static kubo_status attrs_add(kubo_h5_attrs *attrs, const char *name,
                             kubo_h5_kind kind, int ndim,
                             const int64_t *shape, const void *values) {
  kubo_h5_attr a;
  int64_t count = 1;
  size_t bytes;
  int slot;
  memset(&a, 0, sizeof a);
  if (name == NULL || name[0] == '\0')
    return kubo_error_set(KUBO_EINVAL, "h5: attribute name is empty");
  if (values == NULL)
    return kubo_error_set(KUBO_EINVAL, "h5: attribute '%s' has no values",
                          name);
  if (ndim < 0 || ndim > KUBO_MAX_DIM)
    return kubo_error_set(KUBO_EINVAL, "h5: attribute '%s' has %d "
                          "dimensions (at most %d)", name, ndim,
                          (int)KUBO_MAX_DIM);
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0 || shape[d] > (int64_t)1 << 40)
      return kubo_error_set(KUBO_EINVAL, "h5: attribute '%s' has an "
                            "invalid size %lld", name, (long long)shape[d]);
    count *= shape[d];
    a.shape[d] = shape[d];
  }
  if (count > (int64_t)1 << 40)
    return kubo_error_set(KUBO_EINVAL, "h5: attribute '%s' is too large",
                          name);
  a.kind = kind;
  a.ndim = ndim;
  a.count = count;
  a.name = copy_string(name);
  if (a.name == NULL) goto nomem;
  /* One spare slot keeps malloc from being asked for 0 bytes. */
  bytes = (size_t)(count + 1);
  if (kind == KUBO_H5_FLOAT) {
    a.floats = malloc(bytes * sizeof(double));
    if (a.floats == NULL) goto nomem;
    memcpy(a.floats, values, (size_t)count * sizeof(double));
  } else if (kind == KUBO_H5_INT) {
    a.ints = malloc(bytes * sizeof(int64_t));
    if (a.ints == NULL) goto nomem;
    memcpy(a.ints, values, (size_t)count * sizeof(int64_t));
  } else {
    const char *const *s = values;
    a.strings = calloc(bytes, sizeof(char *));
    if (a.strings == NULL) goto nomem;
    for (int64_t i = 0; i < count; i++) {
      if (s[i] == NULL) {
        attr_free(&a);
        return kubo_error_set(KUBO_EINVAL, "h5: string %lld of attribute "
                              "'%s' is NULL", (long long)i + 1, name);
      }
      a.strings[i] = copy_string(s[i]);
      if (a.strings[i] == NULL) goto nomem;
    }
  }

  for (slot = 0; slot < attrs->count; slot++)
    if (strcmp(attrs->items[slot].name, name) == 0) break;
  if (slot == attrs->count && attrs->count == attrs->capacity) {
    int cap = attrs->capacity ? 2 * attrs->capacity : 8;
    kubo_h5_attr *items = realloc(attrs->items, (size_t)cap * sizeof *items);
    if (items == NULL) goto nomem;
    attrs->items = items;
    attrs->capacity = cap;
  }
  if (slot < attrs->count) attr_free(&attrs->items[slot]);
  else attrs->count++;
  attrs->items[slot] = a;
  return KUBO_OK;

nomem:
  attr_free(&a);
  return kubo_error_set(KUBO_ENOMEM, "h5: out of memory for attribute "
                        "'%s'", name ? name : "");
}


kubo_status kubo_h5_attrs_add_float(kubo_h5_attrs *attrs, const char *name,
                                    double value) {
  return attrs_add(attrs, name, KUBO_H5_FLOAT, 0, NULL, &value);
}


kubo_status kubo_h5_attrs_add_int(kubo_h5_attrs *attrs, const char *name,
                                  int64_t value) {
  return attrs_add(attrs, name, KUBO_H5_INT, 0, NULL, &value);
}


kubo_status kubo_h5_attrs_add_string(kubo_h5_attrs *attrs, const char *name,
                                     const char *value) {
  const char *values[1] = {value};
  if (value == NULL)
    return kubo_error_set(KUBO_EINVAL, "h5: attribute '%s' is a NULL "
                          "string", name ? name : "");
  return attrs_add(attrs, name, KUBO_H5_STRING, 0, NULL, values);
}


kubo_status kubo_h5_attrs_add_floats(kubo_h5_attrs *attrs, const char *name,
                                     int ndim, const int64_t *shape,
                                     const double *values) {
  if (ndim < 1)
    return kubo_error_set(KUBO_EINVAL, "h5: attribute array '%s' needs at "
                          "least one dimension", name ? name : "");
  return attrs_add(attrs, name, KUBO_H5_FLOAT, ndim, shape, values);
}


kubo_status kubo_h5_attrs_add_ints(kubo_h5_attrs *attrs, const char *name,
                                   int ndim, const int64_t *shape,
                                   const int64_t *values) {
  if (ndim < 1)
    return kubo_error_set(KUBO_EINVAL, "h5: attribute array '%s' needs at "
                          "least one dimension", name ? name : "");
  return attrs_add(attrs, name, KUBO_H5_INT, ndim, shape, values);
}


kubo_status kubo_h5_attrs_add_strings(kubo_h5_attrs *attrs,
                                      const char *name, int64_t count,
                                      const char *const *values) {
  int64_t shape[1] = {count};
  return attrs_add(attrs, name, KUBO_H5_STRING, 1, shape, values);
}


/* ---------------------------------------------------------------------
** Reading attributes from an object
** ------------------------------------------------------------------- */

typedef struct read_state {
  kubo_h5_attrs *out;
  const char *owner;     /* the object, for messages */
  kubo_status status;
} read_state;


static kubo_status read_numbers(hid_t attr, hid_t type, const char *name,
                                int ndim, const int64_t *shape,
                                int64_t count, kubo_h5_attrs *out) {
  H5T_class_t cls = H5Tget_class(type);
  size_t n = (size_t)count + 1;
  kubo_status status;
  if (cls == H5T_FLOAT) {
    double *v = malloc(n * sizeof *v);
    if (v == NULL) return kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
    if (H5Aread(attr, H5T_NATIVE_DOUBLE, v) < 0) {
      free(v);
      return h5_fail(KUBO_EIO, "h5: cannot read attribute '%s'", name);
    }
    status = attrs_add(out, name, KUBO_H5_FLOAT, ndim, shape, v);
    free(v);
    return status;
  }

  /* Integers and enums of integers. Unsigned 64-bit values above
  ** INT64_MAX do not fit an int64, so such arrays become floats. */
  int wide_unsigned = cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_NONE
                      && H5Tget_size(type) >= 8;
  int64_t *v = malloc(n * sizeof *v);
  int as_float = 0;
  if (v == NULL) return kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
  if (H5Aread(attr, wide_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64,
              v) < 0) {
    free(v);
    return h5_fail(KUBO_EIO, "h5: cannot read attribute '%s'", name);
  }
  if (wide_unsigned)
    for (int64_t i = 0; i < count; i++)
      if (((uint64_t *)v)[i] > (uint64_t)INT64_MAX) as_float = 1;
  if (as_float) {
    double *f = malloc(n * sizeof *f);
    if (f == NULL) {
      free(v);
      return kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
    }
    for (int64_t i = 0; i < count; i++) f[i] = (double)((uint64_t *)v)[i];
    status = attrs_add(out, name, KUBO_H5_FLOAT, ndim, shape, f);
    free(f);
  } else {
    status = attrs_add(out, name, KUBO_H5_INT, ndim, shape, v);
  }
  free(v);
  return status;
}


static kubo_status read_strings(hid_t attr, hid_t type, hid_t space,
                                const char *name, int ndim,
                                const int64_t *shape, int64_t count,
                                kubo_h5_attrs *out) {
  kubo_status status = KUBO_OK;
  hid_t mem = H5Tcopy(H5T_C_S1);
  char **strings = calloc((size_t)count + 1, sizeof *strings);
  if (mem < 0 || strings == NULL) {
    if (mem >= 0) H5Tclose(mem);
    free(strings);
    return kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
  }
  H5Tset_cset(mem, H5Tget_cset(type));
  if (H5Tis_variable_str(type) > 0) {
    H5Tset_size(mem, H5T_VARIABLE);
    const char **view = calloc((size_t)count + 1, sizeof *view);
    if (view == NULL) {
      status = kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
    } else if (H5Aread(attr, mem, strings) < 0) {
      status = h5_fail(KUBO_EIO, "h5: cannot read attribute '%s'", name);
    } else {
      /* HDF5 returns NULL for a string that was never written. */
      for (int64_t i = 0; i < count; i++)
        view[i] = strings[i] != NULL ? strings[i] : "";
      status = attrs_add(out, name, KUBO_H5_STRING, ndim, shape, view);
#if H5_VERSION_GE(1, 12, 0)
      H5Treclaim(mem, space, H5P_DEFAULT, strings);
#else
      H5Dvlen_reclaim(mem, space, H5P_DEFAULT, strings);
#endif
    }
    free(view);
  } else {
    /* Fixed-length strings: read each with one more byte, null-terminated,
    ** so HDF5 strips the padding and ends every string. */
    size_t len = H5Tget_size(type) + 1;
    char *block = malloc((size_t)count * len + 1);
    if (block == NULL) {
      status = kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
    } else {
      H5Tset_size(mem, len);
      H5Tset_strpad(mem, H5T_STR_NULLTERM);
      if (H5Aread(attr, mem, block) < 0) {
        status = h5_fail(KUBO_EIO, "h5: cannot read attribute '%s'", name);
      } else {
        for (int64_t i = 0; i < count; i++) strings[i] = block + i * len;
        status = attrs_add(out, name, KUBO_H5_STRING, ndim, shape, strings);
      }
      free(block);
    }
  }
  free(strings);
  H5Tclose(mem);
  return status;
}


static herr_t read_one(hid_t obj, const char *name, const H5A_info_t *info,
                       void *data) {
  read_state *st = data;
  hid_t attr, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
  hsize_t dims[KUBO_H5_MAX_RANK];
  int64_t shape[KUBO_MAX_DIM], count = 1;
  int ndim;
  H5T_class_t cls;
  (void)info;
  attr = H5Aopen(obj, name, H5P_DEFAULT);
  if (attr < 0) {
    st->status = h5_fail(KUBO_EIO, "h5: cannot open attribute '%s' of %s",
                         name, st->owner);
    return -1;
  }
  type = H5Aget_type(attr);
  space = H5Aget_space(attr);
  ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
  /* Skipped: null (empty) dataspaces, ranks above KUBO_MAX_DIM, and
  ** types other than numbers and strings. */
  if (space < 0 || type < 0 || ndim < 0 || ndim > KUBO_MAX_DIM ||
      H5Sget_simple_extent_type(space) == H5S_NULL) {
    H5Eclear2(H5E_DEFAULT);
    goto done;
  }
  H5Sget_simple_extent_dims(space, dims, NULL);
  for (int d = 0; d < ndim; d++) {
    shape[d] = (int64_t)dims[d];
    count *= shape[d];
  }
  if (cls == H5T_FLOAT || cls == H5T_INTEGER) {
    st->status = read_numbers(attr, type, name, ndim, shape, count,
                              st->out);
  } else if (cls == H5T_ENUM) {
    hid_t base = H5Tget_super(type);
    if (base >= 0 && H5Tget_class(base) == H5T_INTEGER)
      st->status = read_numbers(attr, type, name, ndim, shape, count,
                                st->out);
    if (base >= 0) H5Tclose(base);
  } else if (cls == H5T_STRING) {
    st->status = read_strings(attr, type, space, name, ndim, shape, count,
                              st->out);
  }

done:
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  H5Aclose(attr);
  return st->status == KUBO_OK ? 0 : -1;
}


kubo_status h5_attrs_read(hid_t obj, kubo_h5_attrs *out, const char *owner) {
  read_state st = {out, owner, KUBO_OK};
  hsize_t idx = 0;
  kubo_h5_attrs_init(out);
  if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, read_one, &st)
      < 0) {
    kubo_h5_attrs_free(out);
    if (st.status != KUBO_OK) return st.status;
    return h5_fail(KUBO_EIO, "h5: cannot list the attributes of %s", owner);
  }
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Writing attributes to an object
** ------------------------------------------------------------------- */

static kubo_status write_one(hid_t obj, const kubo_h5_attr *a,
                             const char *owner) {
  hsize_t dims[KUBO_MAX_DIM];
  hid_t space, ftype, mtype, attr;
  const void *data;
  kubo_status status = KUBO_OK;
  if (a->kind != KUBO_H5_STRING && a->count * 8 > ATTR_MAX_BYTES)
    return kubo_error_set(KUBO_EINVAL, "h5: attribute '%s' of %s has %lld "
                          "values (%lld bytes), more than an HDF5 "
                          "attribute holds (64 KiB); store it as a "
                          "dataset", a->name, owner, (long long)a->count,
                          (long long)a->count * 8);
  if (H5Aexists(obj, a->name) > 0 && H5Adelete(obj, a->name) < 0)
    return h5_fail(KUBO_EIO, "h5: cannot replace attribute '%s' of %s",
                   a->name, owner);
  for (int d = 0; d < a->ndim; d++) dims[d] = (hsize_t)a->shape[d];
  space = a->ndim == 0 ? H5Screate(H5S_SCALAR)
                       : H5Screate_simple(a->ndim, dims, NULL);
  if (a->kind == KUBO_H5_FLOAT) {
    ftype = H5Tcopy(H5T_IEEE_F64LE);
    mtype = H5Tcopy(H5T_NATIVE_DOUBLE);
    data = a->floats;
  } else if (a->kind == KUBO_H5_INT) {
    ftype = H5Tcopy(H5T_STD_I64LE);
    mtype = H5Tcopy(H5T_NATIVE_INT64);
    data = a->ints;
  } else {
    /* Variable-length UTF-8, which h5py reads as str. */
    ftype = H5Tcopy(H5T_C_S1);
    H5Tset_size(ftype, H5T_VARIABLE);
    H5Tset_cset(ftype, H5T_CSET_UTF8);
    mtype = H5Tcopy(ftype);
    data = a->strings;
  }
  attr = H5Acreate2(obj, a->name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attr < 0 || H5Awrite(attr, mtype, data) < 0)
    status = h5_fail(KUBO_EIO, "h5: cannot write attribute '%s' of %s",
                     a->name, owner);
  if (attr >= 0) H5Aclose(attr);
  H5Tclose(mtype);
  H5Tclose(ftype);
  H5Sclose(space);
  return status;
}


kubo_status h5_attrs_write(hid_t obj, const kubo_h5_attrs *attrs,
                           const char *owner) {
  if (attrs == NULL) return KUBO_OK;
  for (int i = 0; i < attrs->count; i++) {
    kubo_status status = write_one(obj, &attrs->items[i], owner);
    if (status != KUBO_OK) return status;
  }
  return KUBO_OK;
}
