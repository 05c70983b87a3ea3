/*
 * Sealed values: "<version>.<kid>.<base64url(iv || ct || tag)>".
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <iamsmart/aead.h>
#include <iamsmart/encoding.h>
#include <iamsmart/random.h>
#include <iamsmart/sealed.h>

#define IAMS_SEALED_OVERHEAD  (IAMS_GCM_IV_LEN + IAMS_GCM_TAG_LEN)
#define IAMS_SEALED_HDR_MAX   (IAMS_SEALED_VERSION_MAX + IAMS_KID_LEN + 2)


static int
iams_sealed_version_ok(const char *v, size_t len)
{
    size_t  i;

    if (len == 0 || len > IAMS_SEALED_VERSION_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9'))) {
            return 0;
        }
    }

    return 1;
}


/* Builds the AAD: hdr, 0x00, ctx.  *aad is malloc()ed. */
static iams_status
iams_sealed_aad(const char *hdr, size_t hdr_len, const unsigned char *ctx,
    size_t ctx_len, unsigned char **aad, size_t *aad_len, iams_err *err)
{
    unsigned char  *p;

    if (ctx_len > IAMS_SEALED_MAX) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE, "seal context too long");
    }

    p = malloc(hdr_len + 1 + ctx_len);

    if (p == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    memcpy(p, hdr, hdr_len);
    p[hdr_len] = 0x00;

    if (ctx_len > 0) {
        memcpy(p + hdr_len + 1, ctx, ctx_len);
    }

    *aad = p;
    *aad_len = hdr_len + 1 + ctx_len;

    return IAMS_OK;
}


size_t
iams_sealed_len(size_t ver_len, size_t pt_len)
{
    return ver_len + 1 + IAMS_KID_LEN + 1
           + iams_b64url_encoded_len(pt_len + IAMS_SEALED_OVERHEAD);
}


iams_status
iams_seal(const iams_keyring *kr, iams_key_purpose purpose,
    const char *version, const unsigned char *ctx, size_t ctx_len,
    const unsigned char *pt, size_t pt_len, char **out, size_t *out_len,
    iams_err *err)
{
    char               *s;
    size_t              ver_len, hdr_len, total, aad_len, n;
    iams_status         rc;
    unsigned char      *blob, *aad;
    const iams_subkey  *sk;

    *out = NULL;
    *out_len = 0;

    ver_len = strlen(version);

    if (!iams_sealed_version_ok(version, ver_len)) {
        return iams_err_set(err, IAMS_ERR_INTERNAL, "bad seal version");
    }

    sk = iams_keyring_key(kr, purpose, IAMS_KEY_CURRENT);

    if (sk == NULL) {
        return iams_err_set(err, IAMS_ERR_NO_KEY, "no key for purpose");
    }

    if (pt_len > IAMS_SEALED_MAX) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE, "value too large to seal");
    }

    total = iams_sealed_len(ver_len, pt_len);
    hdr_len = ver_len + 1 + IAMS_KID_LEN + 1;

    s = malloc(total + 1);
    blob = malloc(pt_len + IAMS_SEALED_OVERHEAD);

    if (s == NULL || blob == NULL) {
        free(s);
        free(blob);
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    memcpy(s, version, ver_len);
    s[ver_len] = '.';
    memcpy(s + ver_len + 1, sk->kid, IAMS_KID_LEN);
    s[hdr_len - 1] = '.';

    aad = NULL;
    aad_len = 0;
    rc = iams_sealed_aad(s, hdr_len, ctx, ctx_len, &aad, &aad_len, err);

    if (rc == IAMS_OK) {
        rc = iams_random_bytes(blob, IAMS_GCM_IV_LEN, err);
    }

    if (rc == IAMS_OK) {
        rc = iams_aes256gcm_seal(sk->key, blob, aad, aad_len, pt, pt_len,
                                 blob + IAMS_GCM_IV_LEN,
                                 blob + IAMS_GCM_IV_LEN + pt_len, err);
    }

    free(aad);

    if (rc != IAMS_OK) {
        OPENSSL_cleanse(blob, pt_len + IAMS_SEALED_OVERHEAD);
        free(blob);
        free(s);
        return rc;
    }

    n = iams_b64url_encode(blob, pt_len + IAMS_SEALED_OVERHEAD, s + hdr_len);
    s[hdr_len + n] = '\0';
    free(blob);

    *out = s;
    *out_len = hdr_len + n;

    return IAMS_OK;
}


iams_status
iams_unseal(const iams_keyring *kr, iams_key_purpose purpose,
    const char *version, const unsigned char *ctx, size_t ctx_len,
    const char *in, size_t in_len, size_t max_pt, unsigned char **pt,
    size_t *pt_len, iams_err *err)
{
    size_t              ver_len, hdr_len, blob_len, aad_len, n;
    iams_status         rc;
    unsigned char      *blob, *aad, *plain;
    const iams_subkey  *sk;

    *pt = NULL;
    *pt_len = 0;

    if (in_len > IAMS_SEALED_MAX) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE, "sealed value too large");
    }

    ver_len = strlen(version);
    hdr_len = ver_len + 1 + IAMS_KID_LEN + 1;

    if (in_len < hdr_len
        || memcmp(in, version, ver_len) != 0
        || in[ver_len] != '.'
        || in[hdr_len - 1] != '.')
    {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "sealed value has a wrong version or shape");
    }

    sk = iams_keyring_find(kr, purpose, in + ver_len + 1, IAMS_KID_LEN);

    if (sk == NULL) {
        return iams_err_set(err, IAMS_ERR_UNKNOWN_KID,
                            "sealed value names an unknown key id");
    }

    n = iams_b64url_decoded_max(in_len - hdr_len);

    if (n < IAMS_SEALED_OVERHEAD) {
        return iams_err_set(err, IAMS_ERR_MALFORMED, "sealed value too short");
    }

    if (n - IAMS_SEALED_OVERHEAD > max_pt) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "sealed value larger than %zu bytes", max_pt);
    }

    blob = malloc(n);

    if (blob == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    if (iams_b64url_decode(in + hdr_len, in_len - hdr_len, blob, n, &blob_len)
        != IAMS_OK
        || blob_len < IAMS_SEALED_OVERHEAD)
    {
        free(blob);
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "sealed value is not base64url");
    }

    n = blob_len - IAMS_SEALED_OVERHEAD;
    plain = malloc(n + 1);
    aad = NULL;
    aad_len = 0;

    rc = plain ? iams_sealed_aad(in, hdr_len, ctx, ctx_len, &aad, &aad_len,
                                 err)
               : iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");

    if (rc == IAMS_OK) {
        rc = iams_aes256gcm_open(sk->key, blob, aad, aad_len,
                                 blob + IAMS_GCM_IV_LEN, n,
                                 blob + IAMS_GCM_IV_LEN + n, plain, err);
    }

    free(aad);
    free(blob);

    if (rc != IAMS_OK) {
        free(plain);
        return rc;
    }

    plain[n] = '\0';
    *pt = plain;
    *pt_len = n;

    return IAMS_OK;
}
