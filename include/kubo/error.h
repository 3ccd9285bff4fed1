/*
** error.h: status codes, the thread-local error message, the log
** function and the interrupt flag of the kubo engine.
**
** Every fallible engine function returns a kubo_status. On failure it
** leaves a message, readable with kubo_error_message(), that names the
** bad value and what was expected. The engine never exits, aborts or
** prints: messages go to the caller, and log lines go through the
** handler installed with kubo_log_set_handler() (stderr by default).
*/
#ifndef KUBO_ERROR_H
#define KUBO_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kubo_status {
  KUBO_OK = 0,
  KUBO_EINVAL,       /* invalid argument: a bad shape, size or value */
  KUBO_ENOMEM,       /* an allocation failed */
  KUBO_EIO,          /* a file could not be read or written */
  KUBO_ENUMERIC,     /* NaN, Inf or a singular matrix appeared */
  KUBO_EINTERRUPTED, /* kubo_interrupt_request() stopped the work */
  KUBO_ESTATE        /* the object was used in a state that forbids it */
} kubo_status;

/* Returns the message of the last failure on this thread ("" if none). */
const char *kubo_error_message(void);

/* Formats a message into this thread's error buffer and returns status,
** so that callers can write `return kubo_error_set(KUBO_EINVAL, ...)`.
** Messages longer than the buffer (1023 bytes) are truncated. */
kubo_status kubo_error_set(kubo_status status, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

/* Prefixes the current message with "prefix: " (for context such as the
** layer or file name) and returns status. */
kubo_status kubo_error_prefix(kubo_status status, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

void kubo_error_clear(void);

/* Returns a short name for a status ("invalid argument", ...). */
const char *kubo_status_name(kubo_status status);


/* ---------------------------------------------------------------------
** Logging
** ------------------------------------------------------------------- */

typedef enum kubo_log_level {
  KUBO_LOG_DEBUG = 0,
  KUBO_LOG_INFO,
  KUBO_LOG_WARN,
  KUBO_LOG_ERROR,
  KUBO_LOG_OFF
} kubo_log_level;

typedef void (*kubo_log_handler)(kubo_log_level level, const char *message,
                                 void *userdata);

/* Sends one line to the handler if level is at or above the threshold.
** Safe to call from several threads; lines are formatted per call. */
void kubo_log(kubo_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

/* Installs a handler (NULL restores the default, which writes
** "kubo: <level>: <message>" to stderr). */
void kubo_log_set_handler(kubo_log_handler handler, void *userdata);
void kubo_log_set_level(kubo_log_level threshold);
kubo_log_level kubo_log_get_level(void);


/* ---------------------------------------------------------------------
** Interrupts
**
** A signal handler (Ctrl-C in the program) calls kubo_interrupt_request().
** Long-running engine loops call kubo_interrupt_pending() at safe points
** (step or batch boundaries) and, if it is set, stop with the objects in
** a consistent state and return KUBO_EINTERRUPTED. The caller clears the
** flag with kubo_interrupt_clear() before the next piece of work.
** ------------------------------------------------------------------- */

void kubo_interrupt_request(void);     /* async-signal-safe */
int kubo_interrupt_pending(void);
void kubo_interrupt_clear(void);

/* Returns KUBO_EINTERRUPTED with the message "interrupted (<what>)" if an
** interrupt is pending, else KUBO_OK. */
kubo_status kubo_interrupt_check(const char *what);

#ifdef __cplusplus
}
#endif

#endif
