/*
 * libFuzzer target for key files: the input is parsed both as a public key
 * set (JWKS, JWK or PEM public keys, as the gateway loads them from a file
 * or a JWKS subrequest) and as a private signing key (JWK or PEM), and
 * whatever parses is exported and checked against every algorithm.  A
 * public set must not be able to sign; a private key must verify what it
 * signs.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/jose.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_export(const iams_jwk *key, int with_private);
static void fuzz_public_set(const char *buf, size_t len);
static void fuzz_private_key(const char *buf, size_t len);

/* what gets signed: any bytes would do */
static const unsigned char  msg[] = "eyJhbGciOiJFUzI1NiJ9.e30";


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_public_set((const char *) data, size);
    fuzz_private_key((const char *) data, size);

    return 0;
}


static void
fuzz_export(const iams_jwk *key, int with_private)
{
    char    *text;
    json_t  *jwk;

    jwk = iams_jwk_to_json(key, with_private);
    if (jwk == NULL) {
        return;
    }

    /* an exported public key never carries private members */
    if (!with_private && iams_jwk_kty(key) != IAMS_KTY_OCT
        && (json_object_get(jwk, "d") != NULL
            || json_object_get(jwk, "p") != NULL))
    {
        abort();
    }

    text = json_dumps(jwk, JSON_COMPACT);
    free(text);
    json_decref(jwk);
}


static void
fuzz_public_set(const char *buf, size_t len)
{
    size_t           i, n, sig_len;
    iams_err         err;
    iams_alg         alg;
    iams_jwks       *set;
    unsigned char   *sig;
    const iams_jwk  *key;

    if (iams_jwks_parse(buf, len, &set, &err) != IAMS_OK) {
        return;
    }

    n = iams_jwks_count(set);
    if (n == 0 || n > IAMS_JWKS_MAX_KEYS) {
        abort();
    }

    for (i = 0; i < n; i++) {
        key = iams_jwks_get(set, i);

        (void) iams_jwk_kid(key);
        (void) iams_jwk_kty(key);

        for (alg = IAMS_ALG_UNKNOWN; alg < IAMS_ALG_COUNT; alg++) {
            if (iams_jwk_check_alg(key, alg, 0, &err) != IAMS_OK
                || iams_jwk_kty(key) == IAMS_KTY_OCT)
            {
                continue;
            }

            /* the private half of a public key set is never kept */
            sig = NULL;

            if (iams_sig_create(alg, key, msg, sizeof(msg) - 1, &sig,
                                &sig_len, NULL)
                == IAMS_OK)
            {
                abort();
            }

            free(sig);
        }

        fuzz_export(key, 0);
    }

    iams_jwks_free(set);
}


static void
fuzz_private_key(const char *buf, size_t len)
{
    size_t          sig_len;
    iams_err        err;
    iams_alg        alg;
    iams_jwk       *key;
    unsigned char  *sig;

    if (iams_jwk_parse_private(buf, len, &key, &err) != IAMS_OK) {
        return;
    }

    fuzz_export(key, 0);
    fuzz_export(key, 1);

    for (alg = IAMS_ALG_UNKNOWN + 1; alg < IAMS_ALG_COUNT; alg++) {
        if (iams_jwk_check_alg(key, alg, 1, &err) != IAMS_OK) {
            continue;
        }

        /* RSA private operations on fuzzed moduli are too slow to repeat
         * for six algorithms; one is enough to reach the code */
        if (iams_jwk_kty(key) == IAMS_KTY_RSA && alg != IAMS_ALG_PS256) {
            continue;
        }

        sig = NULL;

        /* parsing proved that the private half matches the public one */
        if (iams_sig_create(alg, key, msg, sizeof(msg) - 1, &sig, &sig_len,
                            &err)
            == IAMS_OK
            && iams_sig_verify(alg, key, msg, sizeof(msg) - 1, sig, sig_len,
                               &err)
               != IAMS_OK)
        {
            abort();
        }

        free(sig);
    }

    iams_jwk_free(key);
}
