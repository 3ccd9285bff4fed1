/*
** test_grid_noise.c: Gaussian random fields and the reference correlated
** noise, against a naive evaluation of their definition and against
** their exact covariances, with tolerances in standard errors.
*/
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/grid.h"
#include "kubo/rng.h"


/* Signed index m of FFTW index i on n points, with the Nyquist index at
** 0 (zero_k) or -n/2 (drop). */
static int64_t signed_index(int64_t i, int64_t n, int zero_k) {
  if (n % 2 == 0 && i == n / 2) return zero_k ? 0 : -n / 2;
  return i <= n / 2 ? i : i - n;
}


/* The noise amplitude a_k^2 = eps2 / (1 + |k|^2) on a 2 pi square grid,
** written out independently of the engine's tables. */
static double sigma_hat(int64_t ix, int64_t iy, int64_t n, double eps2) {
  double kx = (double)signed_index(ix, n, 1);
  double ky = (double)signed_index(iy, n, 1);
  return eps2 / (1 + kx * kx + ky * ky);
}


/* Exact covariance C(rx, ry) = sum_k a_k^2 cos(k . r) of the reference
** noise on an n x n grid, for an offset of (rx, ry) nodes. a_k uses the
** zero_k wavenumbers, but the basis function at the Nyquist index is
** still (-1)^i, so the cosine takes the true index. */
static double exact_covariance(int64_t n, double eps2, int64_t rx,
                               int64_t ry) {
  double sum = 0;
  for (int64_t iy = 0; iy < n; iy++)
    for (int64_t ix = 0; ix < n; ix++) {
      double kx = (double)signed_index(ix, n, 0);
      double ky = (double)signed_index(iy, n, 0);
      /* With L = 2 pi the node spacing is 2 pi / n. */
      double arg = (kx * rx + ky * ry) * 2 * M_PI / n;
      sum += sigma_hat(ix, iy, n, eps2) * cos(arg);
    }
  return sum;
}


/* Naive reference: eta_x = sum over the full spectrum of
** a_k (xi_k cos(k.x) - zeta_k sin(k.x)), with xi and zeta read from the
** member's stream as the contract lays them out. */
static void naive_noise(const kubo_grid *g, const double *amplitude,
                        const kubo_rng *rng, double *out) {
  int64_t nx = kubo_grid_n(g, 0), ny = kubo_grid_n(g, 1);
  int64_t M = nx * ny, nxh = nx / 2 + 1;
  double z[2 * 64];
  kubo_rng_normal_at(rng->seed, rng->stream, rng->position, z, 2 * M);

  for (int64_t j = 0; j < ny; j++)
    for (int64_t i = 0; i < nx; i++) {
      double x = 2 * M_PI * i / nx, y = 2 * M_PI * j / ny, sum = 0;
      for (int64_t iy = 0; iy < ny; iy++)
        for (int64_t ix = 0; ix < nx; ix++) {
          /* a_k from the half spectrum: a_-k = a_k. */
          int64_t hx = ix < nxh ? ix : nx - ix;
          int64_t hy = ix < nxh ? iy : (ny - iy) % ny;
          double a = amplitude[hy * nxh + hx];
          /* The basis function uses the true index (Nyquist is (-1)^n
          ** whatever the convention). */
          double kx = (double)signed_index(ix, nx, 0);
          double ky = (double)signed_index(iy, ny, 0);
          double arg = kx * x + ky * y;
          int64_t k = iy * nx + ix;
          sum += a * (z[2 * k] * cos(arg) - z[2 * k + 1] * sin(arg));
        }
      out[j * nx + i] = sum;
    }
}


static void test_noise_matches_definition(void) {
  int64_t sizes[][2] = {{4, 6}, {6, 4}, {5, 3}};
  for (int c = 0; c < 3; c++)
    for (int conv = 0; conv < 2; conv++) {
      kubo_grid *g;
      CHECK_OK(kubo_grid_new(&g, 2, sizes[c], NULL,
                             conv ? KUBO_NYQUIST_ZERO_K : KUBO_NYQUIST_DROP));
      int64_t M = kubo_grid_real_size(g), H = kubo_grid_spectral_size(g);
      double amplitude[64], got[3 * 64], want[64];
      kubo_grid_noise_amplitude(g, 0.3, amplitude);
      CHECK(H <= 64);

      kubo_rng rngs[3];
      for (int m = 0; m < 3; m++) kubo_rng_init(&rngs[m], 99, 10 + m);
      rngs[2].position = 1000;
      kubo_rng before[3];
      memcpy(before, rngs, sizeof rngs);
      CHECK_OK(kubo_grid_noise(g, amplitude, 3, rngs, got));
      for (int m = 0; m < 3; m++) {
        CHECK(rngs[m].position == before[m].position + (uint64_t)M);
        naive_noise(g, amplitude, &before[m], want);
        double err = 0;
        for (int64_t i = 0; i < M; i++)
          err = fmax(err, fabs(got[m * M + i] - want[i]));
        CHECK_NEAR(err, 0, 1e-13);
      }
      kubo_grid_release(g);
    }
}


/* Members drawn together give the same bits as members drawn one at a
** time, with any thread count. */
static void test_noise_batch_bits(void) {
  int64_t n[2] = {32, 32};
  kubo_grid *g;
  CHECK_OK(kubo_grid_new(&g, 2, n, NULL, KUBO_NYQUIST_ZERO_K));
  int64_t M = 1024, members = 128;
  size_t bytes = (size_t)(members * M) * sizeof(double);
  double *all = kubo_alloc(bytes), *one = kubo_alloc(bytes);
  double *serial = kubo_alloc(bytes), amplitude[32 * 17];
  kubo_grid_noise_amplitude(g, 0.004, amplitude);
  kubo_rng a[128], b[128], c[128];
  for (int m = 0; m < members; m++) {
    kubo_rng_init(&a[m], 1234, (uint64_t)m);
    a[m].position = 77 * (uint64_t)M;
  }
  memcpy(b, a, sizeof a);
  memcpy(c, a, sizeof a);

  CHECK_OK(kubo_grid_noise(g, amplitude, members, a, all));
  for (int m = 0; m < members; m++)
    CHECK_OK(kubo_grid_noise(g, amplitude, 1, &b[m], one + m * M));
  CHECK(memcmp(all, one, bytes) == 0);

  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  CHECK_OK(kubo_grid_noise(g, amplitude, members, c, serial));
  omp_set_num_threads(threads);
  CHECK(memcmp(all, serial, bytes) == 0);
  kubo_free(all, bytes);
  kubo_free(one, bytes);
  kubo_free(serial, bytes);
  kubo_grid_release(g);
}


/* The per-pixel variance per unit time of the reference noise on the
** 32 x 32 grid (zero_k, eps2 = 0.004) is 0.099994, and its covariance
** at offsets (1, 0), (2, 1), (16, 0) is 0.0404, 0.0239, 0.0183. The
** estimates average eta_x eta_{x+r} over all pixels of F fields; for a
** Gaussian field the variance of one field's average is
** (1/M) sum_d [C(d)^2 + C(d + r) C(d - r)], computed here exactly. */
static void test_noise_covariance(void) {
  const int64_t n = 32, M = 1024, F = 4096;
  const double eps2 = 0.004;
  kubo_grid *g;
  int64_t nn[2] = {n, n};
  CHECK_OK(kubo_grid_new(&g, 2, nn, NULL, KUBO_NYQUIST_ZERO_K));

  /* Exact covariance table over all offsets. */
  static double C[32][32];
  for (int64_t ry = 0; ry < n; ry++)
    for (int64_t rx = 0; rx < n; rx++)
      C[ry][rx] = exact_covariance(n, eps2, rx, ry);
  CHECK_NEAR(C[0][0], 0.099994, 1e-6);
  CHECK_NEAR(C[0][1], 0.0404, 5e-5);
  CHECK_NEAR(C[1][2], 0.0239, 5e-5);
  CHECK_NEAR(C[0][16], 0.0183, 5e-5);

  /* The engine's amplitude table gives the same total variance. */
  double amplitude[32 * 17], total = 0;
  kubo_grid_noise_amplitude(g, eps2, amplitude);
  for (int64_t p = 0; p < 32 * 17; p++) {
    int64_t ix = p % 17;
    total += (ix == 0 || ix == 16 ? 1 : 2) * amplitude[p] * amplitude[p];
  }
  CHECK_NEAR(total, C[0][0], 1e-15);

  size_t bytes = (size_t)(F * M) * sizeof(double);
  double *eta = kubo_alloc(bytes);
  kubo_rng *rngs = kubo_alloc((size_t)F * sizeof(kubo_rng));
  for (int64_t m = 0; m < F; m++) kubo_rng_init(&rngs[m], 2024, (uint64_t)m);
  CHECK_OK(kubo_grid_noise(g, amplitude, F, rngs, eta));

  const int offsets[4][2] = {{0, 0}, {1, 0}, {2, 1}, {16, 0}};
  for (int o = 0; o < 4; o++) {
    int rx = offsets[o][0], ry = offsets[o][1];
    double sum = 0;
    for (int64_t f = 0; f < F; f++) {
      const double *e = eta + f * M;
      for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++)
          sum += e[j * n + i] * e[((j + ry) % n) * n + (i + rx) % n];
    }
    double estimate = sum / (double)(F * M);

    double var = 0;
    for (int64_t dy = 0; dy < n; dy++)
      for (int64_t dx = 0; dx < n; dx++) {
        double plus = C[(dy + ry) % n][(dx + rx) % n];
        double minus = C[(dy - ry + n) % n][(dx - rx + n) % n];
        var += C[dy][dx] * C[dy][dx] + plus * minus;
      }
    double se = sqrt(var / (double)M / (double)F);
    CHECK_NEAR(estimate, C[ry][rx], 4 * se);
  }
  kubo_free(eta, bytes);
  kubo_free(rngs, (size_t)F * sizeof(kubo_rng));
  kubo_grid_release(g);
}


/* ---------------------------------------------------------------------
** Random fields
** ------------------------------------------------------------------- */

/* Draws F fields with spectrum table S and checks that the per-point
** variance is want (the full-spectrum sum of S) within 4 standard errors.
** se1 is the standard error of one field's spatial mean of u^2, which is
** sqrt(2 sum_k S_k^2) for a Gaussian field. */
static void check_field_variance(const kubo_grid *g, const double *S,
                                 double want, double se1, int64_t F) {
  int64_t M = kubo_grid_real_size(g);
  size_t bytes = (size_t)(F * M) * sizeof(double);
  double *u = kubo_alloc(bytes);
  kubo_rng rng;
  kubo_rng_init(&rng, 8, 8);
  CHECK_OK(kubo_grid_random_field(g, S, &rng, F, u));
  CHECK(rng.position == (uint64_t)(F * kubo_grid_spectral_size(g)));
  double sum = 0;
  for (int64_t i = 0; i < F * M; i++) sum += u[i] * u[i];
  CHECK_NEAR(sum / (double)(F * M), want, 4 * se1 / sqrt((double)F));
  kubo_free(u, bytes);
}


/* S only on the kx = 0 column, away from k = 0: each pair k, -k lies in
** the stored half spectrum, so a draw that is not Hermitian would lose
** half of its power in the complex-to-real transform. The full spectrum
** has ny - 2 such modes under drop (k = 0 and the Nyquist row left out)
** and ny - 1 under zero_k. */
static void test_random_field_hermitian(void) {
  int64_t n[2] = {8, 16};
  for (int conv = 0; conv < 2; conv++) {
    kubo_grid *g;
    CHECK_OK(kubo_grid_new(&g, 2, n, NULL,
                           conv ? KUBO_NYQUIST_ZERO_K : KUBO_NYQUIST_DROP));
    double S[16 * 5] = {0};
    for (int iy = 1; iy < 16; iy++) S[iy * 5] = 1;
    double modes = conv ? 15 : 14;
    check_field_variance(g, S, modes, sqrt(2 * modes), 2000);
    kubo_grid_release(g);
  }
}


static double gauss_spectrum(double k2, void *ud) {
  return exp(-k2 / 10);
}


/* A smooth spectrum: the expected variance is the full-spectrum sum of
** exp(-|k|^2 / 10), written out with signed indices. */
static void test_random_field_variance(void) {
  int64_t n[2] = {12, 9};
  double L[2] = {2 * M_PI, 3 * M_PI};
  for (int conv = 0; conv < 2; conv++) {
    kubo_grid *g;
    CHECK_OK(kubo_grid_new(&g, 2, n, L,
                           conv ? KUBO_NYQUIST_ZERO_K : KUBO_NYQUIST_DROP));
    double S[9 * 7], want = 0, sum_sq = 0;
    kubo_grid_radial_table(g, gauss_spectrum, NULL, S);
    for (int64_t iy = 0; iy < 9; iy++)
      for (int64_t ix = 0; ix < 12; ix++) {
        if (!conv && ix == 6) continue;      /* dropped Nyquist column */
        double kx = (double)signed_index(ix, 12, conv);
        double ky = (double)signed_index(iy, 9, conv) * 2.0 / 3.0;
        double s = exp(-(kx * kx + ky * ky) / 10);
        want += s;
        sum_sq += s * s;
      }
    check_field_variance(g, S, want, sqrt(2 * sum_sq), 2000);
    kubo_grid_release(g);
  }
}


int main(void) {
  int64_t live = kubo_alloc_live_bytes();
  test_noise_matches_definition();
  test_noise_batch_bits();
  test_noise_covariance();
  test_random_field_hermitian();
  test_random_field_variance();
  CHECK(kubo_alloc_live_bytes() == live);
  return check_summary();
}
