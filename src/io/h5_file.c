/*
** h5_file.c: HDF5 error messages, object names and read-only opening.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "h5_internal.h"


void h5_quiet(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}


/* The innermost entry of HDF5's error stack: its description and the
** text of its minor error number. */
typedef struct stack_entry {
  char desc[320];
  char minor[96];
  int found;
} stack_entry;


static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *data) {
  stack_entry *entry = data;
  (void)n;
  snprintf(entry->desc, sizeof entry->desc, "%s", e->desc ? e->desc : "");
  entry->minor[0] = '\0';
  H5Eget_msg(e->min_num, NULL, entry->minor, sizeof entry->minor);
  entry->found = 1;
  return 0;
}


/* Replaces newlines (HDF5 puts one inside time stamps) with spaces. */
static void flatten(char *s) {
  for (; *s; s++)
    if (*s == '\n' || *s == '\r') *s = ' ';
}


kubo_status h5_fail(kubo_status status, const char *fmt, ...) {
  char context[512];
  stack_entry entry = {{0}, {0}, 0};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(context, sizeof context, fmt, ap);
  va_end(ap);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_innermost, &entry);
  H5Eclear2(H5E_DEFAULT);
  if (!entry.found) return kubo_error_set(status, "%s", context);
  flatten(entry.desc);
  if (entry.minor[0] != '\0' && strcmp(entry.minor, entry.desc) != 0)
    return kubo_error_set(status, "%s: HDF5: %s (%s)", context, entry.desc,
                          entry.minor);
  return kubo_error_set(status, "%s: HDF5: %s", context, entry.desc);
}


kubo_status h5_normalize_name(const char *name, char *buf, int allow_root) {
  size_t n, at = 0;
  if (name == NULL || name[0] == '\0')
    return kubo_error_set(KUBO_EINVAL, "h5: the object name is empty "
                          "(expected a path such as \"/group/name\")");
  n = strlen(name);
  if (n + 1 >= H5_NAME_MAX)
    return kubo_error_set(KUBO_EINVAL, "h5: the object name is %zu bytes "
                          "long (at most %d)", n, H5_NAME_MAX - 2);
  if (name[0] != '/') buf[at++] = '/';
  memcpy(buf + at, name, n + 1);
  if (strcmp(buf, "/") == 0) {
    if (allow_root) return KUBO_OK;
    return kubo_error_set(KUBO_EINVAL, "h5: \"/\" is the root group, not a "
                          "dataset name");
  }
  if (strstr(buf, "//") != NULL || buf[strlen(buf) - 1] == '/')
    return kubo_error_set(KUBO_EINVAL, "h5: invalid object name '%s' (a "
                          "path component is empty)", name);
  return KUBO_OK;
}


kubo_status h5_open_read(const char *path, hid_t *file) {
  struct stat st;
  hid_t fapl;
  htri_t is_hdf5;
  *file = H5I_INVALID_HID;
  if (path == NULL || path[0] == '\0')
    return kubo_error_set(KUBO_EINVAL, "h5: the file name is empty");

  if (stat(path, &st) != 0)
    return kubo_error_set(KUBO_EIO, "h5: cannot open '%s': %s", path,
                          strerror(errno));
  if (S_ISDIR(st.st_mode))
    return kubo_error_set(KUBO_EIO, "h5: '%s' is a folder, not an HDF5 "
                          "file", path);
  is_hdf5 = H5Fis_hdf5(path);
  if (is_hdf5 == 0)
    return kubo_error_set(KUBO_EIO, "h5: '%s' is not an HDF5 file (no "
                          "HDF5 signature found)", path);
  if (is_hdf5 < 0) return h5_fail(KUBO_EIO, "h5: cannot open '%s'", path);

  fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return h5_fail(KUBO_EIO, "h5: cannot open '%s'", path);
  /* Strong closing: H5Fclose closes any object still open in the file. */
  H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
  *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (*file < 0) {
    /* before H5Pclose, which would clear HDF5's error stack */
    kubo_status status = h5_fail(KUBO_EIO, "h5: cannot open '%s'", path);
    H5Pclose(fapl);
    return status;
  }
  H5Pclose(fapl);
  return KUBO_OK;
}


int h5_exists(hid_t file, const char *name) {
  char buf[H5_NAME_MAX];
  size_t n = strlen(name);
  if (strcmp(name, "/") == 0) return 1;
  if (n >= sizeof buf) return 0;
  memcpy(buf, name, n + 1);
  /* Check each prefix, so that a missing group or a dataset in the middle
  ** of the path reads as "not found" instead of an HDF5 error. */
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char end = *p;
    *p = '\0';
    if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return 0;
    }
    if (end == '\0') return 1;
    hid_t obj = H5Oopen(file, buf, H5P_DEFAULT);
    int is_group = obj >= 0 && H5Iget_type(obj) == H5I_GROUP;
    if (obj >= 0) H5Oclose(obj);
    H5Eclear2(H5E_DEFAULT);
    if (!is_group) return 0;
    *p = end;
  }
}


kubo_status h5_check_compress(int compress) {
  if (compress < 0 || compress > 9)
    return kubo_error_set(KUBO_EINVAL, "h5: compression level must be "
                          "from 0 (none) to 9 (got %d)", compress);
  return KUBO_OK;
}


kubo_status h5_set_deflate(hid_t dcpl, int compress) {
  if (compress <= 0) return KUBO_OK;
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
    return kubo_error_set(KUBO_EIO, "h5: this HDF5 library has no deflate "
                          "filter; write without compression");
  /* Shuffling groups the bytes of equal significance (exponents together),
  ** which deflate compresses better than interleaved numbers. */
  if (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, (unsigned)compress)
      < 0)
    return h5_fail(KUBO_EIO, "h5: cannot set up compression");
  return KUBO_OK;
}
