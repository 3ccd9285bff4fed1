/*
** bench_rng_h5.c: wall-clock throughput of kubo's Philox fills and of its
** HDF5 writes, reads and streaming appends. Each figure is the best of
** five runs. Built and run by scripts/bench/rng_h5.sh.
**
**   bench_rng_h5 FOLDER [log2 n]   FOLDER receives scratch HDF5 files
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

#include "kubo/h5.h"
#include "kubo/rng.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


static void die(const char *what) {
  fprintf(stderr, "bench_rng_h5: %s: %s\n", what, kubo_error_message());
  exit(1);
}


/* Prints the best of five timings of a tensor fill, in ns per value. */
static void bench_fill(const char *label, kubo_tensor *t, int normal) {
  kubo_rng rng;
  double best = 1e30;
  int64_t n = kubo_tensor_numel(t);
  kubo_rng_init(&rng, 1, 0);
  for (int rep = 0; rep < 5; rep++) {
    double start = now();
    kubo_status s = normal ? kubo_rng_fill_normal(&rng, t, 0, 1)
                           : kubo_rng_fill_uniform(&rng, t, 0, 1);
    double elapsed = now() - start;
    if (s != KUBO_OK) die(label);
    if (elapsed < best) best = elapsed;
  }
  printf("  %-34s %8.2f ns/value %9.1f Mvalues/s\n", label,
         best / (double)n * 1e9, (double)n / best * 1e-6);
}


static void bench_rng(int64_t n) {
  int64_t shape[1] = {n};
  kubo_tensor t64, t32;
  int threads = omp_get_max_threads();
  if (kubo_tensor_init(&t64, KUBO_FLOAT64, 1, shape) != KUBO_OK ||
      kubo_tensor_init(&t32, KUBO_FLOAT32, 1, shape) != KUBO_OK)
    die("tensor");
  for (int pass = 0; pass < 2; pass++) {
    int use = pass == 0 ? 1 : threads;
    if (pass == 1 && threads == 1) break;
    omp_set_num_threads(use);
    printf("Philox fills of %lld values, %d thread%s\n", (long long)n, use,
           use == 1 ? "" : "s");
    bench_fill("normal float64", &t64, 1);
    bench_fill("normal float32", &t32, 1);
    bench_fill("uniform float64", &t64, 0);
    bench_fill("uniform float32", &t32, 0);
  }
  omp_set_num_threads(threads);
  kubo_tensor_release(&t64);
  kubo_tensor_release(&t32);
}


static void bench_h5(const char *dir, int64_t n) {
  char path[4096];
  int64_t shape[1] = {n}, frame[3] = {128, 32, 32};
  kubo_tensor t, back, f;
  kubo_rng rng;
  double best_w = 1e30, best_r = 1e30, best_s = 1e30, best_c = 1e30;
  double mib = (double)n * 8 / (1 << 20);
  const int frames = 200;
  double frame_mib = 128.0 * 32 * 32 * 4 / (1 << 20);
  snprintf(path, sizeof path, "%s/bench.h5", dir);
  kubo_rng_init(&rng, 2, 0);
  if (kubo_tensor_init(&t, KUBO_FLOAT64, 1, shape) != KUBO_OK ||
      kubo_tensor_init(&f, KUBO_FLOAT32, 3, frame) != KUBO_OK)
    die("tensor");
  kubo_rng_fill_normal(&rng, &t, 0, 1);
  kubo_rng_fill_normal(&rng, &f, 0, 1);

  for (int rep = 0; rep < 5; rep++) {
    double start = now();
    if (kubo_h5_write(path, "/x", &t, NULL, 0) != KUBO_OK) die("write");
    double mid = now();
    if (kubo_h5_read(path, "/x", &back, NULL) != KUBO_OK) die("read");
    double end = now();
    kubo_tensor_release(&back);
    unlink(path);
    if (mid - start < best_w) best_w = mid - start;
    if (end - mid < best_r) best_r = end - mid;
  }
  for (int rep = 0; rep < 5; rep++) {
    for (int compress = 0; compress <= 4; compress += 4) {
      kubo_h5_writer *w;
      int id;
      double start = now();
      if (kubo_h5_writer_open(&w, path) != KUBO_OK ||
          kubo_h5_writer_dataset(w, "/traj", KUBO_FLOAT32, 3, frame,
                                 compress, 1, &id) != KUBO_OK)
        die("writer");
      for (int i = 0; i < frames; i++)
        if (kubo_h5_writer_append(w, id, &f) != KUBO_OK) die("append");
      if (kubo_h5_writer_close(w) != KUBO_OK) die("close");
      double elapsed = now() - start;
      unlink(path);
      if (compress == 0 && elapsed < best_s) best_s = elapsed;
      if (compress > 0 && elapsed < best_c) best_c = elapsed;
    }
  }
  printf("HDF5 (file in %s)\n", dir);
  printf("  %-34s %8.1f MiB/s (%.0f MiB)\n", "write float64, one call",
         mib / best_w, mib);
  printf("  %-34s %8.1f MiB/s\n", "read float64, one call", mib / best_r);
  printf("  %-34s %8.1f MiB/s (%d frames of %.2f MiB)\n",
         "writer append float32", frames * frame_mib / best_s, frames,
         frame_mib);
  printf("  %-34s %8.1f MiB/s of input (random values)\n",
         "writer append, deflate 4", frames * frame_mib / best_c);
  kubo_tensor_release(&t);
  kubo_tensor_release(&f);
}


int main(int argc, char **argv) {
  int log2n = argc > 2 ? atoi(argv[2]) : 24;
  if (argc < 2 || log2n < 10 || log2n > 30) {
    fprintf(stderr, "usage: bench_rng_h5 FOLDER [log2 n, 10..30]\n");
    return 2;
  }
  bench_rng((int64_t)1 << log2n);
  bench_h5(argv[1], (int64_t)1 << log2n);
  return 0;
}
