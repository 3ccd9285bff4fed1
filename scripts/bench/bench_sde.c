/*
** bench_sde.c: the cost of an ensemble step against the FFTs it must do,
** in one run.
**
** Built and run by scripts/bench/bench_sde.sh. Prints:
**   Allen-Cahn 32x32, 128 members, RK4: member-steps per second, and
**     the ratio of the step's time to the time of its 8 transforms per
**     member. These are 4 inverse and 4 forward transforms, one each per
**     RK4 stage, because the state is kept as half spectra and the noise
**     is added in spectral space. They are timed in the same run as bare
**     FFTW one-field plans looped over the members. Also printed: the
**     time of the noise draw alone (2 H normals per member and step from
**     kubo_rng_normal_at);
**   OU 32x32, 128 members: member-steps per second (no transforms);
**   Navier-Stokes 32x32 (64 members) and 256x256 (2 members), RK4:
**     milliseconds per member-step, and the ratio to its 32 transforms
**     (5 inverse and 3 forward per stage).
** Each figure is the best of 3 rounds of at least 0.5 s.
**
**   bench_sde [members]     default 128 (Allen-Cahn and OU)
*/
#include <fftw3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kubo/alloc.h"
#include "kubo/grid.h"
#include "kubo/integrator.h"
#include "kubo/model.h"
#include "kubo/rng.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}


static void die(const char *what) {
  fprintf(stderr, "bench_sde: %s failed: %s\n", what, kubo_error_message());
  exit(1);
}


/* Seconds per step of sim, best of 3 rounds of at least 0.5 s. */
static double seconds_per_step(kubo_sim *sim) {
  double best = 1e300;
  int64_t steps = 1;
  if (kubo_sim_advance(sim, 2) != KUBO_OK) die("warm-up step");
  for (int round = 0; round < 3; round++) {
    double start = now(), elapsed;
    int64_t done = 0;
    do {
      if (kubo_sim_advance(sim, steps) != KUBO_OK) die("advance");
      done += steps;
      elapsed = now() - start;
      if (elapsed < 0.05) steps *= 2;
    } while (elapsed < 0.5);
    if (elapsed / (double)done < best) best = elapsed / (double)done;
  }
  return best;
}


/* Seconds for one forward and one inverse one-field transform of an n x n
** grid, averaged over a loop across count fields (the floor of what a
** member-by-member step can do). */
static void transform_seconds(int n, int count, double *forward,
                              double *inverse) {
  int64_t M = (int64_t)n * n, H2 = (int64_t)n * (n / 2 + 1) * 2;
  double *real = kubo_alloc((size_t)(M * count) * sizeof(double));
  double *spec = kubo_alloc((size_t)(H2 * count) * sizeof(double));
  for (int64_t i = 0; i < M * count; i++) real[i] = (double)(i % 7) - 3;
  kubo_fftw_lock();
  fftw_plan f = fftw_plan_dft_r2c_2d(n, n, real, (fftw_complex *)spec,
                                     FFTW_ESTIMATE);
  fftw_plan b = fftw_plan_dft_c2r_2d(n, n, (fftw_complex *)spec, real,
                                     FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
  kubo_fftw_unlock();
  double best_f = 1e300, best_b = 1e300;
  for (int round = 0; round < 3; round++) {
    long reps = 0;
    double start = now(), t_f = 0, t_b = 0;
    do {
      double t0 = now();
      for (int j = 0; j < count; j++)
        fftw_execute_dft_r2c(f, real + j * M, (fftw_complex *)(spec +
                                                               j * H2));
      double t1 = now();
      for (int j = 0; j < count; j++)
        fftw_execute_dft_c2r(b, (fftw_complex *)(spec + j * H2),
                             real + j * M);
      double t2 = now();
      t_f += t1 - t0;
      t_b += t2 - t1;
      reps++;
      /* keep the values bounded: c2r scales by M */
      for (int64_t i = 0; i < M * count; i++) real[i] /= (double)M;
    } while (now() - start < 0.5);
    if (t_f / reps < best_f) best_f = t_f / reps;
    if (t_b / reps < best_b) best_b = t_b / reps;
  }
  kubo_fftw_lock();
  fftw_destroy_plan(f);
  fftw_destroy_plan(b);
  kubo_fftw_unlock();
  kubo_free(real, (size_t)(M * count) * sizeof(double));
  kubo_free(spec, (size_t)(H2 * count) * sizeof(double));
  *forward = best_f / count;
  *inverse = best_b / count;
}


/* Seconds to draw n normals for one member and step. */
static double noise_seconds(int64_t n, int members) {
  double *z = kubo_alloc((size_t)n * sizeof(double));
  double best = 1e300;
  for (int round = 0; round < 3; round++) {
    long reps = 0;
    double start = now(), elapsed;
    do {
      for (int j = 0; j < members; j++)
        kubo_rng_normal_at(1, (uint64_t)j, (uint64_t)reps * n, z, n);
      reps++;
      elapsed = now() - start;
    } while (elapsed < 0.5);
    if (elapsed / (double)(reps * members) < best)
      best = elapsed / (double)(reps * members);
  }
  kubo_free(z, (size_t)n * sizeof(double));
  return best;
}


static kubo_sim *make_sim(const char *kind, int n, int64_t members) {
  kubo_grid *g = NULL;
  int64_t sizes[2] = {n, n};
  kubo_model *m = NULL;
  kubo_sim *sim = NULL;
  kubo_sim_options opt;
  if (kubo_grid_new(&g, 2, sizes, NULL, KUBO_NYQUIST_ZERO_K) != KUBO_OK)
    die("grid");
  if (kubo_model_new(&m, kind, g) != KUBO_OK) die("model");
  kubo_sim_options_default(&opt);
  opt.members = members;
  if (kubo_sim_new(&sim, m, &opt) != KUBO_OK) die("integrator");
  kubo_model_release(m);
  kubo_grid_release(g);
  return sim;
}


int main(int argc, char **argv) {
  int64_t members = argc > 1 ? atoll(argv[1]) : 128;
  double fwd, inv;

  kubo_sim *ac = make_sim("allen_cahn", 32, members);
  double t_ac = seconds_per_step(ac) / (double)members;
  transform_seconds(32, (int)members, &fwd, &inv);
  double t_fft = 4 * fwd + 4 * inv;
  double t_noise = noise_seconds(2 * 32 * 17, (int)members);
  printf("allen_cahn 32x32, %lld members, rk4:\n", (long long)members);
  printf("  %.0f member-steps/s (%.2f us per member-step)\n", 1 / t_ac,
         1e6 * t_ac);
  printf("  8 transforms per member-step: %.2f us (r2c %.2f, c2r %.2f)\n",
         1e6 * t_fft, 1e6 * fwd, 1e6 * inv);
  printf("  step / transforms: %.2f\n", t_ac / t_fft);
  printf("  noise draw (1088 normals): %.2f us per member-step\n",
         1e6 * t_noise);
  kubo_sim_free(ac);

  kubo_sim *ou = make_sim("ou", 32, members);
  double t_ou = seconds_per_step(ou) / (double)members;
  printf("ou 32x32, %lld members, rk4: %.0f member-steps/s (%.2f us)\n",
         (long long)members, 1 / t_ou, 1e6 * t_ou);
  kubo_sim_free(ou);

  static const int sizes[2] = {32, 256}, ns_members[2] = {64, 2};
  for (int i = 0; i < 2; i++) {
    int n = sizes[i];
    kubo_sim *ns = make_sim("navier_stokes", n, ns_members[i]);
    double t_ns = seconds_per_step(ns) / ns_members[i];
    transform_seconds(n, ns_members[i], &fwd, &inv);
    double floor = 4 * (3 * fwd + 5 * inv);
    printf("navier_stokes %dx%d, %d members, rk4: %.3f ms per "
           "member-step; 32 transforms %.3f ms; ratio %.2f\n", n, n,
           ns_members[i], 1e3 * t_ns, 1e3 * floor, t_ns / floor);
    kubo_sim_free(ns);
  }
  return 0;
}
