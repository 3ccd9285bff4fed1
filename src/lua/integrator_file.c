/*
** integrator_file.c: checkpoints of an integrator (sim:save) and the
** integrator restored from one (kubo.integrator.load), to the same bits.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "integrator_lua.h"
#include "kubo/model.h"

/* Checkpoint layout version (the "format" attribute). */
#define CHECKPOINT_FORMAT "kubo.integrator checkpoint 1"


/* ---------------------------------------------------------------------
** Checkpoints
** ------------------------------------------------------------------- */

/* Writes t as dataset name through the writer. */
static kubo_status write_dataset(kubo_h5_writer *w, const char *name,
                                 int ndim, const int64_t *shape,
                                 const double *data) {
  kubo_tensor t = {0};
  kubo_status st = kubo_tensor_init(&t, KUBO_FLOAT64, ndim, shape);
  if (st != KUBO_OK) return st;
  memcpy(t.data, data, (size_t)kubo_tensor_numel(&t) * sizeof(double));
  st = kubo_h5_writer_write(w, name, &t, NULL, 0);
  kubo_tensor_release(&t);
  return st;
}


static kubo_status save_contents(lua_State *L, kubo_h5_writer *w,
                                 kubo_sim *s) {
  const kubo_model *m = kubo_sim_model(s);
  int64_t members = kubo_sim_members(s), raw = kubo_sim_raw_size(s);
  int64_t hidden = kubo_model_hidden_size(m), dim = kubo_model_dim(m);
  int64_t shape[KUBO_MAX_DIM];
  size_t bytes = (size_t)(members * (raw > dim ? raw : dim)) *
                 sizeof(double);
  if (hidden > raw) bytes = (size_t)(members * hidden) * sizeof(double);
  double *buf = lua_newuserdatauv(L, bytes, 0);

  kubo_sim_raw(s, buf);
  shape[0] = members;
  shape[1] = raw;
  kubo_status st = write_dataset(w, "raw_state", 2, shape, buf);
  if (st == KUBO_OK) st = kubo_sim_state(s, buf);
  if (st == KUBO_OK) {
    int nd = kubo_model_state_shape(m, shape + 1) + 1;
    st = write_dataset(w, "state", nd, shape, buf);
  }
  if (st == KUBO_OK && hidden > 0) {
    kubo_sim_hidden(s, buf);
    shape[1] = hidden;
    st = write_dataset(w, "hidden", 2, shape, buf);
  }
  static const char *const arrays[] = {"A", "Q", "noise", "forcing.steady",
                                       NULL};
  for (int i = 0; st == KUBO_OK && arrays[i] != NULL; i++) {
    const kubo_tensor *a = kubo_model_array(m, arrays[i]);
    char name[64];
    if (a == NULL) continue;
    snprintf(name, sizeof name, "model/%s", arrays[i]);
    st = kubo_h5_writer_write(w, name, a, NULL, 0);
  }
  lua_pop(L, 1);
  if (st != KUBO_OK) return st;

  kubo_h5_attrs a = {0};
  kubo_h5_attrs_init(&a);
  st = kb_sim_model_attrs(&a, s);
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_string(&a, "format", CHECKPOINT_FORMAT);
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_int(&a, "step", kubo_sim_step_count(s));
  if (st == KUBO_OK)
    st = kubo_h5_attrs_add_float(&a, "time", kubo_sim_time(s));
  if (st == KUBO_OK) st = kubo_h5_writer_write_attrs(w, "/", &a);
  kubo_h5_attrs_free(&a);
  return st;
}


/* Writes a fresh checkpoint to "<file>.new-<pid>" and renames it over
** the file, so that nothing of an older file at that path survives and
** a failed save leaves the older file as it was. */
int kb_sim_save(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  const char *path = luaL_checkstring(L, 2);
  const char *fresh = lua_pushfstring(L, "%s.new-%d", path, (int)getpid());
  kubo_h5_writer *w = NULL;
  remove(fresh);
  KB_TRY(L, kubo_h5_writer_open(&w, fresh));
  kubo_status st = save_contents(L, w, s);
  if (st != KUBO_OK) {
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", kubo_error_message());
    kubo_h5_writer_discard(w);
    return luaL_error(L, "%s", saved);
  }
  KB_TRY(L, kubo_h5_writer_close(w));
  if (rename(fresh, path) != 0) {
    remove(fresh);
    return luaL_error(L, "sim:save: cannot replace '%s' (%s)", path,
                      strerror(errno));
  }
  lua_settop(L, 1);
  return 1;
}


/* Pushes the attribute's value (a number, an integer, a string or a table
** of them), or nil. */
static void push_attr(lua_State *L, const kubo_h5_attrs *attrs,
                      const char *name) {
  const kubo_h5_attr *a = kubo_h5_attrs_find(attrs, name);
  if (a == NULL) {
    lua_pushnil(L);
    return;
  }
  if (a->ndim > 0) lua_createtable(L, (int)a->count, 0);
  for (int64_t i = 0; i < a->count; i++) {
    if (a->kind == KUBO_H5_FLOAT)
      lua_pushnumber(L, a->floats[i]);
    else if (a->kind == KUBO_H5_INT)
      lua_pushinteger(L, (lua_Integer)a->ints[i]);
    else
      lua_pushstring(L, a->strings[i]);
    if (a->ndim == 0) return;
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}


static void attrs_gc_push(lua_State *L, kubo_h5_attrs **out);


/* Reads a checkpoint's dataset into a new tensor on the stack. */
static kubo_tensor *read_dataset(lua_State *L, const char *path,
                                 const char *name) {
  kubo_tensor t = {0};
  kb_sim_check_status(L, kubo_h5_read(path, name, &t, NULL));
  return kb_tensor_push(L, &t);
}


/* Builds the model of a checkpoint from its attributes: a grid from
** kubo.grid (upvalue 2) and the constructor kubo.models[kind] (upvalue
** 1), with the saved array parameters. Leaves the model on the stack. */
static void load_model(lua_State *L, const char *path,
                       const kubo_h5_attrs *attrs, const char *kind) {
  if (strcmp(kind, "sde") == 0)
    luaL_error(L, "integrator.load: '%s' contains an sde model, whose drift "
               "is a Lua function; pass it: integrator.load(file, {model "
               "= m})", path);
  if (lua_getfield(L, lua_upvalueindex(1), kind) != LUA_TFUNCTION)
    luaL_error(L, "integrator.load: unknown model '%s' in '%s'", kind,
               path);
  lua_newtable(L);
  int opts = lua_gettop(L);

  for (int i = 0; i < attrs->count; i++) {
    const kubo_h5_attr *a = &attrs->items[i];
    if (strncmp(a->name, "model.", 6) != 0 || a->kind != KUBO_H5_FLOAT)
      continue;
    const char *name = a->name + 6;
    const char *dot = strchr(name, '.');
    if (dot == NULL) {
      lua_pushnumber(L, a->floats[0]);
      lua_setfield(L, opts, name);
      continue;
    }
    lua_pushlstring(L, name, (size_t)(dot - name));
    if (lua_rawget(L, opts) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushlstring(L, name, (size_t)(dot - name));
      lua_pushvalue(L, -2);
      lua_rawset(L, opts);
    }
    lua_pushnumber(L, a->floats[0]);
    lua_setfield(L, -2, dot + 1);
    lua_pop(L, 1);
  }

  kubo_h5_list list = {0};
  kb_sim_check_status(L, kubo_h5_list_file(path, &list));
  for (int i = 0; i < list.count; i++) {
    const char *name = list.items[i].name;
    if (list.items[i].is_group || strncmp(name, "/model/", 7) != 0)
      continue;
    const char *key = name + 7;
    read_dataset(L, path, name);
    if (strcmp(key, "forcing.steady") == 0) {
      if (lua_getfield(L, opts, "forcing") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, opts, "forcing");
      }
      lua_insert(L, -2);
      lua_setfield(L, -2, "steady");
      lua_pop(L, 1);
    } else {
      lua_setfield(L, opts, key);
    }
  }
  kubo_h5_list_free(&list);

  /* The grid is rebuilt from its own attributes. */
  push_attr(L, attrs, "grid.n");
  if (!lua_isnil(L, -1)) {
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "n");
    push_attr(L, attrs, "grid.length");
    lua_setfield(L, -2, "length");
    push_attr(L, attrs, "grid.nyquist");
    lua_setfield(L, -2, "nyquist");
    lua_call(L, 1, 1);
    lua_setfield(L, opts, "grid");
  }
  lua_pop(L, 1);
  lua_call(L, 1, 1);
}


int kb_sim_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int has_opts = !lua_isnoneornil(L, 2);
  if (has_opts) luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);

  kubo_h5_attrs *attrs = NULL;
  attrs_gc_push(L, &attrs);
  kb_sim_check_status(L, kubo_h5_read_attrs(path, "/", attrs));
  push_attr(L, attrs, "format");
  if (lua_type(L, -1) != LUA_TSTRING ||
      strcmp(lua_tostring(L, -1), CHECKPOINT_FORMAT) != 0)
    return luaL_error(L, "integrator.load: '%s' is not an integrator "
                      "checkpoint (no format attribute \"%s\")", path,
                      CHECKPOINT_FORMAT);
  lua_pop(L, 1);
  push_attr(L, attrs, "model");
  const char *kind = lua_tostring(L, -1);
  if (kind == NULL)
    return luaL_error(L, "integrator.load: '%s' has no model attribute",
                      path);

  int model_idx;
  if (has_opts && lua_getfield(L, 2, "model") != LUA_TNIL) {
    model_idx = lua_gettop(L);
    kubo_model *m = kb_model_check(L, model_idx);
    if (strcmp(kubo_model_kind(m), kind) != 0)
      return luaL_error(L, "integrator.load: the model in '%s' is %s, not "
                        "%s", path, kind, kubo_model_kind(m));
  } else {
    if (has_opts) lua_pop(L, 1);
    load_model(L, path, attrs, kind);
    model_idx = lua_gettop(L);
  }

  /* The constructor's options from the attributes. */
  lua_pushcfunction(L, kb_sim_new);
  lua_createtable(L, 0, 7);
  lua_pushvalue(L, model_idx);
  lua_setfield(L, -2, "model");
  static const char *const copy[] = {"method", "dt", "members", "seed",
                                     "first_member", "noise", NULL};
  for (int i = 0; copy[i] != NULL; i++) {
    push_attr(L, attrs, copy[i]);
    lua_setfield(L, -2, copy[i]);
  }
  lua_call(L, 1, 1);
  int sim_idx = lua_gettop(L);
  kubo_sim *s = kb_integrator_check(L, sim_idx);

  push_attr(L, attrs, "step");
  int64_t step = (int64_t)lua_tointeger(L, -1);
  lua_pop(L, 1);
  kubo_tensor *raw = read_dataset(L, path, "raw_state");
  int64_t want = kubo_sim_members(s) * kubo_sim_raw_size(s);
  if (raw->dtype != KUBO_FLOAT64 || kubo_tensor_numel(raw) != want)
    return luaL_error(L, "integrator.load: raw_state in '%s' has %I values, "
                      "expected %I for this model", path,
                      (lua_Integer)kubo_tensor_numel(raw),
                      (lua_Integer)want);
  KB_TRY(L, kubo_sim_set_raw(s, raw->data, step));
  if (kubo_model_hidden_size(kubo_sim_model(s)) > 0) {
    kubo_tensor *h = read_dataset(L, path, "hidden");
    if (kubo_tensor_numel(h) != kubo_sim_members(s) *
                                kubo_model_hidden_size(kubo_sim_model(s)))
      return luaL_error(L, "integrator.load: hidden in '%s' has the wrong "
                        "size", path);
    KB_TRY(L, kubo_sim_set_hidden(s, h->data));
  }
  lua_pushvalue(L, sim_idx);
  return 1;
}


static int attrs_gc(lua_State *L) {
  kubo_h5_attrs *a = lua_touserdata(L, 1);
  kubo_h5_attrs_free(a);
  return 0;
}


/* Pushes a userdata holding an empty kubo_h5_attrs, freed by the
** collector, so that errors do not leak it. */
static void attrs_gc_push(lua_State *L, kubo_h5_attrs **out) {
  kubo_h5_attrs *a = lua_newuserdatauv(L, sizeof *a, 0);
  kubo_h5_attrs_init(a);
  if (luaL_newmetatable(L, "kubo.IntegratorAttrs")) {
    lua_pushcfunction(L, attrs_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  *out = a;
}
