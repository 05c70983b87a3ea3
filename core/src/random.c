/*
 * CSPRNG access: raw bytes and URL-safe tokens.
 */

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <iamsmart/random.h>

#define IAMS_RANDOM_CHUNK  256


static const char  iams_token_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


iams_status
iams_random_bytes(unsigned char *buf, size_t n, iams_err *err)
{
    size_t  chunk;

    /* RAND_bytes counts in int; draw large requests in pieces */
    while (n > 0) {
        chunk = n < IAMS_RANDOM_CHUNK ? n : IAMS_RANDOM_CHUNK;

        if (RAND_bytes(buf, (int) chunk) != 1) {
            ERR_clear_error();
            return iams_err_set(err, IAMS_ERR_INTERNAL,
                                "random generator failed");
        }

        buf += chunk;
        n -= chunk;
    }

    return IAMS_OK;
}


iams_status
iams_random_token(char *out, size_t n, iams_err *err)
{
    char          *p;
    size_t         i, chunk;
    unsigned char  raw[IAMS_RANDOM_CHUNK];

    p = out;

    while (n > 0) {
        chunk = n < sizeof(raw) ? n : sizeof(raw);

        if (iams_random_bytes(raw, chunk, err) != IAMS_OK) {
            out[0] = '\0';
            return IAMS_ERR_INTERNAL;
        }

        /* 256 is a multiple of 64: masking keeps every character equally
         * likely */
        for (i = 0; i < chunk; i++) {
            *p++ = iams_token_alphabet[raw[i] & 0x3f];
        }

        n -= chunk;
    }

    *p = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));

    return IAMS_OK;
}
