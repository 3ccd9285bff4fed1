/*
** h5.c: the kubo.h5 module (HDF5 files of tensors and attributes) and
** the kubo.H5Writer class.
**
** Reads (read, list, attrs) return nil and a message when the file is
** missing, damaged or lacks the object, as io.open does. Writes raise on
** failure, so that a script never continues after its results were not
** saved; the file is then unchanged.
*/
#include <string.h>

#include "kb.h"
#include "kubo/h5.h"

#define KB_H5_WRITER "kubo.H5Writer"
#define KB_H5_ATTRS "kubo.H5Attrs"


/* ---------------------------------------------------------------------
** Attribute tables
**
** A kubo_h5_attrs being built from a Lua table lives in a userdata whose
** __gc frees it, so an error raised midway leaks nothing.
** ------------------------------------------------------------------- */

static int attrs_gc(lua_State *L) {
  kubo_h5_attrs_free(luaL_checkudata(L, 1, KB_H5_ATTRS));
  return 0;
}


static kubo_h5_attrs *push_attrs_holder(lua_State *L) {
  kubo_h5_attrs *a = lua_newuserdatauv(L, sizeof *a, 0);
  kubo_h5_attrs_init(a);
  if (luaL_newmetatable(L, KB_H5_ATTRS)) {
    lua_pushcfunction(L, attrs_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return a;
}


static void add_or_raise(lua_State *L, kubo_status status) {
  if (status != KUBO_OK) kb_raise(L);
}


static void add_tensor_attr(lua_State *L, kubo_h5_attrs *a,
                            const char *name, const kubo_tensor *t) {
  kubo_tensor c;
  kubo_status status;
  memset(&c, 0, sizeof c);
  if (t->ndim > KUBO_MAX_DIM) luaL_error(L, "attribute '%s' has too many "
                                         "dimensions", name);
  add_or_raise(L, kubo_tensor_clone(&c, t, KUBO_FLOAT64));
  if (c.ndim == 0)
    status = kubo_h5_attrs_add_float(a, name, ((double *)c.data)[0]);
  else
    status = kubo_h5_attrs_add_floats(a, name, c.ndim, c.shape, c.data);
  kubo_tensor_release(&c);
  add_or_raise(L, status);
}


/* Adds the sequence at idx (numbers or strings) as a 1-D attribute. */
static void add_list_attr(lua_State *L, kubo_h5_attrs *a, const char *name,
                          int idx) {
  lua_Integer n = luaL_len(L, idx);
  int all_int = 1, all_str = 1, all_num = 1;
  for (lua_Integer i = 1; i <= n; i++) {
    int type = lua_geti(L, idx, i);
    all_num &= type == LUA_TNUMBER;
    all_int &= type == LUA_TNUMBER && lua_isinteger(L, -1);
    all_str &= type == LUA_TSTRING;
    lua_pop(L, 1);
  }
  if (n == 0 || all_num) {
    int64_t shape[1] = {(int64_t)n};
    size_t size = all_int ? sizeof(int64_t) : sizeof(double);
    void *values = lua_newuserdatauv(L, (size_t)n * size + 1, 0);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      if (all_int && n > 0) ((int64_t *)values)[i - 1] = lua_tointeger(L, -1);
      else ((double *)values)[i - 1] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
    add_or_raise(L, all_int && n > 0
                        ? kubo_h5_attrs_add_ints(a, name, 1, shape, values)
                        : kubo_h5_attrs_add_floats(a, name, 1, shape,
                                                   values));
    lua_pop(L, 1);
    return;
  }
  if (all_str) {
    const char **values = lua_newuserdatauv(L, (size_t)n * sizeof *values,
                                            0);
    for (lua_Integer i = 1; i <= n; i++) {
      size_t len;
      lua_geti(L, idx, i);
      values[i - 1] = lua_tolstring(L, -1, &len);
      if (strlen(values[i - 1]) != len)
        luaL_error(L, "attribute '%s': string %d contains a zero byte",
                   name, (int)i);
      /* the table keeps the string alive */
      lua_pop(L, 1);
    }
    add_or_raise(L, kubo_h5_attrs_add_strings(a, name, (int64_t)n, values));
    lua_pop(L, 1);
    return;
  }
  luaL_error(L, "attribute '%s' must be a list of numbers or a list of "
             "strings (use a tensor for arrays of more than one "
             "dimension)", name);
}


/* Converts the attribute table at idx into a new holder pushed on the
** stack; returns its list. */
static kubo_h5_attrs *check_attrs(lua_State *L, int idx) {
  kubo_h5_attrs *a;
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  a = push_attrs_holder(L);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    const char *name;
    size_t len;
    kubo_tensor *t;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "attribute names must be strings (got a %s key)",
                 luaL_typename(L, -2));
    name = lua_tostring(L, -2);
    switch (lua_type(L, -1)) {
      case LUA_TNUMBER:
        add_or_raise(L, lua_isinteger(L, -1)
                            ? kubo_h5_attrs_add_int(a, name,
                                                    lua_tointeger(L, -1))
                            : kubo_h5_attrs_add_float(a, name,
                                                      lua_tonumber(L, -1)));
        break;
      case LUA_TBOOLEAN:
        add_or_raise(L, kubo_h5_attrs_add_int(a, name,
                                              lua_toboolean(L, -1)));
        break;
      case LUA_TSTRING: {
        const char *s = lua_tolstring(L, -1, &len);
        if (strlen(s) != len)
          luaL_error(L, "attribute '%s' contains a zero byte", name);
        add_or_raise(L, kubo_h5_attrs_add_string(a, name, s));
        break;
      }
      case LUA_TTABLE:
        add_list_attr(L, a, name, lua_gettop(L));
        break;
      default:
        t = kb_tensor_test(L, -1);
        if (t == NULL)
          luaL_error(L, "attribute '%s' is a %s; expected a number, "
                     "boolean, string, list or tensor", name,
                     luaL_typename(L, -1));
        if (t->storage == NULL)
          luaL_error(L, "attribute '%s' is a freed tensor", name);
        add_tensor_attr(L, a, name, t);
        break;
    }
    lua_pop(L, 1);
  }
  return a;
}


/* Pushes values[first ..] of attribute a as nested tables of dimension
** dim onward. */
static void push_attr_values(lua_State *L, const kubo_h5_attr *a, int dim,
                             int64_t *next) {
  if (dim == a->ndim) {
    int64_t i = (*next)++;
    if (a->kind == KUBO_H5_FLOAT) lua_pushnumber(L, a->floats[i]);
    else if (a->kind == KUBO_H5_INT) lua_pushinteger(L, a->ints[i]);
    else lua_pushstring(L, a->strings[i]);
    return;
  }
  lua_createtable(L, (int)a->shape[dim], 0);
  for (int64_t i = 0; i < a->shape[dim]; i++) {
    push_attr_values(L, a, dim + 1, next);
    lua_rawseti(L, -2, i + 1);
  }
}


static void push_attrs(lua_State *L, const kubo_h5_attrs *a) {
  luaL_checkstack(L, KUBO_MAX_DIM + 8, "attributes too deep");
  lua_createtable(L, 0, a->count);
  for (int i = 0; i < a->count; i++) {
    int64_t next = 0;
    push_attr_values(L, &a->items[i], 0, &next);
    lua_setfield(L, -2, a->items[i].name);
  }
}


/* ---------------------------------------------------------------------
** Options tables
** ------------------------------------------------------------------- */

/* Raises if the table at idx has a key not in allowed (NULL-ended). */
static void check_option_names(lua_State *L, int idx, const char *caller,
                               const char *const *allowed,
                               const char *list) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int known = 0;
    if (lua_type(L, -2) == LUA_TSTRING)
      for (const char *const *p = allowed; *p != NULL; p++)
        known |= strcmp(lua_tostring(L, -2), *p) == 0;
    if (!known) {
      lua_pushvalue(L, -2);
      luaL_error(L, "%s: unknown option '%s' (expected %s)", caller,
                 luaL_tolstring(L, -1, NULL), list);
    }
    lua_pop(L, 1);
  }
}


/* Reads a whole-number field of the table at idx, or def if absent. */
static int64_t opt_int_field(lua_State *L, int idx, const char *field,
                             int64_t def) {
  int64_t v = def;
  lua_getfield(L, idx, field);
  if (!lua_isnil(L, -1)) {
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, -1, &isint);
    if (!isint)
      luaL_error(L, "option '%s' must be a whole number (got %s)", field,
                 luaL_tolstring(L, -1, NULL));
    v = (int64_t)i;
  }
  lua_pop(L, 1);
  return v;
}


/* Reads {compress = level} at idx (absent or nil: no compression). */
static int check_compress_option(lua_State *L, int idx, const char *caller) {
  static const char *const allowed[] = {"compress", NULL};
  if (lua_isnoneornil(L, idx)) return 0;
  luaL_checktype(L, idx, LUA_TTABLE);
  check_option_names(L, idx, caller, allowed, "compress");
  return (int)opt_int_field(L, idx, "compress", 0);
}


/* Returns nil, message for an I/O failure and raises any other. */
static int fail_io(lua_State *L, kubo_status status) {
  if (status != KUBO_EIO) return kb_raise(L);
  luaL_pushfail(L);
  lua_pushstring(L, kubo_error_message());
  return 2;
}


/* ---------------------------------------------------------------------
** Module functions
** ------------------------------------------------------------------- */

static int h5_write(lua_State *L) {
  const char *path;
  lua_settop(L, 5);   /* holders pushed below must not look like args */
  path = luaL_checkstring(L, 1);
  const char *name = luaL_checkstring(L, 2);
  kubo_tensor *t = kb_tensor_check(L, 3);
  kubo_h5_attrs *attrs = NULL;
  int compress;
  if (!lua_isnoneornil(L, 4)) attrs = check_attrs(L, 4);
  compress = check_compress_option(L, 5, "kubo.h5.write");
  KB_TRY(L, kubo_h5_write(path, name, t, attrs, compress));
  lua_pushboolean(L, 1);
  return 1;
}


/* Reads a 1-based frame index argument and converts it to 0-based. */
static int64_t check_frame(lua_State *L, int idx) {
  int64_t f = kb_check_int(L, idx, "frame");
  if (f < 1)
    luaL_argerror(L, idx, lua_pushfstring(L, "frames count from 1 (got "
                  "%d)", (int)f));
  return f - 1;
}


static int h5_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *name = luaL_checkstring(L, 2);
  kubo_h5_attrs *attrs;
  kubo_tensor t;
  kubo_status status;
  lua_settop(L, 4);
  attrs = push_attrs_holder(L);
  if (lua_isnoneornil(L, 3)) {
    status = kubo_h5_read(path, name, &t, attrs);
  } else {
    int64_t first = check_frame(L, 3), count = -1;
    if (!lua_isnoneornil(L, 4)) {
      int64_t last = check_frame(L, 4);
      if (last < first)
        return luaL_argerror(L, 4, "the last frame comes before the first");
      count = last - first + 1;
    }
    status = kubo_h5_read_frames(path, name, first, count, &t, attrs);
  }
  if (status != KUBO_OK) return fail_io(L, status);
  kb_tensor_push(L, &t);
  push_attrs(L, attrs);
  return 2;
}


static int h5_attrs(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *name = luaL_optstring(L, 2, "/");
  kubo_h5_attrs *attrs = push_attrs_holder(L);
  kubo_status status = kubo_h5_read_attrs(path, name, attrs);
  if (status != KUBO_OK) return fail_io(L, status);
  push_attrs(L, attrs);
  return 1;
}


static int h5_set_attrs(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *name = luaL_checkstring(L, 2);
  kubo_h5_attrs *attrs = check_attrs(L, 3);
  KB_TRY(L, kubo_h5_write_attrs(path, name, attrs));
  lua_pushboolean(L, 1);
  return 1;
}


static int list_gc(lua_State *L) {
  kubo_h5_list_free(lua_touserdata(L, 1));
  return 0;
}


static int h5_list(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  kubo_h5_list *list = lua_newuserdatauv(L, sizeof *list, 0);
  kubo_status status;
  int ndatasets = 0;
  memset(list, 0, sizeof *list);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, list_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  status = kubo_h5_list_file(path, list);
  if (status != KUBO_OK) return fail_io(L, status);

  lua_newtable(L);                                  /* names */
  lua_createtable(L, 0, list->count);               /* info */
  for (int i = 0; i < list->count; i++) {
    const kubo_h5_entry *e = &list->items[i];
    lua_createtable(L, 0, 4);
    lua_pushstring(L, e->is_group ? "group" : "dataset");
    lua_setfield(L, -2, "kind");
    if (!e->is_group) {
      lua_createtable(L, e->ndim, 0);
      for (int d = 0; d < e->ndim; d++) {
        lua_pushinteger(L, (lua_Integer)e->shape[d]);
        lua_rawseti(L, -2, d + 1);
      }
      lua_setfield(L, -2, "shape");
      lua_pushstring(L, e->dtype);
      lua_setfield(L, -2, "dtype");
      lua_pushboolean(L, e->appendable);
      lua_setfield(L, -2, "appendable");
      lua_pushstring(L, e->name);
      lua_rawseti(L, -4, ++ndatasets);
    }
    lua_setfield(L, -2, e->name);
  }
  return 2;
}


static int h5_append(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *name = luaL_checkstring(L, 2);
  kubo_tensor *t = kb_tensor_check(L, 3);
  int compress = check_compress_option(L, 4, "kubo.h5.append");
  KB_TRY(L, kubo_h5_append(path, name, t, compress));
  lua_pushboolean(L, 1);
  return 1;
}


/* ---------------------------------------------------------------------
** kubo.H5Writer
** ------------------------------------------------------------------- */

typedef struct writer_ud {
  kubo_h5_writer *w;     /* NULL once closed */
  int id;                /* appendable dataset, or -1 without a name */
  char label[128];       /* file and dataset, for tostring */
} writer_ud;


static writer_ud *check_writer(lua_State *L, int idx) {
  writer_ud *u = luaL_checkudata(L, idx, KB_H5_WRITER);
  if (u->w == NULL) luaL_error(L, "attempt to use a closed writer");
  return u;
}


/* Reads the frame_shape table on top of the stack into shape. */
static int check_frame_shape(lua_State *L, int64_t *shape) {
  lua_Integer n;
  if (!lua_istable(L, -1))
    return luaL_error(L, "kubo.h5.writer: option 'frame_shape' must be a "
                      "table of sizes (got %s)", luaL_typename(L, -1));
  n = luaL_len(L, -1);
  if (n > KUBO_MAX_DIM - 1)
    return luaL_error(L, "kubo.h5.writer: frame_shape has %d dimensions "
                      "(at most %d)", (int)n, (int)KUBO_MAX_DIM - 1);
  for (lua_Integer d = 1; d <= n; d++) {
    int isint = 0;
    lua_Integer v;
    lua_geti(L, -1, d);
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1)
      return luaL_error(L, "kubo.h5.writer: frame_shape[%d] must be a "
                        "whole number >= 1 (got %s)", (int)d,
                        luaL_tolstring(L, -1, NULL));
    shape[d - 1] = (int64_t)v;
    lua_pop(L, 1);
  }
  return (int)n;
}


static int h5_writer(lua_State *L) {
  static const char *const allowed[] = {"file", "name", "frame_shape",
                                        "dtype", "compress", "chunk_frames",
                                        NULL};
  const char *path, *name;
  int64_t frame_shape[KUBO_MAX_DIM];
  int frame_ndim = -1, dtype = -1, compress;
  int64_t chunk_frames;
  writer_ud *u;
  kubo_status status;
  luaL_checktype(L, 1, LUA_TTABLE);
  check_option_names(L, 1, "kubo.h5.writer", allowed, "file, name, "
                     "frame_shape, dtype, compress, chunk_frames");
  lua_getfield(L, 1, "file");
  if (lua_type(L, -1) != LUA_TSTRING)
    return luaL_error(L, "kubo.h5.writer: option 'file' must be a file "
                      "name (got %s)", luaL_typename(L, -1));
  path = lua_tostring(L, -1);
  lua_getfield(L, 1, "name");
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    return luaL_error(L, "kubo.h5.writer: option 'name' must be a dataset "
                      "name (got %s)", luaL_typename(L, -1));
  name = lua_tostring(L, -1);
  lua_getfield(L, 1, "frame_shape");
  if (!lua_isnil(L, -1)) frame_ndim = check_frame_shape(L, frame_shape);
  lua_getfield(L, 1, "dtype");
  if (!lua_isnil(L, -1)) {
    const char *d = lua_tostring(L, -1);
    dtype = d != NULL ? kubo_dtype_parse(d) : -1;
    if (dtype < 0)
      return luaL_error(L, "kubo.h5.writer: option 'dtype' must be "
                        "\"float64\" or \"float32\" (got %s)",
                        luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 2);
  compress = (int)opt_int_field(L, 1, "compress", 0);
  chunk_frames = opt_int_field(L, 1, "chunk_frames", 1);
  if (chunk_frames < 1)
    return luaL_error(L, "kubo.h5.writer: option 'chunk_frames' must be at "
                      "least 1 (got %d)", (int)chunk_frames);
  if (name == NULL && (frame_ndim >= 0 || dtype >= 0))
    return luaL_error(L, "kubo.h5.writer: 'frame_shape' and 'dtype' need "
                      "'name', the dataset to append to");

  /* Create the userdata closed, with its metatable, then open it, so that
  ** __gc always finds a valid state. */
  u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  u->id = -1;
  luaL_setmetatable(L, KB_H5_WRITER);
  KB_TRY(L, kubo_h5_writer_open(&u->w, path));
  snprintf(u->label, sizeof u->label, "%s%s%s", path, name ? " " : "",
           name ? name : "");
  if (name != NULL) {
    status = kubo_h5_writer_dataset(u->w, name, dtype, frame_ndim,
                                    frame_shape, compress, chunk_frames,
                                    &u->id);
    if (status != KUBO_OK) {
      kubo_h5_writer_discard(u->w);
      u->w = NULL;
      return kb_raise(L);
    }
  }
  return 1;
}


static int w_append(lua_State *L) {
  writer_ud *u = check_writer(L, 1);
  kubo_tensor *t = kb_tensor_check(L, 2);
  if (u->id < 0)
    return luaL_error(L, "this writer has no dataset to append to (give "
                      "'name' to kubo.h5.writer)");
  KB_TRY(L, kubo_h5_writer_append(u->w, u->id, t));
  lua_pushinteger(L, (lua_Integer)kubo_h5_writer_frames(u->w, u->id));
  return 1;
}


static int w_frames(lua_State *L) {
  writer_ud *u = check_writer(L, 1);
  lua_pushinteger(L, u->id < 0 ? 0
                  : (lua_Integer)kubo_h5_writer_frames(u->w, u->id));
  return 1;
}


static int w_write(lua_State *L) {
  writer_ud *u;
  lua_settop(L, 5);
  u = check_writer(L, 1);
  const char *name = luaL_checkstring(L, 2);
  kubo_tensor *t = kb_tensor_check(L, 3);
  kubo_h5_attrs *attrs = NULL;
  int compress;
  if (!lua_isnoneornil(L, 4)) attrs = check_attrs(L, 4);
  compress = check_compress_option(L, 5, "writer:write");
  KB_TRY(L, kubo_h5_writer_write(u->w, name, t, attrs, compress));
  lua_settop(L, 1);
  return 1;
}


static int w_set_attrs(lua_State *L) {
  writer_ud *u = check_writer(L, 1);
  const char *name = luaL_checkstring(L, 2);
  kubo_h5_attrs *attrs = check_attrs(L, 3);
  KB_TRY(L, kubo_h5_writer_write_attrs(u->w, name, attrs));
  lua_settop(L, 1);
  return 1;
}


static int w_flush(lua_State *L) {
  writer_ud *u = check_writer(L, 1);
  KB_TRY(L, kubo_h5_writer_flush(u->w));
  lua_settop(L, 1);
  return 1;
}


static int w_close(lua_State *L) {
  writer_ud *u = check_writer(L, 1);
  kubo_h5_writer *w = u->w;
  u->w = NULL;
  KB_TRY(L, kubo_h5_writer_close(w));
  lua_pushboolean(L, 1);
  return 1;
}


static int w_discard(lua_State *L) {
  writer_ud *u = check_writer(L, 1);
  kubo_h5_writer_discard(u->w);
  u->w = NULL;
  return 0;
}


static int w_path(lua_State *L) {
  lua_pushstring(L, kubo_h5_writer_path(check_writer(L, 1)->w));
  return 1;
}


/* __gc and __close: commit an open writer, so the frames appended before
** an error or a dropped reference are kept. */
static int w_finalize(lua_State *L) {
  writer_ud *u = luaL_checkudata(L, 1, KB_H5_WRITER);
  kubo_h5_writer *w = u->w;
  int closing = lua_gettop(L) >= 2;        /* __close(w, err) */
  if (w == NULL) return 0;
  u->w = NULL;
  if (kubo_h5_writer_close(w) != KUBO_OK) {
    /* __close with no error pending may raise; __gc may not. */
    if (closing && lua_isnil(L, 2)) return kb_raise(L);
    kubo_log(KUBO_LOG_ERROR, "%s", kubo_error_message());
  }
  return 0;
}


static int w_tostring(lua_State *L) {
  writer_ud *u = luaL_checkudata(L, 1, KB_H5_WRITER);
  if (u->w == NULL)
    lua_pushfstring(L, "kubo.H5Writer(%s, closed)", u->label);
  else if (u->id < 0)
    lua_pushfstring(L, "kubo.H5Writer(%s)", u->label);
  else
    lua_pushfstring(L, "kubo.H5Writer(%s, %I frames)", u->label,
                    (lua_Integer)kubo_h5_writer_frames(u->w, u->id));
  return 1;
}


static const kb_reg writer_methods[] = {
  {"append", w_append,
   "w:append(t) appends one frame (t has the frame shape) or a stack of "
   "frames (shape (k, frame shape)) and returns the number of frames"},
  {"frames", w_frames, "w:frames() -> number of frames in the dataset"},
  {"write", w_write,
   "w:write(name, t, [attrs], [{compress = level}]) writes a whole "
   "dataset in the same file, committed with the frames on close"},
  {"set_attrs", w_set_attrs,
   "w:set_attrs(name, attrs) sets attributes of a dataset or group (\"/\" "
   "for the file) in the writer's file"},
  {"flush", w_flush,
   "w:flush() writes buffered data to the temporary file, which is then a "
   "complete HDF5 file; the target changes only on close"},
  {"close", w_close,
   "w:close() finishes the file and puts it in place of the target; "
   "raises if that fails (the target is then unchanged)"},
  {"discard", w_discard,
   "w:discard() drops everything written through w and leaves the "
   "target file as it was"},
  {"path", w_path, "w:path() -> the file that close will replace"},
  {"__gc", w_finalize, NULL},
  {"__close", w_finalize, NULL},
  {"__tostring", w_tostring, NULL},
  {NULL, NULL, NULL}
};


static const kb_reg h5_functions[] = {
  {"write", h5_write,
   "kubo.h5.write(file, name, t, [attrs], [{compress = level}]) writes "
   "tensor t as dataset name (\"/group/x\"; groups are created) with "
   "attributes attrs (numbers, strings, booleans stored as 0/1, lists, "
   "tensors). Compression is deflate level 0..9. The file is replaced "
   "only when the write succeeds; errors are raised."},
  {"read", h5_read,
   "kubo.h5.read(file, name, [first], [last]) -> tensor, attrs; reads the "
   "dataset (or frames first..last of its first dimension, 1-based). "
   "float32 stays float32, other numeric types become float64. Returns "
   "nil, message if the file or dataset is missing or unreadable."},
  {"list", h5_list,
   "kubo.h5.list(file) -> names, info: names lists the datasets "
   "(\"/group/x\"); info[path] = {kind = \"dataset\" or \"group\", shape, "
   "dtype, appendable} for every dataset and group. Returns nil, message "
   "if the file is missing or unreadable."},
  {"attrs", h5_attrs,
   "kubo.h5.attrs(file, [name]) -> table of the attributes of dataset or "
   "group name (default \"/\", the file's own); nil, message if missing"},
  {"set_attrs", h5_set_attrs,
   "kubo.h5.set_attrs(file, name, attrs) adds attributes to an existing "
   "dataset or group (\"/\" for the file, created if missing); errors are "
   "raised"},
  {"append", h5_append,
   "kubo.h5.append(file, name, frame, [{compress = level}]) appends a "
   "frame (or a stack of frames) to an appendable dataset, creating it "
   "from the first frame. Each call copies the file; for many frames use "
   "kubo.h5.writer."},
  {"writer", h5_writer,
   "kubo.h5.writer{file = f, [name = dataset], [frame_shape = {...}], "
   "[dtype = \"float64\"], [compress = 0..9], [chunk_frames = 1]} -> "
   "H5Writer that streams frames into a temporary copy of f and puts it "
   "in place of f on close (also when collected or closed by <close> "
   "after an error)"},
  {NULL, NULL, NULL}
};


void kb_open_h5(lua_State *L) {
  kb_newclass(L, KB_H5_WRITER, writer_methods,
              "kubo.H5Writer: a write transaction on one HDF5 file. "
              "Methods: append, frames, write, set_attrs, flush, close, "
              "discard, path.");
  lua_pop(L, 1);
  lua_newtable(L);
  kb_setfuncs(L, -1, h5_functions);
  kb_setdoc(L, -1, "kubo.h5: HDF5 files of tensors with attributes "
                   "(write, read, list, attrs, set_attrs, append, "
                   "writer). Shapes are row-major, as h5py shows them.");
  lua_setfield(L, -2, "h5");
}
