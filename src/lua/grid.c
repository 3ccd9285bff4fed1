/*
** grid.c: the kubo.Grid class (periodic grids and spectral operators) and
** kubo.grid{n, length, nyquist}.
**
** Methods take real fields, shaped (..., ny, nx), or half spectra, shaped
** (..., ny, nx/2+1, 2), and tell them apart by their trailing dimensions.
** Leading dimensions form a batch. Temporary tables live in tensors on
** the Lua stack, so the collector frees them even when a user function
** raises an error.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kb.h"
#include "kubo/grid.h"
#include "kubo/rng.h"

#define KB_GRID "kubo.Grid"

typedef struct grid_box {
  kubo_grid *grid;    /* NULL once closed */
} grid_box;


kubo_grid *kb_grid_check(lua_State *L, int idx) {
  grid_box *box = luaL_checkudata(L, idx, KB_GRID);
  if (box->grid == NULL) luaL_argerror(L, idx, "attempt to use a closed grid");
  return box->grid;
}


static int g_close(lua_State *L) {
  grid_box *box = luaL_checkudata(L, 1, KB_GRID);
  kubo_grid_release(box->grid);
  box->grid = NULL;
  return 0;
}


/* ---------------------------------------------------------------------
** kubo.grid{...}
** ------------------------------------------------------------------- */

/* Reads the whole number on top of the stack, naming it in errors. */
static int64_t top_whole(lua_State *L, const char *what, int index) {
  int isint = 0;
  lua_Integer v = lua_tointegerx(L, -1, &isint);
  if (!isint)
    luaL_error(L, "grid: %s[%d] must be a whole number (got %s)", what,
               index, lua_type(L, -1) == LUA_TNUMBER
                        ? lua_tostring(L, -1) : luaL_typename(L, -1));
  return (int64_t)v;
}


/* Reads option `n` (a number or a table of 1 to 3 numbers) at idx into
** n and returns the number of axes. */
static int read_sizes(lua_State *L, int idx, int64_t *n) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_pushvalue(L, idx);
    n[0] = top_whole(L, "n", 1);
    lua_pop(L, 1);
    return 1;
  }
  if (!lua_istable(L, idx))
    return luaL_error(L, "grid: n must be a number or a table of 1 to 3 "
                      "numbers {nx, ny, nz} (got %s)", luaL_typename(L, idx));
  int ndim = (int)luaL_len(L, idx);
  if (ndim < 1 || ndim > KUBO_GRID_MAX_DIM)
    return luaL_error(L, "grid: n must have 1 to 3 entries {nx, ny, nz} "
                      "(got %d)", ndim);
  for (int a = 0; a < ndim; a++) {
    lua_geti(L, idx, a + 1);
    n[a] = top_whole(L, "n", a + 1);
    lua_pop(L, 1);
  }
  return ndim;
}


/* Reads option `length` (absent, a number for every axis, or a table of
** ndim numbers) at idx into length. */
static void read_lengths(lua_State *L, int idx, int ndim, double *length) {
  for (int a = 0; a < ndim; a++) length[a] = 2 * M_PI;
  if (lua_isnil(L, idx)) return;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    for (int a = 0; a < ndim; a++) length[a] = lua_tonumber(L, idx);
    return;
  }
  if (!lua_istable(L, idx) || luaL_len(L, idx) != ndim)
    luaL_error(L, "grid: length must be a number or a table of %d numbers "
               "(one per entry of n)", ndim);
  for (int a = 0; a < ndim; a++) {
    lua_geti(L, idx, a + 1);
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "grid: length[%d] must be a number (got %s)", a + 1,
                 luaL_typename(L, -1));
    length[a] = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
}


/* Raises an error for any key of the options table other than names. */
static void check_keys(lua_State *L, int idx, const char *fname,
                       const char *const *names, const char *list) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *key = lua_tostring(L, -1);
      for (int i = 0; names[i] != NULL; i++)
        if (strcmp(key, names[i]) == 0) known = 1;
    }
    if (!known) {
      lua_pushvalue(L, -1);
      luaL_error(L, "%s: unknown option '%s' (expected %s)", fname,
                 luaL_tolstring(L, -1, NULL), list);
    }
  }
}


static int l_grid(lua_State *L) {
  static const char *const keys[] = {"n", "length", "nyquist", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  check_keys(L, 1, "grid", keys, "n, length, nyquist");

  int64_t n[KUBO_GRID_MAX_DIM];
  double length[KUBO_GRID_MAX_DIM];
  lua_getfield(L, 1, "n");
  if (lua_isnil(L, -1))
    return luaL_error(L, "grid: option n is missing (for example "
                      "kubo.grid{n = {32, 32}})");
  int ndim = read_sizes(L, -1, n);
  lua_getfield(L, 1, "length");
  read_lengths(L, lua_gettop(L), ndim, length);
  lua_getfield(L, 1, "nyquist");
  int nyquist = KUBO_NYQUIST_DROP;
  if (!lua_isnil(L, -1)) {
    const char *name = lua_tostring(L, -1);
    nyquist = lua_type(L, -1) == LUA_TSTRING ? kubo_nyquist_parse(name) : -1;
    if (nyquist < 0 && lua_type(L, -1) == LUA_TSTRING)
      return luaL_error(L, "grid: nyquist must be \"drop\" or \"zero_k\" "
                        "(got \"%s\")", name);
    if (nyquist < 0)
      return luaL_error(L, "grid: nyquist must be \"drop\" or \"zero_k\" "
                        "(got %s)", luaL_typename(L, -1));
  }

  grid_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->grid = NULL;
  luaL_setmetatable(L, KB_GRID);
  KB_TRY(L, kubo_grid_new(&box->grid, ndim, n, length,
                          (kubo_nyquist)nyquist));
  return 1;
}


/* ---------------------------------------------------------------------
** Transforms and operators
** ------------------------------------------------------------------- */

static int push_or_raise(lua_State *L, kubo_status status, kubo_tensor *t) {
  if (status != KUBO_OK) return kb_raise(L);
  kb_tensor_push(L, t);
  return 1;
}


static int g_fft(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  kubo_tensor out = {0};
  return push_or_raise(L, kubo_grid_fft_tensor(g, kb_tensor_check(L, 2),
                                               &out), &out);
}


static int g_ifft(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  kubo_tensor out = {0};
  return push_or_raise(L, kubo_grid_ifft_tensor(g, kb_tensor_check(L, 2),
                                                &out), &out);
}


static int apply_op(lua_State *L, kubo_grid_op op) {
  kubo_grid *g = kb_grid_check(L, 1);
  kubo_tensor out = {0};
  return push_or_raise(L, kubo_grid_apply_tensor(g, op,
                                                 kb_tensor_check(L, 2),
                                                 &out), &out);
}


static int g_dx(lua_State *L) { return apply_op(L, KUBO_GRID_DX); }
static int g_dy(lua_State *L) { return apply_op(L, KUBO_GRID_DY); }
static int g_dz(lua_State *L) { return apply_op(L, KUBO_GRID_DZ); }
static int g_laplacian(lua_State *L) {
  return apply_op(L, KUBO_GRID_LAPLACIAN);
}
static int g_inverse_laplacian(lua_State *L) {
  return apply_op(L, KUBO_GRID_INVERSE_LAPLACIAN);
}
static int g_dealias(lua_State *L) { return apply_op(L, KUBO_GRID_DEALIAS); }


static int g_laplacian_power(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  kubo_tensor *x = kb_tensor_check(L, 2);
  int64_t p = kb_check_int(L, 3, "power");
  if (p < -64 || p > 64)
    return luaL_argerror(L, 3, lua_pushfstring(L, "power must be between "
                         "-64 and 64 (got %d)", (int)p));
  kubo_tensor out = {0};
  return push_or_raise(L, kubo_grid_laplacian_power_tensor(g, (int)p, x,
                                                           &out), &out);
}


/* Raises the engine's message unless status is KUBO_OK; for helpers that
** return pointers, where KB_TRY cannot return kb_raise's int. */
static void check_status(lua_State *L, kubo_status status) {
  if (status != KUBO_OK) kb_raise(L);
}


/* Pushes a new zeroed float64 tensor of the half-spectrum shape, with a
** trailing 2 if complex, and returns its data. */
static double *push_table(lua_State *L, const kubo_grid *g, int complex) {
  int64_t shape[KUBO_GRID_MAX_DIM + 1];
  int ndim = kubo_grid_spectral_shape(g, shape);
  kubo_tensor t = {0};
  check_status(L, kubo_tensor_init(&t, KUBO_FLOAT64,
                                   complex ? ndim : ndim - 1, shape));
  return kb_tensor_push(L, &t)->data;
}


/* Splits half-spectrum mode p into axis indices (x, y, z). */
static void mode_index(const kubo_grid *g, int64_t p, int64_t idx[3]) {
  int64_t nxh = kubo_grid_n(g, 0) / 2 + 1;
  int64_t ny = kubo_grid_ndim(g) > 1 ? kubo_grid_n(g, 1) : 1;
  idx[0] = p % nxh;
  idx[1] = (p / nxh) % ny;
  idx[2] = p / (nxh * ny);
}


/* Reads a symbol given at idx as a tensor: the half-spectrum shape for a
** real symbol or with a trailing 2 for a complex one. Pushes a contiguous
** float64 copy; returns its data and sets *complex. */
static double *symbol_tensor(lua_State *L, const kubo_grid *g, int idx,
                             const char *what, int *complex) {
  kubo_tensor *s = kb_tensor_check(L, idx);
  int64_t shape[KUBO_GRID_MAX_DIM + 1];
  int ndim = kubo_grid_spectral_shape(g, shape);
  int is_complex = s->ndim == ndim;
  int match = s->ndim == ndim || s->ndim == ndim - 1;
  for (int d = 0; match && d < s->ndim; d++)
    match = s->shape[d] == shape[d];
  if (!match) {
    char got[96];
    kubo_tensor_shape_string(s, got, sizeof got);
    luaL_argerror(L, idx, lua_pushfstring(L, "%s: a symbol tensor must "
                  "have the half-spectrum shape, with a trailing 2 if "
                  "complex (got %s)", what, got));
  }
  kubo_tensor c = {0};
  check_status(L, kubo_tensor_clone(&c, s, KUBO_FLOAT64));
  *complex = is_complex;
  return kb_tensor_push(L, &c)->data;
}


/* Fills a complex table, pushed on the stack, by calling the function at
** idx with the wavenumbers (kx[, ky[, kz]]) of every kept mode. The
** function returns the real part and optionally the imaginary part. */
static double *symbol_function(lua_State *L, const kubo_grid *g, int idx) {
  double *table = push_table(L, g, 1);
  int ndim = kubo_grid_ndim(g);
  const double *keep = kubo_grid_keep(g);
  for (int64_t p = 0; p < kubo_grid_spectral_size(g); p++) {
    if (keep[p] == 0) continue;
    int64_t i[3];
    mode_index(g, p, i);
    lua_pushvalue(L, idx);
    for (int a = 0; a < ndim; a++) lua_pushnumber(L, kubo_grid_k(g, a)[i[a]]);
    lua_call(L, ndim, 2);
    if (lua_type(L, -2) != LUA_TNUMBER ||
        !(lua_isnil(L, -1) || lua_type(L, -1) == LUA_TNUMBER))
      luaL_error(L, "grid.apply: the symbol function must return one or "
                 "two numbers (got %s at mode %d)", luaL_typename(L, -2),
                 (int)p + 1);
    table[2 * p] = lua_tonumber(L, -2);
    table[2 * p + 1] = lua_isnil(L, -1) ? 0 : lua_tonumber(L, -1);
    lua_pop(L, 2);
  }
  return table;
}


/* Calls the function at idx with |k|^2 for every kept mode and fills a
** real table pushed on the stack. */
static double *radial_function(lua_State *L, const kubo_grid *g, int idx,
                               const char *what) {
  double *table = push_table(L, g, 0);
  const double *keep = kubo_grid_keep(g), *k2 = kubo_grid_k2(g);
  for (int64_t p = 0; p < kubo_grid_spectral_size(g); p++) {
    if (keep[p] == 0) continue;
    lua_pushvalue(L, idx);
    lua_pushnumber(L, k2[p]);
    lua_call(L, 1, 1);
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "%s: the function of k2 must return a number (got %s "
                 "at k2 = %f)", what, luaL_typename(L, -1), k2[p]);
    table[p] = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  return table;
}


static int g_apply(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  kubo_tensor *x = kb_tensor_check(L, 2);
  int complex = 1;
  double *table;
  if (lua_isfunction(L, 3))
    table = symbol_function(L, g, 3);
  else if (kb_tensor_test(L, 3) != NULL)
    table = symbol_tensor(L, g, 3, "grid.apply", &complex);
  else
    return luaL_argerror(L, 3, lua_pushfstring(L, "expected a function "
                         "of (kx, ky) or a symbol tensor (got %s)",
                         luaL_typename(L, 3)));
  kubo_tensor out = {0};
  return push_or_raise(L, kubo_grid_multiply_tensor(g, table, complex, x,
                                                    &out), &out);
}


static int g_filter(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  kubo_tensor *x = kb_tensor_check(L, 2);
  int complex = 0;
  double *table;
  if (lua_type(L, 3) == LUA_TNUMBER) {
    double kmax = lua_tonumber(L, 3);
    if (!(kmax >= 0))
      return luaL_argerror(L, 3, "cutoff wavenumber must be >= 0");
    table = push_table(L, g, 0);
    const double *k2 = kubo_grid_k2(g);
    for (int64_t p = 0; p < kubo_grid_spectral_size(g); p++)
      table[p] = k2[p] <= kmax * kmax ? 1 : 0;
  } else if (lua_isfunction(L, 3)) {
    table = radial_function(L, g, 3, "grid.filter");
  } else if (kb_tensor_test(L, 3) != NULL) {
    table = symbol_tensor(L, g, 3, "grid.filter", &complex);
  } else {
    return luaL_argerror(L, 3, lua_pushfstring(L, "expected a cutoff "
                         "wavenumber, a function of k2 or a tensor (got "
                         "%s)", luaL_typename(L, 3)));
  }
  kubo_tensor out = {0};
  return push_or_raise(L, kubo_grid_multiply_tensor(g, table, complex, x,
                                                    &out), &out);
}


/* ---------------------------------------------------------------------
** Random fields and noise
** ------------------------------------------------------------------- */

/* Pushes a new float64 tensor of count fields (no batch dimension when
** count is negative) and returns it. */
static kubo_tensor *push_fields(lua_State *L, const kubo_grid *g,
                                int64_t count) {
  int64_t shape[KUBO_GRID_MAX_DIM + 1];
  int lead = count >= 0;
  shape[0] = count;
  int ndim = kubo_grid_real_shape(g, shape + lead) + lead;
  kubo_tensor t = {0};
  check_status(L, kubo_tensor_init(&t, KUBO_FLOAT64, ndim, shape));
  return kb_tensor_push(L, &t);
}


static int g_random_field(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  kubo_rng *rng = kb_rng_check(L, 2);
  int64_t count = -1;
  if (!lua_isnoneornil(L, 4)) {
    count = kb_check_int(L, 4, "count");
    if (count < 0)
      return luaL_argerror(L, 4, "count must be >= 0");
  }
  double *S;
  int complex = 0;
  if (lua_isfunction(L, 3))
    S = radial_function(L, g, 3, "grid.random_field");
  else if (kb_tensor_test(L, 3) != NULL)
    S = symbol_tensor(L, g, 3, "grid.random_field", &complex);
  else
    return luaL_argerror(L, 3, lua_pushfstring(L, "expected a spectrum "
                         "function of k2 or a tensor (got %s)",
                         luaL_typename(L, 3)));
  if (complex)
    return luaL_argerror(L, 3, "a spectrum must be real (no trailing 2)");
  kubo_tensor *out = push_fields(L, g, count);
  KB_TRY(L, kubo_grid_random_field(g, S, rng, count < 0 ? 1 : count,
                                   out->data));
  return 1;
}


/* g:noise(rng, {eps2 = e, members = m, step = s}) */
static int g_noise(lua_State *L) {
  static const char *const keys[] = {"eps2", "members", "step", NULL};
  kubo_grid *g = kb_grid_check(L, 1);
  kubo_rng *rng = kb_rng_check(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  check_keys(L, 3, "grid.noise", keys, "eps2, members, step");

  lua_getfield(L, 3, "eps2");
  if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) >= 0) ||
      !isfinite(lua_tonumber(L, -1)))
    return luaL_error(L, "grid.noise: eps2 must be a number >= 0 and finite "
                      "(got %s)", luaL_tolstring(L, -1, NULL));
  double eps2 = lua_tonumber(L, -1);
  lua_getfield(L, 3, "members");
  int keyed = !lua_isnil(L, -1);
  int64_t members = keyed ? kb_check_int(L, lua_gettop(L), "members") : 1;
  lua_getfield(L, 3, "step");
  int64_t step = lua_isnil(L, -1) ? 0
                                  : kb_check_int(L, lua_gettop(L), "step");
  if (members < 0 || step < 0)
    return luaL_error(L, "grid.noise: members and step must be >= 0");
  if (!keyed && step != 0)
    return luaL_error(L, "grid.noise: step needs members (keyed streams)");

  double *amplitude = push_table(L, g, 0);
  kubo_grid_noise_amplitude(g, eps2, amplitude);
  if (!keyed) {
    kubo_tensor *out = push_fields(L, g, -1);
    KB_TRY(L, kubo_grid_noise(g, amplitude, 1, rng, out->data));
    return 1;
  }

  /* The output first: it rejects a member count too large for memory
  ** before the size of the streams below can overflow. Member m (1-based)
  ** draws from substream m - 1 at block step * M. */
  kubo_tensor *out = push_fields(L, g, members);
  int out_idx = lua_gettop(L);
  kubo_rng *streams = lua_newuserdatauv(
      L, (size_t)(members > 0 ? members : 1) * sizeof(kubo_rng), 0);
  uint64_t position = (uint64_t)step * (uint64_t)kubo_grid_real_size(g);
  for (int64_t m = 0; m < members; m++) {
    kubo_rng_init(&streams[m], rng->seed,
                  kubo_rng_substream(rng->stream, (uint64_t)m));
    streams[m].position = position;
  }
  KB_TRY(L, kubo_grid_noise(g, amplitude, members, streams, out->data));
  lua_pushvalue(L, out_idx);
  return 1;
}


/* ---------------------------------------------------------------------
** Diagnostics
** ------------------------------------------------------------------- */

static kubo_grid_field check_kind(lua_State *L, int idx,
                                  const char *def) {
  static const char *const names[] = {"plain", "streamfunction",
                                      "vorticity", NULL};
  static const kubo_grid_field kinds[] = {
    KUBO_FIELD_PLAIN, KUBO_FIELD_STREAMFUNCTION, KUBO_FIELD_VORTICITY};
  return kinds[luaL_checkoption(L, idx, def, names)];
}


/* Pushes a diagnostic: a number for one field, else a tensor. */
static int diagnostic(lua_State *L, kubo_grid_diagnostic which,
                      const char *def_kind) {
  kubo_grid *g = kb_grid_check(L, 1);
  kubo_tensor *x = kb_tensor_check(L, 2);
  kubo_grid_field kind = def_kind ? check_kind(L, 3, def_kind)
                                  : KUBO_FIELD_PLAIN;
  kubo_tensor out = {0};
  KB_TRY(L, kubo_grid_diagnostic_tensor(g, which, kind, x, &out));
  if (out.ndim == 0) {
    lua_pushnumber(L, ((double *)out.data)[0]);
    kubo_tensor_release(&out);
    return 1;
  }
  kb_tensor_push(L, &out);
  return 1;
}


static int g_mean(lua_State *L) {
  return diagnostic(L, KUBO_DIAG_MEAN, NULL);
}


static int g_energy(lua_State *L) {
  return diagnostic(L, KUBO_DIAG_ENERGY, "streamfunction");
}


static int g_enstrophy(lua_State *L) {
  return diagnostic(L, KUBO_DIAG_ENSTROPHY, "streamfunction");
}


static int g_spectrum(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  diagnostic(L, KUBO_DIAG_SPECTRUM, "plain");
  int64_t bins = kubo_grid_spectrum_bins(g);
  kubo_tensor k = {0};
  KB_TRY(L, kubo_tensor_init(&k, KUBO_FLOAT64, 1, &bins));
  double dk = kubo_grid_spectrum_dk(g);
  for (int64_t b = 0; b < bins; b++) ((double *)k.data)[b] = dk * (double)b;
  kb_tensor_push(L, &k);
  return 2;
}


/* ---------------------------------------------------------------------
** Tables and geometry
** ------------------------------------------------------------------- */

static int g_wavenumbers(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  int ndim = kubo_grid_ndim(g);
  for (int a = 0; a < ndim; a++) {
    double *t = push_table(L, g, 0);
    for (int64_t p = 0; p < kubo_grid_spectral_size(g); p++) {
      int64_t i[3];
      mode_index(g, p, i);
      t[p] = kubo_grid_k(g, a)[i[a]];
    }
  }
  return ndim;
}


static int g_k2(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  double *t = push_table(L, g, 0);
  memcpy(t, kubo_grid_k2(g),
         (size_t)kubo_grid_spectral_size(g) * sizeof(double));
  return 1;
}


static int g_dealias_mask(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  double *t = push_table(L, g, 0);
  memcpy(t, kubo_grid_dealias_mask(g),
         (size_t)kubo_grid_spectral_size(g) * sizeof(double));
  return 1;
}


/* Pushes the coordinate along axis at every node (one field's shape). */
static int coordinates(lua_State *L, int axis, const char *name) {
  kubo_grid *g = kb_grid_check(L, 1);
  if (axis >= kubo_grid_ndim(g))
    return luaL_error(L, "grid.%s: this grid has %d dimension%s", name,
                      kubo_grid_ndim(g), kubo_grid_ndim(g) == 1 ? "" : "s");
  double *t = push_fields(L, g, -1)->data;
  const double *c = kubo_grid_coordinates(g, axis);
  int64_t nx = kubo_grid_n(g, 0);
  int64_t ny = kubo_grid_ndim(g) > 1 ? kubo_grid_n(g, 1) : 1;
  for (int64_t p = 0; p < kubo_grid_real_size(g); p++) {
    int64_t i[3] = {p % nx, (p / nx) % ny, p / (nx * ny)};
    t[p] = c[i[axis]];
  }
  return 1;
}


static int g_x(lua_State *L) { return coordinates(L, 0, "x"); }
static int g_y(lua_State *L) { return coordinates(L, 1, "y"); }
static int g_z(lua_State *L) { return coordinates(L, 2, "z"); }


static int push_int_table(lua_State *L, const int64_t *v, int count) {
  lua_createtable(L, count, 0);
  for (int i = 0; i < count; i++) {
    lua_pushinteger(L, (lua_Integer)v[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}


static int g_n(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  int64_t n[KUBO_GRID_MAX_DIM];
  for (int a = 0; a < kubo_grid_ndim(g); a++) n[a] = kubo_grid_n(g, a);
  return push_int_table(L, n, kubo_grid_ndim(g));
}


static int g_length(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  lua_createtable(L, kubo_grid_ndim(g), 0);
  for (int a = 0; a < kubo_grid_ndim(g); a++) {
    lua_pushnumber(L, kubo_grid_length(g, a));
    lua_rawseti(L, -2, a + 1);
  }
  return 1;
}


static int g_shape(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  int64_t shape[KUBO_GRID_MAX_DIM + 1];
  return push_int_table(L, shape, kubo_grid_real_shape(g, shape));
}


static int g_spectral_shape(lua_State *L) {
  kubo_grid *g = kb_grid_check(L, 1);
  int64_t shape[KUBO_GRID_MAX_DIM + 1];
  return push_int_table(L, shape, kubo_grid_spectral_shape(g, shape));
}


static int g_ndim(lua_State *L) {
  lua_pushinteger(L, kubo_grid_ndim(kb_grid_check(L, 1)));
  return 1;
}


static int g_nyquist(lua_State *L) {
  lua_pushstring(L, kubo_nyquist_name(kubo_grid_nyquist(kb_grid_check(L,
                                                                      1))));
  return 1;
}


static int g_tostring(lua_State *L) {
  grid_box *box = luaL_checkudata(L, 1, KB_GRID);
  if (box->grid == NULL) {
    lua_pushliteral(L, "kubo.Grid (closed)");
    return 1;
  }
  kubo_grid *g = box->grid;
  char sizes[96] = "", lengths[128] = "";
  for (int a = 0; a < kubo_grid_ndim(g); a++) {
    size_t ns = strlen(sizes), nl = strlen(lengths);
    snprintf(sizes + ns, sizeof sizes - ns, "%s%lld", a ? " x " : "",
             (long long)kubo_grid_n(g, a));
    snprintf(lengths + nl, sizeof lengths - nl, "%s%g", a ? " x " : "",
             kubo_grid_length(g, a));
  }
  lua_pushfstring(L, "kubo.Grid(%s points, length %s, nyquist %s)", sizes,
                  lengths, kubo_nyquist_name(kubo_grid_nyquist(g)));
  return 1;
}


static const kb_reg grid_methods[] = {
  {"fft", g_fft,
   "g:fft(u) -> half spectrum of the real field(s) u: shape (..., ny, "
   "nx/2+1, 2), (real, imaginary) last. Unnormalised: "
   "u^_k = sum_x u_x exp(-i k.x)."},
  {"ifft", g_ifft,
   "g:ifft(uh) -> real field(s) from half spectra (..., ny, nx/2+1, 2); "
   "divides by the number of points, so g:ifft(g:fft(u)) == u."},
  {"dx", g_dx,
   "g:dx(u) -> d/dx of real field(s) (..., ny, nx) or i kx times "
   "spectra (..., ny, nx/2+1, 2); the result has u's kind and shape."},
  {"dy", g_dy, "g:dy(u) -> d/dy of real field(s) or spectra (as g:dx)."},
  {"dz", g_dz, "g:dz(u) -> d/dz on a 3-D grid (as g:dx)."},
  {"laplacian", g_laplacian,
   "g:laplacian(u) -> the laplacian (-|k|^2) of real field(s) or "
   "spectra."},
  {"inverse_laplacian", g_inverse_laplacian,
   "g:inverse_laplacian(u) -> the solution psi of laplacian(psi) = u with "
   "zero mean: -1/|k|^2, and 0 where |k|^2 = 0 (the mean mode, and the "
   "Nyquist-aliased modes under nyquist = \"zero_k\")."},
  {"laplacian_power", g_laplacian_power,
   "g:laplacian_power(u, p) -> (laplacian)^p of u for an integer p "
   "(negative p: inverse powers, 0 where |k|^2 = 0)."},
  {"dealias", g_dealias,
   "g:dealias(u) -> u with the 2/3 rule applied: every mode with "
   "|m| > n/3 along any axis (integer index m) set to zero."},
  {"apply", g_apply,
   "g:apply(u, f) -> u multiplied in spectral space by the symbol "
   "f(kx, ky[, kz]), which returns the real part and optionally the "
   "imaginary part (Lua is called once per mode: the slow path). f may "
   "also be a symbol tensor of the half-spectrum shape (ny, nx/2+1), "
   "with a trailing 2 for a complex symbol."},
  {"filter", g_filter,
   "g:filter(u, f) -> u filtered in spectral space: f a number keeps "
   "the modes with |k| <= f; f a function of k2 = |k|^2 gives the "
   "factor per mode; f may also be a tensor of shape (ny, nx/2+1)."},
  {"random_field", g_random_field,
   "g:random_field(rng, S, [count]) -> a real Gaussian random field with "
   "covariance sum_k S(|k|^2) cos(k.(x - y)), so that its variance per "
   "point is the sum of S over all modes. S is a function of k2 or a "
   "tensor (ny, nx/2+1). Hermitian-correct. With count: a tensor of "
   "count fields (count, ny, nx). Advances rng."},
  {"noise", g_noise,
   "g:noise(rng, {eps2 = e, [members = m], [step = s]}) -> the "
   "correlated noise of the reference Ornstein-Uhlenbeck and Allen-"
   "Cahn experiments: Re IDFT[M sqrt(eps2 / (1 + |k|^2)) (xi + i zeta)] "
   "with complex white xi + i zeta at every mode (no Hermitian "
   "symmetry), M the number of points. Without members: one field from "
   "rng, advancing it. With members: a (m, ny, nx) tensor where member "
   "j uses stream rng:stream(j - 1) at block s * M (rng unchanged)."},
  {"mean", g_mean,
   "g:mean(u) -> spatial mean of a real field (a number), or a tensor "
   "over the leading dimensions of a batch."},
  {"energy", g_energy,
   "g:energy(u, [kind]) -> domain-averaged energy (1/2) <|grad psi|^2>, "
   "u given as kind \"streamfunction\" (default) or \"vorticity\"; "
   "kind \"plain\" gives (1/2) <u^2>. A number for one field, else a "
   "tensor over the batch."},
  {"enstrophy", g_enstrophy,
   "g:enstrophy(u, [kind]) -> domain-averaged enstrophy (1/2) <omega^2>, "
   "u given as \"streamfunction\" (default) or \"vorticity\"."},
  {"spectrum", g_spectrum,
   "g:spectrum(u, [kind]) -> E, k: the isotropic spectrum of the energy "
   "of kind (\"plain\" by default: (1/2) <u^2>; or \"streamfunction\", "
   "\"vorticity\" as in g:energy), summed over shells of width "
   "dk = 2 pi / max(length) centred on k = 0, dk, 2 dk, ...; E sums to "
   "g:energy(u, kind). E is (..., bins) for a batch."},
  {"wavenumbers", g_wavenumbers,
   "g:wavenumbers() -> kx[, ky[, kz]]: tensors of the half-spectrum "
   "shape (ny, nx/2+1) with each mode's wavenumbers in FFTW order, "
   "under the grid's Nyquist convention."},
  {"k2", g_k2, "g:k2() -> |k|^2 per mode, shape (ny, nx/2+1)."},
  {"dealias_mask", g_dealias_mask,
   "g:dealias_mask() -> the 2/3-rule mask (1 kept, 0 removed), shape "
   "(ny, nx/2+1)."},
  {"x", g_x, "g:x() -> the x coordinate of every node, shape (ny, nx); "
             "x_i = (i - 1) * Lx / nx."},
  {"y", g_y, "g:y() -> the y coordinate of every node, shape (ny, nx)."},
  {"z", g_z, "g:z() -> the z coordinate of every node (3-D grids)."},
  {"n", g_n, "g:n() -> {nx[, ny[, nz]]}: points per axis."},
  {"length", g_length, "g:length() -> {Lx[, Ly[, Lz]]}: box lengths."},
  {"shape", g_shape, "g:shape() -> {ny, nx}: the shape of one real "
                     "field."},
  {"spectral_shape", g_spectral_shape,
   "g:spectral_shape() -> {ny, nx/2+1, 2}: the shape of one spectrum."},
  {"ndim", g_ndim, "g:ndim() -> number of axes (1 to 3)."},
  {"nyquist", g_nyquist,
   "g:nyquist() -> \"drop\" or \"zero_k\": the Nyquist convention."},
  {"close", g_close,
   "g:close() releases the grid's tables and FFTW plans now (models "
   "built on it keep their own reference)."},
  {"__gc", g_close, NULL},
  {"__close", g_close, NULL},
  {"__tostring", g_tostring, NULL},
  {NULL, NULL, NULL}
};


static const kb_reg grid_functions[] = {
  {"grid", l_grid,
   "kubo.grid{n = {nx, ny}, length = {Lx, Ly}, nyquist = \"drop\"} -> "
   "Grid: a periodic grid of 1 to 3 axes (n a number gives 1-D), "
   "length 2 pi per axis by default (a number applies to every axis). "
   "Fields are (ny, nx) row-major, x fastest. nyquist = \"drop\" "
   "(default) removes the Nyquist modes in every operator; \"zero_k\" "
   "gives the Nyquist index wavenumber 0, as the reference experiments "
   "do."},
  {NULL, NULL, NULL}
};


void kb_open_grid(lua_State *L) {
  kb_newclass(L, KB_GRID, grid_methods,
              "kubo.Grid: a periodic grid with FFTW transforms and "
              "spectral operators. Methods: fft, ifft, dx, dy, dz, "
              "laplacian, inverse_laplacian, laplacian_power, dealias, "
              "apply, filter, random_field, noise, mean, energy, "
              "enstrophy, spectrum, wavenumbers, k2, dealias_mask, x, y, "
              "z, n, length, shape, spectral_shape, ndim, nyquist, "
              "close.");
  lua_pop(L, 1);
  kb_setfuncs(L, -1, grid_functions);
}
