/*
** repl.c: the kubo REPL (see repl.h).
**
** A chunk is compiled first as "return <input>", so that an expression
** prints its values, then as a statement. A syntax error that ends at
** "<eof>" means the statement is unfinished: the next line is appended
** and the whole chunk compiled again. Nothing runs until the chunk
** compiles, so no input ever runs twice.
*/
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "completion.h"
#include "history.h"
#include "input.h"
#include "kubo/error.h"
#include "kubo/version.h"
#include "repl.h"
#include "runner.h"
#include "signals.h"

/* Outcome of reading one chunk. */
typedef enum chunk_status {
  CHUNK_READY,       /* a compiled function is on the stack */
  CHUNK_ERROR,       /* a syntax error message is on the stack */
  CHUNK_EOF,         /* end of input */
  CHUNK_CANCELLED,   /* Ctrl-C at the prompt */
} chunk_status;

typedef struct repl {
  lua_State *L;
  int format_ref;          /* kubo.repl.format, or LUA_NOREF */
  int cancelled_on_empty;  /* the last Ctrl-C was at an empty prompt */
  int empty_cancels;       /* Ctrl-C presses in a row at empty prompts */
  int mute;                /* the chunk ends with ';' */
} repl;


/* Copies the prompt to use (the global _PROMPT or _PROMPT2 if it is a
** string, as in lua) into buf. */
static void get_prompt(lua_State *L, int first, char *buf, size_t size) {
  const char *prompt;
  lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2");
  prompt = lua_tostring(L, -1);
  if (prompt == NULL) prompt = first ? "> " : ">> ";
  snprintf(buf, size, "%s", prompt);
  lua_pop(L, 1);
}


static int ends_with_semicolon(const char *code, size_t len) {
  while (len > 0 && strchr(" \t\r\n", code[len - 1]) != NULL) len--;
  return len > 0 && code[len - 1] == ';';
}


/* Pushes the first line of a chunk, rewriting the shorthands "=expr"
** (return expr) and "?x" (help(x)). */
static void push_first_line(lua_State *L, const char *line) {
  if (line[0] == '=') {
    lua_pushfstring(L, "return %s", line + 1);
  } else if (line[0] == '?') {
    const char *target = line + 1 + strspn(line + 1, " \t");
    lua_pushfstring(L, "help(%s)", target);
  } else {
    lua_pushstring(L, line);
  }
}


/* Compiles the chunk source on the top of the stack, first as an
** expression list and then as statements. Replaces the source with the
** function or the error message and returns the load status, or leaves
** the source and returns -1 if the chunk is unfinished. */
static int compile_chunk(lua_State *L) {
  static const char eof_mark[] = "<eof>";
  size_t len, msglen;
  const char *code = lua_tolstring(L, -1, &len);
  const char *as_return = lua_pushfstring(L, "return %s", code);
  const char *msg;
  int status;

  if (luaL_loadbuffer(L, as_return, strlen(as_return), "=stdin") ==
      LUA_OK) {
    lua_remove(L, -2);
    lua_remove(L, -2);
    return LUA_OK;
  }
  lua_pop(L, 2);

  status = luaL_loadbuffer(L, code, len, "=stdin");
  if (status == LUA_ERRSYNTAX) {
    msg = lua_tolstring(L, -1, &msglen);
    if (msglen >= sizeof eof_mark - 1 &&
        strcmp(msg + msglen - (sizeof eof_mark - 1), eof_mark) == 0) {
      lua_pop(L, 1);
      return -1;
    }
  }
  lua_remove(L, -2);
  return status;
}


/* Reads a line; adds it to the history. */
static input_status read_line(repl *r, int first, char **line,
                              int *was_empty) {
  char prompt[256];
  input_status status;
  get_prompt(r->L, first, prompt, sizeof prompt);
  status = input_read(prompt, line, was_empty);
  if (status == INPUT_LINE && input_uses_readline()) history_add(*line);
  return status;
}


/* Reads lines until they form a chunk that compiles or fails to compile
** for a reason other than an early end. */
static chunk_status read_chunk(repl *r) {
  lua_State *L = r->L;
  char *line;
  int was_empty, status;
  input_status got = read_line(r, 1, &line, &was_empty);

  if (got == INPUT_EOF) return CHUNK_EOF;
  if (got == INPUT_INTERRUPT) {
    r->cancelled_on_empty = was_empty;
    return CHUNK_CANCELLED;
  }
  push_first_line(L, line);
  free(line);

  for (;;) {
    size_t len;
    const char *code = lua_tolstring(L, -1, &len);
    r->mute = ends_with_semicolon(code, len);
    status = compile_chunk(L);
    if (status >= 0) break;
    got = read_line(r, 0, &line, &was_empty);
    if (got == INPUT_EOF) {
      /* report the parser's message, as lua does */
      luaL_loadbuffer(L, code, len, "=stdin");
      lua_remove(L, -2);
      return CHUNK_ERROR;
    }
    if (got == INPUT_INTERRUPT) {
      lua_pop(L, 1);
      r->cancelled_on_empty = 0;
      return CHUNK_CANCELLED;
    }
    lua_pushliteral(L, "\n");
    lua_pushstring(L, line);
    lua_concat(L, 3);
    free(line);
  }
  if (status != LUA_OK) return CHUNK_ERROR;
  return CHUNK_READY;
}


/* Prints the n values on the top of the stack through kubo.repl.format
** (or as tab-separated tostring values without it), then pops them. */
static void print_values(repl *r, int n) {
  lua_State *L = r->L;
  int status;
  if (r->format_ref == LUA_NOREF) {
    luaL_Buffer b;
    int first = lua_gettop(L) - n + 1;
    luaL_buffinit(L, &b);
    for (int i = 0; i < n; i++) {
      if (i > 0) luaL_addchar(&b, '\t');
      luaL_tolstring(L, first + i, NULL);
      luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    puts(lua_tostring(L, -1));
    lua_pop(L, n + 1);
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->format_ref);
  lua_insert(L, -n - 1);
  status = runner_docall(L, n, 1);
  if (status == LUA_OK) {
    const char *text = lua_tostring(L, -1);
    puts(text ? text : "(the value could not be printed)");
    lua_pop(L, 1);
  } else {
    fprintf(stderr, "error while printing the value: ");
    runner_report(L, status, 0);
  }
}


/* Runs the compiled chunk on the top of the stack and prints its values
** unless muted. */
static void evaluate(repl *r) {
  lua_State *L = r->L;
  int base = lua_gettop(L) - 1;
  int status = runner_docall(L, 0, LUA_MULTRET);
  int n = lua_gettop(L) - base;
  if (status != LUA_OK) {
    /* end the line after the ^C that the terminal echoed */
    if (signals_run_interrupted() && input_uses_readline())
      fputc('\n', stderr);
    runner_report(L, status, 0);
  } else if (n > 0 && !r->mute) {
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    print_values(r, n);
  }
  lua_settop(L, base);
  fflush(stdout);
}


/* Loads kubo.repl: sets the globals kubo and help, keeps the formatter
** and installs Tab completion. Without it the REPL still runs, printing
** values with tostring. */
static void load_helpers(repl *r) {
  lua_State *L = r->L;
  int status;
  r->format_ref = LUA_NOREF;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "kubo.repl");
  status = runner_docall(L, 1, 1);
  if (status != LUA_OK) {
    fprintf(stderr, "kubo: the REPL helpers failed to load, so values "
            "print with tostring and Tab does not complete: ");
    runner_report(L, status, 0);
    return;
  }
  lua_getfield(L, -1, "start");
  status = runner_docall(L, 0, 0);
  runner_report(L, status, 1);
  lua_getfield(L, -1, "format");
  r->format_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, -1, "complete");
  if (input_uses_readline())
    completion_install(L);
  else
    lua_pop(L, 1);
  lua_pop(L, 1);
}


static void print_banner(void) {
  int threads = omp_get_max_threads();
  printf("kubo %s (%s), %d thread%s. help() lists the modules; Ctrl-D "
         "exits.\n", KUBO_VERSION, LUA_RELEASE, threads,
         threads == 1 ? "" : "s");
  fflush(stdout);
}


void repl_run(lua_State *L) {
  repl r = {L, LUA_NOREF, 0, 0, 0};
  input_start();
  if (input_uses_readline()) history_start();
  load_helpers(&r);
  print_banner();

  for (;;) {
    chunk_status status;
    kubo_interrupt_clear();
    status = read_chunk(&r);
    if (status == CHUNK_EOF) {
      fputc('\n', stdout);
      break;
    }
    if (status == CHUNK_CANCELLED) {
      if (!r.cancelled_on_empty) {
        r.empty_cancels = 0;
        continue;
      }
      if (++r.empty_cancels >= 2) break;
      puts("(press Ctrl-C again or Ctrl-D to exit)");
      continue;
    }
    r.empty_cancels = 0;
    if (status == CHUNK_ERROR)
      runner_report(L, LUA_ERRSYNTAX, 0);
    else
      evaluate(&r);
  }

  lua_settop(L, 0);
  if (r.format_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX,
                                            r.format_ref);
  if (input_uses_readline()) history_finish();
  input_finish();
  fflush(stdout);
}
