/*
** args.c: parsing of the kubo command line (see args.h).
*/
#include <stdlib.h>
#include <string.h>

#include <lua.h>

#include "args.h"
#include "kubo/version.h"


/* Checks a --set argument: a dotted name with no empty part, then '=',
** then the value (which may be empty). */
static int check_set(app_args *a, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *part = spec;
  if (eq == NULL || eq == spec) {
    snprintf(a->error, sizeof a->error, "invalid --set '%s': expected "
             "name=value (for example --set n=64)", spec);
    return -1;
  }
  for (const char *p = spec; p <= eq; p++) {
    if (*p == '.' || p == eq) {
      if (p == part) {
        snprintf(a->error, sizeof a->error, "invalid --set '%s': the "
                 "name has an empty part (expected names such as "
                 "model.alpha)", spec);
        return -1;
      }
      part = p + 1;
    }
  }
  return 0;
}


/* Takes a --set option at argv[*i] ("--set name=value" or
** "--set=name=value"). Returns 1 if argv[*i] was one (advancing *i past
** its value), 0 if it was not, -1 on a usage error. */
static int take_set(app_args *a, char **argv, int *i) {
  const char *spec;
  if (strcmp(argv[*i], "--set") == 0) {
    spec = argv[*i + 1];
    if (spec == NULL) {
      snprintf(a->error, sizeof a->error, "'--set' needs an argument "
               "name=value (for example --set n=64)");
      return -1;
    }
    *i += 1;
  } else if (strncmp(argv[*i], "--set=", 6) == 0) {
    spec = argv[*i] + 6;
  } else {
    return 0;
  }
  if (check_set(a, spec) != 0) return -1;
  a->sets[a->nsets++] = spec;
  return 1;
}


/* Reads the argument of -e or -l: attached ("-eCODE") or the next one,
** which must not look like an option (as in lua). */
static const char *option_value(char **argv, int *i) {
  if (argv[*i][2] != '\0') return argv[*i] + 2;
  if (argv[*i + 1] == NULL || argv[*i + 1][0] == '-') return NULL;
  *i += 1;
  return argv[*i];
}


/* Parses the options before the script. Returns the index of the first
** argument that is not an option (argc if none), or -1 on error. */
static int parse_options(app_args *a, int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    const char *opt = argv[i];
    int set_found;
    if (opt[0] != '-' || strcmp(opt, "-") == 0) return i;
    set_found = take_set(a, argv, &i);
    if (set_found < 0) return -1;
    if (set_found > 0) continue;
    if (strcmp(opt, "--") == 0) return i + 1;
    if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
      a->help = 1;
    } else if (strcmp(opt, "--version") == 0) {
      a->version_only = 1;
    } else if (strcmp(opt, "-i") == 0) {
      a->interactive = 1;
    } else if (strcmp(opt, "-v") == 0) {
      a->show_version = 1;
    } else if (strcmp(opt, "-E") == 0) {
      a->ignore_env = 1;
    } else if (strcmp(opt, "-W") == 0) {
      a->actions[a->nactions++] = (app_action){'W', NULL};
    } else if (opt[1] == 'e' || opt[1] == 'l') {
      const char *value = option_value(argv, &i);
      if (value == NULL) {
        snprintf(a->error, sizeof a->error, "'%s' needs argument", opt);
        a->error_is_option = 1;
        return -1;
      }
      a->actions[a->nactions++] = (app_action){opt[1], value};
      if (opt[1] == 'e') a->has_execute = 1;
    } else {
      snprintf(a->error, sizeof a->error, "unrecognized option '%s'", opt);
      a->error_is_option = 1;
      return -1;
    }
  }
  return argc;
}


int args_parse(app_args *a, int argc, char **argv) {
  int first, out;
  memset(a, 0, sizeof *a);
  a->actions = calloc((size_t)argc + 1, sizeof *a->actions);
  a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
  a->argv = calloc((size_t)argc + 1, sizeof *a->argv);
  if (a->actions == NULL || a->sets == NULL || a->argv == NULL) {
    snprintf(a->error, sizeof a->error, "out of memory");
    return -1;
  }

  first = parse_options(a, argc, argv);
  if (first < 0) return -1;
  a->script = first < argc ? first : 0;

  /* The arg table is built from argv as given, except that --set pairs
  ** after the script (up to a "--") are kubo's, not the script's. */
  out = 0;
  for (int i = 0; i < argc; i++) {
    if (a->script > 0 && i > a->script) {
      int set_found = take_set(a, argv, &i);
      if (set_found < 0) return -1;
      if (set_found > 0) continue;
      if (strcmp(argv[i], "--") == 0) {
        while (i < argc) a->argv[out++] = argv[i++];
        break;
      }
    }
    a->argv[out++] = argv[i];
  }
  a->argc = out;
  a->argv[out] = NULL;
  return 0;
}


void args_free(app_args *a) {
  free(a->actions);
  free((void *)a->sets);
  free(a->argv);
  a->actions = NULL;
  a->sets = NULL;
  a->argv = NULL;
}


void args_print_usage(FILE *out) {
  fputs(
    "usage: kubo [options] [script [args]]\n"
    "Available options are:\n"
    "  -e stat   execute string 'stat'\n"
    "  -i        enter interactive mode after executing 'script'\n"
    "  -l mod    require library 'mod' into global 'mod'\n"
    "  -l g=mod  require library 'mod' into global 'g'\n"
    "  -v        show version information\n"
    "  -E        ignore environment variables\n"
    "  -W        turn warnings on\n"
    "  --        stop handling options\n"
    "  -         stop handling options and execute stdin\n"
    "  --set name=value\n"
    "            set kubo.params.name (dotted names make nested tables;\n"
    "            numbers and true/false are converted, quotes keep a\n"
    "            string); may be repeated, before or after the script\n"
    "            (after it, up to a '--' argument)\n"
    "  -h, --help  show this text    --version  show the version\n"
    "With no script and a terminal on stdin, kubo starts its REPL.\n"
    "Environment: LUA_INIT, LUA_PATH and LUA_CPATH (with _5_4 variants)\n"
    "as in lua; KUBO_HISTORY names the REPL history file (default\n"
    "~/.kubo_history, empty: none); OMP_NUM_THREADS sets the number of\n"
    "threads.\n", out);
}


void args_print_version(FILE *out) {
  fprintf(out, "kubo %s (%s)\n", KUBO_VERSION, LUA_RELEASE);
}
