/*
 * Replies and the AES-256-GCM payload envelope of section 3:
 * content = Base64(uint32_be(12) || IV[12] || ciphertext || tag[16]).
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <iamsmart/encoding.h>
#include <iamsmart/random.h>

#include "platform_util.h"

#define IAMS_ENV_PREFIX    4
#define IAMS_ENV_OVERHEAD  (IAMS_ENV_PREFIX + IAMS_GCM_IV_LEN \
                            + IAMS_GCM_TAG_LEN)
#define IAMS_ENV_OPEN      "{\"content\":\""
#define IAMS_ENV_CLOSE     "\"}"


/* Copies a platform string for logs: printable ASCII kept, the rest '?'. */
static void
iams_reply_copy(char *dst, size_t cap, const json_t *j)
{
    size_t       i, n;
    const char  *s;

    dst[0] = '\0';
    s = json_string_value(j);

    if (s == NULL) {
        return;
    }

    n = json_string_length(j);
    n = n < cap - 1 ? n : cap - 1;

    for (i = 0; i < n; i++) {
        dst[i] = (s[i] >= 0x20 && s[i] <= 0x7e) ? s[i] : '?';
    }

    dst[n] = '\0';
}


iams_status
iams_reply_parse(const char *body, size_t len, iams_reply *reply,
    json_t **root, iams_err *err)
{
    json_t        *obj;
    iams_err       local;
    const json_t  *code;

    memset(reply, 0, sizeof(*reply));
    reply->pcode = IAMS_PCODE_UNKNOWN;

    if (root != NULL) {
        *root = NULL;
    }

    if (err == NULL) {
        err = &local;
    }

    obj = iams_json_parse_object(body, len, IAMS_PLATFORM_REPLY_MAX, err);

    if (obj == NULL) {
        return err->status;
    }

    code = json_object_get(obj, "code");

    if (!json_is_string(code)
        || !iams_pf_code_shape(json_string_value(code),
                               json_string_length(code)))
    {
        json_decref(obj);
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "reply has no valid \"code\"");
    }

    memcpy(reply->code, json_string_value(code), IAMS_CODE_LEN + 1);
    reply->pcode = iams_pcode_classify(reply->code, IAMS_CODE_LEN);
    iams_reply_copy(reply->tx_id, sizeof(reply->tx_id),
                    json_object_get(obj, "txID"));
    iams_reply_copy(reply->message, sizeof(reply->message),
                    json_object_get(obj, "message"));

    if (root != NULL) {
        *root = obj;

    } else {
        json_decref(obj);
    }

    return IAMS_OK;
}


iams_status
iams_envelope_seal(const unsigned char key[IAMS_CEK_LEN],
    const unsigned char *pt, size_t pt_len, char **out, size_t *out_len,
    iams_err *err)
{
    char           *s;
    size_t          blob_len, n, o;
    iams_status     rc;
    unsigned char  *blob;

    *out = NULL;
    *out_len = 0;

    if (pt_len > IAMS_PLATFORM_REPLY_MAX) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE, "payload too large");
    }

    blob_len = IAMS_ENV_OVERHEAD + pt_len;
    blob = malloc(blob_len);
    s = malloc(sizeof(IAMS_ENV_OPEN) - 1 + iams_b64_encoded_len(blob_len)
               + sizeof(IAMS_ENV_CLOSE));

    if (blob == NULL || s == NULL) {
        free(blob);
        free(s);
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    blob[0] = 0;
    blob[1] = 0;
    blob[2] = 0;
    blob[3] = IAMS_GCM_IV_LEN;

    rc = iams_random_bytes(blob + IAMS_ENV_PREFIX, IAMS_GCM_IV_LEN, err);

    if (rc == IAMS_OK) {
        rc = iams_aes256gcm_seal(key, blob + IAMS_ENV_PREFIX, NULL, 0, pt,
                                 pt_len,
                                 blob + IAMS_ENV_PREFIX + IAMS_GCM_IV_LEN,
                                 blob + IAMS_ENV_PREFIX + IAMS_GCM_IV_LEN
                                 + pt_len, err);
    }

    if (rc != IAMS_OK) {
        free(blob);
        free(s);
        return rc;
    }

    o = sizeof(IAMS_ENV_OPEN) - 1;
    memcpy(s, IAMS_ENV_OPEN, o);
    n = iams_b64_encode(blob, blob_len, s + o);
    o += n;
    memcpy(s + o, IAMS_ENV_CLOSE, sizeof(IAMS_ENV_CLOSE));
    o += sizeof(IAMS_ENV_CLOSE) - 1;
    free(blob);

    *out = s;
    *out_len = o;

    return IAMS_OK;
}


iams_status
iams_envelope_decrypt(const unsigned char key[IAMS_CEK_LEN],
    const char *b64, size_t b64_len, unsigned char **pt, size_t *pt_len,
    iams_err *err)
{
    size_t          cap, blob_len, ct_len;
    iams_status     rc;
    unsigned char  *blob, *plain;

    *pt = NULL;
    *pt_len = 0;

    cap = IAMS_ENV_OVERHEAD + IAMS_PLATFORM_REPLY_MAX;

    if (b64_len > iams_b64_encoded_len(cap)) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "encrypted content too large");
    }

    blob = malloc(b64_len / 4 * 3 + 3);

    if (blob == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    if (iams_b64_decode(b64, b64_len, blob, b64_len / 4 * 3 + 3, &blob_len)
        != IAMS_OK
        || blob_len < IAMS_ENV_OVERHEAD
        || blob[0] != 0 || blob[1] != 0 || blob[2] != 0
        || blob[3] != IAMS_GCM_IV_LEN)
    {
        free(blob);
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "encrypted content is not base64 of "
                            "uint32(12) || IV || ciphertext || tag");
    }

    ct_len = blob_len - IAMS_ENV_OVERHEAD;
    plain = malloc(ct_len + 1);

    if (plain == NULL) {
        free(blob);
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    rc = iams_aes256gcm_open(key, blob + IAMS_ENV_PREFIX, NULL, 0,
                             blob + IAMS_ENV_PREFIX + IAMS_GCM_IV_LEN, ct_len,
                             blob + IAMS_ENV_PREFIX + IAMS_GCM_IV_LEN
                             + ct_len, plain, err);
    free(blob);

    if (rc != IAMS_OK) {
        free(plain);
        return rc;
    }

    plain[ct_len] = '\0';
    *pt = plain;
    *pt_len = ct_len;

    return IAMS_OK;
}


iams_status
iams_envelope_content(const unsigned char key[IAMS_CEK_LEN],
    const json_t *root, json_t **content, iams_err *err)
{
    size_t          n;
    iams_status     rc;
    const json_t   *c;
    unsigned char  *pt;

    c = json_object_get(root, "content");

    if (!json_is_string(c) || json_string_length(c) == 0) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "reply has no encrypted \"content\"");
    }

    rc = iams_envelope_decrypt(key, json_string_value(c),
                               json_string_length(c), &pt, &n, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    *content = iams_json_parse_object((const char *) pt, n,
                                      IAMS_PLATFORM_REPLY_MAX, err);
    OPENSSL_cleanse(pt, n);
    free(pt);

    return *content ? IAMS_OK : IAMS_ERR_JSON;
}


iams_status
iams_envelope_open_reply(const unsigned char key[IAMS_CEK_LEN],
    const char *body, size_t len, iams_reply *reply, json_t **content,
    iams_err *err)
{
    json_t       *root;
    iams_status   rc;

    *content = NULL;

    rc = iams_reply_parse(body, len, reply, &root, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    if (reply->pcode == IAMS_PCODE_OK) {
        rc = iams_envelope_content(key, root, content, err);
    }

    json_decref(root);

    return rc;
}
