/*
** h5_writer.c: write transactions and appendable datasets. A transaction
** works on a temporary copy of a file and renames it over the file on
** success. The one-call writes (kubo_h5_write, kubo_h5_append,
** kubo_h5_write_attrs) are each a short transaction.
*/
#define _GNU_SOURCE   /* copy_file_range */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5_internal.h"

/* HDF5 limits a chunk to 4 GiB. */
#define CHUNK_MAX_BYTES ((int64_t)1 << 32)

typedef struct stream {
  char name[H5_NAME_MAX];
  hid_t dset;                      /* H5I_INVALID_HID until created */
  int dtype;                       /* -1 until known */
  int frame_ndim;                  /* -1 until known */
  int64_t frame_shape[KUBO_MAX_DIM];
  int64_t frames;
  int compress;
  int64_t chunk_frames;
} stream;

struct kubo_h5_writer {
  char *path;                      /* the target, symlinks resolved */
  char *tmp;                       /* the temporary file */
  hid_t file;
  stream *streams;
  int nstreams;
  kubo_h5_writer *next_open;       /* list of open writers */
};

/* Writers open in this process, so that a second change to the same file
** is rejected instead of being lost when the first writer commits. */
static kubo_h5_writer *open_writers = NULL;


/* ---------------------------------------------------------------------
** Paths and temporary files
** ------------------------------------------------------------------- */

static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = malloc(n);
  if (c != NULL) memcpy(c, s, n);
  return c;
}


/* Sets *out to the target path with symlinks resolved (so the rename
** replaces the file a link points to, not the link). */
static kubo_status resolve_target(const char *path, char **out) {
  char buf[PATH_MAX], dir[PATH_MAX];
  const char *slash, *base;
  size_t dirlen;
  *out = NULL;
  if (realpath(path, buf) == NULL) {
    if (errno != ENOENT)
      return kubo_error_set(KUBO_EIO, "h5: cannot write '%s': %s", path,
                            strerror(errno));
    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    dirlen = slash ? (size_t)(slash - path) : 0;
    if (base[0] == '\0')
      return kubo_error_set(KUBO_EINVAL, "h5: '%s' names a folder, not a "
                            "file", path);
    if (dirlen >= sizeof dir)
      return kubo_error_set(KUBO_EINVAL, "h5: the path '%s' is too long",
                            path);
    if (slash == NULL) {
      strcpy(dir, ".");
    } else if (dirlen == 0) {
      strcpy(dir, "/");
    } else {
      memcpy(dir, path, dirlen);
      dir[dirlen] = '\0';
    }
    if (realpath(dir, buf) == NULL)
      return kubo_error_set(KUBO_EIO, "h5: cannot write '%s': folder '%s': "
                            "%s", path, dir, strerror(errno));
    if (strlen(buf) + strlen(base) + 2 > sizeof buf)
      return kubo_error_set(KUBO_EINVAL, "h5: the path '%s' is too long",
                            path);
    if (strcmp(buf, "/") != 0) strcat(buf, "/");
    strcat(buf, base);
  }
  *out = copy_string(buf);
  if (*out == NULL) return kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
  return KUBO_OK;
}


/* Creates "<target>.tmp-<pid>-<n>" exclusively; returns its descriptor
** and name in *tmp, or -1 with an error. */
static int create_temp(const char *target, char **tmp) {
  static unsigned counter = 0;
  size_t size = strlen(target) + 48;
  char *name = malloc(size);
  if (name == NULL) {
    kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
    return -1;
  }
  for (int attempt = 0; attempt < 1000; attempt++) {
    snprintf(name, size, "%s.tmp-%ld-%u", target, (long)getpid(),
             counter++);
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      *tmp = name;
      return fd;
    }
    if (errno != EEXIST) {
      kubo_error_set(KUBO_EIO, "h5: cannot create the temporary file '%s': "
                     "%s", name, strerror(errno));
      free(name);
      return -1;
    }
  }
  kubo_error_set(KUBO_EIO, "h5: cannot find a free temporary file name "
                 "next to '%s'", target);
  free(name);
  return -1;
}


/* Copies the whole file at fd_in to fd_out (both at offset 0). */
static int copy_file(int fd_in, int fd_out, off_t size) {
  off_t done = 0;
  /* copy_file_range shares extents where the file system can (btrfs,
  ** XFS); read/write is the fallback for other file systems. */
  while (done < size) {
    ssize_t n = copy_file_range(fd_in, NULL, fd_out, NULL,
                                (size_t)(size - done), 0);
    if (n <= 0) break;
    done += n;
  }
  if (done == size) return 0;
  {
    char *buf = malloc(1 << 20);
    if (buf == NULL) return -1;
    if (lseek(fd_in, done, SEEK_SET) < 0 || lseek(fd_out, done, SEEK_SET) < 0
        || ftruncate(fd_out, done) < 0) {
      free(buf);
      return -1;
    }
    for (;;) {
      ssize_t n = read(fd_in, buf, 1 << 20), w = 0;
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        free(buf);
        return -1;
      }
      while (w < n) {
        ssize_t m = write(fd_out, buf + w, (size_t)(n - w));
        if (m < 0) {
          if (errno == EINTR) continue;
          free(buf);
          return -1;
        }
        w += m;
      }
    }
    free(buf);
  }
  return 0;
}


/* Fills the new temporary file fd with a copy of the target, keeping its
** permissions. */
static kubo_status copy_target(const char *target, const char *tmp, int fd,
                               const struct stat *st) {
  int in = open(target, O_RDONLY | O_CLOEXEC);
  kubo_status status = KUBO_OK;
  if (in < 0)
    return kubo_error_set(KUBO_EIO, "h5: cannot read '%s': %s", target,
                          strerror(errno));
  if (copy_file(in, fd, st->st_size) != 0)
    status = kubo_error_set(KUBO_EIO, "h5: cannot copy '%s' to '%s': %s",
                            target, tmp, strerror(errno));
  else if (fchmod(fd, st->st_mode & 07777) != 0)
    status = kubo_error_set(KUBO_EIO, "h5: cannot set the permissions of "
                            "'%s': %s", tmp, strerror(errno));
  close(in);
  return status;
}


static void sync_path(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}


/* Syncs the folder of path, so that the rename itself is durable. */
static void sync_folder(const char *path) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (slash == NULL || n >= sizeof dir) return;
  memcpy(dir, path, n ? n : 1);
  dir[n ? n : 1] = '\0';
  sync_path(dir, O_RDONLY | O_DIRECTORY);
}


/* ---------------------------------------------------------------------
** Opening, committing and discarding
** ------------------------------------------------------------------- */

static kubo_h5_writer *find_open(const char *target) {
  for (kubo_h5_writer *w = open_writers; w != NULL; w = w->next_open)
    if (strcmp(w->path, target) == 0) return w;
  return NULL;
}


static void unregister(kubo_h5_writer *w) {
  for (kubo_h5_writer **p = &open_writers; *p != NULL; p = &(*p)->next_open)
    if (*p == w) {
      *p = w->next_open;
      return;
    }
}


static void writer_free(kubo_h5_writer *w) {
  unregister(w);
  free(w->streams);
  free(w->tmp);
  free(w->path);
  free(w);
}


static void close_streams(kubo_h5_writer *w) {
  for (int i = 0; i < w->nstreams; i++)
    if (w->streams[i].dset >= 0) {
      H5Dclose(w->streams[i].dset);
      w->streams[i].dset = H5I_INVALID_HID;
    }
}


/* Opens the temporary file with HDF5: a copy of an existing HDF5 target,
** or a new file. */
static kubo_status open_temp(kubo_h5_writer *w, const char *path) {
  struct stat st;
  int exists = stat(w->path, &st) == 0 && st.st_size > 0;
  hid_t fapl;
  int fd;
  kubo_status status = KUBO_OK;
  if (exists) {
    if (S_ISDIR(st.st_mode))
      return kubo_error_set(KUBO_EIO, "h5: '%s' is a folder, not an HDF5 "
                            "file", path);
    if (H5Fis_hdf5(w->path) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return kubo_error_set(KUBO_EIO, "h5: '%s' exists and is not an HDF5 "
                            "file; kubo does not overwrite it (remove it "
                            "or choose another name)", path);
    }
  }
  fd = create_temp(w->path, &w->tmp);
  if (fd < 0) return KUBO_EIO;
  if (exists) status = copy_target(w->path, w->tmp, fd, &st);
  if (close(fd) != 0 && status == KUBO_OK)
    status = kubo_error_set(KUBO_EIO, "h5: cannot write '%s': %s", w->tmp,
                            strerror(errno));
  if (status != KUBO_OK) return status;

  fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return h5_fail(KUBO_EIO, "h5: cannot open '%s'", w->tmp);
  /* Strong closing: H5Fclose closes any object still open in the file. */
  H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
  if (exists)
    w->file = H5Fopen(w->tmp, H5F_ACC_RDWR, fapl);
  else
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  /* h5_fail goes before H5Pclose, which would clear HDF5's error stack */
  if (w->file < 0)
    status = h5_fail(KUBO_EIO, "h5: cannot open a copy of '%s' for "
                     "writing", path);
  H5Pclose(fapl);
  return status;
}


kubo_status kubo_h5_writer_open(kubo_h5_writer **out, const char *path) {
  kubo_h5_writer *w;
  kubo_status status;
  h5_quiet();
  *out = NULL;
  if (path == NULL || path[0] == '\0')
    return kubo_error_set(KUBO_EINVAL, "h5: the file name is empty");
  w = calloc(1, sizeof *w);
  if (w == NULL) return kubo_error_set(KUBO_ENOMEM, "h5: out of memory");

  w->file = H5I_INVALID_HID;
  status = resolve_target(path, &w->path);
  if (status != KUBO_OK) {
    free(w);
    return status;
  }
  if (find_open(w->path) != NULL) {
    status = kubo_error_set(KUBO_EIO, "h5: '%s' already has an open writer "
                            "in this process; close it first", path);
    writer_free(w);
    return status;
  }

  status = open_temp(w, path);
  if (status != KUBO_OK) {
    if (w->tmp != NULL) unlink(w->tmp);
    writer_free(w);
    return status;
  }
  w->next_open = open_writers;
  open_writers = w;
  *out = w;
  return KUBO_OK;
}


kubo_status kubo_h5_writer_close(kubo_h5_writer *w) {
  kubo_status status = KUBO_OK;
  if (w == NULL) return KUBO_OK;
  h5_quiet();
  close_streams(w);
  if (H5Fclose(w->file) < 0) {
    status = h5_fail(KUBO_EIO, "h5: cannot finish writing '%s'; the file "
                     "is unchanged", w->path);
  } else {
    sync_path(w->tmp, O_RDONLY);
    if (rename(w->tmp, w->path) != 0)
      status = kubo_error_set(KUBO_EIO, "h5: cannot rename '%s' to '%s': "
                              "%s; the file is unchanged", w->tmp, w->path,
                              strerror(errno));
    else
      sync_folder(w->path);
  }
  if (status != KUBO_OK) unlink(w->tmp);
  writer_free(w);
  return status;
}


void kubo_h5_writer_discard(kubo_h5_writer *w) {
  if (w == NULL) return;
  h5_quiet();
  close_streams(w);
  H5Fclose(w->file);
  H5Eclear2(H5E_DEFAULT);
  unlink(w->tmp);
  writer_free(w);
}


const char *kubo_h5_writer_path(const kubo_h5_writer *w) {
  return w->path;
}


kubo_status kubo_h5_writer_flush(kubo_h5_writer *w) {
  h5_quiet();
  if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0)
    return h5_fail(KUBO_EIO, "h5: cannot flush '%s'", w->tmp);
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Appendable datasets
** ------------------------------------------------------------------- */

/* Writes "(a, b, c)" for a shape. */
static const char *shape_text(int ndim, const int64_t *shape, char *buf,
                              size_t size) {
  size_t at = 0;
  at += (size_t)snprintf(buf, size, "(");
  for (int d = 0; d < ndim && at < size; d++)
    at += (size_t)snprintf(buf + at, size - at, d ? ", %lld" : "%lld",
                           (long long)shape[d]);
  if (at < size) snprintf(buf + at, size - at, ")");
  return buf;
}


static kubo_status check_frame_shape(int ndim, const int64_t *shape,
                                     const char *name) {
  if (ndim < 0 || ndim > KUBO_MAX_DIM - 1)
    return kubo_error_set(KUBO_EINVAL, "h5: frames of '%s' have %d "
                          "dimensions (at most %d, one less than a "
                          "tensor)", name, ndim, (int)KUBO_MAX_DIM - 1);
  for (int d = 0; d < ndim; d++)
    if (shape[d] < 1)
      return kubo_error_set(KUBO_EINVAL, "h5: frame size %d of '%s' is "
                            "%lld (expected at least 1)", d + 1, name,
                            (long long)shape[d]);
  return KUBO_OK;
}


static kubo_status stream_create(kubo_h5_writer *w, stream *s) {
  hsize_t dims[KUBO_MAX_DIM], maxdims[KUBO_MAX_DIM], chunk[KUBO_MAX_DIM];
  int rank = s->frame_ndim + 1;
  int64_t frame_bytes = (int64_t)kubo_dtype_size((kubo_dtype)s->dtype);
  hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
  hid_t lcpl = H5I_INVALID_HID;
  kubo_status status = KUBO_OK;
  dims[0] = 0;
  maxdims[0] = H5S_UNLIMITED;
  chunk[0] = (hsize_t)s->chunk_frames;
  for (int d = 0; d < s->frame_ndim; d++) {
    dims[d + 1] = maxdims[d + 1] = chunk[d + 1] =
        (hsize_t)s->frame_shape[d];
    frame_bytes *= s->frame_shape[d];
  }
  if (frame_bytes > CHUNK_MAX_BYTES / s->chunk_frames)
    return kubo_error_set(KUBO_EINVAL, "h5: a chunk of %lld frames of '%s' "
                          "would exceed HDF5's 4 GiB chunk limit",
                          (long long)s->chunk_frames, s->name);

  space = H5Screate_simple(rank, dims, maxdims);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  lcpl = H5Pcreate(H5P_LINK_CREATE);
  if (space < 0 || dcpl < 0 || lcpl < 0 ||
      H5Pset_chunk(dcpl, rank, chunk) < 0 ||
      H5Pset_create_intermediate_group(lcpl, 1) < 0) {
    status = h5_fail(KUBO_EIO, "h5: cannot set up dataset '%s'", s->name);
    goto done;
  }
  status = h5_set_deflate(dcpl, s->compress);
  if (status != KUBO_OK) goto done;

  s->dset = H5Dcreate2(w->file, s->name,
                       s->dtype == KUBO_FLOAT64 ? H5T_IEEE_F64LE
                                                : H5T_IEEE_F32LE,
                       space, lcpl, dcpl, H5P_DEFAULT);
  if (s->dset < 0)
    status = h5_fail(KUBO_EIO, "h5: cannot create dataset '%s' in '%s'",
                     s->name, w->path);
  s->frames = 0;

done:
  if (lcpl >= 0) H5Pclose(lcpl);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  return status;
}


/* Opens an existing dataset for appending and checks that it matches
** what the caller gave (dtype and frame shape, where known). */
static kubo_status stream_attach(kubo_h5_writer *w, stream *s) {
  hsize_t dims[KUBO_H5_MAX_RANK], maxdims[KUBO_H5_MAX_RANK];
  hid_t obj, space, type;
  int rank, dtype = -1;
  int64_t frame[KUBO_MAX_DIM];
  char want[256], have[256];
  kubo_status status = KUBO_OK;
  obj = H5Oopen(w->file, s->name, H5P_DEFAULT);
  if (obj < 0)
    return h5_fail(KUBO_EIO, "h5: cannot open '%s' in '%s'", s->name,
                   w->path);
  if (H5Iget_type(obj) != H5I_DATASET) {
    H5Oclose(obj);
    return kubo_error_set(KUBO_EIO, "h5: '%s' in '%s' is a group, not a "
                          "dataset", s->name, w->path);
  }
  space = H5Dget_space(obj);
  type = H5Dget_type(obj);
  rank = H5Sget_simple_extent_ndims(space);
  if (rank >= 1 && rank <= KUBO_MAX_DIM)
    H5Sget_simple_extent_dims(space, dims, maxdims);
  if (H5Tget_class(type) == H5T_FLOAT)
    dtype = H5Tget_size(type) == 4 ? KUBO_FLOAT32 : KUBO_FLOAT64;
  H5Tclose(type);
  H5Sclose(space);

  if (rank < 1 || rank > KUBO_MAX_DIM || maxdims[0] != H5S_UNLIMITED) {
    status = kubo_error_set(KUBO_EIO, "h5: dataset '%s' in '%s' is not "
                            "appendable (its first dimension is not "
                            "unlimited); write it with another name",
                            s->name, w->path);
  } else if (dtype < 0) {
    status = kubo_error_set(KUBO_EIO, "h5: dataset '%s' in '%s' is not "
                            "float64 or float32; kubo appends only to "
                            "those", s->name, w->path);
  } else if (s->dtype >= 0 && s->dtype != dtype) {
    status = kubo_error_set(KUBO_EIO, "h5: dataset '%s' in '%s' has dtype "
                            "%s, not %s", s->name, w->path,
                            kubo_dtype_name((kubo_dtype)dtype),
                            kubo_dtype_name((kubo_dtype)s->dtype));
  }
  for (int d = 1; status == KUBO_OK && d < rank; d++)
    frame[d - 1] = (int64_t)dims[d];
  if (status == KUBO_OK && s->frame_ndim >= 0 &&
      (s->frame_ndim != rank - 1 ||
       memcmp(frame, s->frame_shape, (size_t)(rank - 1) * sizeof *frame)))
    status = kubo_error_set(KUBO_EIO, "h5: dataset '%s' in '%s' has frames "
                            "of shape %s, not %s", s->name, w->path,
                            shape_text(rank - 1, frame, have, sizeof have),
                            shape_text(s->frame_ndim, s->frame_shape, want,
                                       sizeof want));
  if (status != KUBO_OK) {
    H5Oclose(obj);
    return status;
  }
  s->dset = obj;
  s->dtype = dtype;
  s->frame_ndim = rank - 1;
  memcpy(s->frame_shape, frame, (size_t)(rank - 1) * sizeof *frame);
  s->frames = (int64_t)dims[0];
  return KUBO_OK;
}


kubo_status kubo_h5_writer_dataset(kubo_h5_writer *w, const char *name,
                                   int dtype, int frame_ndim,
                                   const int64_t *frame_shape, int compress,
                                   int64_t chunk_frames, int *id) {
  stream s, *grown;
  kubo_status status;
  h5_quiet();
  memset(&s, 0, sizeof s);
  s.dset = H5I_INVALID_HID;
  status = h5_normalize_name(name, s.name, 0);
  if (status != KUBO_OK) return status;
  if (dtype < -1 || dtype > KUBO_FLOAT32)
    return kubo_error_set(KUBO_EINVAL, "h5: invalid dtype %d for '%s'",
                          dtype, s.name);
  if (frame_ndim >= 0) {
    status = check_frame_shape(frame_ndim, frame_shape, s.name);
    if (status != KUBO_OK) return status;
    memcpy(s.frame_shape, frame_shape, (size_t)frame_ndim * sizeof(int64_t));
  }
  status = h5_check_compress(compress);
  if (status != KUBO_OK) return status;
  for (int i = 0; i < w->nstreams; i++)
    if (strcmp(w->streams[i].name, s.name) == 0)
      return kubo_error_set(KUBO_EINVAL, "h5: '%s' is already open in this "
                            "writer", s.name);
  s.dtype = dtype;
  s.frame_ndim = frame_ndim < 0 ? -1 : frame_ndim;
  s.compress = compress;
  s.chunk_frames = chunk_frames < 1 ? 1 : chunk_frames;

  if (h5_exists(w->file, s.name))
    status = stream_attach(w, &s);
  else if (s.dtype >= 0 && s.frame_ndim >= 0)
    status = stream_create(w, &s);
  if (status != KUBO_OK) return status;

  grown = realloc(w->streams, (size_t)(w->nstreams + 1) * sizeof *grown);
  if (grown == NULL) {
    if (s.dset >= 0) H5Dclose(s.dset);
    return kubo_error_set(KUBO_ENOMEM, "h5: out of memory");
  }
  w->streams = grown;
  w->streams[w->nstreams] = s;
  *id = w->nstreams++;
  return KUBO_OK;
}


int64_t kubo_h5_writer_frames(const kubo_h5_writer *w, int id) {
  if (w == NULL || id < 0 || id >= w->nstreams) return -1;
  return w->streams[id].frames;
}


/* Returns the number of frames in t (1 for one frame), or -1 if t's shape
** is neither the frame shape nor (k, frame shape). */
static int64_t count_frames(const stream *s, const kubo_tensor *t) {
  int n = s->frame_ndim;
  if (t->ndim == n) {
    for (int d = 0; d < n; d++)
      if (t->shape[d] != s->frame_shape[d]) return -1;
    return 1;
  }
  if (t->ndim == n + 1) {
    for (int d = 0; d < n; d++)
      if (t->shape[d + 1] != s->frame_shape[d]) return -1;
    return t->shape[0];
  }
  return -1;
}


static kubo_status write_frames(stream *s, const kubo_tensor *c,
                                int64_t k) {
  hsize_t start[KUBO_MAX_DIM], count[KUBO_MAX_DIM], size[KUBO_MAX_DIM];
  int rank = s->frame_ndim + 1;
  hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
  kubo_status status = KUBO_OK;
  start[0] = (hsize_t)s->frames;
  count[0] = (hsize_t)k;
  size[0] = (hsize_t)(s->frames + k);
  for (int d = 1; d < rank; d++) {
    start[d] = 0;
    count[d] = size[d] = (hsize_t)s->frame_shape[d - 1];
  }
  if (H5Dset_extent(s->dset, size) < 0)
    return h5_fail(KUBO_EIO, "h5: cannot extend '%s'", s->name);
  fspace = H5Dget_space(s->dset);
  mspace = H5Screate_simple(rank, count, NULL);
  if (fspace < 0 || mspace < 0 ||
      H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL)
      < 0 ||
      H5Dwrite(s->dset, c->dtype == KUBO_FLOAT64 ? H5T_NATIVE_DOUBLE
                                                 : H5T_NATIVE_FLOAT,
               mspace, fspace, H5P_DEFAULT, c->data) < 0) {
    status = h5_fail(KUBO_EIO, "h5: cannot append to '%s'", s->name);
    /* Shrink back so the dataset contains only complete frames. */
    size[0] = (hsize_t)s->frames;
    H5Dset_extent(s->dset, size);
    H5Eclear2(H5E_DEFAULT);
  } else {
    s->frames += k;
  }
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  return status;
}


kubo_status kubo_h5_writer_append(kubo_h5_writer *w, int id,
                                  const kubo_tensor *t) {
  stream *s;
  kubo_tensor c;
  int64_t k;
  kubo_status status;
  char want[256], have[256];
  h5_quiet();
  if (w == NULL || id < 0 || id >= w->nstreams)
    return kubo_error_set(KUBO_EINVAL, "h5: invalid dataset number %d for "
                          "this writer", id);
  s = &w->streams[id];
  if (t == NULL || t->storage == NULL)
    return kubo_error_set(KUBO_EINVAL, "h5: the tensor appended to '%s' is "
                          "empty or freed", s->name);
  if (s->dset < 0) {
    /* First append to a new dataset: t is one frame. */
    if (s->frame_ndim < 0) {
      status = check_frame_shape(t->ndim, t->shape, s->name);
      if (status != KUBO_OK) return status;
      s->frame_ndim = t->ndim;
      memcpy(s->frame_shape, t->shape, (size_t)t->ndim * sizeof(int64_t));
    }
    if (s->dtype < 0) s->dtype = t->dtype;
    status = stream_create(w, s);
    if (status != KUBO_OK) return status;
  }
  k = count_frames(s, t);
  if (k < 0)
    return kubo_error_set(KUBO_EINVAL, "h5: cannot append a tensor of "
                          "shape %s to '%s', whose frames have shape %s "
                          "(expected that shape, or one more leading "
                          "dimension for several frames)",
                          kubo_tensor_shape_string(t, have, sizeof have),
                          s->name,
                          shape_text(s->frame_ndim, s->frame_shape, want,
                                     sizeof want));
  if (k == 0) return KUBO_OK;
  memset(&c, 0, sizeof c);
  status = kubo_tensor_contiguous(&c, t);
  if (status != KUBO_OK) return status;
  status = write_frames(s, &c, k);
  kubo_tensor_release(&c);
  return status;
}


/* ---------------------------------------------------------------------
** Whole datasets and attributes inside a writer
** ------------------------------------------------------------------- */

static stream *find_stream(kubo_h5_writer *w, const char *name) {
  for (int i = 0; i < w->nstreams; i++)
    if (strcmp(w->streams[i].name, name) == 0) return &w->streams[i];
  return NULL;
}


kubo_status kubo_h5_writer_write(kubo_h5_writer *w, const char *name,
                                 const kubo_tensor *t,
                                 const kubo_h5_attrs *attrs, int compress) {
  char abs[H5_NAME_MAX];
  kubo_status status;
  h5_quiet();
  status = h5_normalize_name(name, abs, 0);
  if (status != KUBO_OK) return status;
  if (find_stream(w, abs) != NULL)
    return kubo_error_set(KUBO_EINVAL, "h5: '%s' is an appendable dataset "
                          "of this writer; append to it instead", abs);
  return h5_dataset_write(w->file, abs, t, attrs, compress);
}


kubo_status kubo_h5_writer_write_attrs(kubo_h5_writer *w, const char *name,
                                       const kubo_h5_attrs *attrs) {
  char abs[H5_NAME_MAX];
  stream *s;
  hid_t obj;
  kubo_status status;
  h5_quiet();
  status = h5_normalize_name(name, abs, 1);
  if (status != KUBO_OK) return status;
  s = find_stream(w, abs);
  if (s != NULL && s->dset >= 0) return h5_attrs_write(s->dset, attrs, abs);
  if (!h5_exists(w->file, abs))
    return kubo_error_set(KUBO_EIO, "h5: no object '%s' in '%s'%s", abs,
                          w->path, s != NULL ? " (its first frame creates "
                          "it; append first)" : "");
  obj = H5Oopen(w->file, abs, H5P_DEFAULT);
  if (obj < 0)
    return h5_fail(KUBO_EIO, "h5: cannot open '%s' in '%s'", abs, w->path);
  status = h5_attrs_write(obj, attrs, abs);
  H5Oclose(obj);
  return status;
}


/* ---------------------------------------------------------------------
** One-call writes: a transaction each
** ------------------------------------------------------------------- */

/* Commits w if status is KUBO_OK, else discards it; returns the result. */
static kubo_status finish(kubo_h5_writer *w, kubo_status status) {
  if (status == KUBO_OK) return kubo_h5_writer_close(w);
  kubo_h5_writer_discard(w);
  return status;
}


kubo_status kubo_h5_write(const char *path, const char *name,
                          const kubo_tensor *t, const kubo_h5_attrs *attrs,
                          int compress) {
  char abs[H5_NAME_MAX];
  kubo_h5_writer *w;
  kubo_status status;
  h5_quiet();
  /* Argument errors are found before any file is touched. */
  status = h5_normalize_name(name, abs, 0);
  if (status != KUBO_OK) return status;
  if (t == NULL || t->storage == NULL)
    return kubo_error_set(KUBO_EINVAL, "h5: the tensor for '%s' is empty "
                          "or freed", abs);
  status = h5_check_compress(compress);
  if (status != KUBO_OK) return status;
  status = kubo_h5_writer_open(&w, path);
  if (status != KUBO_OK) return status;
  return finish(w, h5_dataset_write(w->file, abs, t, attrs, compress));
}


kubo_status kubo_h5_write_attrs(const char *path, const char *name,
                                const kubo_h5_attrs *attrs) {
  char abs[H5_NAME_MAX];
  kubo_h5_writer *w;
  kubo_status status;
  h5_quiet();
  status = h5_normalize_name(name, abs, 1);
  if (status != KUBO_OK) return status;
  status = kubo_h5_writer_open(&w, path);
  if (status != KUBO_OK) return status;
  return finish(w, kubo_h5_writer_write_attrs(w, abs, attrs));
}


kubo_status kubo_h5_append(const char *path, const char *name,
                           const kubo_tensor *t, int compress) {
  char abs[H5_NAME_MAX];
  kubo_h5_writer *w;
  kubo_status status;
  int id;
  h5_quiet();
  status = h5_normalize_name(name, abs, 0);
  if (status != KUBO_OK) return status;
  if (t == NULL || t->storage == NULL)
    return kubo_error_set(KUBO_EINVAL, "h5: the tensor appended to '%s' is "
                          "empty or freed", abs);
  status = h5_check_compress(compress);
  if (status != KUBO_OK) return status;
  status = kubo_h5_writer_open(&w, path);
  if (status != KUBO_OK) return status;
  status = kubo_h5_writer_dataset(w, abs, -1, -1, NULL, compress, 1, &id);
  if (status == KUBO_OK) status = kubo_h5_writer_append(w, id, t);
  return finish(w, status);
}
