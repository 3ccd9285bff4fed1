/*
** mpi_split.c: ensembles, perturbation runs and score training split
** across MPI ranks, behind the unchanged Lua interface.
**
** With more than one rank, kb_mpi_install_split replaces kubo.integrator,
** kubo.integrator.load, some kubo.Integrator methods,
** kubo.response.perturbation and kubo._score.train. The originals stay in
** a registry table and do the local work.
**
** Split ensembles: kubo.integrator{members = n} with n >= the number of
** ranks gives each rank its contiguous share (kubo_mpi_share) with
** first_member set to the share's global index, so every member draws
** the noise it draws in a one-rank run. A weak table maps such an
** integrator to its whole ensemble (total members, global index of its
** first member). Methods then act on the whole ensemble: state() gathers
** every member, set_state and initialize take one state or one per
** member of the whole ensemble, run gathers or joins the frames, save
** writes one checkpoint of every member. An ensemble of fewer members
** than ranks is not split: every rank runs all of it, and only rank 0
** writes its files.
**
** Errors: a step that fails on one rank fails on all (kb_mpi_call), so
** scripts that catch errors stay in step.
** NOTE: after a failed advance of a split ensemble the ranks' members can
** be at different steps: each rank keeps the last finite state of its
** own members.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integrator_lua.h"
#include "kubo/h5.h"
#include "kubo/model.h"
#include "kubo/mpi.h"
#include "kubo/response.h"
#include "mpi_lua.h"

/* Registry keys: the weak table of split ensembles, and the table of the
** replaced functions. */
static const char split_key = 's';
static const char originals_key = 'o';

typedef struct split {
  int64_t total;         /* members of the whole ensemble */
  int64_t first;         /* global index of its member 1, from 0 */
  int64_t local_first;   /* this rank's first member within it, from 0 */
  int64_t local_count;
} split;


/* ---------------------------------------------------------------------
** Bookkeeping
** ------------------------------------------------------------------- */

/* Pushes the original function called name. */
static void push_original(lua_State *L, const char *name) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &originals_key);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
}


/* Records that the integrator at idx is a share of an ensemble of total
** members whose member 1 has the global index first. */
static void split_mark(lua_State *L, int idx, int64_t total, int64_t first) {
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &split_key);
  lua_pushvalue(L, idx);
  lua_createtable(L, 2, 0);
  lua_pushinteger(L, (lua_Integer)total);
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, (lua_Integer)first);
  lua_rawseti(L, -2, 2);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}


/* Returns 1 and fills *sp if the value at idx is a split integrator. */
static int split_get(lua_State *L, int idx, split *sp) {
  int found = 0;
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &split_key);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TTABLE) {
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    sp->total = (int64_t)lua_tointeger(L, -2);
    sp->first = (int64_t)lua_tointeger(L, -1);
    lua_pop(L, 2);
    kubo_mpi_share(sp->total, kubo_mpi_rank(), kubo_mpi_size(),
                   &sp->local_first, &sp->local_count);
    found = 1;
  }
  lua_pop(L, 2);
  return found;
}


/* Calls the original `name` with the arguments 1 .. top of this call,
** returning all its results (errors are raised on this rank only). */
static int forward(lua_State *L, const char *name) {
  int n = lua_gettop(L);
  push_original(L, name);
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}


/* Pushes an options table for kubo.integrator that makes an integrator
** like the one at idx, with `members` members from the global index
** first. */
static void push_sim_options(lua_State *L, int idx, int64_t members,
                             int64_t first) {
  kubo_sim *s = kb_integrator_check(L, idx);
  const kubo_sim_options *opt = kubo_sim_get_options(s);
  idx = lua_absindex(L, idx);
  lua_createtable(L, 0, 7);
  lua_getiuservalue(L, idx, KB_SIM_UV_MODEL);
  lua_setfield(L, -2, "model");
  lua_pushstring(L, kubo_sim_method_name(opt->method));
  lua_setfield(L, -2, "method");
  lua_pushnumber(L, opt->dt);
  lua_setfield(L, -2, "dt");
  lua_pushinteger(L, (lua_Integer)members);
  lua_setfield(L, -2, "members");
  lua_pushinteger(L, (lua_Integer)opt->seed);
  lua_setfield(L, -2, "seed");
  lua_pushinteger(L, (lua_Integer)first + 1);
  lua_setfield(L, -2, "first_member");
  lua_pushstring(L, kubo_noise_draw_name(opt->noise_draw));
  lua_setfield(L, -2, "noise");
}


/* Pushes on rank 0 a new integrator of the whole ensemble of the split
** integrator at idx, in the model's default initial state, and returns
** it. Other ranks push nil and return NULL. Every rank raises if the
** creation failed on rank 0. */
static kubo_sim *push_whole(lua_State *L, int idx, const split *sp) {
  if (kubo_mpi_rank() != 0) {
    lua_pushnil(L);
    kb_mpi_check(L, kubo_mpi_agree(KUBO_OK));
    return NULL;
  }
  push_original(L, "new");
  push_sim_options(L, idx, sp->total, sp->first);
  kb_mpi_call(L, 1, 1);
  return kb_integrator_check(L, -1);
}


/* Frees the integrator at idx now (or nothing if it is nil): a whole
** ensemble should not wait for the collector. */
static void free_now(lua_State *L, int idx) {
  if (lua_isnil(L, idx)) return;
  idx = lua_absindex(L, idx);
  lua_getfield(L, idx, "free");
  lua_pushvalue(L, idx);
  lua_call(L, 1, 0);
}


/* Sets the split integrator at idx to the model's default initial state
** of the whole ensemble, which for some models depends on every member
** (allen_cahn and ou divide by the maximum over all of them).
** NOTE: rank 0 briefly keeps every member's state in memory for this. */
static void set_default_state(lua_State *L, int idx, const split *sp) {
  kubo_sim *local = kb_integrator_check(L, idx);
  kubo_sim *whole = push_whole(L, idx, sp);
  kb_mpi_check(L, kubo_mpi_sim_scatter(local, whole));
  free_now(L, -1);
  lua_pop(L, 1);
}


/* ---------------------------------------------------------------------
** Construction and checkpoints
** ------------------------------------------------------------------- */

/* kubo.integrator{...}: the options are the last argument. Each rank
** creates its share with kubo_sim_new, which draws the default state of
** the share, and set_default_state then replaces it by the share of the
** whole ensemble's default state. */
static int l_new(lua_State *L) {
  const char *fname = "integrator";
  int opts = lua_gettop(L);
  if (opts < 1 || !lua_istable(L, opts)) return forward(L, "new");
  int64_t members = kb_sim_opt_int(L, opts, fname, "members", 1, 1);
  int64_t first = kb_sim_opt_int(L, opts, fname, "first_member", 1, 1) - 1;
  if (members < kubo_mpi_size()) {
    if (kubo_mpi_rank() == 0)
      kubo_log(KUBO_LOG_WARN, "integrator: %lld members cannot be split "
               "across %d ranks, so every rank runs all of them and "
               "writes their files; give at least %d members, or write "
               "from one rank (if kubo.mpi.rank() == 0 then ... end)",
               (long long)members, kubo_mpi_size(), kubo_mpi_size());
    return forward(L, "new");
  }

  split sp = {members, first, 0, 0};
  kubo_mpi_share(members, kubo_mpi_rank(), kubo_mpi_size(),
                 &sp.local_first, &sp.local_count);
  push_original(L, "new");
  lua_createtable(L, 0, 8);
  lua_pushnil(L);
  while (lua_next(L, opts) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_pushinteger(L, (lua_Integer)sp.local_count);
  lua_setfield(L, -2, "members");
  lua_pushinteger(L, (lua_Integer)(first + sp.local_first + 1));
  lua_setfield(L, -2, "first_member");
  kb_mpi_call(L, 1, 1);
  split_mark(L, -1, members, first);
  set_default_state(L, lua_gettop(L), &sp);
  return 1;
}


/* kubo.integrator.load(file, [opts]): every rank reads the checkpoint of
** the whole ensemble and keeps its share. */
static int l_load(lua_State *L) {
  int n = lua_gettop(L);
  push_original(L, "load");
  for (int i = 1; i <= n; i++) lua_pushvalue(L, i);
  kb_mpi_call(L, n, 1);
  int whole_idx = lua_gettop(L);
  kubo_sim *whole = kb_integrator_check(L, whole_idx);
  int64_t total = kubo_sim_members(whole);
  if (total < kubo_mpi_size()) return 1;

  split sp;
  sp.total = total;
  sp.first = kubo_sim_get_options(whole)->first_member;
  kubo_mpi_share(total, kubo_mpi_rank(), kubo_mpi_size(), &sp.local_first,
                 &sp.local_count);
  push_original(L, "new");
  push_sim_options(L, whole_idx, sp.local_count,
                   sp.first + sp.local_first);
  kb_mpi_call(L, 1, 1);
  kubo_sim *local = kb_integrator_check(L, -1);

  int64_t raw = kubo_sim_raw_size(whole);
  int64_t hidden = kubo_model_hidden_size(kubo_sim_model(whole));
  kubo_tensor buf = {0};
  int64_t shape[1] = {total * (raw > hidden ? raw : hidden)};
  KB_TRY(L, kubo_tensor_init(&buf, KUBO_FLOAT64, 1, shape));
  double *all = buf.data;
  kubo_sim_raw(whole, all);
  kubo_status st = kubo_sim_set_raw(local, all + sp.local_first * raw,
                                    kubo_sim_step_count(whole));
  if (st == KUBO_OK && hidden > 0) {
    kubo_sim_hidden(whole, all);
    st = kubo_sim_set_hidden(local, all + sp.local_first * hidden);
  }
  kubo_tensor_release(&buf);
  kb_mpi_check(L, kubo_mpi_agree(st));
  split_mark(L, -1, sp.total, sp.first);
  free_now(L, whole_idx);
  return 1;
}


/* sim:save(file): one checkpoint of the whole ensemble, written by rank
** 0 alone. */
static int l_save(lua_State *L) {
  split sp;
  kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "save");
  lua_settop(L, 2);
  kubo_sim *whole = push_whole(L, 1, &sp);
  int whole_idx = lua_gettop(L);
  kb_mpi_check(L, kubo_mpi_sim_gather(kb_integrator_check(L, 1), whole));
  if (whole != NULL) {
    push_original(L, "save");
    lua_pushvalue(L, whole_idx);
    lua_pushvalue(L, 2);
    kb_mpi_call(L, 2, 0);
  } else {
    kb_mpi_check(L, kubo_mpi_agree(KUBO_OK));
  }
  free_now(L, whole_idx);
  lua_settop(L, 1);
  return 1;
}


/* ---------------------------------------------------------------------
** State
** ------------------------------------------------------------------- */

/* Replaces the tensor at idx, which contains one state (if allow_one) or one
** per member of the whole ensemble (width values each), by this rank's
** share of it (a view), so that the original method can take it. Every
** rank raises if the value is wrong on any of them. */
static void narrow_to_share(lua_State *L, int idx, const split *sp,
                            int64_t width, int allow_one,
                            const char *fname) {
  kubo_tensor *u = kb_tensor_test(L, idx);
  kubo_tensor flat = {0}, rows = {0}, mine = {0};
  kubo_status st = KUBO_OK;
  int64_t n = u != NULL && !kubo_tensor_is_empty(u) ? kubo_tensor_numel(u)
                                                    : -1;
  if (n < 0) {
    st = kubo_error_set(KUBO_EINVAL, "%s: expected a tensor (got %s)",
                        fname, luaL_typename(L, idx));
  } else if (n != sp->total * width && !(allow_one && n == width)) {
    char got[96];
    kubo_tensor_shape_string(u, got, sizeof got);
    if (allow_one)
      st = kubo_error_set(KUBO_EINVAL, "%s: expected one state of %lld "
                          "values or one per member (%lld x %lld), got "
                          "shape %s", fname, (long long)width,
                          (long long)sp->total, (long long)width, got);
    else
      st = kubo_error_set(KUBO_EINVAL, "%s: expected (%lld, %lld) values, "
                          "got shape %s", fname, (long long)sp->total,
                          (long long)width, got);
  } else if (n != width || !allow_one) {
    int64_t shape[2] = {sp->total, width};
    st = kubo_tensor_clone(&flat, u, -1);
    if (st == KUBO_OK) st = kubo_tensor_reshape(&rows, &flat, 2, shape);
    if (st == KUBO_OK)
      st = kubo_tensor_narrow(&mine, &rows, 0, sp->local_first,
                              sp->local_first + sp->local_count);
    kubo_tensor_release(&flat);
    kubo_tensor_release(&rows);
  }
  if (kubo_mpi_agree(st) != KUBO_OK) {
    kubo_tensor_release(&mine);
    kb_raise(L);
  }
  if (kubo_tensor_is_empty(&mine)) return;
  kb_tensor_push(L, &mine);
  lua_replace(L, idx);
}


/* sim:initialize([u0 or f]) */
static int l_initialize(lua_State *L) {
  split sp;
  kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "initialize");
  lua_settop(L, 2);
  if (lua_isnil(L, 2)) {
    push_original(L, "initialize");
    lua_pushvalue(L, 1);
    kb_mpi_call(L, 1, 0);
    set_default_state(L, 1, &sp);
    lua_settop(L, 1);
    return 1;
  }
  if (!lua_isfunction(L, 2))
    narrow_to_share(L, 2, &sp, kubo_model_dim(kubo_sim_model(
                      kb_integrator_check(L, 1))), 1, "sim:initialize");
  push_original(L, "initialize");
  lua_insert(L, 1);
  kb_mpi_call(L, 2, 1);
  return 1;
}


static int l_set_state(lua_State *L) {
  split sp;
  kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "set_state");
  lua_settop(L, 2);
  narrow_to_share(L, 2, &sp, kubo_model_dim(kubo_sim_model(
                    kb_integrator_check(L, 1))), 1, "sim:set_state");
  push_original(L, "set_state");
  lua_insert(L, 1);
  kb_mpi_call(L, 2, 1);
  return 1;
}


static int l_state(lua_State *L) {
  split sp;
  kubo_sim *s = kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "state");
  int64_t shape[KUBO_MAX_DIM];
  shape[0] = sp.total;
  int nd = kubo_model_state_shape(kubo_sim_model(s), shape + 1);
  kubo_tensor t = {0};
  KB_TRY(L, kubo_tensor_init(&t, KUBO_FLOAT64, nd + 1, shape));
  kubo_tensor *u = kb_tensor_push(L, &t);
  kb_mpi_check(L, kubo_mpi_sim_state(s, sp.total, u->data));
  return 1;
}


/* The members of every rank, for kubo_mpi_gather_rows (size entries). */
static void share_rows(int64_t total, int64_t *rows) {
  int64_t first;
  for (int r = 0; r < kubo_mpi_size(); r++)
    kubo_mpi_share(total, r, kubo_mpi_size(), &first, &rows[r]);
}


static int l_hidden_state(lua_State *L) {
  split sp;
  kubo_sim *s = kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "hidden_state");
  int64_t h = kubo_model_hidden_size(kubo_sim_model(s));
  if (h == 0) {
    lua_pushnil(L);
    return 1;
  }
  int64_t shape[2] = {sp.total, h}, local_shape[2] = {sp.local_count, h};
  kubo_tensor all = {0}, mine = {0};
  KB_TRY(L, kubo_tensor_init(&mine, KUBO_FLOAT64, 2, local_shape));
  kubo_status st = kubo_tensor_init(&all, KUBO_FLOAT64, 2, shape);
  if (st != KUBO_OK) {
    kubo_tensor_release(&mine);
    return kb_raise(L);
  }
  kubo_tensor *out = kb_tensor_push(L, &all);
  kubo_sim_hidden(s, mine.data);
  lua_newuserdatauv(L, (size_t)kubo_mpi_size() * sizeof(int64_t), 0);
  int64_t *rows = lua_touserdata(L, -1);
  share_rows(sp.total, rows);
  st = kubo_mpi_gather_rows(mine.data, out->data, 1, rows,
                            h * (int64_t)sizeof(double), 1);
  kubo_tensor_release(&mine);
  kb_mpi_check(L, st);
  lua_pop(L, 1);
  return 1;
}


static int l_set_hidden_state(lua_State *L) {
  split sp;
  kubo_sim *s = kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "set_hidden_state");
  int64_t h = kubo_model_hidden_size(kubo_sim_model(s));
  lua_settop(L, 2);
  if (h > 0) narrow_to_share(L, 2, &sp, h, 0, "sim:set_hidden_state");
  push_original(L, "set_hidden_state");
  lua_insert(L, 1);
  kb_mpi_call(L, 2, 1);
  return 1;
}


static int l_members(lua_State *L) {
  split sp;
  kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "members");
  lua_pushinteger(L, (lua_Integer)sp.total);
  return 1;
}


static int l_first_member(lua_State *L) {
  split sp;
  kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "first_member");
  lua_pushinteger(L, (lua_Integer)sp.first + 1);
  return 1;
}


static int l_max_abs(lua_State *L) {
  split sp;
  kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "max_abs");
  forward(L, "max_abs");
  double v[2] = {lua_tonumber(L, -1), 0};
  v[1] = isnan(v[0]) ? 1 : 0;
  kb_mpi_check(L, kubo_mpi_allreduce_f64(v, 2, KUBO_MPI_MAX));
  lua_pushnumber(L, v[1] != 0 ? NAN : v[0]);
  return 1;
}


static int l_clone(lua_State *L) {
  split sp;
  kb_integrator_check(L, 1);
  int is_split = split_get(L, 1, &sp);
  lua_settop(L, 1);
  forward(L, "clone");
  if (is_split) split_mark(L, -1, sp.total, sp.first);
  return 1;
}


static int l_tostring(lua_State *L) {
  split sp;
  int is_split = luaL_testudata(L, 1, KB_INTEGRATOR) != NULL &&
                 split_get(L, 1, &sp);
  lua_settop(L, 1);
  forward(L, "__tostring");
  if (is_split)
    lua_pushfstring(L, "%s, members %I to %I of %I on rank %d of %d",
                    lua_tostring(L, -1), (lua_Integer)sp.local_first + 1,
                    (lua_Integer)(sp.local_first + sp.local_count),
                    (lua_Integer)sp.total, kubo_mpi_rank(),
                    kubo_mpi_size());
  return 1;
}


/* ---------------------------------------------------------------------
** Stepping
** ------------------------------------------------------------------- */

/* Rewrites the message of a failed advance on this rank with the number
** of the member in the whole ensemble, then makes every rank raise it. */
static void call_advance(lua_State *L, int nargs, int sim_idx,
                         int other_idx) {
  kubo_status st = KUBO_OK;
  if (lua_pcall(L, nargs, 0, 0) != LUA_OK) {
    split sp;
    int64_t step, member;
    double time;
    kubo_sim *s = kb_integrator_check(L, sim_idx);
    if (other_idx != 0 &&
        kubo_sim_failure(kb_integrator_check(L, other_idx), NULL, NULL,
                         NULL))
      s = kb_integrator_check(L, other_idx);
    if (split_get(L, sim_idx, &sp) &&
        kubo_sim_failure(s, &step, &member, &time))
      st = kubo_error_set(KUBO_ENUMERIC, "integrator: member %lld became "
                          "NaN or Inf at step %lld (time %g); the "
                          "integrator keeps the last finite state, step "
                          "%lld, on that rank (sim:state(), sim:save). "
                          "Reduce dt (now %g) or check the model "
                          "parameters",
                          (long long)(sp.local_first + member + 1),
                          (long long)step, time, (long long)step - 1,
                          kubo_sim_get_options(s)->dt);
    else
      st = kubo_error_set(KUBO_EINVAL, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  if (kubo_mpi_agree(st) != KUBO_OK) kb_raise(L);
}


static int l_advance(lua_State *L) {
  split sp;
  kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp)) return forward(L, "advance");
  lua_settop(L, 2);
  push_original(L, "advance");
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  call_advance(L, 2, 1, 0);
  lua_settop(L, 1);
  return 1;
}


static int l_advance_pair(lua_State *L) {
  split a, b;
  kb_integrator_check(L, 1);
  kb_integrator_check(L, 2);
  lua_settop(L, 3);
  int sa = split_get(L, 1, &a), sb = split_get(L, 2, &b);
  if (sa != sb || (sa && (a.total != b.total || a.first != b.first)))
    return luaL_error(L, "sim:advance_pair: both integrators must be the "
                      "same ensemble split across the ranks (make the "
                      "other with sim:clone())");
  if (!sa) return forward(L, "advance_pair");
  push_original(L, "advance_pair");
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  call_advance(L, 3, 1, 2);
  lua_settop(L, 1);
  return 1;
}


/* ---------------------------------------------------------------------
** sim:run: frames of every member, in memory or in one file per rank
** joined by a virtual dataset
** ------------------------------------------------------------------- */

/* The files and datasets of one recorded series. */
typedef struct run_series {
  const char *file;          /* the joined file, or NULL (in memory) */
  const char *dataset;
} run_series;


/* Fails unless dataset `name` of file is absent (or append is set), as
** sim:run requires of a one-rank run. With append, the ranks' files must
** exist if the joined dataset does. */
static kubo_status check_fresh(const run_series *sr, int append) {
  char first[4096];
  kubo_status st;
  int found = 0;
  if (sr->file == NULL || access(sr->file, F_OK) != 0) return KUBO_OK;
  kubo_h5_list list = {0};
  st = kubo_h5_list_file(sr->file, &list);
  if (st != KUBO_OK) return st;
  const char *name = sr->dataset + (sr->dataset[0] == '/');
  for (int i = 0; i < list.count; i++)
    if (strcmp(list.items[i].name + 1, name) == 0) found = 1;
  kubo_h5_list_free(&list);
  if (found && !append)
    return kubo_error_set(KUBO_EINVAL, "sim:run: dataset '%s' already "
                          "exists in '%s'; pass append = true to add "
                          "frames to it, or choose another file or "
                          "dataset", sr->dataset, sr->file);
  st = kubo_mpi_rank_path(sr->file, 0, first, sizeof first);
  if (st == KUBO_OK && found && access(first, F_OK) != 0)
    st = kubo_error_set(KUBO_EINVAL, "sim:run: cannot append to dataset "
                        "'%s' of '%s': it was not written by %d ranks "
                        "(there is no '%s')", sr->dataset, sr->file,
                        kubo_mpi_size(), first);
  return st;
}


/* Sets field key of the table at idx to this rank's file for the string
** file. */
static void set_rank_file(lua_State *L, int idx, const char *key,
                          const char *file) {
  char path[4096];
  kb_mpi_check(L, kubo_mpi_rank_path(file, kubo_mpi_rank(), path,
                                     sizeof path));
  lua_pushstring(L, path);
  lua_setfield(L, idx, key);
}


/* Pushes a shallow copy of the table at idx. */
static void push_copy(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
}


/* Replaces the in-memory frames at idx, (frames, this rank's members,
** ...), by the frames of every member. */
static void gather_frames(lua_State *L, int idx, const split *sp) {
  kubo_tensor *mine = kb_tensor_check(L, idx);
  kubo_tensor all = {0};
  int64_t shape[KUBO_MAX_DIM], width = 1;
  for (int d = 0; d < mine->ndim; d++) shape[d] = mine->shape[d];
  for (int d = 2; d < mine->ndim; d++) width *= mine->shape[d];
  shape[1] = sp->total;
  kb_mpi_check(L, kubo_tensor_init(&all, mine->dtype, mine->ndim,
                                   shape));
  kubo_tensor *out = kb_tensor_push(L, &all);
  int64_t *rows = lua_newuserdatauv(L, (size_t)kubo_mpi_size() *
                                         sizeof(int64_t), 0);
  share_rows(sp->total, rows);
  kb_mpi_check(L, kubo_mpi_gather_rows(
                 mine->data, out->data, mine->shape[0], rows,
                 width * (int64_t)kubo_dtype_size(mine->dtype), 1));
  lua_pop(L, 1);
  lua_replace(L, idx);
}


/* Joins the ranks' datasets of sr on rank 0, with the attributes of rank
** 0's dataset made those of the whole ensemble. */
static kubo_status join_series(const run_series *sr, const split *sp) {
  int size = kubo_mpi_size();
  char (*paths)[4096] = NULL;
  const char **sources = NULL;
  kubo_h5_attrs attrs = {0};
  kubo_status st = KUBO_OK;
  if (kubo_mpi_rank() != 0) return KUBO_OK;
  paths = calloc((size_t)size, sizeof *paths);
  sources = calloc((size_t)size, sizeof *sources);
  if (paths == NULL || sources == NULL)
    st = kubo_error_set(KUBO_ENOMEM, "sim:run: out of memory");
  for (int r = 0; st == KUBO_OK && r < size; r++) {
    st = kubo_mpi_rank_path(sr->file, r, paths[r], sizeof paths[r]);
    sources[r] = paths[r];
  }
  if (st == KUBO_OK) st = kubo_h5_read_attrs(paths[0], sr->dataset, &attrs);
  if (st == KUBO_OK) st = kubo_h5_attrs_add_int(&attrs, "members",
                                                sp->total);
  if (st == KUBO_OK) st = kubo_h5_attrs_add_int(&attrs, "first_member",
                                                sp->first + 1);
  if (st == KUBO_OK) st = kubo_h5_attrs_add_int(&attrs, "ranks", size);
  if (st == KUBO_OK)
    st = kubo_mpi_h5_join(sr->file, sr->dataset, size, sources, 1, &attrs);
  kubo_h5_attrs_free(&attrs);
  free(sources);
  free(paths);
  return st;
}


/* Makes the result at idx of a series that was written to the ranks'
** files: joins them and replaces it by {file, dataset, frames} of the
** joined file. */
static void finish_file_series(lua_State *L, int idx, const run_series *sr,
                               const split *sp) {
  kb_mpi_check(L, kubo_mpi_agree(join_series(sr, sp)));
  lua_getfield(L, idx, "frames");
  lua_createtable(L, 0, 3);
  lua_pushstring(L, sr->file);
  lua_setfield(L, -2, "file");
  lua_pushstring(L, sr->dataset);
  lua_setfield(L, -2, "dataset");
  lua_insert(L, -2);
  lua_setfield(L, -2, "frames");
  lua_replace(L, idx);
}


/* Reads the string field key of the table at idx (def if absent). A
** value of another type sets *bad, so that the original can raise its
** error. */
static const char *string_field(lua_State *L, int idx, const char *key,
                                const char *def, int *bad) {
  const char *v = def;
  int type = lua_getfield(L, idx, key);
  if (type == LUA_TSTRING) v = lua_tostring(L, -1);
  else if (type != LUA_TNIL) *bad = 1;
  lua_pop(L, 1);
  return v;
}


static int l_run(lua_State *L) {
  split sp;
  kb_integrator_check(L, 1);
  if (!split_get(L, 1, &sp) || !lua_istable(L, 2)) return forward(L, "run");
  lua_settop(L, 2);

  int bad = 0, has_snap = lua_getfield(L, 2, "snapshots") != LUA_TNIL;
  int snap_idx = lua_gettop(L);
  if (has_snap && !lua_istable(L, snap_idx)) bad = 1;
  run_series main = {0}, snap = {0};
  main.file = string_field(L, 2, "file", NULL, &bad);
  main.dataset = string_field(L, 2, "dataset", "timeseries", &bad);
  if (has_snap && !bad) {
    snap.file = string_field(L, snap_idx, "file", main.file, &bad);
    snap.dataset = string_field(L, snap_idx, "dataset", "snapshots", &bad);
  }
  /* the original raises for bad options; all ranks must agree on that */
  int64_t flags[2] = {bad, -bad};
  kb_mpi_check(L, kubo_mpi_allreduce_i64(flags, 2, KUBO_MPI_MAX));
  if (flags[0] != -flags[1])
    return luaL_error(L, "sim:run: the ranks passed different file, "
                      "dataset or snapshots options; pass the same on "
                      "every rank");
  if (bad) return forward(L, "run");
  lua_getfield(L, 2, "append");
  int append = lua_toboolean(L, -1);
  lua_pop(L, 1);

  kubo_status st = KUBO_OK;
  if (kubo_mpi_rank() == 0) {
    st = check_fresh(&main, append);
    if (st == KUBO_OK && has_snap) st = check_fresh(&snap, append);
  }
  kb_mpi_check(L, kubo_mpi_agree(st));

  /* the same options, with this rank's files */
  push_original(L, "run");
  lua_pushvalue(L, 1);
  push_copy(L, 2);
  int opts = lua_gettop(L);
  if (main.file != NULL) set_rank_file(L, opts, "file", main.file);
  if (kubo_mpi_rank() != 0) {
    lua_pushboolean(L, 0);
    lua_setfield(L, opts, "progress");
  }
  if (has_snap) {
    push_copy(L, snap_idx);
    lua_getfield(L, snap_idx, "file");
    if (lua_isstring(L, -1)) set_rank_file(L, -2, "file", snap.file);
    lua_pop(L, 1);
    lua_setfield(L, opts, "snapshots");
  }
  kb_mpi_call(L, 2, has_snap ? 2 : 1);

  int first_result = lua_gettop(L) - (has_snap ? 1 : 0);
  const run_series *series[2] = {&main, &snap};
  for (int i = 0; i < (has_snap ? 2 : 1); i++) {
    if (series[i]->file == NULL)
      gather_frames(L, first_result + i, &sp);
    else
      finish_file_series(L, first_result + i, series[i], &sp);
  }
  return has_snap ? 2 : 1;
}


/* ---------------------------------------------------------------------
** response.perturbation
** ------------------------------------------------------------------- */

#define KB_RESPONSE "kubo.Response"

static int response_guard_gc(lua_State *L) {
  kubo_response_release(lua_touserdata(L, 1));
  return 0;
}


/* Pushes a userdata that releases the response it contains when it is
** collected, so that an error leaks nothing. */
static kubo_response *push_response_guard(lua_State *L) {
  kubo_response *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  if (luaL_newmetatable(L, "kubo.mpi.response_guard")) {
    lua_pushcfunction(L, response_guard_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return r;
}


/* Option readers with the messages of kubo.response. */
static int64_t response_int(lua_State *L, const char *key, int64_t def,
                            int required) {
  int isint = 0;
  lua_Integer v;
  if (lua_getfield(L, 1, key) == LUA_TNIL) {
    lua_pop(L, 1);
    if (required)
      luaL_error(L, "response.perturbation: option '%s' is missing", key);
    return def;
  }
  v = lua_tointegerx(L, -1, &isint);
  if (!isint || v < 1)
    luaL_error(L, "response.perturbation: option '%s' must be a whole "
               "number >= 1 (got %s)", key, luaL_tolstring(L, -1, NULL));
  lua_pop(L, 1);
  return (int64_t)v;
}


static void response_check_keys(lua_State *L) {
  static const char *const allowed[] = {"integrator", "site", "delta",
                                        "lags", "every", "resets", NULL};
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    int known = 0;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "response.perturbation: options must be given by name "
                 "(got a %s key)", luaL_typename(L, -2));
    for (const char *const *p = allowed; *p != NULL; p++)
      if (strcmp(*p, lua_tostring(L, -2)) == 0) known = 1;
    if (!known)
      luaL_error(L, "response.perturbation: unknown option '%s' (expected "
                 "one of integrator, site, delta, lags, every, resets)",
                 lua_tostring(L, -2));
    lua_pop(L, 1);
  }
}


/* Reads the 1-based site at the top of the stack into 0-based indices. */
static void response_site(lua_State *L, int ndim, const int64_t *shape,
                          int64_t *site) {
  int idx = lua_gettop(L);
  const char *f = "response.perturbation";
  if (!lua_istable(L, idx))
    luaL_error(L, "%s: site must be a table of %d indices (got %s)", f,
               ndim, luaL_typename(L, idx));
  if ((int)luaL_len(L, idx) != ndim)
    luaL_error(L, "%s: site has %d indices, expected %d", f,
               (int)luaL_len(L, idx), ndim);
  for (int a = 0; a < ndim; a++) {
    int isint = 0;
    lua_geti(L, idx, a + 1);
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1 || v > shape[a])
      luaL_error(L, "%s: site index %d must be a whole number from 1 to "
                 "%d (got %s)", f, a + 1, (int)shape[a],
                 luaL_tolstring(L, -1, NULL));
    site[a] = (int64_t)v - 1;
    lua_pop(L, 1);
  }
}


static int l_perturbation(lua_State *L) {
  split sp;
  if (!lua_istable(L, 1)) return forward(L, "perturbation");
  lua_settop(L, 1);
  lua_getfield(L, 1, "integrator");
  if (luaL_testudata(L, 2, KB_INTEGRATOR) == NULL || !split_get(L, 2, &sp))
    return forward(L, "perturbation");
  response_check_keys(L);
  kubo_sim *s = kb_integrator_check(L, 2);
  int64_t shape[KUBO_MAX_DIM], site[KUBO_MAX_DIM] = {0};
  int ndim = kubo_model_state_shape(kubo_sim_model(s), shape);

  kubo_perturbation_spec p;
  memset(&p, 0, sizeof p);
  if (lua_getfield(L, 1, "site") != LUA_TNIL)
    response_site(L, ndim, shape, site);
  lua_pop(L, 1);
  for (int a = 0; a < ndim; a++) p.index = p.index * shape[a] + site[a];
  if (lua_getfield(L, 1, "delta") == LUA_TNIL)
    return luaL_error(L, "response.perturbation: option 'delta' is "
                      "missing");
  if (lua_type(L, -1) != LUA_TNUMBER)
    return luaL_error(L, "response.perturbation: option 'delta' must be a "
                      "number (got %s)", luaL_typename(L, -1));
  p.delta = lua_tonumber(L, -1);
  if (!isfinite(p.delta))
    return luaL_error(L, "response.perturbation: option 'delta' must be "
                      "finite (got %f)", p.delta);
  lua_pop(L, 1);
  p.lags = response_int(L, "lags", 0, 1);
  p.every = response_int(L, "every", 1, 0);
  p.resets = response_int(L, "resets", 1, 0);

  kubo_response *r = push_response_guard(L);
  KB_TRY(L, kubo_mpi_response_perturbation(s, sp.total, &p, r));

  /* the fields kubo.response gives a perturbation Response */
  lua_createtable(L, 0, 8);
  lua_pushliteral(L, "perturbation");
  lua_setfield(L, -2, "kind");
  lua_pushboolean(L, r->grid);
  lua_setfield(L, -2, "grid");
  lua_pushinteger(L, (lua_Integer)r->members);
  lua_setfield(L, -2, "members");
  lua_pushnumber(L, (double)p.every * kubo_sim_get_options(s)->dt);
  lua_setfield(L, -2, "dt");
  lua_createtable(L, ndim, 0);
  for (int a = 0; a < ndim; a++) {
    lua_pushinteger(L, (lua_Integer)site[a] + 1);
    lua_seti(L, -2, a + 1);
  }
  lua_setfield(L, -2, "site");
  kb_tensor_push(L, &r->values);
  lua_setfield(L, -2, "values");
  if (!kubo_tensor_is_empty(&r->std_error)) {
    kb_tensor_push(L, &r->std_error);
    lua_setfield(L, -2, "stderr");
  }
  luaL_setmetatable(L, KB_RESPONSE);
  return 1;
}


/* ---------------------------------------------------------------------
** score.train: the engine splits each batch across the ranks, and only
** rank 0 prints progress
** ------------------------------------------------------------------- */

static int l_score_train(lua_State *L) {
  if (kubo_mpi_rank() != 0 && lua_istable(L, 1)) {
    lua_getfield(L, 1, "progress");
    int printing = lua_isboolean(L, -1) && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (printing) {
      push_copy(L, 1);
      lua_pushboolean(L, 0);
      lua_setfield(L, -2, "progress");
      lua_replace(L, 1);
    }
  }
  return forward(L, "score_train");
}


/* ---------------------------------------------------------------------
** Installation
** ------------------------------------------------------------------- */

/* kubo.integrator's __call: the kubo.integrator table comes first. */
static int l_call_new(lua_State *L) {
  lua_remove(L, 1);
  return l_new(L);
}


/* Stores field name of the table at idx as the original `key` and sets
** it to f, with the original's docstring. */
static void replace(lua_State *L, int idx, const char *name,
                    const char *key, lua_CFunction f) {
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &originals_key);
  lua_getfield(L, idx, name);
  lua_pushcfunction(L, f);
  kb_getdoc(L, -2);
  if (lua_isstring(L, -1)) kb_setdoc(L, -2, lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_setfield(L, idx, name);
  lua_setfield(L, -2, key);
  lua_pop(L, 1);
}


void kb_mpi_install_split(lua_State *L, int core) {
  static const struct {
    const char *name;
    lua_CFunction f;
  } methods[] = {
    {"initialize", l_initialize}, {"set_state", l_set_state},
    {"state", l_state}, {"hidden_state", l_hidden_state},
    {"set_hidden_state", l_set_hidden_state}, {"members", l_members},
    {"first_member", l_first_member}, {"max_abs", l_max_abs},
    {"clone", l_clone}, {"advance", l_advance},
    {"advance_pair", l_advance_pair}, {"run", l_run}, {"save", l_save},
    {"__tostring", l_tostring}, {NULL, NULL}
  };
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &split_key);
  lua_newtable(L);
  lua_pushcfunction(L, kb_sim_new);
  lua_setfield(L, -2, "new");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &originals_key);

  luaL_getmetatable(L, KB_INTEGRATOR);
  for (int i = 0; methods[i].name != NULL; i++)
    replace(L, -1, methods[i].name, methods[i].name, methods[i].f);
  lua_pop(L, 1);

  lua_getfield(L, core, "integrator");
  replace(L, -1, "load", "load", l_load);
  lua_getmetatable(L, -1);
  lua_pushcfunction(L, l_call_new);
  lua_setfield(L, -2, "__call");
  lua_pop(L, 2);

  lua_getfield(L, core, "response");
  replace(L, -1, "perturbation", "perturbation", l_perturbation);
  lua_pop(L, 1);
  lua_getfield(L, core, "_score");
  replace(L, -1, "train", "score_train", l_score_train);
  lua_pop(L, 1);
}
