/*
** error.c: thread-local error messages, the log function and the
** interrupt flag.
*/
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kubo/error.h"

enum { MESSAGE_SIZE = 1024 };

static _Thread_local char message[MESSAGE_SIZE];


const char *kubo_error_message(void) {
  return message;
}


kubo_status kubo_error_set(kubo_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return status;
}


kubo_status kubo_error_prefix(kubo_status status, const char *fmt, ...) {
  char prefix[MESSAGE_SIZE];
  char old[MESSAGE_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, message, sizeof old);
  /* Both parts are cut to fit the buffer, the prefix first. */
  snprintf(message, sizeof message, "%.500s: %.500s", prefix, old);
  return status;
}


void kubo_error_clear(void) {
  message[0] = '\0';
}


const char *kubo_status_name(kubo_status status) {
  switch (status) {
    case KUBO_OK: return "ok";
    case KUBO_EINVAL: return "invalid argument";
    case KUBO_ENOMEM: return "out of memory";
    case KUBO_EIO: return "input/output error";
    case KUBO_ENUMERIC: return "numerical failure";
    case KUBO_EINTERRUPTED: return "interrupted";
    case KUBO_ESTATE: return "invalid state";
  }
  return "unknown status";
}


/* ---------------------------------------------------------------------
** Logging
** ------------------------------------------------------------------- */

static const char *const level_names[] = {"debug", "info", "warning",
                                          "error", "off"};

static void log_to_stderr(kubo_log_level level, const char *msg, void *ud) {
  (void)ud;
  fprintf(stderr, "kubo: %s: %s\n", level_names[level], msg);
}

static kubo_log_handler log_handler = log_to_stderr;
static void *log_userdata = NULL;
static kubo_log_level log_threshold = KUBO_LOG_INFO;


void kubo_log(kubo_log_level level, const char *fmt, ...) {
  char line[MESSAGE_SIZE];
  va_list ap;
  if (level < log_threshold || level >= KUBO_LOG_OFF) return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  log_handler(level, line, log_userdata);
}


void kubo_log_set_handler(kubo_log_handler handler, void *userdata) {
  log_handler = handler ? handler : log_to_stderr;
  log_userdata = handler ? userdata : NULL;
}


void kubo_log_set_level(kubo_log_level threshold) {
  if (threshold >= KUBO_LOG_DEBUG && threshold <= KUBO_LOG_OFF)
    log_threshold = threshold;
}


kubo_log_level kubo_log_get_level(void) {
  return log_threshold;
}


/* ---------------------------------------------------------------------
** Interrupts
** ------------------------------------------------------------------- */

static volatile sig_atomic_t interrupt_flag = 0;


void kubo_interrupt_request(void) {
  interrupt_flag = 1;
}


int kubo_interrupt_pending(void) {
  return interrupt_flag != 0;
}


void kubo_interrupt_clear(void) {
  interrupt_flag = 0;
}


kubo_status kubo_interrupt_check(const char *what) {
  if (!interrupt_flag) return KUBO_OK;
  return kubo_error_set(KUBO_EINTERRUPTED, "interrupted (%s)", what);
}
