/* Status names, per-thread error messages, version. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char last_error[512];

recur_status recur_fail(recur_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *recur_last_error(void) { return last_error; }

recur_status recur_set_error(recur_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *recur_status_string(recur_status s) {
    switch (s) {
    case RECUR_OK: return "RECUR_OK";
    case RECUR_ERR_NULL_POINTER: return "RECUR_ERR_NULL_POINTER";
    case RECUR_ERR_INVALID_ARGUMENT: return "RECUR_ERR_INVALID_ARGUMENT";
    case RECUR_ERR_UNSUPPORTED: return "RECUR_ERR_UNSUPPORTED";
    case RECUR_ERR_OUT_OF_MEMORY: return "RECUR_ERR_OUT_OF_MEMORY";
    case RECUR_ERR_BACKEND: return "RECUR_ERR_BACKEND";
    case RECUR_ERR_IO: return "RECUR_ERR_IO";
    case RECUR_ERR_FORMAT: return "RECUR_ERR_FORMAT";
    case RECUR_ERR_STATE: return "RECUR_ERR_STATE";
    case RECUR_ERR_NUMERIC: return "RECUR_ERR_NUMERIC";
    }
    return "RECUR_ERR_UNKNOWN";
}

const char *recur_version(void) { return RECUR_VERSION_STRING; }
