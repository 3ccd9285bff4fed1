/*
** score.c: the C half of kubo.score (training, loading, analytic and
** Gaussian scores, sampling, Stein values, the denoising loss) and the
** kubo.Score class. lua/kubo/score.lua builds the public module on top
** of the table registered here as kubo._score.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kb.h"
#include "kubo/model.h"
#include "kubo/nn.h"
#include "kubo/score.h"

#define KB_SCORE "kubo.Score"


/* ---------------------------------------------------------------------
** The userdata. A training call creates it first, so that __gc frees the
** data source and the trainer if an error is raised half way.
** ------------------------------------------------------------------- */

typedef struct kb_score {
  kubo_score *s;
  kubo_score_trainer *pending;   /* a trainer not yet wrapped in s */
  kubo_score_data *data;         /* training data during train */
} kb_score;


static kb_score *new_score(lua_State *L) {
  kb_score *u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, KB_SCORE);
  return u;
}


static int score_gc(lua_State *L) {
  kb_score *u = luaL_checkudata(L, 1, KB_SCORE);
  kubo_score_free(u->s);
  kubo_score_trainer_free(u->pending);
  kubo_score_data_free(u->data);
  u->s = NULL;
  u->pending = NULL;
  u->data = NULL;
  return 0;
}


static kubo_score *check_score(lua_State *L, int idx) {
  kb_score *u = luaL_checkudata(L, idx, KB_SCORE);
  if (u->s == NULL) luaL_argerror(L, idx, "attempt to use a freed score");
  return u->s;
}


/* Wraps the trainer held in u->pending into u->s. */
static void finish_score(lua_State *L, kb_score *u) {
  kubo_score_trainer *tr = u->pending;
  u->pending = NULL;
  if (kubo_score_from_trainer(&u->s, tr) != KUBO_OK) kb_raise(L);
  kb_account(L, (size_t)(4 * kubo_nn_num_parameters(
                 kubo_score_trainer_net(tr))) * sizeof(float));
}


/* ---------------------------------------------------------------------
** Options
** ------------------------------------------------------------------- */

static const char *const train_options[] = {
  "net", "data", "sigma_min", "sigma_max", "noise_range", "epochs",
  "steps", "batch", "optimizer", "ema", "split", "seed", "progress",
  "checkpoint", "checkpoint_every", "resume", "scale", "output",
  "data_std", "eval_batch", NULL};

static const char *const optimizer_options[] = {
  "kind", "lr", "betas", "eps", "clip", "clip_mode", "warmup", "order",
  "momentum", "nesterov", NULL};


static double opt_number(lua_State *L, int idx, const char *key,
                         double def) {
  return kb_nn_opt_number(L, idx, "score.train", key, def);
}


/* Reads a whole-number option of up to 2^53. */
static int64_t opt_count(lua_State *L, int idx, const char *fname,
                         const char *key, int64_t def) {
  int64_t value = def;
  if (lua_getfield(L, idx, key) != LUA_TNIL) {
    int isnum = 0;
    lua_Number v = lua_tonumberx(L, -1, &isnum);
    if (!isnum || v != floor(v) || fabs(v) > 9007199254740992.0)
      luaL_error(L, "%s: %s must be a whole number (got %s)", fname, key,
                 luaL_tolstring(L, -1, NULL));
    value = (int64_t)v;
  }
  lua_pop(L, 1);
  return value;
}


static void read_noise_range(lua_State *L, kubo_score_config *cfg) {
  int type = lua_getfield(L, 1, "noise_range");
  if (type == LUA_TSTRING) {
    const char *name = lua_tostring(L, -1);
    if (strcmp(name, "response") == 0) {
      cfg->t_low = KUBO_SCORE_T_FLOOR;
      cfg->t_high = KUBO_SCORE_T_RESPONSE;
    } else if (strcmp(name, "full") == 0) {
      cfg->t_low = KUBO_SCORE_T_FLOOR;
      cfg->t_high = 1.0;
    } else {
      luaL_error(L, "score.train: noise_range must be \"response\", "
                 "\"full\" or {t_low, t_high} (got \"%s\")", name);
    }
  } else if (type == LUA_TTABLE) {
    int ok1, ok2;
    lua_geti(L, -1, 1);
    lua_geti(L, -2, 2);
    cfg->t_low = lua_tonumberx(L, -2, &ok1);
    cfg->t_high = lua_tonumberx(L, -1, &ok2);
    if (!ok1 || !ok2 || luaL_len(L, -3) != 2)
      luaL_error(L, "score.train: noise_range must be \"response\", "
                 "\"full\" or a pair of numbers {t_low, t_high}");
    lua_pop(L, 2);
  } else if (type != LUA_TNIL) {
    luaL_error(L, "score.train: noise_range must be \"response\", \"full\" "
               "or {t_low, t_high} (got %s)", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}


static void read_optimizer(lua_State *L, kubo_score_config *cfg) {
  const char *f = "score.train: optimizer";
  int idx;
  if (lua_getfield(L, 1, "optimizer") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "score.train: optimizer must be a table such as {lr = "
               "2e-4, clip = 1, warmup = 5000} (got %s)",
               luaL_typename(L, -1));
  idx = lua_gettop(L);
  kb_nn_check_options(L, idx, f, optimizer_options);
  if (lua_getfield(L, idx, "kind") != LUA_TNIL) {
    const char *kind = lua_tostring(L, -1);
    double lr = cfg->optim.lr, clip = cfg->optim.clip;
    if (kind != NULL && strcmp(kind, "sgd") == 0)
      kubo_optim_config_default(&cfg->optim, KUBO_OPTIM_SGD);
    else if (kind == NULL || strcmp(kind, "adam") != 0)
      luaL_error(L, "%s: kind must be \"adam\" or \"sgd\" (got %s)", f,
                 luaL_tolstring(L, -1, NULL));
    cfg->optim.lr = lr;
    cfg->optim.clip = clip;
  }
  lua_pop(L, 1);

  cfg->optim.lr = kb_nn_opt_number(L, idx, f, "lr", cfg->optim.lr);
  cfg->optim.eps = kb_nn_opt_number(L, idx, f, "eps", cfg->optim.eps);
  cfg->optim.clip = kb_nn_opt_number(L, idx, f, "clip", cfg->optim.clip);
  cfg->optim.momentum = kb_nn_opt_number(L, idx, f, "momentum",
                                         cfg->optim.momentum);
  cfg->optim.nesterov = kb_nn_opt_bool(L, idx, f, "nesterov",
                                       cfg->optim.nesterov);
  cfg->optim.warmup = opt_count(L, idx, f, "warmup", cfg->optim.warmup);

  if (lua_getfield(L, idx, "betas") != LUA_TNIL) {
    if (!lua_istable(L, -1) || luaL_len(L, -1) != 2)
      luaL_error(L, "%s: betas must be a pair {beta1, beta2}", f);
    lua_geti(L, -1, 1);
    lua_geti(L, -2, 2);
    cfg->optim.beta1 = luaL_checknumber(L, -2);
    cfg->optim.beta2 = luaL_checknumber(L, -1);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);

  if (lua_getfield(L, idx, "clip_mode") != LUA_TNIL) {
    const char *mode = lua_tostring(L, -1);
    if (mode != NULL && strcmp(mode, "global") == 0)
      cfg->optim.clip_mode = KUBO_CLIP_GLOBAL;
    else if (mode != NULL && strcmp(mode, "array") == 0)
      cfg->optim.clip_mode = KUBO_CLIP_ARRAY;
    else
      luaL_error(L, "%s: clip_mode must be \"global\" or \"array\" (got "
                 "%s)", f, luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 1);

  if (lua_getfield(L, idx, "order") != LUA_TNIL) {
    const char *order = lua_tostring(L, -1);
    if (order != NULL && strcmp(order, "reference") == 0)
      cfg->optim.order = KUBO_ORDER_REFERENCE;
    else if (order != NULL && strcmp(order, "standard") == 0)
      cfg->optim.order = KUBO_ORDER_STANDARD;
    else
      luaL_error(L, "%s: order must be \"standard\" or \"reference\" (got "
                 "%s)", f, luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 2);
}


static void read_ema(lua_State *L, kubo_score_config *cfg) {
  int type = lua_getfield(L, 1, "ema");
  if (type == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    cfg->ema_rate = 0;
  } else if (type == LUA_TNUMBER) {
    cfg->ema_rate = lua_tonumber(L, -1);
  } else if (type == LUA_TTABLE) {
    static const char *const valid[] = {"rate", "warmup", NULL};
    int idx = lua_gettop(L);
    kb_nn_check_options(L, idx, "score.train: ema", valid);
    cfg->ema_rate = kb_nn_opt_number(L, idx, "score.train: ema", "rate",
                                     cfg->ema_rate);
    cfg->ema_warmup = kb_nn_opt_bool(L, idx, "score.train: ema", "warmup",
                                     cfg->ema_warmup);
  } else if (type != LUA_TNIL) {
    luaL_error(L, "score.train: ema must be a rate such as 0.999, "
               "{rate = 0.999, warmup = true}, or false (got %s)",
               luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}


/* Opens the data option into u->data. */
static void read_data(lua_State *L, kb_score *u) {
  int type = lua_getfield(L, 1, "data");
  if (type == LUA_TNIL)
    luaL_error(L, "score.train: the data option is required: a tensor "
               "(samples, ...) or {file = \"f.h5\", dataset = \"name\"}");
  if (type == LUA_TTABLE) {
    const char *file, *dataset;
    lua_getfield(L, -1, "file");
    lua_getfield(L, -2, "dataset");
    file = lua_tostring(L, -2);
    dataset = lua_tostring(L, -1);
    if (file == NULL || dataset == NULL)
      luaL_error(L, "score.train: data given as a table needs file and "
                 "dataset strings, e.g. {file = \"run.h5\", dataset = "
                 "\"snapshots\"}");
    if (kubo_score_data_from_h5(&u->data, file, dataset) != KUBO_OK)
      kb_raise(L);
    lua_pop(L, 2);
  } else {
    kubo_tensor *t = kb_tensor_test(L, -1);
    if (t == NULL)
      luaL_error(L, "score.train: data must be a tensor or {file = ..., "
                 "dataset = ...} (got %s)", luaL_typename(L, -1));
    t = kb_tensor_check(L, -1);
    if (kubo_score_data_from_tensor(&u->data, t) != KUBO_OK) kb_raise(L);
  }
  lua_pop(L, 1);
}


static void read_config(lua_State *L, kubo_score_config *cfg) {
  const char *f = "score.train";
  kubo_score_config_default(cfg);
  cfg->sigma_min = opt_number(L, 1, "sigma_min", cfg->sigma_min);
  if (lua_getfield(L, 1, "sigma_max") == LUA_TSTRING) {
    if (strcmp(lua_tostring(L, -1), "auto") != 0)
      luaL_error(L, "score.train: sigma_max must be \"auto\" or a number "
                 "(got \"%s\")", lua_tostring(L, -1));
  } else if (!lua_isnil(L, -1)) {
    int isnum = 0;
    cfg->sigma_max = lua_tonumberx(L, -1, &isnum);
    if (!isnum || !(cfg->sigma_max > 0))
      luaL_error(L, "score.train: sigma_max must be \"auto\" or a positive "
                 "number (got %s)", luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 1);

  read_noise_range(L, cfg);
  cfg->epochs = opt_count(L, 1, f, "epochs", cfg->epochs);
  cfg->steps = opt_count(L, 1, f, "steps", 0);
  if (cfg->steps != 0 && lua_getfield(L, 1, "epochs") == LUA_TNIL)
    cfg->epochs = 0;
  else if (cfg->steps != 0)
    luaL_error(L, "score.train: give epochs or steps, not both");
  lua_settop(L, 1);

  cfg->batch = opt_count(L, 1, f, "batch", cfg->batch);
  cfg->eval_batch = opt_count(L, 1, f, "eval_batch", cfg->eval_batch);
  cfg->split = opt_number(L, 1, "split", cfg->split);
  cfg->seed = (uint64_t)opt_count(L, 1, f, "seed", (int64_t)cfg->seed);
  cfg->scale = opt_number(L, 1, "scale", cfg->scale);
  cfg->data_std = opt_number(L, 1, "data_std", cfg->data_std);
  cfg->checkpoint_every = opt_count(L, 1, f, "checkpoint_every", 0);

  if (lua_getfield(L, 1, "output") != LUA_TNIL) {
    const char *name = lua_tostring(L, -1);
    int kind = name != NULL ? kubo_score_output_parse(name) : -1;
    if (kind < 0)
      luaL_error(L, "score.train: output must be \"epsilon\" or \"score\" "
                 "(got %s)", luaL_tolstring(L, -1, NULL));
    cfg->output = (kubo_score_output)kind;
  }
  lua_pop(L, 1);

  read_optimizer(L, cfg);
  read_ema(L, cfg);
  if (lua_getfield(L, 1, "checkpoint") != LUA_TNIL) {
    cfg->checkpoint = lua_tostring(L, -1);
    if (cfg->checkpoint == NULL || lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "score.train: checkpoint must be a file name (got %s)",
                 luaL_typename(L, -1));
  }
  /* the string stays referenced by the options table */
  lua_pop(L, 1);
}


/* ---------------------------------------------------------------------
** Progress
** ------------------------------------------------------------------- */

typedef struct progress_ctx {
  lua_State *L;
  int fn;          /* stack index of a Lua progress function, or 0 */
  bool print;      /* print a line per epoch on stderr */
} progress_ctx;


static void format_seconds(double s, char *buf, size_t size) {
  if (!(s >= 0) || s > 1e9) {
    snprintf(buf, size, "?");
  } else if (s >= 3600) {
    snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
  } else {
    snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
  }
}


static kubo_status on_progress(const kubo_score_progress *p, void *ud) {
  progress_ctx *c = ud;
  lua_State *L = c->L;
  if (c->print) {
    char eta[32];
    format_seconds(p->eta_seconds, eta, sizeof eta);
    fprintf(stderr, "score.train: epoch %lld/%lld%s  step %lld/%lld  "
            "train %.5f  test %.5f  %.0f samples/s  ETA %s\n",
            (long long)p->epoch, (long long)p->epochs,
            p->partial ? " (partial)" : "", (long long)p->step,
            (long long)p->steps, p->train_loss, p->test_loss,
            p->samples_per_second, eta);
    fflush(stderr);
  }
  if (c->fn != 0) {
    lua_pushvalue(L, c->fn);
    lua_createtable(L, 0, 9);
    lua_pushinteger(L, (lua_Integer)p->epoch);
    lua_setfield(L, -2, "epoch");
    lua_pushinteger(L, (lua_Integer)p->epochs);
    lua_setfield(L, -2, "epochs");
    lua_pushinteger(L, (lua_Integer)p->step);
    lua_setfield(L, -2, "step");
    lua_pushinteger(L, (lua_Integer)p->steps);
    lua_setfield(L, -2, "steps");
    lua_pushnumber(L, p->train_loss);
    lua_setfield(L, -2, "train_loss");
    lua_pushnumber(L, p->test_loss);
    lua_setfield(L, -2, "test_loss");
    lua_pushnumber(L, p->samples_per_second);
    lua_setfield(L, -2, "samples_per_second");
    lua_pushnumber(L, p->eta_seconds);
    lua_setfield(L, -2, "eta");
    lua_pushboolean(L, p->partial);
    lua_setfield(L, -2, "partial");
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      kubo_status st = kubo_error_set(KUBO_EINVAL, "score.train: the "
                                      "progress function failed: %s",
                                      luaL_tolstring(L, -1, NULL));
      lua_pop(L, 2);
      return st;
    }
  }
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** kubo.score functions
** ------------------------------------------------------------------- */

static int l_train(lua_State *L) {
  kubo_score_config cfg;
  progress_ctx pc = {L, 0, false};
  const kubo_nn *net;
  kb_score *u;
  int type, uidx;
  kubo_status st;

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  kb_nn_check_options(L, 1, "score.train", train_options);
  if (lua_getfield(L, 1, "net") == LUA_TNIL)
    return luaL_error(L, "score.train: the net option is required, e.g. "
                      "net = kubo.nn.local_score{channels = 32}");
  if (luaL_testudata(L, -1, KB_MODULE) == NULL)
    return luaL_error(L, "score.train: net must be a kubo.nn.Module (got "
                      "%s)", luaL_typename(L, -1));
  net = kb_module_check(L, -1);
  lua_pop(L, 1);
  read_config(L, &cfg);

  type = lua_getfield(L, 1, "progress");    /* index 2 */
  if (type == LUA_TFUNCTION)
    pc.fn = 2;
  else if (type == LUA_TBOOLEAN)
    pc.print = lua_toboolean(L, -1);
  else if (type != LUA_TNIL)
    return luaL_error(L, "score.train: progress must be true, false or a "
                      "function of a table (got %s)", luaL_typename(L, -1));
  lua_getfield(L, 1, "resume");             /* index 3 */
  if (!lua_isnil(L, 3) && !lua_isboolean(L, 3) && !lua_isstring(L, 3))
    return luaL_error(L, "score.train: resume must be a checkpoint file "
                      "name or true (got %s)", luaL_typename(L, 3));
  if (lua_toboolean(L, 3) && lua_isboolean(L, 3) && cfg.checkpoint == NULL)
    return luaL_error(L, "score.train: resume = true needs the checkpoint "
                      "option");

  u = new_score(L);
  uidx = lua_gettop(L);
  read_data(L, u);
  KB_TRY(L, kubo_score_trainer_new(&u->pending, net, u->data, &cfg));

  if (lua_isstring(L, 3)) {
    KB_TRY(L, kubo_score_trainer_resume(u->pending, lua_tostring(L, 3)));
  } else if (lua_toboolean(L, 3)) {
    FILE *f = fopen(cfg.checkpoint, "rb");
    if (f != NULL) {
      fclose(f);
      KB_TRY(L, kubo_score_trainer_resume(u->pending, cfg.checkpoint));
    }
  }

  st = kubo_score_trainer_run(u->pending, u->data, on_progress, &pc);
  kubo_score_data_free(u->data);
  u->data = NULL;
  if (st == KUBO_EINTERRUPTED) {
    kubo_score_trainer *tr = u->pending;
    if (cfg.checkpoint != NULL)
      return luaL_error(L, "score.train: interrupted at step %I of %I; "
                        "the checkpoint '%s' holds the model (load it with "
                        "kubo.score.load, or continue with resume = \"%s\")",
                        (lua_Integer)kubo_score_trainer_step(tr),
                        (lua_Integer)kubo_score_trainer_total_steps(tr),
                        cfg.checkpoint, cfg.checkpoint);
    return luaL_error(L, "score.train: interrupted at step %I of %I; no "
                      "checkpoint option was given, so the partly trained "
                      "model was not kept",
                      (lua_Integer)kubo_score_trainer_step(tr),
                      (lua_Integer)kubo_score_trainer_total_steps(tr));
  }
  if (st != KUBO_OK) return kb_raise(L);
  finish_score(L, u);
  lua_settop(L, uidx);
  return 1;
}


static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  kb_score *u = new_score(L);
  KB_TRY(L, kubo_score_trainer_load(&u->pending, path));
  finish_score(L, u);
  return 1;
}


static int l_analytic(lua_State *L) {
  kubo_model *m;
  double scale = 1.0;
  kb_score *u;
  if (luaL_testudata(L, 1, KB_MODEL) == NULL)
    return luaL_error(L, "score.analytic: expected a model such as "
                      "kubo.models.allen_cahn{...} (got %s)",
                      luaL_typename(L, 1));
  m = kb_model_check(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    static const char *const valid[] = {"scale", NULL};
    luaL_checktype(L, 2, LUA_TTABLE);
    kb_nn_check_options(L, 2, "score.analytic", valid);
    scale = kb_nn_opt_number(L, 2, "score.analytic", "scale", 1.0);
  }
  u = new_score(L);
  KB_TRY(L, kubo_score_analytic(&u->s, m, scale));
  return 1;
}


static int l_gaussian(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  kubo_score_cov cov = t->ndim == 3 ? KUBO_SCORE_COV_CIRCULANT
                                    : KUBO_SCORE_COV_DENSE;
  kb_score *u;
  if (!lua_isnoneornil(L, 2)) {
    static const char *const valid[] = {"kind", NULL};
    luaL_checktype(L, 2, LUA_TTABLE);
    kb_nn_check_options(L, 2, "score.gaussian", valid);
    if (lua_getfield(L, 2, "kind") != LUA_TNIL) {
      const char *kind = lua_tostring(L, -1);
      if (kind != NULL && strcmp(kind, "dense") == 0)
        cov = KUBO_SCORE_COV_DENSE;
      else if (kind != NULL && strcmp(kind, "circulant") == 0)
        cov = KUBO_SCORE_COV_CIRCULANT;
      else
        return luaL_error(L, "score.gaussian: kind must be \"dense\" or "
                          "\"circulant\" (got %s)",
                          luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
  }
  u = new_score(L);
  KB_TRY(L, kubo_score_gaussian(&u->s, t, cov));
  return 1;
}


static int l_sample(lua_State *L) {
  static const char *const valid[] = {"score", "n", "steps", "t_end",
                                      "seed", "sigma_min", "sigma_max",
                                      NULL};
  const char *f = "score.sample";
  kubo_score_sample_config cfg;
  kubo_tensor out = {0};
  kubo_score *s;
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  if (lua_getfield(L, 1, "score") == LUA_TNIL ||
      luaL_testudata(L, -1, KB_SCORE) == NULL)
    return luaL_error(L, "score.sample: score must be a kubo.Score, e.g. "
                      "from kubo.score.train{..., noise_range = \"full\"} "
                      "(got %s)", luaL_typename(L, -1));
  s = check_score(L, -1);
  kubo_score_sample_config_default(&cfg);
  cfg.n = opt_count(L, 1, f, "n", cfg.n);
  cfg.steps = opt_count(L, 1, f, "steps", cfg.steps);
  cfg.seed = (uint64_t)opt_count(L, 1, f, "seed", 0);
  cfg.t_end = kb_nn_opt_number(L, 1, f, "t_end", cfg.t_end);
  cfg.sigma_min = kb_nn_opt_number(L, 1, f, "sigma_min", 0);
  cfg.sigma_max = kb_nn_opt_number(L, 1, f, "sigma_max", 0);
  KB_TRY(L, kubo_score_sample(s, &cfg, &out));
  kb_tensor_push(L, &out);
  return 1;
}


static int l_stein(lua_State *L) {
  kubo_tensor *x = kb_tensor_check(L, 1), *s = kb_tensor_check(L, 2);
  bool dense = x->ndim == 2;
  if (!lua_isnoneornil(L, 3)) {
    static const char *const valid[] = {"dense", NULL};
    luaL_checktype(L, 3, LUA_TTABLE);
    kb_nn_check_options(L, 3, "score.stein", valid);
    dense = kb_nn_opt_bool(L, 3, "score.stein", "dense", dense);
  }
  if (dense) {
    kubo_tensor m = {0};
    KB_TRY(L, kubo_score_stein_dense(x, s, &m));
    kb_tensor_push(L, &m);
    return 1;
  } else {
    kubo_tensor v = {0}, e = {0};
    KB_TRY(L, kubo_score_stein_spectral(x, s, &v, &e));
    kb_tensor_push(L, &v);
    kb_tensor_push(L, &e);
    return 2;
  }
}


static int l_loss(lua_State *L) {
  kubo_score *s = check_score(L, 1);
  kubo_tensor *x = kb_tensor_check(L, 2);
  double sigma = NAN, smin, smax, tlo, thi, loss = 0, se = 0;
  uint64_t seed = 0;
  if (kubo_score_schedule(s, &smin, &smax, &tlo, &thi) == KUBO_OK &&
      kubo_score_get_kind(s) == KUBO_SCORE_NETWORK)
    sigma = smin;
  if (!lua_isnoneornil(L, 3)) {
    static const char *const valid[] = {"sigma", "seed", NULL};
    luaL_checktype(L, 3, LUA_TTABLE);
    kb_nn_check_options(L, 3, "score.loss", valid);
    sigma = kb_nn_opt_number(L, 3, "score.loss", "sigma", sigma);
    seed = (uint64_t)opt_count(L, 3, "score.loss", "seed", 0);
  }
  if (isnan(sigma))
    return luaL_error(L, "score.loss: give the noise level, e.g. "
                      "{sigma = 0.01}");
  KB_TRY(L, kubo_score_dsm_loss(s, x, sigma, seed, &loss, &se));
  lua_pushnumber(L, loss);
  lua_pushnumber(L, se);
  return 2;
}


/* ---------------------------------------------------------------------
** kubo.Score methods
** ------------------------------------------------------------------- */

static int m_call(lua_State *L) {
  kubo_score *s = check_score(L, 1);
  kubo_tensor *x = kb_tensor_check(L, 2);
  kubo_tensor out = {0};
  KB_TRY(L, kubo_score_eval(s, x, &out));
  kb_tensor_push(L, &out);
  return 1;
}


static int m_at(lua_State *L) {
  kubo_score *s = check_score(L, 1);
  kubo_tensor *x = kb_tensor_check(L, 2);
  double sigma = luaL_checknumber(L, 3);
  kubo_tensor out = {0};
  KB_TRY(L, kubo_score_eval_at(s, x, sigma, &out));
  kb_tensor_push(L, &out);
  return 1;
}


static int m_save(lua_State *L) {
  kubo_score *s = check_score(L, 1);
  const char *path = luaL_checkstring(L, 2);
  kubo_score_trainer *tr = kubo_score_get_trainer(s);
  if (tr == NULL)
    return luaL_error(L, "score.save: only a learned score can be saved "
                      "(this one is %s)",
                      kubo_score_kind_name(kubo_score_get_kind(s)));
  KB_TRY(L, kubo_score_trainer_save(tr, path));
  lua_settop(L, 1);
  return 1;
}


static int m_ideal_loss(lua_State *L) {
  kubo_score *s = check_score(L, 1);
  double sigma = luaL_checknumber(L, 2), loss = 0;
  double scale = luaL_optnumber(L, 3, 1.0);
  KB_TRY(L, kubo_score_gaussian_ideal_loss(s, sigma, scale, &loss));
  lua_pushnumber(L, loss);
  return 1;
}


/* Pushes the training or test samples of data (the tensor the score was
** trained on) as a new tensor, in split order. */
static int split_data(lua_State *L, bool test) {
  kubo_score *s = check_score(L, 1);
  kubo_tensor *data = kb_tensor_check(L, 2);
  kubo_score_trainer *tr = kubo_score_get_trainer(s);
  kubo_tensor out = {0};
  int64_t count, n, *idx;
  if (tr == NULL)
    return luaL_error(L, "score: only a learned score has a train/test "
                      "split");
  count = kubo_score_trainer_data_count(tr);
  if (data->ndim < 1 || data->shape[0] != count)
    return luaL_error(L, "score: the data have %d samples, but the score "
                      "was trained on %d", data->ndim ? (int)data->shape[0]
                                                      : 0, (int)count);

  n = test ? count - kubo_score_trainer_train_count(tr)
           : kubo_score_trainer_train_count(tr);
  idx = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *idx, 0);
  kubo_score_trainer_indices(tr, test, idx);
  {
    int64_t shape[KUBO_MAX_DIM];
    for (int d = 0; d < data->ndim; d++) shape[d] = data->shape[d];
    shape[0] = n;
    KB_TRY(L, kubo_tensor_init(&out, data->dtype, data->ndim, shape));
    for (int64_t i = 0; i < n; i++) {
      kubo_tensor src = {0}, dst = {0};
      kubo_status st = kubo_tensor_select(&src, data, 0, idx[i]);
      if (st == KUBO_OK) st = kubo_tensor_select(&dst, &out, 0, i);
      if (st == KUBO_OK) st = kubo_tensor_copy(&dst, &src);
      kubo_tensor_release(&src);
      kubo_tensor_release(&dst);
      if (st != KUBO_OK) {
        kubo_tensor_release(&out);
        return kb_raise(L);
      }
    }
  }

  kb_tensor_push(L, &out);
  return 1;
}


static int m_test_data(lua_State *L) { return split_data(L, true); }
static int m_train_data(lua_State *L) { return split_data(L, false); }


static int m_free(lua_State *L) {
  luaL_checkudata(L, 1, KB_SCORE);
  return score_gc(L);
}


static void push_history(lua_State *L, kubo_score_trainer *tr) {
  int64_t rows = 0, shape[1];
  const double *h = kubo_score_trainer_history(tr, &rows);
  static const char *const names[4] = {"epoch", "train", "test", "step"};
  shape[0] = rows;
  lua_createtable(L, 0, 4);
  for (int c = 0; c < 4; c++) {
    kubo_tensor t = {0};
    if (kubo_tensor_init(&t, KUBO_FLOAT64, 1, shape) != KUBO_OK) {
      kb_raise(L);
      return;
    }
    for (int64_t r = 0; r < rows; r++) ((double *)t.data)[r] = h[r * 5 + c];
    kb_tensor_push(L, &t);
    lua_setfield(L, -2, names[c]);
  }
}


/* Properties, after the methods of the metatable. */
static int m_index(lua_State *L) {
  kb_score *u = luaL_checkudata(L, 1, KB_SCORE);
  const char *key = luaL_checkstring(L, 2);
  kubo_score *s;
  kubo_score_trainer *tr;
  double smin, smax, tlo, thi;
  bool sched;
  luaL_getmetatable(L, KB_SCORE);
  if (lua_getfield(L, -1, key) != LUA_TNIL) return 1;
  lua_pop(L, 2);
  if (u->s == NULL) return luaL_error(L, "attempt to use a freed score");
  s = u->s;
  tr = kubo_score_get_trainer(s);
  sched = kubo_score_schedule(s, &smin, &smax, &tlo, &thi) == KUBO_OK;

  if (strcmp(key, "kind") == 0) {
    lua_pushstring(L, kubo_score_kind_name(kubo_score_get_kind(s)));
  } else if (strcmp(key, "shape") == 0) {
    int64_t shape[KUBO_SCORE_MAX_FRAME_DIM];
    int n = kubo_score_frame_shape(s, shape);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
      lua_pushinteger(L, (lua_Integer)shape[i]);
      lua_seti(L, -2, i + 1);
    }
  } else if (strcmp(key, "scale") == 0) {
    lua_pushnumber(L, kubo_score_scale(s));
  } else if (strcmp(key, "sigma_min") == 0 && sched) {
    lua_pushnumber(L, smin);
  } else if (strcmp(key, "sigma_max") == 0 && sched) {
    lua_pushnumber(L, smax);
  } else if (strcmp(key, "noise_range") == 0 && tr != NULL) {
    lua_createtable(L, 2, 0);
    lua_pushnumber(L, tlo);
    lua_seti(L, -2, 1);
    lua_pushnumber(L, thi);
    lua_seti(L, -2, 2);
  } else if (strcmp(key, "noise_range_name") == 0 && tr != NULL) {
    lua_pushstring(L, tlo == KUBO_SCORE_T_FLOOR &&
                      thi == KUBO_SCORE_T_RESPONSE ? "response"
                    : tlo == KUBO_SCORE_T_FLOOR && thi == 1.0 ? "full"
                    : "custom");
  } else if (strcmp(key, "loss_history") == 0 && tr != NULL) {
    push_history(L, tr);
  } else if (strcmp(key, "steps") == 0 && tr != NULL) {
    lua_pushinteger(L, (lua_Integer)kubo_score_trainer_step(tr));
  } else if (strcmp(key, "epochs") == 0 && tr != NULL) {
    lua_pushinteger(L, (lua_Integer)kubo_score_trainer_epoch(tr));
  } else if (strcmp(key, "output") == 0 && tr != NULL) {
    lua_pushstring(L, kubo_score_output_name(
                        kubo_score_trainer_config(tr)->output));
  } else if (strcmp(key, "data_std") == 0 && tr != NULL) {
    lua_pushnumber(L, kubo_score_trainer_config(tr)->data_std);
  } else if (strcmp(key, "parameters") == 0 && tr != NULL) {
    lua_pushinteger(L, (lua_Integer)kubo_nn_num_parameters(
                      kubo_score_trainer_net(tr)));
  } else {
    lua_pushnil(L);
  }
  return 1;
}


static int m_tostring(lua_State *L) {
  kb_score *u = luaL_checkudata(L, 1, KB_SCORE);
  kubo_score *s = u->s;
  kubo_score_trainer *tr;
  if (s == NULL) {
    lua_pushliteral(L, "kubo.Score (freed)");
    return 1;
  }
  tr = kubo_score_get_trainer(s);
  if (tr != NULL) {
    const kubo_score_config *c = kubo_score_trainer_config(tr);
    lua_pushfstring(L, "kubo.Score (network %s, %I steps on t in [%f, %f], "
                    "sigma_min %f, sigma_max %f, scale %f, %s output)",
                    kubo_nn_kind(kubo_score_trainer_net(tr)),
                    (lua_Integer)kubo_score_trainer_step(tr), c->t_low,
                    c->t_high, c->sigma_min, c->sigma_max, c->scale,
                    kubo_score_output_name(c->output));
  } else {
    lua_pushfstring(L, "kubo.Score (%s)",
                    kubo_score_kind_name(kubo_score_get_kind(s)));
  }
  return 1;
}


static const kb_reg score_methods[] = {
  {"__call", m_call, NULL},
  {"__index", m_index, NULL},
  {"__gc", score_gc, NULL},
  {"__close", score_gc, NULL},
  {"__tostring", m_tostring, NULL},
  {"at", m_at,
   "s:at(x, sigma) -> the score of the data convolved with N(0, sigma^2 I) "
   "at x (..., sample shape), returned in x's shape and dtype. sigma is in "
   "the units of the network's input (the data times s.scale), as "
   "sigma_min and sigma_max are. A learned score needs sigma > 0, an "
   "analytic one sigma = 0; a Gaussian score takes any sigma >= 0."},
  {"save", m_save,
   "s:save(file) writes a learned score with its raw and averaged "
   "weights, optimizer state, loss history and noise schedule to an HDF5 "
   "file (kubo.score.load reads it; training can resume from it)"},
  {"test_data", m_test_data,
   "s:test_data(data) -> the held-out samples of data, the tensor the "
   "score was trained on (the samples its seeded split kept for testing)"},
  {"train_data", m_train_data,
   "s:train_data(data) -> the training samples of data (see test_data)"},
  {"ideal_loss", m_ideal_loss,
   "g:ideal_loss(sigma, [scale = 1]) -> the smallest denoising loss per "
   "value at sigma, (1/D) sum_k c_k / (c_k + sigma^2), for Gaussian data "
   "with the covariance of this Gaussian score g times scale^2: the "
   "ideal that a learned score of Gaussian data approaches"},
  {"free", m_free, "s:free() releases the score's memory now"},
  {NULL, NULL, NULL}
};


static const kb_reg score_functions[] = {
  {"train", l_train,
   "score.train{net = net, data = x, ...} -> Score: learns the score of "
   "the data by denoising score matching on the variance-exploding "
   "schedule sigma(t) = sigma_min (sigma_max / sigma_min)^t. data: a "
   "tensor (samples, dim), (samples, ny, nx) or (samples, channels, ny, "
   "nx), or {file = \"f.h5\", dataset = \"snapshots\"} read in batches. "
   "net: a noise-conditional kubo.nn.Module (local_score, unet, or mlp "
   "with embed > 0); it is copied and left unchanged. Options: "
   "sigma_min = 0.01; sigma_max = \"auto\" (1.2 times the largest "
   "distance between two of up to 512 training samples, all pairs) or a "
   "number; noise_range = \"response\" (default, t ~ U(1e-5, 0.25)): the "
   "response estimators use the score at sigma_min only, and spending "
   "the training on low noise levels made a learned Allen-Cahn score as "
   "accurate for responses as the analytic one in a CPU study, while t "
   "~ U(1e-5, 1) barely beat the Gaussian estimate; \"full\" (t ~ "
   "U(1e-5, 1)) is needed to sample; or {t_low, t_high}. epochs = 10 or "
   "steps = n (total optimizer steps); batch = 32; optimizer = {lr = "
   "2e-4, clip = 1, clip_mode = \"global\", warmup = 0, betas, eps, "
   "order, kind = \"adam\" or \"sgd\"}; ema = 0.999 (rate, warm-up on; "
   "{rate =, warmup =}; false: none); split = 0.8 (seeded shuffle into "
   "training and test samples); seed = 123; scale = 1 (the network sees "
   "data * scale; scores come back in data units); output = \"epsilon\" "
   "(s = net / sigma, the reference model) or \"score\" (s = net / "
   "sqrt(sigma^2 + data_std^2), more accurate near sigma_min); data_std "
   "(default: the data's); progress = true prints a line per epoch on "
   "stderr (train and test loss, samples/s, ETA), or a function of a "
   "table; checkpoint = \"file.h5\" written every checkpoint_every "
   "epochs, at the end and on Ctrl-C; resume = \"file.h5\" (or true: the "
   "checkpoint file if it exists) continues to the same bits as an "
   "uninterrupted run. Ctrl-C stops at a batch boundary, writes the "
   "checkpoint and raises an error naming it."},
  {"load", l_load,
   "score.load(file) -> Score: a learned score saved by s:save or a "
   "training checkpoint (evaluated with the averaged weights)"},
  {"analytic", l_analytic,
   "score.analytic(model, [{scale = 1}]) -> Score: the model's exact "
   "score (ou, allen_cahn, double_well, linear) behaving like a learned "
   "one; scale: the data are scale times the model's state (s_y(y) = "
   "s(y / scale) / scale)"},
  {"gaussian", l_gaussian,
   "score.gaussian(data, [{kind = ...}]) -> Score: -(C + sigma^2 I)^-1 "
   "(x - mean) of the Gaussian fit to the samples data; s(x) uses sigma "
   "= 0 and s:at(x, sigma) any sigma. kind = \"circulant\" (default for "
   "(samples, ny, nx)): one mean and one variance per Fourier mode, for "
   "translation-invariant fields on a periodic grid; \"dense\" (default "
   "otherwise): the full sample covariance"},
  {"sample", l_sample,
   "score.sample{score = s, n = 1000, steps = 250, [t_end = 1e-3], "
   "[seed = 0]} -> tensor (n, ...sample shape...): reverse-SDE "
   "Euler-Maruyama from t = 1 to t_end, started from N(0, sigma_max^2 I). "
   "Needs a score trained with noise_range = \"full\" (or a Gaussian "
   "score, with optional sigma_min and sigma_max)"},
  {"stein", l_stein,
   "score.stein(x, s, [{dense = bool}]) -> values, stderr: Stein values "
   "-<x'^_k conj(s^_k)> / M per Fourier mode (half spectrum) of samples "
   "x (samples, n) or (samples, ny, nx) and their scores s, with x' = x "
   "minus its per-point mean; 1 at every mode for an exact score. With "
   "dense = true (the default for (samples, dim)): the matrix -<x' s^T>, "
   "the identity for an exact score"},
  {"loss", l_loss,
   "score.loss(s, x, [{sigma = s.sigma_min, seed = 0}]) -> loss, stderr: "
   "the denoising loss (1/D) <|z + sigma s(y + sigma z)|^2> per value on "
   "the samples x (y = x * s.scale), with fixed seeded noise z; compare "
   "with g:ideal_loss(sigma, s.scale) of g = kubo.score.gaussian(x)"},
  {NULL, NULL, NULL}
};


void kb_open_score(lua_State *L) {
  kb_newclass(L, KB_SCORE, score_methods,
              "kubo.Score: a score function s(x) = grad log p(x), learned "
              "(evaluated at sigma_min with the averaged weights), "
              "analytic or Gaussian. Call s(x) on tensors (..., sample "
              "shape). Fields: kind, shape, scale, sigma_min, sigma_max, "
              "noise_range, noise_range_name, loss_history ({epoch, "
              "train, test, step} tensors), steps, epochs, output, "
              "data_std, parameters. Methods: at, save, test_data, "
              "train_data, ideal_loss, diagnose, free.");
  lua_setfield(L, -2, "_score_class");
  lua_createtable(L, 0, 8);
  kb_setfuncs(L, -1, score_functions);
  lua_setfield(L, -2, "_score");
}
