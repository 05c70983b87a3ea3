/*
 * Session ids, their cookie form, their Redis key and their log hash.
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <iamsmart/encoding.h>
#include <iamsmart/random.h>
#include <iamsmart/session.h>

#define IAMS_SESSION_KEY_TAG  "sess:v1:"


static const char  iams_hex[] = "0123456789abcdef";


static void
iams_hex_encode(const unsigned char *in, size_t n, char *out)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        out[2 * i] = iams_hex[in[i] >> 4];
        out[2 * i + 1] = iams_hex[in[i] & 0x0f];
    }
}


iams_status
iams_session_id_generate(iams_session_id *id, iams_err *err)
{
    return iams_random_bytes(id->bytes, sizeof(id->bytes), err);
}


void
iams_session_id_to_cookie(const iams_session_id *id,
    char out[IAMS_SESSION_COOKIE_LEN + 1])
{
    size_t  n;

    n = iams_b64url_encode(id->bytes, sizeof(id->bytes), out);
    out[n] = '\0';
}


iams_status
iams_session_id_from_cookie(const char *value, size_t len,
    iams_session_id *id, iams_err *err)
{
    size_t  n;

    if (len != IAMS_SESSION_COOKIE_LEN
        || iams_b64url_decode(value, len, id->bytes, sizeof(id->bytes), &n)
           != IAMS_OK
        || n != sizeof(id->bytes))
    {
        OPENSSL_cleanse(id, sizeof(*id));
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "session cookie of %zu bytes is not a session "
                            "id", len);
    }

    return IAMS_OK;
}


void
iams_session_id_clear(iams_session_id *id)
{
    OPENSSL_cleanse(id, sizeof(*id));
}


iams_status
iams_session_redis_key(const iams_keyring *kr, iams_key_slot slot,
    const char *prefix, size_t prefix_len, const iams_session_id *id,
    char *out, size_t cap, size_t *out_len, iams_err *err)
{
    size_t              i, len;
    unsigned int        mac_len;
    unsigned char       mac[EVP_MAX_MD_SIZE];
    const iams_subkey  *sk;

    *out_len = 0;

    if (prefix_len > IAMS_REDIS_PREFIX_MAX) {
        return iams_err_set(err, IAMS_ERR_MALFORMED, "Redis prefix too long");
    }

    for (i = 0; i < prefix_len; i++) {
        if (prefix[i] <= 0x20 || prefix[i] >= 0x7f) {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "Redis prefix must be printable ASCII "
                                "without spaces");
        }
    }

    len = prefix_len + sizeof(IAMS_SESSION_KEY_TAG) - 1
          + 2 * SHA256_DIGEST_LENGTH;

    if (cap < len + 1) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "Redis key buffer too small");
    }

    sk = iams_keyring_key(kr, IAMS_KEY_SESSION_ID_HASH, slot);

    if (sk == NULL) {
        return iams_err_set(err, IAMS_ERR_NO_KEY, "no previous secret");
    }

    if (HMAC(EVP_sha256(), sk->key, sizeof(sk->key), id->bytes,
             sizeof(id->bytes), mac, &mac_len)
        == NULL)
    {
        ERR_clear_error();
        return iams_err_set(err, IAMS_ERR_INTERNAL, "HMAC failed");
    }

    memcpy(out, prefix, prefix_len);
    memcpy(out + prefix_len, IAMS_SESSION_KEY_TAG,
           sizeof(IAMS_SESSION_KEY_TAG) - 1);
    iams_hex_encode(mac, mac_len,
                    out + prefix_len + sizeof(IAMS_SESSION_KEY_TAG) - 1);
    out[len] = '\0';
    *out_len = len;

    return IAMS_OK;
}


void
iams_session_log_hash(const char *redis_key, size_t len,
    char out[IAMS_SESSION_HASH_LEN + 1])
{
    unsigned char  md[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *) redis_key, len, md);
    iams_hex_encode(md, IAMS_SESSION_HASH_LEN / 2, out);
    out[IAMS_SESSION_HASH_LEN] = '\0';
}
