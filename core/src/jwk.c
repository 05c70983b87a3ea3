/*
 * One key, whatever its source: wrapping an EVP_PKEY after checking its
 * type, curve and size (and, for a private key, that its halves match),
 * the use rules of iams_jwk_check_alg, accessors and freeing.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "jose_internal.h"


/* A sign/verify round trip: proves a private key's halves belong together
 * (OpenSSL's own pairwise checks differ by key type and version). */
static iams_status
iams_jwk_pairwise(const iams_jwk *key, iams_err *err)
{
    size_t          sig_len;
    iams_alg        alg;
    iams_status     rc;
    unsigned char  *sig;
    static const unsigned char  probe[] = "iamsmart pairwise check";

    switch (key->crv) {
    case IAMS_CRV_P256:    alg = IAMS_ALG_ES256; break;
    case IAMS_CRV_P384:    alg = IAMS_ALG_ES384; break;
    case IAMS_CRV_P521:    alg = IAMS_ALG_ES512; break;
    case IAMS_CRV_ED25519: alg = IAMS_ALG_EDDSA; break;
    default:               alg = IAMS_ALG_RS256; break;
    }

    rc = iams_sig_create(alg, key, probe, sizeof(probe), &sig, &sig_len,
                         err);

    if (rc != IAMS_OK) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "private key cannot sign");
    }

    rc = iams_sig_verify(alg, key, probe, sizeof(probe), sig, sig_len, err);
    free(sig);

    if (rc != IAMS_OK) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "private and public parts do not match");
    }

    return IAMS_OK;
}


iams_status
iams_jwk_from_pkey(EVP_PKEY *pkey, int has_private, iams_jwk **out,
    iams_err *err)
{
    int          bits;
    char         group[64];
    iams_jwk    *key;
    iams_status  rc;
    EVP_PKEY_CTX  *pctx;

    *out = NULL;

    key = calloc(1, sizeof(iams_jwk));

    if (key == NULL) {
        EVP_PKEY_free(pkey);
        return iams_err_set(err, IAMS_ERR_NOMEM, "key");
    }

    key->pkey = pkey;
    key->has_private = has_private;

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_RSA:
        key->kty = IAMS_KTY_RSA;
        bits = EVP_PKEY_get_bits(pkey);

        if (bits < IAMS_RSA_MIN_BITS) {
            iams_jwk_free(key);
            return iams_err_set(err, IAMS_ERR_KEY_WEAK,
                                "RSA key of %d bits, at least %d required",
                                bits, IAMS_RSA_MIN_BITS);
        }

        if (bits > IAMS_RSA_MAX_BITS) {
            iams_jwk_free(key);
            return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                                "RSA key of %d bits is too large", bits);
        }

        break;

    case EVP_PKEY_EC:
        key->kty = IAMS_KTY_EC;

        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) == 1) {
            key->crv = iams_crv_from_group(group);
        }

        if (key->crv == IAMS_CRV_NONE) {
            iams_jwk_free(key);
            ERR_clear_error();
            return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                                "EC curve is not P-256, P-384 or P-521");
        }

        pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        rc = pctx != NULL && EVP_PKEY_public_check(pctx) == 1
             ? IAMS_OK : IAMS_ERR_KEY_INVALID;
        EVP_PKEY_CTX_free(pctx);
        ERR_clear_error();

        if (rc != IAMS_OK) {
            iams_jwk_free(key);
            return iams_err_set(err, rc, "EC point is not on the curve");
        }

        break;

    case EVP_PKEY_ED25519:
        key->kty = IAMS_KTY_OKP;
        key->crv = IAMS_CRV_ED25519;
        break;

    default:
        iams_jwk_free(key);
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "key type is not RSA, EC or Ed25519");
    }

    if (has_private) {
        rc = iams_jwk_pairwise(key, err);

        if (rc != IAMS_OK) {
            iams_jwk_free(key);
            return rc;
        }
    }

    *out = key;

    return IAMS_OK;
}


void
iams_jwk_free(iams_jwk *key)
{
    if (key == NULL) {
        return;
    }

    EVP_PKEY_free(key->pkey);
    OPENSSL_clear_free(key->k, key->k_len);
    free(key->kid);
    free(key->use);
    free(key->alg_name);
    json_decref(key->key_ops);
    free(key);
}


iams_kty
iams_jwk_kty(const iams_jwk *key)
{
    return key->kty;
}


const char *
iams_jwk_kid(const iams_jwk *key)
{
    return key->kid;
}


iams_status
iams_jwk_check_alg(const iams_jwk *key, iams_alg alg, int for_sign,
    iams_err *err)
{
    unsigned              op;
    iams_status           rc;
    const iams_alg_info  *info;

    rc = iams_sig_fit(alg, key, &info, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    if (key->alg_name != NULL && key->alg != alg) {
        return iams_err_set(err, IAMS_ERR_ALG_KEY_MISMATCH,
                            "key is restricted to another alg");
    }

    if (key->use != NULL && strcmp(key->use, "sig") != 0) {
        return iams_err_set(err, IAMS_ERR_ALG_KEY_MISMATCH,
                            "key \"use\" is not \"sig\"");
    }

    op = for_sign ? IAMS_KEY_OP_SIGN : IAMS_KEY_OP_VERIFY;

    if (key->key_ops != NULL && !(key->key_ops_mask & op)) {
        return iams_err_set(err, IAMS_ERR_ALG_KEY_MISMATCH,
                            "key \"key_ops\" lacks \"%s\"",
                            for_sign ? "sign" : "verify");
    }

    if (for_sign && !key->has_private) {
        return iams_err_set(err, IAMS_ERR_ALG_KEY_MISMATCH,
                            "key has no private part");
    }

    if (key->kty == IAMS_KTY_RSA
        && EVP_PKEY_get_bits(key->pkey) < IAMS_RSA_MIN_BITS)
    {
        return iams_err_set(err, IAMS_ERR_KEY_WEAK,
                            "RSA key under %d bits", IAMS_RSA_MIN_BITS);
    }

    if (key->kty == IAMS_KTY_OCT && key->k_len < info->hash_len) {
        return iams_err_set(err, IAMS_ERR_KEY_WEAK,
                            "%s key of %zu octets, at least %zu required",
                            info->name, key->k_len, info->hash_len);
    }

    return IAMS_OK;
}
