/*
** h5.h: tensors and attributes in HDF5 files (serial HDF5, C API).
**
** Layout: a tensor of shape (n1, ..., nk) is a dataset with dataspace
** (n1, ..., nk) in row-major order, as h5py and NumPy show it. A 0-d
** tensor is a scalar dataset. float64 and float32 tensors are stored as
** IEEE little-endian doubles and floats. Appendable datasets have an
** unlimited first dimension (frames) and chunks of chunk_frames frames
** along it (1 unless a caller asks for more). Compression is optional
** (shuffle, then deflate).
**
** Names are paths inside the file: "/group/name" or "group/name"; "/" is
** the root group, whose attributes are the file's attributes. Writers
** create missing groups.
**
** Safety: no function here modifies an existing file in place. A change
** is made in a temporary file next to the target ("<file>.tmp-<pid>-<n>",
** a copy of the file when it exists), which is renamed over the target
** only after HDF5 closed it without error; on failure the temporary file
** is removed and the target is left as it was. A file that exists but is
** not an HDF5 file is never replaced. While a kubo_h5_writer is open on
** a file, other changes to that file from this process are rejected.
**
** Errors: KUBO_EIO for a missing, unreadable, truncated or non-HDF5
** file, a missing object, an object of the wrong kind or an unsupported
** HDF5 type, and for failed writes; KUBO_EINVAL for invalid arguments
** (NULL or empty names, bad shapes, bad compression levels); KUBO_ENOMEM
** if an allocation fails. Messages name the file and object and carry
** HDF5's own explanation; HDF5's automatic error printing is turned off.
**
** NOTE: these functions are not thread-safe (serial HDF5 is not); call
** them from one thread.
*/
#ifndef KUBO_H5_H
#define KUBO_H5_H

#include <stdint.h>

#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest rank HDF5 supports (H5S_MAX_RANK). */
enum { KUBO_H5_MAX_RANK = 32 };


/* ---------------------------------------------------------------------
** Attributes
**
** A kubo_h5_attrs is a list of named values: float64 or int64 numbers,
** or UTF-8 strings, each a scalar (ndim 0) or an array of up to
** KUBO_MAX_DIM dimensions. It owns copies of every name and value; zero
** it (or call kubo_h5_attrs_init) before first use and release it with
** kubo_h5_attrs_free. Adding a name that is already present replaces
** the old value.
** ------------------------------------------------------------------- */

typedef enum kubo_h5_kind {
  KUBO_H5_FLOAT = 0,   /* values in floats */
  KUBO_H5_INT,         /* values in ints */
  KUBO_H5_STRING       /* values in strings */
} kubo_h5_kind;

typedef struct kubo_h5_attr {
  char *name;
  kubo_h5_kind kind;
  int ndim;                        /* 0 for a scalar */
  int64_t shape[KUBO_MAX_DIM];
  int64_t count;                   /* number of values, 1 for a scalar */
  double *floats;
  int64_t *ints;
  char **strings;                  /* count NUL-terminated strings */
} kubo_h5_attr;

typedef struct kubo_h5_attrs {
  kubo_h5_attr *items;
  int count;
  int capacity;
} kubo_h5_attrs;

void kubo_h5_attrs_init(kubo_h5_attrs *attrs);

/* Frees every name and value and leaves attrs empty. Safe to repeat. */
void kubo_h5_attrs_free(kubo_h5_attrs *attrs);

/* Adds a scalar. Fail with KUBO_EINVAL for a NULL or empty name (or a
** NULL string) and with KUBO_ENOMEM; attrs is then unchanged. */
kubo_status kubo_h5_attrs_add_float(kubo_h5_attrs *attrs, const char *name,
                                    double value);
kubo_status kubo_h5_attrs_add_int(kubo_h5_attrs *attrs, const char *name,
                                  int64_t value);
kubo_status kubo_h5_attrs_add_string(kubo_h5_attrs *attrs, const char *name,
                                     const char *value);

/* Adds an array of the given shape (ndim 1..KUBO_MAX_DIM, row-major
** values, product of shape values). The same failures as above, and
** KUBO_EINVAL for a bad shape. */
kubo_status kubo_h5_attrs_add_floats(kubo_h5_attrs *attrs, const char *name,
                                     int ndim, const int64_t *shape,
                                     const double *values);
kubo_status kubo_h5_attrs_add_ints(kubo_h5_attrs *attrs, const char *name,
                                   int ndim, const int64_t *shape,
                                   const int64_t *values);
kubo_status kubo_h5_attrs_add_strings(kubo_h5_attrs *attrs,
                                      const char *name, int64_t count,
                                      const char *const *values);

/* Returns the attribute called name, or NULL. */
const kubo_h5_attr *kubo_h5_attrs_find(const kubo_h5_attrs *attrs,
                                       const char *name);


/* ---------------------------------------------------------------------
** Whole datasets
** ------------------------------------------------------------------- */

/* Writes tensor t (float64 or float32, any view) as dataset name of the
** file at path, creating the file and missing groups, replacing a
** dataset of the same name, and attaching attrs (NULL for none).
** compress is a deflate level from 0 (no compression) to 9; compressed
** datasets are chunked. Fails with KUBO_EIO if name is a group or the
** file cannot be written (the file is then unchanged). */
kubo_status kubo_h5_write(const char *path, const char *name,
                          const kubo_tensor *t, const kubo_h5_attrs *attrs,
                          int compress);

/* Reads dataset name into a new contiguous tensor *out (which must be
** empty) and, if attrs is not NULL, its attributes into *attrs (which
** must be empty). A float32 dataset gives a float32 tensor; any other
** integer or floating-point type gives float64 (64-bit integers beyond
** 2^53 lose precision). Enums of integers (h5py's booleans) read as
** their integer values. Attributes of types that kubo_h5_attrs cannot
** hold (references, compounds, empty dataspaces) are skipped. On
** failure *out and *attrs are left empty. */
kubo_status kubo_h5_read(const char *path, const char *name,
                         kubo_tensor *out, kubo_h5_attrs *attrs);

/* Like kubo_h5_read for frames first .. first + count - 1 along the first
** dimension (count < 0: to the end). Fails with KUBO_EINVAL for a range
** outside the dataset and with KUBO_EIO for a scalar dataset. */
kubo_status kubo_h5_read_frames(const char *path, const char *name,
                                int64_t first, int64_t count,
                                kubo_tensor *out, kubo_h5_attrs *attrs);

/* Reads the attributes of the object name ("/" for the file's own) into
** *out, which must be empty. */
kubo_status kubo_h5_read_attrs(const char *path, const char *name,
                               kubo_h5_attrs *out);

/* Adds attrs to the object name (a dataset or group; "/" for the file),
** replacing attributes of the same names. The object must exist, except
** "/" of a missing file, which creates the file. */
kubo_status kubo_h5_write_attrs(const char *path, const char *name,
                                const kubo_h5_attrs *attrs);


/* ---------------------------------------------------------------------
** Listing
** ------------------------------------------------------------------- */

typedef struct kubo_h5_entry {
  char *name;                       /* full path, e.g. "/group/x" */
  int is_group;                     /* 1: group, 0: dataset */
  char dtype[16];                   /* datasets: "float64", "float32",
                                    ** "int32", "uint8", "string",
                                    ** "enum", "compound", "other" */
  int ndim;                         /* datasets: rank, 0 for scalar */
  int64_t shape[KUBO_H5_MAX_RANK];
  int appendable;                   /* first dimension is unlimited */
} kubo_h5_entry;

typedef struct kubo_h5_list {
  kubo_h5_entry *items;
  int count;
  int capacity;
} kubo_h5_list;

/* Lists every group and dataset of the file reached by hard links,
** sorted by name, into *out (which must be empty: zeroed). Release it
** with kubo_h5_list_free. The root group itself is not listed. */
kubo_status kubo_h5_list_file(const char *path, kubo_h5_list *out);

void kubo_h5_list_free(kubo_h5_list *list);


/* ---------------------------------------------------------------------
** Appendable datasets
** ------------------------------------------------------------------- */

/* Appends t to dataset name of the file at path. If the dataset exists
** (with an unlimited first dimension and frames of shape f), t is one
** frame of shape f or a stack of frames of shape (k, f), and its values
** are converted to the dataset's dtype. Otherwise the dataset is created
** with t's dtype and t as its first frame. It is chunked one frame per
** chunk and compressed at deflate level compress (0..9).
** NOTE: each call copies the file (see Safety above), so a loop of many
** appends to a large file is slow; stream with kubo_h5_writer. */
kubo_status kubo_h5_append(const char *path, const char *name,
                           const kubo_tensor *t, int compress);


/* ---------------------------------------------------------------------
** Writers: one transaction on one file
**
** A writer opens a temporary copy of the file (or a new file), takes any
** number of appends, whole-dataset writes and attribute changes, and
** renames the copy over the file when it is closed. After an interrupt,
** closing the writer keeps every frame appended so far. If the process
** dies before close, the original file is unchanged and the temporary
** file stays behind. It was a complete HDF5 file at the last
** kubo_h5_writer_flush, so the frames up to that flush can usually be
** read from it. HDF5 may have written parts of later changes into it, so
** this recovery is not guaranteed.
** ------------------------------------------------------------------- */

typedef struct kubo_h5_writer kubo_h5_writer;

/* Opens a writer on the file at path into *out. Fails with KUBO_EIO if
** the folder does not exist or is not writable, the file exists but is
** not HDF5, or another writer is open on the same file. */
kubo_status kubo_h5_writer_open(kubo_h5_writer **out, const char *path);

/* Opens the appendable dataset name in the writer and returns its number
** in *id. dtype is a kubo_dtype, or -1 to take the dtype of the existing
** dataset or of the first frame appended. frame_ndim and frame_shape are
** the shape of one frame; frame_ndim -1 takes the existing dataset's, or
** the first appended tensor's. An existing dataset must be appendable
** and match the given dtype and frame shape. A new one is created at
** once if its frame shape and dtype are known, else at the first append.
** It gets chunks of chunk_frames frames (values below 1 mean 1) and
** deflate level compress (0..9). */
kubo_status kubo_h5_writer_dataset(kubo_h5_writer *w, const char *name,
                                   int dtype, int frame_ndim,
                                   const int64_t *frame_shape, int compress,
                                   int64_t chunk_frames, int *id);

/* Appends one frame (t's shape is the frame shape) or a stack of frames
** (shape (k, frame shape)) to dataset id. Fails with KUBO_EINVAL for any
** other shape; the dataset is then unchanged. */
kubo_status kubo_h5_writer_append(kubo_h5_writer *w, int id,
                                  const kubo_tensor *t);

/* Returns the number of frames in dataset id (-1 for a bad id). */
int64_t kubo_h5_writer_frames(const kubo_h5_writer *w, int id);

/* kubo_h5_write and kubo_h5_write_attrs inside the writer's transaction;
** name must not be one of the writer's appendable datasets. */
kubo_status kubo_h5_writer_write(kubo_h5_writer *w, const char *name,
                                 const kubo_tensor *t,
                                 const kubo_h5_attrs *attrs, int compress);
kubo_status kubo_h5_writer_write_attrs(kubo_h5_writer *w, const char *name,
                                       const kubo_h5_attrs *attrs);

/* Writes HDF5's buffers to the temporary file, which is then a complete
** HDF5 file that contains every frame appended so far. */
kubo_status kubo_h5_writer_flush(kubo_h5_writer *w);

/* Closes the temporary file and renames it over the target, then frees
** w (also on failure, when the temporary file is removed and the target
** left as it was). NULL is ignored. */
kubo_status kubo_h5_writer_close(kubo_h5_writer *w);

/* Frees w and removes its temporary file, leaving the target as it was
** before kubo_h5_writer_open. NULL is ignored. */
void kubo_h5_writer_discard(kubo_h5_writer *w);

/* Returns the path of the file the writer will replace. */
const char *kubo_h5_writer_path(const kubo_h5_writer *w);

#ifdef __cplusplus
}
#endif

#endif
