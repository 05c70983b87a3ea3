/*
 * Key fixtures for the JOSE unit tests; see keys.h.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "support/keys.h"


const char  iams_test_jwk_rsa[] =
    "{\"kty\":\"RSA\","
    "\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp"
    "-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32"
    "690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-"
    "UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxX"
    "FvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
    "\"e\":\"AQAB\","
    "\"d\":\"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_G"
    "Q5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-"
    "GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGc"
    "opV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3c"
    "cPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ\","
    "\"p\":\"4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBds"
    "s1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW"
    "1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc\","
    "\"q\":\"uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHA"
    "jLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQk"
    "v5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc\","
    "\"dp\":\"BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrq"
    "E2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7t"
    "ss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0\","
    "\"dq\":\"h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXD"
    "oRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5i"
    "IgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU\","
    "\"qi\":\"IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0E"
    "mpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9Sbs"
    "xYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U\"}";

const char  iams_test_jwk_p256[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
    "\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}";

const char  iams_test_jwk_p521[] =
    "{\"kty\":\"EC\",\"crv\":\"P-521\","
    "\"x\":\"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvL"
    "FV1jSfS9tsz4qUxcWceqwQGk\","
    "\"y\":\"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4K"
    "kd0AZMaZmh9ubmf63e3kyMj2\","
    "\"d\":\"AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdR"
    "hajnu0ferB0d53vM9mE15j2C\"}";

const char  iams_test_jwk_ed25519[] =
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
    "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";

const char  iams_test_jwk_oct[] =
    "{\"kty\":\"oct\","
    "\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0i"
    "PS4hcgUuTwjAzZr1Z9CAow\"}";


iams_jwk *
iams_test_private_key(const char *text)
{
    iams_err   err;
    iams_jwk  *key;

    if (iams_jwk_parse_private(text, strlen(text), &key, &err) != IAMS_OK) {
        fail_msg("private key fixture rejected: %s", err.detail);
    }

    return key;
}


iams_jwk *
iams_test_generated_key(const char *type, const char *param)
{
    BIO       *bio;
    char      *pem;
    long       len;
    EVP_PKEY  *pkey;
    iams_err   err;
    iams_jwk  *key;

    if (strcmp(type, "RSA") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                 (size_t) strtoul(param, NULL, 10));

    } else if (param != NULL) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, type, param);

    } else {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, type);
    }

    assert_non_null(pkey);

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0,
                                              NULL, NULL), 1);
    EVP_PKEY_free(pkey);

    len = BIO_get_mem_data(bio, &pem);
    assert_true(len > 0);

    if (iams_jwk_parse_private(pem, (size_t) len, &key, &err) != IAMS_OK) {
        fail_msg("generated %s key rejected: %s", type, err.detail);
    }

    BIO_free(bio);

    return key;
}


iams_jwk *
iams_test_key_for_alg(iams_alg alg)
{
    switch (alg) {

    case IAMS_ALG_RS256: case IAMS_ALG_RS384: case IAMS_ALG_RS512:
    case IAMS_ALG_PS256: case IAMS_ALG_PS384: case IAMS_ALG_PS512:
        return iams_test_private_key(iams_test_jwk_rsa);

    case IAMS_ALG_ES256:
        return iams_test_private_key(iams_test_jwk_p256);

    case IAMS_ALG_ES384:
        return iams_test_generated_key("EC", "P-384");

    case IAMS_ALG_ES512:
        return iams_test_private_key(iams_test_jwk_p521);

    case IAMS_ALG_EDDSA:
        return iams_test_private_key(iams_test_jwk_ed25519);

    case IAMS_ALG_HS256: case IAMS_ALG_HS384: case IAMS_ALG_HS512:
        return iams_test_private_key(iams_test_jwk_oct);

    default:
        fail_msg("no key for alg %d", (int) alg);
    }

    return NULL;
}


json_t *
iams_test_public_jwk(const iams_jwk *key)
{
    json_t  *jwk;

    jwk = iams_jwk_to_json(key, iams_jwk_kty(key) == IAMS_KTY_OCT);
    assert_non_null(jwk);

    return jwk;
}


iams_jwks *
iams_test_set(json_t *first, ...)
{
    char       *text;
    json_t     *doc, *keys, *jwk;
    va_list     ap;
    iams_err    err;
    iams_jwks  *set;

    keys = json_array();
    assert_non_null(keys);

    va_start(ap, first);

    for (jwk = first; jwk != NULL; jwk = va_arg(ap, json_t *)) {
        assert_int_equal(json_array_append_new(keys, jwk), 0);
    }

    va_end(ap);

    doc = json_pack("{s:o}", "keys", keys);
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(text);
    json_decref(doc);

    if (iams_jwks_parse(text, strlen(text), &set, &err) != IAMS_OK) {
        fail_msg("key set rejected: %s", err.detail);
    }

    free(text);

    return set;
}


iams_status
iams_test_parse_set(const char *text, iams_jwks **out, iams_err *err)
{
    return iams_jwks_parse(text, strlen(text), out, err);
}
