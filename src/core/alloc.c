/*
** alloc.c: aligned, counted allocation.
*/
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/error.h"

static atomic_llong live_bytes = 0;


int kubo_size_mul(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return 0;
  *out = a * b;
  return 1;
}


void *kubo_alloc(size_t nbytes) {
  size_t rounded;
  void *p;
  if (nbytes > SIZE_MAX - KUBO_ALIGNMENT) {
    kubo_error_set(KUBO_ENOMEM, "cannot allocate %zu bytes", nbytes);
    return NULL;
  }
  /* aligned_alloc wants a multiple of the alignment, and a non-zero
  ** size gives every allocation its own address. */
  rounded = (nbytes + KUBO_ALIGNMENT - 1) / KUBO_ALIGNMENT * KUBO_ALIGNMENT;
  if (rounded == 0) rounded = KUBO_ALIGNMENT;
  p = aligned_alloc(KUBO_ALIGNMENT, rounded);
  if (p == NULL) {
    kubo_error_set(KUBO_ENOMEM, "out of memory allocating %zu bytes",
                   nbytes);
    return NULL;
  }
  atomic_fetch_add(&live_bytes, (long long)nbytes);
  return p;
}


void *kubo_calloc(size_t nbytes) {
  void *p = kubo_alloc(nbytes);
  if (p != NULL) memset(p, 0, nbytes);
  return p;
}


void kubo_free(void *ptr, size_t nbytes) {
  if (ptr == NULL) return;
  atomic_fetch_sub(&live_bytes, (long long)nbytes);
  free(ptr);
}


int64_t kubo_alloc_live_bytes(void) {
  return (int64_t)atomic_load(&live_bytes);
}
