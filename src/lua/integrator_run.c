/*
** integrator_run.c: sim:run, which advances an ensemble while recording
** frames into tensors or appendable HDF5 datasets, with a progress line.
** Also the metadata attributes that trajectories and checkpoints carry.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "integrator_lua.h"
#include "kubo/grid.h"
#include "kubo/model.h"
#include "kubo/version.h"


/* ---------------------------------------------------------------------
** Metadata attributes (trajectory datasets and checkpoints)
** ------------------------------------------------------------------- */

kubo_status kb_sim_model_attrs(kubo_h5_attrs *a, const kubo_sim *s) {
  const kubo_model *m = kubo_sim_model(s);
  const kubo_sim_options *opt = kubo_sim_get_options(s);
  char name[96];
  kubo_status st = kubo_h5_attrs_add_string(a, "kubo_version",
                                            KUBO_VERSION);
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_string(a, "model", kubo_model_kind(m));
  for (int i = 0; st == KUBO_OK && i < kubo_model_param_count(m); i++) {
    snprintf(name, sizeof name, "model.%s", kubo_model_param_name(m, i));
    st = kubo_h5_attrs_add_float(a, name, kubo_model_param_value(m, i));
  }

  const kubo_grid *g = kubo_model_grid(m);
  if (st == KUBO_OK && g != NULL) {
    int nd = kubo_grid_ndim(g);
    int64_t n[KUBO_GRID_MAX_DIM], shape[1] = {nd};
    double len[KUBO_GRID_MAX_DIM];
    for (int i = 0; i < nd; i++) {
      n[i] = kubo_grid_n(g, i);
      len[i] = kubo_grid_length(g, i);
    }
    st = kubo_h5_attrs_add_ints(a, "grid.n", 1, shape, n);
    if (st == KUBO_OK)
      st = kubo_h5_attrs_add_floats(a, "grid.length", 1, shape, len);
    if (st == KUBO_OK)
      st = kubo_h5_attrs_add_string(a, "grid.nyquist",
                                    kubo_nyquist_name(kubo_grid_nyquist(g)));
  }

  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_string(a, "method",
                                  kubo_sim_method_name(opt->method));
  if (st == KUBO_OK) st = kubo_h5_attrs_add_float(a, "dt", opt->dt);
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_int(a, "seed", (int64_t)opt->seed);
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_int(a, "members", kubo_sim_members(s));
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_int(a, "first_member", opt->first_member + 1);
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_string(a, "noise",
                                  kubo_noise_draw_name(opt->noise_draw));
  return st;
}


/* ---------------------------------------------------------------------
** sim:run: recording into tensors or appendable datasets
** ------------------------------------------------------------------- */

/* One recorded series: every `every` steps into a tensor (frames,
** members, ...) or an appendable dataset of a writer. */
typedef struct series {
  int64_t every, frames, written;
  int append;                    /* add to an existing dataset */
  kubo_dtype dtype;
  const char *file, *dataset;
  kubo_tensor *memory;           /* in-memory target, or NULL */
  kubo_h5_writer *writer;        /* file target (owned unless shared) */
  int owns_writer;
  int id;                        /* dataset number in the writer */
} series;

typedef struct progress {
  int enabled, tty;
  double start, last;
  int64_t total;
} progress;


static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


static void progress_line(progress *p, kubo_sim *s, int64_t done,
                          int final) {
  double t = now_seconds();
  if (!p->enabled) return;
  if (!final && t - p->last < (p->tty ? 0.5 : 10.0)) return;
  p->last = t;
  double rate = done / fmax(t - p->start, 1e-9);
  double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
  double top = kubo_sim_max_abs(s);
  fprintf(stderr, "%sintegrator: %lld/%lld steps (%.0f%%), %.4g steps/s, "
          "ETA %02d:%02d:%02d, max |u| %.4g%s", p->tty ? "\r" : "",
          (long long)done, (long long)p->total,
          p->total > 0 ? 100.0 * (double)done / (double)p->total : 100.0,
          rate, (int)(eta / 3600), (int)fmod(eta / 60, 60),
          (int)fmod(eta, 60), top, p->tty ? "\033[K" : "\n");
  if (final && p->tty) fputc('\n', stderr);
  fflush(stderr);
}


/* Reads the series options at idx (the run table, or its snapshots
** table); raises on bad options before anything is opened. */
static void series_parse(lua_State *L, int idx, series *sr, int64_t steps,
                         const char *fname, const char *default_name,
                         const char *default_file) {
  sr->every = kb_sim_opt_int(L, idx, fname, "every", 1, 1);
  sr->frames = steps / sr->every;
  sr->dtype = kb_sim_opt_dtype(L, idx, fname);
  sr->file = kb_sim_opt_string(L, idx, fname, "file", default_file);
  sr->dataset = kb_sim_opt_string(L, idx, fname, "dataset", default_name);
}


/* Fails if sr's dataset already exists in its file and sr may not append
** to it, so that a rerun does not add frames to an old series. */
static kubo_status series_check_fresh(const series *sr) {
  if (sr->file == NULL || sr->append || access(sr->file, F_OK) != 0)
    return KUBO_OK;
  kubo_h5_list list = {0};
  kubo_status st = kubo_h5_list_file(sr->file, &list);
  if (st != KUBO_OK) return st;
  const char *name = sr->dataset + (sr->dataset[0] == '/');
  for (int i = 0; st == KUBO_OK && i < list.count; i++) {
    if (strcmp(list.items[i].name + 1, name) == 0)
      st = kubo_error_set(KUBO_EINVAL, "sim:run: dataset '%s' already "
                          "exists in '%s'; pass append = true to add "
                          "frames to it, or choose another file or "
                          "dataset", sr->dataset, sr->file);
  }
  kubo_h5_list_free(&list);
  return st;
}


/* Makes the target of sr: a tensor pushed on the stack, or a dataset in
** a writer (shared with `shared` when they name the same file). Returns
** a failure status instead of raising, so that the caller can close
** writers it opened before. */
static kubo_status series_open(lua_State *L, kubo_sim *s, series *sr,
                               const series *shared) {
  int64_t shape[KUBO_MAX_DIM];
  shape[0] = sr->frames;
  shape[1] = kubo_sim_members(s);
  int nd = kubo_model_state_shape(kubo_sim_model(s), shape + 2) + 2;

  if (sr->file == NULL) {
    kubo_tensor t = {0};
    kubo_status st = kubo_tensor_init(&t, sr->dtype, nd, shape);
    if (st == KUBO_OK) sr->memory = kb_tensor_push(L, &t);
    return st;
  }
  kubo_status st = series_check_fresh(sr);
  if (st != KUBO_OK) return st;
  if (shared != NULL && shared->writer != NULL &&
      strcmp(shared->file, sr->file) == 0) {
    sr->writer = shared->writer;
  } else {
    st = kubo_h5_writer_open(&sr->writer, sr->file);
    if (st != KUBO_OK) return st;
    sr->owns_writer = 1;
  }
  st = kubo_h5_writer_dataset(sr->writer, sr->dataset, (int)sr->dtype,
                              nd - 1, shape + 1, 0, 1, &sr->id);
  if (st != KUBO_OK) return st;

  kubo_h5_attrs a = {0};
  kubo_h5_attrs_init(&a);
  st = kb_sim_model_attrs(&a, s);
  if (st == KUBO_OK) st = kubo_h5_attrs_add_int(&a, "stride", sr->every);
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_int(&a, "start_step", kubo_sim_step_count(s));
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_float(&a, "start_time", kubo_sim_time(s));
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_string(&a, "layout", "(frames, members, "
                                  "...state shape); frame f (from 1) is "
                                  "the state after start_step + f * "
                                  "stride steps");
  if (st == KUBO_OK)
    st = kubo_h5_writer_write_attrs(sr->writer, sr->dataset, &a);
  kubo_h5_attrs_free(&a);
  return st;
}


/* Records the current state as the next frame of sr. */
static kubo_status series_record(series *sr, kubo_sim *s, double *frame,
                                 int64_t count) {
  if (sr->written >= sr->frames) return KUBO_OK;
  if (sr->memory != NULL) {
    void *base = sr->memory->data;
    if (sr->dtype == KUBO_FLOAT64)
      return kubo_sim_state(s, (double *)base + sr->written++ * count);
    kubo_status st = kubo_sim_state(s, frame);
    if (st != KUBO_OK) return st;
    float *dst = (float *)base + sr->written++ * count;
    for (int64_t i = 0; i < count; i++) dst[i] = (float)frame[i];
    return KUBO_OK;
  }
  kubo_status st = kubo_sim_state(s, frame);
  if (st != KUBO_OK) return st;
  int64_t shape[KUBO_MAX_DIM];
  shape[0] = kubo_sim_members(s);
  int nd = kubo_model_state_shape(kubo_sim_model(s), shape + 1) + 1;
  kubo_tensor t = {0};
  st = kubo_tensor_init(&t, KUBO_FLOAT64, nd, shape);
  if (st != KUBO_OK) return st;
  memcpy(t.data, frame, (size_t)count * sizeof(double));
  st = kubo_h5_writer_append(sr->writer, sr->id, &t);
  kubo_tensor_release(&t);
  if (st == KUBO_OK) sr->written++;
  return st;
}


/* Closes the writers of both series (a shared writer once); returns the
** first failure. */
static kubo_status series_close(series *a, series *b) {
  kubo_status st = KUBO_OK, st2;
  if (a->writer != NULL && a->owns_writer)
    st = kubo_h5_writer_close(a->writer);
  if (b->writer != NULL && b->owns_writer) {
    st2 = kubo_h5_writer_close(b->writer);
    if (st == KUBO_OK) st = st2;
  }
  a->writer = b->writer = NULL;
  return st;
}


/* Pushes the result of a series: its tensor, or a description of the
** dataset it was written to. */
static void series_push(lua_State *L, const series *sr, int memory_idx) {
  if (sr->file == NULL) {
    lua_pushvalue(L, memory_idx);
    return;
  }
  lua_createtable(L, 0, 3);
  lua_pushstring(L, sr->file);
  lua_setfield(L, -2, "file");
  lua_pushstring(L, sr->dataset);
  lua_setfield(L, -2, "dataset");
  lua_pushinteger(L, (lua_Integer)sr->written);
  lua_setfield(L, -2, "frames");
}


int kb_sim_run(lua_State *L) {
  static const char *const keys[] = {"steps", "every", "progress", "file",
                                     "dataset", "dtype", "snapshots",
                                     "append", NULL};
  static const char *const snap_keys[] = {"every", "file", "dataset",
                                          "dtype", NULL};
  const char *fname = "sim:run";
  kubo_sim *s = kb_integrator_check(L, 1);
  kb_sim_check_idle(L, 1, "run");
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  kb_sim_check_keys(L, 2, fname, keys);
  if (lua_getfield(L, 2, "steps") == LUA_TNIL)
    return luaL_error(L, "sim:run: option steps is missing");
  lua_pop(L, 1);
  int64_t steps = kb_sim_opt_int(L, 2, fname, "steps", 0, 0);

  progress pg = {0};
  lua_getfield(L, 2, "progress");
  pg.enabled = lua_toboolean(L, -1);
  lua_pop(L, 1);
  pg.tty = isatty(fileno(stderr));
  pg.total = steps;
  pg.start = pg.last = now_seconds();

  series main = {0}, snap = {0};
  int have_snap = lua_getfield(L, 2, "snapshots") != LUA_TNIL;
  int snap_opts = lua_gettop(L);
  if (have_snap) {
    if (!lua_istable(L, snap_opts))
      return luaL_error(L, "sim:run: snapshots must be a table {every = "
                        "n, file = ..., dataset = ...} (got %s)",
                        luaL_typename(L, snap_opts));
    kb_sim_check_keys(L, snap_opts, "sim:run: snapshots", snap_keys);
    if (lua_getfield(L, snap_opts, "every") == LUA_TNIL)
      return luaL_error(L, "sim:run: snapshots.every is missing");
    lua_pop(L, 1);
  }

  series_parse(L, 2, &main, steps, fname, "timeseries", NULL);
  if (have_snap)
    series_parse(L, snap_opts, &snap, steps, "sim:run: snapshots",
                 "snapshots", main.file);
  lua_getfield(L, 2, "append");
  main.append = snap.append = lua_toboolean(L, -1);
  lua_pop(L, 1);
  kubo_status status = series_open(L, s, &main, NULL);
  int main_idx = main.memory != NULL ? lua_gettop(L) : 0;
  int snap_idx = 0;
  if (status == KUBO_OK && have_snap) {
    status = series_open(L, s, &snap, &main);
    snap_idx = snap.memory != NULL ? lua_gettop(L) : 0;
  }
  if (status != KUBO_OK) {
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", kubo_error_message());
    if (main.owns_writer) kubo_h5_writer_discard(main.writer);
    if (snap.owns_writer) kubo_h5_writer_discard(snap.writer);
    return luaL_error(L, "%s", saved);
  }

  int64_t count = kubo_sim_members(s) * kubo_model_dim(kubo_sim_model(s));
  kubo_tensor frame = {0};
  int64_t fshape[1] = {count};
  status = kubo_tensor_init(&frame, KUBO_FLOAT64, 1, fshape);

  int64_t done = 0, chunk = 16;
  double last_flush = now_seconds();
  while (status == KUBO_OK && done < steps) {
    int64_t next = steps;
    if (main.every <= steps) next = (done / main.every + 1) * main.every;
    if (have_snap && snap.every <= steps) {
      int64_t n2 = (done / snap.every + 1) * snap.every;
      if (n2 < next) next = n2;
    }
    if (next > steps) next = steps;
    if (pg.enabled && next - done > chunk) next = done + chunk;

    double t0 = now_seconds();
    kb_sim_set_busy(L, 1, 1);
    status = kubo_sim_advance(s, next - done);
    kb_sim_set_busy(L, 1, 0);
    if (status != KUBO_OK) break;
    double spent = now_seconds() - t0;
    int64_t took = next - done;
    done = next;
    if (pg.enabled) {
      double rate = (double)took / fmax(spent, 1e-6);
      chunk = (int64_t)fmax(1.0, rate * (pg.tty ? 0.25 : 2.0));
    }

    if (done % main.every == 0)
      status = series_record(&main, s, frame.data, count);
    if (status == KUBO_OK && have_snap && done % snap.every == 0)
      status = series_record(&snap, s, frame.data, count);
    if (status == KUBO_OK && now_seconds() - last_flush > 10) {
      if (main.writer != NULL) status = kubo_h5_writer_flush(main.writer);
      if (status == KUBO_OK && snap.writer != NULL && snap.owns_writer)
        status = kubo_h5_writer_flush(snap.writer);
      last_flush = now_seconds();
    }
    progress_line(&pg, s, done, 0);
  }
  kubo_tensor_release(&frame);
  if (pg.enabled) progress_line(&pg, s, done, 1);

  /* Keep the frames written so far, whatever stopped the run. */
  if (status != KUBO_OK) {
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", kubo_error_message());
    kubo_status advance_status = status;
    series_close(&main, &snap);
    kubo_error_set(advance_status, "%s", saved);
    return kb_sim_raise_advance(L, s, advance_status);
  }
  KB_TRY(L, series_close(&main, &snap));
  series_push(L, &main, main_idx);
  if (!have_snap) return 1;
  series_push(L, &snap, snap_idx);
  return 2;
}
