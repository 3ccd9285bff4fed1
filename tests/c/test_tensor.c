/*
** test_tensor.c: tensor storage, views and element access.
*/
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/tensor.h"


static void test_init_and_release(void) {
  kubo_tensor t;
  int64_t shape[2] = {3, 4};
  int64_t before = kubo_alloc_live_bytes();
  CHECK_OK(kubo_tensor_init(&t, KUBO_FLOAT64, 2, shape));
  CHECK(kubo_tensor_numel(&t) == 12);
  CHECK(((uintptr_t)t.data % KUBO_ALIGNMENT) == 0);
  CHECK(t.stride[0] == 4 && t.stride[1] == 1);
  CHECK(kubo_tensor_is_contiguous(&t));
  CHECK(kubo_alloc_live_bytes() >= before + 12 * 8);
  kubo_tensor_release(&t);
  CHECK(kubo_tensor_is_empty(&t));
  kubo_tensor_release(&t);  /* a second release is harmless */
  CHECK(kubo_alloc_live_bytes() == before);
}


static void test_bad_shapes(void) {
  kubo_tensor t;
  int64_t neg[2] = {3, -1};
  int64_t huge[3] = {INT64_MAX / 2, 4, 4};
  CHECK(kubo_tensor_init(&t, KUBO_FLOAT64, 2, neg) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "negative") != NULL);
  CHECK(kubo_tensor_init(&t, KUBO_FLOAT64, 3, huge) == KUBO_EINVAL);
  CHECK(kubo_tensor_init(&t, KUBO_FLOAT64, KUBO_MAX_DIM + 1, neg) ==
        KUBO_EINVAL);
  CHECK(kubo_tensor_is_empty(&t));
}


static void test_views_share_storage(void) {
  kubo_tensor t, row, col, r2, tr;
  int64_t shape[2] = {3, 4}, idx[2], flat[1] = {12};
  double v;
  CHECK_OK(kubo_tensor_init(&t, KUBO_FLOAT64, 2, shape));
  for (int i = 0; i < 12; i++) ((double *)t.data)[i] = i;

  CHECK_OK(kubo_tensor_select(&row, &t, 0, 1));
  CHECK(row.ndim == 1 && row.shape[0] == 4);
  CHECK(kubo_tensor_at(&row, 2) == 6);
  CHECK(t.storage->refcount == 2);

  CHECK_OK(kubo_tensor_narrow(&col, &t, 1, 1, 3));
  CHECK(col.shape[0] == 3 && col.shape[1] == 2);
  CHECK(!kubo_tensor_is_contiguous(&col));
  idx[0] = 2; idx[1] = 1;
  CHECK_OK(kubo_tensor_get(&col, idx, &v));
  CHECK(v == 10);
  CHECK_OK(kubo_tensor_set(&col, idx, -1));
  CHECK(((double *)t.data)[10] == -1);

  CHECK(kubo_tensor_reshape(&r2, &col, 1, flat) == KUBO_EINVAL);
  CHECK_OK(kubo_tensor_reshape(&r2, &t, 1, flat));
  CHECK(r2.shape[0] == 12);

  CHECK_OK(kubo_tensor_transpose(&tr, &t, 0, 1));
  idx[0] = 3; idx[1] = 2;
  CHECK_OK(kubo_tensor_get(&tr, idx, &v));
  CHECK(v == 11);

  kubo_tensor_release(&t);   /* views keep the storage alive */
  CHECK(kubo_tensor_at(&row, 0) == 4);
  kubo_tensor_release(&row);
  kubo_tensor_release(&col);
  kubo_tensor_release(&r2);
  kubo_tensor_release(&tr);
}


static void test_copy_converts(void) {
  kubo_tensor a, b, at;
  int64_t shape[2] = {2, 3};
  CHECK_OK(kubo_tensor_init(&a, KUBO_FLOAT64, 2, shape));
  for (int i = 0; i < 6; i++) ((double *)a.data)[i] = i + 0.5;
  CHECK_OK(kubo_tensor_transpose(&at, &a, 0, 1));
  CHECK_OK(kubo_tensor_clone(&b, &at, KUBO_FLOAT32));
  CHECK(b.dtype == KUBO_FLOAT32 && kubo_tensor_is_contiguous(&b));
  /* b is (3, 2): b[i][j] = a[j][i] */
  CHECK(((float *)b.data)[1] == 3.5f);
  CHECK(((float *)b.data)[2] == 1.5f);
  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
  kubo_tensor_release(&at);
}


int main(void) {
  test_init_and_release();
  test_bad_shapes();
  test_views_share_storage();
  test_copy_converts();
  return check_summary();
}
