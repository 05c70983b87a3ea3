/*
 * The CEK: from the getKey reply, its refresh schedule, and its sealed
 * Redis cache form.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <iamsmart/encoding.h>
#include <iamsmart/sealed.h>

#include "platform_util.h"

#define IAMS_CEK_SEAL_VERSION  "c1"
#define IAMS_CEK_CACHE_LEN     (IAMS_CEK_LEN + 3 * 8)
#define IAMS_SPKI_B64_MAX      4096


/*
 * Checks that b64 is the base64 SubjectPublicKeyInfo of the KEK's public
 * key.  Compared as keys, not as text, so that an encoder's choice (e.g.
 * absent AlgorithmIdentifier parameters) does not matter.
 */
static iams_status
iams_cek_check_pubkey(const iams_kek *kek, iams_span b64, iams_err *err)
{
    int                   same;
    size_t                der_len;
    EVP_PKEY             *pub;
    unsigned char        *der;
    const unsigned char  *p;

    der = malloc(b64.len / 4 * 3 + 3);

    if (der == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    pub = NULL;

    if (iams_b64_decode(b64.data, b64.len, der, b64.len / 4 * 3 + 3,
                        &der_len) == IAMS_OK)
    {
        p = der;
        pub = d2i_PUBKEY(NULL, &p, (long) der_len);

        if (pub != NULL && p != der + der_len) {
            EVP_PKEY_free(pub);
            pub = NULL;
        }
    }

    free(der);
    ERR_clear_error();

    same = pub != NULL && iams_kek_matches(kek, pub);
    EVP_PKEY_free(pub);

    if (!same) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "getKey pubKey is not the configured KEK's "
                            "public key (KEK rotated?)");
    }

    return IAMS_OK;
}


static iams_status
iams_cek_times(const json_t *content, int64_t now_ms, iams_cek *cek,
    iams_err *err)
{
    int      has_issue, has_exp;
    int64_t  issue, exp, lifetime;

    if (iams_pf_json_int(content, "issueAt", &issue, &has_issue, err)
        != IAMS_OK
        || iams_pf_json_int(content, "expiresIn", &exp, &has_exp, err)
           != IAMS_OK)
    {
        return IAMS_ERR_MALFORMED;
    }

    if (!has_exp) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "getKey reply has no expiresIn");
    }

    if (!has_issue) {
        issue = now_ms;
    }

    lifetime = exp > IAMS_PF_EPOCH_MS_MIN ? exp - issue : exp;

    if (lifetime <= 0 || lifetime > IAMS_CEK_LIFETIME_MAX_MS) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "getKey lifetime of %lld ms out of range",
                            (long long) lifetime);
    }

    cek->issue_at_ms = issue;
    cek->expires_in_ms = lifetime;
    cek->fetched_at_ms = now_ms;

    return IAMS_OK;
}


iams_status
iams_cek_from_getkey_reply(const iams_kek *kek, iams_kek_padding pad,
    const char *body, size_t len, int64_t now_ms, iams_cek *cek,
    iams_reply *reply, iams_err *err)
{
    json_t         *root;
    iams_span       secret, pub;
    iams_status     rc;
    const json_t   *content;

    memset(cek, 0, sizeof(*cek));

    rc = iams_reply_parse(body, len, reply, &root, err);

    if (rc != IAMS_OK || reply->pcode != IAMS_PCODE_OK) {
        json_decref(root);
        return rc;
    }

    content = json_object_get(root, "content");

    if (!json_is_object(content)) {
        rc = iams_err_set(err, IAMS_ERR_MALFORMED,
                          "getKey reply has no content object");

    } else if (iams_pf_json_str(content, "secretKey", 1, 1,
                                IAMS_PLATFORM_FIELD_MAX, IAMS_PF_PRINT,
                                &secret, err) != IAMS_OK
               || iams_pf_json_str(content, "pubKey", 1, 1,
                                   IAMS_SPKI_B64_MAX, IAMS_PF_PRINT, &pub,
                                   err) != IAMS_OK)
    {
        rc = IAMS_ERR_MALFORMED;

    } else {
        rc = iams_cek_check_pubkey(kek, pub, err);

        if (rc == IAMS_OK) {
            rc = iams_cek_times(content, now_ms, cek, err);
        }

        if (rc == IAMS_OK) {
            rc = iams_cek_unwrap(kek, pad, secret.data, secret.len, cek->key,
                                 err);
        }
    }

    json_decref(root);

    if (rc != IAMS_OK) {
        iams_cek_clear(cek);
    }

    return rc;
}


static int64_t
iams_cek_refresh_at(const iams_cek *cek)
{
    int64_t  margin;

    margin = cek->expires_in_ms / 5;

    if (margin > IAMS_CEK_REFRESH_MAX_MS) {
        margin = IAMS_CEK_REFRESH_MAX_MS;
    }

    return cek->fetched_at_ms + cek->expires_in_ms - margin;
}


int
iams_cek_should_refresh(const iams_cek *cek, int64_t now_ms)
{
    return now_ms >= iams_cek_refresh_at(cek)
           || now_ms < cek->fetched_at_ms;
}


int
iams_cek_is_expired(const iams_cek *cek, int64_t now_ms)
{
    return now_ms >= cek->fetched_at_ms + cek->expires_in_ms
           || now_ms < cek->fetched_at_ms;
}


void
iams_cek_clear(iams_cek *cek)
{
    OPENSSL_cleanse(cek, sizeof(*cek));
}


static void
iams_put_be64(unsigned char *p, int64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char) (v & 0xff);
        v = (int64_t) ((uint64_t) v >> 8);
    }
}


static int64_t
iams_get_be64(const unsigned char *p)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }

    return (int64_t) v;
}


iams_status
iams_cek_cache_encode(const iams_cek *cek, const iams_keyring *kr,
    iams_span redis_key, char **out, size_t *out_len, iams_err *err)
{
    iams_status    rc;
    unsigned char  buf[IAMS_CEK_CACHE_LEN];

    memcpy(buf, cek->key, IAMS_CEK_LEN);
    iams_put_be64(buf + IAMS_CEK_LEN, cek->issue_at_ms);
    iams_put_be64(buf + IAMS_CEK_LEN + 8, cek->expires_in_ms);
    iams_put_be64(buf + IAMS_CEK_LEN + 16, cek->fetched_at_ms);

    rc = iams_seal(kr, IAMS_KEY_CEK_CACHE, IAMS_CEK_SEAL_VERSION,
                   (const unsigned char *) redis_key.data, redis_key.len,
                   buf, sizeof(buf), out, out_len, err);

    OPENSSL_cleanse(buf, sizeof(buf));

    return rc;
}


iams_status
iams_cek_cache_decode(const iams_keyring *kr, iams_span redis_key,
    const char *in, size_t in_len, iams_cek *cek, iams_err *err)
{
    size_t          n;
    iams_status     rc;
    unsigned char  *buf;

    memset(cek, 0, sizeof(*cek));

    rc = iams_unseal(kr, IAMS_KEY_CEK_CACHE, IAMS_CEK_SEAL_VERSION,
                     (const unsigned char *) redis_key.data, redis_key.len,
                     in, in_len, IAMS_CEK_CACHE_LEN, &buf, &n, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    if (n != IAMS_CEK_CACHE_LEN) {
        rc = iams_err_set(err, IAMS_ERR_MALFORMED, "cached CEK malformed");

    } else {
        memcpy(cek->key, buf, IAMS_CEK_LEN);
        cek->issue_at_ms = iams_get_be64(buf + IAMS_CEK_LEN);
        cek->expires_in_ms = iams_get_be64(buf + IAMS_CEK_LEN + 8);
        cek->fetched_at_ms = iams_get_be64(buf + IAMS_CEK_LEN + 16);

        if (cek->expires_in_ms <= 0
            || cek->expires_in_ms > IAMS_CEK_LIFETIME_MAX_MS)
        {
            iams_cek_clear(cek);
            rc = iams_err_set(err, IAMS_ERR_MALFORMED,
                              "cached CEK lifetime out of range");
        }
    }

    OPENSSL_cleanse(buf, n);
    free(buf);

    return rc;
}
