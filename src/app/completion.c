/*
** completion.c: readline completion through kubo.repl (see
** completion.h).
*/
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <readline/readline.h>

#include "completion.h"

static lua_State *completion_state = NULL;
static int complete_ref = LUA_NOREF;

/* The candidates of the current completion, read by next_candidate. */
static char **candidates = NULL;
static int ncandidates = 0;


static void clear_candidates(void) {
  for (int i = 0; i < ncandidates; i++) free(candidates[i]);
  free(candidates);
  candidates = NULL;
  ncandidates = 0;
}


/* Calls the Lua function with word and copies the strings it returns
** into candidates. A Lua error gives no candidates. */
static int call_complete(lua_State *L) {
  const char *word = lua_touserdata(L, 1);
  lua_Integer n;
  lua_rawgeti(L, LUA_REGISTRYINDEX, complete_ref);
  lua_pushstring(L, word);
  lua_call(L, 1, 1);
  luaL_checktype(L, -1, LUA_TTABLE);
  n = luaL_len(L, -1);
  candidates = calloc((size_t)n + 1, sizeof *candidates);
  if (candidates == NULL) return 0;
  for (lua_Integer i = 1; i <= n; i++) {
    const char *s;
    lua_rawgeti(L, -1, i);
    s = lua_tostring(L, -1);
    if (s != NULL && (candidates[ncandidates] = strdup(s)) != NULL)
      ncandidates++;
    lua_pop(L, 1);
  }
  return 0;
}


/* The generator for rl_completion_matches: returns each candidate once,
** as a string that readline frees. */
static char *next_candidate(const char *text, int state) {
  static int next;
  (void)text;
  if (state == 0) next = 0;
  if (next < ncandidates) return strdup(candidates[next++]);
  return NULL;
}


static char **attempt_completion(const char *text, int start, int end) {
  lua_State *L = completion_state;
  char **matches;
  int top = lua_gettop(L);
  (void)start;
  (void)end;

  /* No file name completion, and no space after a completed name, so
  ** that `x:res` becomes `x:reshape(` ready for the arguments. */
  rl_attempted_completion_over = 1;
  rl_completion_append_character = '\0';

  clear_candidates();
  lua_pushcfunction(L, call_complete);
  lua_pushlightuserdata(L, (void *)text);
  lua_pcall(L, 1, 0, 0);
  lua_settop(L, top);

  matches = rl_completion_matches(text, next_candidate);
  clear_candidates();
  return matches;
}


void completion_install(lua_State *L) {
  completion_state = L;
  complete_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  rl_attempted_completion_function = attempt_completion;
  /* '.' and ':' are not word breaks, so that the word is the whole name
  ** path `kubo.zeros` or `g:laplacian`. */
  rl_completer_word_break_characters = " \t\n\"'`@$><=;|&{}()[],+-*/%^~#";
}
