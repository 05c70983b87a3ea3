/*
 * A JSON Web Key object (RFC 7517, RFC 7518 section 6, RFC 8037) into a
 * key: member types, strict base64url, exact coordinate and scalar sizes,
 * RSA size and exponent, then iams_jwk_from_pkey for the checks every key
 * source shares.  Members we do not use (x5c, x5t, ...) are ignored; "use",
 * "alg" and "key_ops" are kept as given and consulted at use.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <iamsmart/encoding.h>

#include "jose_internal.h"


typedef struct {
    long         index;
    const char  *kid;
    size_t       kid_len;
    iams_err    *err;
} iams_jwk_ctx;


static const char  *iams_jwk_rsa_private[] = { "p", "q", "dp", "dq", "qi" };


/* Fails with a detail prefixed by the key's position and kid. */
static iams_status
iams_jwk_fail(const iams_jwk_ctx *ctx, iams_status status, const char *fmt,
    ...)
{
    int      printable;
    char     msg[IAMS_ERR_DETAIL_MAX], where[128];
    size_t   i;
    va_list  ap;

    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    where[0] = '\0';

    if (ctx->index >= 0) {
        printable = ctx->kid != NULL && ctx->kid_len <= 64;

        for (i = 0; printable && i < ctx->kid_len; i++) {
            printable = ctx->kid[i] >= 0x20 && ctx->kid[i] < 0x7f
                        && ctx->kid[i] != '"';
        }

        if (printable) {
            (void) snprintf(where, sizeof(where), "key %ld (kid \"%.*s\"): ",
                            ctx->index, (int) ctx->kid_len, ctx->kid);

        } else {
            (void) snprintf(where, sizeof(where), "key %ld: ", ctx->index);
        }
    }

    return iams_err_set(ctx->err, status, "%s%s", where, msg);
}


/*
 * Decodes the base64url member name into a new OPENSSL_malloc()ed buffer
 * (*out stays NULL when the member is absent and not required).  size, when
 * not 0, is the exact length the member must decode to.
 */
static iams_status
iams_jwk_b64_member(const iams_jwk_ctx *ctx, const json_t *obj,
    const char *name, int required, size_t size, unsigned char **out,
    size_t *len)
{
    size_t          n;
    const char     *s;
    json_t         *v;
    unsigned char  *buf;

    *out = NULL;
    *len = 0;

    v = json_object_get(obj, name);

    if (v == NULL) {
        return required ? iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                                        "member \"%s\" missing", name)
                        : IAMS_OK;
    }

    if (!json_is_string(v)) {
        return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                             "member \"%s\" is not a string", name);
    }

    s = json_string_value(v);
    n = json_string_length(v);

    buf = OPENSSL_malloc(iams_b64url_decoded_max(n) + 1);

    if (buf == NULL) {
        return iams_jwk_fail(ctx, IAMS_ERR_NOMEM, "member \"%s\"", name);
    }

    if (iams_b64url_decode(s, n, buf, iams_b64url_decoded_max(n), len)
        != IAMS_OK || *len == 0)
    {
        OPENSSL_clear_free(buf, iams_b64url_decoded_max(n) + 1);
        return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                             "member \"%s\" is not base64url", name);
    }

    if (size != 0 && *len != size) {
        OPENSSL_clear_free(buf, iams_b64url_decoded_max(n) + 1);
        return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                             "member \"%s\" has %zu octets, expected %zu",
                             name, *len, size);
    }

    *out = buf;

    return IAMS_OK;
}


/* Decodes a required base64url member into *bn (a new BIGNUM). */
static iams_status
iams_jwk_bn_member(const iams_jwk_ctx *ctx, const json_t *obj,
    const char *name, BIGNUM **bn)
{
    size_t          len;
    iams_status     rc;
    unsigned char  *buf;

    *bn = NULL;

    rc = iams_jwk_b64_member(ctx, obj, name, 1, 0, &buf, &len);

    if (rc != IAMS_OK) {
        return rc;
    }

    *bn = BN_bin2bn(buf, (int) len, NULL);
    OPENSSL_clear_free(buf, len);

    if (*bn == NULL) {
        ERR_clear_error();
        return iams_jwk_fail(ctx, IAMS_ERR_NOMEM, "member \"%s\"", name);
    }

    return IAMS_OK;
}


static iams_status
iams_jwk_fromdata(const iams_jwk_ctx *ctx, const char *type,
    OSSL_PARAM_BLD *bld, int with_private, EVP_PKEY **pkey)
{
    char           reason[128];
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *pctx;

    *pkey = NULL;
    params = OSSL_PARAM_BLD_to_param(bld);
    pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || pctx == NULL
        || EVP_PKEY_fromdata_init(pctx) != 1
        || EVP_PKEY_fromdata(pctx, pkey,
                             with_private ? EVP_PKEY_KEYPAIR
                                          : EVP_PKEY_PUBLIC_KEY,
                             params) != 1)
    {
        OSSL_PARAM_free(params);
        EVP_PKEY_CTX_free(pctx);
        return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID, "%s key rejected: %s",
                             type,
                             iams_openssl_reason(reason, sizeof(reason)));
    }

    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(pctx);

    return IAMS_OK;
}


static iams_status
iams_jwk_rsa(const iams_jwk_ctx *ctx, const json_t *obj, int with_private,
    EVP_PKEY **pkey)
{
    int              i, crt;
    BIGNUM          *bn[8];
    iams_status      rc;
    OSSL_PARAM_BLD  *bld;
    static const char  *const names[8] = {
        OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
        OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
        OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
        OSSL_PKEY_PARAM_RSA_COEFFICIENT1
    };

    memset(bn, 0, sizeof(bn));
    bld = NULL;
    crt = 0;

    rc = iams_jwk_bn_member(ctx, obj, "n", &bn[0]);

    if (rc == IAMS_OK) {
        rc = iams_jwk_bn_member(ctx, obj, "e", &bn[1]);
    }

    if (rc != IAMS_OK) {
        goto done;
    }

    if (BN_num_bits(bn[0]) > IAMS_RSA_MAX_BITS || !BN_is_odd(bn[0])
        || !BN_is_odd(bn[1]) || BN_is_one(bn[1])
        || BN_cmp(bn[1], bn[0]) >= 0)
    {
        rc = iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                           "RSA modulus or exponent out of range");
        goto done;
    }

    if (BN_num_bits(bn[0]) < IAMS_RSA_MIN_BITS) {
        rc = iams_jwk_fail(ctx, IAMS_ERR_KEY_WEAK,
                           "RSA key of %d bits, at least %d required",
                           BN_num_bits(bn[0]), IAMS_RSA_MIN_BITS);
        goto done;
    }

    if (with_private) {
        rc = iams_jwk_bn_member(ctx, obj, "d", &bn[2]);

        if (rc != IAMS_OK) {
            goto done;
        }

        /* the CRT members come all together or not at all */
        for (i = 0; i < 5; i++) {
            crt += json_object_get(obj, iams_jwk_rsa_private[i]) != NULL;
        }

        if (crt != 0 && crt != 5) {
            rc = iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                               "RSA key has only some of p, q, dp, dq, qi");
            goto done;
        }

        for (i = 0; crt && i < 5; i++) {
            rc = iams_jwk_bn_member(ctx, obj, iams_jwk_rsa_private[i],
                                    &bn[3 + i]);
            if (rc != IAMS_OK) {
                goto done;
            }
        }
    }

    bld = OSSL_PARAM_BLD_new();

    for (i = 0; bld != NULL && i < 8; i++) {
        if (bn[i] != NULL
            && OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]) != 1)
        {
            break;
        }
    }

    if (bld == NULL || i < 8) {
        ERR_clear_error();
        rc = iams_jwk_fail(ctx, IAMS_ERR_NOMEM, "RSA parameters");
        goto done;
    }

    rc = iams_jwk_fromdata(ctx, "RSA", bld, with_private, pkey);

done:

    OSSL_PARAM_BLD_free(bld);

    for (i = 0; i < 8; i++) {
        BN_clear_free(bn[i]);
    }

    return rc;
}


static iams_status
iams_jwk_ec(const iams_jwk_ctx *ctx, const json_t *obj, iams_crv crv,
    int with_private, EVP_PKEY **pkey)
{
    size_t                len, size;
    BIGNUM               *d;
    iams_status           rc;
    unsigned char        *x, *y, *dbuf, point[1 + 2 * 66];
    OSSL_PARAM_BLD       *bld;
    const iams_crv_info  *ci;

    ci = iams_crv_info_get(crv);
    size = ci->size;
    x = y = dbuf = NULL;
    d = NULL;
    bld = NULL;

    rc = iams_jwk_b64_member(ctx, obj, "x", 1, size, &x, &len);

    if (rc == IAMS_OK) {
        rc = iams_jwk_b64_member(ctx, obj, "y", 1, size, &y, &len);
    }

    if (rc == IAMS_OK && with_private) {
        rc = iams_jwk_b64_member(ctx, obj, "d", 1, size, &dbuf, &len);

        if (rc == IAMS_OK) {
            d = BN_bin2bn(dbuf, (int) len, NULL);
            OPENSSL_clear_free(dbuf, len);
        }
    }

    if (rc != IAMS_OK) {
        goto done;
    }

    point[0] = 0x04;
    memcpy(point + 1, x, size);
    memcpy(point + 1 + size, y, size);

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           ci->group, 0) != 1
        || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            point, 1 + 2 * size) != 1
        || (with_private
            && (d == NULL
                || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)
                   != 1)))
    {
        ERR_clear_error();
        rc = iams_jwk_fail(ctx, IAMS_ERR_NOMEM, "EC parameters");
        goto done;
    }

    rc = iams_jwk_fromdata(ctx, "EC", bld, with_private, pkey);

done:

    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    OPENSSL_free(x);
    OPENSSL_free(y);

    return rc;
}


static iams_status
iams_jwk_okp(const iams_jwk_ctx *ctx, const json_t *obj, int with_private,
    EVP_PKEY **pkey)
{
    char            reason[128];
    size_t          xlen, dlen, publen;
    iams_status     rc;
    unsigned char  *x, *d, pub[32];

    *pkey = NULL;
    d = NULL;

    rc = iams_jwk_b64_member(ctx, obj, "x", 1, 32, &x, &xlen);

    if (rc == IAMS_OK && with_private) {
        rc = iams_jwk_b64_member(ctx, obj, "d", 1, 32, &d, &dlen);
    }

    if (rc != IAMS_OK) {
        OPENSSL_free(x);
        return rc;
    }

    if (with_private) {
        *pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, d, 32);
        OPENSSL_clear_free(d, dlen);
        publen = sizeof(pub);

        if (*pkey != NULL
            && (EVP_PKEY_get_raw_public_key(*pkey, pub, &publen) != 1
                || publen != 32 || memcmp(pub, x, 32) != 0))
        {
            OPENSSL_free(x);
            EVP_PKEY_free(*pkey);
            *pkey = NULL;
            ERR_clear_error();
            return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                                 "Ed25519 \"x\" does not match \"d\"");
        }

    } else {
        *pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, 32);
    }

    OPENSSL_free(x);

    if (*pkey == NULL) {
        return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                             "Ed25519 key rejected: %s",
                             iams_openssl_reason(reason, sizeof(reason)));
    }

    return IAMS_OK;
}


/* Copies an optional string member into *out (NULL when absent). */
static iams_status
iams_jwk_str_member(const iams_jwk_ctx *ctx, const json_t *obj,
    const char *name, char **out, size_t *len)
{
    json_t  *v;

    *out = NULL;
    v = json_object_get(obj, name);

    if (v == NULL) {
        return IAMS_OK;
    }

    if (!json_is_string(v)) {
        return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                             "member \"%s\" is not a string", name);
    }

    *out = strndup(json_string_value(v), json_string_length(v));

    if (*out == NULL) {
        return iams_jwk_fail(ctx, IAMS_ERR_NOMEM, "member \"%s\"", name);
    }

    if (len != NULL) {
        *len = json_string_length(v);
    }

    return IAMS_OK;
}


/* kid, use, alg and key_ops: kept as given, checked for type. */
static iams_status
iams_jwk_meta(const iams_jwk_ctx *ctx, const json_t *obj, iams_jwk *key)
{
    size_t       i, j, alg_len;
    json_t      *ops, *op;
    const char  *s;
    iams_status  rc;

    rc = iams_jwk_str_member(ctx, obj, "kid", &key->kid, &key->kid_len);

    if (rc == IAMS_OK) {
        rc = iams_jwk_str_member(ctx, obj, "use", &key->use, NULL);
    }

    if (rc == IAMS_OK) {
        rc = iams_jwk_str_member(ctx, obj, "alg", &key->alg_name, &alg_len);
    }

    if (rc != IAMS_OK) {
        return rc;
    }

    if (key->alg_name != NULL) {
        key->alg = iams_alg_from_name(key->alg_name, alg_len);
    }

    ops = json_object_get(obj, "key_ops");

    if (ops == NULL) {
        return IAMS_OK;
    }

    if (!json_is_array(ops)) {
        return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                             "member \"key_ops\" is not an array");
    }

    for (i = 0; i < json_array_size(ops); i++) {
        op = json_array_get(ops, i);

        if (!json_is_string(op)) {
            return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                                 "\"key_ops\" holds a non-string");
        }

        for (j = 0; j < i; j++) {
            if (json_equal(op, json_array_get(ops, j))) {
                return iams_jwk_fail(ctx, IAMS_ERR_KEY_INVALID,
                                     "\"key_ops\" repeats a value");
            }
        }

        s = json_string_value(op);

        if (json_string_length(op) == 4 && memcmp(s, "sign", 4) == 0) {
            key->key_ops_mask |= IAMS_KEY_OP_SIGN;

        } else if (json_string_length(op) == 6
                   && memcmp(s, "verify", 6) == 0)
        {
            key->key_ops_mask |= IAMS_KEY_OP_VERIFY;

        } else {
            key->key_ops_mask |= IAMS_KEY_OP_OTHER;
        }
    }

    key->key_ops = json_deep_copy(ops);

    if (key->key_ops == NULL) {
        return iams_jwk_fail(ctx, IAMS_ERR_NOMEM, "member \"key_ops\"");
    }

    return IAMS_OK;
}


static iams_status
iams_jwk_oct(const iams_jwk_ctx *ctx, const json_t *obj, iams_jwk **out)
{
    iams_jwk     *key;
    iams_status   rc;

    key = calloc(1, sizeof(iams_jwk));

    if (key == NULL) {
        return iams_jwk_fail(ctx, IAMS_ERR_NOMEM, "key");
    }

    key->kty = IAMS_KTY_OCT;

    rc = iams_jwk_b64_member(ctx, obj, "k", 1, 0, &key->k, &key->k_len);

    if (rc != IAMS_OK) {
        free(key);
        return rc;
    }

    key->has_private = 1;
    *out = key;

    return IAMS_OK;
}


iams_status
iams_jwk_from_json(const json_t *obj, int with_private, long index,
    iams_jwk **out, iams_err *err)
{
    char          detail[IAMS_ERR_DETAIL_MAX];
    size_t        len;
    json_t       *kty, *crv_v, *kid;
    iams_crv      crv;
    iams_jwk     *key;
    EVP_PKEY     *pkey;
    const char   *s;
    iams_err      local;
    iams_status   rc;
    iams_jwk_ctx  ctx;

    *out = NULL;

    if (err == NULL) {
        err = &local;
    }

    ctx.index = index;
    ctx.err = err;
    ctx.kid = NULL;
    ctx.kid_len = 0;

    if (!json_is_object(obj)) {
        return iams_jwk_fail(&ctx, IAMS_ERR_KEY_INVALID, "not an object");
    }

    kid = json_object_get(obj, "kid");

    if (json_is_string(kid)) {
        ctx.kid = json_string_value(kid);
        ctx.kid_len = json_string_length(kid);
    }

    kty = json_object_get(obj, "kty");

    if (!json_is_string(kty)) {
        return iams_jwk_fail(&ctx, IAMS_ERR_KEY_INVALID,
                             "member \"kty\" missing or not a string");
    }

    s = json_string_value(kty);
    len = json_string_length(kty);
    crv = IAMS_CRV_NONE;
    pkey = NULL;

    crv_v = json_object_get(obj, "crv");

    if (json_is_string(crv_v)) {
        crv = iams_crv_from_jwk_name(json_string_value(crv_v),
                                     json_string_length(crv_v));
    }

    if (len == 3 && memcmp(s, "oct", 3) == 0) {
        rc = iams_jwk_oct(&ctx, obj, &key);

        if (rc != IAMS_OK) {
            return rc;
        }

        goto meta;
    }

    if (len == 3 && memcmp(s, "RSA", 3) == 0) {
        rc = iams_jwk_rsa(&ctx, obj, with_private, &pkey);

    } else if (len == 2 && memcmp(s, "EC", 2) == 0) {
        if (crv == IAMS_CRV_NONE || crv == IAMS_CRV_ED25519) {
            return iams_jwk_fail(&ctx, IAMS_ERR_KEY_INVALID,
                                 "EC \"crv\" must be P-256, P-384 or P-521");
        }

        rc = iams_jwk_ec(&ctx, obj, crv, with_private, &pkey);

    } else if (len == 3 && memcmp(s, "OKP", 3) == 0) {
        if (crv != IAMS_CRV_ED25519) {
            return iams_jwk_fail(&ctx, IAMS_ERR_KEY_INVALID,
                                 "OKP \"crv\" must be Ed25519");
        }

        rc = iams_jwk_okp(&ctx, obj, with_private, &pkey);

    } else {
        return iams_jwk_fail(&ctx, IAMS_ERR_KEY_INVALID,
                             "unsupported \"kty\"");
    }

    if (rc != IAMS_OK) {
        return rc;
    }

    rc = iams_jwk_from_pkey(pkey, with_private, &key, err);

    if (rc != IAMS_OK) {
        (void) snprintf(detail, sizeof(detail), "%s", err->detail);
        return iams_jwk_fail(&ctx, rc, "%s", detail);
    }

meta:

    rc = iams_jwk_meta(&ctx, obj, key);

    if (rc != IAMS_OK) {
        iams_jwk_free(key);
        return rc;
    }

    *out = key;

    return IAMS_OK;
}
