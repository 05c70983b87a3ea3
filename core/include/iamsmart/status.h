/*
 * Result codes shared by every core function.
 *
 * A core function returns IAMS_OK (0) or one of the codes below, and fills an
 * optional iams_err with the same code plus a one-line detail for operators
 * (never a token, cookie or secret).  iams_status_str() gives the short, stable
 * reason that the CLI prints and the module puts in error_description and
 * $iamsmart_jwt_error; callers may compare codes, never strings.
 */

#ifndef IAMSMART_STATUS_H
#define IAMSMART_STATUS_H

#include <stddef.h>

typedef enum {
    IAMS_OK = 0,

    /* token shape */
    IAMS_ERR_MALFORMED,         /* "malformed token" */
    IAMS_ERR_TOO_LARGE,         /* "token too large" */

    /* algorithm and key selection */
    IAMS_ERR_ALG_NONE,          /* "alg none not accepted" */
    IAMS_ERR_ALG_UNSUPPORTED,   /* "unsupported alg" */
    IAMS_ERR_ALG_NOT_ALLOWED,   /* "alg not allowed" (by configured list) */
    IAMS_ERR_ALG_KEY_MISMATCH,  /* "alg not allowed for key" */
    IAMS_ERR_CRIT,              /* "unsupported crit header" */
    IAMS_ERR_UNKNOWN_KID,       /* "unknown kid" */
    IAMS_ERR_NO_KEY,            /* "no usable key" */
    IAMS_ERR_BAD_SIGNATURE,     /* "bad signature" */

    /* claims */
    IAMS_ERR_EXPIRED,           /* "token expired" */
    IAMS_ERR_NOT_YET_VALID,     /* "token not yet valid" */
    IAMS_ERR_IAT_FUTURE,        /* "token issued in the future" */
    IAMS_ERR_BAD_ISSUER,        /* "wrong issuer" */
    IAMS_ERR_BAD_AUDIENCE,      /* "wrong audience" */
    IAMS_ERR_BAD_CLAIM,         /* "invalid claim" (wrong JSON type) */

    /* keys */
    IAMS_ERR_KEY_INVALID,       /* "invalid key" */
    IAMS_ERR_KEY_WEAK,          /* "key too weak" */
    IAMS_ERR_KEY_DUPLICATE_KID, /* "duplicate kid" */

    /* JSON outside tokens (records, replies, adapter output) */
    IAMS_ERR_JSON,              /* "invalid JSON" */

    /* environment */
    IAMS_ERR_IO,                /* "I/O error" */
    IAMS_ERR_NOMEM,             /* "out of memory" */
    IAMS_ERR_INTERNAL,          /* "internal error" */

    IAMS_STATUS_COUNT
} iams_status;

#define IAMS_ERR_DETAIL_MAX  256

/* Filled by core functions on failure; may be NULL when the caller only
 * needs the code.  Plain storage, no ownership. */
typedef struct {
    iams_status  status;
    char         detail[IAMS_ERR_DETAIL_MAX];   /* NUL-terminated, may be "" */
} iams_err;

/* Static string, never NULL, stable across releases. */
const char *iams_status_str(iams_status status);

/* Sets err (if not NULL) and returns status; detail is printf-formatted. */
iams_status iams_err_set(iams_err *err, iams_status status,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* IAMSMART_STATUS_H */
