/*
 * Result codes: stable strings and the error-filling helper.
 */

#include <stdarg.h>
#include <stdio.h>

#include <iamsmart/status.h>


static const char *const iams_status_strings[IAMS_STATUS_COUNT] = {
    [IAMS_OK]                    = "ok",
    [IAMS_ERR_MALFORMED]         = "malformed token",
    [IAMS_ERR_TOO_LARGE]         = "token too large",
    [IAMS_ERR_ALG_NONE]          = "alg none not accepted",
    [IAMS_ERR_ALG_UNSUPPORTED]   = "unsupported alg",
    [IAMS_ERR_ALG_NOT_ALLOWED]   = "alg not allowed",
    [IAMS_ERR_ALG_KEY_MISMATCH]  = "alg not allowed for key",
    [IAMS_ERR_CRIT]              = "unsupported crit header",
    [IAMS_ERR_UNKNOWN_KID]       = "unknown kid",
    [IAMS_ERR_NO_KEY]            = "no usable key",
    [IAMS_ERR_BAD_SIGNATURE]     = "bad signature",
    [IAMS_ERR_EXPIRED]           = "token expired",
    [IAMS_ERR_NOT_YET_VALID]     = "token not yet valid",
    [IAMS_ERR_IAT_FUTURE]        = "token issued in the future",
    [IAMS_ERR_BAD_ISSUER]        = "wrong issuer",
    [IAMS_ERR_BAD_AUDIENCE]      = "wrong audience",
    [IAMS_ERR_BAD_CLAIM]         = "invalid claim",
    [IAMS_ERR_KEY_INVALID]       = "invalid key",
    [IAMS_ERR_KEY_WEAK]          = "key too weak",
    [IAMS_ERR_KEY_DUPLICATE_KID] = "duplicate kid",
    [IAMS_ERR_JSON]              = "invalid JSON",
    [IAMS_ERR_IO]                = "I/O error",
    [IAMS_ERR_NOMEM]             = "out of memory",
    [IAMS_ERR_INTERNAL]          = "internal error",
};


const char *
iams_status_str(iams_status status)
{
    if ((unsigned) status >= IAMS_STATUS_COUNT) {
        return "unknown status";
    }

    return iams_status_strings[status];
}


iams_status
iams_err_set(iams_err *err, iams_status status, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL) {
        return status;
    }

    err->status = status;
    err->detail[0] = '\0';

    if (fmt != NULL) {
        va_start(ap, fmt);
        (void) vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
        va_end(ap);
    }

    return status;
}
