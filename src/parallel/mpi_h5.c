/*
** mpi_h5.c: files written by several ranks. Each rank writes its own file
** ("run.rank0.h5", ...), and an HDF5 virtual dataset (HDF5 1.10 or later)
** in the file the caller named joins the ranks' datasets, so that a
** reader sees one dataset.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "kubo/mpi.h"


kubo_status kubo_mpi_rank_path(const char *path, int rank, char *out,
                               size_t size) {
  const char *slash = strrchr(path, '/');
  const char *base = slash != NULL ? slash + 1 : path;
  const char *dot = strrchr(base, '.');
  int n;
  if (dot == NULL || dot == base)
    n = snprintf(out, size, "%s.rank%d", path, rank);
  else
    n = snprintf(out, size, "%.*s.rank%d%s", (int)(dot - path), path, rank,
                 dot);
  if (n < 0 || (size_t)n >= size)
    return kubo_error_set(KUBO_EINVAL, "mpi: the file name '%s' is too "
                          "long", path);
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Sources
** ------------------------------------------------------------------- */

typedef struct source_info {
  int ndim;
  hsize_t dims[H5S_MAX_RANK];
} source_info;


/* Reads the type (into *type, unless it is already set, in which case
** the source's type must equal it) and the shape of dataset name in
** file path. */
static kubo_status read_source(const char *path, const char *name,
                               hid_t *type, source_info *info) {
  kubo_status st = KUBO_OK;
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    return kubo_error_set(KUBO_EIO, "mpi: cannot open '%s' to join its "
                          "dataset '%s'", path, name);
  hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
  if (dset < 0) {
    H5Fclose(file);
    return kubo_error_set(KUBO_EIO, "mpi: '%s' has no dataset '%s' to "
                          "join", path, name);
  }
  hid_t t = H5Dget_type(dset), space = H5Dget_space(dset);
  info->ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  if (t < 0 || info->ndim < 1)
    st = kubo_error_set(KUBO_EIO, "mpi: cannot join the dataset '%s' of "
                        "'%s': it has no dimensions", name, path);
  else
    H5Sget_simple_extent_dims(space, info->dims, NULL);
  if (st == KUBO_OK && *type < 0) {
    *type = H5Tcopy(t);
  } else if (st == KUBO_OK && H5Tequal(*type, t) <= 0) {
    st = kubo_error_set(KUBO_EINVAL, "mpi: the dataset '%s' of '%s' has "
                        "another type than that of the first file", name,
                        path);
  }
  if (t >= 0) H5Tclose(t);
  if (space >= 0) H5Sclose(space);
  H5Dclose(dset);
  H5Fclose(file);
  return st;
}


/* Checks that every source matches the first except along axis, and
** sums their sizes along it into *extent. */
static kubo_status check_sources(const source_info *info, int count,
                                 int axis, const char *const *sources,
                                 hsize_t *extent) {
  *extent = 0;
  if (axis < 0 || axis >= info[0].ndim)
    return kubo_error_set(KUBO_EINVAL, "mpi: cannot join along dimension "
                          "%d of a dataset of %d dimensions", axis + 1,
                          info[0].ndim);
  for (int i = 0; i < count; i++) {
    int same = info[i].ndim == info[0].ndim;
    for (int d = 0; same && d < info[0].ndim; d++)
      if (d != axis && info[i].dims[d] != info[0].dims[d]) same = 0;
    if (!same)
      return kubo_error_set(KUBO_EINVAL, "mpi: the dataset in '%s' does "
                            "not fit the one in '%s': the shapes may "
                            "differ only in dimension %d", sources[i],
                            sources[0], axis + 1);
    *extent += info[i].dims[axis];
  }
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** The joining file
** ------------------------------------------------------------------- */

/* Copies the file at from into the new file descriptor out. */
static kubo_status copy_file(const char *from, int out) {
  char buf[1 << 16];
  int in = open(from, O_RDONLY | O_CLOEXEC);
  kubo_status st = KUBO_OK;
  if (in < 0)
    return kubo_error_set(KUBO_EIO, "mpi: cannot read '%s': %s", from,
                          strerror(errno));
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0 || write(out, buf, (size_t)n) != n) {
      st = kubo_error_set(KUBO_EIO, "mpi: cannot copy '%s': %s", from,
                          strerror(errno));
      break;
    }
  }
  close(in);
  return st;
}


/* Creates the temporary file "<path>.tmp-<pid>-join" as a copy of path,
** or empty when path does not exist. */
static kubo_status make_temp(const char *path, char *tmp, size_t size,
                             int *exists) {
  struct stat sb;
  *exists = stat(path, &sb) == 0;
  if (*exists && H5Fis_hdf5(path) <= 0)
    return kubo_error_set(KUBO_EIO, "mpi: '%s' exists and is not an HDF5 "
                          "file; it is left as it is", path);
  if (snprintf(tmp, size, "%s.tmp-%ld-join", path, (long)getpid()) >=
      (int)size)
    return kubo_error_set(KUBO_EINVAL, "mpi: the file name '%s' is too "
                          "long", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    return kubo_error_set(KUBO_EIO, "mpi: cannot create '%s': %s", tmp,
                          strerror(errno));
  kubo_status st = *exists ? copy_file(path, fd) : KUBO_OK;
  if (close(fd) != 0 && st == KUBO_OK)
    st = kubo_error_set(KUBO_EIO, "mpi: cannot write '%s': %s", tmp,
                        strerror(errno));
  if (st != KUBO_OK) unlink(tmp);
  return st;
}


/* Returns the part of path after its folder. */
static const char *file_part(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash != NULL ? slash + 1 : path;
}


/* Returns 1 if source is in the folder of path. */
static int same_folder(const char *path, const char *source) {
  size_t a = (size_t)(file_part(path) - path);
  size_t b = (size_t)(file_part(source) - source);
  return a == b && strncmp(path, source, a) == 0;
}


/* Creates the virtual dataset in the open file. */
static kubo_status write_virtual(hid_t file, const char *name, hid_t type,
                                 int count, const char *const *sources,
                                 const source_info *info, int axis,
                                 hsize_t extent) {
  int ndim = info[0].ndim;
  hsize_t vdims[H5S_MAX_RANK], start[H5S_MAX_RANK];
  kubo_status st = KUBO_OK;
  memcpy(vdims, info[0].dims, sizeof vdims);
  vdims[axis] = extent;
  hid_t vspace = H5Screate_simple(ndim, vdims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  if (vspace < 0 || dcpl < 0 || lcpl < 0 ||
      H5Pset_create_intermediate_group(lcpl, 1) < 0)
    st = kubo_error_set(KUBO_EIO, "mpi: cannot set up the virtual dataset "
                        "'%s'", name);

  hsize_t offset = 0;
  for (int i = 0; st == KUBO_OK && i < count; i++) {
    memset(start, 0, sizeof start);
    start[axis] = offset;
    hid_t src = H5Screate_simple(ndim, info[i].dims, NULL);
    if (src < 0 ||
        H5Sselect_hyperslab(vspace, H5S_SELECT_SET, start, NULL,
                            info[i].dims, NULL) < 0 ||
        H5Pset_virtual(dcpl, vspace, file_part(sources[i]), name, src) < 0)
      st = kubo_error_set(KUBO_EIO, "mpi: cannot map '%s' into the "
                          "virtual dataset '%s'", sources[i], name);
    if (src >= 0) H5Sclose(src);
    offset += info[i].dims[axis];
  }
  if (st == KUBO_OK) H5Sselect_all(vspace);

  if (st == KUBO_OK && H5Lexists(file, name, H5P_DEFAULT) > 0 &&
      H5Ldelete(file, name, H5P_DEFAULT) < 0)
    st = kubo_error_set(KUBO_EIO, "mpi: cannot replace '%s'", name);
  if (st == KUBO_OK) {
    hid_t dset = H5Dcreate2(file, name, type, vspace, lcpl, dcpl,
                            H5P_DEFAULT);
    if (dset < 0)
      st = kubo_error_set(KUBO_EIO, "mpi: cannot create the virtual "
                          "dataset '%s'", name);
    else
      H5Dclose(dset);
  }
  if (lcpl >= 0) H5Pclose(lcpl);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (vspace >= 0) H5Sclose(vspace);
  return st;
}


kubo_status kubo_mpi_h5_join(const char *path, const char *name,
                             int count, const char *const *sources,
                             int axis, const kubo_h5_attrs *attrs) {
  char tmp[4096];
  int exists = 0;
  hid_t type = -1;
  kubo_status st = KUBO_OK;
  source_info *info;

  if (count < 1 || name == NULL || name[0] == '\0')
    return kubo_error_set(KUBO_EINVAL, "mpi: nothing to join into '%s'",
                          path);
  info = calloc((size_t)count, sizeof *info);
  if (info == NULL) return kubo_error_set(KUBO_ENOMEM, "mpi: out of memory");
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  for (int i = 0; st == KUBO_OK && i < count; i++) {
    if (!same_folder(path, sources[i]))
      st = kubo_error_set(KUBO_EINVAL, "mpi: '%s' is not in the folder of "
                          "'%s'", sources[i], path);
    else
      st = read_source(sources[i], name, &type, &info[i]);
  }
  hsize_t extent = 0;
  if (st == KUBO_OK)
    st = check_sources(info, count, axis, sources, &extent);
  if (st == KUBO_OK) st = make_temp(path, tmp, sizeof tmp, &exists);

  if (st == KUBO_OK) {
    hid_t file = exists ? H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT)
                        : H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT,
                                    H5P_DEFAULT);
    if (file < 0)
      st = kubo_error_set(KUBO_EIO, "mpi: cannot open '%s'", tmp);
    else {
      st = write_virtual(file, name, type, count, sources, info, axis,
                         extent);
      if (H5Fclose(file) < 0 && st == KUBO_OK)
        st = kubo_error_set(KUBO_EIO, "mpi: cannot write '%s'", tmp);
    }
    if (st == KUBO_OK && rename(tmp, path) != 0)
      st = kubo_error_set(KUBO_EIO, "mpi: cannot rename '%s' to '%s': %s",
                          tmp, path, strerror(errno));
    if (st != KUBO_OK) unlink(tmp);
  }
  if (type >= 0) H5Tclose(type);
  free(info);
  if (st == KUBO_OK && attrs != NULL && attrs->count > 0)
    st = kubo_h5_write_attrs(path, name, attrs);
  return st;
}
