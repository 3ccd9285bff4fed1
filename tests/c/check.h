/*
** check.h: a minimal harness for kubo's C unit tests.
**
**   CHECK(cond)                 record a failure if cond is false
**   CHECK_NEAR(got, want, tol)  |got - want| <= tol
**   CHECK_OK(status_expr)       the call returned KUBO_OK
**   return check_summary();     prints "N passed, M failed", returns 0/1
*/
#ifndef KUBO_CHECK_H
#define KUBO_CHECK_H

#include <math.h>
#include <stdio.h>

#include "kubo/error.h"

static int check_passed = 0, check_failed = 0;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (cond) {                                                         \
      check_passed++;                                                   \
    } else {                                                            \
      check_failed++;                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
              #cond);                                                   \
    }                                                                   \
  } while (0)

#define CHECK_NEAR(got, want, tol)                                      \
  do {                                                                  \
    double g_ = (got), w_ = (want), t_ = (tol);                         \
    if (fabs(g_ - w_) <= t_) {                                          \
      check_passed++;                                                   \
    } else {                                                            \
      check_failed++;                                                   \
      fprintf(stderr, "%s:%d: %s = %.17g, expected %.17g within %.3g\n", \
              __FILE__, __LINE__, #got, g_, w_, t_);                    \
    }                                                                   \
  } while (0)

#define CHECK_OK(call)                                                  \
  do {                                                                  \
    kubo_status s_ = (call);                                            \
    if (s_ == KUBO_OK) {                                                \
      check_passed++;                                                   \
    } else {                                                            \
      check_failed++;                                                   \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__,     \
              #call, kubo_error_message());                             \
    }                                                                   \
  } while (0)

static inline int check_summary(void) {
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed ? 1 : 0;
}

#endif
