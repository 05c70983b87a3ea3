/*
 * Randomness for identifiers and IVs, from OpenSSL's CSPRNG (RAND_bytes).
 * A failure of the generator is reported, never papered over: the caller
 * must not fall back to a weaker source.
 */

#ifndef IAMSMART_RANDOM_H
#define IAMSMART_RANDOM_H

#include <stddef.h>

#include <iamsmart/status.h>

/* Fills buf[0..n) with random bytes.  IAMS_ERR_INTERNAL on failure. */
iams_status iams_random_bytes(unsigned char *buf, size_t n, iams_err *err);

/*
 * Writes n random characters of [A-Za-z0-9_-] (6 bits each, unbiased) and a
 * NUL to out, which holds at least n + 1 bytes.  Used for nonces, states
 * and business ids: safe in URLs, headers, JSON and Redis keys unescaped.
 */
iams_status iams_random_token(char *out, size_t n, iams_err *err);

#endif /* IAMSMART_RANDOM_H */
