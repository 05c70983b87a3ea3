/*
 * Keys out of the library: generation (for the CLI's keygen) and the JWK
 * JSON form, public or with private members.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <iamsmart/encoding.h>

#include "jose_internal.h"


#define IAMS_OCT_GENERATED_LEN  64


/* Sets obj[name] to base64url(bytes); returns 0 on allocation failure. */
static int
iams_json_set_b64(json_t *obj, const char *name, const unsigned char *bytes,
    size_t len)
{
    int     ok;
    char   *text;
    size_t  tlen;

    tlen = iams_b64url_encoded_len(len);
    text = OPENSSL_malloc(tlen + 1);

    if (text == NULL) {
        return 0;
    }

    (void) iams_b64url_encode(bytes, len, text);

    ok = json_object_set_new(obj, name, json_stringn(text, tlen)) == 0;

    OPENSSL_clear_free(text, tlen + 1);

    return ok;
}


/* obj[name] = the key's BIGNUM parameter param, left-padded to size octets
 * (size 0: minimal length).  Returns -1 when the key lacks the parameter,
 * 0 on failure, 1 when set. */
static int
iams_json_set_bn(json_t *obj, const char *name, const EVP_PKEY *pkey,
    const char *param, size_t size)
{
    int             ok;
    size_t          len;
    BIGNUM         *bn;
    unsigned char  *buf;

    bn = NULL;

    if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1) {
        ERR_clear_error();
        return -1;
    }

    len = size ? size : (size_t) BN_num_bytes(bn);
    buf = OPENSSL_malloc(len ? len : 1);
    ok = 0;

    if (buf != NULL && BN_bn2binpad(bn, buf, (int) len) == (int) len) {
        ok = iams_json_set_b64(obj, name, buf, len);
    }

    OPENSSL_clear_free(buf, len ? len : 1);
    BN_clear_free(bn);

    return ok;
}


static int
iams_jwk_rsa_to_json(const iams_jwk *key, json_t *obj, int with_private)
{
    int     i, rc;
    static const char  *const names[] = {
        "d", "p", "q", "dp", "dq", "qi"
    };
    static const char  *const params[] = {
        OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1
    };

    if (iams_json_set_bn(obj, "n", key->pkey, OSSL_PKEY_PARAM_RSA_N, 0) != 1
        || iams_json_set_bn(obj, "e", key->pkey, OSSL_PKEY_PARAM_RSA_E, 0)
           != 1)
    {
        return 0;
    }

    if (!with_private || !key->has_private) {
        return 1;
    }

    /* a key imported without CRT members has only d */
    for (i = 0; i < 6; i++) {
        rc = iams_json_set_bn(obj, names[i], key->pkey, params[i], 0);

        if (rc == 0 || (rc == -1 && i == 0)) {
            return 0;
        }
    }

    return 1;
}


static int
iams_jwk_ec_to_json(const iams_jwk *key, json_t *obj, int with_private)
{
    const iams_crv_info  *ci = iams_crv_info_get(key->crv);

    return json_object_set_new(obj, "crv", json_string(ci->jwk_name)) == 0
           && iams_json_set_bn(obj, "x", key->pkey, OSSL_PKEY_PARAM_EC_PUB_X,
                               ci->size) == 1
           && iams_json_set_bn(obj, "y", key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y,
                               ci->size) == 1
           && (!with_private || !key->has_private
               || iams_json_set_bn(obj, "d", key->pkey,
                                   OSSL_PKEY_PARAM_PRIV_KEY, ci->size) == 1);
}


static int
iams_jwk_okp_to_json(const iams_jwk *key, json_t *obj, int with_private)
{
    int            ok;
    size_t         len;
    unsigned char  raw[32];

    len = sizeof(raw);

    ok = json_object_set_new(obj, "crv", json_string("Ed25519")) == 0
         && EVP_PKEY_get_raw_public_key(key->pkey, raw, &len) == 1
         && iams_json_set_b64(obj, "x", raw, len);

    if (ok && with_private && key->has_private) {
        len = sizeof(raw);
        ok = EVP_PKEY_get_raw_private_key(key->pkey, raw, &len) == 1
             && iams_json_set_b64(obj, "d", raw, len);
        OPENSSL_cleanse(raw, sizeof(raw));
    }

    ERR_clear_error();

    return ok;
}


json_t *
iams_jwk_to_json(const iams_jwk *key, int with_private)
{
    int          ok;
    json_t      *obj;
    static const char  *const kty_names[] = {
        [IAMS_KTY_RSA] = "RSA", [IAMS_KTY_EC] = "EC",
        [IAMS_KTY_OKP] = "OKP", [IAMS_KTY_OCT] = "oct"
    };

    obj = json_object();

    if (obj == NULL
        || json_object_set_new(obj, "kty", json_string(kty_names[key->kty]))
           != 0)
    {
        json_decref(obj);
        return NULL;
    }

    switch (key->kty) {

    case IAMS_KTY_RSA:
        ok = iams_jwk_rsa_to_json(key, obj, with_private);
        break;

    case IAMS_KTY_EC:
        ok = iams_jwk_ec_to_json(key, obj, with_private);
        break;

    case IAMS_KTY_OKP:
        ok = iams_jwk_okp_to_json(key, obj, with_private);
        break;

    default:
        /* an oct key is all secret: its public form has no "k" */
        ok = !with_private || iams_json_set_b64(obj, "k", key->k, key->k_len);
        break;
    }

    if (ok && key->kid != NULL) {
        ok = json_object_set_new(obj, "kid",
                                 json_stringn(key->kid, key->kid_len)) == 0;
    }

    if (ok && key->use != NULL) {
        ok = json_object_set_new(obj, "use", json_string(key->use)) == 0;
    }

    if (ok && key->alg_name != NULL) {
        ok = json_object_set_new(obj, "alg", json_string(key->alg_name)) == 0;
    }

    if (ok && key->key_ops != NULL) {
        ok = json_object_set_new(obj, "key_ops",
                                 json_deep_copy(key->key_ops)) == 0;
    }

    if (!ok) {
        json_decref(obj);
        return NULL;
    }

    return obj;
}


static iams_status
iams_jwk_generate_oct(iams_jwk **out, iams_err *err)
{
    iams_jwk  *key;

    key = calloc(1, sizeof(iams_jwk));

    if (key == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "key");
    }

    key->kty = IAMS_KTY_OCT;
    key->has_private = 1;
    key->k_len = IAMS_OCT_GENERATED_LEN;
    key->k = OPENSSL_malloc(key->k_len);

    if (key->k == NULL || RAND_bytes(key->k, (int) key->k_len) != 1) {
        ERR_clear_error();
        iams_jwk_free(key);
        return iams_err_set(err, IAMS_ERR_INTERNAL, "no random bytes");
    }

    *out = key;

    return IAMS_OK;
}


iams_status
iams_jwk_generate(iams_kty kty, const char *kid, iams_jwk **out,
    iams_err *err)
{
    char         reason[128];
    iams_jwk    *key;
    EVP_PKEY    *pkey;
    iams_status  rc;

    *out = NULL;
    key = NULL;

    switch (kty) {

    case IAMS_KTY_EC:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;

    case IAMS_KTY_RSA:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072);
        break;

    case IAMS_KTY_OKP:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;

    case IAMS_KTY_OCT:
        pkey = NULL;
        break;

    default:
        return iams_err_set(err, IAMS_ERR_INTERNAL, "unknown key type");
    }

    if (kty == IAMS_KTY_OCT) {
        rc = iams_jwk_generate_oct(&key, err);

    } else if (pkey == NULL) {
        return iams_err_set(err, IAMS_ERR_INTERNAL, "key generation: %s",
                            iams_openssl_reason(reason, sizeof(reason)));

    } else {
        rc = iams_jwk_from_pkey(pkey, 1, &key, err);
    }

    if (rc != IAMS_OK) {
        return rc;
    }

    if (kid != NULL) {
        key->kid = strdup(kid);

        if (key->kid == NULL) {
            iams_jwk_free(key);
            return iams_err_set(err, IAMS_ERR_NOMEM, "kid");
        }

        key->kid_len = strlen(kid);
    }

    *out = key;

    return IAMS_OK;
}
