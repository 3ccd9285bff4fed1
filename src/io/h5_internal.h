/*
** h5_internal.h: helpers shared by the HDF5 files of src/io (internal to
** the engine).
*/
#ifndef KUBO_H5_INTERNAL_H
#define KUBO_H5_INTERNAL_H

#include <hdf5.h>

#include "kubo/h5.h"

/* Maximum length of an object name, in bytes, with its terminator. */
enum { H5_NAME_MAX = 1024 };

/* Turns off HDF5's automatic error printing for this thread. Every
** public function calls it first. */
void h5_quiet(void);

/* Formats "fmt...: HDF5: <innermost entry of HDF5's error stack>" as the
** error message (without the HDF5 part if the stack is empty), clears
** the stack and returns status. */
kubo_status h5_fail(kubo_status status, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

/* Copies name into buf as an absolute path ("x" -> "/x"). Fails with
** KUBO_EINVAL for NULL, empty or overlong names, names with an empty
** component ("a//b", "a/"), and for "/" unless allow_root. */
kubo_status h5_normalize_name(const char *name, char *buf, int allow_root);

/* Opens the file at path read-only (closing it closes every object in
** it). Fails with KUBO_EIO naming the path if it is missing, not an
** HDF5 file or damaged. */
kubo_status h5_open_read(const char *path, hid_t *file);

/* Returns 1 if a link called name (absolute) exists, following every
** component, 0 if not. */
int h5_exists(hid_t file, const char *name);

/* Reads the attributes of obj into *out (empty). owner names obj in
** messages. */
kubo_status h5_attrs_read(hid_t obj, kubo_h5_attrs *out,
                           const char *owner);

/* Writes attrs to obj, replacing attributes of the same names. */
kubo_status h5_attrs_write(hid_t obj, const kubo_h5_attrs *attrs,
                           const char *owner);

/* Writes t as dataset name (absolute) of the open file, as kubo_h5_write
** describes. */
kubo_status h5_dataset_write(hid_t file, const char *name,
                             const kubo_tensor *t,
                             const kubo_h5_attrs *attrs, int compress);

/* Checks a deflate level (0..9); fails with KUBO_EINVAL. */
kubo_status h5_check_compress(int compress);

/* Adds shuffle and deflate at level compress (> 0) to a dataset creation
** property list. */
kubo_status h5_set_deflate(hid_t dcpl, int compress);

#endif
