/*
** bench_fft.c: kubo's batched grid transforms against bare FFTW calls on
** the same data, and kubo's spectral x-derivative, in one run.
**
** Built and run by scripts/bench/fft.sh. For each size it times, per
** field of a batch:
**   kubo fft            kubo_grid_fft over the batch
**   fftw r2c loop       fftw_execute_dft_r2c with a one-field plan, per field
**   fftw r2c howmany    one FFTW_ESTIMATE plan over the whole batch
**   kubo ifft           kubo_grid_ifft (copies, scales, transforms)
**   kubo ifft_overwrite kubo_grid_ifft_overwrite (scales in place)
**   fftw c2r howmany    the bare inverse, unscaled, overwriting its input
**   kubo dx             fft, multiply by i kx, ifft_overwrite
**   kubo noise          kubo_grid_noise (2 M normals and one inverse
**                       transform per field)
** and prints the ratio of kubo's time to the best bare FFTW time. Each
** figure is the best of 5 rounds of at least 0.2 s.
**
**   bench_fft [nx ny count] ...   default: 32 32 128  256 256 16
*/
#include <fftw3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubo/alloc.h"
#include "kubo/grid.h"
#include "kubo/rng.h"

typedef struct bench_case {
  kubo_grid *grid;
  int64_t count, M, H2;
  double *real, *spec, *work, *out, *amplitude;
  kubo_rng *rngs;
  fftw_plan r2c_one, r2c_many, c2r_many;
} bench_case;

typedef void (*bench_fn)(bench_case *c);


static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}


/* Returns the best time per field in microseconds of fn over 5 rounds,
** each repeating fn for at least 0.2 s. */
static double time_per_field(bench_case *c, bench_fn fn) {
  double best = 1e300;
  fn(c);
  for (int round = 0; round < 5; round++) {
    long reps = 0;
    double start = now(), elapsed;
    do {
      fn(c);
      reps++;
      elapsed = now() - start;
    } while (elapsed < 0.2);
    double per = elapsed / (double)reps / (double)c->count * 1e6;
    if (per < best) best = per;
  }
  return best;
}


static void run_kubo_fft(bench_case *c) {
  kubo_grid_fft(c->grid, c->count, c->real, c->spec);
}


static void run_fftw_loop(bench_case *c) {
  for (int64_t f = 0; f < c->count; f++)
    fftw_execute_dft_r2c(c->r2c_one, c->real + f * c->M,
                         (fftw_complex *)(c->spec + f * c->H2));
}


static void run_fftw_many(bench_case *c) {
  fftw_execute_dft_r2c(c->r2c_many, c->real, (fftw_complex *)c->spec);
}


static void run_kubo_ifft(bench_case *c) {
  kubo_grid_ifft(c->grid, c->count, c->spec, c->out);
}


static void run_kubo_ifft_overwrite(bench_case *c) {
  /* The input is consumed, so each call starts from a fresh copy. The
  ** copy counts in the time, as it would in a caller's loop. */
  memcpy(c->work, c->spec, (size_t)(c->count * c->H2) * sizeof(double));
  kubo_grid_ifft_overwrite(c->grid, c->count, c->work, c->out);
}


static void run_fftw_c2r(bench_case *c) {
  /* Overwrites work with intermediate values each time; the cost of a
  ** complex-to-real transform does not depend on them. */
  fftw_execute_dft_c2r(c->c2r_many, (fftw_complex *)c->work, c->out);
}


static void run_kubo_dx(bench_case *c) {
  kubo_grid_fft(c->grid, c->count, c->real, c->work);
  kubo_grid_spec_apply(c->grid, KUBO_GRID_DX, c->count, c->work);
  kubo_grid_ifft_overwrite(c->grid, c->count, c->work, c->out);
}


static void run_kubo_noise(bench_case *c) {
  kubo_grid_noise(c->grid, c->amplitude, c->count, c->rngs, c->out);
}


static int bench_size(int nx, int ny, int64_t count) {
  bench_case c;
  memset(&c, 0, sizeof c);
  int64_t n[2] = {nx, ny};
  if (kubo_grid_new(&c.grid, 2, n, NULL, KUBO_NYQUIST_DROP) != KUBO_OK) {
    fprintf(stderr, "bench_fft: %s\n", kubo_error_message());
    return 1;
  }
  c.count = count;
  c.M = kubo_grid_real_size(c.grid);
  c.H2 = 2 * kubo_grid_spectral_size(c.grid);
  size_t rb = (size_t)(count * c.M) * sizeof(double);
  size_t sb = (size_t)(count * c.H2) * sizeof(double);
  c.real = kubo_alloc(rb);
  c.out = kubo_alloc(rb);
  c.spec = kubo_alloc(sb);
  c.work = kubo_alloc(sb);
  c.amplitude = kubo_alloc(sb / 2 / (size_t)count);
  c.rngs = kubo_alloc((size_t)count * sizeof(kubo_rng));
  if (!c.real || !c.out || !c.spec || !c.work || !c.amplitude || !c.rngs) {
    fprintf(stderr, "bench_fft: out of memory\n");
    return 1;
  }
  kubo_rng rng;
  kubo_rng_init(&rng, 1, 1);
  kubo_rng_normal(&rng, c.real, count * c.M);
  kubo_grid_noise_amplitude(c.grid, 0.004, c.amplitude);
  for (int64_t f = 0; f < count; f++) kubo_rng_init(&c.rngs[f], 1, f);

  /* Bare FFTW plans on the same arrays; FFTW_ESTIMATE leaves them as
  ** they are. dims are (ny, nx), row-major. */
  int dims[2] = {ny, nx};
  int h = (int)(c.H2 / 2), m = (int)c.M;
  kubo_fftw_lock();
  c.r2c_one = fftw_plan_dft_r2c(2, dims, c.real, (fftw_complex *)c.spec,
                                FFTW_ESTIMATE);
  c.r2c_many = fftw_plan_many_dft_r2c(2, dims, (int)count, c.real, NULL, 1,
                                      m, (fftw_complex *)c.spec, NULL, 1, h,
                                      FFTW_ESTIMATE);
  c.c2r_many = fftw_plan_many_dft_c2r(2, dims, (int)count,
                                      (fftw_complex *)c.work, NULL, 1, h,
                                      c.out, NULL, 1, m, FFTW_ESTIMATE);
  kubo_fftw_unlock();
  kubo_grid_fft(c.grid, count, c.real, c.spec);
  memcpy(c.work, c.spec, sb);

  double t_fft = time_per_field(&c, run_kubo_fft);
  double t_loop = time_per_field(&c, run_fftw_loop);
  double t_many = time_per_field(&c, run_fftw_many);
  double t_ifft = time_per_field(&c, run_kubo_ifft);
  double t_ifft_over = time_per_field(&c, run_kubo_ifft_overwrite);
  double t_c2r = time_per_field(&c, run_fftw_c2r);
  double t_dx = time_per_field(&c, run_kubo_dx);
  double t_noise = time_per_field(&c, run_kubo_noise);
  double bare_fwd = t_loop < t_many ? t_loop : t_many;

  printf("%dx%d, batch %lld (microseconds per field)\n", nx, ny,
         (long long)count);
  printf("  %-30s %10.3f   ratio to best bare r2c %.2f\n", "kubo fft",
         t_fft, t_fft / bare_fwd);
  printf("  %-30s %10.3f\n", "fftw r2c loop", t_loop);
  printf("  %-30s %10.3f\n", "fftw r2c howmany", t_many);
  printf("  %-30s %10.3f   ratio to bare c2r %.2f\n", "kubo ifft", t_ifft,
         t_ifft / t_c2r);
  printf("  %-30s %10.3f   ratio to bare c2r %.2f (includes a copy)\n",
         "kubo ifft_overwrite", t_ifft_over, t_ifft_over / t_c2r);
  printf("  %-30s %10.3f\n", "fftw c2r howmany", t_c2r);
  printf("  %-30s %10.3f\n", "kubo dx (fft, i kx, ifft)", t_dx);
  printf("  %-30s %10.3f\n", "kubo noise (eps2 0.004)", t_noise);

  fftw_destroy_plan(c.r2c_one);
  fftw_destroy_plan(c.r2c_many);
  fftw_destroy_plan(c.c2r_many);
  kubo_free(c.real, rb);
  kubo_free(c.out, rb);
  kubo_free(c.spec, sb);
  kubo_free(c.work, sb);
  kubo_free(c.amplitude, sb / 2 / (size_t)count);
  kubo_free(c.rngs, (size_t)count * sizeof(kubo_rng));
  kubo_grid_release(c.grid);
  return 0;
}


int main(int argc, char **argv) {
  if (argc > 1 && (argc - 1) % 3 != 0) {
    fprintf(stderr, "usage: bench_fft [nx ny count] ...\n");
    return 2;
  }
  if (argc == 1) {
    if (bench_size(32, 32, 128) || bench_size(256, 256, 16)) return 1;
    return 0;
  }
  for (int i = 1; i < argc; i += 3) {
    int nx = atoi(argv[i]), ny = atoi(argv[i + 1]);
    long count = atol(argv[i + 2]);
    if (nx < 2 || ny < 2 || count < 1) {
      fprintf(stderr, "bench_fft: sizes must be >= 2 and count >= 1\n");
      return 2;
    }
    if (bench_size(nx, ny, count)) return 1;
  }
  return 0;
}
