/*
** test_grid.c: grid tables, transforms and spectral operators against
** analytic derivatives of trigonometric polynomials, Parseval, the
** ORACLES energy test field and bit-identical batching.
*/
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/grid.h"
#include "kubo/rng.h"


/* ---------------------------------------------------------------------
** Trigonometric polynomials with known derivatives
** ------------------------------------------------------------------- */

/* u = sum_j c_j cos(k_j . x + phase_j) with integer index vectors m_j;
** k_j = 2 pi m_j / L. */
typedef struct trig_mode {
  int m[3];
  double c, phase;
} trig_mode;

typedef enum deriv { VALUE, DX, DY, DZ, LAPLACIAN, INVERSE_LAPLACIAN } deriv;


/* Evaluates the polynomial or one of its derivatives at every node of g
** into out (real field layout). */
static void trig_eval(const kubo_grid *g, const trig_mode *modes, int count,
                      deriv d, double *out) {
  int ndim = kubo_grid_ndim(g);
  int64_t n[3] = {1, 1, 1};
  double L[3] = {1, 1, 1};
  for (int a = 0; a < ndim; a++) {
    n[a] = kubo_grid_n(g, a);
    L[a] = kubo_grid_length(g, a);
  }

  int64_t p = 0;
  for (int64_t iz = 0; iz < n[2]; iz++)
    for (int64_t iy = 0; iy < n[1]; iy++)
      for (int64_t ix = 0; ix < n[0]; ix++, p++) {
        double x[3] = {L[0] * ix / n[0], L[1] * iy / n[1], L[2] * iz / n[2]};
        double sum = 0;
        for (int j = 0; j < count; j++) {
          double k[3] = {0, 0, 0}, arg = modes[j].phase, k2 = 0;
          for (int a = 0; a < ndim; a++) {
            k[a] = 2 * M_PI * modes[j].m[a] / L[a];
            arg += k[a] * x[a];
            k2 += k[a] * k[a];
          }
          double c = modes[j].c;
          switch (d) {
          case VALUE: sum += c * cos(arg); break;
          case DX: sum -= c * k[0] * sin(arg); break;
          case DY: sum -= c * k[1] * sin(arg); break;
          case DZ: sum -= c * k[2] * sin(arg); break;
          case LAPLACIAN: sum -= c * k2 * cos(arg); break;
          case INVERSE_LAPLACIAN:
            if (k2 > 0) sum -= c / k2 * cos(arg);
            break;
          }
        }
        out[p] = sum;
      }
}


static double max_abs_diff(const double *a, const double *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++)
    if (fabs(a[i] - b[i]) > m) m = fabs(a[i] - b[i]);
  return m;
}


static double max_abs(const double *a, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++)
    if (fabs(a[i]) > m) m = fabs(a[i]);
  return m;
}


/* Applies op to the real field u through fft, the operator and ifft. */
static void apply_real(const kubo_grid *g, kubo_grid_op op, int power,
                       const double *u, double *out) {
  int64_t H = kubo_grid_spectral_size(g);
  double *spec = kubo_alloc((size_t)(2 * H) * sizeof(double));
  CHECK_OK(kubo_grid_fft(g, 1, u, spec));
  if (op == KUBO_GRID_IDENTITY)
    CHECK_OK(kubo_grid_spec_laplacian_power(g, power, 1, spec));
  else
    CHECK_OK(kubo_grid_spec_apply(g, op, 1, spec));
  CHECK_OK(kubo_grid_ifft(g, 1, spec, out));
  kubo_free(spec, (size_t)(2 * H) * sizeof(double));
}


/* Checks dx, dy, dz, the laplacian and its inverse on a grid against the
** analytic derivatives. Modes stay below the Nyquist index, where both
** conventions agree; the tolerance is round-off relative to the largest
** derivative value. */
static void check_derivatives(int ndim, const int64_t *n, const double *L,
                              kubo_nyquist nyquist, const trig_mode *modes,
                              int count) {
  kubo_grid *g;
  CHECK_OK(kubo_grid_new(&g, ndim, n, L, nyquist));
  if (g == NULL) return;
  int64_t M = kubo_grid_real_size(g);
  size_t bytes = (size_t)M * sizeof(double);
  double *u = kubo_alloc(bytes), *want = kubo_alloc(bytes);
  double *got = kubo_alloc(bytes);
  trig_eval(g, modes, count, VALUE, u);

  const struct {
    kubo_grid_op op;
    deriv d;
  } cases[] = {
    {KUBO_GRID_DX, DX}, {KUBO_GRID_DY, DY}, {KUBO_GRID_DZ, DZ},
    {KUBO_GRID_LAPLACIAN, LAPLACIAN},
    {KUBO_GRID_INVERSE_LAPLACIAN, INVERSE_LAPLACIAN},
  };
  for (int c = 0; c < 5; c++) {
    if (c < 3 && c >= ndim) continue;
    trig_eval(g, modes, count, cases[c].d, want);
    apply_real(g, cases[c].op, 0, u, got);
    double scale = max_abs(want, M) + 1;
    CHECK_NEAR(max_abs_diff(got, want, M) / scale, 0, 1e-13);
  }

  /* (-|k|^2)^2 is the laplacian applied twice. */
  double *once = kubo_alloc(bytes);
  trig_eval(g, modes, count, LAPLACIAN, once);
  apply_real(g, KUBO_GRID_LAPLACIAN, 0, once, want);
  apply_real(g, KUBO_GRID_IDENTITY, 2, u, got);
  CHECK_NEAR(max_abs_diff(got, want, M) / (max_abs(want, M) + 1), 0, 1e-13);

  kubo_free(u, bytes);
  kubo_free(want, bytes);
  kubo_free(got, bytes);
  kubo_free(once, bytes);
  kubo_grid_release(g);
}


static void test_derivatives_exact(void) {
  const trig_mode modes2[] = {
    {{1, 0, 0}, 1.0, 0.3}, {{0, 2, 0}, -0.5, 1.1}, {{3, -2, 0}, 0.25, 2.0},
    {{5, 4, 0}, 0.125, -0.7}, {{7, -5, 0}, 0.3, 0.2}, {{0, 0, 0}, 0.0, 0},
  };
  const trig_mode modes1[] = {
    {{1, 0, 0}, 1.0, 0.3}, {{4, 0, 0}, -0.5, 1.1}, {{7, 0, 0}, 0.2, 2.0},
  };
  const trig_mode modes3[] = {
    {{1, 1, 1}, 1.0, 0.3}, {{2, -1, 3}, -0.5, 1.1}, {{0, 2, -1}, 0.7, 0},
  };
  for (int c = 0; c < 2; c++) {
    kubo_nyquist ny = c == 0 ? KUBO_NYQUIST_DROP : KUBO_NYQUIST_ZERO_K;

    /* 2-D: square, non-square box, odd sizes. */
    int64_t n_sq[2] = {32, 32}, n_rect[2] = {16, 12}, n_odd[2] = {17, 15};
    double L_sq[2] = {2 * M_PI, 2 * M_PI}, L_rect[2] = {2 * M_PI, 3 * M_PI};
    check_derivatives(2, n_sq, L_sq, ny, modes2, 6);
    check_derivatives(2, n_rect, L_rect, ny, modes2, 6);
    check_derivatives(2, n_odd, L_rect, ny, modes2, 6);

    /* 1-D, even and odd, with a length other than 2 pi. */
    int64_t n1[1] = {16}, n1odd[1] = {15};
    double L1[1] = {5.0};
    check_derivatives(1, n1, L1, ny, modes1, 3);
    check_derivatives(1, n1odd, L1, ny, modes1, 3);

    /* 3-D on a box of three different lengths. */
    int64_t n3[3] = {8, 6, 10};
    double L3[3] = {1.0, 2.0, 3.0};
    check_derivatives(3, n3, L3, ny, modes3, 3);
  }
}


/* ---------------------------------------------------------------------
** Tables and conventions
** ------------------------------------------------------------------- */

static void test_wavenumber_tables(void) {
  int64_t n[2] = {8, 6};
  double L[2] = {2 * M_PI, 4 * M_PI};
  kubo_grid *drop, *zk;
  CHECK_OK(kubo_grid_new(&drop, 2, n, L, KUBO_NYQUIST_DROP));
  CHECK_OK(kubo_grid_new(&zk, 2, n, L, KUBO_NYQUIST_ZERO_K));

  const double want_x[8] = {0, 1, 2, 3, -4, -3, -2, -1};
  const double want_y[6] = {0, 0.5, 1, -1.5, -1, -0.5};
  for (int i = 0; i < 8; i++) {
    CHECK(kubo_grid_k(drop, 0)[i] == want_x[i]);
    CHECK(kubo_grid_k(zk, 0)[i] == (i == 4 ? 0 : want_x[i]));
  }
  for (int i = 0; i < 6; i++) {
    CHECK(kubo_grid_k(drop, 1)[i] == want_y[i]);
    CHECK(kubo_grid_k(zk, 1)[i] == (i == 3 ? 0 : want_y[i]));
  }
  CHECK(kubo_grid_k(drop, 2) == NULL);

  /* Coordinates x_i = i L / n. */
  CHECK_NEAR(kubo_grid_coordinates(drop, 1)[3], 3 * 4 * M_PI / 6, 1e-15);

  /* Shapes: (ny, nx) and (ny, nx/2+1, 2). */
  int64_t shape[4];
  CHECK(kubo_grid_real_shape(drop, shape) == 2);
  CHECK(shape[0] == 6);
  CHECK(shape[1] == 8);
  CHECK(kubo_grid_spectral_shape(drop, shape) == 3);
  CHECK(shape[0] == 6);
  CHECK(shape[1] == 5);
  CHECK(shape[2] == 2);
  CHECK(kubo_grid_spectral_size(drop) == 30);

  /* keep: drop zeroes every mode in the Nyquist column (ix = 4) or row
  ** (iy = 3): 6 + 5 - 1 = 10 modes; zero_k keeps all. */
  int dropped = 0, dropped_zk = 0;
  for (int p = 0; p < 30; p++) {
    dropped += kubo_grid_keep(drop)[p] == 0;
    dropped_zk += kubo_grid_keep(zk)[p] == 0;
    int ix = p % 5, iy = p / 5;
    CHECK((kubo_grid_keep(drop)[p] == 0) == (ix == 4 || iy == 3));
  }
  CHECK(dropped == 10);
  CHECK(dropped_zk == 0);

  /* |k|^2 under zero_k at (ix, iy) = (4, 1): kx = 0, ky = 0.5. */
  CHECK(kubo_grid_k2(zk)[1 * 5 + 4] == 0.25);
  kubo_grid_release(drop);
  kubo_grid_release(zk);
}


/* The Nyquist conventions on a field made of Nyquist modes: drop removes
** them from every derivative; zero_k treats the Nyquist index as k = 0,
** so dx of cos(pi x / h) (h the spacing) is 0 and the laplacian of
** cos(pi x / h) cos(y) is -cos(pi x / h) cos(y). */
static void test_nyquist_conventions(void) {
  int64_t n[2] = {8, 8};
  const trig_mode modes[] = {{{4, 1, 0}, 1.0, 0}};
  for (int c = 0; c < 2; c++) {
    kubo_nyquist ny = c == 0 ? KUBO_NYQUIST_DROP : KUBO_NYQUIST_ZERO_K;
    kubo_grid *g;
    CHECK_OK(kubo_grid_new(&g, 2, n, NULL, ny));
    double u[64], got[64], want[64];
    trig_eval(g, modes, 1, VALUE, u);

    apply_real(g, KUBO_GRID_DX, 0, u, got);
    CHECK_NEAR(max_abs(got, 64), 0, 1e-14);

    /* cos(4x + y) = cos(4x) cos(y) - sin(4x) sin(y), and sin(4x) = 0 at
    ** the nodes, so u = cos(4x) cos(y). */
    apply_real(g, KUBO_GRID_LAPLACIAN, 0, u, got);
    for (int i = 0; i < 64; i++) want[i] = c == 0 ? 0 : -u[i];
    CHECK_NEAR(max_abs_diff(got, want, 64), 0, 1e-13);

    apply_real(g, KUBO_GRID_IDENTITY, 0, u, got);
    for (int i = 0; i < 64; i++) want[i] = c == 0 ? 0 : u[i];
    CHECK_NEAR(max_abs_diff(got, want, 64), 0, 1e-14);
    kubo_grid_release(g);
  }
}


/* ---------------------------------------------------------------------
** Transforms
** ------------------------------------------------------------------- */

/* fft then ifft returns the field, and the forward transform is the
** unnormalised DFT: the spectrum of cos(2 x) on 16 points is 8 at
** ix = 2. */
static void test_transform_normalisation(void) {
  int64_t n[1] = {16};
  kubo_grid *g;
  CHECK_OK(kubo_grid_new(&g, 1, n, NULL, KUBO_NYQUIST_DROP));
  double u[16], spec[18], back[16];
  for (int i = 0; i < 16; i++) u[i] = cos(2 * 2 * M_PI * i / 16.0);
  CHECK_OK(kubo_grid_fft(g, 1, u, spec));
  CHECK_NEAR(spec[4], 8, 1e-13);
  CHECK_NEAR(spec[5], 0, 1e-13);
  CHECK_NEAR(spec[0], 0, 1e-13);
  CHECK_OK(kubo_grid_ifft(g, 1, spec, back));
  CHECK_NEAR(max_abs_diff(u, back, 16), 0, 1e-15);
  CHECK_NEAR(spec[4], 8, 1e-13);   /* ifft left its input alone */
  kubo_grid_release(g);
}


/* Parseval: sum |u|^2 = (1/M) sum over the full spectrum |u^|^2, with the
** half-spectrum columns 0 < ix < nx/2 counted twice. The weights here
** are written out independently of the engine's. */
static void check_parseval(int ndim, const int64_t *n, kubo_nyquist ny) {
  kubo_grid *g;
  CHECK_OK(kubo_grid_new(&g, ndim, n, NULL, ny));
  int64_t M = kubo_grid_real_size(g), H = kubo_grid_spectral_size(g);
  int64_t nxh = n[0] / 2 + 1;
  double *u = kubo_alloc((size_t)M * sizeof(double));
  double *s = kubo_alloc((size_t)(2 * H) * sizeof(double));
  kubo_rng rng;
  kubo_rng_init(&rng, 42, 7);
  kubo_rng_normal(&rng, u, M);

  double real_sum = 0, spec_sum = 0;
  for (int64_t i = 0; i < M; i++) real_sum += u[i] * u[i];
  CHECK_OK(kubo_grid_fft(g, 1, u, s));
  for (int64_t p = 0; p < H; p++) {
    int64_t ix = p % nxh;
    double w = ix == 0 || 2 * ix == n[0] ? 1 : 2;
    spec_sum += w * (s[2 * p] * s[2 * p] + s[2 * p + 1] * s[2 * p + 1]);
  }
  spec_sum /= (double)M;
  CHECK_NEAR(spec_sum / real_sum, 1, 1e-13);

  /* The plain energy and the isotropic spectrum agree with it. */
  double e;
  CHECK_OK(kubo_grid_energy(g, KUBO_FIELD_PLAIN, 1, u, &e));
  CHECK_NEAR(e / (0.5 * real_sum / (double)M), 1, 1e-13);
  int64_t bins = kubo_grid_spectrum_bins(g);
  double *E = kubo_alloc((size_t)bins * sizeof(double)), total = 0;
  CHECK_OK(kubo_grid_spectrum(g, KUBO_FIELD_PLAIN, 1, u, E));
  for (int64_t b = 0; b < bins; b++) total += E[b];
  CHECK_NEAR(total / e, 1, 1e-13);

  kubo_free(E, (size_t)bins * sizeof(double));
  kubo_free(u, (size_t)M * sizeof(double));
  kubo_free(s, (size_t)(2 * H) * sizeof(double));
  kubo_grid_release(g);
}


static void test_parseval(void) {
  int64_t n2[2] = {32, 24}, n2odd[2] = {15, 9}, n1[1] = {64}, n3[3] = {8,
                                                                   6, 4};
  for (int c = 0; c < 2; c++) {
    kubo_nyquist ny = c == 0 ? KUBO_NYQUIST_DROP : KUBO_NYQUIST_ZERO_K;
    check_parseval(2, n2, ny);
    check_parseval(2, n2odd, ny);
    check_parseval(1, n1, ny);
    check_parseval(3, n3, ny);
  }
}


/* Fills a batch, transforms it at once and field by field, and compares
** the bytes. Views at an odd offset test the unaligned path. */
static void check_batch_bits(int ndim, const int64_t *n, int64_t count,
                             int offset) {
  kubo_grid *g;
  CHECK_OK(kubo_grid_new(&g, ndim, n, NULL, KUBO_NYQUIST_DROP));
  int64_t M = kubo_grid_real_size(g), H2 = 2 * kubo_grid_spectral_size(g);
  size_t rb = (size_t)(count * M + 1) * sizeof(double);
  size_t sb = (size_t)(count * H2 + 1) * sizeof(double);
  double *u = kubo_alloc(rb), *s_all = kubo_alloc(sb);
  double *s_one = kubo_alloc(sb), *r_all = kubo_alloc(rb);
  double *r_one = kubo_alloc(rb), *r_over = kubo_alloc(rb);
  double *scratch = kubo_alloc(sb);
  kubo_rng rng;
  kubo_rng_init(&rng, 3, 1);
  kubo_rng_normal(&rng, u, count * M + 1);
  double *in = u + offset;

  CHECK_OK(kubo_grid_fft(g, count, in, s_all + offset));
  for (int64_t f = 0; f < count; f++)
    CHECK_OK(kubo_grid_fft(g, 1, in + f * M, s_one + f * H2));
  CHECK(memcmp(s_all + offset, s_one, (size_t)(count * H2) * 8) == 0);

  CHECK_OK(kubo_grid_ifft(g, count, s_one, r_all + offset));
  for (int64_t f = 0; f < count; f++)
    CHECK_OK(kubo_grid_ifft(g, 1, s_one + f * H2, r_one + f * M));
  CHECK(memcmp(r_all + offset, r_one, (size_t)(count * M) * 8) == 0);

  memcpy(scratch + offset, s_one, (size_t)(count * H2) * 8);
  CHECK_OK(kubo_grid_ifft_overwrite(g, count, scratch + offset, r_over));
  CHECK(memcmp(r_over, r_one, (size_t)(count * M) * 8) == 0);
  CHECK_NEAR(max_abs_diff(r_one, in, count * M), 0, 1e-13);

  /* The same bits with one thread. */
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  CHECK_OK(kubo_grid_fft(g, count, in, s_all));
  omp_set_num_threads(threads);
  CHECK(memcmp(s_all, s_one, (size_t)(count * H2) * 8) == 0);

  kubo_free(u, rb);
  kubo_free(r_all, rb);
  kubo_free(r_one, rb);
  kubo_free(r_over, rb);
  kubo_free(s_all, sb);
  kubo_free(s_one, sb);
  kubo_free(scratch, sb);
  kubo_grid_release(g);
}


static void test_batch_bit_identical(void) {
  int64_t n32[2] = {32, 32}, n1[1] = {32}, nodd[2] = {9, 7};
  check_batch_bits(2, n32, 128, 0);
  check_batch_bits(2, n32, 128, 1);
  check_batch_bits(2, n32, 16, 2);
  check_batch_bits(2, n32, 16, 4);
  check_batch_bits(1, n1, 128, 0);
  check_batch_bits(2, nodd, 128, 0);
  check_batch_bits(2, nodd, 17, 1);
}


/* ---------------------------------------------------------------------
** Operators
** ------------------------------------------------------------------- */

/* The 2/3 rule on 32 x 32 keeps |mx|, |my| <= 10: 21 x 21 modes of the
** full spectrum, 21 x 11 = 231 of the 32 x 17 = 544 half-spectrum modes.
** A mode with small kx but large ky must be zeroed (OR, not AND). */
static void test_dealias_count(void) {
  const int64_t sizes[][2] = {{32, 32}, {24, 36}, {33, 31}};
  for (int c = 0; c < 3; c++) {
    for (int conv = 0; conv < 2; conv++) {
      kubo_grid *g;
      CHECK_OK(kubo_grid_new(&g, 2, sizes[c], NULL,
                             conv ? KUBO_NYQUIST_ZERO_K : KUBO_NYQUIST_DROP));
      int64_t nx = sizes[c][0], ny = sizes[c][1];
      int64_t H = kubo_grid_spectral_size(g), nxh = nx / 2 + 1;

      /* Independent count over the full spectrum, signed indices. */
      int64_t zero_full = 0, zero_half = 0;
      for (int64_t iy = 0; iy < ny; iy++) {
        int64_t my = iy <= ny / 2 ? iy : ny - iy;
        for (int64_t ix = 0; ix < nx; ix++) {
          int64_t mx = ix <= nx / 2 ? ix : nx - ix;
          int zeroed = 3 * mx > nx || 3 * my > ny;
          zero_full += zeroed;
          if (ix < nxh) zero_half += zeroed;
        }
      }
      if (c == 0) {
        CHECK(zero_full == 1024 - 441);
        CHECK(zero_half == 544 - 231);
      }

      double *s = kubo_alloc((size_t)(2 * H) * sizeof(double));
      for (int64_t i = 0; i < 2 * H; i++) s[i] = 1;
      CHECK_OK(kubo_grid_spec_apply(g, KUBO_GRID_DEALIAS, 1, s));
      int64_t zeros = 0;
      for (int64_t p = 0; p < H; p++) zeros += s[2 * p] == 0;
      CHECK(zeros == zero_half);

      /* (mx, my) = (1, ny/3 + 1): kx small, ky beyond the cut. */
      int64_t p = (ny / 3 + 1) * nxh + 1;
      CHECK(s[2 * p] == 0);
      kubo_free(s, (size_t)(2 * H) * sizeof(double));
      kubo_grid_release(g);
    }
  }
}


/* ORACLES.md: psi = sin(2 k0 x) cos(2 l0 y) + 2 sin(k0 x) cos(3 l0 y) on a
** 2 pi x 3 pi box has energy 29/9 and enstrophy 2701/162. */
static void test_energy_enstrophy_oracle(void) {
  int64_t n[2] = {32, 32};
  double L[2] = {2 * M_PI, 3 * M_PI};
  for (int conv = 0; conv < 2; conv++) {
    kubo_grid *g;
    CHECK_OK(kubo_grid_new(&g, 2, n, L,
                           conv ? KUBO_NYQUIST_ZERO_K : KUBO_NYQUIST_DROP));
    double k0 = 2 * M_PI / L[0], l0 = 2 * M_PI / L[1];
    double psi[1024], omega[1024];
    for (int j = 0; j < 32; j++)
      for (int i = 0; i < 32; i++) {
        double x = L[0] * i / 32, y = L[1] * j / 32;
        psi[j * 32 + i] = sin(2 * k0 * x) * cos(2 * l0 * y) +
                          2 * sin(k0 * x) * cos(3 * l0 * y);
      }
    apply_real(g, KUBO_GRID_LAPLACIAN, 0, psi, omega);

    double e, z;
    CHECK_OK(kubo_grid_energy(g, KUBO_FIELD_STREAMFUNCTION, 1, psi, &e));
    CHECK_NEAR(e, 29.0 / 9.0, 1e-12);
    CHECK_OK(kubo_grid_enstrophy(g, KUBO_FIELD_STREAMFUNCTION, 1, psi, &z));
    CHECK_NEAR(z, 2701.0 / 162.0, 1e-11);
    CHECK_OK(kubo_grid_energy(g, KUBO_FIELD_VORTICITY, 1, omega, &e));
    CHECK_NEAR(e, 29.0 / 9.0, 1e-12);
    CHECK_OK(kubo_grid_enstrophy(g, KUBO_FIELD_VORTICITY, 1, omega, &z));
    CHECK_NEAR(z, 2701.0 / 162.0, 1e-11);

    /* Real-space check of the energy from spectral derivatives. */
    double u[1024], v[1024], sum = 0;
    apply_real(g, KUBO_GRID_DX, 0, psi, u);
    apply_real(g, KUBO_GRID_DY, 0, psi, v);
    for (int i = 0; i < 1024; i++) sum += u[i] * u[i] + v[i] * v[i];
    CHECK_NEAR(0.5 * sum / 1024, 29.0 / 9.0, 1e-12);

    /* The isotropic spectrum sums to the energy; the two modes have
    ** |k| = sqrt(52)/3 and sqrt(5), shells 4 and 3 of dk = 2/3. */
    int64_t bins = kubo_grid_spectrum_bins(g);
    double E[64] = {0}, total = 0;
    CHECK(bins <= 64);
    CHECK_NEAR(kubo_grid_spectrum_dk(g), 2.0 / 3.0, 1e-15);
    CHECK_OK(kubo_grid_spectrum(g, KUBO_FIELD_STREAMFUNCTION, 1, psi, E));
    for (int64_t b = 0; b < bins; b++) total += E[b];
    CHECK_NEAR(total, 29.0 / 9.0, 1e-12);
    CHECK_NEAR(E[4], 0.5 * 52.0 / 9.0 / 4.0, 1e-12);
    CHECK_NEAR(E[3], 0.5 * 5.0, 1e-12);

    double mean;
    CHECK_OK(kubo_grid_mean(g, 1, psi, &mean));
    CHECK_NEAR(mean, 0, 1e-15);
    kubo_grid_release(g);
  }
}


/* A symbol function that gives i kx must match dx. */
static void symbol_ikx(const double k[3], double k2, void *ud,
                       double out[2]) {
  out[0] = 0;
  out[1] = k[0];
}


static double radial_gauss(double k2, void *ud) {
  return exp(-k2 / *(double *)ud);
}


static void test_symbol_tables(void) {
  int64_t n[2] = {16, 12};
  double L[2] = {2 * M_PI, 3 * M_PI};
  kubo_grid *g;
  CHECK_OK(kubo_grid_new(&g, 2, n, L, KUBO_NYQUIST_DROP));
  int64_t H = kubo_grid_spectral_size(g);
  double u[192], s1[2 * 108], s2[2 * 108], table[2 * 108], rt[108];
  CHECK(H == 108);
  kubo_rng rng;
  kubo_rng_init(&rng, 5, 5);
  kubo_rng_normal(&rng, u, 192);
  CHECK_OK(kubo_grid_fft(g, 1, u, s1));
  memcpy(s2, s1, sizeof s1);

  kubo_grid_symbol_table(g, symbol_ikx, NULL, table);
  CHECK_OK(kubo_grid_spec_multiply(g, table, 1, s1));
  CHECK_OK(kubo_grid_spec_apply(g, KUBO_GRID_DX, 1, s2));
  CHECK(max_abs_diff(s1, s2, 2 * H) == 0);

  /* A radial filter is exp(-|k|^2 / c) at every kept mode. */
  double c = 4;
  kubo_grid_radial_table(g, radial_gauss, &c, rt);
  for (int64_t p = 0; p < H; p++)
    CHECK(rt[p] == (kubo_grid_keep(g)[p] ? exp(-kubo_grid_k2(g)[p] / c)
                                         : 0));

  /* Inverse laplacian undoes the laplacian on a zero-mean field without
  ** Nyquist content, and laplacian_power(-1) is the inverse laplacian. */
  CHECK_OK(kubo_grid_fft(g, 1, u, s1));
  s1[0] = s1[1] = 0;
  CHECK_OK(kubo_grid_spec_apply(g, KUBO_GRID_IDENTITY, 1, s1));
  memcpy(s2, s1, sizeof s1);
  CHECK_OK(kubo_grid_spec_apply(g, KUBO_GRID_LAPLACIAN, 1, s2));
  CHECK_OK(kubo_grid_spec_apply(g, KUBO_GRID_INVERSE_LAPLACIAN, 1, s2));
  CHECK_NEAR(max_abs_diff(s1, s2, 2 * H) / max_abs(s1, 2 * H), 0, 1e-14);
  memcpy(table, s1, sizeof s1);
  CHECK_OK(kubo_grid_spec_laplacian_power(g, -1, 1, table));
  CHECK_OK(kubo_grid_spec_apply(g, KUBO_GRID_INVERSE_LAPLACIAN, 1, s1));
  CHECK(memcmp(s1, table, sizeof s1) == 0);
  kubo_grid_release(g);
}


/* Inverse laplacian after laplacian on a random zero-mean field, for both
** conventions: fields drawn by random_field with no power where
** |k|^2 = 0 (which under zero_k includes the Nyquist-aliased modes). */
static double positive_spectrum(double k2, void *ud) {
  return k2 > 0 ? exp(-k2 / 50) : 0;
}


static void test_inverse_laplacian_roundtrip(void) {
  int64_t n[2] = {16, 20};
  double L[2] = {2 * M_PI, 3 * M_PI};
  for (int conv = 0; conv < 2; conv++) {
    kubo_grid *g;
    CHECK_OK(kubo_grid_new(&g, 2, n, L,
                           conv ? KUBO_NYQUIST_ZERO_K : KUBO_NYQUIST_DROP));
    double S[11 * 20], u[320], lap[320], back[320];
    kubo_grid_radial_table(g, positive_spectrum, NULL, S);
    kubo_rng rng;
    kubo_rng_init(&rng, 11, 2);
    CHECK_OK(kubo_grid_random_field(g, S, &rng, 1, u));
    apply_real(g, KUBO_GRID_LAPLACIAN, 0, u, lap);
    apply_real(g, KUBO_GRID_INVERSE_LAPLACIAN, 0, lap, back);
    CHECK_NEAR(max_abs_diff(u, back, 320) / max_abs(u, 320), 0, 1e-13);
    double mean;
    CHECK_OK(kubo_grid_mean(g, 1, u, &mean));
    CHECK_NEAR(mean, 0, 1e-15);
    kubo_grid_release(g);
  }
}


/* ---------------------------------------------------------------------
** Bad input
** ------------------------------------------------------------------- */

static void test_bad_input(void) {
  kubo_grid *g = (kubo_grid *)1;
  int64_t n1[2] = {1, 8}, n2[2] = {8, 8};
  double bad_len[2] = {2 * M_PI, -1};

  CHECK(kubo_grid_new(&g, 2, n1, NULL, KUBO_NYQUIST_DROP) == KUBO_EINVAL);
  CHECK(g == NULL);
  CHECK(strstr(kubo_error_message(), "n[1] must be at least 2 (got 1)")
        != NULL);
  CHECK(kubo_grid_new(&g, 0, n2, NULL, KUBO_NYQUIST_DROP) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "1 to 3 entries (got 0)") != NULL);
  CHECK(kubo_grid_new(&g, 4, n2, NULL, KUBO_NYQUIST_DROP) == KUBO_EINVAL);
  CHECK(kubo_grid_new(&g, 2, n2, bad_len, KUBO_NYQUIST_DROP) ==
        KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "length[2]") != NULL);
  CHECK(kubo_grid_new(&g, 2, n2, NULL, (kubo_nyquist)7) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "zero_k") != NULL);
  CHECK(kubo_nyquist_parse("zero_k") == KUBO_NYQUIST_ZERO_K);
  CHECK(kubo_nyquist_parse("drop") == KUBO_NYQUIST_DROP);
  CHECK(kubo_nyquist_parse("Drop") == -1);

  int64_t n[1] = {8};
  CHECK_OK(kubo_grid_new(&g, 1, n, NULL, KUBO_NYQUIST_DROP));
  double s[10] = {0}, u[8] = {0};
  CHECK(kubo_grid_spec_apply(g, KUBO_GRID_DY, 1, s) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "dy needs a grid with at least 2")
        != NULL);
  CHECK(kubo_grid_fft(g, -1, u, s) == KUBO_EINVAL);
  CHECK(kubo_grid_fft(g, 0, u, s) == KUBO_OK);

  double S[5] = {1, 1, -1, 1, 1};
  kubo_rng rng;
  kubo_rng_init(&rng, 1, 1);
  CHECK(kubo_grid_random_field(g, S, &rng, 1, u) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "got -1 at mode 3") != NULL);
  kubo_grid_release(g);
}


int main(void) {
  int64_t live = kubo_alloc_live_bytes();
  test_derivatives_exact();
  test_wavenumber_tables();
  test_nyquist_conventions();
  test_transform_normalisation();
  test_parseval();
  test_batch_bit_identical();
  test_dealias_count();
  test_energy_enstrophy_oracle();
  test_symbol_tables();
  test_inverse_laplacian_roundtrip();
  test_bad_input();
  CHECK(kubo_alloc_live_bytes() == live);
  return check_summary();
}
