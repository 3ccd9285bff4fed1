/*
** test_h5.c: HDF5 round trips of tensors and attributes, appendable
** datasets, writers, and the promise that a failed change leaves an
** existing file byte for byte as it was.
*/
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/h5.h"

static char dir[64];


/* Returns "<dir>/<name>" in a static buffer, one of 64 in rotation, so a
** test may hold a few paths at once. */
static const char *in_dir(const char *name) {
  static char bufs[64][600];
  static int next = 0;
  char *b = bufs[next++ % 64];
  snprintf(b, 600, "%s/%s", dir, name);
  return b;
}


/* Reads a whole file into a malloc'ed buffer; *size gets its length. */
static char *slurp(const char *path, long *size) {
  FILE *f = fopen(path, "rb");
  char *buf;
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  *size = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)*size + 1);
  if (fread(buf, 1, (size_t)*size, f) != (size_t)*size) *size = -1;
  fclose(f);
  return buf;
}


static int same_bytes(const char *path, const char *want, long want_size) {
  long size;
  char *got = slurp(path, &size);
  int same = got != NULL && size == want_size &&
             memcmp(got, want, (size_t)size) == 0;
  free(got);
  return same;
}


/* Counts the files in dir whose names contain part. */
static int count_files(const char *part) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) n += strstr(e->d_name, part) != NULL;
  closedir(d);
  return n;
}


/* Finds the writer's temporary file of target name; returns its path. */
static const char *find_temp(const char *name) {
  static char path[512];
  char prefix[256];
  DIR *d = opendir(dir);
  struct dirent *e;
  snprintf(prefix, sizeof prefix, "%s.tmp-", name);
  path[0] = '\0';
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
  closedir(d);
  return path;
}


static void remove_dir(void) {
  DIR *d = opendir(dir);
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      unlink(in_dir(e->d_name));
  closedir(d);
  rmdir(dir);
}


static void make_tensor(kubo_tensor *t, kubo_dtype dtype, int ndim,
                        const int64_t *shape, double scale) {
  kubo_tensor_init(t, dtype, ndim, shape);
  for (int64_t i = 0; i < kubo_tensor_numel(t); i++) {
    double v = scale * (double)i - 0.25 * (double)(i % 7);
    if (dtype == KUBO_FLOAT64) ((double *)t->data)[i] = v;
    else ((float *)t->data)[i] = (float)v;
  }
}


/* 1 if a and b have the same dtype, shape and values. */
static int same_tensor(const kubo_tensor *a, const kubo_tensor *b) {
  if (a->dtype != b->dtype || !kubo_tensor_same_shape(a, b)) return 0;
  for (int64_t i = 0; i < kubo_tensor_numel(a); i++)
    if (kubo_tensor_at(a, i) != kubo_tensor_at(b, i)) return 0;
  return 1;
}


/* Returns attribute name of attrs after checking its kind and rank; stops
** the test program if it is missing, since later checks read it. */
static const kubo_h5_attr *need_attr(const kubo_h5_attrs *attrs,
                                     const char *name, kubo_h5_kind kind,
                                     int ndim) {
  const kubo_h5_attr *a = kubo_h5_attrs_find(attrs, name);
  if (a == NULL) {
    fprintf(stderr, "attribute '%s' is missing\n", name);
    exit(1);
  }
  CHECK(a->kind == kind);
  CHECK(a->ndim == ndim);
  return a;
}


static void test_round_trip_dtypes(void) {
  const char *f = in_dir("trip.h5");
  int64_t s3[3] = {2, 3, 4}, s2[2] = {5, 2}, s0[2] = {0, 3};
  kubo_tensor a, b, c, e, back;
  make_tensor(&a, KUBO_FLOAT64, 3, s3, 1.5);
  make_tensor(&b, KUBO_FLOAT32, 2, s2, 0.1);
  make_tensor(&c, KUBO_FLOAT64, 0, NULL, 0);
  ((double *)c.data)[0] = -7.25;
  make_tensor(&e, KUBO_FLOAT32, 2, s0, 1);
  CHECK_OK(kubo_h5_write(f, "/a", &a, NULL, 0));
  CHECK_OK(kubo_h5_write(f, "g/h/b", &b, NULL, 0));
  CHECK_OK(kubo_h5_write(f, "/scalar", &c, NULL, 0));
  CHECK_OK(kubo_h5_write(f, "/empty", &e, NULL, 0));

  CHECK_OK(kubo_h5_read(f, "a", &back, NULL));
  CHECK(same_tensor(&a, &back));
  kubo_tensor_release(&back);
  CHECK_OK(kubo_h5_read(f, "/g/h/b", &back, NULL));
  CHECK(back.dtype == KUBO_FLOAT32);
  CHECK(same_tensor(&b, &back));
  kubo_tensor_release(&back);
  CHECK_OK(kubo_h5_read(f, "/scalar", &back, NULL));
  CHECK(back.ndim == 0);
  CHECK(kubo_tensor_at(&back, 0) == -7.25);
  kubo_tensor_release(&back);
  CHECK_OK(kubo_h5_read(f, "/empty", &back, NULL));
  CHECK(back.ndim == 2);
  CHECK(back.shape[0] == 0);
  CHECK(back.shape[1] == 3);
  kubo_tensor_release(&back);

  /* Writing a name again replaces the dataset, shape and all. */
  CHECK_OK(kubo_h5_write(f, "/a", &b, NULL, 0));
  CHECK_OK(kubo_h5_read(f, "/a", &back, NULL));
  CHECK(same_tensor(&b, &back));
  kubo_tensor_release(&back);
  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
  kubo_tensor_release(&c);
  kubo_tensor_release(&e);
}


static void test_strided_views(void) {
  const char *f = in_dir("strided.h5");
  int64_t shape[2] = {4, 6};
  kubo_tensor base, tr, part, ref, back;
  make_tensor(&base, KUBO_FLOAT64, 2, shape, 1);
  CHECK_OK(kubo_tensor_transpose(&tr, &base, 0, 1));
  CHECK_OK(kubo_tensor_narrow(&part, &tr, 0, 1, 5));  /* (4, 4) strided */
  CHECK(!kubo_tensor_is_contiguous(&part));
  CHECK_OK(kubo_h5_write(f, "/t", &part, NULL, 0));
  CHECK_OK(kubo_h5_read(f, "/t", &back, NULL));
  CHECK_OK(kubo_tensor_clone(&ref, &part, -1));
  CHECK(same_tensor(&ref, &back));
  /* element (i, j) of the view is base[j, i + 1] */
  CHECK(kubo_tensor_at(&back, 1 * 4 + 2) ==
        kubo_tensor_at(&base, 2 * 6 + 2));
  kubo_tensor_release(&back);
  kubo_tensor_release(&ref);
  kubo_tensor_release(&part);
  kubo_tensor_release(&tr);
  kubo_tensor_release(&base);
}


static void test_attributes(void) {
  const char *f = in_dir("attrs.h5");
  kubo_h5_attrs in, out;
  kubo_tensor t, back;
  int64_t one[1] = {3}, ashape[2] = {2, 2}, ishape[1] = {3};
  double arr[4] = {0.5, -1, 2, 1e300};
  int64_t ints[3] = {INT64_MIN, 0, INT64_MAX};
  const char *strs[2] = {"alpha", "b\xc3\xa9ta"};
  const kubo_h5_attr *a;
  kubo_h5_attrs_init(&in);
  make_tensor(&t, KUBO_FLOAT64, 1, one, 1);
  CHECK_OK(kubo_h5_attrs_add_float(&in, "dt", 0.03125));
  CHECK_OK(kubo_h5_attrs_add_int(&in, "seed", 1234));
  CHECK_OK(kubo_h5_attrs_add_int(&in, "seed", 4321));   /* replaces */
  CHECK_OK(kubo_h5_attrs_add_string(&in, "model", "allen_cahn"));
  CHECK_OK(kubo_h5_attrs_add_floats(&in, "matrix", 2, ashape, arr));
  CHECK_OK(kubo_h5_attrs_add_ints(&in, "ints", 1, ishape, ints));
  CHECK_OK(kubo_h5_attrs_add_strings(&in, "names", 2, strs));
  CHECK_OK(kubo_h5_attrs_add_string(&in, "empty", ""));
  CHECK(in.count == 7);
  CHECK(kubo_h5_attrs_add_float(&in, "", 1) == KUBO_EINVAL);
  CHECK(kubo_h5_attrs_add_string(&in, "x", NULL) == KUBO_EINVAL);
  CHECK(in.count == 7);

  CHECK_OK(kubo_h5_write(f, "/x", &t, &in, 0));
  CHECK_OK(kubo_h5_read(f, "/x", &back, &out));
  CHECK(out.count == 7);
  a = need_attr(&out, "dt", KUBO_H5_FLOAT, 0);
  CHECK(a->floats[0] == 0.03125);
  a = need_attr(&out, "seed", KUBO_H5_INT, 0);
  CHECK(a->ints[0] == 4321);
  a = need_attr(&out, "model", KUBO_H5_STRING, 0);
  CHECK(strcmp(a->strings[0], "allen_cahn") == 0);
  a = need_attr(&out, "matrix", KUBO_H5_FLOAT, 2);
  CHECK(a->shape[0] == 2);
  CHECK(a->shape[1] == 2);
  CHECK(memcmp(a->floats, arr, sizeof arr) == 0);
  a = need_attr(&out, "ints", KUBO_H5_INT, 1);
  CHECK(a->count == 3);
  CHECK(memcmp(a->ints, ints, sizeof ints) == 0);
  a = need_attr(&out, "names", KUBO_H5_STRING, 1);
  CHECK(a->count == 2);
  CHECK(strcmp(a->strings[1], "b\xc3\xa9ta") == 0);
  a = need_attr(&out, "empty", KUBO_H5_STRING, 0);
  CHECK(strcmp(a->strings[0], "") == 0);
  kubo_h5_attrs_free(&out);
  kubo_tensor_release(&back);

  /* File attributes, and set_attrs on an existing dataset. */
  kubo_h5_attrs_free(&in);
  CHECK_OK(kubo_h5_attrs_add_string(&in, "kubo_version", "0.1.0"));
  CHECK_OK(kubo_h5_write_attrs(f, "/", &in));
  CHECK_OK(kubo_h5_attrs_add_float(&in, "dt", 0.5));
  CHECK_OK(kubo_h5_write_attrs(f, "/x", &in));
  CHECK_OK(kubo_h5_read_attrs(f, "/", &out));
  CHECK(out.count == 1);
  need_attr(&out, "kubo_version", KUBO_H5_STRING, 0);
  kubo_h5_attrs_free(&out);
  CHECK_OK(kubo_h5_read_attrs(f, "x", &out));
  CHECK(out.count == 8);
  a = need_attr(&out, "dt", KUBO_H5_FLOAT, 0);
  CHECK(a->floats[0] == 0.5);
  kubo_h5_attrs_free(&out);
  CHECK(kubo_h5_write_attrs(f, "/missing", &in) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "no object '/missing'") != NULL);

  /* An attribute too large for an object header is rejected clearly. */
  {
    int64_t big[1] = {10000};
    double *v = calloc(10000, sizeof *v);
    kubo_h5_attrs_free(&in);
    CHECK_OK(kubo_h5_attrs_add_floats(&in, "big", 1, big, v));
    CHECK(kubo_h5_write_attrs(f, "/x", &in) == KUBO_EINVAL);
    CHECK(strstr(kubo_error_message(), "store it as a dataset") != NULL);
    free(v);
  }
  kubo_h5_attrs_free(&in);
  kubo_tensor_release(&t);
}


static void test_list(void) {
  const char *f = in_dir("list.h5");
  int64_t s2[2] = {3, 2}, one[1] = {4};
  kubo_tensor a, b;
  kubo_h5_list list;
  make_tensor(&a, KUBO_FLOAT64, 2, s2, 1);
  make_tensor(&b, KUBO_FLOAT32, 1, one, 1);
  CHECK_OK(kubo_h5_write(f, "/run/u", &a, NULL, 0));
  CHECK_OK(kubo_h5_append(f, "/run/energy", &b, 0));
  CHECK_OK(kubo_h5_write(f, "/z", &b, NULL, 0));

  CHECK_OK(kubo_h5_list_file(f, &list));
  CHECK(list.count == 4);
  if (list.count == 4) {
    const kubo_h5_entry *e = list.items;
    CHECK(strcmp(e[0].name, "/run") == 0);
    CHECK(e[0].is_group);
    CHECK(strcmp(e[1].name, "/run/energy") == 0);
    CHECK(!e[1].is_group);
    CHECK(e[1].appendable);
    CHECK(e[1].ndim == 2);
    CHECK(e[1].shape[0] == 1);
    CHECK(e[1].shape[1] == 4);
    CHECK(strcmp(e[1].dtype, "float32") == 0);
    CHECK(strcmp(e[2].name, "/run/u") == 0);
    CHECK(!e[2].appendable);
    CHECK(e[2].shape[0] == 3);
    CHECK(strcmp(e[2].dtype, "float64") == 0);
    CHECK(strcmp(e[3].name, "/z") == 0);
  }
  kubo_h5_list_free(&list);
  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
}


static void test_compression(void) {
  const char *plain = in_dir("plain.h5"), *packed = in_dir("packed.h5");
  int64_t shape[2] = {400, 300};
  kubo_tensor t, back;
  struct stat sp, sc;
  make_tensor(&t, KUBO_FLOAT64, 2, shape, 0);   /* compressible */
  CHECK_OK(kubo_h5_write(plain, "/x", &t, NULL, 0));
  CHECK_OK(kubo_h5_write(packed, "/x", &t, NULL, 6));
  stat(plain, &sp);
  stat(packed, &sc);
  CHECK(sp.st_size > 400 * 300 * 8);
  CHECK(sc.st_size < sp.st_size / 10);
  CHECK_OK(kubo_h5_read(packed, "/x", &back, NULL));
  CHECK(same_tensor(&t, &back));
  kubo_tensor_release(&back);
  CHECK(kubo_h5_write(packed, "/x", &t, NULL, 10) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "from 0 (none) to 9") != NULL);
  kubo_tensor_release(&t);
}


static void test_append_across_reopen(void) {
  const char *f = in_dir("append.h5");
  int64_t frame[2] = {2, 3}, stack[3] = {2, 2, 3}, wrong[2] = {3, 2};
  kubo_tensor a, b, s, w, back, part;
  long size;
  char *before;
  make_tensor(&a, KUBO_FLOAT64, 2, frame, 1);
  make_tensor(&b, KUBO_FLOAT32, 2, frame, -2);
  make_tensor(&s, KUBO_FLOAT64, 3, stack, 0.5);
  make_tensor(&w, KUBO_FLOAT64, 2, wrong, 1);
  CHECK_OK(kubo_h5_append(f, "/traj", &a, 0));
  CHECK_OK(kubo_h5_append(f, "/traj", &b, 0));   /* converted to f64 */
  CHECK_OK(kubo_h5_append(f, "/traj", &s, 0));
  CHECK_OK(kubo_h5_read(f, "/traj", &back, NULL));
  CHECK(back.ndim == 3);
  CHECK(back.shape[0] == 4);
  CHECK(back.shape[1] == 2);
  CHECK(back.shape[2] == 3);
  CHECK(back.dtype == KUBO_FLOAT64);
  CHECK(kubo_tensor_at(&back, 5) == kubo_tensor_at(&a, 5));
  CHECK(kubo_tensor_at(&back, 6 + 4) == kubo_tensor_at(&b, 4));
  CHECK(kubo_tensor_at(&back, 12 + 7) == kubo_tensor_at(&s, 7));
  kubo_tensor_release(&back);

  /* Frames 2..3 (0-based 1..2) alone. */
  CHECK_OK(kubo_h5_read_frames(f, "/traj", 1, 2, &part, NULL));
  CHECK(part.shape[0] == 2);
  CHECK(kubo_tensor_at(&part, 0) == kubo_tensor_at(&b, 0));
  kubo_tensor_release(&part);
  CHECK(kubo_h5_read_frames(f, "/traj", 3, 2, &part, NULL) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "outside dataset") != NULL);
  CHECK(kubo_tensor_is_empty(&part));

  /* A frame of the wrong shape is rejected and the file is unchanged. */
  before = slurp(f, &size);
  CHECK(kubo_h5_append(f, "/traj", &w, 0) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "cannot append a tensor of shape "
                                     "(3, 2)") != NULL);
  CHECK(same_bytes(f, before, size));
  free(before);
  CHECK(count_files("append.h5.tmp-") == 0);

  /* A dataset written whole is not appendable. */
  CHECK_OK(kubo_h5_write(f, "/fixed", &a, NULL, 0));
  CHECK(kubo_h5_append(f, "/fixed", &a, 0) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "not appendable") != NULL);
  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
  kubo_tensor_release(&s);
  kubo_tensor_release(&w);
}


static void test_writer_stream(void) {
  const char *f = in_dir("stream.h5");
  int64_t frame[2] = {2, 3};
  kubo_tensor t, back;
  kubo_h5_writer *w, *w2;
  kubo_h5_attrs attrs, out;
  const char *tmp;
  struct stat st;
  int id;
  make_tensor(&t, KUBO_FLOAT32, 2, frame, 1);
  kubo_h5_attrs_init(&attrs);
  CHECK_OK(kubo_h5_attrs_add_int(&attrs, "every", 32));

  CHECK_OK(kubo_h5_writer_open(&w, f));
  CHECK_OK(kubo_h5_writer_dataset(w, "/u", KUBO_FLOAT32, 2, frame, 4, 1,
                                  &id));
  CHECK(kubo_h5_writer_frames(w, id) == 0);
  for (int i = 0; i < 10; i++) {
    ((float *)t.data)[0] = (float)i;
    CHECK_OK(kubo_h5_writer_append(w, id, &t));
  }
  CHECK(kubo_h5_writer_frames(w, id) == 10);
  CHECK_OK(kubo_h5_writer_write_attrs(w, "/u", &attrs));
  CHECK_OK(kubo_h5_writer_write_attrs(w, "/", &attrs));

  /* Other changes to the file are rejected while the writer is open. */
  CHECK(kubo_h5_writer_open(&w2, f) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "already has an open writer") !=
        NULL);
  CHECK(kubo_h5_write(f, "/v", &t, NULL, 0) == KUBO_EIO);

  /* After a flush the temporary file is a complete HDF5 file; the target
  ** does not exist until close. */
  CHECK_OK(kubo_h5_writer_flush(w));
  CHECK(stat(f, &st) != 0);
  tmp = find_temp("stream.h5");
  CHECK(tmp[0] != '\0');
  CHECK_OK(kubo_h5_read(tmp, "/u", &back, NULL));
  CHECK(back.shape[0] == 10);
  CHECK(kubo_tensor_at(&back, 9 * 6) == 9);
  kubo_tensor_release(&back);

  /* An interrupt stops the loop; closing keeps every frame. */
  kubo_interrupt_request();
  for (int i = 10; i < 1000; i++) {
    if (kubo_interrupt_check("streaming frames") != KUBO_OK) break;
    CHECK_OK(kubo_h5_writer_append(w, id, &t));
  }
  CHECK(strstr(kubo_error_message(), "interrupted") != NULL);
  kubo_interrupt_clear();
  CHECK_OK(kubo_h5_writer_close(w));
  CHECK(count_files("stream.h5.tmp-") == 0);
  CHECK_OK(kubo_h5_read(f, "/u", &back, &out));
  CHECK(back.shape[0] == 10);
  CHECK(back.dtype == KUBO_FLOAT32);
  CHECK(kubo_h5_attrs_find(&out, "every") != NULL);
  kubo_tensor_release(&back);
  kubo_h5_attrs_free(&out);

  /* A second writer continues the dataset; discard drops its frames. */
  CHECK_OK(kubo_h5_writer_open(&w, f));
  CHECK_OK(kubo_h5_writer_dataset(w, "u", -1, -1, NULL, 0, 1, &id));
  CHECK(kubo_h5_writer_frames(w, id) == 10);
  CHECK_OK(kubo_h5_writer_append(w, id, &t));
  kubo_h5_writer_discard(w);
  CHECK(count_files("stream.h5.tmp-") == 0);
  CHECK_OK(kubo_h5_writer_open(&w, f));
  CHECK(kubo_h5_writer_dataset(w, "/u", KUBO_FLOAT64, -1, NULL, 0, 1, &id)
        == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "has dtype float32, not float64") !=
        NULL);
  CHECK_OK(kubo_h5_writer_dataset(w, "/u", -1, 2, frame, 0, 1, &id));
  CHECK_OK(kubo_h5_writer_append(w, id, &t));
  CHECK_OK(kubo_h5_writer_write(w, "/final", &t, NULL, 0));
  CHECK(kubo_h5_writer_write(w, "/u", &t, NULL, 0) == KUBO_EINVAL);
  CHECK_OK(kubo_h5_writer_close(w));
  CHECK_OK(kubo_h5_read(f, "/u", &back, NULL));
  CHECK(back.shape[0] == 11);
  kubo_tensor_release(&back);
  CHECK_OK(kubo_h5_read(f, "/final", &back, NULL));
  CHECK(same_tensor(&t, &back));
  kubo_tensor_release(&back);
  kubo_h5_attrs_free(&attrs);
  kubo_tensor_release(&t);
}


static void test_failed_writes_leave_file(void) {
  const char *f = in_dir("keep.h5"), *txt = in_dir("notes.txt");
  int64_t shape[1] = {5};
  kubo_tensor t;
  long size;
  char *before;
  FILE *fp;
  struct stat st;
  make_tensor(&t, KUBO_FLOAT64, 1, shape, 1);
  CHECK_OK(kubo_h5_write(f, "/a", &t, NULL, 0));
  chmod(f, 0640);
  before = slurp(f, &size);

  /* "/a" is a dataset, so "/a/b" cannot be created inside it. */
  CHECK(kubo_h5_write(f, "/a/b", &t, NULL, 0) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "cannot create dataset '/a/b'") !=
        NULL);
  CHECK(same_bytes(f, before, size));
  CHECK(kubo_h5_write(f, "/", &t, NULL, 0) == KUBO_EINVAL);
  CHECK(kubo_h5_write(f, "/a//b", &t, NULL, 0) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "invalid object name") != NULL);
  CHECK(same_bytes(f, before, size));
  CHECK(count_files(".tmp-") == 0);

  /* A successful write keeps the file's permissions. */
  CHECK_OK(kubo_h5_write(f, "/c", &t, NULL, 0));
  CHECK(stat(f, &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);

  /* A folder that does not exist. */
  CHECK(kubo_h5_write(in_dir("nowhere/x.h5"), "/a", &t, NULL, 0) ==
        KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "No such file or directory") != NULL);

  /* An existing file that is not HDF5 is never replaced. */
  fp = fopen(txt, "w");
  fputs("notes, not HDF5\n", fp);
  fclose(fp);
  CHECK(kubo_h5_write(txt, "/a", &t, NULL, 0) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "is not an HDF5 file; kubo does not "
                                     "overwrite it") != NULL);
  CHECK(same_bytes(txt, "notes, not HDF5\n", 16));
  free(before);
  kubo_tensor_release(&t);
}


static void test_read_errors(void) {
  const char *good = in_dir("good.h5"), *junk = in_dir("junk.h5");
  const char *cut = in_dir("cut.h5");
  int64_t shape[1] = {2000};
  kubo_tensor t, back;
  kubo_h5_attrs attrs;
  kubo_h5_list list;
  long size;
  char *bytes;
  FILE *fp;
  make_tensor(&t, KUBO_FLOAT64, 1, shape, 1);
  CHECK_OK(kubo_h5_write(good, "/g/x", &t, NULL, 0));

  CHECK(kubo_h5_read(in_dir("missing.h5"), "/x", &back, &attrs) ==
        KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "No such file or directory") != NULL);
  CHECK(kubo_tensor_is_empty(&back));
  CHECK(attrs.count == 0);
  CHECK(kubo_h5_list_file(in_dir("missing.h5"), &list) == KUBO_EIO);

  fp = fopen(junk, "w");
  fputs("this is not an HDF5 file at all, just some text\n", fp);
  fclose(fp);
  CHECK(kubo_h5_read(junk, "/x", &back, NULL) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "is not an HDF5 file") != NULL);
  CHECK(kubo_h5_list_file(junk, &list) == KUBO_EIO);

  /* The first half of a valid file: the signature is there, the data
  ** are not. */
  bytes = slurp(good, &size);
  fp = fopen(cut, "wb");
  fwrite(bytes, 1, (size_t)size / 2, fp);
  fclose(fp);
  free(bytes);
  CHECK(kubo_h5_read(cut, "/g/x", &back, NULL) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "truncated") != NULL);
  CHECK(kubo_h5_list_file(cut, &list) == KUBO_EIO);

  CHECK(kubo_h5_read(good, "/g/y", &back, NULL) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "no dataset '/g/y'") != NULL);
  CHECK(kubo_h5_read(good, "/g/x/deeper", &back, NULL) == KUBO_EIO);
  CHECK(kubo_h5_read(good, "/g", &back, NULL) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "is a group, not a dataset") != NULL);
  CHECK(kubo_h5_read(good, "", &back, NULL) == KUBO_EINVAL);
  CHECK(kubo_h5_read(good, NULL, &back, NULL) == KUBO_EINVAL);
  CHECK(kubo_h5_read(dir, "/x", &back, NULL) == KUBO_EIO);
  CHECK(strstr(kubo_error_message(), "is a folder") != NULL);
  CHECK(kubo_h5_read_attrs(good, "/nope", &attrs) == KUBO_EIO);
  kubo_tensor_release(&t);
}


int main(void) {
  snprintf(dir, sizeof dir, "/tmp/kubo-test-h5-XXXXXX");
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  test_round_trip_dtypes();
  test_strided_views();
  test_attributes();
  test_list();
  test_compression();
  test_append_across_reopen();
  test_writer_stream();
  test_failed_writes_leave_file();
  test_read_errors();
  remove_dir();
  CHECK(kubo_alloc_live_bytes() == 0);
  return check_summary();
}
