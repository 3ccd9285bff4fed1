/*
** args.h: the command line of the kubo program.
**
** The options are those of the standalone lua 5.4 program (-e, -l, -i,
** -v, -E, -W, -- and -) plus kubo's --set, --help and --version. Options
** end at the script name. The arguments after the script belong to the
** script, except --set pairs (up to a "--" argument), which kubo takes
** out of them.
*/
#ifndef KUBO_APP_ARGS_H
#define KUBO_APP_ARGS_H

#include <stdio.h>

/* An option that runs in command-line order: 'e' (execute value), 'l'
** (require value) or 'W' (turn warnings on; value is NULL). */
typedef struct app_action {
  char kind;
  const char *value;
} app_action;

typedef struct app_args {
  int argc;              /* argv without the --set pairs after the script */
  char **argv;
  int script;            /* index of the script in argv, or 0 if none */
  int interactive;       /* -i */
  int show_version;      /* -v */
  int ignore_env;        /* -E */
  int has_execute;       /* at least one -e */
  int help;              /* --help or -h: print the usage and exit */
  int version_only;      /* --version: print the version and exit */
  app_action *actions;   /* -e, -l and -W in command-line order */
  int nactions;
  const char **sets;     /* the name=value strings of --set */
  int nsets;
  char error[512];       /* why parsing failed */
  int error_is_option;   /* the error is an unknown or incomplete option,
                            after which lua prints the usage */
} app_args;

/* Parses argv into a. Returns 0 on success. On a usage error returns -1
** with a message in a->error. The arrays in a are allocated and freed
** by args_free; the strings point into argv. */
int args_parse(app_args *a, int argc, char **argv);

void args_free(app_args *a);

/* Writes the usage text (options and environment variables) to out. */
void args_print_usage(FILE *out);

/* Writes "kubo VERSION (Lua VERSION)" and a newline to out. */
void args_print_version(FILE *out);

#endif
