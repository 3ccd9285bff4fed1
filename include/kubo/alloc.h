/*
** alloc.h: the engine's allocator. Every buffer of numbers in kubo
** (tensor storage, FFT work arrays, network parameter blocks) comes from
** here: 64-byte aligned, so that SIMD loads and FFTW's aligned plans are
** always valid, and counted, so that the Lua bindings can tell the
** garbage collector how much memory unreachable tensors hold.
*/
#ifndef KUBO_ALLOC_H
#define KUBO_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { KUBO_ALIGNMENT = 64 };

/* Allocates nbytes (0 is allowed and returns a unique pointer) aligned to
** KUBO_ALIGNMENT. Returns NULL and sets the error message on failure. */
void *kubo_alloc(size_t nbytes);

/* Like kubo_alloc, filled with zero bytes. */
void *kubo_calloc(size_t nbytes);

/* Releases memory from kubo_alloc/kubo_calloc; NULL is ignored. nbytes
** must be the size passed to the allocation (it keeps the count). */
void kubo_free(void *ptr, size_t nbytes);

/* Returns the number of bytes currently held by kubo_alloc. */
int64_t kubo_alloc_live_bytes(void);

/* Multiplies a and b into *out; returns 0 if the product overflows. */
int kubo_size_mul(size_t a, size_t b, size_t *out);

#ifdef __cplusplus
}
#endif

#endif
