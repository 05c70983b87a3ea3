/*
 * Signature primitives under JWS (RFC 7518 section 3): the algorithm and
 * curve tables, and sign/verify on OpenSSL 3 EVP.
 *
 * The wire formats are JOSE's, checked before OpenSSL sees them: RSA
 * signatures are exactly the modulus length, ECDSA signatures are raw R||S
 * of exactly twice the curve size (converted to DER for EVP), Ed25519
 * signatures are 64 octets and HMAC tags are the full hash length, compared
 * with CRYPTO_memcmp.  PSS uses MGF1 with the same hash and a salt as long
 * as the hash, both when signing and when verifying.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "jose_internal.h"


#define IAMS_MAX_HASH  64


static const iams_alg_info  iams_algs[IAMS_ALG_COUNT] = {
    [IAMS_ALG_RS256] = { "RS256", IAMS_FAMILY_RSA, "SHA256", 32,
                         IAMS_CRV_NONE },
    [IAMS_ALG_RS384] = { "RS384", IAMS_FAMILY_RSA, "SHA384", 48,
                         IAMS_CRV_NONE },
    [IAMS_ALG_RS512] = { "RS512", IAMS_FAMILY_RSA, "SHA512", 64,
                         IAMS_CRV_NONE },
    [IAMS_ALG_PS256] = { "PS256", IAMS_FAMILY_PSS, "SHA256", 32,
                         IAMS_CRV_NONE },
    [IAMS_ALG_PS384] = { "PS384", IAMS_FAMILY_PSS, "SHA384", 48,
                         IAMS_CRV_NONE },
    [IAMS_ALG_PS512] = { "PS512", IAMS_FAMILY_PSS, "SHA512", 64,
                         IAMS_CRV_NONE },
    [IAMS_ALG_ES256] = { "ES256", IAMS_FAMILY_EC, "SHA256", 32,
                         IAMS_CRV_P256 },
    [IAMS_ALG_ES384] = { "ES384", IAMS_FAMILY_EC, "SHA384", 48,
                         IAMS_CRV_P384 },
    [IAMS_ALG_ES512] = { "ES512", IAMS_FAMILY_EC, "SHA512", 64,
                         IAMS_CRV_P521 },
    [IAMS_ALG_EDDSA] = { "EdDSA", IAMS_FAMILY_EDDSA, NULL, 0,
                         IAMS_CRV_ED25519 },
    [IAMS_ALG_HS256] = { "HS256", IAMS_FAMILY_HMAC, "SHA256", 32,
                         IAMS_CRV_NONE },
    [IAMS_ALG_HS384] = { "HS384", IAMS_FAMILY_HMAC, "SHA384", 48,
                         IAMS_CRV_NONE },
    [IAMS_ALG_HS512] = { "HS512", IAMS_FAMILY_HMAC, "SHA512", 64,
                         IAMS_CRV_NONE },
};

static const iams_crv_info  iams_crvs[] = {
    [IAMS_CRV_P256]    = { "P-256", "prime256v1", 32, IAMS_KTY_EC },
    [IAMS_CRV_P384]    = { "P-384", "secp384r1", 48, IAMS_KTY_EC },
    [IAMS_CRV_P521]    = { "P-521", "secp521r1", 66, IAMS_KTY_EC },
    [IAMS_CRV_ED25519] = { "Ed25519", "ED25519", 32, IAMS_KTY_OKP },
};


const iams_alg_info *
iams_alg_info_get(iams_alg alg)
{
    if (alg <= IAMS_ALG_UNKNOWN || alg >= IAMS_ALG_COUNT) {
        return NULL;
    }

    return &iams_algs[alg];
}


iams_alg
iams_alg_from_name(const char *name, size_t len)
{
    int  a;

    for (a = IAMS_ALG_UNKNOWN + 1; a < IAMS_ALG_COUNT; a++) {
        if (strlen(iams_algs[a].name) == len
            && memcmp(iams_algs[a].name, name, len) == 0)
        {
            return (iams_alg) a;
        }
    }

    return IAMS_ALG_UNKNOWN;
}


const char *
iams_alg_name(iams_alg alg)
{
    const iams_alg_info  *info = iams_alg_info_get(alg);

    return info ? info->name : "unknown";
}


const iams_crv_info *
iams_crv_info_get(iams_crv crv)
{
    if (crv <= IAMS_CRV_NONE || crv > IAMS_CRV_ED25519) {
        return NULL;
    }

    return &iams_crvs[crv];
}


iams_crv
iams_crv_from_jwk_name(const char *name, size_t len)
{
    int  c;

    for (c = IAMS_CRV_NONE + 1; c <= IAMS_CRV_ED25519; c++) {
        if (strlen(iams_crvs[c].jwk_name) == len
            && memcmp(iams_crvs[c].jwk_name, name, len) == 0)
        {
            return (iams_crv) c;
        }
    }

    return IAMS_CRV_NONE;
}


iams_crv
iams_crv_from_group(const char *group)
{
    int  c;

    for (c = IAMS_CRV_P256; c <= IAMS_CRV_P521; c++) {
        if (strcmp(iams_crvs[c].group, group) == 0) {
            return (iams_crv) c;
        }
    }

    return IAMS_CRV_NONE;
}


const char *
iams_openssl_reason(char *buf, size_t size)
{
    unsigned long  e;

    e = ERR_peek_error();

    if (e == 0) {
        (void) snprintf(buf, size, "no OpenSSL reason");

    } else {
        ERR_error_string_n(e, buf, size);
    }

    ERR_clear_error();

    return buf;
}


/* Whether key's kty and curve fit the algorithm family. */
static int
iams_sig_key_fits(const iams_alg_info *info, const iams_jwk *key)
{
    switch (info->family) {

    case IAMS_FAMILY_RSA:
    case IAMS_FAMILY_PSS:
        return key->kty == IAMS_KTY_RSA && key->pkey != NULL;

    case IAMS_FAMILY_EC:
        return key->kty == IAMS_KTY_EC && key->crv == info->crv
               && key->pkey != NULL;

    case IAMS_FAMILY_EDDSA:
        return key->kty == IAMS_KTY_OKP && key->crv == info->crv
               && key->pkey != NULL;

    case IAMS_FAMILY_HMAC:
        return key->kty == IAMS_KTY_OCT && key->k != NULL;
    }

    return 0;
}


iams_status
iams_sig_fit(iams_alg alg, const iams_jwk *key, const iams_alg_info **info,
    iams_err *err)
{
    *info = iams_alg_info_get(alg);

    if (*info == NULL) {
        return iams_err_set(err, IAMS_ERR_ALG_UNSUPPORTED,
                            "no such algorithm");
    }

    if (key == NULL || !iams_sig_key_fits(*info, key)) {
        return iams_err_set(err, IAMS_ERR_ALG_KEY_MISMATCH,
                            "%s needs another key type or curve",
                            (*info)->name);
    }

    return IAMS_OK;
}


static iams_status
iams_sig_hmac(const iams_alg_info *info, const iams_jwk *key,
    const unsigned char *input, size_t input_len, unsigned char *mac)
{
    size_t  mac_len;

    if (EVP_Q_mac(NULL, "HMAC", NULL, info->md, NULL, key->k, key->k_len,
                  input, input_len, mac, IAMS_MAX_HASH, &mac_len) == NULL
        || mac_len != info->hash_len)
    {
        ERR_clear_error();
        return IAMS_ERR_INTERNAL;
    }

    return IAMS_OK;
}


/* Sets up md_ctx for signing or verifying with the family's padding. */
static int
iams_sig_init(EVP_MD_CTX *md_ctx, const iams_alg_info *info,
    const iams_jwk *key, int for_sign)
{
    EVP_PKEY_CTX  *pctx = NULL;

    if (for_sign) {
        if (EVP_DigestSignInit_ex(md_ctx, &pctx, info->md, NULL, NULL,
                                  key->pkey, NULL) != 1)
        {
            return 0;
        }

    } else if (EVP_DigestVerifyInit_ex(md_ctx, &pctx, info->md, NULL, NULL,
                                       key->pkey, NULL) != 1)
    {
        return 0;
    }

    if (info->family == IAMS_FAMILY_RSA) {
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }

    if (info->family == IAMS_FAMILY_PSS) {
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
               && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                   (int) info->hash_len) == 1
               && EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, info->md, NULL)
                  == 1;
    }

    return 1;
}


/* Raw R||S to a DER ECDSA-Sig-Value; *der is OPENSSL_malloc()ed. */
static int
iams_sig_ec_raw_to_der(const unsigned char *sig, size_t half,
    unsigned char **der, size_t *der_len)
{
    int         n;
    BIGNUM     *r, *s;
    ECDSA_SIG  *es;

    r = BN_bin2bn(sig, (int) half, NULL);
    s = BN_bin2bn(sig + half, (int) half, NULL);
    es = ECDSA_SIG_new();

    if (r == NULL || s == NULL || es == NULL || ECDSA_SIG_set0(es, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return 0;
    }

    *der = NULL;
    n = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);

    if (n <= 0) {
        return 0;
    }

    *der_len = (size_t) n;

    return 1;
}


/* DER ECDSA-Sig-Value to raw R||S of exactly 2 * half octets. */
static int
iams_sig_ec_der_to_raw(const unsigned char *der, size_t der_len, size_t half,
    unsigned char *out)
{
    int             ok;
    const BIGNUM   *r, *s;
    ECDSA_SIG      *es;
    const unsigned char  *p = der;

    es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);

    if (es == NULL) {
        return 0;
    }

    ECDSA_SIG_get0(es, &r, &s);

    ok = BN_bn2binpad(r, out, (int) half) == (int) half
         && BN_bn2binpad(s, out + half, (int) half) == (int) half;

    ECDSA_SIG_free(es);

    return ok;
}


/* The exact signature length JOSE requires for this key and alg. */
static size_t
iams_sig_expected_len(const iams_alg_info *info, const iams_jwk *key)
{
    switch (info->family) {

    case IAMS_FAMILY_RSA:
    case IAMS_FAMILY_PSS:
        return (size_t) EVP_PKEY_get_size(key->pkey);

    case IAMS_FAMILY_EC:
        return 2 * iams_crv_info_get(key->crv)->size;

    case IAMS_FAMILY_EDDSA:
        return 64;

    case IAMS_FAMILY_HMAC:
        return info->hash_len;
    }

    return 0;
}


iams_status
iams_sig_verify(iams_alg alg, const iams_jwk *key,
    const unsigned char *input, size_t input_len,
    const unsigned char *sig, size_t sig_len, iams_err *err)
{
    int                   ok;
    size_t                der_len;
    EVP_MD_CTX           *md_ctx;
    iams_status           rc;
    unsigned char        *der;
    unsigned char         mac[IAMS_MAX_HASH];
    const iams_alg_info  *info;

    rc = iams_sig_fit(alg, key, &info, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    if (sig_len != iams_sig_expected_len(info, key)) {
        return iams_err_set(err, IAMS_ERR_BAD_SIGNATURE,
                            "%s signature of %zu octets, expected %zu",
                            info->name, sig_len,
                            iams_sig_expected_len(info, key));
    }

    if (info->family == IAMS_FAMILY_HMAC) {
        if (iams_sig_hmac(info, key, input, input_len, mac) != IAMS_OK) {
            return iams_err_set(err, IAMS_ERR_INTERNAL, "HMAC failed");
        }

        ok = CRYPTO_memcmp(mac, sig, sig_len) == 0;
        OPENSSL_cleanse(mac, sizeof(mac));

        return ok ? IAMS_OK
                  : iams_err_set(err, IAMS_ERR_BAD_SIGNATURE,
                                 "%s tag mismatch", info->name);
    }

    der = NULL;
    der_len = 0;

    if (info->family == IAMS_FAMILY_EC
        && !iams_sig_ec_raw_to_der(sig, sig_len / 2, &der, &der_len))
    {
        ERR_clear_error();
        return iams_err_set(err, IAMS_ERR_INTERNAL, "ECDSA encoding failed");
    }

    md_ctx = EVP_MD_CTX_new();

    ok = md_ctx != NULL
         && iams_sig_init(md_ctx, info, key, 0)
         && (der ? EVP_DigestVerify(md_ctx, der, der_len, input, input_len)
                 : EVP_DigestVerify(md_ctx, sig, sig_len, input, input_len))
            == 1;

    EVP_MD_CTX_free(md_ctx);
    OPENSSL_free(der);
    ERR_clear_error();

    return ok ? IAMS_OK
              : iams_err_set(err, IAMS_ERR_BAD_SIGNATURE,
                             "%s signature does not verify", info->name);
}


iams_status
iams_sig_create(iams_alg alg, const iams_jwk *key,
    const unsigned char *input, size_t input_len,
    unsigned char **sig, size_t *sig_len, iams_err *err)
{
    int                   ok;
    char                  reason[128];
    size_t                len, out_len;
    EVP_MD_CTX           *md_ctx;
    iams_status           rc;
    unsigned char        *buf, *out;
    const iams_alg_info  *info;

    *sig = NULL;
    *sig_len = 0;

    rc = iams_sig_fit(alg, key, &info, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    if (info->family != IAMS_FAMILY_HMAC && !key->has_private) {
        return iams_err_set(err, IAMS_ERR_ALG_KEY_MISMATCH,
                            "signing needs a private key");
    }

    out_len = iams_sig_expected_len(info, key);
    out = malloc(out_len);

    if (out == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "signature buffer");
    }

    if (info->family == IAMS_FAMILY_HMAC) {
        if (iams_sig_hmac(info, key, input, input_len, out) != IAMS_OK) {
            free(out);
            return iams_err_set(err, IAMS_ERR_INTERNAL, "HMAC failed");
        }

        *sig = out;
        *sig_len = out_len;

        return IAMS_OK;
    }

    buf = NULL;
    len = 0;
    md_ctx = EVP_MD_CTX_new();

    ok = md_ctx != NULL
         && iams_sig_init(md_ctx, info, key, 1)
         && EVP_DigestSign(md_ctx, NULL, &len, input, input_len) == 1
         && (buf = OPENSSL_malloc(len)) != NULL
         && EVP_DigestSign(md_ctx, buf, &len, input, input_len) == 1;

    EVP_MD_CTX_free(md_ctx);

    if (ok) {
        if (info->family == IAMS_FAMILY_EC) {
            ok = iams_sig_ec_der_to_raw(buf, len, out_len / 2, out);

        } else if (len == out_len) {
            memcpy(out, buf, len);

        } else {
            ok = 0;
        }
    }

    OPENSSL_free(buf);

    if (!ok) {
        free(out);
        return iams_err_set(err, IAMS_ERR_INTERNAL, "%s signing failed: %s",
                            info->name,
                            iams_openssl_reason(reason, sizeof(reason)));
    }

    ERR_clear_error();

    *sig = out;
    *sig_len = out_len;

    return IAMS_OK;
}
