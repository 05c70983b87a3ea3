/*
 * Encrypted callbacks from the platform: {txID, code, message, content,
 * secretKey}, and the step-up and e-ME/profile results they carry.
 */

#include <string.h>

#include <openssl/crypto.h>

#include <iamsmart/random.h>

#include "platform_util.h"


iams_status
iams_callback_open(const iams_kek *kek, iams_kek_padding pad,
    const char *body, size_t len, iams_reply *reply, json_t **content,
    iams_err *err)
{
    json_t         *root;
    iams_span       sk;
    iams_status     rc;
    unsigned char   key[IAMS_CEK_LEN];
    const json_t   *c;

    *content = NULL;

    rc = iams_reply_parse(body, len, reply, &root, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    c = json_object_get(root, "content");

    if (reply->pcode != IAMS_PCODE_OK
        && (c == NULL || json_is_null(c)
            || (json_is_string(c) && json_string_length(c) == 0)))
    {
        /* an error callback without content: nothing to decrypt */
        json_decref(root);
        return IAMS_OK;
    }

    if (!json_is_string(c) || json_string_length(c) == 0
        || iams_pf_json_str(root, "secretKey", 1, 1, IAMS_PLATFORM_FIELD_MAX,
                            IAMS_PF_PRINT, &sk, err) != IAMS_OK)
    {
        json_decref(root);
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "callback needs content and secretKey");
    }

    /*
     * Anyone who reaches the callback URL chooses secretKey.  Whether the
     * RSA unwrap or the GCM check failed must not show, in the result or
     * in the time taken: a failed unwrap goes on with a random key, and
     * every failure gets the same status and detail.
     */
    if (iams_cek_unwrap(kek, pad, sk.data, sk.len, key, NULL) != IAMS_OK
        && iams_random_bytes(key, sizeof(key), NULL) != IAMS_OK)
    {
        memset(key, 0, sizeof(key));
    }

    rc = iams_envelope_content(key, root, content, NULL);
    OPENSSL_cleanse(key, sizeof(key));
    json_decref(root);

    if (rc != IAMS_OK) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "callback decryption failed");
    }

    return IAMS_OK;
}


/* Copies businessID (required) and state (optional) out of content. */
static iams_status
iams_result_ids(const json_t *content, char *business_id, char *state,
    iams_err *err)
{
    iams_span  b, s;

    if (!json_is_object(content)
        || iams_pf_json_str(content, "businessID", 1, 1,
                            IAMS_BUSINESS_ID_MAX, IAMS_PF_PRINT, &b, err)
           != IAMS_OK
        || iams_pf_json_str(content, "state", 0, 1, IAMS_STATE_MAX,
                            IAMS_PF_TOKEN, &s, err) != IAMS_OK)
    {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "callback content needs a valid businessID "
                            "(and state, when present)");
    }

    memcpy(business_id, b.data, b.len);
    business_id[b.len] = '\0';

    if (s.data != NULL) {
        memcpy(state, s.data, s.len);
    }

    state[s.len] = '\0';

    return IAMS_OK;
}


iams_status
iams_stepup_result_parse(const json_t *content, iams_stepup_result *r,
    iams_err *err)
{
    memset(r, 0, sizeof(*r));

    if (iams_result_ids(content, r->business_id, r->state, err) != IAMS_OK) {
        return IAMS_ERR_MALFORMED;
    }

    if (iams_pf_json_bool(content, "isPassed", &r->passed, err) != IAMS_OK) {
        memset(r, 0, sizeof(*r));
        return IAMS_ERR_MALFORMED;
    }

    return IAMS_OK;
}


iams_status
iams_data_result_parse(const json_t *content, iams_data_result *r,
    iams_err *err)
{
    memset(r, 0, sizeof(*r));

    if (iams_result_ids(content, r->business_id, r->state, err) != IAMS_OK) {
        return IAMS_ERR_MALFORMED;
    }

    r->fields = json_deep_copy(content);

    if (r->fields == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    json_object_del(r->fields, "businessID");
    json_object_del(r->fields, "state");

    return IAMS_OK;
}


void
iams_data_result_clear(iams_data_result *r)
{
    json_decref(r->fields);
    memset(r, 0, sizeof(*r));
}
